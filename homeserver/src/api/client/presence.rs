//! Presence (`/presence/{userId}/status`): org-local and ephemeral; users of other
//! organisations are reported offline.

use std::time::Duration;

use axum::extract::State;
use ruma::api::client::presence::{get_presence, set_presence};
use ruma::presence::PresenceState;

use super::{AppStateRef, RouteResult};
use crate::api::ruma_wrapper::Ruma;
use crate::error::Error;
use crate::services::now_ms;

/// Longest status message accepted.
const MAX_STATUS_LEN: usize = 1024;

/// `PUT /_matrix/client/v3/presence/{userId}/status`
pub async fn set_presence_route(
    State(state): AppStateRef,
    body: Ruma<set_presence::v3::Request>,
) -> RouteResult<set_presence::v3::Response> {
    let sender = body.sender()?;
    let r = &body.body;
    if r.user_id != sender.user_id {
        return Err(Error::forbidden(
            "Cannot set presence state for other users",
        ));
    }
    if r.status_msg
        .as_ref()
        .is_some_and(|m| m.len() > MAX_STATUS_LEN)
    {
        return Err(Error::invalid_param("Status message is too long"));
    }
    if !matches!(
        r.presence,
        PresenceState::Online | PresenceState::Offline | PresenceState::Unavailable
    ) {
        return Err(Error::invalid_param("Invalid presence state"));
    }
    state.presence.set(
        sender.user_id.as_str(),
        r.presence.clone(),
        r.status_msg.clone(),
        now_ms(),
    );
    Ok(set_presence::v3::Response::new().into())
}

/// `GET /_matrix/client/v3/presence/{userId}/status`
pub async fn get_presence_route(
    State(state): AppStateRef,
    body: Ruma<get_presence::v3::Request>,
) -> RouteResult<get_presence::v3::Response> {
    body.sender()?;
    let user = &body.body.user_id;
    let known = consort_bridge::users::get(state.chain()?.pool(), user.as_str())
        .await?
        .is_some_and(|u| !u.deactivated);
    if !known {
        return Err(Error::not_found("Unknown user"));
    }
    let Some(p) = state.presence.get(user.as_str()) else {
        return Ok(get_presence::v3::Response::new(PresenceState::Offline).into());
    };
    let mut response = get_presence::v3::Response::new(p.state.clone());
    response.status_msg = p.status_msg;
    let ago = (now_ms() - p.last_active_ms).max(0) as u64;
    response.last_active_ago = Some(Duration::from_millis(ago));
    response.currently_active = Some(p.state == PresenceState::Online);
    Ok(response.into())
}
