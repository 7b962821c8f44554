//! Which events notify a user: their push rules evaluated (by ruma) on the events after their
//! read receipt, for `/sync`'s unread counts and `/notifications`.

use std::collections::HashMap;
use std::sync::Mutex;

use consort_bridge::rooms::read::{self, StoredEvent};
use consort_bridge::rooms::{event::rules_for, power, store};
use ruma::push::{
    Action, HighlightTweakValue, PushConditionPowerLevelsCtx, PushConditionRoomCtx, Ruleset, Tweak,
};
use ruma::{OwnedRoomId, UInt, UserId};
use sqlx::{AnyPool, Row};

use super::client_event::{bare, raw};
use super::send::store_error;
use crate::error::{Error, Result};

/// Events after the read position looked at for the unread counts; beyond that the counts
/// stop growing (as clients show "99+" anyway).
pub const MAX_COUNTED: i64 = 100;

/// What the push rules say of one event.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Verdict {
    /// A notification.
    pub notify: bool,
    /// A highlight (mention, keyword).
    pub highlight: bool,
    /// A sound to play (push gateways send these at high priority).
    pub sound: bool,
}

/// Unread notification and highlight counts of a room.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Notifying events.
    pub notifications: u64,
    /// Highlighting events.
    pub highlights: u64,
}

/// The room context push rules need: member count, the user's display name, power levels.
pub async fn room_context(
    pool: &AnyPool,
    room_id: &str,
    user: &UserId,
) -> Result<PushConditionRoomCtx> {
    let members = read::members(pool, room_id, "join")
        .await
        .map_err(store_error)?;
    let name = consort_bridge::users::get(pool, user.as_str())
        .await?
        .and_then(|u| u.displayname)
        .unwrap_or_else(|| user.localpart().to_owned());
    let room = OwnedRoomId::try_from(room_id).map_err(|e| Error::Internal(e.to_string()))?;
    let ctx = PushConditionRoomCtx::new(
        room,
        UInt::try_from(members.len() as u64).unwrap_or_default(),
        user.to_owned(),
        name,
    );
    let mut conn = pool.acquire().await?;
    let Some(r) = store::get_room(&mut conn, room_id)
        .await
        .map_err(store_error)?
    else {
        return Ok(ctx);
    };
    let rules = rules_for(&r.version).map_err(|e| Error::Internal(e.to_string()))?;
    let state = store::power_state(&mut conn, room_id, &rules)
        .await
        .map_err(store_error)?;
    let levels = power::from_state(&state, &rules);
    Ok(ctx.with_power_levels(PushConditionPowerLevelsCtx::from(levels)))
}

/// The push rules' verdict on one event for the rule set's owner.
pub async fn verdict(
    rules: &Ruleset,
    ctx: &PushConditionRoomCtx,
    event: &StoredEvent,
) -> Result<Verdict> {
    let value = serde_json::Value::Object(bare(event)?);
    let raw: ruma::serde::Raw<ruma::events::AnySyncTimelineEvent> = raw(&value)?;
    let actions = rules.get_actions(&raw, ctx).await;
    Ok(Verdict {
        notify: actions.iter().any(|a| matches!(a, Action::Notify)),
        highlight: actions.iter().any(|a| {
            matches!(
                a,
                Action::SetTweak(Tweak::Highlight(HighlightTweakValue::Yes))
            )
        }),
        sound: actions
            .iter()
            .any(|a| matches!(a, Action::SetTweak(Tweak::Sound(_)))),
    })
}

/// The position of the latest event the user has read in a room (public or private
/// receipt), else of their join; events after it are unread.
pub async fn read_position(pool: &AnyPool, room_id: &str, user: &UserId) -> Result<i64> {
    let row = sqlx::query(
        "SELECT MAX(e.pos) FROM bridge_room_events e WHERE e.room_id = $1 AND e.event_id IN ( \
         SELECT event_id FROM bridge_receipts WHERE room_id = $1 AND user_id = $2 \
         UNION SELECT event_id FROM hs_private_receipts WHERE room_id = $1 AND user_id = $2 \
         UNION SELECT event_id FROM bridge_memberships WHERE room_id = $1 AND user_id = $2)",
    )
    .bind(room_id)
    .bind(user.as_str())
    .fetch_one(pool)
    .await?;
    Ok(row.try_get::<Option<i64>, _>(0)?.unwrap_or(0))
}

