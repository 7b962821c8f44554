//! `/sync`: what changed for a user between two tokens. Room data comes from the ledger's
//! projection up to one applied block (the token's height), so any node answers the same
//! history the same way; account data, private receipts and typing are org-local. A request
//! with nothing new waits (long-polls) until a block is applied or something local changes.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use consort_bridge::rooms::read::{self, IN_LIST_MAX, ReceiptRow, StoredEvent};
use futures::StreamExt;
use ruma::api::client::filter::{FilterDefinition, RoomEventFilter};
use ruma::api::client::sync::sync_events::UnreadNotificationsCount;
use ruma::api::client::sync::sync_events::v3::{
    Ephemeral, GlobalAccountData, InviteState, InvitedRoom, JoinedRoom, KnockState, KnockedRoom,
    LeftRoom, RoomAccountData, Rooms, State, StateEvents, Timeline,
};
use ruma::push::Ruleset;
use ruma::{OwnedRoomId, OwnedUserId, UInt};
use serde_json::{Value, json};
use sqlx::AnyPool;

use crate::error::{Error, Result};
use crate::services::auth::Sender;
use crate::services::keys;
use crate::services::push_rules;
use crate::services::rooms::client_event::{Viewer, raw, stripped, to_client_all};
use crate::services::rooms::filter::{admits_room, matches};
use crate::services::rooms::notifications::{read_positions as read_positions_of, unread_after};
use crate::services::rooms::send::store_error;
use crate::services::rooms::timeline::{Scan, page};
use crate::services::rooms::visibility::{Window, windows};
use crate::services::tokens::{SyncToken, timeline_token};
use crate::state::AppState;
use crate::storage::private_receipts::PrivateReceipt;
use crate::storage::{account_data, forgotten, local_stream, private_receipts};

/// Timeline events per room when the filter does not say.
const DEFAULT_TIMELINE_LIMIT: usize = 10;

/// The longest a `/sync` waits, whatever `timeout` the client asks for.
const MAX_TIMEOUT: Duration = Duration::from_secs(120);

/// State event types shown in an invite (stripped state).
const INVITE_STATE: [&str; 7] = [
    "m.room.create",
    "m.room.join_rules",
    "m.room.name",
    "m.room.avatar",
    "m.room.canonical_alias",
    "m.room.encryption",
    "m.room.topic",
];

/// What one `/sync` request asks for.
#[derive(Debug, Clone, Default)]
pub struct SyncRequest {
    /// The filter in force.
    pub filter: FilterDefinition,
    /// Where the client left off; `None` for an initial sync.
    pub since: Option<SyncToken>,
    /// Send the full state of every room.
    pub full_state: bool,
    /// How long to wait for something new.
    pub timeout: Duration,
    /// Answer as of this token instead of now (sliding sync computes several parts of one
    /// answer at one token).
    pub upto: Option<SyncToken>,
}

/// A `/sync` answer before it becomes ruma's response type.
#[derive(Debug, Default)]
pub struct SyncResult {
    /// The token of the next request.
    pub next_batch: SyncToken,
    /// Room sections.
    pub rooms: Rooms,
    /// Global account data.
    pub account_data: GlobalAccountData,
    /// To-device messages for the requesting device.
    pub to_device: Vec<Value>,
    /// Users whose device lists changed since the request's token (sharing a room with the
    /// requester).
    pub device_lists_changed: Vec<String>,
    /// Users who no longer share any room with the requester since the request's token.
    pub device_lists_left: Vec<String>,
}

impl SyncResult {
    fn is_empty(&self) -> bool {
        self.rooms.join.is_empty()
            && self.rooms.invite.is_empty()
            && self.rooms.knock.is_empty()
            && self.rooms.leave.is_empty()
            && self.account_data.events.is_empty()
            && self.to_device.is_empty()
            && self.device_lists_changed.is_empty()
            && self.device_lists_left.is_empty()
    }
}

