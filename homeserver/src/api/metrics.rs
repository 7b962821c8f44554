//! The metrics listener: `GET /metrics` in the Prometheus (OpenMetrics) text format, on its
//! own address (`metrics_listen`) so that it is not exposed with the client API.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::response::IntoResponse;
use axum::routing::get;
use http::header;

use crate::state::AppState;

/// The content type of the OpenMetrics text format that `prometheus-client` writes.
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The listener's routes.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/metrics", get(metrics_route))
        .with_state(state)
}

/// `GET /metrics`
async fn metrics_route(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    let text = state.metrics.encode(state.chain.as_deref());
    ([(header::CONTENT_TYPE, OPENMETRICS)], text)
}
