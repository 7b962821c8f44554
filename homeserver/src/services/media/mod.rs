//! The media repository. An upload is cut into IPFS blocks ([`consort_bridge::media::unixfs`]),
//! kept in this node's blob store, and named on the ledger by a `MediaPin` (URI, CID, size,
//! content type, uploader; never the bytes, nor the file name, which stays with the
//! uploading organisation). A node asked for media it does not hold fetches the blocks from
//! the other organisations' gateways, checks each against its CID, and keeps them.
//! Encrypted attachments are stored exactly as the client sent them (ciphertext).

pub mod embedded;
pub mod janitor;
pub mod kubo;
pub mod peers;
pub mod store;
pub mod thumbnail;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex as SyncMutex};
use std::time::Duration;

use bytes::Bytes;
use consort_bridge::media::read::{self, MediaRow};
use consort_bridge::media::unixfs::{self, FileDag};
use consort_bridge::{MediaPin, MediaUnpin, Record};
use http::StatusCode;
use rand::Rng;
use ruma::api::error::ErrorKind;
use sqlx::{AnyPool, Row};
use tokio::sync::Mutex;

use crate::config::{Config, ConfigError, MediaBackend};
use crate::error::{Error, Result};
use crate::services::auth::Sender;
use crate::services::chain_ledger::ChainLedger;
use crate::services::registration_ledger::LedgerError;
use crate::state::AppState;
use peers::{Peer, PeerClient};
use store::{BlobError, BlobStore};

/// How long an id reserved by `/create` waits for its upload (Synapse: 24 hours).
pub const RESERVATION: Duration = Duration::from_secs(24 * 3600);
/// How many reserved, not yet uploaded ids a user may hold (Synapse's default).
pub const MAX_PENDING: i64 = 5;
/// The longest wait a download does for media reserved but not yet uploaded.
pub const MAX_WAIT: Duration = Duration::from_secs(60);

/// How long a download waits for another organisation's medium this node does not know yet.
pub const REMOTE_WAIT: Duration = Duration::from_secs(2);

/// A medium ready to serve.
#[derive(Debug)]
pub struct Served {
    /// What the ledger says of it.
    pub row: MediaRow,
    /// Its bytes.
    pub file: Bytes,
    /// The uploader's file name, when this node is the uploader's.
    pub upload_name: Option<String>,
}

/// The node's media repository.
pub struct Media {
    /// Where blobs live.
    pub store: Arc<dyn BlobStore>,
    /// `{data_dir}/media`: the embedded store and the thumbnail cache.
    pub dir: PathBuf,
    /// Signs and sends gateway requests as this organisation (`None` without a ledger).
    peers: Option<PeerClient>,
    /// One fetch per file at a time: the others wait and then read the store.
    fetching: SyncMutex<HashMap<String, Arc<Mutex<()>>>>,
    /// One removal sweep at a time.
    sweeping: Mutex<()>,
}

fn blob(e: BlobError) -> Error {
    Error::Internal(format!("media store: {e}"))
}

fn db(e: sqlx::Error) -> Error {
    Error::Internal(format!("media: {e}"))
}

fn now_ms() -> u64 {
    u64::from(ruma::MilliSecondsSinceUnixEpoch::now().get())
}

/// A fresh media id: 24 letters and digits, as Synapse makes them.
fn new_media_id() -> String {
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut rng = rand::thread_rng();
    (0..24)
        .map(|_| CHARS[rng.gen_range(0..CHARS.len())] as char)
        .collect()
}

impl Media {
    /// The repository of a node with `config`, over its database.
    pub fn open(
        config: &Config,
        pool: &AnyPool,
        chain: Option<&ChainLedger>,
    ) -> Result<Self, ConfigError> {
        let dir = PathBuf::from(&config.data_dir).join("media");
        let store: Arc<dyn BlobStore> = match config.media.backend {
            MediaBackend::Embedded => Arc::new(
                embedded::EmbeddedStore::open(&dir, pool.clone())
                    .map_err(|e| ConfigError::Invalid(format!("media store: {e}")))?,
            ),
            MediaBackend::Kubo => Arc::new(
                kubo::KuboStore::new(config.media.kubo_url.as_deref().unwrap_or_default())
                    .map_err(|e| ConfigError::Invalid(format!("media store: {e}")))?,
            ),
        };
        std::fs::create_dir_all(dir.join("thumbnails"))
            .map_err(|e| ConfigError::Invalid(format!("media directory: {e}")))?;
        Ok(Self {
            store,
            dir,
            peers: chain.map(|c| PeerClient::new(c.org().to_owned(), c.node_key().clone())),
            fetching: SyncMutex::new(HashMap::new()),
            sweeping: Mutex::new(()),
        })
    }

