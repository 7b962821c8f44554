//! `consort verify`'s checks: replays a node's ledger from the genesis into a scratch
//! database and proves that the node's blocks, certificates, transactions, app hashes and
//! projection tables are what the genesis and the blocks say. Offline, on a stopped node or
//! a copy of its database. The first difference is reported with its height, record or row.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use consort_chain::block::next_app_hash;
use consort_chain::proof::verify_certificate;
use consort_chain::store::BlockStore;
use consort_chain::{Block, BlockExecutor, Genesis};
use sqlx::any::AnyRow;
use sqlx::{AnyPool, Row};

use crate::apply::Bridge;

/// What a successful verification checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Blocks checked (hash chain, Merkle root, certificate, app hash).
    pub blocks: u64,
    /// Transactions whose signatures were checked and whose records were replayed.
    pub txs: u64,
    /// Precommit signatures checked.
    pub signatures: u64,
    /// Projection tables compared, with their row counts.
    pub tables: Vec<(String, usize)>,
    /// Time spent replaying the chain.
    pub replay: Duration,
    /// Time spent comparing the projection.
    pub compare: Duration,
}

/// The first difference found.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// A stored block is missing, does not decode, or breaks the chain's rules.
    #[error("height {height}: {what}")]
    Block {
        /// The block's height.
        height: u64,
        /// What is wrong.
        what: String,
    },
    /// A transaction is not validly signed, duplicated, or not indexed where it is.
    #[error("height {height}, transaction {index}: {what}")]
    Tx {
        /// The block's height.
        height: u64,
        /// Its index in the block.
        index: usize,
        /// What is wrong.
        what: String,
    },
    /// The app hash recomputed by replaying differs from the stored one.
    #[error(
        "height {height}: the stored app hash is {stored}, replaying the ledger gives {replayed}"
    )]
    AppHash {
        /// The block's height.
        height: u64,
        /// Hex of the stored app hash.
        stored: String,
        /// Hex of the recomputed one.
        replayed: String,
    },
    /// A projection table differs from the replay's.
    #[error("table {table}: {what}")]
    Projection {
        /// The table.
        table: String,
        /// The differing row and how.
        what: String,
    },
    /// The projection has applied a block the stored chain does not hold: the node stopped
    /// between applying a block and storing it. Not tampering: the node takes the block
    /// again from the consortium when it starts.
    #[error(
        "the projection has applied height {applied}, the stored chain ends at {tip}: the node stopped between applying a block and storing it; start it once to take that block from the consortium, then verify again"
    )]
    AheadOfChain {
        /// The projection's applied height.
        applied: u64,
        /// The last stored block.
        tip: u64,
    },
    /// The database could not be read.
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
}

/// Verifies the node whose database is `node` against `genesis`, replaying into `scratch`
/// (a fresh, migrated, empty database). `progress` is told each 1,000 blocks.
pub async fn verify(
    node: &AnyPool,
    scratch: &AnyPool,
    genesis: &Genesis,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Report, VerifyError> {
    let keeper = Bridge::new(node.clone(), genesis.clone()).payload_keeper();
    let store = BlockStore::new(node.clone()).with_keeper(keeper);
    let block_err = |height: u64, what: String| VerifyError::Block { height, what };
    let tip = store
        .tip()
        .await
        .map_err(|e| block_err(0, e.to_string()))?
        .map_or(0, |t| t.height);
    let applied = Bridge::new(node.clone(), genesis.clone())
        .load_applied()
        .await?;
    if applied > tip {
        return Err(VerifyError::AheadOfChain { applied, tip });
    }
    let replayer = Bridge::new(scratch.clone(), genesis.clone());
    let mut report = Report::default();
    let started = Instant::now();
    let mut prev_hash = [0u8; 32];
    let mut prev_app_hash = genesis.hash();
    let mut prev_time = genesis.genesis_time_ms;
    let mut seen = HashSet::new();
    for height in 1..=tip {
        let stored = store
            .block(height)
            .await
            .map_err(|e| block_err(height, e.to_string()))?
            .ok_or_else(|| block_err(height, "the block is missing".into()))?;
        let stored_hash: Vec<u8> = sqlx::query("SELECT hash FROM chain_blocks WHERE height = $1")
            .bind(height as i64)
            .fetch_one(node)
            .await?
            .try_get(0)?;
        let block = &stored.block;
        let h = &block.header;
        if stored_hash != block.hash().0 {
            return Err(block_err(
                height,
                "the stored block's bytes do not hash to its recorded hash".into(),
            ));
        }
        let checks: [(bool, &str); 6] = [
            (
                h.chain_id == genesis.chain_id,
                "the chain id is not the genesis'",
            ),
            (
                h.height == height,
                "the header's height is not its place in the chain",
            ),
            (
                h.prev_hash == prev_hash,
                "the previous hash does not link to the block before",
            ),
            (
                h.app_hash == prev_app_hash,
                "the header's app hash is not the app hash after the block before",
            ),
            (h.time_ms >= prev_time, "the block's time goes backwards"),
            (
                h.tx_count as usize == block.txs.len(),
                "tx_count does not match the transactions",
            ),
        ];
        if let Some((_, what)) = checks.iter().find(|(ok, _)| !ok) {
            return Err(block_err(height, (*what).into()));
        }
        if Block::compute_tx_root(&block.txs) != h.tx_root {
            return Err(block_err(
                height,
                "the Merkle root of the transactions is not the header's tx_root".into(),
            ));
        }
        verify_certificate(&stored.certificate, h, genesis)
            .map_err(|e| block_err(height, format!("commit certificate: {e}")))?;
        report.signatures += stored.certificate.commit_signatures.len() as u64;
        for (index, tx) in block.txs.iter().enumerate() {
            let tx_err = |what: String| VerifyError::Tx {
                height,
                index,
                what,
            };
            let hash = tx.check(genesis).map_err(|e| tx_err(e.to_string()))?;
            if !seen.insert(hash) {
                return Err(tx_err(format!("{hash} was already committed")));
            }
            let location = store
                .tx_location(&hash)
                .await
                .map_err(|e| tx_err(e.to_string()))?;
            if location != Some((height, index as u32)) {
                return Err(tx_err(format!(
                    "the transaction index places {hash} at {location:?}"
                )));
            }
        }
        let outcome = replayer
            .execute(block)
            .await
            .map_err(|e| block_err(height, format!("replaying the records: {e}")))?
            .outcome;
        let app_hash = next_app_hash(&prev_app_hash, &block.hash(), &outcome);
        if app_hash != stored.app_hash {
            return Err(VerifyError::AppHash {
                height,
                stored: hex::encode(stored.app_hash),
                replayed: hex::encode(app_hash),
            });
        }
        report.blocks += 1;
        report.txs += block.txs.len() as u64;
        prev_hash = block.hash().0;
        prev_app_hash = app_hash;
        prev_time = h.time_ms;
        if height % 1000 == 0 {
            progress(height, tip);
        }
    }
    let indexed: i64 = sqlx::query("SELECT COUNT(*) FROM chain_txs")
        .fetch_one(node)
        .await?
        .try_get(0)?;
    if indexed as u64 != report.txs {
        return Err(block_err(
            tip,
            format!(
                "the transaction index holds {indexed} transactions, the blocks {}",
                report.txs
            ),
        ));
    }
    report.replay = started.elapsed();
    let started = Instant::now();
    report.tables = compare_projection(node, scratch).await?;
    report.compare = started.elapsed();
    Ok(report)
}

/// The projection's tables (every `bridge_*` table of the schema), in name order.
async fn projection_tables(scratch: &AnyPool) -> Result<Vec<String>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'bridge\\_%' ESCAPE '\\' ORDER BY name",
    )
    .fetch_all(scratch)
    .await?;
    rows.iter().map(|r| r.try_get(0)).collect()
}