/// Answers a `/sync`, waiting up to the timeout when there is nothing new.
pub async fn sync(state: &AppState, sender: &Sender, req: &SyncRequest) -> Result<SyncResult> {
    let chain = state.chain()?;
    let deadline = tokio::time::Instant::now() + req.timeout.min(MAX_TIMEOUT);
    let mut tip = chain.watch_applied();
    let mut local = state.notifier.subscribe();
    loop {
        tip.borrow_and_update();
        local.borrow_and_update();
        let result = compute(state, sender, req).await?;
        if req.since.is_none()
            || req.full_state
            || !result.is_empty()
            || tokio::time::Instant::now() >= deadline
        {
            return Ok(result);
        }
        tokio::select! {
            changed = tip.changed() => {
                if changed.is_err() {
                    return Ok(result);
                }
            }
            _ = local.changed() => {}
            _ = tokio::time::sleep_until(deadline) => return Ok(result),
        }
    }
}

/// The current token: last applied block, local stream value, typing serial.
pub async fn current_token(state: &AppState) -> Result<SyncToken> {
    Ok(SyncToken {
        height: state.chain()?.applied_height(),
        local: local_stream::current(&state.db.pool).await?,
        typing: state.typing.serial(),
    })
}

/// One room's section in the making: the request's shared inputs and the room.
struct RoomCx<'a> {
    shared: &'a Shared<'a>,
    room_id: &'a str,
}