    /// The thumbnail cache directory of one medium.
    pub fn thumbnail_dir(&self, mxc: &str) -> PathBuf {
        let digest = consort_chain::crypto::sha256(&[mxc.as_bytes()]);
        self.dir.join("thumbnails").join(hex::encode(digest))
    }

    fn fetch_lock(&self, cid: &str) -> Arc<Mutex<()>> {
        let mut map = self.fetching.lock().expect("not poisoned");
        map.retain(|_, lock| Arc::strong_count(lock) > 1);
        map.entry(cid.to_owned()).or_default().clone()
    }
}

/// Refuses a content type or file name that cannot be stored or served.
fn check_metadata(content_type: Option<&str>, filename: Option<&str>) -> Result<()> {
    if let Some(ct) = content_type
        && (ct.len() > consort_bridge::media::MAX_CONTENT_TYPE_LEN
            || ct.chars().any(|c| c.is_control()))
    {
        return Err(Error::invalid_param("Invalid Content-Type"));
    }
    if let Some(name) = filename
        && (name.len() > 255 || name.chars().any(|c| c.is_control()))
    {
        return Err(Error::invalid_param("Invalid file name"));
    }
    Ok(())
}

/// Stores `file`, pins it on the ledger as `mxc`, and records its file name; on any failure
/// nothing stays (blocks no pin names are removed again).
async fn store_and_pin(
    state: &AppState,
    sender: &Sender,
    mxc: &str,
    file: Vec<u8>,
    content_type: Option<String>,
) -> Result<()> {
    let chain = state.chain()?;
    let file = Bytes::from(file);
    let cut = file.clone();
    let dag: FileDag = tokio::task::spawn_blocking(move || unixfs::build(&cut))
        .await
        .map_err(|e| Error::Internal(format!("chunking: {e}")))?;
    let media = &state.media;
    media.store.put(&dag, &file).await.map_err(blob)?;
    let cid = dag.root.to_string();
    let record = Record::MediaPin(MediaPin {
        mxc: mxc.to_owned(),
        cid: cid.clone(),
        size: file.len() as u64,
        content_type: content_type.filter(|c| !c.is_empty()),
        uploader: sender.user_id.to_string(),
        at_ms: now_ms(),
    });
    if let Err(e) = chain.submit_record(&record).await {
        if !read::cid_in_use(chain.pool(), &cid).await.unwrap_or(true)
            && let Err(e) = media.store.remove(&dag.root).await
        {
            tracing::warn!(%cid, "could not remove the blocks of a failed upload: {e}");
        }
        return Err(match e {
            LedgerError::Rejected(reason) => {
                Error::rejected(reason.context("The ledger refused the upload"))
            }
            other => Error::Ledger(other),
        });
    }
    Ok(())
}

async fn set_local(
    pool: &AnyPool,
    mxc: &str,
    owner: &str,
    upload_name: Option<&str>,
    expires_ms: Option<u64>,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO hs_media_local (mxc, owner, upload_name, created_ms, expires_ms) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (mxc) DO UPDATE SET \
         upload_name = excluded.upload_name, expires_ms = excluded.expires_ms",
    )
    .bind(mxc)
    .bind(owner)
    .bind(upload_name)
    .bind(now_ms() as i64)
    .bind(expires_ms.map(|e| e as i64))
    .execute(pool)
    .await
    .map_err(db)?;
    Ok(())
}

/// `POST /upload`: a new medium, answered with its URI once every node knows it.
pub async fn upload(
    state: &AppState,
    sender: &Sender,
    file: Vec<u8>,
    content_type: Option<String>,
    filename: Option<String>,
) -> Result<String> {
    check_metadata(content_type.as_deref(), filename.as_deref())?;
    let mxc = format!("mxc://{}/{}", state.server_name, new_media_id());
    store_and_pin(state, sender, &mxc, file, content_type).await?;
    set_local(
        &state.db.pool,
        &mxc,
        sender.user_id.as_str(),
        filename.as_deref(),
        None,
    )
    .await?;
    Ok(mxc)
}