/// Column names of a table of the scratch (SQLite) schema, which every backend shares.
async fn columns(scratch: &AnyPool, table: &str) -> Result<Vec<String>, sqlx::Error> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT name FROM pragma_table_info('{table}') ORDER BY cid"
    )))
    .fetch_all(scratch)
    .await?;
    rows.iter().map(|r| r.try_get(0)).collect()
}

/// One value as text, the same for SQLite and PostgreSQL.
fn cell(row: &AnyRow, i: usize) -> String {
    if let Ok(v) = row.try_get::<Option<i64>, _>(i) {
        return v.map_or("NULL".into(), |v| v.to_string());
    }
    if let Ok(v) = row.try_get::<Option<String>, _>(i) {
        return v.map_or("NULL".into(), |v| format!("{v:?}"));
    }
    if let Ok(v) = row.try_get::<Option<Vec<u8>>, _>(i) {
        return v.map_or("NULL".into(), |v| format!("x'{}'", hex::encode(v)));
    }
    if let Ok(v) = row.try_get::<Option<f64>, _>(i) {
        return v.map_or("NULL".into(), |v| v.to_string());
    }
    if let Ok(v) = row.try_get::<Option<bool>, _>(i) {
        return v.map_or("NULL".into(), |v| i64::from(v).to_string());
    }
    "?".into()
}

async fn table_rows(
    pool: &AnyPool,
    table: &str,
    cols: &[String],
) -> Result<Vec<String>, sqlx::Error> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {} FROM {table}",
        cols.join(", ")
    )))
    .fetch_all(pool)
    .await?;
    let mut out: Vec<String> = rows
        .iter()
        .map(|r| {
            cols.iter()
                .enumerate()
                .map(|(i, c)| format!("{c}={}", cell(r, i)))
                .collect::<Vec<_>>()
                .join(", ")
        })
        .collect();
    out.sort();
    Ok(out)
}

/// Compares every projection table of the node with the replay's, row by row.
async fn compare_projection(
    node: &AnyPool,
    scratch: &AnyPool,
) -> Result<Vec<(String, usize)>, VerifyError> {
    let mut counts = Vec::new();
    for table in projection_tables(scratch).await? {
        let cols = columns(scratch, &table).await?;
        let expected = table_rows(scratch, &table, &cols).await?;
        let actual = table_rows(node, &table, &cols).await?;
        let projection = |what: String| VerifyError::Projection {
            table: table.clone(),
            what,
        };
        let expected_set: HashSet<&String> = expected.iter().collect();
        let actual_set: HashSet<&String> = actual.iter().collect();
        if let Some(row) = actual.iter().find(|r| !expected_set.contains(r)) {
            return Err(projection(format!(
                "the node holds a row the ledger does not give: ({row})"
            )));
        }
        if let Some(row) = expected.iter().find(|r| !actual_set.contains(r)) {
            return Err(projection(format!(
                "the node lacks a row the ledger gives: ({row})"
            )));
        }
        if expected.len() != actual.len() {
            return Err(projection(format!(
                "the node holds {} rows, the ledger gives {}",
                actual.len(),
                expected.len()
            )));
        }
        counts.push((table, actual.len()));
    }
    Ok(counts)
}
