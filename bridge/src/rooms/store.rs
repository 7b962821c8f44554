//! The rooms projection in SQL: rooms, their events in ledger order and their current state.
//! Writes happen only inside the block's transaction; the same SQL runs on both backends.

use std::collections::BTreeMap;

use ruma::events::StateEventType;
use ruma::room_version_rules::RoomVersionRules;
use ruma::{OwnedEventId, RoomVersionId};
use sqlx::{AnyConnection, AnyPool, Row};

use super::event::{Pdu, RoomState, rules_for};

/// Why the projection could not answer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQL failed.
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    /// A stored row does not parse (the projection is corrupt).
    #[error("corrupt room projection: {0}")]
    Corrupt(String),
}

/// One room of the projection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoomRow {
    /// Room id.
    pub room_id: String,
    /// Room version.
    pub version: RoomVersionId,
    /// Sender of the create event.
    pub creator: String,
    /// Height of the block that created it.
    pub created_height: u64,
}

/// Loads a room.
pub async fn get_room(
    conn: &mut AnyConnection,
    room_id: &str,
) -> Result<Option<RoomRow>, StoreError> {
    let row = sqlx::query(
        "SELECT room_id, version, creator, created_height FROM bridge_rooms WHERE room_id = $1",
    )
    .bind(room_id)
    .fetch_optional(conn)
    .await?;
    let Some(r) = row else { return Ok(None) };
    let version: String = r.try_get(1)?;
    Ok(Some(RoomRow {
        room_id: r.try_get(0)?,
        version: RoomVersionId::try_from(version.as_str())
            .map_err(|e| StoreError::Corrupt(e.to_string()))?,
        creator: r.try_get(2)?,
        created_height: r.try_get::<i64, _>(3)? as u64,
    }))
}

/// Whether an event with this id is in the projection (any room), to refuse replays.
pub async fn event_exists(conn: &mut AnyConnection, event_id: &str) -> Result<bool, StoreError> {
    Ok(
        sqlx::query("SELECT 1 FROM bridge_room_events WHERE event_id = $1")
            .bind(event_id)
            .fetch_optional(conn)
            .await?
            .is_some(),
    )
}

