//! Rows of `hs_devices`: the sessions (devices) of each account.

use sqlx::{Any, Executor, Row, any::AnyRow};

use super::StorageError;

/// One device as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceRow {
    /// Device id.
    pub device_id: String,
    /// Name the user gave it.
    pub display_name: Option<String>,
    /// Last time it was used, ms since the epoch.
    pub last_seen_ts: Option<i64>,
    /// Address it was last used from.
    pub last_seen_ip: Option<String>,
}

fn from_row(row: &AnyRow) -> Result<DeviceRow, sqlx::Error> {
    Ok(DeviceRow {
        device_id: row.try_get("device_id")?,
        display_name: row.try_get("display_name")?,
        last_seen_ts: row.try_get("last_seen_ts")?,
        last_seen_ip: row.try_get("last_seen_ip")?,
    })
}

/// Creates a device, or keeps the existing one of that id (logging in again on a known device
/// replaces its display name only when a new one is given).
pub async fn upsert<'c, E: Executor<'c, Database = Any>>(
    db: E,
    user_id: &str,
    device_id: &str,
    display_name: Option<&str>,
    ts: i64,
    ip: Option<&str>,
) -> Result<(), StorageError> {
    sqlx::query(
        "INSERT INTO hs_devices (user_id, device_id, display_name, last_seen_ts, last_seen_ip, created_ts) \
         VALUES ($1, $2, $3, $4, $5, $4) \
         ON CONFLICT (user_id, device_id) DO UPDATE SET \
         display_name = COALESCE(excluded.display_name, hs_devices.display_name), \
         last_seen_ts = excluded.last_seen_ts, last_seen_ip = excluded.last_seen_ip",
    )
    .bind(user_id)
    .bind(device_id)
    .bind(display_name)
    .bind(ts)
    .bind(ip)
    .execute(db)
    .await?;
    Ok(())
}

/// All devices of an account, by id.
pub async fn list<'c, E: Executor<'c, Database = Any>>(
    db: E,
    user_id: &str,
) -> Result<Vec<DeviceRow>, StorageError> {
    let rows = sqlx::query(
        "SELECT device_id, display_name, last_seen_ts, last_seen_ip FROM hs_devices \
         WHERE user_id = $1 ORDER BY device_id",
    )
    .bind(user_id)
    .fetch_all(db)
    .await?;
    Ok(rows.iter().map(from_row).collect::<Result<_, _>>()?)
}

/// One device of an account.
pub async fn get<'c, E: Executor<'c, Database = Any>>(
    db: E,
    user_id: &str,
    device_id: &str,
) -> Result<Option<DeviceRow>, StorageError> {
    let row = sqlx::query(
        "SELECT device_id, display_name, last_seen_ts, last_seen_ip FROM hs_devices \
         WHERE user_id = $1 AND device_id = $2",
    )
    .bind(user_id)
    .bind(device_id)
    .fetch_optional(db)
    .await?;
    Ok(row.as_ref().map(from_row).transpose()?)
}

/// Renames a device; `Ok(false)` when it does not exist.
pub async fn rename<'c, E: Executor<'c, Database = Any>>(
    db: E,
    user_id: &str,
    device_id: &str,
    display_name: Option<&str>,
) -> Result<bool, StorageError> {
    let result = sqlx::query(
        "UPDATE hs_devices SET display_name = $3 WHERE user_id = $1 AND device_id = $2",
    )
    .bind(user_id)
    .bind(device_id)
    .bind(display_name)
    .execute(db)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// Deletes one device row (its tokens are deleted separately, in the same transaction).
pub async fn delete<'c, E: Executor<'c, Database = Any>>(
    db: E,
    user_id: &str,
    device_id: &str,
) -> Result<(), StorageError> {
    sqlx::query("DELETE FROM hs_devices WHERE user_id = $1 AND device_id = $2")
        .bind(user_id)
        .bind(device_id)
        .execute(db)
        .await?;
    Ok(())
}

/// Deletes every device of an account.
pub async fn delete_all<'c, E: Executor<'c, Database = Any>>(
    db: E,
    user_id: &str,
) -> Result<(), StorageError> {
    sqlx::query("DELETE FROM hs_devices WHERE user_id = $1")
        .bind(user_id)
        .execute(db)
        .await?;
    Ok(())
}
