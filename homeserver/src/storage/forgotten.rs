//! Rows of `hs_forgotten_rooms`: rooms a user left and asked to forget; they disappear from
//! that user's `/sync` until the user joins again.

use sqlx::{AnyPool, Row};

use super::StorageError;

/// Marks a room forgotten.
pub async fn forget(pool: &AnyPool, user_id: &str, room_id: &str) -> Result<(), StorageError> {
    sqlx::query(
        "INSERT INTO hs_forgotten_rooms (user_id, room_id) VALUES ($1, $2) \
         ON CONFLICT (user_id, room_id) DO NOTHING",
    )
    .bind(user_id)
    .bind(room_id)
    .execute(pool)
    .await?;
    Ok(())
}

/// Forgets the forgetting (the user joined again).
pub async fn remember(pool: &AnyPool, user_id: &str, room_id: &str) -> Result<(), StorageError> {
    sqlx::query("DELETE FROM hs_forgotten_rooms WHERE user_id = $1 AND room_id = $2")
        .bind(user_id)
        .bind(room_id)
        .execute(pool)
        .await?;
    Ok(())
}

/// Every room a user forgot.
pub async fn all(pool: &AnyPool, user_id: &str) -> Result<Vec<String>, StorageError> {
    let rows = sqlx::query("SELECT room_id FROM hs_forgotten_rooms WHERE user_id = $1")
        .bind(user_id)
        .fetch_all(pool)
        .await?;
    Ok(rows
        .iter()
        .map(|r| r.try_get(0))
        .collect::<Result<_, _>>()?)
}