/// `POST /create`: reserves a URI for a later upload; answers it and when it expires.
pub async fn create(state: &AppState, sender: &Sender) -> Result<(String, u64)> {
    state.chain()?;
    let pool = &state.db.pool;
    let now = now_ms();
    let pending: i64 =
        sqlx::query("SELECT COUNT(*) FROM hs_media_local WHERE owner = $1 AND expires_ms > $2")
            .bind(sender.user_id.as_str())
            .bind(now as i64)
            .fetch_one(pool)
            .await
            .and_then(|r| r.try_get(0))
            .map_err(db)?;
    if pending >= MAX_PENDING {
        let mut err = Error::limit_exceeded(Duration::from_secs(60));
        if let Error::Matrix { message, .. } = &mut err {
            *message = "You have too many uploads pending".into();
        }
        return Err(err);
    }
    let mxc = format!("mxc://{}/{}", state.server_name, new_media_id());
    let expires = now + RESERVATION.as_millis() as u64;
    set_local(pool, &mxc, sender.user_id.as_str(), None, Some(expires)).await?;
    Ok((mxc, expires))
}

/// `PUT /upload/{server}/{id}`: the content of a URI reserved by `/create`.
pub async fn upload_reserved(
    state: &AppState,
    sender: &Sender,
    (server, id): (&str, &str),
    file: Vec<u8>,
    content_type: Option<String>,
    filename: Option<String>,
) -> Result<()> {
    check_metadata(content_type.as_deref(), filename.as_deref())?;
    let mxc = format!("mxc://{server}/{id}");
    let pool = &state.db.pool;
    let row = sqlx::query("SELECT owner, expires_ms FROM hs_media_local WHERE mxc = $1")
        .bind(&mxc)
        .fetch_optional(pool)
        .await
        .map_err(db)?;
    let Some(row) = row else {
        return Err(Error::not_found("Unknown media ID"));
    };
    let owner: String = row.try_get(0).map_err(db)?;
    let expires: Option<i64> = row.try_get(1).map_err(db)?;
    if owner != sender.user_id.as_str() {
        return Err(Error::forbidden(
            "You may not upload to this media ID: another user reserved it",
        ));
    }
    match expires {
        None => {
            return Err(Error::new(
                StatusCode::CONFLICT,
                ErrorKind::CannotOverwriteMedia,
                "Media ID already has content",
            ));
        }
        Some(e) if (e as u64) < now_ms() => {
            return Err(Error::not_found("The media ID expired before its upload"));
        }
        Some(_) => {}
    }
    store_and_pin(state, sender, &mxc, file, content_type).await?;
    set_local(pool, &mxc, &owner, filename.as_deref(), None).await
}

/// The file name the uploader gave, when the uploader is this node's.
async fn upload_name(pool: &AnyPool, mxc: &str) -> Result<Option<String>> {
    let row = sqlx::query("SELECT upload_name FROM hs_media_local WHERE mxc = $1")
        .bind(mxc)
        .fetch_optional(pool)
        .await
        .map_err(db)?;
    Ok(match row {
        Some(r) => r.try_get::<Option<String>, _>(0).map_err(db)?,
        None => None,
    })
}

/// Whether `mxc` is reserved on this node and not uploaded yet.
async fn reserved(pool: &AnyPool, mxc: &str) -> Result<bool> {
    Ok(
        sqlx::query("SELECT 1 FROM hs_media_local WHERE mxc = $1 AND expires_ms > $2")
            .bind(mxc)
            .bind(now_ms() as i64)
            .fetch_optional(pool)
            .await
            .map_err(db)?
            .is_some(),
    )
}

/// The ledger's row of `mxc`, waiting up to `timeout` when it is reserved here and not
/// uploaded yet (504 `M_NOT_YET_UPLOADED` after that).
async fn pinned(state: &AppState, mxc: &str, timeout: Duration) -> Result<MediaRow> {
    let chain = state.chain()?;
    let deadline = tokio::time::Instant::now() + timeout.min(MAX_WAIT);
    let mut applied = chain.watch_applied();
    let server = consort_bridge::media::split_mxc(mxc).map(|(s, _)| s);
    let from_other_org = server.is_some_and(|s| {
        s != state.server_name.as_str() && chain.genesis().orgs.iter().any(|o| o.server_name == s)
    });
    let remote_deadline = tokio::time::Instant::now() + timeout.min(REMOTE_WAIT);
    loop {
        if let Some(row) = read::get(chain.pool(), mxc).await.map_err(db)? {
            if row.removed {
                return Err(Error::not_found("Not found"));
            }
            return Ok(row);
        }
        let waiting_for = if reserved(&state.db.pool, mxc).await? {
            deadline
        } else if from_other_org {
            // Another organisation's upload this node may not have applied yet (its
            // uploader's node answered once it applied the pin): a block or two.
            remote_deadline
        } else {
            return Err(Error::not_found("Not found"));
        };
        if tokio::time::timeout_at(waiting_for, applied.changed())
            .await
            .is_err()
        {
            if waiting_for == remote_deadline {
                return Err(Error::not_found("Not found"));
            }
            return Err(Error::new(
                StatusCode::GATEWAY_TIMEOUT,
                ErrorKind::NotYetUploaded,
                "The media is not uploaded yet",
            ));
        }
    }
}