/// [`read_position`] in several rooms (at most [`read::IN_LIST_MAX`]) in one query; a room with
/// none of the user's receipts or memberships is absent.
pub async fn read_positions(
    pool: &AnyPool,
    rooms: &[&str],
    user: &UserId,
) -> Result<HashMap<String, i64>> {
    if rooms.is_empty() {
        return Ok(HashMap::new());
    }
    let list = (2..2 + rooms.len())
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "SELECT r.room_id, MAX(e.pos) FROM ( \
         SELECT room_id, event_id FROM bridge_receipts WHERE user_id = $1 AND room_id IN ({list}) \
         UNION SELECT room_id, event_id FROM hs_private_receipts WHERE user_id = $1 AND room_id IN ({list}) \
         UNION SELECT room_id, event_id FROM bridge_memberships WHERE user_id = $1 AND room_id IN ({list})) r \
         JOIN bridge_room_events e ON e.event_id = r.event_id AND e.room_id = r.room_id \
         GROUP BY r.room_id"
    );
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(user.as_str());
    for room in rooms {
        q = q.bind(*room);
    }
    let mut out = HashMap::new();
    for r in q.fetch_all(pool).await? {
        if let Some(pos) = r.try_get::<Option<i64>, _>(1)? {
            out.insert(r.try_get(0)?, pos);
        }
    }
    Ok(out)
}

/// Unread counts already computed, per (user, room): `/sync` counts only the events that
/// arrived since, while the user's read position stays put.
#[derive(Debug, Default)]
pub struct UnreadCache {
    entries: Mutex<HashMap<(String, String), Cached>>,
}

#[derive(Debug, Clone, Copy)]
struct Cached {
    /// First unread position the counts start at.
    from: i64,
    /// Events before this position are counted.
    upto: i64,
    counts: Counts,
}

/// Entries kept before the cache starts over (each is a few dozen bytes).
const MAX_CACHED: usize = 100_000;

impl UnreadCache {
    /// Forgets a user's counts (their push rules changed).
    pub fn forget_user(&self, user: &str) {
        self.entries
            .lock()
            .expect("unread cache")
            .retain(|(u, _), _| u != user);
    }

    fn get(&self, user: &str, room: &str) -> Option<Cached> {
        let entries = self.entries.lock().expect("unread cache");
        entries.get(&(user.to_owned(), room.to_owned())).copied()
    }

    fn put(&self, user: &str, room: &str, cached: Cached) {
        let mut entries = self.entries.lock().expect("unread cache");
        if entries.len() >= MAX_CACHED {
            entries.clear();
        }
        entries.insert((user.to_owned(), room.to_owned()), cached);
    }
}

/// Unread counts of a room for `user`, over the events before position `end`.
pub async fn unread(
    pool: &AnyPool,
    cache: &UnreadCache,
    room_id: &str,
    user: &UserId,
    rules: &Ruleset,
    end: i64,
) -> Result<Counts> {
    let read = read_position(pool, room_id, user).await?;
    unread_after(pool, cache, (room_id, read), user, rules, end).await
}

/// [`unread`] when the user's [`read_position`] in the room is known.
pub async fn unread_after(
    pool: &AnyPool,
    cache: &UnreadCache,
    (room_id, read): (&str, i64),
    user: &UserId,
    rules: &Ruleset,
    end: i64,
) -> Result<Counts> {
    let from = read + 1;
    let (start, mut counts) = match cache.get(user.as_str(), room_id) {
        Some(c) if c.from == from && c.upto <= end => (c.upto, c.counts),
        _ => (from, Counts::default()),
    };
    let events = read::page(pool, room_id, start, end, true, MAX_COUNTED)
        .await
        .map_err(store_error)?;
    if events.iter().any(|e| e.sender != user.as_str()) {
        let ctx = room_context(pool, room_id, user).await?;
        for e in events.iter().filter(|e| e.sender != user.as_str()) {
            let v = verdict(rules, &ctx, e).await?;
            counts.notifications += u64::from(v.notify);
            counts.highlights += u64::from(v.highlight);
        }
    }
    cache.put(
        user.as_str(),
        room_id,
        Cached {
            from,
            upto: end,
            counts,
        },
    );
    Ok(counts)
}
