//! `GET /_matrix/client/v1/rooms/{roomId}/hierarchy`, and the summary of one room
//! (`GET /_matrix/client/v1/room_summary/{roomIdOrAlias}`). The hierarchy: a space and the rooms under it, walked
//! breadth first through the `m.space.child` state events (those with a non-empty `via`), as
//! far as the caller may see: rooms they are in or invited to, and public or world-readable
//! ones. Every node holds every room of the consortium, so the walk crosses organisations
//! without asking anyone.

use std::collections::{HashSet, VecDeque};

use axum::extract::State;
use consort_bridge::rooms::read::{self, StoredEvent};
use ruma::api::client::room::get_summary;
use ruma::api::client::space::{SpaceHierarchyRoomsChunk, get_hierarchy};
use ruma::events::room::member::MembershipState;
use ruma::room::RoomSummary;
use ruma::{RoomId, UserId};
use serde_json::{Value, json};

use super::{AppStateRef, RouteResult};
use crate::api::ruma_wrapper::Ruma;
use crate::error::{Error, Result};
use crate::services::rooms::directory::resolve;
use crate::services::rooms::send::store_error;
use crate::services::sync::current_token;
use crate::state::AppState;

/// Rooms per page when the client does not say, and at most (Synapse's figures).
const DEFAULT_LIMIT: usize = 50;

/// `GET /_matrix/client/v1/rooms/{roomId}/hierarchy`
pub async fn hierarchy_route(
    State(state): AppStateRef,
    body: Ruma<get_hierarchy::v1::Request>,
) -> RouteResult<get_hierarchy::v1::Response> {
    let sender = body.sender()?;
    let r = &body.body;
    let skip = match &r.from {
        None => 0,
        Some(token) => token
            .parse::<usize>()
            .map_err(|_| Error::invalid_param("Unknown pagination token"))?,
    };
    let limit = r.limit.map_or(DEFAULT_LIMIT, |l| {
        (u64::from(l) as usize).clamp(1, DEFAULT_LIMIT)
    });
    let max_depth = r.max_depth.map(|d| u64::from(d) as usize);
    let rooms = walk(
        &state,
        &sender.user_id,
        &r.room_id,
        max_depth,
        r.suggested_only,
        skip + limit + 1,
    )
    .await?;
    let more = rooms.len() > skip + limit;
    let mut response = get_hierarchy::v1::Response::new();
    response.rooms = rooms
        .into_iter()
        .skip(skip)
        .take(limit)
        .map(|chunk| {
            serde_json::from_value::<SpaceHierarchyRoomsChunk>(chunk)
                .map_err(|e| Error::Internal(format!("a hierarchy entry: {e}")))
        })
        .collect::<Result<_>>()?;
    response.next_batch = more.then(|| (skip + limit).to_string());
    Ok(response.into())
}

/// The hierarchy's entries in breadth-first order, at most `want` of them; `M_FORBIDDEN` when
/// the caller may not see the root.
async fn walk(
    state: &AppState,
    user: &UserId,
    root: &RoomId,
    max_depth: Option<usize>,
    suggested_only: bool,
    want: usize,
) -> Result<Vec<Value>> {
    let pool = state.chain()?.pool();
    let end = current_token(state).await?.end();
    let mut queue = VecDeque::from([(root.to_string(), 0usize)]);
    let mut seen = HashSet::from([root.to_string()]);
    let mut rooms = Vec::new();
    while let Some((room_id, depth)) = queue.pop_front() {
        if rooms.len() >= want {
            break;
        }
        let room_state = read::state_at(pool, &room_id, end)
            .await
            .map_err(store_error)?;
        if room_state.is_empty() || !accessible(&room_state, user.as_str()) {
            if room_id == root.as_str() {
                return Err(Error::forbidden("You are not allowed to view this room."));
            }
            continue;
        }
        let children = children(&room_state, suggested_only);
        if max_depth.is_none_or(|max| depth < max) {
            for (child, _) in &children {
                if seen.insert(child.clone()) {
                    queue.push_back((child.clone(), depth + 1));
                }
            }
        }
        rooms.push(entry(&room_id, &room_state, &children));
    }
    Ok(rooms)
}

/// The content of a state event (empty once redacted).
fn content(event: &StoredEvent) -> Value {
    if event.redacted_by.is_some() {
        return json!({});
    }
    serde_json::from_str::<Value>(&event.json)
        .map(|pdu| pdu["content"].clone())
        .unwrap_or(Value::Null)
}

fn state_content(room_state: &[StoredEvent], kind: &str) -> Value {
    room_state
        .iter()
        .find(|e| e.kind == kind && e.state_key.as_deref() == Some(""))
        .map(content)
        .unwrap_or(Value::Null)
}

/// Whether `user` may see the room: a member or invitee, or a public, knockable or
/// world-readable room.
fn accessible(room_state: &[StoredEvent], user: &str) -> bool {
    let membership = room_state
        .iter()
        .find(|e| e.kind == "m.room.member" && e.state_key.as_deref() == Some(user))
        .and_then(|e| e.membership.as_deref());
    if matches!(membership, Some("join" | "invite")) {
        return true;
    }
    let join_rule = state_content(room_state, "m.room.join_rules")["join_rule"].clone();
    let visibility =
        state_content(room_state, "m.room.history_visibility")["history_visibility"].clone();
    matches!(join_rule.as_str(), Some("public" | "knock")) || visibility == "world_readable"
}

