//! Rows of `hs_send_txns`: which event a client's `(device, txn id)` produced, so a retried
//! `PUT .../send/{type}/{txnId}` answers the same event instead of sending twice.

use sqlx::{AnyPool, Row};

use super::StorageError;

/// The event an earlier request with this transaction id produced.
pub async fn get(
    pool: &AnyPool,
    user_id: &str,
    device_id: &str,
    txn_id: &str,
) -> Result<Option<String>, StorageError> {
    let row = sqlx::query(
        "SELECT event_id FROM hs_send_txns WHERE user_id = $1 AND device_id = $2 AND txn_id = $3",
    )
    .bind(user_id)
    .bind(device_id)
    .bind(txn_id)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|r| r.try_get(0)).transpose()?)
}

/// Records the event a transaction id produced.
pub async fn insert(
    pool: &AnyPool,
    user_id: &str,
    device_id: &str,
    txn_id: &str,
    event_id: &str,
) -> Result<(), StorageError> {
    sqlx::query(
        "INSERT INTO hs_send_txns (user_id, device_id, txn_id, event_id) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (user_id, device_id, txn_id) DO NOTHING",
    )
    .bind(user_id)
    .bind(device_id)
    .bind(txn_id)
    .bind(event_id)
    .execute(pool)
    .await?;
    Ok(())
}

/// The transaction ids of several events (at most 500), for those `device_id` of `user_id`
/// sent: `(event_id, txn_id)` (clients match their local echo by it).
pub async fn txns_of(
    pool: &AnyPool,
    user_id: &str,
    device_id: &str,
    event_ids: &[&str],
) -> Result<Vec<(String, String)>, StorageError> {
    if event_ids.is_empty() {
        return Ok(Vec::new());
    }
    let list = (0..event_ids.len())
        .map(|i| format!("${}", i + 3))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "SELECT event_id, txn_id FROM hs_send_txns WHERE user_id = $1 AND device_id = $2 \
         AND event_id IN ({list})"
    );
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(user_id)
        .bind(device_id);
    for id in event_ids {
        q = q.bind(*id);
    }
    Ok(q.fetch_all(pool)
        .await?
        .iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect::<Result<_, sqlx::Error>>()?)
}
