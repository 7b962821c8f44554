//! Operations of features a Consort node does not have, answered as Synapse answers them
//! when they are not configured: no support contacts or policy server published
//! (`/.well-known/matrix/support`, `/.well-known/matrix/policy_server`: 404), and no
//! application services (`/appservice/{id}/ping` and the appservice room directory: only an
//! application service's token may call them, and there are none).

use std::sync::Arc;

use axum::extract::State;

use crate::api::consort::key_history::AnyUser;
use crate::error::{Error, Result};
use crate::state::AppState;

/// `GET /.well-known/matrix/support` and `/.well-known/matrix/policy_server`: nothing
/// published.
pub async fn not_published_route() -> Error {
    Error::not_found("Not found")
}

/// `POST /_matrix/client/v1/appservice/{appserviceId}/ping`: users are refused.
pub async fn appservice_ping_route(
    State(_state): State<Arc<AppState>>,
    AnyUser(_sender): AnyUser,
) -> Result<()> {
    Err(Error::forbidden(
        "Only application services can use the /appservice/ping endpoint",
    ))
}

/// `PUT /_matrix/client/v3/directory/list/appservice/{networkId}/{roomId}`: users are refused.
pub async fn appservice_directory_route(
    State(_state): State<Arc<AppState>>,
    AnyUser(_sender): AnyUser,
) -> Result<()> {
    Err(Error::forbidden(
        "Only appservices can edit the appservice published room list",
    ))
}
