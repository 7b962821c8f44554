//! Rows of `hs_account_data`: a user's global (`room_id = ''`) and per-room account data, each
//! change stamped with the next local stream value.

use sqlx::{AnyPool, Row};

use super::{StorageError, local_stream};

/// One account data entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountData {
    /// Room, empty for global data.
    pub room_id: String,
    /// Event type.
    pub data_type: String,
    /// Content as JSON text.
    pub content: String,
}

/// Sets an entry; returns its stream value.
pub async fn set(
    pool: &AnyPool,
    user_id: &str,
    room_id: &str,
    data_type: &str,
    content: &str,
) -> Result<i64, StorageError> {
    let mut tx = pool.begin().await?;
    let stream_id = local_stream::next(&mut tx).await?;
    sqlx::query(
        "INSERT INTO hs_account_data (user_id, room_id, data_type, content, stream_id) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (user_id, room_id, data_type) \
         DO UPDATE SET content = excluded.content, stream_id = excluded.stream_id",
    )
    .bind(user_id)
    .bind(room_id)
    .bind(data_type)
    .bind(content)
    .bind(stream_id)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(stream_id)
}

/// One entry's content.
pub async fn get(
    pool: &AnyPool,
    user_id: &str,
    room_id: &str,
    data_type: &str,
) -> Result<Option<String>, StorageError> {
    let row = sqlx::query(
        "SELECT content FROM hs_account_data WHERE user_id = $1 AND room_id = $2 AND data_type = $3",
    )
    .bind(user_id)
    .bind(room_id)
    .bind(data_type)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|r| r.try_get(0)).transpose()?)
}

/// Entries changed with `after < stream_id <= upto`, every room.
pub async fn changed(
    pool: &AnyPool,
    user_id: &str,
    after: i64,
    upto: i64,
) -> Result<Vec<AccountData>, StorageError> {
    let rows = sqlx::query(
        "SELECT room_id, data_type, content FROM hs_account_data \
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
            Ok(AccountData {
                room_id: r.try_get(0)?,
                data_type: r.try_get(1)?,
                content: r.try_get(2)?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()?)
}
