//! The `consort` command line: one subcommand group per concern.

/// `println!` for the commands' output: a closed pipe (`consort chain status | head -1`)
/// ends the process quietly instead of panicking, as Rust ignores SIGPIPE.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::cli::print_line(format_args!($($arg)*))
    };
}

mod admin;
mod chain;
mod devnet;
mod genesis_policy;
pub mod logging;
mod serve;
mod verify;

use clap::{Parser, Subcommand};

/// Consort: a Matrix homeserver for consortiums.
#[derive(Debug, Parser)]
#[command(
    name = "consort",
    version,
    about = "Consort: a Matrix homeserver for consortiums"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Manage the consortium ledger: create a genesis, run a validator, inspect, benchmark.
    #[command(subcommand)]
    Chain(chain::ChainCommand),
    /// Run one organisation's node: its homeserver, and its ledger node when `chain_dir` is set.
    Serve(serve::ServeArgs),
    /// Start a complete local consortium of N organisations on 127.0.0.1.
    Devnet(devnet::DevnetArgs),
    /// Replay a stopped node's ledger from the genesis and check its blocks, certificates,
    /// app hashes and projection; exits 1 naming the first difference.
    Verify(verify::VerifyArgs),
    /// Check an event proof (from `/_consort/v1/rooms/{roomId}/event/{eventId}/proof`)
    /// against the genesis; exits 0 when it holds, 1 when not.
    VerifyProof(verify::VerifyProofArgs),
    /// Administer the node's accounts (through the running node when it belongs to a consortium).
    #[command(subcommand)]
    Admin(admin::AdminCommand),
}

/// Parses the command line, sets up logging and runs the chosen command.
pub fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // A node's configuration names its log format, so it is read before logging starts.
    let serve_config = match &cli.command {
        Command::Serve(args) => Some(crate::config::Config::load(args.config.as_deref())?),
        _ => None,
    };
    let dial_failures = logging::init(
        serve_config
            .as_ref()
            .map(|c| c.log_format)
            .unwrap_or_default(),
    );
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async move {
        dial_failures.report_periodically();
        match cli.command {
            Command::Chain(cmd) => chain::run(cmd).await,
            Command::Serve(_) => serve::run(serve_config.expect("read above")).await,
            Command::Admin(cmd) => admin::run(cmd).await,
            Command::Devnet(args) => devnet::run(args).await,
            Command::Verify(args) => verify::run(args).await,
            Command::VerifyProof(args) => verify::run_proof(args).await,
        }
    })
}

/// Writes one line of a command's output; a reader that went away ends the process with
/// success, as Unix tools do.
pub(crate) fn print_line(args: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = writeln!(stdout, "{args}").and_then(|()| stdout.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        panic!("writing to stdout: {e}");
    }
}
