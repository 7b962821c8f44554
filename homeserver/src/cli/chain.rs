//! `consort chain ...`: create a consortium, run one validator, inspect it, benchmark it.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use consort_chain::bench::{BenchOptions, run as run_bench};
use consort_chain::local::{init_dir_with_app, load_org_dir, local_ports};
use consort_chain::store::{BlockStore, connect_and_migrate};
use consort_chain::{ChainNode, Genesis};

use super::genesis_policy::{GenesisPolicy, local_org_ids};

/// Ledger commands.
#[derive(Debug, Subcommand)]
pub enum ChainCommand {
    /// Write a genesis and one key set per organisation under DIR (DIR/genesis.json,
    /// DIR/orgK/{genesis.json,keys.json,node.toml}).
    Init {
        /// Number of organisations.
        #[arg(long, default_value_t = 4)]
        orgs: usize,
        /// Directory to create.
        #[arg(long)]
        dir: PathBuf,
        /// First port: org K uses base+2(K-1) for consensus and the next for tx gossip.
        #[arg(long, default_value_t = 26600)]
        base_port: u16,
        /// Chain id.
        #[arg(long, default_value = "consort-local")]
        chain_id: String,
        /// Consortium-wide settings.
        #[command(flatten)]
        policy: GenesisPolicy,
    },
    /// Run one organisation's validator from its directory until Ctrl-C.
    Start {
        /// The organisation's directory (DIR/orgK).
        #[arg(long)]
        dir: PathBuf,
    },
    /// Print height, validators and last block time of an organisation's node.
    Status {
        /// The organisation's directory (DIR/orgK).
        #[arg(long)]
        dir: PathBuf,
    },
    /// Benchmark a local network: committed tx/s and commit latency, then with one
    /// validator killed.
    Bench(BenchArgs),
}

/// Options of `consort chain bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Number of validators.
    #[arg(long, default_value_t = 4)]
    validators: usize,
    /// Seconds per phase.
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    /// Payload bytes per transaction.
    #[arg(long, default_value_t = 512)]
    tx_bytes: usize,
    /// Offered load in tx/s (default: saturate with --in-flight submissions per node).
    #[arg(long)]
    rate: Option<u64>,
    /// Concurrent submissions per node when saturating.
    #[arg(long, default_value_t = 1024)]
    in_flight: usize,
}

/// Runs a chain command.
pub async fn run(cmd: ChainCommand) -> anyhow::Result<()> {
    match cmd {
        ChainCommand::Init {
            orgs,
            dir,
            base_port,
            chain_id,
            policy,
        } => {
            let ports = local_ports(orgs, base_port).map_err(anyhow::Error::msg)?;
            let genesis = init_dir_with_app(
                &dir,
                &ports,
                &chain_id,
                policy.app(local_org_ids(ports.len())),
            )
            .map_err(anyhow::Error::msg)?;
            for org in &genesis.orgs {
                out!(
                    "{}  {}  p2p {}  gossip {}  -> {}",
                    org.id,
                    org.server_name,
                    org.p2p_addr,
                    org.gossip_addr,
                    dir.join(&org.id).display()
                );
            }
            Ok(())
        }
        ChainCommand::Start { dir } => {
            let config = load_org_dir(&dir).map_err(anyhow::Error::msg)?;
            let org = config.org_id.clone();
            let node = ChainNode::start(config)
                .await
                .context("starting the node")?;
            out!("{org} running at height {}", node.status().height);
            let mut tip = node.watch_tip();
            loop {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => break,
                    changed = tip.changed() => {
                        if changed.is_err() { break; }
                        let h = tip.borrow_and_update().height;
                        if h % 100 == 0 {
                            tracing::info!(height = h, "committed");
                        }
                    }
                }
            }
            node.stop().await;
            Ok(())
        }
        ChainCommand::Status { dir } => {
            let config = load_org_dir(&dir).map_err(anyhow::Error::msg)?;
            print_status(&config.genesis, &config.org_id, &config.database_url).await
        }
        ChainCommand::Bench(args) => bench(args).await,
    }
}

async fn print_status(genesis: &Genesis, org: &str, database_url: &str) -> anyhow::Result<()> {
    let store = BlockStore::new(connect_and_migrate(database_url).await?);
    out!("chain     {}", genesis.chain_id);
    out!("org       {org}");
    match store.tip().await? {
        Some(tip) => {
            out!("height    {}", tip.height);
            out!("last hash {}", hex_of(&tip.hash));
            out!(
                "last time {} ({} ms since the Unix epoch)",
                format_ms(tip.time_ms),
                tip.time_ms
            );
        }
        None => out!("height    0 (no block committed yet)"),
    }
    out!("validators");
    let set = genesis.validator_set();
    for org in &genesis.orgs {
        let address = set
            .validators
            .iter()
            .find(|v| hex_of(v.public_key.as_bytes()) == org.validator_key)
            .map(|v| v.address.to_string())
            .unwrap_or_default();
        out!(
            "  {:<8} {:<20} power 1  address {address}",
            org.id,
            org.server_name
        );
    }
    Ok(())
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn format_ms(ms: u64) -> String {
    let secs = ms / 1000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        ms % 1000
    )
}

async fn bench(args: BenchArgs) -> anyhow::Result<()> {
    if args.validators == 0 || args.seconds == 0 {
        bail!("--validators and --seconds must be at least 1");
    }
    let dir = tempfile::tempdir()?;
    let opts = BenchOptions {
        validators: args.validators,
        seconds: args.seconds,
        tx_bytes: args.tx_bytes,
        rate: args.rate,
        in_flight: args.in_flight,
    };
    let load = match args.rate {
        Some(r) => format!("{r} tx/s offered"),
        None => format!("saturating, {} in flight per node", args.in_flight),
    };
    out!(
        "consort chain bench: {} validators on 127.0.0.1, {} s per phase, {}-byte payloads, {load}",
        args.validators,
        args.seconds,
        args.tx_bytes
    );
    let reports = run_bench(&opts, dir.path())
        .await
        .map_err(anyhow::Error::msg)?;
    out!(
        "{:<22} {:>14} {:>9} {:>9} {:>9} {:>12}",
        "phase",
        "committed tx/s",
        "p50 ms",
        "p99 ms",
        "blocks/s",
        "max gap ms"
    );
    for r in reports {
        out!(
            "{:<22} {:>14.0} {:>9.1} {:>9.1} {:>9.1} {:>12.0}",
            r.name,
            r.tx_per_s,
            r.p50_ms,
            r.p99_ms,
            r.blocks_per_s,
            r.max_gap_ms
        );
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    Ok(())
}
