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

/// Runs the node: with its ledger when `chain_dir` is configured, else alone.
pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let config = Config::load(args.config.as_deref())?;
    let listen = config.listen;
    let listener = TcpListener::bind(listen).await?;
    let node = crate::node::start(config).await?;
    tracing::info!(
        server_name = %node.state.server_name,
        address = %listener.local_addr()?,
        consortium = node.chain.is_some(),
        "homeserver listening"
    );
    let server = crate::serve(listener, node.router.clone(), async {
        let _ = tokio::signal::ctrl_c().await;
    });
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