/// The peers to fetch `row` from: its organisation's node first, then every other one.
fn peers_for(state: &AppState, row: &MediaRow) -> Vec<Peer> {
    let Ok(chain) = state.chain() else {
        return Vec::new();
    };
    let mut orgs: Vec<&str> = vec![row.org.as_str()];
    orgs.extend(
        chain
            .genesis()
            .orgs
            .iter()
            .map(|o| o.id.as_str())
            .filter(|o| *o != row.org),
    );
    orgs.into_iter()
        .filter(|o| *o != chain.org())
        .filter_map(|o| {
            state.config.media.peers.get(o).map(|url| Peer {
                org: o.to_owned(),
                base_url: url.clone(),
            })
        })
        .collect()
}

/// A medium's bytes: from this node's store, or fetched from the other organisations and
/// kept.
pub async fn fetch(state: &AppState, server: &str, id: &str, timeout: Duration) -> Result<Served> {
    let mxc = format!("mxc://{server}/{id}");
    let row = pinned(state, &mxc, timeout).await?;
    let root = unixfs::parse_cid(&row.cid).map_err(|e| Error::Internal(e.to_string()))?;
    let media = &state.media;
    let upload_name = upload_name(&state.db.pool, &mxc).await?;
    if let Some(file) = media.store.get(&root).await.map_err(blob)? {
        return Ok(Served {
            row,
            file,
            upload_name,
        });
    }
    let lock = media.fetch_lock(&row.cid);
    let _guard = lock.lock().await;
    if let Some(file) = media.store.get(&root).await.map_err(blob)? {
        return Ok(Served {
            row,
            file,
            upload_name,
        });
    }
    let client = media
        .peers
        .as_ref()
        .ok_or_else(|| Error::Internal("no ledger".into()))?;
    let peers = peers_for(state, &row);
    let (file, dag) = client.fetch(&peers, &root, row.size).await.map_err(|e| {
        tracing::warn!(mxc = %row.mxc, "media not fetched: {e}");
        Error::new(
            StatusCode::BAD_GATEWAY,
            ErrorKind::Unknown,
            format!("The media could not be fetched from any organisation: {e}"),
        )
    })?;
    // Removed while it was being fetched: keep nothing.
    if read::get(state.chain()?.pool(), &mxc)
        .await
        .map_err(db)?
        .is_none_or(|r| r.removed)
    {
        return Err(Error::not_found("Not found"));
    }
    media.store.put(&dag, &file).await.map_err(blob)?;
    Ok(Served {
        row,
        file,
        upload_name,
    })
}

/// Removes a medium of this organisation (an admin's decision): a `MediaUnpin` on the
/// ledger, after which every node stops serving it and deletes its copy.
pub async fn remove(state: &AppState, admin: &Sender, server: &str, id: &str) -> Result<()> {
    if server != state.server_name.as_str() {
        return Err(Error::invalid_param("Can only delete local media"));
    }
    let chain = state.chain()?;
    let mxc = format!("mxc://{server}/{id}");
    match read::get(chain.pool(), &mxc).await.map_err(db)? {
        None => return Err(Error::not_found("Unknown media")),
        Some(r) if r.removed => return Err(Error::not_found("The media is already removed")),
        Some(_) => {}
    }
    let record = Record::MediaUnpin(MediaUnpin {
        mxc: mxc.clone(),
        admin: admin.user_id.to_string(),
    });
    chain.submit_record(&record).await.map_err(|e| match e {
        LedgerError::Rejected(reason) => {
            Error::rejected(reason.context("The ledger refused the removal"))
        }
        other => Error::Ledger(other),
    })?;
    janitor::sweep(state).await;
    Ok(())
}

/// A page of `user`'s media with this node's file names, and the total.
pub async fn list_user_media(
    state: &AppState,
    user: &str,
    from: u64,
    limit: u64,
    oldest_first: bool,
) -> Result<(Vec<(MediaRow, Option<String>)>, u64)> {
    let chain = state.chain()?;
    let (rows, total) = read::by_uploader(chain.pool(), user, from, limit, oldest_first)
        .await
        .map_err(db)?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let name = upload_name(&state.db.pool, &row.mxc).await?;
        out.push((row, name));
    }
    Ok((out, total))
}
