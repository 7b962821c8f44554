//! The projection's user table: accounts of every organisation certified on the ledger.

use sqlx::{AnyConnection, AnyPool, Row};

/// One certified user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserRow {
    /// Full Matrix user id.
    pub user_id: String,
    /// Owning organisation.
    pub org: String,
    /// Approving admin.
    pub approved_by: String,
    /// Approval time (Unix ms).
    pub approved_at_ms: u64,
    /// Height of the block that certified it.
    pub height: u64,
    /// Whether it was deactivated.
    pub deactivated: bool,
    /// Public display name.
    pub displayname: Option<String>,
    /// Public avatar.
    pub avatar_url: Option<String>,
}

const COLUMNS: &str = "user_id, org, approved_by, approved_at_ms, height, deactivated, \
                       displayname, avatar_url";

fn from_row(r: sqlx::any::AnyRow) -> Result<UserRow, sqlx::Error> {
    Ok(UserRow {
        user_id: r.try_get(0)?,
        org: r.try_get(1)?,
        approved_by: r.try_get(2)?,
        approved_at_ms: r.try_get::<i64, _>(3)? as u64,
        height: r.try_get::<i64, _>(4)? as u64,
        deactivated: r.try_get::<i64, _>(5)? != 0,
        displayname: r.try_get(6)?,
        avatar_url: r.try_get(7)?,
    })
}

/// Loads a user inside an open transaction.
pub async fn get_in(
    conn: &mut AnyConnection,
    user_id: &str,
) -> Result<Option<UserRow>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM bridge_users WHERE user_id = $1");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(user_id)
        .fetch_optional(conn)
        .await?
        .map(from_row)
        .transpose()
}

/// Loads a user.
pub async fn get(pool: &AnyPool, user_id: &str) -> Result<Option<UserRow>, sqlx::Error> {
    let mut conn = pool.acquire().await?;
    get_in(&mut conn, user_id).await
}
