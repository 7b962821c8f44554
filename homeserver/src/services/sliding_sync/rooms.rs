//! The rooms of a sliding sync answer: which of the user's rooms there are (with what the
//! list filters look at), and each room's entry, built from a `/sync` computation.

use std::collections::{BTreeSet, HashMap};

use consort_bridge::rooms::read::{self, StoredEvent};
use ruma::api::client::sync::sync_events::v5::request::ListFilters;
use ruma::api::client::sync::sync_events::v5::response;
use ruma::events::StateEventType;
use ruma::serde::Raw;
use ruma::{OwnedMxcUri, OwnedUserId, UInt};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::services::auth::Sender;
use crate::services::rooms::client_event::{Viewer, raw, to_client_all};
use crate::services::rooms::send::store_error;
use crate::services::sync::SyncResult;
use crate::state::AppState;
use crate::storage::account_data;

/// One of the user's rooms, with what the list filters and the ordering need.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// Room id.
    pub room_id: String,
    /// The user's membership: `join`, `invite` or `knock`; `leave` or `ban` for a room
    /// the connection has that the user has just left.
    pub membership: String,
    /// Recency: the position of the room's latest event.
    pub bump: i64,
    /// Whether the room is encrypted.
    pub encrypted: bool,
    /// The room's type (`m.space`, ...) from its create event.
    pub room_type: Option<String>,
    /// Whether the room is a direct chat for the user (`m.direct`, or a direct invite).
    pub is_dm: bool,
}

impl Candidate {
    /// Whether a list's filters admit the room; `in_spaces` is what the list's `spaces`
    /// filter admits, when it has one.
    pub fn admitted_by(&self, f: &ListFilters, in_spaces: Option<&BTreeSet<String>>) -> bool {
        if in_spaces.is_some_and(|children| !children.contains(&self.room_id)) {
            return false;
        }
        if f.is_invite
            .is_some_and(|want| want != (self.membership == "invite"))
        {
            return false;
        }
        if f.is_encrypted.is_some_and(|want| want != self.encrypted) {
            return false;
        }
        if f.is_dm.is_some_and(|want| want != self.is_dm) {
            return false;
        }
        let kind = self.room_type.as_deref();
        if !f.room_types.is_empty() && !f.room_types.iter().any(|t| t.as_str() == kind) {
            return false;
        }
        !f.not_room_types.iter().any(|t| t.as_str() == kind)
    }
}

/// What the lists and subscriptions that want a room ask of it.
#[derive(Debug, Clone, Default)]
pub struct Wanted {
    /// `(type, state_key)` patterns: `*`, `$ME`, `$LAZY`.
    pub required_state: Vec<(StateEventType, String)>,
    /// Timeline events wanted.
    pub timeline_limit: u64,
    /// The lists whose windows hold the room.
    pub lists: BTreeSet<String>,
    /// Whether a room subscription names the room.
    pub subscribed: bool,
}

impl Wanted {
    /// Adds what one more list or subscription asks.
    pub fn merge(&mut self, required_state: &[(StateEventType, String)], timeline_limit: UInt) {
        for entry in required_state {
            if !self.required_state.contains(entry) {
                self.required_state.push(entry.clone());
            }
        }
        self.timeline_limit = self.timeline_limit.max(u64::from(timeline_limit));
    }

    /// Whether the required state asks for `(kind, key)`.
    fn wants(&self, kind: &str, key: &str, me: &str, lazy: &BTreeSet<String>) -> bool {
        self.required_state.iter().any(|(t, k)| {
            let t = t.to_string();
            (t == "*" || t == kind)
                && (k == "*"
                    || k == key
                    || (k == "$ME" && key == me)
                    || (k == "$LAZY" && kind == "m.room.member" && lazy.contains(key)))
        })
    }
}

fn content_of(event: &StoredEvent) -> Value {
    serde_json::from_str::<Value>(&event.json)
        .map(|v| v["content"].clone())
        .unwrap_or(Value::Null)
}

/// The user's joined, invited and knocked rooms below position `end`, and the rooms of
/// `sent` (those the connection has) the user left or was banned from at or after `since`:
/// the client is sent those once more, with the leave, so it drops them.
pub async fn candidates(
    state: &AppState,
    user: &str,
    end: i64,
    left_after: Option<(i64, &BTreeSet<String>)>,
) -> Result<Vec<Candidate>> {
    let pool = state.chain()?.pool();
    let direct: BTreeSet<String> = account_data::get(&state.db.pool, user, "", "m.direct")
        .await?
        .and_then(|c| serde_json::from_str::<Value>(&c).ok())
        .and_then(|v| {
            v.as_object().map(|m| {
                m.values()
                    .filter_map(Value::as_array)
                    .flatten()
                    .filter_map(|r| r.as_str().map(str::to_owned))
                    .collect()
            })
        })
        .unwrap_or_default();
    let mut out = Vec::new();
    for room in read::rooms_by_recency(pool, user, end)
        .await
        .map_err(store_error)?
    {
        let mut bump = room.bump;
        match room.membership.as_str() {
            "join" | "invite" | "knock" => {}
            "leave" | "ban"
                if left_after.is_some_and(|(since, sent)| {
                    room.membership_pos >= since
                        && room.membership_pos < end
                        && sent.contains(&room.room_id)
                }) =>
            {
                // What came after the leave is not the user's to see.
                bump = bump.min(room.membership_pos);
            }
            _ => continue,
        }
        let room_type = room
            .create_json
            .as_deref()
            .and_then(|json| serde_json::from_str::<Value>(json).ok())
            .and_then(|v| v["content"]["type"].as_str().map(str::to_owned));
        let invited_direct = room.membership == "invite"
            && read::state_entry_at(pool, &room.room_id, "m.room.member", user, end)
                .await
                .map_err(store_error)?
                .is_some_and(|e| content_of(&e)["is_direct"] == Value::Bool(true));
        out.push(Candidate {
            is_dm: direct.contains(&room.room_id) || invited_direct,
            room_id: room.room_id,
            membership: room.membership,
            bump,
            encrypted: room.encrypted,
            room_type,
        });
    }
    Ok(out)
}

