//! Sliding sync extensions: `to_device` (with its own `since`), `e2ee` (device list changes,
//! one-time key counts, unused fallback key types), `account_data` (global and per room),
//! `receipts` and `typing` for the rooms of the answer. Each is answered only when the
//! request enables it.

use std::collections::BTreeMap;

use ruma::api::client::sync::sync_events::v5::request::ExtensionRoomConfig;
use ruma::api::client::sync::sync_events::v5::{Request, response};
use ruma::serde::Raw;
use ruma::{OwnedRoomId, OwnedUserId};
use serde_json::{Value, json};

use crate::api::client::keys::{one_time_key_counts, unused_fallback_key_types};
use crate::error::{Error, Result};
use crate::services::auth::Sender;
use crate::services::keys;
use crate::services::sliding_sync::rooms::Wanted;
use crate::services::sync::SyncResult;
use crate::state::AppState;

/// Where each room's data comes from: the `/sync` computation that covered it.
pub struct Sources<'a> {
    /// The computation global data (account data) comes from.
    pub global: Option<&'a SyncResult>,
    /// Per room of the answer, its computation.
    pub rooms: Vec<(OwnedRoomId, &'a SyncResult)>,
    /// Why each room is in the answer: the lists whose windows hold it, a subscription.
    pub wanted: &'a BTreeMap<String, Wanted>,
    /// The position the connection had (`None` for a new connection).
    pub since: Option<i64>,
    /// The position of this answer.
    pub end: i64,
}

fn reraw<T>(json: &str) -> Raw<T> {
    Raw::from_json(serde_json::value::RawValue::from_string(json.to_owned()).expect("valid JSON"))
}

fn user_ids(users: &[String]) -> Vec<OwnedUserId> {
    users
        .iter()
        .filter_map(|u| OwnedUserId::try_from(u.as_str()).ok())
        .collect()
}

/// Whether an extension's `lists` and `rooms` scope take in a room of the answer. As
/// Synapse has it: an absent `lists` means every list and `*` any list; an absent `rooms`
/// means every room subscription, `*` any, and a room id that room when it is subscribed.
fn in_scope(
    lists: Option<&[String]>,
    rooms: Option<&[ExtensionRoomConfig]>,
    room_id: &OwnedRoomId,
    wanted: &BTreeMap<String, Wanted>,
) -> bool {
    let Some(w) = wanted.get(room_id.as_str()) else {
        return false;
    };
    let by_list = match lists {
        None => !w.lists.is_empty(),
        Some(names) => names
            .iter()
            .any(|n| n == "*" || w.lists.contains(n.as_str())),
    };
    let by_subscription = w.subscribed
        && rooms.is_none_or(|rooms| {
            rooms.iter().any(|r| match r {
                ExtensionRoomConfig::AllSubscribed => true,
                ExtensionRoomConfig::Room(id) => id == room_id,
                _ => false,
            })
        });
    by_list || by_subscription
}

/// The extensions part of the answer.
pub async fn extensions(
    state: &AppState,
    sender: &Sender,
    req: &Request,
    sources: &Sources<'_>,
) -> Result<response::Extensions> {
    let asked = &req.extensions;
    let mut out = response::Extensions::default();
    if asked.to_device.enabled == Some(true) {
        let since =
            match asked.to_device.since.as_deref() {
                None => None,
                Some(s) => Some(s.parse::<i64>().map_err(|_| {
                    Error::invalid_param(format!("Invalid to_device since token {s}"))
                })?),
            };
        let limit = asked.to_device.limit.map_or(100, u64::from).clamp(1, 1000) as usize;
        let mut to_device = response::ToDevice::default();
        let messages = keys::to_device_inbox(state, sender, since, sources.end).await?;
        // A page at most `limit` long; the next one starts after its last message.
        let mut next = sources.end;
        for message in messages.iter().take(limit) {
            let content: Value = serde_json::from_str(&message.content)
                .map_err(|e| Error::Internal(format!("stored to-device content: {e}")))?;
            to_device
                .events
                .push(crate::services::rooms::client_event::raw(&json!({
                    "sender": message.sender,
                    "type": message.event_type,
                    "content": content,
                }))?);
        }
        if messages.len() > limit
            && let Some(last) = messages.get(limit - 1)
        {
            next = last.pos + 1;
        }
        to_device.next_batch = next.to_string();
        out.to_device = Some(to_device);
    }
    if asked.e2ee.enabled == Some(true) {
        if let Some(from) = sources.since {
            out.e2ee.device_lists.changed =
                user_ids(&keys::changed_users(state, sender, from, sources.end).await?);
            out.e2ee.device_lists.left =
                user_ids(&keys::left_users(state, sender, from, sources.end).await?);
        }
        out.e2ee.device_one_time_keys_count = one_time_key_counts(state, sender).await?;
        out.e2ee.device_unused_fallback_key_types =
            Some(unused_fallback_key_types(state, sender).await?);
    }
    if asked.account_data.enabled == Some(true) {
        if let Some(global) = sources.global {
            out.account_data.global = global
                .account_data
                .events
                .iter()
                .map(|e| reraw(e.json().get()))
                .collect();
        }
        let scope = &asked.account_data;
        for (room_id, source) in &sources.rooms {
            if !in_scope(
                scope.lists.as_deref(),
                scope.rooms.as_deref(),
                room_id,
                sources.wanted,
            ) {
                continue;
            }
            if let Some(joined) = source.rooms.join.get(room_id)
                && !joined.account_data.events.is_empty()
            {
                out.account_data.rooms.insert(
                    room_id.clone(),
                    joined
                        .account_data
                        .events
                        .iter()
                        .map(|e| reraw(e.json().get()))
                        .collect(),
                );
            }
        }
    }
    let receipts = asked.receipts.enabled == Some(true);
    let typing = asked.typing.enabled == Some(true);
    if receipts || typing {
        let mut found_receipts = BTreeMap::new();
        let mut found_typing = BTreeMap::new();
        for (room_id, source) in &sources.rooms {
            let Some(joined) = source.rooms.join.get(room_id) else {
                continue;
            };
            let scoped = |lists: &Option<Vec<String>>, rooms: &Option<Vec<ExtensionRoomConfig>>| {
                in_scope(lists.as_deref(), rooms.as_deref(), room_id, sources.wanted)
            };
            let receipts = receipts && scoped(&asked.receipts.lists, &asked.receipts.rooms);
            let typing = typing && scoped(&asked.typing.lists, &asked.typing.rooms);
            for event in &joined.ephemeral.events {
                match event.get_field::<String>("type").ok().flatten().as_deref() {
                    Some("m.receipt") if receipts => {
                        found_receipts.insert(room_id.clone(), reraw(event.json().get()));
                    }
                    Some("m.typing") if typing => {
                        found_typing.insert(room_id.clone(), reraw(event.json().get()));
                    }
                    _ => {}
                }
            }
        }
        out.receipts.rooms = found_receipts;
        out.typing.rooms = found_typing;
    }
    Ok(out)
}
