//! The `suspended` and `locked` flags of `hs_users`, which an organisation's admins set.

use sqlx::{AnyPool, Row};

use super::StorageError;

/// A flag an admin sets on an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Restriction {
    /// May read, leave and log out, not act.
    Suspended,
    /// Every request answers `M_USER_LOCKED`.
    Locked,
}

impl Restriction {
    fn column(self) -> &'static str {
        match self {
            Self::Suspended => "suspended",
            Self::Locked => "locked",
        }
    }
}

/// The flag of a local account, `None` when there is no such account.
pub async fn get(
    pool: &AnyPool,
    user_id: &str,
    which: Restriction,
) -> Result<Option<bool>, StorageError> {
    let sql = format!("SELECT {} FROM hs_users WHERE user_id = $1", which.column());
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(user_id)
        .fetch_optional(pool)
        .await?;
    Ok(row
        .map(|r| r.try_get::<i64, _>(0).map(|v| v != 0))
        .transpose()?)
}

/// Sets the flag; whether the account exists.
pub async fn set(
    pool: &AnyPool,
    user_id: &str,
    which: Restriction,
    on: bool,
) -> Result<bool, StorageError> {
    let sql = format!(
        "UPDATE hs_users SET {} = $1 WHERE user_id = $2",
        which.column()
    );
    let done = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(i64::from(on))
        .bind(user_id)
        .execute(pool)
        .await?;
    Ok(done.rows_affected() > 0)
}