/// The rooms that the spaces of a `spaces` list filter have as children (an
/// `m.space.child` state event with a non-empty `via`), at position `end`. Only spaces the
/// user is joined to count: a space's children are not the business of those outside it.
pub async fn space_children(
    state: &AppState,
    spaces: &[String],
    joined: &BTreeSet<&str>,
    end: i64,
) -> Result<BTreeSet<String>> {
    let pool = state.chain()?.pool();
    let mut children = BTreeSet::new();
    for space in spaces.iter().filter(|s| joined.contains(s.as_str())) {
        for event in read::state_at(pool, space, end)
            .await
            .map_err(store_error)?
        {
            let has_via = content_of(&event)["via"]
                .as_array()
                .is_some_and(|v| !v.is_empty());
            if event.kind == "m.space.child"
                && has_via
                && let Some(child) = event.state_key
            {
                children.insert(child);
            }
        }
    }
    Ok(children)
}

fn raw_state<T>(value: &Value) -> Result<Raw<T>> {
    raw(value)
}

/// What the entries of an answer's rooms read, read for all of them at once (a query per
/// [`read::IN_LIST_MAX`] rooms instead of one per room).
#[derive(Debug, Default)]
pub struct Prefetched {
    /// The current state (at the answer's token) of the joined rooms new to the connection;
    /// the state of a room without an entry here is read on its own.
    pub state: HashMap<String, Vec<StoredEvent>>,
    /// The joined and the invited members of every room of the answer.
    pub members: HashMap<String, (Vec<String>, Vec<String>)>,
}

impl Prefetched {
    /// Reads the state at `end` of `new_joined` and the members of `rooms`.
    pub async fn read(
        state: &AppState,
        new_joined: &[&str],
        rooms: &[&str],
        end: i64,
    ) -> Result<Self> {
        let pool = state.chain()?.pool();
        let mut out = Self::default();
        for chunk in new_joined.chunks(read::IN_LIST_MAX) {
            out.state.extend(
                read::state_at_of(pool, chunk, end)
                    .await
                    .map_err(store_error)?,
            );
        }
        for chunk in rooms.chunks(read::IN_LIST_MAX) {
            out.members.extend(
                read::joined_and_invited_of(pool, chunk)
                    .await
                    .map_err(store_error)?,
            );
        }
        Ok(out)
    }
}

/// One room's entry before its required state is rendered: the entry, and the state events
/// it is to hold, in order ([`render_required_state`] renders those of all rooms at once).
pub type Unrendered = (response::Room, Vec<StoredEvent>);

