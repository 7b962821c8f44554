//! `GET /_matrix/client/v1/rooms/{roomId}/timestamp_to_event`: "jump to date". The event
//! nearest to a time in one direction that the caller may see, by `origin_server_ts` (as
//! Synapse answers, from this node's copy of the room: every node holds all of it).

use axum::extract::State;
use consort_bridge::rooms::read;
use ruma::api::Direction;
use ruma::api::client::room::get_event_by_timestamp;
use ruma::{MilliSecondsSinceUnixEpoch, OwnedEventId, UInt};

use super::{AppStateRef, RouteResult};
use crate::api::ruma_wrapper::Ruma;
use crate::error::Error;
use crate::services::rooms::access::access;
use crate::services::rooms::send::store_error;

/// Candidates read at a time while looking for one the caller may see.
const PAGE: i64 = 100;

/// `GET /_matrix/client/v1/rooms/{roomId}/timestamp_to_event`
pub async fn timestamp_to_event_route(
    State(state): AppStateRef,
    body: Ruma<get_event_by_timestamp::v1::Request>,
) -> RouteResult<get_event_by_timestamp::v1::Response> {
    let sender = body.sender()?;
    let r = &body.body;
    let access = access(&state, &sender.user_id, &r.room_id).await?;
    let pool = state.chain()?.pool();
    let ts = i64::try_from(u64::from(r.ts.get())).unwrap_or(i64::MAX);
    let forwards = r.dir == Direction::Forward;
    let mut after = None;
    loop {
        let page = read::near_timestamp(
            pool,
            r.room_id.as_str(),
            (ts, forwards),
            access.end,
            after,
            PAGE,
        )
        .await
        .map_err(store_error)?;
        if let Some((found_ts, event)) = page.iter().find(|(_, e)| access.window.can_see(e)) {
            let event_id = OwnedEventId::try_from(event.event_id.as_str())
                .map_err(|e| Error::Internal(format!("stored event id: {e}")))?;
            let at = MilliSecondsSinceUnixEpoch(
                UInt::try_from(u64::try_from(*found_ts).unwrap_or(0)).unwrap_or(UInt::MAX),
            );
            return Ok(get_event_by_timestamp::v1::Response::new(event_id, at).into());
        }
        match page.last() {
            Some((last_ts, last)) if page.len() as i64 == PAGE => {
                after = Some((*last_ts, last.pos));
            }
            _ => {
                // Synapse's message, with its direction letter.
                let direction = if forwards { "f" } else { "b" };
                return Err(Error::not_found(format!(
                    "Unable to find event from {} in direction {direction}",
                    r.ts.get()
                )));
            }
        }
    }
}
