//! `GET /_synapse/admin/v1/server_version`: what admin tools show as the server's version.

use axum::Json;
use serde::Serialize;

/// The answer.
#[derive(Debug, Serialize)]
pub struct ServerVersion {
    /// `consort <crate version>`.
    pub server_version: String,
}

/// Unauthenticated, like Synapse's.
pub async fn server_version_route() -> Json<ServerVersion> {
    Json(ServerVersion {
        server_version: format!("consort {}", env!("CARGO_PKG_VERSION")),
    })
}
