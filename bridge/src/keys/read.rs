//! Reads of the key projection for the homeserver: `/keys/query`, `/keys/claim` answers, key
//! counts, device list changes, to-device inboxes and the key transparency history.

use std::collections::{BTreeMap, BTreeSet};

use sqlx::{AnyPool, Row};

use super::DEVICE_LIST_KINDS;

/// Every device of `user` with keys: `(device id, keys JSON)`, by device id.
pub async fn devices_of(pool: &AnyPool, user: &str) -> Result<Vec<(String, String)>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT device_id, keys_json FROM bridge_device_keys WHERE user_id = $1 ORDER BY device_id",
    )
    .bind(user)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect()
}

/// The cross-signing keys of `user` by type (`master`, `self_signing`, `user_signing`).
pub async fn cross_signing_of(
    pool: &AnyPool,
    user: &str,
) -> Result<BTreeMap<String, String>, sqlx::Error> {
    let rows =
        sqlx::query("SELECT key_type, key_json FROM bridge_cross_signing_keys WHERE user_id = $1")
            .bind(user)
            .fetch_all(pool)
            .await?;
    rows.iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect()
}

/// A device's unclaimed one-time keys by algorithm.
pub async fn one_time_key_counts(
    pool: &AnyPool,
    user: &str,
    device: &str,
) -> Result<BTreeMap<String, u64>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT algorithm, COUNT(*) FROM bridge_one_time_keys \
         WHERE user_id = $1 AND device_id = $2 AND claimed_pos IS NULL GROUP BY algorithm",
    )
    .bind(user)
    .bind(device)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get::<i64, _>(1)? as u64)))
        .collect()
}

/// The algorithms of a device's fallback keys that were not handed out yet.
pub async fn unused_fallback_algorithms(
    pool: &AnyPool,
    user: &str,
    device: &str,
) -> Result<Vec<String>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT algorithm FROM bridge_fallback_keys WHERE user_id = $1 AND device_id = $2 \
         AND used = 0 ORDER BY algorithm",
    )
    .bind(user)
    .bind(device)
    .fetch_all(pool)
    .await?;
    rows.iter().map(|r| r.try_get(0)).collect()
}

/// What the claim at `pos` handed out: `(user, device, algorithm:key_id, key JSON)`.
pub async fn claimed_at(
    pool: &AnyPool,
    pos: i64,
) -> Result<Vec<(String, String, String, String)>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT user_id, device_id, key_id, key_json FROM bridge_key_claims WHERE pos = $1 ORDER BY seq",
    )
    .bind(pos)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?)))
        .collect()
}

/// Users whose device list changed at a position in `[from, to)`.
pub async fn device_list_changes(
    pool: &AnyPool,
    from: i64,
    to: i64,
) -> Result<BTreeSet<String>, sqlx::Error> {
    let kinds = DEVICE_LIST_KINDS
        .iter()
        .map(|k| format!("'{k}'"))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "SELECT DISTINCT user_id FROM bridge_key_log WHERE pos >= $1 AND pos < $2 AND kind IN ({kinds})"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(from)
        .bind(to)
        .fetch_all(pool)
        .await?;
    rows.iter().map(|r| r.try_get(0)).collect()
}

/// One to-device message waiting for a device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToDeviceMessage {
    /// Ledger position of the record that carried it.
    pub pos: i64,
    /// The sending user.
    pub sender: String,
    /// Event type.
    pub event_type: String,
    /// Content JSON.
    pub content: String,
}

/// The to-device messages for a device at positions in `[from, to)`, oldest first.
pub async fn to_device_for(
    pool: &AnyPool,
    user: &str,
    device: &str,
    from: i64,
    to: i64,
) -> Result<Vec<ToDeviceMessage>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT pos, sender, event_type, content FROM bridge_to_device WHERE user_id = $1 \
         AND device_id = $2 AND pos >= $3 AND pos < $4 ORDER BY pos, seq",
    )
    .bind(user)
    .bind(device)
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(ToDeviceMessage {
                pos: r.try_get(0)?,
                sender: r.try_get(1)?,
                event_type: r.try_get(2)?,
                content: r.try_get(3)?,
            })
        })
        .collect()
}

