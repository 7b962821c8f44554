//! `POST /search` over room events: the database's full-text index (SQLite FTS5, PostgreSQL
//! `tsvector`) finds events by words in their body, name or topic; only events of rooms the
//! user may read, and only those they may see, are answered. Encrypted rooms are never
//! searched: the server holds only their ciphertext.

use std::collections::BTreeMap;

use consort_bridge::rooms::read::{self, StoredEvent};
use ruma::api::client::filter::RoomEventFilter;
use ruma::api::client::search::search_events::v3::{Criteria, GroupingKey, OrderBy, SearchKeys};
use ruma::{OwnedRoomId, UserId};
use serde_json::{Map, Value, json};

use super::access::{Access, access};
use super::client_event::{Viewer, bare, to_client, to_client_all};
use super::filter::{admits_room, matches};
use super::send::store_error;
use super::timeline::{Scan, page};
use crate::error::{Error, Result};
use crate::services::auth::Sender;
use crate::services::tokens::timeline_token;
use crate::state::AppState;

/// Results per page when the filter does not say (Synapse's figure), and at most.
const DEFAULT_LIMIT: usize = 10;
const MAX_LIMIT: usize = 100;
/// The most matches read for one request: the `count` is exact below it.
const MAX_SCANNED: i64 = 1000;
/// The most words of a search term used.
const MAX_WORDS: usize = 16;

/// The words of a search term, as both full-text query languages take them: runs of letters
/// and digits (everything else separates words).
pub fn words(term: &str) -> Vec<String> {
    term.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .take(MAX_WORDS)
        .map(str::to_lowercase)
        .collect()
}

fn key_column(key: &SearchKeys) -> Result<&'static str> {
    match key {
        SearchKeys::ContentBody => Ok("content.body"),
        SearchKeys::ContentName => Ok("content.name"),
        SearchKeys::ContentTopic => Ok("content.topic"),
        other => Err(Error::invalid_param(format!(
            "Unknown search key {}",
            other.as_str()
        ))),
    }
}

/// Where the next page starts: the number of results already given.
fn parse_batch(batch: Option<&str>) -> Result<usize> {
    match batch {
        None => Ok(0),
        Some(b) => b
            .strip_prefix('s')
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| Error::invalid_param(format!("Invalid next_batch token {b}"))),
    }
}

/// The `room_events` answer of `/search` for `criteria`, from `next_batch`.
pub async fn room_events(
    state: &AppState,
    sender: &Sender,
    criteria: &Criteria,
    next_batch: Option<&str>,
) -> Result<Value> {
    let offset = parse_batch(next_batch)?;
    let filter = &criteria.filter;
    let limit = filter
        .limit
        .map_or(DEFAULT_LIMIT, |l| u64::from(l) as usize)
        .clamp(1, MAX_LIMIT);
    let keys = match &criteria.keys {
        Some(keys) => keys.iter().map(key_column).collect::<Result<Vec<_>>>()?,
        None => vec!["content.body", "content.name", "content.topic"],
    };
    let recent = match &criteria.order_by {
        None | Some(OrderBy::Rank) => false,
        Some(OrderBy::Recent) => true,
        Some(other) => {
            return Err(Error::invalid_param(format!(
                "order_by must be rank or recent, not {}",
                other.as_str()
            )));
        }
    };
    let words = words(&criteria.search_term);
    let readable = readable_rooms(state, &sender.user_id, filter).await?;
    let rooms: Vec<String> = readable.keys().map(|r| r.to_string()).collect();
    let pool = state.chain()?.pool();
    let found = read::search(pool, &words, &keys, &rooms, recent, MAX_SCANNED)
        .await
        .map_err(store_error)?;
    let visible: Vec<(StoredEvent, f64)> = found
        .into_iter()
        .filter(|(e, _)| {
            readable
                .get(e.room_id.as_str())
                .is_some_and(|a| e.pos < a.end && a.window.can_see(e))
                && matches(filter, e)
        })
        .collect();
    let count = visible.len();
    let page: Vec<&(StoredEvent, f64)> = visible.iter().skip(offset).take(limit).collect();
    let viewer = Viewer::of(sender);
    let mut results = Vec::with_capacity(page.len());
    for (event, rank) in &page {
        let mut result = json!({
            "rank": rank,
            "result": to_client(pool, event, viewer).await?,
        });
        if let Some(context) = context(state, sender, criteria, &readable, event).await? {
            result["context"] = context;
        }
        results.push(result);
    }
    let mut answer = json!({
        "count": count,
        "highlights": words,
        "results": results,
    });
    if offset + page.len() < count {
        answer["next_batch"] = json!(format!("s{}", offset + page.len()));
    }
    if criteria.include_state == Some(true) {
        let mut states = Map::new();
        for room in page.iter().map(|(e, _)| e.room_id.as_str()) {
            if states.contains_key(room) || !readable.get(room).is_some_and(|a| a.joined) {
                continue;
            }
            let current = read::state_at(pool, room, i64::MAX)
                .await
                .map_err(store_error)?;
            states.insert(
                room.to_owned(),
                json!(to_client_all(pool, &current, viewer).await?),
            );
        }
        answer["state"] = Value::Object(states);
    }
    let groups = groups(criteria, &page)?;
    if !groups.is_empty() {
        answer["groups"] = Value::Object(groups);
    }
    Ok(answer)
}

