//! Consort's homeserver: the Matrix client-server API of one organisation's node, its admin API
//! and the `consort` command line.

pub mod admin_client;
pub mod api;
pub mod cli;
pub mod config;
pub mod error;
pub mod memory;
pub mod node;
pub mod services;
pub mod state;
pub mod storage;
pub mod testing;

use std::{net::SocketAddr, sync::Arc};

use axum::Router;
use tokio::net::TcpListener;

pub use crate::{
    config::Config,
    services::chain_ledger::ChainLedger,
    services::registration_ledger::{LedgerError, LocalOnlyLedger, RegistrationLedger},
    state::AppState,
    storage::Db,
};

/// Builds the router and state of a node over an opened database and a ledger; `chain` is
/// the consortium ledger that rooms need (`None` on a node without one).
pub fn build_app(
    config: Config,
    db: Db,
    ledger: Arc<dyn RegistrationLedger>,
    chain: Option<Arc<ChainLedger>>,
) -> anyhow::Result<(Router, Arc<AppState>)> {
    let state = Arc::new(AppState::new(config, db, ledger, chain)?);
    services::media::janitor::spawn(&state);
    services::pusher::spawn(&state);
    Ok((api::router::router(state.clone()), state))
}

/// Opens the configured database and builds a single-node app on a [`LocalOnlyLedger`].
pub async fn build_local_app(config: Config) -> anyhow::Result<(Router, Arc<AppState>)> {
    let db = Db::connect(&config.database_url()).await?;
    let ledger = Arc::new(LocalOnlyLedger::new(db.pool.clone()));
    build_app(config, db, ledger, None)
}

/// Serves `app` on `listener` until `shutdown` resolves, with client addresses available to the
/// rate limiters.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}
