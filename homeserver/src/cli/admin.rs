//! `consort admin ...`: account administration working directly on the node's database, for
//! bootstrapping the first admin and for operators without an admin token.

use std::{path::PathBuf, sync::Arc};

use clap::{Args, Subcommand};
use ruma::UserId;

use crate::{
    config::Config,
    services::{
        accounts::{self, NewAccount},
        registration_ledger::LocalOnlyLedger,
    },
    state::AppState,
    storage::{
        Db,
        users::{self, UserFilter},
    },
};

/// `consort admin` subcommands.
#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create an approved account (an admin with --admin).
    CreateUser {
        #[command(flatten)]
        config: ConfigArg,
        /// Localpart or full user id.
        user: String,
        /// Its password.
        #[arg(long)]
        password: String,
        /// Make it an admin of this node.
        #[arg(long)]
        admin: bool,
    },
    /// Approve a pending registration.
    Approve {
        #[command(flatten)]
        config: ConfigArg,
        /// Localpart or full user id.
        user: String,
    },
    /// List accounts.
    ListUsers {
        #[command(flatten)]
        config: ConfigArg,
        /// Only registrations awaiting approval.
        #[arg(long)]
        pending: bool,
    },
    /// Every key record of a user (of any organisation) in ledger order, as this node's
    /// copy of the ledger holds it: height, index, transaction, organisation, change, keys.
    KeyHistory {
        #[command(flatten)]
        config: ConfigArg,
        /// The full user id.
        user: String,
    },
    /// A user's contacts and pending requests, then every contact step involving the user
    /// in ledger order, each with the height and time at which it was recorded.
    Contacts {
        #[command(flatten)]
        config: ConfigArg,
        /// The full user id.
        user: String,
    },
    /// Media: list a user's uploads, or remove one on every node.
    Media {
        #[command(subcommand)]
        command: MediaCommand,
    },
}

/// `consort admin media` subcommands.
#[derive(Debug, Subcommand)]
pub enum MediaCommand {
    /// A user's media (of any organisation): URI, CID, size, content type, time.
    List {
        #[command(flatten)]
        config: ConfigArg,
        /// The full user id.
        user: String,
    },
    /// Removes one of this organisation's media for legal or abuse reasons: no node serves
    /// it any more, and every node deletes its copy (needs the running node).
    Delete {
        #[command(flatten)]
        config: ConfigArg,
        /// `mxc://server/id`.
        mxc: String,
    },
}

/// The node configuration to act on.
#[derive(Debug, Args)]
pub struct ConfigArg {
    /// TOML configuration file of the node.
    #[arg(long)]
    pub config: Option<PathBuf>,
}

async fn open(config: &ConfigArg) -> anyhow::Result<AppState> {
    let config = Config::load(config.config.as_deref())?;
    std::fs::create_dir_all(&config.data_dir)?;
    let db = Db::connect(&config.database_url()).await?;
    let ledger = Arc::new(LocalOnlyLedger::new(db.pool.clone()));
    Ok(AppState::new(config, db, ledger, None)?)
}

fn localpart(state: &AppState, user: &str) -> anyhow::Result<String> {
    if user.starts_with('@') {
        let user_id = UserId::parse(user)?;
        anyhow::ensure!(
            user_id.server_name() == state.server_name,
            "{user_id} is not a user of {}",
            state.server_name
        );
        Ok(user_id.localpart().to_owned())
    } else {
        Ok(user.to_owned())
    }
}

/// On a consortium node, registrations and approvals must be committed on the ledger, which
/// only the running node can do: these commands then go through its HTTP APIs.
fn consortium(config: &ConfigArg) -> anyhow::Result<Option<Config>> {
    let config = Config::load(config.config.as_deref())?;
    Ok(config.chain_dir.is_some().then_some(config))
}