/// One entry of a user's key history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyLogEntry {
    /// Ledger position.
    pub pos: i64,
    /// The organisation that submitted the record.
    pub org: String,
    /// What changed (`device_added`, `device_removed`, `cross_signing`, ...).
    pub kind: String,
    /// The change's public details (JSON).
    pub detail: String,
}

/// Every change of `user`'s keys, in ledger order.
pub async fn key_log_of(pool: &AnyPool, user: &str) -> Result<Vec<KeyLogEntry>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT pos, org, kind, detail FROM bridge_key_log WHERE user_id = $1 ORDER BY pos, seq",
    )
    .bind(user)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(KeyLogEntry {
                pos: r.try_get(0)?,
                org: r.try_get(1)?,
                kind: r.try_get(2)?,
                detail: r.try_get(3)?,
            })
        })
        .collect()
}

/// Users joined to a room `user` is joined to (`user` included when joined anywhere).
pub async fn users_sharing_rooms_with(
    pool: &AnyPool,
    user: &str,
) -> Result<BTreeSet<String>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT DISTINCT other.user_id FROM bridge_memberships mine \
         JOIN bridge_memberships other ON other.room_id = mine.room_id \
         WHERE mine.user_id = $1 AND mine.membership = 'join' AND other.membership = 'join'",
    )
    .bind(user)
    .fetch_all(pool)
    .await?;
    rows.iter().map(|r| r.try_get(0)).collect()
}

/// Whether the device has keys on the ledger.
pub async fn has_device(pool: &AnyPool, user: &str, device: &str) -> Result<bool, sqlx::Error> {
    Ok(
        sqlx::query("SELECT 1 FROM bridge_device_keys WHERE user_id = $1 AND device_id = $2")
            .bind(user)
            .bind(device)
            .fetch_optional(pool)
            .await?
            .is_some(),
    )
}

/// Users who joined (or were invited to) a room `user` is joined to at a position in
/// `[from, to)`: their devices are news to `user`'s clients, as in Synapse's
/// `device_lists.changed`.
pub async fn users_newly_in_rooms_with(
    pool: &AnyPool,
    user: &str,
    from: i64,
    to: i64,
) -> Result<BTreeSet<String>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT DISTINCT e.state_key FROM bridge_room_events e \
         JOIN bridge_memberships mine ON mine.room_id = e.room_id \
         WHERE mine.user_id = $1 AND mine.membership = 'join' AND e.event_type = 'm.room.member' AND e.state_key IS NOT NULL \
         AND e.membership IN ('join', 'invite') AND e.pos >= $2 AND e.pos < $3",
    )
    .bind(user)
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await?;
    rows.iter().map(|r| r.try_get(0)).collect()
}

/// Users who may have stopped sharing every room with `user` at a position in `[from, to)`:
/// those who left or were banned from a room `user` is in (or was in), and, when `user`
/// left a room, that room's members. The caller keeps those who share no room any more:
/// Synapse's `device_lists.left`.
pub async fn users_maybe_gone_from_rooms_with(
    pool: &AnyPool,
    user: &str,
    from: i64,
    to: i64,
) -> Result<BTreeSet<String>, sqlx::Error> {
    let others_left = sqlx::query(
        "SELECT DISTINCT e.state_key FROM bridge_room_events e \
         JOIN bridge_memberships mine ON mine.room_id = e.room_id \
         WHERE mine.user_id = $1 AND e.event_type = 'm.room.member' AND e.state_key IS NOT NULL \
         AND e.membership IN ('leave', 'ban') AND e.pos >= $2 AND e.pos < $3",
    )
    .bind(user)
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await?;
    let rooms_i_left = sqlx::query(
        "SELECT DISTINCT other.user_id FROM bridge_room_events e \
         JOIN bridge_memberships other ON other.room_id = e.room_id \
         WHERE e.state_key = $1 AND e.event_type = 'm.room.member' AND e.state_key IS NOT NULL \
         AND e.membership IN ('leave', 'ban') AND e.pos >= $2 AND e.pos < $3 \
         AND other.membership = 'join'",
    )
    .bind(user)
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await?;
    others_left
        .iter()
        .chain(rooms_i_left.iter())
        .map(|r| r.try_get(0))
        .collect()
}