impl RoomCx<'_> {
    fn timeline_filter(&self) -> &RoomEventFilter {
        &self.shared.req.filter.room.timeline
    }

    fn lazy_members(&self) -> bool {
        !self
            .shared
            .req
            .filter
            .room
            .state
            .lazy_load_options
            .is_disabled()
    }

    /// The timeline of visible events before `end` and after `since` (exclusive bounds as
    /// positions), the newest `limit`, oldest first; with `limited` and `prev_batch`.
    async fn timeline(
        &self,
        window: &Window,
        since: i64,
        end: i64,
    ) -> Result<(Vec<StoredEvent>, bool, Option<String>)> {
        let limit = self
            .timeline_filter()
            .limit
            .map(|l| u64::from(l) as usize)
            .unwrap_or(DEFAULT_TIMELINE_LIMIT)
            .clamp(1, 1000);
        let scan = Scan {
            from: end,
            bound: since,
            backwards: true,
            limit: limit + 1,
        };
        let mut p = page(
            self.shared.pool,
            self.room_id,
            window,
            self.timeline_filter(),
            scan,
        )
        .await?;
        let limited = p.events.len() > limit;
        p.events.truncate(limit);
        p.events.reverse();
        let prev_batch = match p.events.first() {
            Some(e) => Some(timeline_token(e.pos)),
            None => Some(timeline_token(end)),
        };
        Ok((p.events, limited, prev_batch))
    }

    /// State events to send: the full state before the timeline (`full`), else the state
    /// changes between `since` and the timeline; member events lazily when the filter asks;
    /// only those the filter's `state` part admits.
    async fn state_section(
        &self,
        full: bool,
        since: i64,
        timeline: &[StoredEvent],
        end: i64,
    ) -> Result<Vec<StoredEvent>> {
        let filter = &self.shared.req.filter.room.state;
        if filter.types.as_ref().is_some_and(Vec::is_empty) {
            // The client wants no state (sliding sync reads its own).
            return Ok(Vec::new());
        }
        let start = timeline.first().map_or(end, |e| e.pos);
        let mut events = if full {
            read::state_at(self.shared.pool, self.room_id, start)
                .await
                .map_err(store_error)?
        } else {
            let changes = read::state_changes(self.shared.pool, self.room_id, since, start)
                .await
                .map_err(store_error)?;
            let mut latest: BTreeMap<(String, Option<String>), StoredEvent> = BTreeMap::new();
            for e in changes {
                latest.insert((e.kind.clone(), e.state_key.clone()), e);
            }
            latest.into_values().collect()
        };
        if self.lazy_members() {
            let mut wanted: BTreeSet<&str> = timeline.iter().map(|e| e.sender.as_str()).collect();
            wanted.insert(self.shared.sender.user_id.as_str());
            let mut present: BTreeSet<String> = BTreeSet::new();
            events.retain(|e| {
                let keep = e.kind != "m.room.member"
                    || e.state_key.as_deref().is_some_and(|k| wanted.contains(k));
                if keep && e.kind == "m.room.member" {
                    present.extend(e.state_key.clone());
                }
                keep
            });
            if !full {
                // Senders whose member event the client may not have: send it along.
                for user in wanted.iter().filter(|u| !present.contains(**u)) {
                    if let Some(e) = read::state_entry_at(
                        self.shared.pool,
                        self.room_id,
                        "m.room.member",
                        user,
                        start,
                    )
                    .await
                    .map_err(store_error)?
                    {
                        events.push(e);
                    }
                }
            }
        }
        events.retain(|e| matches(filter, e));
        Ok(events)
    }

    async fn ephemeral(&self, since: Option<SyncToken>) -> Result<Ephemeral> {
        let mut ephemeral = Ephemeral::new();
        let from = since.map_or(0, |s| s.end());
        // Read once for all rooms from the request's own `since`; a room new to this sync
        // reads its whole range.
        let read_here;
        let receipts: &[ReceiptRow] = if from == self.shared.receipts_from {
            self.shared
                .receipts
                .get(self.room_id)
                .map_or(&[], Vec::as_slice)
        } else {
            read_here = read::receipts(self.shared.pool, self.room_id, from, self.shared.to.end())
                .await
                .map_err(store_error)?;
            &read_here
        };
        let mut content: BTreeMap<String, Value> = BTreeMap::new();
        for r in receipts.iter().cloned() {
            let mut entry = json!({ "ts": r.ts });
            if !r.thread_id.is_empty() {
                entry["thread_id"] = json!(r.thread_id);
            }
            let by_event = content.entry(r.event_id).or_insert_with(|| json!({}));
            by_event[&r.receipt_type][&r.user_id] = entry;
        }
        // The request's own range is read once for all rooms; a room new to this sync
        // (since `None`) reads its whole range.
        let from_local = since.map_or(0, |s| s.local);
        let read_here;
        let own: &[PrivateReceipt] = if from_local == self.shared.req.since.map_or(0, |s| s.local) {
            self.shared.own_receipts
        } else {
            read_here = private_receipts::changed(
                self.shared.pool,
                self.shared.sender.user_id.as_str(),
                from_local,
                self.shared.to.local,
            )
            .await?;
            &read_here
        };
        for r in own.iter().filter(|r| r.room_id == self.room_id) {
            let mut entry = json!({ "ts": r.ts });
            if !r.thread_id.is_empty() {
                entry["thread_id"] = json!(r.thread_id);
            }
            let by_event = content
                .entry(r.event_id.clone())
                .or_insert_with(|| json!({}));
            by_event["m.read.private"][self.shared.sender.user_id.as_str()] = entry;
        }
        if !content.is_empty() {
            let event = json!({ "type": "m.receipt", "content": content });
            ephemeral.events.push(raw(&event)?);
        }
        let typing = self
            .shared
            .state
            .typing
            .changed_since(self.room_id, since.map_or(0, |s| s.typing));
        if let Some(users) = typing
            && (since.is_some() || !users.is_empty())
        {
            let event = json!({ "type": "m.typing", "content": { "user_ids": users } });
            ephemeral.events.push(raw(&event)?);
        }
        Ok(ephemeral)
    }

    async fn room_account_data(
        &self,
        changed: &[account_data::AccountData],
    ) -> Result<RoomAccountData> {
        let mut data = RoomAccountData::new();
        for entry in changed.iter().filter(|a| a.room_id == self.room_id) {
            data.events.push(raw(&account_data_event(entry)?)?);
        }
        Ok(data)
    }

    async fn summary(&self) -> Result<ruma::api::client::sync::sync_events::v3::RoomSummary> {
        let (joined, invited) = self
            .shared
            .members
            .get(self.room_id)
            .cloned()
            .unwrap_or_default();
        let mut summary = ruma::api::client::sync::sync_events::v3::RoomSummary::new();
        summary.joined_member_count = UInt::try_from(joined.len() as u64).ok();
        summary.invited_member_count = UInt::try_from(invited.len() as u64).ok();
        summary.heroes = joined
            .iter()
            .chain(invited.iter())
            .filter(|u| *u != self.shared.sender.user_id.as_str())
            .take(5)
            .filter_map(|u| OwnedUserId::try_from(u.as_str()).ok())
            .collect();
        Ok(summary)
    }

    /// The section of a room the user is joined to, with its timeline and state events yet
    /// to render; `None` when nothing changed.
    async fn joined(
        &self,
        window: &Window,
        joined_at: i64,
        changed_local: &[account_data::AccountData],
    ) -> Result<Option<(JoinedRoom, ToRender)>> {
        let since = self.shared.req.since;
        let newly = since.is_none_or(|s| joined_at >= s.end());
        let full = newly || self.shared.req.full_state;
        let lower = if newly {
            0
        } else {
            since.map_or(0, |s| s.end())
        };
        let end = self.shared.to.end();
        let (events, limited, prev_batch) = self.timeline(window, lower, end).await?;
        let state_events = self.state_section(full, lower, &events, end).await?;
        let ephemeral = self.ephemeral(if newly { None } else { since }).await?;
        let account_data = self.room_account_data(changed_local).await?;
        if !full
            && events.is_empty()
            && state_events.is_empty()
            && ephemeral.events.is_empty()
            && account_data.events.is_empty()
        {
            return Ok(None);
        }
        let mut room = JoinedRoom::new();
        room.timeline = Timeline::new();
        room.timeline.limited = limited;
        room.timeline.prev_batch = prev_batch;
        room.ephemeral = ephemeral;
        room.account_data = account_data;
        room.summary = self.summary().await?;
        let read = self
            .shared
            .read_positions
            .get(self.room_id)
            .copied()
            .unwrap_or(0);
        let counts = unread_after(
            self.shared.pool,
            &self.shared.state.unread,
            (self.room_id, read),
            &self.shared.sender.user_id,
            self.shared.rules,
            end,
        )
        .await?;
        room.unread_notifications = UnreadNotificationsCount::new();
        room.unread_notifications.notification_count = UInt::try_from(counts.notifications).ok();
        room.unread_notifications.highlight_count = UInt::try_from(counts.highlights).ok();
        Ok(Some((
            room,
            ToRender {
                timeline: events,
                state: state_events,
            },
        )))
    }

    /// The room's stripped state as an invite or a knock shows it, ending with the user's
    /// own membership event: the room's name, avatar, join rule, encryption, and the
    /// membership of whoever sent `member` (clients show "X invited you" from it).
    async fn stripped_state(&self, member: &StoredEvent) -> Result<Vec<Value>> {
        let current = read::state_at(self.shared.pool, self.room_id, self.shared.to.end())
            .await
            .map_err(store_error)?;
        let sender_member = |e: &StoredEvent| {
            e.kind == "m.room.member"
                && e.state_key.as_deref() == Some(member.sender.as_str())
                && e.event_id != member.event_id
        };
        let mut events = current
            .iter()
            .filter(|e| INVITE_STATE.contains(&e.kind.as_str()) || sender_member(e))
            .map(stripped)
            .collect::<Result<Vec<_>>>()?;
        let mut own = stripped(member)?;
        own["event_id"] = json!(member.event_id);
        own["origin_server_ts"] = serde_json::from_str::<Value>(&member.json)
            .ok()
            .and_then(|v| v.get("origin_server_ts").cloned())
            .unwrap_or(Value::Null);
        events.push(own);
        Ok(events)
    }

    /// The section of a room the user is invited to.
    async fn invited(&self, invite: &StoredEvent) -> Result<InvitedRoom> {
        let mut invite_state = InviteState::new();
        for e in self.stripped_state(invite).await? {
            invite_state.events.push(raw(&e)?);
        }
        let mut room = InvitedRoom::new();
        room.invite_state = invite_state;
        Ok(room)
    }

    /// The section of a room the user knocked on.
    async fn knocked(&self, knock: &StoredEvent) -> Result<KnockedRoom> {
        let mut knock_state = KnockState::new();
        for e in self.stripped_state(knock).await? {
            knock_state.events.push(raw(&e)?);
        }
        let mut room = KnockedRoom::new();
        room.knock_state = knock_state;
        Ok(room)
    }

    /// The section of a room the user left (or was removed from), with its timeline and state
    /// events yet to render.
    async fn left(&self, window: &Window) -> Result<(LeftRoom, ToRender)> {
        let since = self.shared.req.since.map_or(0, |s| s.end());
        let end = self.shared.to.end();
        let (events, limited, prev_batch) = self.timeline(window, since, end).await?;
        let state_events = self
            .state_section(self.shared.req.since.is_none(), since, &events, end)
            .await?;
        let mut room = LeftRoom::new();
        room.timeline.limited = limited;
        room.timeline.prev_batch = prev_batch;
        Ok((
            room,
            ToRender {
                timeline: events,
                state: state_events,
            },
        ))
    }
}

