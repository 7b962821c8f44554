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
    crate::serve(listener, node.router.clone(), async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    node.stop().await;
    Ok(())
}
