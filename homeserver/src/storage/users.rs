//! Rows of `hs_users`: the node's own accounts, their approval state and their profile.

// Dynamic SQL below is assembled only from constants of this file, never from input.
use sqlx::{Any, AssertSqlSafe, Executor, Row, any::AnyRow};

use super::{StorageError, flag};

/// One account as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRow {
    /// Full Matrix user id.
    pub user_id: String,
    /// Its localpart.
    pub localpart: String,
    /// Argon2id PHC string; `None` for accounts that cannot log in with a password.
    pub password_hash: Option<String>,
    /// Admin of this node.
    pub is_admin: bool,
    /// Registration approved (and published to the ledger).
    pub approved: bool,
    /// Deactivated: can no longer log in.
    pub deactivated: bool,
    /// Creation time, ms since the epoch.
    pub created_ts: i64,
    /// The admin who approved, if any.
    pub approved_by: Option<String>,
    /// Display name.
    pub displayname: Option<String>,
    /// Avatar `mxc://` URL.
    pub avatar_url: Option<String>,
}

const COLUMNS: &str = "user_id, localpart, password_hash, is_admin, approved, deactivated, \
                       created_ts, approved_by, displayname, avatar_url";

fn from_row(row: &AnyRow) -> Result<UserRow, sqlx::Error> {
    Ok(UserRow {
        user_id: row.try_get("user_id")?,
        localpart: row.try_get("localpart")?,
        password_hash: row.try_get("password_hash")?,
        is_admin: row.try_get::<i64, _>("is_admin")? != 0,
        approved: row.try_get::<i64, _>("approved")? != 0,
        deactivated: row.try_get::<i64, _>("deactivated")? != 0,
        created_ts: row.try_get("created_ts")?,
        approved_by: row.try_get("approved_by")?,
        displayname: row.try_get("displayname")?,
        avatar_url: row.try_get("avatar_url")?,
    })
}

/// What it takes to create an account.
#[derive(Debug, Clone)]
pub struct NewUser<'a> {
    /// Full Matrix user id.
    pub user_id: &'a str,
    /// Its localpart.
    pub localpart: &'a str,
    /// Argon2id PHC string.
    pub password_hash: Option<&'a str>,
    /// Admin of this node.
    pub is_admin: bool,
    /// Creation time, ms since the epoch.
    pub created_ts: i64,
    /// Initial display name.
    pub displayname: Option<&'a str>,
}

/// Inserts an unapproved account; `Ok(false)` when the id is already taken.
pub async fn insert<'c, E: Executor<'c, Database = Any>>(
    db: E,
    user: &NewUser<'_>,
) -> Result<bool, StorageError> {
    let result = sqlx::query(
        "INSERT INTO hs_users (user_id, localpart, password_hash, is_admin, approved, deactivated, \
         created_ts, displayname) VALUES ($1, $2, $3, $4, 0, 0, $5, $6) ON CONFLICT DO NOTHING",
    )
    .bind(user.user_id)
    .bind(user.localpart)
    .bind(user.password_hash)
    .bind(flag(user.is_admin))
    .bind(user.created_ts)
    .bind(user.displayname)
    .execute(db)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// Deletes an account that never became usable (undoing a failed registration).
pub async fn delete_unapproved<'c, E: Executor<'c, Database = Any>>(
    db: E,
    user_id: &str,
) -> Result<(), StorageError> {
    sqlx::query("DELETE FROM hs_users WHERE user_id = $1 AND approved = 0")
        .bind(user_id)
        .execute(db)
        .await?;
    Ok(())
}

/// Looks an account up.
pub async fn get<'c, E: Executor<'c, Database = Any>>(
    db: E,
    user_id: &str,
) -> Result<Option<UserRow>, StorageError> {
    let row = sqlx::query(AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM hs_users WHERE user_id = $1"
    )))
    .bind(user_id)
    .fetch_optional(db)
    .await?;
    Ok(row.as_ref().map(from_row).transpose()?)
}