/// Loads an event of `room_id` by id. Only events of the same room are parsed with the
/// room's rules, so a PDU citing another room's event cannot make the projection unreadable.
pub async fn get_event(
    conn: &mut AnyConnection,
    room_id: &str,
    event_id: &str,
    rules: &RoomVersionRules,
) -> Result<Option<Pdu>, StoreError> {
    let row =
        sqlx::query("SELECT json FROM bridge_room_events WHERE event_id = $1 AND room_id = $2")
            .bind(event_id)
            .bind(room_id)
            .fetch_optional(conn)
            .await?;
    let Some(r) = row else { return Ok(None) };
    let json: String = r.try_get(0)?;
    let id = OwnedEventId::try_from(event_id).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    Pdu::from_parts(id, &json, rules)
        .map(Some)
        .map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// Several entries of a room's current state in one query (the auth rules need a handful).
pub async fn get_states(
    conn: &mut AnyConnection,
    room_id: &str,
    keys: &[(StateEventType, String)],
    rules: &RoomVersionRules,
) -> Result<BTreeMap<(StateEventType, String), Pdu>, StoreError> {
    let mut state = BTreeMap::new();
    if keys.is_empty() {
        return Ok(state);
    }
    let wanted: Vec<String> = (0..keys.len())
        .map(|i| {
            format!(
                "(s.event_type = ${} AND s.state_key = ${})",
                2 * i + 2,
                2 * i + 3
            )
        })
        .collect();
    let sql = format!(
        "SELECT e.event_id, e.json, s.event_type, s.state_key FROM bridge_room_state s \
         JOIN bridge_room_events e ON e.event_id = s.event_id \
         WHERE s.room_id = $1 AND ({})",
        wanted.join(" OR ")
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(room_id);
    for (kind, key) in keys {
        query = query.bind(kind.to_string()).bind(key.clone());
    }
    for r in query.fetch_all(&mut *conn).await? {
        let id: String = r.try_get(0)?;
        let json: String = r.try_get(1)?;
        let kind: String = r.try_get(2)?;
        let key: String = r.try_get(3)?;
        let id = OwnedEventId::try_from(id).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let pdu =
            Pdu::from_parts(id, &json, rules).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        state.insert((kind.into(), key), pdu);
    }
    Ok(state)
}

/// The whole current state and latest event of a room, for building its next PDU.
pub async fn room_state(pool: &AnyPool, room_id: &str) -> Result<Option<RoomState>, StoreError> {
    let mut conn = pool.acquire().await?;
    let Some(room) = get_room(&mut conn, room_id).await? else {
        return Ok(None);
    };
    let rules = rules_for(&room.version).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let rows = sqlx::query(
        "SELECT e.event_id, e.json FROM bridge_room_state s \
         JOIN bridge_room_events e ON e.event_id = s.event_id \
         WHERE s.room_id = $1 ORDER BY s.event_type, s.state_key",
    )
    .bind(room_id)
    .fetch_all(&mut *conn)
    .await?;
    let mut state = BTreeMap::new();
    for r in rows {
        let id: String = r.try_get(0)?;
        let json: String = r.try_get(1)?;
        let id = OwnedEventId::try_from(id).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let pdu =
            Pdu::from_parts(id, &json, &rules).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let key = pdu.state_key.clone().unwrap_or_default();
        state.insert((pdu.kind.to_string().into(), key), pdu);
    }
    let latest = latest_event(&mut conn, room_id).await?;
    Ok(Some(RoomState {
        room_id: Some(
            room_id
                .try_into()
                .map_err(|e: ruma::IdParseError| StoreError::Corrupt(e.to_string()))?,
        ),
        version: room.version,
        state,
        latest,
    }))
}

/// The latest event of a room in ledger order, and its depth.
async fn latest_event(
    conn: &mut AnyConnection,
    room_id: &str,
) -> Result<Option<(OwnedEventId, u64)>, StoreError> {
    let row = sqlx::query(
        "SELECT event_id, depth FROM bridge_room_events WHERE room_id = $1 \
         ORDER BY pos DESC LIMIT 1",
    )
    .bind(room_id)
    .fetch_optional(conn)
    .await?;
    let Some(r) = row else { return Ok(None) };
    let id: String = r.try_get(0)?;
    let id = OwnedEventId::try_from(id).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    Ok(Some((id, r.try_get::<i64, _>(1)? as u64)))
}

/// A room's events in ledger order: `(event_id, json)`.
pub async fn timeline(pool: &AnyPool, room_id: &str) -> Result<Vec<(String, String)>, StoreError> {
    let rows = sqlx::query(
        "SELECT event_id, json FROM bridge_room_events WHERE room_id = $1 ORDER BY pos",
    )
    .bind(room_id)
    .fetch_all(pool)
    .await?;
    rows.into_iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect()
}

/// A room's current state as `(type, state_key, event_id)`, sorted.
pub async fn current_state(
    pool: &AnyPool,
    room_id: &str,
) -> Result<Vec<(String, String, String)>, StoreError> {
    let rows = sqlx::query(
        "SELECT event_type, state_key, event_id FROM bridge_room_state WHERE room_id = $1 \
         ORDER BY event_type, state_key",
    )
    .bind(room_id)
    .fetch_all(pool)
    .await?;
    rows.into_iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
        .collect()
}

/// Applies an accepted event of the transaction at (height, idx), at position `pos`: stores
/// it, creates the room for `m.room.create`, moves the room's current state and, for
/// `m.room.member`, the user's membership.
pub async fn insert_event(
    conn: &mut AnyConnection,
    pdu: &Pdu,
    version: &RoomVersionId,
    (height, idx): (u64, u32),
    pos: i64,
) -> Result<(), sqlx::Error> {
    let kind = pdu.kind.to_string();
    if kind == "m.room.create" {
        sqlx::query(
            "INSERT INTO bridge_rooms (room_id, version, creator, created_height) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(pdu.room.as_str())
        .bind(version.as_str())
        .bind(pdu.sender.as_str())
        .bind(height as i64)
        .execute(&mut *conn)
        .await?;
    }
    let membership = (kind == "m.room.member")
        .then(|| membership_of(pdu))
        .flatten();
    let relation = relation_of(pdu);
    sqlx::query(
        "INSERT INTO bridge_room_events \
         (event_id, room_id, height, idx, event_type, state_key, sender, depth, json, pos, membership, \
          origin_server_ts, relates_to, rel_type) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
    )
    .bind(pdu.event_id.as_str())
    .bind(pdu.room.as_str())
    .bind(height as i64)
    .bind(i64::from(idx))
    .bind(&kind)
    .bind(pdu.state_key.clone())
    .bind(pdu.sender.as_str())
    .bind(pdu.depth as i64)
    .bind(&pdu.json)
    .bind(pos)
    .bind(membership.clone())
    .bind(i64::try_from(pdu.origin_server_ts_ms()).unwrap_or(i64::MAX))
    .bind(relation.0)
    .bind(relation.1)
    .execute(&mut *conn)
    .await?;
    if let Some(key) = &pdu.state_key {
        sqlx::query(
            "INSERT INTO bridge_room_state (room_id, event_type, state_key, event_id) \
             VALUES ($1, $2, $3, $4) \
             ON CONFLICT (room_id, event_type, state_key) DO UPDATE SET event_id = excluded.event_id",
        )
        .bind(pdu.room.as_str())
        .bind(&kind)
        .bind(key)
        .bind(pdu.event_id.as_str())
        .execute(&mut *conn)
        .await?;
        if let Some(membership) = membership {
            sqlx::query(
                "INSERT INTO bridge_memberships (room_id, user_id, membership, event_id, pos) \
                 VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (room_id, user_id) DO UPDATE SET membership = excluded.membership, \
                 event_id = excluded.event_id, pos = excluded.pos",
            )
            .bind(pdu.room.as_str())
            .bind(key)
            .bind(membership)
            .bind(pdu.event_id.as_str())
            .bind(pos)
            .execute(&mut *conn)
            .await?;
        }
    }
    Ok(())
}

/// `content.m.relates_to`'s `(event_id, rel_type)`, when the event has a relation.
pub fn relation_of(pdu: &Pdu) -> (Option<String>, Option<String>) {
    // Only the content, not the whole PDU again: this runs for every event applied.
    let Ok(content) = serde_json::from_str::<serde_json::Value>(pdu.content().get()) else {
        return (None, None);
    };
    let relates = &content["m.relates_to"];
    (
        relates["event_id"].as_str().map(str::to_owned),
        relates["rel_type"].as_str().map(str::to_owned),
    )
}

/// The `membership` of an `m.room.member` event's content.
pub fn membership_of(pdu: &Pdu) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Member {
        membership: String,
    }
    serde_json::from_str::<Member>(pdu.content().get())
        .ok()
        .map(|m| m.membership)
}

/// Applies an accepted redaction: the projection keeps the redacted form of `target` (the
/// original stays on the ledger), so clients and later auth checks see what Matrix says
/// remains of it.
pub async fn redact_event(
    conn: &mut AnyConnection,
    target: &Pdu,
    redaction_id: &str,
    rules: &RoomVersionRules,
) -> Result<(), StoreError> {
    let object =
        super::event::parse_object(&target.json).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let redacted = ruma::canonical_json::redact(object, &rules.redaction, None)
        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let json = serde_json::to_string(&redacted).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    // The JSON as committed stays aside: the event's block reads it back (`kept`).
    sqlx::query(
        "UPDATE bridge_room_events SET unredacted = COALESCE(unredacted, json), json = $1, \
         redacted_by = $2 WHERE event_id = $3",
    )
    .bind(json)
    .bind(redaction_id)
    .bind(target.event_id.as_str())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// A user's current membership of a room (`join`, `invite`, `leave`, `ban`, `knock`).
pub async fn membership(
    conn: &mut AnyConnection,
    room_id: &str,
    user_id: &str,
) -> Result<Option<String>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT membership FROM bridge_memberships WHERE room_id = $1 AND user_id = $2",
    )
    .bind(room_id)
    .bind(user_id)
    .fetch_optional(conn)
    .await?;
    row.map(|r| r.try_get(0)).transpose()
}

/// The room's create and power levels state, for power checks outside the auth rules.
pub async fn power_state(
    conn: &mut AnyConnection,
    room_id: &str,
    rules: &RoomVersionRules,
) -> Result<BTreeMap<(StateEventType, String), Pdu>, StoreError> {
    let keys = [
        (StateEventType::RoomCreate, String::new()),
        (StateEventType::RoomPowerLevels, String::new()),
    ];
    get_states(conn, room_id, &keys, rules).await
}

/// What building a new event of a room needs: its version, latest event and the current
/// state entries `keys` (the auth types of the event to build). `None` for an unknown room.
pub async fn room_state_with(
    pool: &AnyPool,
    room_id: &str,
    keys: &[(StateEventType, String)],
) -> Result<Option<RoomState>, StoreError> {
    let mut conn = pool.acquire().await?;
    let Some(room) = get_room(&mut conn, room_id).await? else {
        return Ok(None);
    };
    let rules = rules_for(&room.version).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let state = get_states(&mut conn, room_id, keys, &rules).await?;
    let latest = latest_event(&mut conn, room_id).await?;
    Ok(Some(RoomState {
        room_id: Some(
            room_id
                .try_into()
                .map_err(|e: ruma::IdParseError| StoreError::Corrupt(e.to_string()))?,
        ),
        version: room.version,
        state,
        latest,
    }))
}
