//! Room state endpoints: the whole state, one entry, and sending a state event.

use axum::extract::State;
use consort_bridge::rooms::read;
use ruma::api::client::state::{get_state_event_for_key, get_state_events, send_state_event};

use super::{AppStateRef, RouteResult};
use crate::api::ruma_wrapper::Ruma;
use crate::error::Error;
use crate::services::rooms::access::access;
use crate::services::rooms::client_event::{Viewer, to_client, to_client_raw};
use crate::services::rooms::send::{Draft, send, store_error};

/// `GET /_matrix/client/v3/rooms/{roomId}/state`: the current state (a former member's state
/// at their departure).
pub async fn get_state_events_route(
    State(state): AppStateRef,
    body: Ruma<get_state_events::v3::Request>,
) -> RouteResult<get_state_events::v3::Response> {
    let sender = body.sender()?;
    let access = access(&state, &sender.user_id, &body.body.room_id).await?;
    let pool = state.chain()?.pool();
    let events = read::state_at(pool, body.body.room_id.as_str(), access.end)
        .await
        .map_err(store_error)?;
    let viewer = Viewer::of(sender);
    let room_state = to_client_raw(pool, &events, viewer).await?;
    Ok(get_state_events::v3::Response::new(room_state).into())
}

/// `GET /_matrix/client/v3/rooms/{roomId}/state/{eventType}/{stateKey}`: the content (or,
/// with `format=event`, the whole event).
pub async fn get_state_event_for_key_route(
    State(state): AppStateRef,
    body: Ruma<get_state_event_for_key::v3::Request>,
) -> RouteResult<get_state_event_for_key::v3::Response> {
    let sender = body.sender()?;
    let r = &body.body;
    let access = access(&state, &sender.user_id, &r.room_id).await?;
    let pool = state.chain()?.pool();
    let event = read::state_entry_at(
        pool,
        r.room_id.as_str(),
        &r.event_type.to_string(),
        &r.state_key,
        access.end,
    )
    .await
    .map_err(store_error)?
    .ok_or_else(|| Error::not_found("Event not found."))?;
    let viewer = Viewer::of(sender);
    let mut value = to_client(pool, &event, viewer).await?;
    if r.format == get_state_event_for_key::v3::StateEventFormat::Content {
        value = value["content"].take();
    }
    let raw =
        serde_json::value::to_raw_value(&value).map_err(|e| Error::Internal(e.to_string()))?;
    Ok(get_state_event_for_key::v3::Response::new(raw).into())
}

/// `PUT /_matrix/client/v3/rooms/{roomId}/state/{eventType}/{stateKey}`
pub async fn send_state_event_route(
    State(state): AppStateRef,
    body: Ruma<send_state_event::v3::Request>,
) -> RouteResult<send_state_event::v3::Response> {
    let sender = body.sender()?;
    sender.active()?;
    let r = &body.body;
    let content: serde_json::Value =
        serde_json::from_str(r.body.json().get()).map_err(|e| Error::bad_json(e.to_string()))?;
    if !content.is_object() {
        return Err(Error::bad_json("Event content must be a JSON object"));
    }
    let draft = Draft::state(&r.event_type.to_string(), &r.state_key, content);
    let event_id = send(&state, &sender.user_id, &r.room_id, draft).await?;
    Ok(send_state_event::v3::Response::new(event_id).into())
}
