//! `GET /_matrix/client/v3/sync`.

use std::time::Duration;

use axum::extract::State;
use ruma::OwnedUserId;
use ruma::api::client::filter::FilterDefinition;
use ruma::api::client::sync::sync_events::{self, v3::Filter};
use ruma::presence::PresenceState;

use super::AppStateRef;
use crate::api::ruma_wrapper::Ruma;
use crate::error::{Error, Result};
use crate::services::now_ms;
use crate::services::rooms::client_event::raw;
use crate::services::sync::{SyncRequest, sync};
use crate::services::tokens::SyncToken;
use crate::state::AppState;
use crate::storage::filters;

/// The filter of a request: inline JSON or the id of one the user uploaded.
async fn filter(state: &AppState, user: &str, filter: Option<&Filter>) -> Result<FilterDefinition> {
    match filter {
        None => Ok(FilterDefinition::default()),
        Some(Filter::FilterDefinition(f)) => Ok(f.clone()),
        Some(Filter::FilterId(id)) => {
            let json = filters::get(&state.db.pool, user, id)
                .await?
                .ok_or_else(|| Error::invalid_param(format!("No such filter: {id}")))?;
            serde_json::from_str(&json)
                .map_err(|e| Error::Internal(format!("stored filter is invalid: {e}")))
        }
        Some(_) => Err(Error::invalid_param("Unknown filter")),
    }
}

/// `GET /_matrix/client/v3/sync`
pub async fn sync_events_route(
    State(state): AppStateRef,
    body: Ruma<sync_events::v3::Request>,
) -> Result<axum::response::Response> {
    let sender = body.sender()?;
    let r = &body.body;
    if matches!(
        r.set_presence,
        PresenceState::Online | PresenceState::Unavailable
    ) {
        state.presence.set(
            sender.user_id.as_str(),
            r.set_presence.clone(),
            None,
            now_ms(),
        );
    }
    let req = SyncRequest {
        filter: filter(&state, sender.user_id.as_str(), r.filter.as_ref()).await?,
        since: r.since.as_deref().map(SyncToken::parse).transpose()?,
        full_state: r.full_state,
        timeout: r.timeout.unwrap_or(Duration::ZERO),
        upto: None,
    };
    let long_poll = (!req.timeout.is_zero()).then(|| state.metrics.long_poll());
    let result = sync(&state, sender, &req).await?;
    drop(long_poll);
    let mut response = sync_events::v3::Response::new(result.next_batch.to_string());
    let knocked = result.rooms.knock.clone();
    response.rooms = result.rooms;
    response.account_data = result.account_data;
    response.device_one_time_keys_count = super::keys::one_time_key_counts(&state, sender).await?;
    response.device_unused_fallback_key_types =
        Some(super::keys::unused_fallback_key_types(&state, sender).await?);
    for event in &result.to_device {
        response.to_device.events.push(raw(event)?);
    }
    for user in &result.device_lists_changed {
        let user = OwnedUserId::try_from(user.as_str())
            .map_err(|e| Error::Internal(format!("stored user id: {e}")))?;
        response.device_lists.changed.push(user);
    }
    for user in &result.device_lists_left {
        let user = OwnedUserId::try_from(user.as_str())
            .map_err(|e| Error::Internal(format!("stored user id: {e}")))?;
        response.device_lists.left.push(user);
    }
    with_knocks(response, knocked)
}

/// The response as JSON, with `rooms.knock` always there when there are knocks: ruma leaves
/// out `rooms` altogether when its only updates are knocks.
fn with_knocks(
    response: sync_events::v3::Response,
    knocked: std::collections::BTreeMap<ruma::OwnedRoomId, sync_events::v3::KnockedRoom>,
) -> Result<axum::response::Response> {
    use axum::response::IntoResponse;
    use ruma::api::OutgoingResponse;
    let http = response
        .try_into_http_response::<Vec<u8>>()
        .map_err(|e| Error::Internal(format!("cannot serialize the sync response: {e}")))?;
    let mut json: serde_json::Value = serde_json::from_slice(http.body())
        .map_err(|e| Error::Internal(format!("sync response is not JSON: {e}")))?;
    if !knocked.is_empty() {
        json["rooms"]["knock"] = serde_json::to_value(&knocked)
            .map_err(|e| Error::Internal(format!("cannot serialize knocks: {e}")))?;
    }
    Ok(axum::Json(json).into_response())
}