fn account_data_event(entry: &account_data::AccountData) -> Result<Value> {
    let content: Value = serde_json::from_str(&entry.content)
        .map_err(|e| Error::Internal(format!("stored account data: {e}")))?;
    Ok(json!({ "type": entry.data_type, "content": content }))
}

/// Computes one answer, without waiting.
/// Room sections computed at once by one `/sync`.
const ROOMS_AT_ONCE: usize = 4;

/// What every room section of one `/sync` is computed from.
struct Shared<'a> {
    state: &'a AppState,
    pool: &'a AnyPool,
    sender: &'a Sender,
    req: &'a SyncRequest,
    to: SyncToken,
    rules: &'a Ruleset,
    changed_local: &'a [account_data::AccountData],
    /// The user's private receipts changed since the request's `since`, in every room.
    own_receipts: &'a [PrivateReceipt],
    /// The public receipts of the answer's rooms from `receipts_from` on, by room.
    receipts: HashMap<String, Vec<ReceiptRow>>,
    /// Where `receipts` start: the request's `since`, or 0 for an initial sync.
    receipts_from: i64,
    /// The joined and the invited members of each of the answer's rooms.
    members: HashMap<String, (Vec<String>, Vec<String>)>,
    /// The user's read position in each of the answer's rooms (absent: 0).
    read_positions: HashMap<String, i64>,
}

