//! `consort verify` (replay a node's ledger offline and prove its state is what the blocks
//! say) and `consort verify-proof` (check one event's proof against the genesis).

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use clap::Args;
use consort_chain::Genesis;
use consort_chain::local::load_org_dir;
use consort_chain::store::connect_and_migrate;

use crate::config::Config;

/// Options of `consort verify`.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct VerifyArgs {
    /// The node's homeserver configuration (its database and chain directory).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// An organisation's directory (a devnet's `DATA_DIR/orgK`, or `consort chain init`'s).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
}

/// Options of `consort verify-proof`.
#[derive(Debug, Args)]
pub struct VerifyProofArgs {
    /// The consortium's genesis file.
    #[arg(long)]
    pub genesis: PathBuf,
    /// The proof, as `GET /_consort/v1/rooms/{roomId}/event/{eventId}/proof` returned it.
    pub proof: PathBuf,
}

/// The database and genesis of the node to verify.
fn target(args: &VerifyArgs) -> anyhow::Result<(String, Genesis)> {
    if let Some(dir) = &args.data_dir {
        let node = load_org_dir(dir).map_err(anyhow::Error::msg)?;
        return Ok((node.database_url, node.genesis));
    }
    let path = args.config.as_deref().context("--config or --data-dir")?;
    let config = Config::load(Some(path))?;
    let chain_dir = config
        .chain_dir
        .as_deref()
        .context("the node has no chain_dir: it keeps no ledger to verify")?;
    let node = load_org_dir(Path::new(chain_dir)).map_err(anyhow::Error::msg)?;
    Ok((config.database_url(), node.genesis))
}

/// Runs `consort verify`: exit 0 with what was checked, or an error naming the first
/// difference (the process then exits 1).
pub async fn run(args: VerifyArgs) -> anyhow::Result<()> {
    let (url, genesis) = target(&args)?;
    let node = connect_and_migrate(&url)
        .await
        .with_context(|| format!("opening the node's database {url}"))?;
    let scratch_dir = tempfile::tempdir().context("creating a scratch directory")?;
    let scratch_url = format!(
        "sqlite://{}?mode=rwc",
        scratch_dir.path().join("replay.db").display()
    );
    let scratch = connect_and_migrate(&scratch_url).await?;
    out!("verifying {} ({url})", genesis.chain_id);
    let started = Instant::now();
    let result = consort_bridge::verify::verify(&node, &scratch, &genesis, &mut |h, tip| {
        eprintln!("  replayed {h} of {tip} blocks");
    })
    .await;
    scratch.close().await;
    node.close().await;
    let report = match result {
        Ok(r) => r,
        Err(e) => bail!("verification failed: {e}"),
    };
    out!(
        "chain       {} blocks: hash chain, Merkle roots, {} certificate signatures (quorum of {} validators)",
        report.blocks,
        report.signatures,
        genesis.orgs.len()
    );
    out!(
        "records     {} transactions: signatures checked, every record validated and replayed",
        report.txs
    );
    out!(
        "app hash    recomputed at each of {} heights: equal to the stored ones",
        report.blocks
    );
    let rows: usize = report.tables.iter().map(|(_, n)| n).sum();
    out!(
        "projection  {} tables, {rows} rows: equal to a fresh replay",
        report.tables.len()
    );
    for (table, n) in &report.tables {
        out!("  {table:<28} {n}");
    }
    out!(
        "time        replay {} ms, comparison {} ms, total {} ms",
        report.replay.as_millis(),
        report.compare.as_millis(),
        started.elapsed().as_millis()
    );
    out!("OK");
    Ok(())
}

/// Runs `consort verify-proof`.
pub async fn run_proof(args: VerifyProofArgs) -> anyhow::Result<()> {
    let genesis = Genesis::load(&args.genesis)
        .with_context(|| format!("reading the genesis {}", args.genesis.display()))?;
    let bytes =
        std::fs::read(&args.proof).with_context(|| format!("reading {}", args.proof.display()))?;
    match crate::services::event_proof::verify(&bytes, &genesis) {
        Ok(v) => {
            out!(
                "OK: committed at height {} of {}, submitted by {}, certified by {} of {} validators",
                v.height,
                genesis.chain_id,
                v.org,
                v.signatures,
                genesis.orgs.len()
            );
            Ok(())
        }
        Err(e) => bail!("the proof does not verify: {e}"),
    }
}
