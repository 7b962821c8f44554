//! `GET /rooms/{roomId}/relations/{eventId}[/{relType}[/{eventType}]]` (the events that relate
//! to an event: edits, reactions, thread replies, references) and `GET /rooms/{roomId}/threads`
//! (the room's threads, latest reply first), both limited to what the caller may see. The
//! relation is read from each event's unencrypted `content.m.relates_to`, so encrypted
//! rooms' relations are listed too. `recurse` is not supported and ignored, as the
//! specification allows (no `recursion_depth` in the answer).

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, State};
use consort_bridge::rooms::read::{self, StoredEvent};
use ruma::api::Direction;
use ruma::api::client::relations::{
    get_relating_events, get_relating_events_with_rel_type,
    get_relating_events_with_rel_type_and_event_type,
};
use ruma::serde::Raw;
use ruma::{EventId, RoomId, UInt};
use serde_json::Value;

use super::{AppStateRef, RouteResult};
use crate::api::consort::key_history::AnyUser;
use crate::api::ruma_wrapper::Ruma;
use crate::error::{Error, Result};
use crate::services::auth::Sender;
use crate::services::rooms::access::access;
use crate::services::rooms::client_event::{Viewer, to_client_raw};
use crate::services::rooms::send::store_error;
use crate::services::tokens::{parse_boundary, timeline_token};
use crate::state::AppState;

/// Events per page when the client does not say (Synapse's figure), and at most.
const DEFAULT_LIMIT: u64 = 5;
const MAX_LIMIT: u64 = 1000;

/// One relations request, whichever of the three paths it came by.
struct Query<'a> {
    room_id: &'a RoomId,
    parent: &'a EventId,
    rel_type: Option<String>,
    event_type: Option<String>,
    from: Option<&'a str>,
    to: Option<&'a str>,
    dir: Direction,
    limit: Option<UInt>,
}

/// A page of relations: the events and the token of the next page.
async fn relations<T>(
    state: &AppState,
    sender: &Sender,
    q: Query<'_>,
) -> Result<(Vec<Raw<T>>, Option<String>, String)> {
    let access = access(state, &sender.user_id, q.room_id).await?;
    let pool = state.chain()?.pool();
    read::event(pool, q.parent.as_str())
        .await
        .map_err(store_error)?
        .filter(|e| e.room_id == q.room_id.as_str() && e.pos < access.end)
        .filter(|e| access.window.can_see(e))
        .ok_or_else(|| Error::not_found("Event not found."))?;
    let backwards = q.dir == Direction::Backward;
    let from = match q.from {
        Some(t) => parse_boundary(t)?,
        None if backwards => access.end,
        None => 0,
    }
    .min(access.end);
    let to = q.to.map(parse_boundary).transpose()?;
    let (low, high) = if backwards {
        (to.unwrap_or(0), from)
    } else {
        (from, to.unwrap_or(access.end).min(access.end))
    };
    let limit = q.limit.map_or(DEFAULT_LIMIT, u64::from).clamp(1, MAX_LIMIT) as usize;
    // One more than asked, to know whether there is a next page; unseen ones are skipped.
    let found = read::relations(
        pool,
        q.room_id.as_str(),
        q.parent.as_str(),
        (q.rel_type.as_deref(), q.event_type.as_deref()),
        (low, high, backwards),
        MAX_LIMIT as i64 + 1,
    )
    .await
    .map_err(store_error)?;
    let visible: Vec<StoredEvent> = found
        .into_iter()
        .filter(|e| access.window.can_see(e))
        .collect();
    let more = visible.len() > limit;
    let page: Vec<StoredEvent> = visible.into_iter().take(limit).collect();
    let next = match page.last() {
        Some(last) if more => Some(timeline_token(if backwards {
            last.pos
        } else {
            last.pos + 1
        })),
        _ => None,
    };
    let chunk = to_client_raw(pool, &page, Viewer::of(sender)).await?;
    Ok((chunk, next, timeline_token(from)))
}

/// `GET /_matrix/client/v1/rooms/{roomId}/relations/{eventId}`
pub async fn relations_route(
    State(state): AppStateRef,
    body: Ruma<get_relating_events::v1::Request>,
) -> RouteResult<get_relating_events::v1::Response> {
    let r = &body.body;
    let (chunk, next, _) = relations(
        &state,
        body.sender()?,
        Query {
            room_id: &r.room_id,
            parent: &r.event_id,
            rel_type: None,
            event_type: None,
            from: r.from.as_deref(),
            to: r.to.as_deref(),
            dir: r.dir,
            limit: r.limit,
        },
    )
    .await?;
    let mut response = get_relating_events::v1::Response::new(chunk);
    response.next_batch = next;
    response.prev_batch = r.from.clone();
    Ok(response.into())
}

