//! Simplified sliding sync (MSC4186), the only sync Element X speaks: lists of the user's
//! rooms ordered by recency (`bump_stamp`, the ledger position of a room's latest event),
//! windows of them by `ranges`, explicit `room_subscriptions`, and for each room the fields
//! a room list shows. It is a view over the `/sync` engine: rooms the connection has not
//! been sent are computed as an initial sync of those rooms, the others as an incremental
//! sync from the connection's last token, both at the same token, so nothing is skipped.

pub mod connections;
mod extensions;
pub(crate) mod rooms;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use http::StatusCode;
use ruma::api::client::sync::sync_events::v5::{Request, Response, response};
use ruma::api::error::ErrorKind;
use ruma::{OwnedRoomId, UInt};

use self::connections::{ConnKey, Position};
use self::rooms::{Candidate, Prefetched, Wanted, candidates, render_required_state, room_entry};
use crate::error::{Error, Result};
use crate::services::auth::Sender;
use crate::services::sync::{SyncRequest, current_token, sync};
use crate::state::AppState;

/// The most timeline events one room gets per answer, whatever `timeline_limit` says.
const MAX_TIMELINE_LIMIT: u64 = 100;

fn unknown_pos() -> Error {
    Error::new(
        StatusCode::BAD_REQUEST,
        ErrorKind::UnknownPos,
        "Unknown position: start the connection over",
    )
}

