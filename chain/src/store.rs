//! The block store: committed blocks, certificates and the tx index in SQL (SQLite by
//! default, PostgreSQL for `postgres://` URLs), through one sqlx `Any` pool and the same
//! queries for both.

use std::str::FromStr;
use std::sync::Arc;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Row};

use crate::block::{Block, Tip};
use crate::crypto::Hash32;
use crate::engine::context::ConsortContext;
use crate::engine::types::{Address, BlockHash};
use crate::executor::BoxFuture;
use crate::tx::{Tx, TxHash};
use malachitebft_core_types::CommitCertificate;

/// Storage failures.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database refused or failed.
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    /// Migrations failed.
    #[error("migration error: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// Stored bytes do not decode: the store is corrupt.
    #[error("corrupt store: {0}")]
    Corrupt(String),
}

/// Which SQL backend a URL selects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite file (the default).
    Sqlite,
    /// PostgreSQL server.
    Postgres,
}

impl Backend {
    /// The backend for a database URL.
    pub fn of_url(url: &str) -> Self {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            Backend::Sqlite
        }
    }
}

/// Opens a pool for `url` and runs the node's migrations for its backend.
pub async fn connect_and_migrate(url: &str) -> Result<AnyPool, StoreError> {
    sqlx::any::install_default_drivers();
    let backend = Backend::of_url(url);
    let options = AnyConnectOptions::from_str(url)?;
    let pool = AnyPoolOptions::new()
        .max_connections(8)
        .after_connect(move |conn, _| {
            Box::pin(async move {
                // Per-connection settings: every connection of the pool needs them, not just
                // the first. WAL with `synchronous = NORMAL` syncs at checkpoints, not at each
                // commit; a writer waits for the lock instead of failing.
                if backend == Backend::Sqlite {
                    for pragma in [
                        "PRAGMA journal_mode = WAL",
                        "PRAGMA synchronous = NORMAL",
                        "PRAGMA busy_timeout = 5000",
                    ] {
                        sqlx::query(pragma).execute(&mut *conn).await?;
                    }
                }
                Ok(())
            })
        })
        .connect_with(options)
        .await?;
    match backend {
        Backend::Sqlite => sqlx::migrate!("../migrations/sqlite").run(&pool).await?,
        Backend::Postgres => sqlx::migrate!("../migrations/postgres").run(&pool).await?,
    }
    Ok(pool)
}

/// Begins a transaction that will write. On SQLite it takes the write lock at once (`BEGIN
/// IMMEDIATE`): a deferred transaction that reads first and writes later fails outright
/// (`SQLITE_BUSY_SNAPSHOT`, no busy wait) when another connection wrote in between.
pub async fn begin_write(
    pool: &AnyPool,
) -> Result<sqlx::Transaction<'static, sqlx::Any>, sqlx::Error> {
    let conn = pool.acquire().await?;
    let statement = if conn.backend_name() == "SQLite" {
        "BEGIN IMMEDIATE"
    } else {
        "BEGIN"
    };
    sqlx::Transaction::begin(conn, Some(sqlx::SqlSafeStr::into_sql_str(statement))).await
}

/// A committed block as stored.
#[derive(Clone, Debug)]
pub struct StoredBlock {
    /// The block.
    pub block: Block,
    /// The commit certificate that finalized it.
    pub certificate: CommitCertificate<ConsortContext>,
    /// The app hash after executing it.
    pub app_hash: Hash32,
}

/// `block` with the payloads at `kept` left empty, as stored when its executor keeps them.
fn without_payloads(block: &Block, kept: &[u32]) -> Block {
    let mut stored = block.clone();
    for &i in kept {
        stored.txs[i as usize].payload = Vec::new();
    }
    stored
}

/// An undecided proposal as stored.
#[derive(Clone, Debug)]
pub struct Undecided {
    /// Round it was proposed in.
    pub round: i64,
    /// Proposer.
    pub proposer: Address,
    /// Whether we judged it valid.
    pub valid: bool,
    /// The block.
    pub block: Block,
}

/// The application's own copy of payloads it took over from stored blocks (see
/// [`crate::Executed::kept`]): a room event's PDU, say, lives once in the application's
/// tables instead of twice. Reading such a block asks the keeper for them and checks them
/// against the block's Merkle root, so a kept payload can no more be altered unnoticed than
/// a stored one.
pub trait PayloadKeeper: Send + Sync {
    /// Where the payloads are kept, for error messages (a table's name, say).
    fn place(&self) -> &str;

    /// The payloads of the transactions at `indexes` of the block at `height`, byte for byte
    /// as committed, in the order asked.
    fn payloads<'a>(
        &'a self,
        height: u64,
        indexes: &'a [u32],
    ) -> BoxFuture<'a, Result<Vec<Vec<u8>>, String>>;
}

/// The block store.
#[derive(Clone)]
pub struct BlockStore {
    pool: AnyPool,
    keeper: Option<Arc<dyn PayloadKeeper>>,
}