/// The rooms the user may read that the filter admits, with how far the user may read each.
async fn readable_rooms(
    state: &AppState,
    user: &UserId,
    filter: &RoomEventFilter,
) -> Result<BTreeMap<String, Access>> {
    let pool = state.chain()?.pool();
    let mut rooms = BTreeMap::new();
    for (room, _, _) in read::rooms_of_user(pool, user.as_str())
        .await
        .map_err(store_error)?
    {
        if !admits_room(filter.rooms.as_deref(), &filter.not_rooms, &room) {
            continue;
        }
        let Ok(id) = OwnedRoomId::try_from(room.as_str()) else {
            continue;
        };
        // An encrypted room's server copy is ciphertext: never searched, even for a stray
        // plaintext event a client sent into it.
        let encrypted = read::state_entry_at(pool, &room, "m.room.encryption", "", i64::MAX)
            .await
            .map_err(store_error)?
            .is_some();
        if encrypted {
            continue;
        }
        // Rooms the user may not read (invites, knocks, never joined) are not searched.
        if let Ok(a) = access(state, user, &id).await {
            rooms.insert(room, a);
        }
    }
    Ok(rooms)
}

/// `event_context`: the events around a result that the user may see, with their senders'
/// profiles when asked.
async fn context(
    state: &AppState,
    sender: &Sender,
    criteria: &Criteria,
    readable: &BTreeMap<String, Access>,
    event: &StoredEvent,
) -> Result<Option<Value>> {
    let asked = &criteria.event_context;
    let (before, after) = (
        (u64::from(asked.before_limit) as usize).min(MAX_LIMIT),
        (u64::from(asked.after_limit) as usize).min(MAX_LIMIT),
    );
    if before == 0 && after == 0 && !asked.include_profile {
        return Ok(None);
    }
    let Some(access) = readable.get(event.room_id.as_str()) else {
        return Ok(None);
    };
    let pool = state.chain()?.pool();
    let all = RoomEventFilter::default();
    let earlier = page(
        pool,
        &event.room_id,
        &access.window,
        &all,
        Scan {
            from: event.pos,
            bound: 0,
            backwards: true,
            limit: before.max(1),
        },
    )
    .await?;
    let later = page(
        pool,
        &event.room_id,
        &access.window,
        &all,
        Scan {
            from: event.pos + 1,
            bound: access.end,
            backwards: false,
            limit: after.max(1),
        },
    )
    .await?;
    let earlier: Vec<StoredEvent> = earlier.events.into_iter().take(before).collect();
    let later: Vec<StoredEvent> = later.events.into_iter().take(after).collect();
    let viewer = Viewer::of(sender);
    let mut context = json!({
        "events_before": to_client_all(pool, &earlier, viewer).await?,
        "events_after": to_client_all(pool, &later, viewer).await?,
        "start": timeline_token(earlier.last().map_or(event.pos, |e| e.pos)),
        "end": timeline_token(later.last().map_or(event.pos + 1, |e| e.pos + 1)),
    });
    if asked.include_profile {
        let mut profiles = Map::new();
        for e in earlier
            .iter()
            .chain(later.iter())
            .chain(std::iter::once(event))
        {
            if profiles.contains_key(&e.sender) {
                continue;
            }
            let member =
                read::state_entry_at(pool, &e.room_id, "m.room.member", &e.sender, e.pos + 1)
                    .await
                    .map_err(store_error)?;
            let content = member
                .as_ref()
                .map(bare)
                .transpose()?
                .and_then(|m| m.get("content").cloned())
                .unwrap_or_else(|| json!({}));
            let mut profile = Map::new();
            for field in ["displayname", "avatar_url"] {
                if let Some(v) = content.get(field).filter(|v| v.is_string()) {
                    profile.insert(field.to_owned(), v.clone());
                }
            }
            profiles.insert(e.sender.clone(), Value::Object(profile));
        }
        context["profile_info"] = Value::Object(profiles);
    }
    Ok(Some(context))
}

/// `groupings`: the page's results grouped by room or by sender, in result order.
fn groups(criteria: &Criteria, page: &[&(StoredEvent, f64)]) -> Result<Map<String, Value>> {
    let mut out = Map::new();
    for grouping in &criteria.groupings.group_by {
        let (name, key): (&str, fn(&StoredEvent) -> &str) = match &grouping.key {
            Some(GroupingKey::RoomId) => ("room_id", |e| e.room_id.as_str()),
            Some(GroupingKey::Sender) => ("sender", |e| e.sender.as_str()),
            Some(other) => {
                return Err(Error::invalid_param(format!(
                    "Unknown grouping key {}",
                    other.as_str()
                )));
            }
            None => continue,
        };
        let mut groups: Map<String, Value> = Map::new();
        for (event, _) in page {
            let order = groups.len();
            let group = groups
                .entry(key(event).to_owned())
                .or_insert_with(|| json!({ "results": [], "order": order + 1 }));
            if let Some(results) = group["results"].as_array_mut() {
                results.push(json!(event.event_id));
            }
        }
        out.insert(name.to_owned(), Value::Object(groups));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::words;

    #[test]
    fn words_are_runs_of_letters_and_digits() {
        assert_eq!(words("Lunch at 12:30?"), ["lunch", "at", "12", "30"]);
        assert_eq!(
            words("\"quoted\" OR *star* -not"),
            ["quoted", "or", "star", "not"]
        );
        assert!(words("  ?!  ").is_empty());
        assert_eq!(words("Größe café"), ["größe", "café"]);
    }
}
