//! `PUT /rooms/{roomId}/typing/{userId}`: ephemeral, never on the ledger.

use std::time::Instant;

use axum::extract::State;
use ruma::api::client::typing::create_typing_event::{self, v3::Typing};

use super::{AppStateRef, RouteResult};
use crate::api::ruma_wrapper::Ruma;
use crate::error::Error;
use crate::services::rooms::membership::current;
use crate::services::typing::MAX_TYPING_TIMEOUT;

/// `PUT /_matrix/client/v3/rooms/{roomId}/typing/{userId}`
pub async fn create_typing_event_route(
    State(state): AppStateRef,
    body: Ruma<create_typing_event::v3::Request>,
) -> RouteResult<create_typing_event::v3::Response> {
    let sender = body.sender()?;
    let r = &body.body;
    if r.user_id != sender.user_id {
        return Err(Error::forbidden("Cannot set another user's typing state"));
    }
    if current(&state, &r.room_id, &sender.user_id)
        .await?
        .as_deref()
        != Some("join")
    {
        return Err(Error::forbidden("User not in room"));
    }
    let until = match &r.state {
        Typing::Yes(info) => Some(Instant::now() + info.timeout.min(MAX_TYPING_TIMEOUT)),
        _ => None,
    };
    if state
        .typing
        .set(r.room_id.as_str(), sender.user_id.as_str(), until)
    {
        state.notifier.notify();
    }
    if let Some(until) = until {
        // Typing ends by itself: announce it when the timeout passes.
        let state = state.clone();
        tokio::spawn(async move {
            tokio::time::sleep_until(until.into()).await;
            if state.typing.expire(Instant::now()) {
                state.notifier.notify();
            }
        });
    }
    Ok(create_typing_event::v3::Response::new().into())
}
