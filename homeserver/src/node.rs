//! One organisation's whole node: the ledger (chain and bridge) and the homeserver, over one
//! database. Without a chain directory the homeserver runs alone.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, bail};
use axum::Router;
use consort_bridge::Bridge;
use consort_chain::ChainNode;
use consort_chain::local::load_org_dir;

use crate::services::chain_ledger::ChainLedger;
use crate::{AppState, Config, Db, LocalOnlyLedger, RegistrationLedger, build_app};

/// A started node.
pub struct Node {
    /// The client-server and admin API.
    pub router: Router,
    /// The homeserver's state.
    pub state: Arc<AppState>,
    /// The ledger node, when part of a consortium.
    pub chain: Option<Arc<ChainNode>>,
    /// Where `GET /metrics` is served, when `metrics_listen` is set.
    pub metrics_addr: Option<std::net::SocketAddr>,
    metrics_task: Option<tokio::task::JoinHandle<()>>,
}

impl Node {
    /// Stops the ledger node (the HTTP server stops with its own shutdown signal).
    pub async fn stop(&self) {
        if let Some(task) = &self.metrics_task {
            task.abort();
        }
        if let Some(chain) = &self.chain {
            chain.stop().await;
        }
    }
}

/// Opens the database, starts the ledger node (when configured) and builds the API.
pub async fn start(config: Config) -> anyhow::Result<Node> {
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating data directory {}", config.data_dir))?;
    let db = Db::connect(&config.database_url()).await?;
    let (ledger, chain, rooms): (Arc<dyn RegistrationLedger>, _, _) = match &config.chain_dir {
        None => (Arc::new(LocalOnlyLedger::new(db.pool.clone())), None, None),
        Some(dir) => {
            let mut chain_config = load_org_dir(Path::new(dir)).map_err(anyhow::Error::msg)?;
            let org = chain_config
                .genesis
                .org(&chain_config.org_id)
                .context("the organisation is not in the genesis")?;
            if org.server_name != config.server_name {
                bail!(
                    "server_name {} does not match the genesis entry of {} ({})",
                    config.server_name,
                    org.id,
                    org.server_name
                );
            }
            consort_bridge::limits::check_genesis(&chain_config.genesis)
                .with_context(|| format!("the genesis in {dir}"))?;
            let bridge = Bridge::new(db.pool.clone(), chain_config.genesis.clone());
            bridge
                .load_applied()
                .await
                .context("reading the projection's applied height")?;
            chain_config.database_url = config.database_url();
            chain_config.pool = Some(db.pool.clone());
            chain_config.executor = Some(Arc::new(bridge.clone()));
            let org_id = chain_config.org_id.clone();
            let node_key = chain_config.node_key.clone();
            let node = Arc::new(
                ChainNode::start(chain_config)
                    .await
                    .context("starting the ledger node")?,
            );
            let ledger = Arc::new(ChainLedger::new(node.clone(), bridge, org_id, node_key));
            (ledger.clone(), Some(node), Some(ledger))
        }
    };
    let metrics_listen = config.metrics_listen;
    let (router, state) = build_app(config, db, ledger, rooms)?;
    let (metrics_addr, metrics_task) = match metrics_listen {
        None => (None, None),
        Some(address) => {
            let listener = tokio::net::TcpListener::bind(address)
                .await
                .with_context(|| format!("binding metrics_listen {address}"))?;
            let bound = listener.local_addr()?;
            let app = crate::api::metrics::router(state.clone());
            let task = tokio::spawn(async move {
                if let Err(e) = axum::serve(listener, app).await {
                    tracing::error!(error = %e, "the metrics listener stopped");
                }
            });
            tracing::info!(address = %bound, "metrics listening");
            (Some(bound), Some(task))
        }
    };
    Ok(Node {
        router,
        state,
        chain,
        metrics_addr,
        metrics_task,
    })
}