/// The timeline and state events of a room section, rendered for the client once every
/// section is computed: what rendering needs besides the events is then read for all rooms
/// in a few queries, not a few per room.
struct ToRender {
    timeline: Vec<StoredEvent>,
    state: Vec<StoredEvent>,
}

/// One room's section of the answer.
enum Section {
    Join(OwnedRoomId, JoinedRoom, ToRender),
    Invite(OwnedRoomId, InvitedRoom),
    Knock(OwnedRoomId, KnockedRoom),
    Leave(OwnedRoomId, LeftRoom, ToRender),
}

/// The section of one room the user has a membership in, `None` when it has none to send.
/// `window` is the room's visibility window up to the answer's token.
async fn room_section(
    shared: &Shared<'_>,
    room_id: &str,
    window: &Window,
) -> Result<Option<Section>> {
    let req = shared.req;
    let cx = RoomCx { shared, room_id };
    let Some(member) = window.member_event() else {
        return Ok(None);
    };
    let after_since = req.since.is_none_or(|s| member.pos >= s.end());
    let id = OwnedRoomId::try_from(room_id)
        .map_err(|e| Error::Internal(format!("stored room id: {e}")))?;
    Ok(match member.membership.as_deref() {
        Some("join") => cx
            .joined(window, member.pos, shared.changed_local)
            .await?
            .map(|(room, events)| Section::Join(id, room, events)),
        Some("invite") if after_since => Some(Section::Invite(id, cx.invited(member).await?)),
        Some("knock") if after_since => Some(Section::Knock(id, cx.knocked(member).await?)),
        Some("leave" | "ban")
            if (req.since.is_some() && after_since)
                || (req.since.is_none() && req.filter.room.include_leave) =>
        {
            let (room, events) = cx.left(window).await?;
            Some(Section::Leave(id, room, events))
        }
        _ => None,
    })
}

