//! The org-local stream counter (`hs_counters`): every change /sync must pick up that is not on
//! the ledger (account data, private receipts, forgotten rooms) takes the next value, so a
//! `since` token's local part says exactly which of them a client has seen.

use sqlx::{AnyConnection, AnyPool, Row};

use super::StorageError;

/// Takes the next value inside the caller's transaction (the row lock orders writers).
pub async fn next(conn: &mut AnyConnection) -> Result<i64, StorageError> {
    let row = sqlx::query(
        "UPDATE hs_counters SET value = value + 1 WHERE name = 'local' RETURNING value",
    )
    .fetch_one(conn)
    .await?;
    Ok(row.try_get(0)?)
}

/// The latest value handed out (and committed).
pub async fn current(pool: &AnyPool) -> Result<i64, StorageError> {
    let row = sqlx::query("SELECT value FROM hs_counters WHERE name = 'local'")
        .fetch_one(pool)
        .await?;
    Ok(row.try_get(0)?)
}
