//! `GET /_consort/v1/ledger/status`: this node's view of the ledger (committed and applied
//! heights, app hash, mempool, and whether its consensus loop runs or why it stopped), so
//! that an operator sees a halted node at once. Public: it holds no user data.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use consort_chain::Status;
use serde::Serialize;

use crate::error::Result;
use crate::state::AppState;

/// The route's path.
pub const PATH: &str = "/_consort/v1/ledger/status";

/// The answer.
#[derive(Debug, Serialize)]
pub struct LedgerStatus {
    /// The chain node's status.
    #[serde(flatten)]
    pub chain: Status,
    /// The last height applied to this node's projection.
    pub applied_height: u64,
}

/// `GET /_consort/v1/ledger/status`
pub async fn ledger_status_route(State(state): State<Arc<AppState>>) -> Result<Json<LedgerStatus>> {
    let chain = state.chain()?;
    Ok(Json(LedgerStatus {
        chain: chain.node().status(),
        applied_height: chain.applied_height(),
    }))
}