/// Which accounts `list` returns.
#[derive(Debug, Clone, Default)]
pub struct UserFilter {
    /// Include deactivated accounts.
    pub include_deactivated: bool,
    /// Only approved (`Some(true)`) or only pending (`Some(false)`) accounts.
    pub approved: Option<bool>,
    /// Rows to skip.
    pub offset: i64,
    /// Rows to return at most.
    pub limit: i64,
}

/// Lists accounts in user-id order with the total matching count.
pub async fn list(
    db: &sqlx::AnyPool,
    filter: &UserFilter,
) -> Result<(Vec<UserRow>, i64), StorageError> {
    let mut conditions = Vec::new();
    if !filter.include_deactivated {
        conditions.push("deactivated = 0");
    }
    match filter.approved {
        Some(true) => conditions.push("approved = 1"),
        Some(false) => conditions.push("approved = 0"),
        None => {}
    }
    let where_clause = if conditions.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", conditions.join(" AND "))
    };
    let total: i64 = sqlx::query(AssertSqlSafe(format!(
        "SELECT COUNT(*) AS n FROM hs_users {where_clause}"
    )))
    .fetch_one(db)
    .await?
    .try_get("n")?;
    let rows = sqlx::query(AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM hs_users {where_clause} ORDER BY user_id LIMIT $1 OFFSET $2"
    )))
    .bind(filter.limit)
    .bind(filter.offset)
    .fetch_all(db)
    .await?;
    let users = rows.iter().map(from_row).collect::<Result<_, _>>()?;
    Ok((users, total))
}

/// Marks an account approved (after the ledger accepted its registration).
pub async fn set_approved<'c, E: Executor<'c, Database = Any>>(
    db: E,
    user_id: &str,
    approved_by: Option<&str>,
    ts: i64,
) -> Result<(), StorageError> {
    sqlx::query(
        "UPDATE hs_users SET approved = 1, approved_by = $2, approved_ts = $3 WHERE user_id = $1",
    )
    .bind(user_id)
    .bind(approved_by)
    .bind(ts)
    .execute(db)
    .await?;
    Ok(())
}

/// Grants or revokes node admin rights.
pub async fn set_admin<'c, E: Executor<'c, Database = Any>>(
    db: E,
    user_id: &str,
    admin: bool,
) -> Result<(), StorageError> {
    sqlx::query("UPDATE hs_users SET is_admin = $2 WHERE user_id = $1")
        .bind(user_id)
        .bind(flag(admin))
        .execute(db)
        .await?;
    Ok(())
}

/// Marks an account deactivated and forgets its password.
pub async fn set_deactivated<'c, E: Executor<'c, Database = Any>>(
    db: E,
    user_id: &str,
) -> Result<(), StorageError> {
    sqlx::query("UPDATE hs_users SET deactivated = 1, password_hash = NULL WHERE user_id = $1")
        .bind(user_id)
        .execute(db)
        .await?;
    Ok(())
}

/// Replaces the password hash.
pub async fn set_password_hash<'c, E: Executor<'c, Database = Any>>(
    db: E,
    user_id: &str,
    hash: &str,
) -> Result<(), StorageError> {
    sqlx::query("UPDATE hs_users SET password_hash = $2 WHERE user_id = $1")
        .bind(user_id)
        .bind(hash)
        .execute(db)
        .await?;
    Ok(())
}

/// Sets or clears the display name.
pub async fn set_displayname<'c, E: Executor<'c, Database = Any>>(
    db: E,
    user_id: &str,
    displayname: Option<&str>,
) -> Result<(), StorageError> {
    sqlx::query("UPDATE hs_users SET displayname = $2 WHERE user_id = $1")
        .bind(user_id)
        .bind(displayname)
        .execute(db)
        .await?;
    Ok(())
}

/// Sets or clears the avatar URL.
pub async fn set_avatar_url<'c, E: Executor<'c, Database = Any>>(
    db: E,
    user_id: &str,
    avatar_url: Option<&str>,
) -> Result<(), StorageError> {
    sqlx::query("UPDATE hs_users SET avatar_url = $2 WHERE user_id = $1")
        .bind(user_id)
        .bind(avatar_url)
        .execute(db)
        .await?;
    Ok(())
}
