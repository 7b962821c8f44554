//! Rows of `hs_openid_tokens`: OpenID tokens by digest, with their user and expiry.

use sqlx::{AnyPool, Row};

use super::StorageError;

/// Stores a token's digest for `user_id` until `expires_ms`, dropping expired ones on the way.
pub async fn insert(
    pool: &AnyPool,
    digest: &str,
    user_id: &str,
    (now_ms, expires_ms): (i64, i64),
) -> Result<(), StorageError> {
    let mut tx = pool.begin().await?;
    sqlx::query("DELETE FROM hs_openid_tokens WHERE expires_ms <= $1")
        .bind(now_ms)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO hs_openid_tokens (token_digest, user_id, expires_ms) VALUES ($1, $2, $3)",
    )
    .bind(digest)
    .bind(user_id)
    .bind(expires_ms)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The user a token was issued to, while it has not expired at `now_ms`.
pub async fn user_of(
    pool: &AnyPool,
    digest: &str,
    now_ms: i64,
) -> Result<Option<String>, StorageError> {
    let row = sqlx::query(
        "SELECT user_id FROM hs_openid_tokens WHERE token_digest = $1 AND expires_ms > $2",
    )
    .bind(digest)
    .bind(now_ms)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|r| r.try_get(0)).transpose()?)
}