/// `GET /_matrix/client/v1/rooms/{roomId}/relations/{eventId}/{relType}`
pub async fn relations_of_type_route(
    State(state): AppStateRef,
    body: Ruma<get_relating_events_with_rel_type::v1::Request>,
) -> RouteResult<get_relating_events_with_rel_type::v1::Response> {
    let r = &body.body;
    let (chunk, next, _) = relations(
        &state,
        body.sender()?,
        Query {
            room_id: &r.room_id,
            parent: &r.event_id,
            rel_type: Some(r.rel_type.to_string()),
            event_type: None,
            from: r.from.as_deref(),
            to: r.to.as_deref(),
            dir: r.dir,
            limit: r.limit,
        },
    )
    .await?;
    let mut response = get_relating_events_with_rel_type::v1::Response::new(chunk);
    response.next_batch = next;
    response.prev_batch = r.from.clone();
    Ok(response.into())
}

/// `GET /_matrix/client/v1/rooms/{roomId}/relations/{eventId}/{relType}/{eventType}`
pub async fn relations_of_type_and_event_type_route(
    State(state): AppStateRef,
    body: Ruma<get_relating_events_with_rel_type_and_event_type::v1::Request>,
) -> RouteResult<get_relating_events_with_rel_type_and_event_type::v1::Response> {
    let r = &body.body;
    let (chunk, next, _) = relations(
        &state,
        body.sender()?,
        Query {
            room_id: &r.room_id,
            parent: &r.event_id,
            rel_type: Some(r.rel_type.to_string()),
            event_type: Some(r.event_type.to_string()),
            from: r.from.as_deref(),
            to: r.to.as_deref(),
            dir: r.dir,
            limit: r.limit,
        },
    )
    .await?;
    let mut response = get_relating_events_with_rel_type_and_event_type::v1::Response::new(chunk);
    response.next_batch = next;
    response.prev_batch = r.from.clone();
    Ok(response.into())
}

/// The path of `/threads`, routed by hand: ruma's request type requires `include`, which
/// the specification makes optional (default `all`), as clients leave it out.
pub const THREADS_PATH: &str = "/_matrix/client/v1/rooms/{room_id}/threads";

/// `/threads`'s query.
#[derive(Debug, serde::Deserialize)]
pub struct ThreadsQuery {
    from: Option<String>,
    include: Option<String>,
    limit: Option<String>,
}

/// `GET /_matrix/client/v1/rooms/{roomId}/threads`: thread roots, latest reply first, that
/// the caller may see; `include=participated` keeps those the caller started or replied to.
/// `from` is the position below which the next page's latest replies are.
pub async fn threads_route(
    State(state): State<std::sync::Arc<AppState>>,
    AnyUser(sender): AnyUser,
    Path(room_id): Path<String>,
    query: std::result::Result<axum::extract::Query<ThreadsQuery>, QueryRejection>,
) -> Result<Json<Value>> {
    let axum::extract::Query(q) = query.map_err(|e| Error::invalid_param(e.body_text()))?;
    let room_id = ruma::OwnedRoomId::try_from(room_id)
        .map_err(|e| Error::invalid_param(format!("Invalid room id: {e}")))?;
    let participated = match q.include.as_deref() {
        None | Some("all") => false,
        Some("participated") => true,
        Some(other) => {
            return Err(Error::invalid_param(format!(
                "include must be all or participated, not {other}"
            )));
        }
    };
    let limit = match q.limit.as_deref() {
        None => DEFAULT_LIMIT,
        Some(l) => l
            .parse::<u64>()
            .map_err(|_| Error::invalid_param("limit must be a non-negative integer"))?,
    }
    .clamp(1, MAX_LIMIT) as usize;
    let access = access(&state, &sender.user_id, &room_id).await?;
    let pool = state.chain()?.pool();
    let below = match &q.from {
        Some(t) => parse_boundary(t)?.min(access.end),
        None => access.end,
    };
    let participant = participated.then_some(sender.user_id.as_str());
    let mut roots: Vec<(StoredEvent, i64)> = Vec::new();
    let mut next = None;
    for (root, latest) in
        read::thread_roots(pool, room_id.as_str(), (access.end, below), participant)
            .await
            .map_err(store_error)?
    {
        let Some(event) = read::event(pool, &root)
            .await
            .map_err(store_error)?
            .filter(|e| e.room_id == room_id.as_str() && access.window.can_see(e))
        else {
            continue;
        };
        if roots.len() == limit {
            // More remain: the next page has the threads whose latest reply is older than
            // this page's last.
            next = roots.last().map(|(_, l)| timeline_token(*l));
            break;
        }
        roots.push((event, latest));
    }
    let events: Vec<StoredEvent> = roots.into_iter().map(|(e, _)| e).collect();
    let chunk: Vec<Raw<Value>> = to_client_raw(pool, &events, Viewer::of(&sender)).await?;
    let mut answer = serde_json::json!({ "chunk": chunk });
    if let Some(next) = next {
        answer["next_batch"] = Value::String(next);
    }
    Ok(Json(answer))
}
