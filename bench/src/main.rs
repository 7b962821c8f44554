//! `cs-api-bench`: the same raw Matrix client-server API load on Consort (a local 4-organisation
//! devnet) and on Synapse, side by side in one run; prints a comparison table and a JSON line.
//!
//! Each server is started (unless its URL is given), measured alone, and stopped before the next
//! one starts, so that the two never compete for the machine's cores.

mod client;
mod footprint;
mod report;
mod servers;
mod signals;
mod stats;
mod workloads;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, ValueEnum};

use servers::{Kind, Started, Target, parse_url};
use signals::Interrupt;
use workloads::{Params, Results};

/// The error of a run stopped by Ctrl-C or SIGTERM.
const INTERRUPTED: &str = "interrupted; every server this run started is stopped";

/// Organisations of the Consort devnet the benchmark starts.
const CONSORT_ORGS: u16 = 4;

/// Compares Consort with Synapse on the same raw Matrix client-server API load: (a) sequential
/// send latency, (b) throughput of concurrent senders in one room, (c) send-to-/sync delivery
/// latency (on Consort from org1's node to org2's), (d) media upload throughput and the time to
/// first byte of a download (on Consort from another organisation's node), (e) sliding sync:
/// the first 20 rooms of a user in many, and an update after one message, (f) saturation:
/// many senders in a room each, (g) send latency at a fixed offered rate, (h) the initial
/// `/sync` of a user in many rooms, (i) storage per 1 KiB message on each node; and each
/// node's resident memory at the end.
#[derive(Debug, Parser)]
#[command(name = "cs-api-bench", version)]
struct Args {
    /// (b) measured duration of the throughput workload, in seconds.
    #[arg(long, default_value_t = 20.0)]
    seconds: f64,
    /// (b) warm-up before the measured window, in seconds.
    #[arg(long, default_value_t = 3.0)]
    warmup: f64,
    /// (b) concurrent senders (distinct users in one room).
    #[arg(long, default_value_t = 10)]
    senders: usize,
    /// (a) messages sent one after another.
    #[arg(long, default_value_t = 300)]
    messages: usize,
    /// (c) messages sent one at a time and awaited at the receiver [default: 100, or --messages
    /// if smaller].
    #[arg(long)]
    delivery_messages: Option<usize>,
    /// (d) media files uploaded, then downloaded from the receiver's node.
    #[arg(long, default_value_t = 10)]
    media_files: usize,
    /// (d) size of each media file, in MiB.
    #[arg(long, default_value_t = 3)]
    media_mib: usize,
    /// (e) rooms of the sliding sync user.
    #[arg(long, default_value_t = 300)]
    sliding_rooms: usize,
    /// (e) incremental sliding sync updates measured.
    #[arg(long, default_value_t = 20)]
    sliding_updates: usize,
    /// (f) senders, each in a room of its own.
    #[arg(long, default_value_t = 50)]
    spread_senders: usize,
    /// (g) messages offered per second.
    #[arg(long, default_value_t = 100.0)]
    paced_rate: f64,
    /// (g) how long they are offered, in seconds.
    #[arg(long, default_value_t = 10.0)]
    paced_seconds: f64,
    /// (h) rooms of the initial /sync user (each with one message).
    #[arg(long, default_value_t = 500)]
    sync_rooms: usize,
    /// (i) messages with a 1 KiB body whose storage is measured.
    #[arg(long, default_value_t = 1000)]
    storage_messages: usize,
    /// Run one side only.
    #[arg(long, value_enum)]
    only: Option<Only>,
    /// Use this running Consort node (org1) instead of starting a devnet.
    #[arg(long)]
    consort_url: Option<String>,
    /// With --consort-url: the node of the delivery receiver (another organisation's, e.g.
    /// org2's) [default: --consort-url, i.e. one node].
    #[arg(long)]
    consort_receiver_url: Option<String>,
    /// Use this running Synapse instead of starting one.
    #[arg(long)]
    synapse_url: Option<String>,
    /// The `consort` binary [default: $CARGO_TARGET_DIR/release/consort, target/release/consort,
    /// or consort in PATH].
    #[arg(long)]
    consort_bin: Option<PathBuf>,
    /// The virtual environment made by bench/synapse/setup.sh [default:
    /// $HOME/.cache/consort-bench/synapse-venv].
    #[arg(long)]
    synapse_venv: Option<PathBuf>,
    /// Keep the started servers' data directories (logs, databases) instead of removing them.
    #[arg(long)]
    keep_data: bool,
}

