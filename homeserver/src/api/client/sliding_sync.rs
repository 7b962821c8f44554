//! `POST /_matrix/client/unstable/org.matrix.simplified_msc3575/sync`: simplified sliding
//! sync (MSC4186), for Element X.

use axum::extract::State;
use ruma::api::client::sync::sync_events::v5;

use super::{AppStateRef, RouteResult};
use crate::api::ruma_wrapper::Ruma;
use crate::services::sliding_sync::{sliding_sync, spaces_filters};

/// `POST /_matrix/client/unstable/org.matrix.simplified_msc3575/sync`
pub async fn sliding_sync_route(
    State(state): AppStateRef,
    body: Ruma<v5::Request>,
) -> RouteResult<v5::Response> {
    let sender = body.sender()?;
    let long_poll = body
        .body
        .timeout
        .is_some_and(|t| !t.is_zero())
        .then(|| state.metrics.long_poll());
    let spaces = spaces_filters(&body.raw_body)?;
    let response = sliding_sync(&state, sender, &body.body, &spaces).await?;
    drop(long_poll);
    Ok(response.into())
}
