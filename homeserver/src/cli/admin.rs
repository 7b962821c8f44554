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
    Ok(AppState::new(config, db, ledger)?)
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

/// Runs an admin subcommand.
pub async fn run(cmd: AdminCommand) -> anyhow::Result<()> {
    match cmd {
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
            println!(
                "created {}{}",
                row.user_id,
                if admin { " (admin)" } else { "" }
            );
        }
        AdminCommand::Approve { config, user } => {
            let state = open(&config).await?;
            let user_id = accounts::local_user_id(&state, &localpart(&state, &user)?)?;
            accounts::approve(&state, &user_id, None).await?;
            println!("approved {user_id}");
        }
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
                println!(
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