fn hash32(bytes: Vec<u8>) -> Result<Hash32, StoreError> {
    bytes
        .try_into()
        .map_err(|_| StoreError::Corrupt("hash is not 32 bytes".into()))
}

impl BlockStore {
    /// Wraps a migrated pool.
    pub fn new(pool: AnyPool) -> Self {
        Self { pool, keeper: None }
    }

    /// This store, reading the payloads `keeper` keeps (none when `None`). Blocks stored
    /// with kept payloads cannot be read without their keeper.
    pub fn with_keeper(mut self, keeper: Option<Arc<dyn PayloadKeeper>>) -> Self {
        self.keeper = keeper;
        self
    }

    /// The pool, for callers sharing the node's database.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Commits a decided block, its certificate and its tx index in one transaction, and
    /// forgets undecided proposals up to its height. Idempotent for the same block.
    pub async fn commit(&self, stored: &StoredBlock) -> Result<(), StoreError> {
        let hashes: Vec<TxHash> = stored.block.txs.iter().map(Tx::hash).collect();
        self.commit_with_hashes(stored, &hashes, &[]).await
    }

    /// [`BlockStore::commit`] with the transactions' hashes already computed, leaving out
    /// the payloads at `kept`, which the store's keeper keeps (all are stored when the store
    /// has no keeper).
    pub async fn commit_with_hashes(
        &self,
        stored: &StoredBlock,
        hashes: &[TxHash],
        kept: &[u32],
    ) -> Result<(), StoreError> {
        let block = &stored.block;
        let kept: Vec<u32> = match self.keeper {
            Some(_) => kept
                .iter()
                .copied()
                .filter(|&i| (i as usize) < block.txs.len())
                .collect(),
            None => Vec::new(),
        };
        let (bytes, kept_column) = if kept.is_empty() {
            (block.encode(), None)
        } else {
            (
                without_payloads(block, &kept).encode(),
                Some(borsh::to_vec(&kept).expect("writing to a Vec cannot fail")),
            )
        };
        let height = block.header.height as i64;
        let cert = borsh::to_vec(&stored.certificate).expect("writing to a Vec cannot fail");
        let mut tx = begin_write(&self.pool).await?;
        let exists = sqlx::query("SELECT hash FROM chain_blocks WHERE height = $1")
            .bind(height)
            .fetch_optional(&mut *tx)
            .await?;
        if let Some(row) = exists {
            let hash: Vec<u8> = row.try_get(0)?;
            if hash != block.hash().0 {
                return Err(StoreError::Corrupt(format!(
                    "height {height} already holds another block"
                )));
            }
            return Ok(());
        }
        sqlx::query(
            "INSERT INTO chain_blocks (height, hash, time_ms, block, certificate, app_hash, kept) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(height)
        .bind(block.hash().0.to_vec())
        .bind(block.header.time_ms as i64)
        .bind(bytes)
        .bind(cert)
        .bind(stored.app_hash.to_vec())
        .bind(kept_column)
        .execute(&mut *tx)
        .await?;
        // Multi-row inserts: one statement per chunk instead of one per transaction.
        // sqlx looks each `$N` up among the statement's parameters, so very wide statements
        // cost quadratic time: keep them at about 300 parameters.
        const ROWS: usize = 100;
        for (chunk_no, chunk) in hashes.chunks(ROWS).enumerate() {
            let values: Vec<String> = (0..chunk.len())
                .map(|i| format!("(${}, ${}, ${})", 3 * i + 1, 3 * i + 2, 3 * i + 3))
                .collect();
            let sql = format!(
                "INSERT INTO chain_txs (hash, height, idx) VALUES {}",
                values.join(", ")
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (i, hash) in chunk.iter().enumerate() {
                query = query
                    .bind(hash.0.to_vec())
                    .bind(height)
                    .bind((chunk_no * ROWS + i) as i64);
            }
            query.execute(&mut *tx).await?;
        }
        sqlx::query("DELETE FROM chain_undecided WHERE height <= $1")
            .bind(height)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The committed block at `height`.
    pub async fn block(&self, height: u64) -> Result<Option<StoredBlock>, StoreError> {
        let row = sqlx::query(
            "SELECT block, certificate, app_hash, kept FROM chain_blocks WHERE height = $1",
        )
        .bind(height as i64)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let block: Vec<u8> = row.try_get(0)?;
        let cert: Vec<u8> = row.try_get(1)?;
        let app_hash: Vec<u8> = row.try_get(2)?;
        let kept: Option<Vec<u8>> = row.try_get(3)?;
        let mut block = Block::decode(&block).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        if let Some(kept) = kept {
            let kept: Vec<u32> = borsh::from_slice(&kept)
                .map_err(|e| StoreError::Corrupt(format!("height {height}: kept payloads: {e}")))?;
            self.refill(height, &mut block, &kept).await?;
        }
        Ok(Some(StoredBlock {
            block,
            certificate: borsh::from_slice(&cert)
                .map_err(|e| StoreError::Corrupt(e.to_string()))?,
            app_hash: hash32(app_hash)?,
        }))
    }

    /// Puts back the payloads at `kept`, read from the keeper, and checks them against the
    /// header's Merkle root; a mismatch names the first transaction that differs.
    async fn refill(&self, height: u64, block: &mut Block, kept: &[u32]) -> Result<(), StoreError> {
        let corrupt = |what: String| StoreError::Corrupt(format!("height {height}: {what}"));
        let keeper = self.keeper.as_ref().ok_or_else(|| {
            corrupt("the block's payloads kept by the application cannot be read without it".into())
        })?;
        let payloads = keeper.payloads(height, kept).await.map_err(|e| {
            corrupt(format!(
                "reading the payloads kept in {}: {e}",
                keeper.place()
            ))
        })?;
        if payloads.len() != kept.len() {
            return Err(corrupt(format!(
                "{} gave {} payloads for {} kept transactions",
                keeper.place(),
                payloads.len(),
                kept.len()
            )));
        }
        for (&index, payload) in kept.iter().zip(payloads) {
            let tx = block
                .txs
                .get_mut(index as usize)
                .ok_or_else(|| corrupt(format!("kept transaction {index} is not in the block")))?;
            if !tx.payload.is_empty() {
                return Err(corrupt(format!(
                    "kept transaction {index} still holds a payload"
                )));
            }
            tx.payload = payload;
        }
        if Block::compute_tx_root(&block.txs) == block.header.tx_root {
            return Ok(());
        }
        for &index in kept {
            let hash = block.txs[index as usize].hash();
            if self.tx_location(&hash).await? != Some((height, index)) {
                return Err(corrupt(format!(
                    "the payload of transaction {index}, kept in {}, is not the one committed",
                    keeper.place()
                )));
            }
        }
        Ok(())
    }

    /// The committed tip, or `None` before the first block.
    pub async fn tip(&self) -> Result<Option<Tip>, StoreError> {
        let row = sqlx::query(
            "SELECT height, hash, time_ms, app_hash FROM chain_blocks \
             ORDER BY height DESC LIMIT 1",
        )
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(Tip {
            height: row.try_get::<i64, _>(0)? as u64,
            hash: hash32(row.try_get(1)?)?,
            time_ms: row.try_get::<i64, _>(2)? as u64,
            app_hash: hash32(row.try_get(3)?)?,
        }))
    }

    /// Where a committed transaction sits: (height, index).
    pub async fn tx_location(&self, hash: &TxHash) -> Result<Option<(u64, u32)>, StoreError> {
        let row = sqlx::query("SELECT height, idx FROM chain_txs WHERE hash = $1")
            .bind(hash.0.to_vec())
            .fetch_optional(&self.pool)
            .await?;
        Ok(match row {
            Some(row) => Some((
                row.try_get::<i64, _>(0)? as u64,
                row.try_get::<i64, _>(1)? as u32,
            )),
            None => None,
        })
    }

    /// Every committed transaction hash (loaded once at start for replay checks).
    pub async fn all_tx_hashes(&self) -> Result<Vec<TxHash>, StoreError> {
        let rows = sqlx::query("SELECT hash FROM chain_txs")
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter()
            .map(|r| Ok(TxHash(hash32(r.try_get(0)?)?)))
            .collect()
    }

    /// Remembers a proposal we built or received and judged.
    pub async fn put_undecided(&self, u: &Undecided) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO chain_undecided (height, round, hash, proposer, valid, block) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (height, round, hash) DO NOTHING",
        )
        .bind(u.block.header.height as i64)
        .bind(u.round)
        .bind(u.block.hash().0.to_vec())
        .bind(u.proposer.0.to_vec())
        .bind(i64::from(u.valid))
        .bind(u.block.encode())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Undecided proposals at a height (any round).
    pub async fn undecided_at(&self, height: u64) -> Result<Vec<Undecided>, StoreError> {
        let rows = sqlx::query(
            "SELECT round, proposer, valid, block FROM chain_undecided WHERE height = $1",
        )
        .bind(height as i64)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|r| {
                let proposer: Vec<u8> = r.try_get(1)?;
                let block: Vec<u8> = r.try_get(3)?;
                Ok(Undecided {
                    round: r.try_get(0)?,
                    proposer: Address(
                        proposer
                            .try_into()
                            .map_err(|_| StoreError::Corrupt("proposer is not 20 bytes".into()))?,
                    ),
                    valid: r.try_get::<i64, _>(2)? != 0,
                    block: Block::decode(&block).map_err(|e| StoreError::Corrupt(e.to_string()))?,
                })
            })
            .collect()
    }

    /// An undecided block by hash at a height.
    pub async fn undecided_block(
        &self,
        height: u64,
        hash: &BlockHash,
    ) -> Result<Option<Block>, StoreError> {
        Ok(self
            .undecided_at(height)
            .await?
            .into_iter()
            .find(|u| &u.block.hash() == hash)
            .map(|u| u.block))
    }
}
