//! Every request gets an id (`X-Request-Id`, taken from the client or proxy when it sent a
//! sane one), a tracing span carrying it (so every log line of the request names it), and an
//! entry in the HTTP metrics under the route it matched.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use http::HeaderValue;
use tracing::Instrument;

use crate::services::metrics::RequestLabels;
use crate::state::AppState;

/// The request id header, as proxies and Synapse's logs name it.
pub const REQUEST_ID: &str = "x-request-id";

/// The route template a request matched, carried from the router to [`observe`].
#[derive(Clone)]
struct Endpoint(String);

/// Inside the router (a route layer): remembers the matched route on the response.
pub async fn remember_endpoint(request: Request, next: Next) -> Response {
    let endpoint = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned());
    let mut response = next.run(request).await;
    if let Some(endpoint) = endpoint {
        response.extensions_mut().insert(Endpoint(endpoint));
    }
    response
}

/// Outside the router: the request's id, span, log line and metrics.
pub async fn observe(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let id = request
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 64 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_owned)
        .unwrap_or_else(new_request_id);
    let method = request.method().clone();
    let span =
        tracing::info_span!("request", id = %id, method = %method, path = %request.uri().path());
    let started = Instant::now();
    let mut response = next.run(request).instrument(span.clone()).await;
    let elapsed = started.elapsed();
    let endpoint = response
        .extensions()
        .get::<Endpoint>()
        .map(|e| e.0.clone())
        .unwrap_or_else(|| "unmatched".to_owned());
    let status = response.status().as_u16();
    span.in_scope(|| {
        tracing::debug!(status, ms = elapsed.as_millis() as u64, %endpoint, "answered");
    });
    state.metrics.request(
        RequestLabels {
            endpoint,
            method: method.to_string(),
            status,
        },
        elapsed,
    );
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    response
}

/// 16 random hex digits.
fn new_request_id() -> String {
    format!("{:016x}", rand::random::<u64>())
}