async fn compute(state: &AppState, sender: &Sender, req: &SyncRequest) -> Result<SyncResult> {
    let chain = state.chain()?;
    let pool = chain.pool();
    let to = match req.upto {
        Some(upto) => upto,
        None => current_token(state).await?,
    };
    let user = sender.user_id.as_str();
    let since_local = req.since.map_or(0, |s| s.local);
    let changed_local = account_data::changed(&state.db.pool, user, since_local, to.local).await?;
    let rules = push_rules::ruleset(state, &sender.user_id).await?;
    let forgotten: BTreeSet<String> = forgotten::all(&state.db.pool, user)
        .await?
        .into_iter()
        .collect();
    let changed_rooms = match req.since {
        Some(s) if !req.full_state => Some(
            read::rooms_changed(pool, s.end(), to.end())
                .await
                .map_err(store_error)?,
        ),
        _ => None,
    };
    let own_receipts =
        private_receipts::changed(&state.db.pool, user, since_local, to.local).await?;

    let mut result = SyncResult {
        next_batch: to,
        ..SyncResult::default()
    };
    let room_filter = &req.filter.room;
    let mut touched_rooms = Vec::new();
    for (room_id, _, _) in read::rooms_of_user(pool, user).await.map_err(store_error)? {
        if forgotten.contains(&room_id) || !admits_room_filter(room_filter, &room_id) {
            continue;
        }
        let touched = changed_rooms.as_ref().is_none_or(|c| c.contains(&room_id))
            || changed_local.iter().any(|a| a.room_id == room_id)
            || own_receipts.iter().any(|r| r.room_id == room_id)
            || req
                .since
                .is_some_and(|s| state.typing.changed_since(&room_id, s.typing).is_some());
        if touched {
            touched_rooms.push(room_id);
        }
    }
    // What every section reads is read for all rooms at once, a query per
    // `IN_LIST_MAX` rooms; the rest, a few small queries per room, a few rooms at a time
    // (the database answers several connections at once).
    let room_refs: Vec<&str> = touched_rooms.iter().map(String::as_str).collect();
    let receipts_from = req.since.map_or(0, |s| s.end());
    let mut receipts = HashMap::new();
    let mut members = HashMap::new();
    let mut read_positions = HashMap::new();
    for chunk in room_refs.chunks(IN_LIST_MAX) {
        read_positions.extend(read_positions_of(pool, chunk, &sender.user_id).await?);
        receipts.extend(
            read::receipts_of(pool, chunk, receipts_from, to.end())
                .await
                .map_err(store_error)?,
        );
        members.extend(
            read::joined_and_invited_of(pool, chunk)
                .await
                .map_err(store_error)?,
        );
    }
    let shared = Shared {
        state,
        pool,
        sender,
        req,
        to,
        rules: &rules,
        changed_local: &changed_local,
        own_receipts: &own_receipts,
        receipts,
        receipts_from,
        members,
        read_positions,
    };
    let shared = &shared;
    let windows = &windows(pool, &room_refs, user, to.end()).await?;
    let mut sections = futures::stream::iter(touched_rooms.clone())
        .map(|room_id| async move {
            match windows.get(&room_id) {
                Some(window) => room_section(shared, &room_id, window).await,
                None => Ok(None),
            }
        })
        .buffered(ROOMS_AT_ONCE);
    let mut joined = Vec::new();
    let mut left = Vec::new();
    while let Some(section) = sections.next().await {
        match section? {
            Some(Section::Join(id, room, events)) => joined.push((id, room, events)),
            Some(Section::Invite(id, room)) => {
                result.rooms.invite.insert(id, room);
            }
            Some(Section::Knock(id, room)) => {
                result.rooms.knock.insert(id, room);
            }
            Some(Section::Leave(id, room, events)) => left.push((id, room, events)),
            None => {}
        }
    }
    drop(sections);
    render_sections(pool, sender, joined, left, &mut result.rooms).await?;

    // End-to-end encryption: the device's inbox and the device lists that changed.
    let since_pos = req.since.map(|s| s.end());
    for message in keys::to_device_inbox(state, sender, since_pos, to.end()).await? {
        let content: Value = serde_json::from_str(&message.content)
            .map_err(|e| Error::Internal(format!("stored to-device content: {e}")))?;
        result.to_device.push(json!({
            "sender": message.sender,
            "type": message.event_type,
            "content": content,
        }));
    }
    if let Some(from) = since_pos {
        result.device_lists_changed = keys::changed_users(state, sender, from, to.end()).await?;
        result.device_lists_left = keys::left_users(state, sender, from, to.end()).await?;
    }

    let types = &req.filter.account_data;
    for entry in changed_local.iter().filter(|a| a.room_id.is_empty()) {
        if types
            .types
            .as_ref()
            .is_some_and(|t| !t.contains(&entry.data_type))
            || types.not_types.contains(&entry.data_type)
        {
            continue;
        }
        result
            .account_data
            .events
            .push(raw(&account_data_event(entry)?)?);
    }
    if let Some(event) = super::contacts::sync_event(state, user, since_pos, to.end()).await? {
        let contacts = super::contacts::CONTACTS_EVENT.to_owned();
        if types.types.as_ref().is_none_or(|t| t.contains(&contacts))
            && !types.not_types.contains(&contacts)
        {
            result.account_data.events.push(raw(&event)?);
        }
    }
    if req.since.is_none()
        && !changed_local
            .iter()
            .any(|a| a.data_type == push_rules::PUSH_RULES)
    {
        let event = json!({ "type": push_rules::PUSH_RULES, "content": { "global": rules } });
        result.account_data.events.push(raw(&event)?);
    }
    Ok(result)
}

