//! Rows of `hs_filters`: the sync filters clients upload.

use sqlx::{Any, Executor, Row};

use super::StorageError;

/// Stores a filter under a fresh id.
pub async fn insert<'c, E: Executor<'c, Database = Any>>(
    db: E,
    user_id: &str,
    filter_id: &str,
    filter_json: &str,
) -> Result<(), StorageError> {
    sqlx::query("INSERT INTO hs_filters (user_id, filter_id, filter_json) VALUES ($1, $2, $3)")
        .bind(user_id)
        .bind(filter_id)
        .bind(filter_json)
        .execute(db)
        .await?;
    Ok(())
}

/// Reads a filter back as its JSON text.
pub async fn get<'c, E: Executor<'c, Database = Any>>(
    db: E,
    user_id: &str,
    filter_id: &str,
) -> Result<Option<String>, StorageError> {
    let row =
        sqlx::query("SELECT filter_json FROM hs_filters WHERE user_id = $1 AND filter_id = $2")
            .bind(user_id)
            .bind(filter_id)
            .fetch_optional(db)
            .await?;
    Ok(match row {
        Some(row) => Some(row.try_get("filter_json")?),
        None => None,
    })
}
