//! Room endpoints: `POST /createRoom`, `GET /rooms/{roomId}/event/{eventId}` and the room's
//! aliases.

use axum::extract::State;
use consort_bridge::rooms::read;
use ruma::OwnedRoomAliasId;
use ruma::api::client::room::{aliases, create_room, get_room_event, upgrade_room};

use super::{AppStateRef, RouteResult};
use crate::api::ruma_wrapper::Ruma;
use crate::error::{Error, Result};
use crate::services::rooms::access::access;
use crate::services::rooms::client_event::{Viewer, raw, to_client};
use crate::services::rooms::create::create_room;
use crate::services::rooms::send::store_error;
use crate::services::rooms::upgrade::upgrade;

/// `POST /_matrix/client/v3/createRoom`
pub async fn create_room_route(
    State(state): AppStateRef,
    body: Ruma<create_room::v3::Request>,
) -> RouteResult<create_room::v3::Response> {
    let sender = body.sender()?;
    sender.active()?;
    let room_id = create_room(&state, &sender.user_id, &body.body).await?;
    Ok(create_room::v3::Response::new(room_id).into())
}

/// `POST /_matrix/client/v3/rooms/{roomId}/upgrade`
pub async fn upgrade_room_route(
    State(state): AppStateRef,
    body: Ruma<upgrade_room::v3::Request>,
) -> RouteResult<upgrade_room::v3::Response> {
    let sender = body.sender()?;
    sender.active()?;
    let new = upgrade(&state, &sender.user_id, &body.body).await?;
    Ok(upgrade_room::v3::Response::new(new).into())
}

/// `GET /_matrix/client/v3/rooms/{roomId}/event/{eventId}`: an event the caller may see.
pub async fn get_room_event_route(
    State(state): AppStateRef,
    body: Ruma<get_room_event::v3::Request>,
) -> RouteResult<get_room_event::v3::Response> {
    let sender = body.sender()?;
    let r = &body.body;
    let access = access(&state, &sender.user_id, &r.room_id).await?;
    let pool = state.chain()?.pool();
    let not_found = || Error::not_found("Event not found.");
    let event = read::event(pool, r.event_id.as_str())
        .await
        .map_err(store_error)?
        .filter(|e| e.room_id == r.room_id.as_str() && e.pos < access.end)
        .filter(|e| access.window.can_see(e))
        .ok_or_else(not_found)?;
    let viewer = Viewer::of(sender);
    let value = to_client(pool, &event, viewer).await?;
    Ok(get_room_event::v3::Response::new(raw(&value)?).into())
}

/// `GET /_matrix/client/v3/rooms/{roomId}/aliases`
pub async fn room_aliases_route(
    State(state): AppStateRef,
    body: Ruma<aliases::v3::Request>,
) -> RouteResult<aliases::v3::Response> {
    let sender = body.sender()?;
    access(&state, &sender.user_id, &body.body.room_id).await?;
    let aliases = read::aliases_of(state.chain()?.pool(), body.body.room_id.as_str())
        .await
        .map_err(store_error)?
        .into_iter()
        .map(|a| OwnedRoomAliasId::try_from(a).map_err(|e| Error::Internal(e.to_string())))
        .collect::<Result<_>>()?;
    Ok(aliases::v3::Response::new(aliases).into())
}
