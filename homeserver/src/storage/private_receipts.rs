//! Rows of `hs_private_receipts`: `m.read.private` receipts, which only their owner sees and
//! which therefore never leave this node.

use sqlx::{AnyPool, Row};

use super::{StorageError, local_stream};

/// A private receipt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrivateReceipt {
    /// Room.
    pub room_id: String,
    /// Thread, empty when unthreaded.
    pub thread_id: String,
    /// Event read up to.
    pub event_id: String,
    /// When (Unix ms).
    pub ts: i64,
}

/// Stores a user's private receipt; returns its stream value.
pub async fn set(
    pool: &AnyPool,
    user_id: &str,
    receipt: &PrivateReceipt,
) -> Result<i64, StorageError> {
    let mut tx = pool.begin().await?;
    let stream_id = local_stream::next(&mut tx).await?;
    sqlx::query(
        "INSERT INTO hs_private_receipts (user_id, room_id, thread_id, event_id, ts, stream_id) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (user_id, room_id, thread_id) \
         DO UPDATE SET event_id = excluded.event_id, ts = excluded.ts, stream_id = excluded.stream_id",
    )
    .bind(user_id)
    .bind(&receipt.room_id)
    .bind(&receipt.thread_id)
    .bind(&receipt.event_id)
    .bind(receipt.ts)
    .bind(stream_id)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(stream_id)
}

/// A user's private receipts changed with `after < stream_id <= upto`.
pub async fn changed(
    pool: &AnyPool,
    user_id: &str,
    after: i64,
    upto: i64,
) -> Result<Vec<PrivateReceipt>, StorageError> {
    let rows = sqlx::query(
        "SELECT room_id, thread_id, event_id, ts FROM hs_private_receipts \
         WHERE user_id = $1 AND stream_id > $2 AND stream_id <= $3 ORDER BY stream_id",
    )
    .bind(user_id)
    .bind(after)
    .bind(upto)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .iter()
        .map(|r| {
            Ok(PrivateReceipt {
                room_id: r.try_get(0)?,
                thread_id: r.try_get(1)?,
                event_id: r.try_get(2)?,
                ts: r.try_get(3)?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()?)
}
