//! The rooms of a sliding sync answer: which of the user's rooms there are (with what the
//! list filters look at), and each room's entry, built from a `/sync` computation.

use std::collections::BTreeSet;

use consort_bridge::rooms::read::{self, StoredEvent};
use ruma::api::client::sync::sync_events::v5::request::ListFilters;
use ruma::api::client::sync::sync_events::v5::response;
use ruma::events::StateEventType;
use ruma::serde::Raw;
use ruma::{OwnedMxcUri, OwnedUserId, UInt};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::services::auth::Sender;
use crate::services::rooms::client_event::{Viewer, raw, to_client};
use crate::services::rooms::send::store_error;
use crate::services::sync::SyncResult;
use crate::state::AppState;
use crate::storage::account_data;

/// One of the user's rooms, with what the list filters and the ordering need.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// Room id.
    pub room_id: String,
    /// The user's membership: `join`, `invite` or `knock`.
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
    /// Whether a list's filters admit the room.
    pub fn admitted_by(&self, f: &ListFilters) -> bool {
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

/// The user's joined, invited and knocked rooms below position `end`.
pub async fn candidates(state: &AppState, user: &str, end: i64) -> Result<Vec<Candidate>> {
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
    for (room_id, membership, bump) in read::rooms_by_recency(pool, user, end)
        .await
        .map_err(store_error)?
    {
        if !matches!(membership.as_str(), "join" | "invite" | "knock") {
            continue;
        }
        let entry = |kind: &'static str, key: String| {
            let room_id = room_id.clone();
            async move {
                read::state_entry_at(pool, &room_id, kind, &key, end)
                    .await
                    .map_err(store_error)
            }
        };
        let encrypted = entry("m.room.encryption", String::new()).await?.is_some();
        let room_type = entry("m.room.create", String::new())
            .await?
            .and_then(|e| content_of(&e)["type"].as_str().map(str::to_owned));
        let invited_direct = membership == "invite"
            && entry("m.room.member", user.to_owned())
                .await?
                .is_some_and(|e| content_of(&e)["is_direct"] == Value::Bool(true));
        out.push(Candidate {
            is_dm: direct.contains(&room_id) || invited_direct,
            room_id,
            membership,
            bump,
            encrypted,
            room_type,
        });
    }
    Ok(out)
}

fn raw_state<T>(value: &Value) -> Result<Raw<T>> {
    raw(value)
}

/// The entry of one room, `None` when the connection has the room and nothing changed.
/// `source` is the `/sync` computation the room's timeline comes from; `since` is where
/// the connection has the room up to (`None`: the room is new to it).
pub async fn room_entry(
    state: &AppState,
    sender: &Sender,
    candidate: &Candidate,
    wanted: &Wanted,
    source: Option<&SyncResult>,
    (since, end): (Option<i64>, i64),
) -> Result<Option<response::Room>> {
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
    if candidate.membership != "join" {
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
        return Ok(Some(room));
    }

    let joined = source.and_then(|s| s.rooms.join.get(&id));
    if !initial && joined.is_none() {
        return Ok(None);
    }
    let mut lazy = BTreeSet::new();
    if let Some(joined) = joined {
        room.timeline = joined.timeline.events.clone();
        room.limited = joined.timeline.limited;
        room.prev_batch = joined.timeline.prev_batch.clone();
        room.unread_notifications = joined.unread_notifications.clone();
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
    let state_events = match since {
        None => read::state_at(pool, room_id, end).await,
        Some(from) => read::state_changes(pool, room_id, from, end).await,
    }
    .map_err(store_error)?;
    let mut latest: std::collections::BTreeMap<(String, String), StoredEvent> =
        std::collections::BTreeMap::new();
    for e in state_events {
        let key = (e.kind.clone(), e.state_key.clone().unwrap_or_default());
        latest.insert(key, e);
    }
    let viewer = Viewer::of(sender);
    for ((kind, key), e) in &latest {
        if kind == "m.room.name" {
            room.name = content_of(e)["name"].as_str().map(str::to_owned);
        }
        if kind == "m.room.avatar" {
            room.avatar = match content_of(e)["url"].as_str() {
                Some(url) => ruma::JsOption::Some(OwnedMxcUri::from(url)),
                None => ruma::JsOption::Null,
            };
        }
        if wanted.wants(kind, key, me, &lazy) {
            room.required_state
                .push(raw_state(&to_client(pool, e, viewer).await?)?);
        }
    }
    let joined_members = read::members(pool, room_id, "join")
        .await
        .map_err(store_error)?;
    let invited = read::members(pool, room_id, "invite")
        .await
        .map_err(store_error)?;
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
    Ok(Some(room))
}