/// The entry of one room, `None` when the connection has the room and nothing changed.
/// `source` is the `/sync` computation the room's timeline comes from; `since` is where
/// the connection has the room up to (`None`: the room is new to it).
pub async fn room_entry(
    state: &AppState,
    sender: &Sender,
    candidate: &Candidate,
    wanted: &Wanted,
    source: Option<&SyncResult>,
    prefetched: &Prefetched,
    (since, end): (Option<i64>, i64),
) -> Result<Option<Unrendered>> {
    let pool = state.chain()?.pool();
    let me = sender.user_id.as_str();
    let room_id = candidate.room_id.as_str();
    let initial = since.is_none();
    let id = ruma::OwnedRoomId::try_from(room_id)
        .map_err(|e| Error::Internal(format!("stored room id: {e}")))?;
    let mut room = response::Room::new();
    room.bump_stamp = UInt::try_from(candidate.bump.max(0) as u64).ok();
    if initial {
        room.initial = Some(true);
        room.is_dm = Some(candidate.is_dm);
    }
    let left = matches!(candidate.membership.as_str(), "leave" | "ban");
    if !left && candidate.membership != "join" {
        if !initial {
            return Ok(None);
        }
        let stripped = source.and_then(|s| {
            s.rooms
                .invite
                .get(&id)
                .map(|r| {
                    r.invite_state
                        .events
                        .iter()
                        .map(|e| e.json().get())
                        .collect::<Vec<_>>()
                })
                .or_else(|| {
                    s.rooms.knock.get(&id).map(|r| {
                        r.knock_state
                            .events
                            .iter()
                            .map(|e| e.json().get())
                            .collect::<Vec<_>>()
                    })
                })
        });
        let mut events = Vec::new();
        for json in stripped.unwrap_or_default() {
            let value: Value = serde_json::from_str(json)
                .map_err(|e| Error::Internal(format!("stripped state: {e}")))?;
            if value["type"] == "m.room.name" {
                room.name = value["content"]["name"].as_str().map(str::to_owned);
            }
            events.push(raw(&value)?);
        }
        room.invite_state = Some(events);
        return Ok(Some((room, Vec::new())));
    }

    // A room just left is seen up to the leave (its bump), a joined one up to `end`.
    let end = if left { candidate.bump + 1 } else { end };
    let timeline = source.and_then(|s| {
        if left {
            s.rooms.leave.get(&id).map(|r| (&r.timeline, None))
        } else {
            s.rooms
                .join
                .get(&id)
                .map(|r| (&r.timeline, Some(&r.unread_notifications)))
        }
    });
    if !initial && timeline.is_none() {
        return Ok(None);
    }
    let mut lazy = BTreeSet::new();
    if let Some((timeline, unread)) = timeline {
        room.timeline = timeline.events.clone();
        room.limited = timeline.limited;
        room.prev_batch = timeline.prev_batch.clone();
        if let Some(unread) = unread {
            room.unread_notifications = unread.clone();
        }
        if !initial {
            room.num_live = UInt::try_from(room.timeline.len() as u64).ok();
        }
        for e in &room.timeline {
            if let Ok(Some(sender)) = e.get_field::<String>("sender") {
                lazy.insert(sender);
            }
        }
    }
    // Required state: all of it that matches for a new room, what changed for the others.
    let state_events = match (since, prefetched.state.get(room_id)) {
        (None, Some(current)) if !left => Ok(current.clone()),
        (None, _) => read::state_at(pool, room_id, end).await,
        (Some(from), _) => read::state_changes(pool, room_id, from, end).await,
    }
    .map_err(store_error)?;
    let mut latest: std::collections::BTreeMap<(String, String), StoredEvent> =
        std::collections::BTreeMap::new();
    for e in state_events {
        let key = (e.kind.clone(), e.state_key.clone().unwrap_or_default());
        latest.insert(key, e);
    }
    let mut required = Vec::new();
    for ((kind, key), e) in latest {
        if kind == "m.room.name" {
            room.name = content_of(&e)["name"].as_str().map(str::to_owned);
        }
        if kind == "m.room.avatar" {
            room.avatar = match content_of(&e)["url"].as_str() {
                Some(url) => ruma::JsOption::Some(OwnedMxcUri::from(url)),
                None => ruma::JsOption::Null,
            };
        }
        if wanted.wants(&kind, &key, me, &lazy) {
            required.push(e);
        }
    }
    let (joined_members, invited) = prefetched.members.get(room_id).cloned().unwrap_or_default();
    room.joined_count = UInt::try_from(joined_members.len() as u64).ok();
    room.invited_count = UInt::try_from(invited.len() as u64).ok();
    if initial && room.name.is_none() {
        let mut heroes = Vec::new();
        for user in joined_members
            .iter()
            .chain(invited.iter())
            .filter(|u| *u != me)
            .take(5)
        {
            let Ok(user_id) = OwnedUserId::try_from(user.as_str()) else {
                continue;
            };
            let mut hero = response::Hero::new(user_id);
            if let Some(member) = read::state_entry_at(pool, room_id, "m.room.member", user, end)
                .await
                .map_err(store_error)?
            {
                let content = content_of(&member);
                hero.name = content["displayname"].as_str().map(str::to_owned);
                hero.avatar = content["avatar_url"].as_str().map(OwnedMxcUri::from);
            }
            heroes.push(hero);
        }
        room.heroes = Some(heroes);
    }
    Ok(Some((room, required)))
}

/// Renders the required state of every room of an answer in one batch (what rendering
/// needs besides the events is read in a few queries for all of them) and puts it in place.
pub async fn render_required_state(
    state: &AppState,
    sender: &Sender,
    rooms: Vec<(ruma::OwnedRoomId, Unrendered)>,
) -> Result<std::collections::BTreeMap<ruma::OwnedRoomId, response::Room>> {
    let pool = state.chain()?.pool();
    let events: Vec<StoredEvent> = rooms
        .iter()
        .flat_map(|(_, (_, required))| required.iter().cloned())
        .collect();
    let mut rendered = to_client_all(pool, &events, Viewer::of(sender))
        .await?
        .into_iter();
    let mut out = std::collections::BTreeMap::new();
    for (id, (mut room, required)) in rooms {
        for _ in 0..required.len() {
            let event = rendered.next().ok_or_else(|| {
                Error::Internal("a required state event rendered as nothing".into())
            })?;
            room.required_state.push(raw_state(&event)?);
        }
        out.insert(id, room);
    }
    Ok(out)
}
