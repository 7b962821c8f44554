//! Messages: sending (idempotent per device and transaction id), redacting, paginating with
//! `/messages`, the context around an event, and the room's `initialSync`.

use axum::extract::State;
use consort_bridge::rooms::read;
use ruma::api::Direction;
use ruma::api::client::context::get_context;
use ruma::api::client::filter::RoomEventFilter;
use ruma::api::client::message::{get_message_events, send_message_event};
use ruma::api::client::peeking::get_current_state;
use ruma::api::client::redact::redact_event;
use ruma::api::client::room::Visibility;
use ruma::events::room::member::MembershipState;
use serde_json::{Value, json};

use super::{AppStateRef, RouteResult};
use crate::api::ruma_wrapper::Ruma;
use crate::error::Error;
use crate::services::rooms::access::access;
use crate::services::rooms::client_event::{Viewer, raw, to_client, to_client_raw};
use crate::services::rooms::send::{Draft, send_with_txn, store_error};
use crate::services::rooms::timeline::{Scan, page};
use crate::services::tokens::{parse_boundary, timeline_token};
use crate::storage::account_data;

/// The most events one `/messages` or `/context` page returns.
const MAX_PAGE: usize = 1000;

/// `PUT /_matrix/client/v3/rooms/{roomId}/send/{eventType}/{txnId}`
pub async fn send_message_event_route(
    State(state): AppStateRef,
    body: Ruma<send_message_event::v3::Request>,
) -> RouteResult<send_message_event::v3::Response> {
    let sender = body.sender()?;
    sender.active()?;
    let r = &body.body;
    let content: Value =
        serde_json::from_str(r.body.json().get()).map_err(|e| Error::bad_json(e.to_string()))?;
    if !content.is_object() {
        return Err(Error::bad_json("Event content must be a JSON object"));
    }
    let draft = Draft {
        kind: r.event_type.to_string().into(),
        state_key: None,
        content,
    };
    let event_id = send_with_txn(&state, sender, &r.room_id, r.txn_id.as_str(), draft).await?;
    Ok(send_message_event::v3::Response::new(event_id).into())
}

/// `PUT /_matrix/client/v3/rooms/{roomId}/redact/{eventId}/{txnId}`
pub async fn redact_event_route(
    State(state): AppStateRef,
    body: Ruma<redact_event::v3::Request>,
) -> RouteResult<redact_event::v3::Response> {
    let sender = body.sender()?;
    let r = &body.body;
    // `redacts` in the content (room v11+); older versions read it there too on the ledger,
    // and clients get it at the top level as well (see `client_event`).
    let mut content = json!({ "redacts": r.event_id });
    if let Some(reason) = &r.reason {
        content["reason"] = json!(reason);
    }
    let draft = Draft {
        kind: "m.room.redaction".into(),
        state_key: None,
        content,
    };
    let event_id = send_with_txn(&state, sender, &r.room_id, r.txn_id.as_str(), draft).await?;
    Ok(redact_event::v3::Response::new(event_id).into())
}

/// `GET /_matrix/client/v3/rooms/{roomId}/messages`
pub async fn get_message_events_route(
    State(state): AppStateRef,
    body: Ruma<get_message_events::v3::Request>,
) -> RouteResult<get_message_events::v3::Response> {
    let sender = body.sender()?;
    let r = &body.body;
    let access = access(&state, &sender.user_id, &r.room_id).await?;
    let backwards = r.dir == Direction::Backward;
    let from = match &r.from {
        Some(t) => parse_boundary(t)?,
        None if backwards => access.end,
        None => 0,
    }
    .min(access.end);
    let mut bound = if backwards { 0 } else { access.end };
    if let Some(to) = &r.to {
        let to = parse_boundary(to)?;
        bound = if backwards {
            bound.max(to)
        } else {
            bound.min(to)
        };
    }
    let limit = (u64::from(r.limit) as usize).clamp(1, MAX_PAGE);
    let pool = state.chain()?.pool();
    let scan = Scan {
        from,
        bound,
        backwards,
        limit,
    };
    let p = page(pool, r.room_id.as_str(), &access.window, &r.filter, scan).await?;
    let viewer = Viewer::of(sender);
    let mut response = get_message_events::v3::Response::new();
    response.start = timeline_token(from);
    response.end = p.next.map(timeline_token);
    response.chunk = to_client_raw(pool, &p.events, viewer).await?;
    if !r.filter.lazy_load_options.is_disabled() {
        let mut senders: Vec<&str> = p.events.iter().map(|e| e.sender.as_str()).collect();
        senders.sort_unstable();
        senders.dedup();
        let mut members = Vec::new();
        for s in senders {
            if let Some(m) =
                read::state_entry_at(pool, r.room_id.as_str(), "m.room.member", s, access.end)
                    .await
                    .map_err(store_error)?
            {
                members.push(m);
            }
        }
        response.state = to_client_raw(pool, &members, viewer).await?;
    }
    Ok(response.into())
}