/// Answers one sliding sync request. `spaces` is each list's `spaces` filter, which ruma's
/// request type does not carry (see [`spaces_filters`]).
pub async fn sliding_sync(
    state: &AppState,
    sender: &Sender,
    req: &Request,
    spaces: &BTreeMap<String, Vec<String>>,
) -> Result<Response> {
    let key: ConnKey = (
        sender.user_id.to_string(),
        sender.device_id.to_string(),
        req.conn_id.clone().unwrap_or_default(),
    );
    let previous = match &req.pos {
        None => {
            state.sliding_connections.reset(&key);
            None
        }
        Some(pos) => {
            let pos: u64 = pos.parse().map_err(|_| unknown_pos())?;
            Some(
                state
                    .sliding_connections
                    .get(&key, pos)
                    .ok_or_else(unknown_pos)?,
            )
        }
    };
    let sent: BTreeSet<String> = previous
        .as_ref()
        .map(|p| p.rooms.clone())
        .unwrap_or_default();
    let user = sender.user_id.as_str();

    // Which rooms the lists and subscriptions want now.
    let mut token = current_token(state).await?;
    let left_after = previous.as_ref().map(|p| (p.token.end(), &sent));
    let mut all = candidates(state, user, token.end(), left_after).await?;
    let (mut counts, mut wanted) = choose(state, req, spaces, &all, token.end()).await?;
    let mut initial: Vec<String> = wanted
        .keys()
        .filter(|r| !sent.contains(*r))
        .cloned()
        .collect();

    // What changed in the rooms the client has, waiting for a change when there is nothing
    // new to send at once.
    let limit = wanted
        .values()
        .map(|w| w.timeline_limit)
        .max()
        .unwrap_or(1)
        .max(1);
    let incremental = match &previous {
        Some(prev) => {
            let timeout = if initial.is_empty() {
                req.timeout.unwrap_or(Duration::ZERO)
            } else {
                Duration::ZERO
            };
            let result = sync(
                state,
                sender,
                &SyncRequest {
                    filter: timeline_filter(limit, None),
                    since: Some(prev.token),
                    full_state: false,
                    timeout,
                    upto: None,
                },
            )
            .await?;
            if result.next_batch != token {
                // Time passed: the order and the windows may have changed.
                token = result.next_batch;
                all = candidates(state, user, token.end(), left_after).await?;
                (counts, wanted) = choose(state, req, spaces, &all, token.end()).await?;
                initial = wanted
                    .keys()
                    .filter(|r| !sent.contains(*r))
                    .cloned()
                    .collect();
            }
            Some(result)
        }
        None => None,
    };
    // The rooms new to the connection: an initial sync of just those, at the same token
    // (for a new connection always: it also gives the global data).
    let fresh = if initial.is_empty() && previous.is_some() {
        None
    } else {
        let limit = initial
            .iter()
            .filter_map(|r| wanted.get(r))
            .map(|w| w.timeline_limit)
            .max()
            .unwrap_or(1)
            .max(1);
        let rooms = initial
            .iter()
            .filter_map(|r| OwnedRoomId::try_from(r.as_str()).ok())
            .collect();
        Some(
            sync(
                state,
                sender,
                &SyncRequest {
                    filter: timeline_filter(limit, Some(rooms)),
                    since: None,
                    full_state: false,
                    timeout: Duration::ZERO,
                    upto: Some(token),
                },
            )
            .await?,
        )
    };

    let mut unrendered = Vec::new();
    let mut room_sources = Vec::new();
    let by_id: BTreeMap<&str, &Candidate> = all.iter().map(|c| (c.room_id.as_str(), c)).collect();
    let in_answer: Vec<&str> = wanted
        .keys()
        .filter(|r| by_id.contains_key(r.as_str()))
        .map(String::as_str)
        .collect();
    let new_joined: Vec<&str> = in_answer
        .iter()
        .copied()
        .filter(|r| !sent.contains(*r) && by_id[r].membership == "join")
        .collect();
    let prefetched = Prefetched::read(state, &new_joined, &in_answer, token.end()).await?;
    for (room_id, w) in &wanted {
        let Some(candidate) = by_id.get(room_id.as_str()) else {
            continue;
        };
        let is_initial = !sent.contains(room_id);
        let source = if is_initial {
            fresh.as_ref()
        } else {
            incremental.as_ref()
        };
        let since = previous
            .as_ref()
            .filter(|_| !is_initial)
            .map(|p| p.token.end());
        let id = OwnedRoomId::try_from(room_id.as_str())
            .map_err(|e| Error::Internal(format!("stored room id: {e}")))?;
        if let Some(source) = source {
            room_sources.push((id.clone(), source));
        }
        if let Some(room) = room_entry(
            state,
            sender,
            candidate,
            w,
            source,
            &prefetched,
            (since, token.end()),
        )
        .await?
        {
            unrendered.push((id, room));
        }
    }
    let answer_rooms = render_required_state(state, sender, unrendered).await?;
    let sources = extensions::Sources {
        global: incremental.as_ref().or(fresh.as_ref()),
        rooms: room_sources,
        wanted: &wanted,
        since: previous.as_ref().map(|p| p.token.end()),
        end: token.end(),
    };
    let extensions = extensions::extensions(state, sender, req, &sources).await?;
    let mut rooms_sent = sent.clone();
    rooms_sent.extend(wanted.keys().cloned());
    // A room sent as left is new to the connection again should the user come back.
    for c in all.iter().filter(|c| wanted.contains_key(&c.room_id)) {
        if matches!(c.membership.as_str(), "leave" | "ban") {
            rooms_sent.remove(&c.room_id);
        }
    }
    let pos = state.sliding_connections.put(
        key,
        Position {
            token,
            rooms: rooms_sent,
        },
    );
    let mut response = Response::new(pos.to_string());
    response.txn_id = req.txn_id.clone();
    response.rooms = answer_rooms;
    response.extensions = extensions;
    for (name, count) in counts {
        let mut list = response::List::default();
        list.count = UInt::try_from(count as u64).unwrap_or(UInt::MAX);
        response.lists.insert(name, list);
    }
    Ok(response)
}

/// A filter with a timeline limit and no state (each room's entry reads the state it
/// wants itself), for some rooms or all.
fn timeline_filter(
    limit: u64,
    rooms: Option<Vec<OwnedRoomId>>,
) -> ruma::api::client::filter::FilterDefinition {
    let mut filter = ruma::api::client::filter::FilterDefinition::default();
    filter.room.timeline.limit = UInt::try_from(limit).ok();
    filter.room.state.types = Some(Vec::new());
    filter.room.rooms = rooms;
    filter
}