/// Renders the timeline and state events of every joined and left section in one batch and
/// puts the sections in the answer.
async fn render_sections(
    pool: &AnyPool,
    sender: &Sender,
    joined: Vec<(OwnedRoomId, JoinedRoom, ToRender)>,
    left: Vec<(OwnedRoomId, LeftRoom, ToRender)>,
    rooms: &mut Rooms,
) -> Result<()> {
    let mut events = Vec::new();
    for (_, _, r) in &joined {
        events.extend(r.timeline.iter().chain(&r.state).cloned());
    }
    for (_, _, r) in &left {
        events.extend(r.timeline.iter().chain(&r.state).cloned());
    }
    let mut rendered = to_client_all(pool, &events, Viewer::of(sender))
        .await?
        .into_iter();
    // Each section's timeline, then its state, in the order they were queued.
    let mut sections = |r: &ToRender| -> Result<(Vec<Value>, Vec<Value>)> {
        let mut take = |n: usize| -> Result<Vec<Value>> {
            (0..n)
                .map(|_| {
                    rendered
                        .next()
                        .ok_or_else(|| Error::Internal("an event rendered as nothing".into()))
                })
                .collect()
        };
        Ok((take(r.timeline.len())?, take(r.state.len())?))
    };
    for (id, mut room, r) in joined {
        let (timeline, state) = sections(&r)?;
        room.timeline.events = raws(timeline)?;
        room.state = State::Before(state_events(state)?);
        rooms.join.insert(id, room);
    }
    for (id, mut room, r) in left {
        let (timeline, state) = sections(&r)?;
        room.timeline.events = raws(timeline)?;
        room.state = State::Before(state_events(state)?);
        rooms.leave.insert(id, room);
    }
    Ok(())
}

fn raws<T>(values: Vec<Value>) -> Result<Vec<ruma::serde::Raw<T>>> {
    values.iter().map(raw).collect()
}

fn state_events(values: Vec<Value>) -> Result<StateEvents> {
    let mut st = StateEvents::new();
    st.events = raws(values)?;
    Ok(st)
}

fn admits_room_filter(filter: &ruma::api::client::filter::RoomFilter, room_id: &str) -> bool {
    admits_room(filter.rooms.as_deref(), &filter.not_rooms, room_id)
}
