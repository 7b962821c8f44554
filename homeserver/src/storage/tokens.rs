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

/// Stores a new access token digest that never expires.
pub async fn insert<'c, E: Executor<'c, Database = Any>>(
    db: E,
    token_hash: &str,
    user_id: &str,
    device_id: &str,
    ts: i64,
) -> Result<(), StorageError> {
    insert_kind(
        db,
        token_hash,
        (user_id, device_id),
        ts,
        TokenKind::Access(None),
    )
    .await
}

/// What a stored token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// An access token, expiring at the given time (Unix ms) when issued with a refresh token.
    Access(Option<i64>),
    /// A refresh token: good for one `/refresh`.
    Refresh,
}

/// Stores a new token digest of either kind.
pub async fn insert_kind<'c, E: Executor<'c, Database = Any>>(
    db: E,
    token_hash: &str,
    (user_id, device_id): (&str, &str),
    ts: i64,
    kind: TokenKind,
) -> Result<(), StorageError> {
    let (expires, refresh) = match kind {
        TokenKind::Access(expires) => (expires, 0i64),
        TokenKind::Refresh => (None, 1),
    };
    sqlx::query(
        "INSERT INTO hs_access_tokens (token_hash, user_id, device_id, created_ts, expires_ts, refresh) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(token_hash)
    .bind(user_id)
    .bind(device_id)
    .bind(ts)
    .bind(expires)
    .bind(refresh)
    .execute(db)
    .await?;
    Ok(())
}

/// Takes a refresh token out (it is good once): its device, when it was one.
pub async fn take_refresh(
    conn: &mut sqlx::AnyConnection,
    token_hash: &str,
) -> Result<Option<TokenOwner>, StorageError> {
    let row = sqlx::query(
        "SELECT user_id, device_id FROM hs_access_tokens WHERE token_hash = $1 AND refresh = 1",
    )
    .bind(token_hash)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else { return Ok(None) };
    sqlx::query("DELETE FROM hs_access_tokens WHERE token_hash = $1")
        .bind(token_hash)
        .execute(&mut *conn)
        .await?;
    Ok(Some(TokenOwner {
        user_id: row.try_get(0)?,
        device_id: row.try_get(1)?,
    }))
}

/// A token's owner with the account flags authentication looks at, in one query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenAccount {
    /// The account and device.
    pub owner: TokenOwner,
    /// Whether the account administers this node.
    pub is_admin: bool,
    /// Whether the account is approved.
    pub approved: bool,
    /// Whether the account is deactivated.
    pub deactivated: bool,
    /// When the token expires (Unix ms), for one issued with a refresh token.
    pub expires_ts: Option<i64>,
    /// Whether an admin suspended the account.
    pub suspended: bool,
    /// Whether an admin locked the account.
    pub locked: bool,
}

/// Finds the account behind a token digest.
pub async fn account<'c, E: Executor<'c, Database = Any>>(
    db: E,
    token_hash: &str,
) -> Result<Option<TokenAccount>, StorageError> {
    let row = sqlx::query(
        "SELECT t.user_id, t.device_id, u.is_admin, u.approved, u.deactivated, t.expires_ts, \
         u.suspended, u.locked \
         FROM hs_access_tokens t JOIN hs_users u ON u.user_id = t.user_id \
         WHERE t.token_hash = $1 AND t.refresh = 0",
    )
    .bind(token_hash)
    .fetch_optional(db)
    .await?;
    let Some(row) = row else { return Ok(None) };
    Ok(Some(TokenAccount {
        owner: TokenOwner {
            user_id: row.try_get(0)?,
            device_id: row.try_get(1)?,
        },
        is_admin: row.try_get::<i64, _>(2)? != 0,
        approved: row.try_get::<i64, _>(3)? != 0,
        deactivated: row.try_get::<i64, _>(4)? != 0,
        expires_ts: row.try_get(5)?,
        suspended: row.try_get::<i64, _>(6)? != 0,
        locked: row.try_get::<i64, _>(7)? != 0,
    }))
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
