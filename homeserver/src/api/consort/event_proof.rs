//! `GET /_consort/v1/rooms/{roomId}/event/{eventId}/proof`: the proof that the consortium
//! committed an event (see [`crate::services::event_proof`]). Open to anyone who may see the
//! event; to anyone else the event does not exist.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use consort_bridge::position::{height_of, index_of};
use consort_bridge::rooms::read;
use ruma::{EventId, RoomId};

use super::key_history::AnyUser;
use crate::error::{Error, Result};
use crate::services::event_proof::{EventProof, build};
use crate::services::rooms::access::access;
use crate::services::rooms::send::store_error;
use crate::state::AppState;

/// The route's path.
pub const PATH: &str = "/_consort/v1/rooms/{room}/event/{event}/proof";

/// `GET /_consort/v1/rooms/{roomId}/event/{eventId}/proof`
pub async fn event_proof_route(
    State(state): State<Arc<AppState>>,
    AnyUser(caller): AnyUser,
    Path((room, event)): Path<(String, String)>,
) -> Result<Json<EventProof>> {
    let not_found = || Error::not_found("Event not found.");
    let room_id = RoomId::parse(&room)
        .map_err(|e| Error::invalid_param(format!("Invalid room id {room}: {e}")))?;
    let event_id = EventId::parse(&event)
        .map_err(|e| Error::invalid_param(format!("Invalid event id {event}: {e}")))?;
    // Not in the room, or not allowed to see this event: the same answer as no event.
    let access = access(&state, &caller.user_id, &room_id)
        .await
        .map_err(|_| not_found())?;
    let chain = state.chain()?;
    let pool = chain.pool();
    let stored = read::event(pool, event_id.as_str())
        .await
        .map_err(store_error)?
        .filter(|e| e.room_id == room_id.as_str() && e.pos < access.end)
        .filter(|e| access.window.can_see(e))
        .ok_or_else(not_found)?;
    let proof = chain
        .node()
        .proof_at(height_of(stored.pos), index_of(stored.pos))
        .await
        .map_err(|e| Error::Internal(format!("building the inclusion proof: {e}")))?;
    Ok(Json(build(
        &proof,
        (room_id.as_str(), event_id.as_str()),
        &stored.json,
    )))
}
