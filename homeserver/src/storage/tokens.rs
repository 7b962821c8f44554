//! Rows of `hs_access_tokens`: sha256 digests of access tokens, never the tokens themselves.

use sqlx::{Any, Executor, Row};

use super::StorageError;

/// Whom a token belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenOwner {
    /// The account.
    pub user_id: String,
    /// The device the token was issued for.
    pub device_id: String,
}

/// Stores a new token digest.
pub async fn insert<'c, E: Executor<'c, Database = Any>>(
    db: E,
    token_hash: &str,
    user_id: &str,
    device_id: &str,
    ts: i64,
) -> Result<(), StorageError> {
    sqlx::query(
        "INSERT INTO hs_access_tokens (token_hash, user_id, device_id, created_ts) VALUES ($1, $2, $3, $4)",
    )
    .bind(token_hash)
    .bind(user_id)
    .bind(device_id)
    .bind(ts)
    .execute(db)
    .await?;
    Ok(())
}

/// Finds the owner of a token digest.
pub async fn owner<'c, E: Executor<'c, Database = Any>>(
    db: E,
    token_hash: &str,
) -> Result<Option<TokenOwner>, StorageError> {
    let row = sqlx::query("SELECT user_id, device_id FROM hs_access_tokens WHERE token_hash = $1")
        .bind(token_hash)
        .fetch_optional(db)
        .await?;
    Ok(match row {
        Some(row) => Some(TokenOwner {
            user_id: row.try_get("user_id")?,
            device_id: row.try_get("device_id")?,
        }),
        None => None,
    })
}

/// Revokes the tokens of one device.
pub async fn delete_for_device<'c, E: Executor<'c, Database = Any>>(
    db: E,
    user_id: &str,
    device_id: &str,
) -> Result<(), StorageError> {
    sqlx::query("DELETE FROM hs_access_tokens WHERE user_id = $1 AND device_id = $2")
        .bind(user_id)
        .bind(device_id)
        .execute(db)
        .await?;
    Ok(())
}

/// Revokes every token of an account, optionally sparing one device's.
pub async fn delete_for_user<'c, E: Executor<'c, Database = Any>>(
    db: E,
    user_id: &str,
    except_device: Option<&str>,
) -> Result<(), StorageError> {
    sqlx::query(
        "DELETE FROM hs_access_tokens WHERE user_id = $1 AND device_id <> COALESCE($2, '')",
    )
    .bind(user_id)
    .bind(except_device)
    .execute(db)
    .await?;
    Ok(())
}