/// The room's `m.space.child` events that link a room (a non-empty `via`), ordered as the spec
/// says: by `order`, then by when they were sent, then by room id.
fn children(room_state: &[StoredEvent], suggested_only: bool) -> Vec<(String, Value)> {
    let mut links: Vec<(String, Value, Option<String>, i64)> = room_state
        .iter()
        .filter(|e| e.kind == "m.space.child")
        .filter_map(|e| {
            let child = e.state_key.clone()?;
            let content = content(e);
            let linked = content["via"].as_array().is_some_and(|v| !v.is_empty());
            let suggested = content["suggested"] == true;
            let order = content["order"]
                .as_str()
                .filter(|o| o.len() <= 50 && o.chars().all(|c| ('\x20'..='\x7e').contains(&c)))
                .map(str::to_owned);
            let pdu: Value = serde_json::from_str(&e.json).ok()?;
            let stripped = json!({
                "type": "m.space.child",
                "state_key": child,
                "content": content,
                "sender": e.sender,
                "origin_server_ts": pdu["origin_server_ts"],
            });
            (linked && (!suggested_only || suggested)).then(|| {
                (
                    child,
                    stripped,
                    order,
                    pdu["origin_server_ts"].as_i64().unwrap_or(0),
                )
            })
        })
        .collect();
    links.sort_by(|a, b| {
        let by_order = match (&a.2, &b.2) {
            (Some(x), Some(y)) => x.cmp(y),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => std::cmp::Ordering::Equal,
        };
        by_order.then(a.3.cmp(&b.3)).then(a.0.cmp(&b.0))
    });
    links.into_iter().map(|(id, ev, _, _)| (id, ev)).collect()
}

/// One room of the answer: its summary and, for a space, its child links.
fn entry(room_id: &str, room_state: &[StoredEvent], children: &[(String, Value)]) -> Value {
    let joined = room_state
        .iter()
        .filter(|e| e.kind == "m.room.member" && e.membership.as_deref() == Some("join"))
        .count();
    let text = |kind: &str, field: &str| {
        state_content(room_state, kind)[field]
            .as_str()
            .map(str::to_owned)
    };
    let mut summary = json!({
        "room_id": room_id,
        "num_joined_members": joined,
        "world_readable": text("m.room.history_visibility", "history_visibility").as_deref() == Some("world_readable"),
        "guest_can_join": text("m.room.guest_access", "guest_access").as_deref() == Some("can_join"),
        "join_rule": text("m.room.join_rules", "join_rule").unwrap_or_else(|| "invite".to_owned()),
        "children_state": children.iter().map(|(_, e)| e.clone()).collect::<Vec<_>>(),
    });
    for (key, value) in [
        ("name", text("m.room.name", "name")),
        ("topic", text("m.room.topic", "topic")),
        ("canonical_alias", text("m.room.canonical_alias", "alias")),
        ("avatar_url", text("m.room.avatar", "url")),
        ("room_type", text("m.room.create", "type")),
    ] {
        if let Some(value) = value {
            summary[key] = Value::String(value);
        }
    }
    if let Some(algorithm) = text("m.room.encryption", "algorithm") {
        summary["encryption"] = Value::String(algorithm);
    }
    if let Some(version) = text("m.room.create", "room_version") {
        summary["room_version"] = Value::String(version);
    }
    summary
}

/// `GET /_matrix/client/v1/room_summary/{roomIdOrAlias}` (MSC3266): the summary a client
/// shows before joining, for a room the caller may see (as in the hierarchy: a member or
/// invitee, or a public, knockable or world-readable room; anyone without a token sees only
/// the latter); 404 otherwise, as Synapse answers, so that private rooms are not revealed.
pub async fn room_summary_route(
    State(state): AppStateRef,
    body: Ruma<get_summary::v1::Request>,
) -> RouteResult<get_summary::v1::Response> {
    let viewer = body.sender.as_ref().map(|s| s.user_id.to_string());
    let room_id = match body.body.room_id_or_alias.clone().try_into() {
        Ok(room_id) => {
            let room_id: ruma::OwnedRoomId = room_id;
            room_id.to_string()
        }
        Err(alias) => {
            let alias: ruma::OwnedRoomAliasId = alias;
            resolve(&state, alias.as_str())
                .await?
                .ok_or_else(|| Error::not_found("Room alias not found"))?
        }
    };
    let not_found = || Error::not_found("Room not found or is not accessible");
    let pool = state.chain()?.pool();
    let end = current_token(&state).await?.end();
    let room_state = read::state_at(pool, &room_id, end)
        .await
        .map_err(store_error)?;
    if room_state.is_empty() || !accessible(&room_state, viewer.as_deref().unwrap_or("")) {
        return Err(not_found());
    }
    let mut summary = entry(&room_id, &room_state, &[]);
    if let Some(object) = summary.as_object_mut() {
        object.remove("children_state");
    }
    let summary: RoomSummary = serde_json::from_value(summary)
        .map_err(|e| Error::Internal(format!("a room summary: {e}")))?;
    let mut response = get_summary::v1::Response::new(summary);
    response.membership = viewer.as_deref().and_then(|user| {
        room_state
            .iter()
            .find(|e| e.kind == "m.room.member" && e.state_key.as_deref() == Some(user))
            .and_then(|e| e.membership.as_deref())
            .map(MembershipState::from)
    });
    Ok(response.into())
}