/// Each list's `spaces` filter, from the raw request body: ruma's `ListFilters` has no such
/// field yet. A list without one is absent from the map.
pub fn spaces_filters(body: &[u8]) -> Result<BTreeMap<String, Vec<String>>> {
    #[derive(serde::Deserialize)]
    struct Body {
        #[serde(default)]
        lists: BTreeMap<String, ListBody>,
    }
    #[derive(serde::Deserialize)]
    struct ListBody {
        #[serde(default)]
        filters: Option<FiltersBody>,
    }
    #[derive(serde::Deserialize)]
    struct FiltersBody {
        #[serde(default)]
        spaces: Option<Vec<OwnedRoomId>>,
    }
    if body.is_empty() {
        return Ok(BTreeMap::new());
    }
    let body: Body = serde_json::from_slice(body)
        .map_err(|e| Error::bad_json(format!("Invalid list filters: {e}")))?;
    Ok(body
        .lists
        .into_iter()
        .filter_map(|(name, list)| {
            let spaces = list.filters?.spaces?;
            Some((name, spaces.into_iter().map(|s| s.to_string()).collect()))
        })
        .collect())
}

/// [`select`], after finding the children of the spaces the lists filter by.
async fn choose(
    state: &AppState,
    req: &Request,
    spaces: &BTreeMap<String, Vec<String>>,
    all: &[Candidate],
    end: i64,
) -> Result<(BTreeMap<String, usize>, BTreeMap<String, Wanted>)> {
    let joined: BTreeSet<&str> = all
        .iter()
        .filter(|c| c.membership == "join")
        .map(|c| c.room_id.as_str())
        .collect();
    let mut children = BTreeMap::new();
    for (name, list_spaces) in spaces {
        if req.lists.contains_key(name) {
            children.insert(
                name.clone(),
                rooms::space_children(state, list_spaces, &joined, end).await?,
            );
        }
    }
    select(req, all, &children)
}

/// The count of each list and the rooms wanted by the lists' windows and the room
/// subscriptions, each with the largest timeline limit and the union of required state.
/// `children` is, for each list with a `spaces` filter, the rooms it admits.
fn select(
    req: &Request,
    all: &[Candidate],
    children: &BTreeMap<String, BTreeSet<String>>,
) -> Result<(BTreeMap<String, usize>, BTreeMap<String, Wanted>)> {
    let mut counts = BTreeMap::new();
    let mut wanted: BTreeMap<String, Wanted> = BTreeMap::new();
    let mut ordered: Vec<&Candidate> = all.iter().collect();
    ordered.sort_by(|a, b| b.bump.cmp(&a.bump).then_with(|| a.room_id.cmp(&b.room_id)));
    for (name, list) in &req.lists {
        let members: Vec<&&Candidate> = ordered
            .iter()
            .filter(|c| {
                list.filters
                    .as_ref()
                    .is_none_or(|f| c.admitted_by(f, children.get(name)))
            })
            .collect();
        counts.insert(name.clone(), members.len());
        for (start, end) in &list.ranges {
            let (start, end) = (u64::from(*start) as usize, u64::from(*end) as usize);
            if start > end {
                return Err(Error::invalid_param(format!(
                    "Invalid range [{start}, {end}] of list {name}: the start is after the end"
                )));
            }
            for c in members.iter().skip(start).take(end - start + 1) {
                let w = wanted.entry(c.room_id.clone()).or_default();
                w.merge(
                    &list.room_details.required_state,
                    list.room_details.timeline_limit,
                );
                w.lists.insert(name.clone());
            }
        }
    }
    for (room_id, sub) in &req.room_subscriptions {
        if all.iter().any(|c| c.room_id == room_id.as_str()) {
            let w = wanted.entry(room_id.to_string()).or_default();
            w.merge(&sub.required_state, sub.timeline_limit);
            w.subscribed = true;
        }
    }
    for w in wanted.values_mut() {
        w.timeline_limit = w.timeline_limit.min(MAX_TIMELINE_LIMIT);
    }
    Ok((counts, wanted))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spaces_filters_are_read_from_the_raw_body() {
        let body = br#"{"lists": {"a": {"ranges": [[0, 1]], "filters": {"spaces": ["!s:x"]}},
            "b": {"ranges": [[0, 1]]}, "c": {"filters": {"is_dm": true}}}}"#;
        let spaces = spaces_filters(body).expect("valid");
        assert_eq!(spaces.len(), 1);
        assert_eq!(spaces["a"], vec!["!s:x".to_owned()]);
        assert!(spaces_filters(br#"{"lists": {"a": {"filters": {"spaces": 1}}}}"#).is_err());
        assert!(spaces_filters(b"").expect("empty").is_empty());
    }
}