/// Creates an account through the running node's shared-secret registration API.
async fn create_via_node(
    config: &Config,
    user: &str,
    password: &str,
    admin: bool,
) -> anyhow::Result<()> {
    let secret = config
        .registration_shared_secret
        .as_deref()
        .ok_or_else(|| {
            anyhow::anyhow!(
                "this node belongs to a consortium: accounts are created by the running node, \
             which needs `registration_shared_secret` in its configuration"
            )
        })?;
    let localpart = user
        .strip_prefix('@')
        .and_then(|u| u.split(':').next())
        .unwrap_or(user);
    let created = crate::admin_client::register_with_shared_secret(
        &reqwest::Client::new(),
        &config.public_base_url(),
        secret,
        localpart,
        password,
        admin,
    )
    .await?;
    out!(
        "created {}{}",
        created.user_id,
        if admin { " (admin)" } else { "" }
    );
    Ok(())
}

/// Calls the running node's admin API as one of its admins, with a token that exists only
/// for this call. Answers the status and body.
async fn admin_call(
    state: &AppState,
    method: reqwest::Method,
    path: &str,
    body: Option<serde_json::Value>,
) -> anyhow::Result<(reqwest::StatusCode, String)> {
    let filter = UserFilter {
        include_deactivated: false,
        approved: Some(true),
        offset: 0,
        limit: i64::MAX,
    };
    let (rows, _) = users::list(&state.db.pool, &filter).await?;
    let admin = rows
        .into_iter()
        .find(|u| u.is_admin)
        .ok_or_else(|| anyhow::anyhow!("this node has no approved admin to act as"))?;
    let device = "CONSORT-ADMIN-CLI";
    let token = crate::services::credentials::new_access_token();
    let now = i64::try_from(u64::from(ruma::MilliSecondsSinceUnixEpoch::now().get())).unwrap_or(0);
    crate::storage::devices::upsert(
        &state.db.pool,
        &admin.user_id,
        device,
        Some("consort admin"),
        now,
        None,
    )
    .await?;
    crate::storage::tokens::insert(
        &state.db.pool,
        &crate::services::credentials::token_digest(&token),
        &admin.user_id,
        device,
        now,
    )
    .await?;
    let mut request = reqwest::Client::new()
        .request(method, format!("{}{path}", state.config.public_base_url()))
        .bearer_auth(&token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let result = request.send().await;
    crate::storage::tokens::delete_for_device(&state.db.pool, &admin.user_id, device).await?;
    crate::storage::devices::delete(&state.db.pool, &admin.user_id, device).await?;
    let response = result?;
    let status = response.status();
    Ok((status, response.text().await.unwrap_or_default()))
}

/// Approves through the running node's admin API.
async fn approve_via_node(cli: &ConfigArg, user: &str) -> anyhow::Result<()> {
    let state = open(cli).await?;
    let user_id = accounts::local_user_id(&state, &localpart(&state, user)?)?;
    let (status, body) = admin_call(
        &state,
        reqwest::Method::PUT,
        &format!("/_synapse/admin/v2/users/{user_id}"),
        Some(serde_json::json!({"approved": true})),
    )
    .await?;
    if !status.is_success() {
        anyhow::bail!("approving {user_id} failed: {status} {body}");
    }
    out!("approved {user_id}");
    Ok(())
}

/// Lists a user's media as this node's copy of the ledger holds it.
async fn list_media(cli: &ConfigArg, user: &str) -> anyhow::Result<()> {
    let state = open(cli).await?;
    let user_id = UserId::parse(user)?;
    let (rows, _) = consort_bridge::media::read::by_uploader(
        &state.db.pool,
        user_id.as_str(),
        0,
        u64::MAX >> 1,
        true,
    )
    .await?;
    for row in rows {
        out!(
            "{}	{}	{} bytes	{}	ts {}{}",
            row.mxc,
            row.cid,
            row.size,
            row.content_type.as_deref().unwrap_or("-"),
            row.created_ms,
            if row.removed { "	removed" } else { "" }
        );
    }
    Ok(())
}

/// Removes media of this organisation on every node, through the running node.
async fn delete_media(cli: &ConfigArg, mxc: &str) -> anyhow::Result<()> {
    let state = open(cli).await?;
    let (server, id) = consort_bridge::media::split_mxc(mxc)
        .ok_or_else(|| anyhow::anyhow!("{mxc} is not an mxc:// URI"))?;
    let (status, body) = admin_call(
        &state,
        reqwest::Method::DELETE,
        &format!("/_synapse/admin/v1/media/{server}/{id}"),
        None,
    )
    .await?;
    if !status.is_success() {
        anyhow::bail!("removing {mxc} failed: {status} {body}");
    }
    out!("removed {mxc}");
    Ok(())
}

/// Runs an admin subcommand.
pub async fn run(cmd: AdminCommand) -> anyhow::Result<()> {
    match cmd {
        AdminCommand::CreateUser {
            config,
            user,
            password,
            admin,
        } if consortium(&config)?.is_some() => {
            let node = consortium(&config)?.expect("checked");
            create_via_node(&node, &user, &password, admin).await?;
        }
        AdminCommand::Approve { config, user } if consortium(&config)?.is_some() => {
            approve_via_node(&config, &user).await?;
        }
        AdminCommand::CreateUser {
            config,
            user,
            password,
            admin,
        } => {
            let state = open(&config).await?;
            let localpart = localpart(&state, &user)?;
            let row = accounts::create(
                &state,
                NewAccount {
                    localpart,
                    password: Some(password),
                    admin,
                    displayname: None,
                    approve_now: Some(None),
                },
            )
            .await?;
            out!(
                "created {}{}",
                row.user_id,
                if admin { " (admin)" } else { "" }
            );
        }
        AdminCommand::Approve { config, user } => {
            let state = open(&config).await?;
            let user_id = accounts::local_user_id(&state, &localpart(&state, &user)?)?;
            accounts::approve(&state, &user_id, None).await?;
            out!("approved {user_id}");
        }
        AdminCommand::KeyHistory { config, user } => {
            let state = open(&config).await?;
            let user_id = UserId::parse(&user)?;
            let pool = &state.db.pool;
            let blocks = consort_chain::store::BlockStore::new(pool.clone()).with_keeper(Some(
                std::sync::Arc::new(consort_bridge::kept::KeptRoomEvents::new(pool.clone())),
            ));
            for entry in consort_bridge::keys::read::key_log_of(pool, user_id.as_str()).await? {
                let height = consort_bridge::position::height_of(entry.pos);
                let index = consort_bridge::position::index_of(entry.pos);
                let tx = blocks
                    .block(height)
                    .await?
                    .and_then(|b| {
                        b.block
                            .txs
                            .get(index as usize)
                            .map(|t| t.hash().to_string())
                    })
                    .unwrap_or_else(|| "-".to_owned());
                out!(
                    "{height}\t{index}\t{tx}\t{}\t{}\t{}",
                    entry.org,
                    entry.kind,
                    entry.detail
                );
            }
        }
        AdminCommand::Contacts { config, user } => {
            let state = open(&config).await?;
            let user_id = UserId::parse(&user)?;
            let pool = &state.db.pool;
            for row in consort_bridge::contacts::read::contacts_of(pool, user_id.as_str()).await? {
                let state = format!("{:?}", row.state).to_lowercase();
                out!(
                    "{state}\t{}\theight {}\tts {}",
                    row.other,
                    row.height,
                    row.at_ms
                );
            }
            for step in consort_bridge::contacts::read::log_of(pool, user_id.as_str()).await? {
                out!(
                    "step\theight {}\tts {}\t{} {} {} -> {}\t({})",
                    step.height,
                    step.at_ms,
                    step.user_id,
                    step.action,
                    step.other,
                    step.result,
                    step.org
                );
            }
        }
        AdminCommand::Media {
            command: MediaCommand::List { config, user },
        } => list_media(&config, &user).await?,
        AdminCommand::Media {
            command: MediaCommand::Delete { config, mxc },
        } => delete_media(&config, &mxc).await?,
        AdminCommand::ListUsers { config, pending } => {
            let state = open(&config).await?;
            let filter = UserFilter {
                include_deactivated: !pending,
                approved: pending.then_some(false),
                offset: 0,
                limit: i64::MAX,
            };
            let (rows, _) = users::list(&state.db.pool, &filter).await?;
            for row in rows {
                let status = if row.deactivated {
                    "deactivated"
                } else if row.approved {
                    "approved"
                } else {
                    "pending"
                };
                out!(
                    "{}\t{}{}",
                    row.user_id,
                    status,
                    if row.is_admin { "\tadmin" } else { "" }
                );
            }
        }
    }
    Ok(())
}