/// The side `--only` selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Only {
    /// Consort alone.
    Consort,
    /// Synapse alone.
    Synapse,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    match run(args).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(2),
        Err(e) => {
            eprintln!("cs-api-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs every selected side; `Ok(false)` when some workload failed (the report says which).
async fn run(args: Args) -> anyhow::Result<bool> {
    anyhow::ensure!(
        args.seconds > 0.0 && args.warmup >= 0.0,
        "--seconds must be positive and --warmup not negative"
    );
    anyhow::ensure!(
        args.paced_rate > 0.0 && args.paced_seconds > 0.0,
        "--paced-rate and --paced-seconds must be positive"
    );
    let mut interrupt = Interrupt::install()?;
    let params = Params {
        messages: args.messages,
        senders: args.senders,
        seconds: args.seconds,
        warmup_seconds: args.warmup,
        delivery_messages: args
            .delivery_messages
            .unwrap_or_else(|| args.messages.min(100)),
        media_files: args.media_files,
        media_mib: args.media_mib,
        sliding_rooms: args.sliding_rooms,
        sliding_updates: args.sliding_updates,
        spread_senders: args.spread_senders,
        paced_rate: args.paced_rate,
        paced_seconds: args.paced_seconds,
        sync_rooms: args.sync_rooms,
        storage_messages: args.storage_messages,
    };
    let run_id = format!("bench{:08x}", rand::random::<u32>());
    let root = DataRoot::create(&run_id, args.keep_data)?;

    let kinds: Vec<Kind> = match args.only {
        Some(Only::Consort) => vec![Kind::Consort],
        Some(Only::Synapse) => vec![Kind::Synapse],
        None => vec![Kind::Consort, Kind::Synapse],
    };
    let mut consort = None;
    let mut synapse = None;
    for kind in kinds {
        let results = measure(kind, &args, &params, &run_id, root.path(), &mut interrupt).await?;
        match kind {
            Kind::Consort => consort = Some(results),
            Kind::Synapse => synapse = Some(results),
        }
    }

    print!(
        "{}",
        report::table(&params, consort.as_ref(), synapse.as_ref())
    );
    println!(
        "{}",
        report::json_line(&params, consort.as_ref(), synapse.as_ref())
    );
    Ok(![consort, synapse].iter().flatten().any(Results::any_failed))
}

/// Starts `kind` (unless its URL is given), runs the workloads on it and stops it, also when
/// interrupted during the workloads (then the answer is an error).
async fn measure(
    kind: Kind,
    args: &Args,
    params: &Params,
    run_id: &str,
    root: &Path,
    interrupt: &mut Interrupt,
) -> anyhow::Result<Results> {
    let starting = tokio::select! {
        r = target(kind, args, root) => Some(r),
        // Dropping a server that is starting kills its process group.
        _ = interrupt.received() => None,
    };
    let (started, target) = match starting.context(INTERRUPTED)? {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{kind}: {e:#}");
            return Ok(Results::failed(&format!("{kind} not available: {e:#}")));
        }
    };
    eprintln!(
        "{kind}: senders on {}, delivery receiver on {}",
        target.url, target.receiver_url
    );
    let results = tokio::select! {
        r = workloads::run_all(&target, params, run_id) => Some(r),
        _ = interrupt.received() => None,
    };
    if let Some(started) = started {
        started.stop(args.keep_data).await;
    }
    results.context(INTERRUPTED)
}

/// The target of `kind`: the URL given on the command line, or a server started now.
async fn target(kind: Kind, args: &Args, root: &Path) -> anyhow::Result<(Option<Started>, Target)> {
    match kind {
        Kind::Consort => match &args.consort_url {
            Some(url) => {
                let url = parse_url(url)?;
                let receiver_url = match &args.consort_receiver_url {
                    Some(r) => parse_url(r)?,
                    None => url.clone(),
                };
                Ok((
                    None,
                    Target {
                        kind,
                        url,
                        receiver_url,
                        nodes: Vec::new(),
                    },
                ))
            }
            None => {
                let bin = args
                    .consort_bin
                    .clone()
                    .unwrap_or_else(servers::consort::default_binary);
                let (started, target) = servers::consort::start(&bin, root, CONSORT_ORGS).await?;
                Ok((Some(started), target))
            }
        },
        Kind::Synapse => match &args.synapse_url {
            Some(url) => {
                let url = parse_url(url)?;
                Ok((
                    None,
                    Target {
                        kind,
                        url: url.clone(),
                        receiver_url: url,
                        nodes: Vec::new(),
                    },
                ))
            }
            None => {
                let venv = args
                    .synapse_venv
                    .clone()
                    .unwrap_or_else(servers::synapse::default_venv);
                let (started, target) = servers::synapse::start(&venv, root).await?;
                Ok((Some(started), target))
            }
        },
    }
}

/// The run's temporary directory for the servers' data; removed at the end unless kept.
struct DataRoot {
    path: PathBuf,
    keep: bool,
}

impl DataRoot {
    fn create(run_id: &str, keep: bool) -> anyhow::Result<Self> {
        let path = std::env::temp_dir().join(format!("cs-api-{run_id}"));
        std::fs::create_dir_all(&path).with_context(|| format!("creating {}", path.display()))?;
        Ok(Self { path, keep })
    }

    fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for DataRoot {
    fn drop(&mut self) {
        if self.keep {
            eprintln!("data kept in {}", self.path.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}
