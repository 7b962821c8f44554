//! `consort serve --config FILE`: runs one organisation's homeserver until Ctrl-C.

use std::path::PathBuf;

use clap::Args;
use tokio::net::TcpListener;

use crate::config::Config;

/// Arguments of `consort serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// TOML configuration file (CONSORT_* environment variables override it).
    #[arg(long)]
    pub config: Option<PathBuf>,
}

/// Runs the node (its configuration read from [`ServeArgs`]): with its ledger when
/// `chain_dir` is configured, else alone; until Ctrl-C or SIGTERM (a supervisor's stop).
pub async fn run(config: Config) -> anyhow::Result<()> {
    let listen = config.listen;
    let listener = TcpListener::bind(listen).await?;
    let node = crate::node::start(config).await?;
    tracing::info!(
        server_name = %node.state.server_name,
        address = %listener.local_addr()?,
        consortium = node.chain.is_some(),
        "homeserver listening"
    );
    let server = crate::serve(listener, node.router.clone(), stop_signal());
    // A consensus loop that ended for good ends the process, non-zero, so that a supervisor
    // (systemd, Kubernetes) restarts it; a halted one (diverged state) keeps serving reads.
    let failed = async {
        match &node.chain {
            Some(chain) => consensus_failure(chain.watch_consensus()).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        served = server => served?,
        reason = failed => {
            node.stop().await;
            anyhow::bail!("the consensus loop stopped: {reason}");
        }
    }
    node.stop().await;
    Ok(())
}

/// Resolves on Ctrl-C (SIGINT) or SIGTERM, which Kubernetes and systemd send to stop.
async fn stop_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    let terminated = async {
        match term.as_mut() {
            Some(term) => {
                term.recv().await;
            }
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminated => {}
    }
    tracing::info!("stopping");
}

/// Resolves with the reason once the consensus loop has failed.
async fn consensus_failure(
    mut state: tokio::sync::watch::Receiver<consort_chain::LoopState>,
) -> String {
    loop {
        if let consort_chain::LoopState::Failed(reason) = &*state.borrow_and_update() {
            return reason.clone();
        }
        if state.changed().await.is_err() {
            return "the ledger node went away".into();
        }
    }
}