/// `GET /_matrix/client/v3/rooms/{roomId}/context/{eventId}`: the event, up to `limit`
/// events around it, and the state at it.
pub async fn get_context_route(
    State(state): AppStateRef,
    body: Ruma<get_context::v3::Request>,
) -> RouteResult<get_context::v3::Response> {
    let sender = body.sender()?;
    let r = &body.body;
    let access = access(&state, &sender.user_id, &r.room_id).await?;
    let pool = state.chain()?.pool();
    let event = read::event(pool, r.event_id.as_str())
        .await
        .map_err(store_error)?
        .filter(|e| e.room_id == r.room_id.as_str() && e.pos < access.end)
        .filter(|e| access.window.can_see(e))
        .ok_or_else(|| Error::not_found("Event not found."))?;
    let limit = (u64::from(r.limit) as usize).min(MAX_PAGE);
    let before_n = limit / 2;
    let after_n = limit - before_n;
    let room = r.room_id.as_str();
    let before = if before_n == 0 {
        Default::default()
    } else {
        let scan = Scan {
            from: event.pos,
            bound: 0,
            backwards: true,
            limit: before_n,
        };
        page(pool, room, &access.window, &r.filter, scan).await?
    };
    let after = if after_n == 0 {
        Default::default()
    } else {
        let scan = Scan {
            from: event.pos + 1,
            bound: access.end,
            backwards: false,
            limit: after_n,
        };
        page(pool, room, &access.window, &r.filter, scan).await?
    };
    let viewer = Viewer::of(sender);
    let mut response = get_context::v3::Response::new();
    response.start = Some(timeline_token(
        before.events.last().map_or(event.pos, |e| e.pos),
    ));
    response.end = Some(timeline_token(
        after.events.last().map_or(event.pos + 1, |e| e.pos + 1),
    ));
    response.events_before = to_client_raw(pool, &before.events, viewer).await?;
    response.events_after = to_client_raw(pool, &after.events, viewer).await?;
    response.event = Some(raw(&to_client(pool, &event, viewer).await?)?);
    let state_events = read::state_at(pool, room, event.pos)
        .await
        .map_err(store_error)?;
    response.state = to_client_raw(pool, &state_events, viewer).await?;
    Ok(response.into())
}

/// Events `GET /rooms/{roomId}/initialSync` returns (Synapse's figure).
const INITIAL_SYNC_MESSAGES: usize = 10;

/// `GET /_matrix/client/v3/rooms/{roomId}/initialSync` (deprecated, still served by Synapse):
/// the room's state, its latest messages with a token to page further back, the caller's
/// membership, its room account data and whether it is published.
pub async fn room_initial_sync_route(
    State(state): AppStateRef,
    body: Ruma<get_current_state::v3::Request>,
) -> RouteResult<get_current_state::v3::Response> {
    let sender = body.sender()?;
    let room_id = &body.body.room_id;
    let access = access(&state, &sender.user_id, room_id).await?;
    let pool = state.chain()?.pool();
    let viewer = Viewer::of(sender);
    let scan = Scan {
        from: access.end,
        bound: 0,
        backwards: true,
        limit: INITIAL_SYNC_MESSAGES,
    };
    let mut p = page(
        pool,
        room_id.as_str(),
        &access.window,
        &RoomEventFilter::default(),
        scan,
    )
    .await?;
    p.events.reverse();
    let chunk = to_client_raw(pool, &p.events, viewer).await?;
    let start = p
        .events
        .first()
        .map_or(timeline_token(access.end), |e| timeline_token(e.pos));
    let mut messages =
        get_current_state::v3::PaginationChunk::new(chunk, timeline_token(access.end));
    messages.start = Some(start);
    let room_state = read::state_at(pool, room_id.as_str(), access.end)
        .await
        .map_err(store_error)?;
    let mut response = get_current_state::v3::Response::new(room_id.clone());
    response.membership = access
        .window
        .current_membership()
        .map(MembershipState::from);
    response.messages = Some(messages);
    response.state = to_client_raw(pool, &room_state, viewer).await?;
    response.account_data =
        account_data::changed(&state.db.pool, sender.user_id.as_str(), 0, i64::MAX)
            .await?
            .into_iter()
            .filter(|d| d.room_id == room_id.as_str())
            .map(|d| {
                let event = json!({
                    "type": d.data_type,
                    "content": serde_json::from_str::<Value>(&d.content).unwrap_or(Value::Null),
                });
                raw(&event)
            })
            .collect::<crate::error::Result<_>>()?;
    let public = read::is_public(pool, room_id.as_str())
        .await
        .map_err(store_error)?;
    response.visibility = Some(if public {
        Visibility::Public
    } else {
        Visibility::Private
    });
    Ok(response.into())
}
