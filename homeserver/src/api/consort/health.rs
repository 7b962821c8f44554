//! `GET /_consort/health` (liveness) and `GET /_consort/ready` (readiness), for a supervisor
//! such as Kubernetes: alive while the process answers; ready once the node has caught up
//! with the consortium, so that clients are not sent to a node still replaying history.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use consort_chain::LoopState;
use serde::Serialize;
use serde_json::json;

use crate::state::AppState;

/// The liveness route.
pub const HEALTH_PATH: &str = "/_consort/health";
/// The readiness route.
pub const READY_PATH: &str = "/_consort/ready";

/// `GET /_consort/health`: the process serves requests.
pub async fn health_route() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

/// The readiness answer: whether the node is ready, and the heights behind the verdict.
#[derive(Debug, Serialize)]
pub struct Readiness {
    /// Whether the node takes clients.
    pub ready: bool,
    /// Why not, when not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The last block this node committed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub height: Option<u64>,
    /// The last block applied to its projection.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub applied_height: Option<u64>,
    /// The height the consortium is known to have committed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consortium_height: Option<u64>,
}

/// `GET /_consort/ready`: 200 when ready, 503 with the reason when not.
pub async fn ready_route(State(state): State<Arc<AppState>>) -> Response {
    let readiness = readiness(&state);
    let status = if readiness.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(readiness)).into_response()
}

/// A node without a ledger is ready as soon as it serves. A consortium node is ready when
/// its consensus loop runs, its projection has applied every block it committed, and it has
/// committed at least what the consortium is known to have (see `consort_chain::peers`).
pub fn readiness(state: &AppState) -> Readiness {
    let Some(chain) = &state.chain else {
        return Readiness {
            ready: true,
            reason: None,
            height: None,
            applied_height: None,
            consortium_height: None,
        };
    };
    let status = chain.node().status();
    let applied = chain.applied_height();
    let reason = match (&status.consensus, status.consortium_height) {
        (LoopState::Halted(r), _) => Some(format!("the ledger node halted: {r}")),
        (LoopState::Failed(r), _) => Some(format!("the consensus loop stopped: {r}")),
        (LoopState::Running, None) => {
            Some("not enough validators heard from yet to know the consortium's height".into())
        }
        (LoopState::Running, Some(h)) if status.height < h => Some(format!(
            "catching up: committed {} of the consortium's {h}",
            status.height
        )),
        (LoopState::Running, Some(_)) if applied < status.height => Some(format!(
            "applying blocks: {applied} of {} applied",
            status.height
        )),
        (LoopState::Running, Some(_)) => None,
    };
    Readiness {
        ready: reason.is_none(),
        reason,
        height: Some(status.height),
        applied_height: Some(applied),
        consortium_height: status.consortium_height,
    }
}
