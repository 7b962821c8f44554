//! The node's SQL database: one sqlx `Any` pool over SQLite or PostgreSQL, with the same SQL text
//! (`$1` placeholders) for both and the DDL of `migrations/<backend>/` applied at start.

pub mod account_data;
pub mod devices;
pub mod filters;
pub mod forgotten;
pub mod local_stream;
pub mod openid_tokens;
pub mod private_receipts;
pub mod pushers;
pub mod restrictions;
pub mod send_txns;
pub mod tokens;
pub mod users;

use sqlx::AnyPool;

/// Why the database failed; always an internal error for clients.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// A query failed.
    #[error("database query failed: {0}")]
    Query(#[from] sqlx::Error),
    /// Opening or migrating the database failed.
    #[error("database setup failed: {0}")]
    Setup(#[from] consort_chain::store::StoreError),
    /// The URL names a database we do not support.
    #[error("unsupported database URL (expected sqlite:// or postgres://): {0}")]
    UnsupportedUrl(String),
}

/// Which SQL dialect the pool speaks; picks the migration directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite (the default).
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

impl Backend {
    /// Recognises the backend from a database URL.
    pub fn from_url(url: &str) -> Result<Self, StorageError> {
        if url.starts_with("sqlite:") {
            Ok(Self::Sqlite)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Ok(Self::Postgres)
        } else {
            Err(StorageError::UnsupportedUrl(url.to_owned()))
        }
    }
}

/// The database handle shared by every service of the node.
#[derive(Debug, Clone)]
pub struct Db {
    /// The connection pool.
    pub pool: AnyPool,
    /// Its dialect.
    pub backend: Backend,
}

impl Db {
    /// Opens the pool and applies all migrations of the backend's directory (the node's one
    /// database holds chain, bridge and homeserver tables; the chain's opener does the work).
    pub async fn connect(url: &str) -> Result<Self, StorageError> {
        let backend = Backend::from_url(url)?;
        let pool = consort_chain::store::connect_and_migrate(url).await?;
        Ok(Self { pool, backend })
    }
}

/// SQL has no booleans we can share between backends: flags are 0/1 integers.
pub(crate) fn flag(value: bool) -> i64 {
    i64::from(value)
}
