//! Rows of `hs_pushers`: a user's pushers, keyed by (app id, pushkey, user), stored as the
//! JSON the client set.

use sqlx::{AnyPool, Row};

use super::StorageError;

/// One stored pusher.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPusher {
    /// Its user.
    pub user_id: String,
    /// The app it belongs to.
    pub app_id: String,
    /// The device's push key.
    pub pushkey: String,
    /// The pusher, as JSON.
    pub pusher: String,
}

/// Adds or replaces a pusher; unless `append`, the same (app id, pushkey) of other users
/// goes (the device changed hands), as the spec says.
pub async fn set(
    pool: &AnyPool,
    p: &StoredPusher,
    append: bool,
    now_ms: i64,
) -> Result<(), StorageError> {
    let mut tx = pool.begin().await?;
    if !append {
        sqlx::query("DELETE FROM hs_pushers WHERE app_id = $1 AND pushkey = $2 AND user_id <> $3")
            .bind(&p.app_id)
            .bind(&p.pushkey)
            .bind(&p.user_id)
            .execute(&mut *tx)
            .await?;
    }
    sqlx::query(
        "INSERT INTO hs_pushers (user_id, app_id, pushkey, pusher, created_ms) \
         VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (app_id, pushkey, user_id) DO UPDATE SET pusher = excluded.pusher",
    )
    .bind(&p.user_id)
    .bind(&p.app_id)
    .bind(&p.pushkey)
    .bind(&p.pusher)
    .bind(now_ms)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Removes one pusher of a user; whether there was one.
pub async fn delete(
    pool: &AnyPool,
    user_id: &str,
    app_id: &str,
    pushkey: &str,
) -> Result<bool, StorageError> {
    let done =
        sqlx::query("DELETE FROM hs_pushers WHERE user_id = $1 AND app_id = $2 AND pushkey = $3")
            .bind(user_id)
            .bind(app_id)
            .bind(pushkey)
            .execute(pool)
            .await?;
    Ok(done.rows_affected() > 0)
}

/// The users that have a pusher at all.
pub async fn users(pool: &AnyPool) -> Result<std::collections::HashSet<String>, StorageError> {
    let rows = sqlx::query("SELECT DISTINCT user_id FROM hs_pushers")
        .fetch_all(pool)
        .await?;
    rows.iter()
        .map(|r| r.try_get(0))
        .collect::<Result<_, sqlx::Error>>()
        .map_err(Into::into)
}

/// A user's pushers, oldest first.
pub async fn of_user(pool: &AnyPool, user_id: &str) -> Result<Vec<StoredPusher>, StorageError> {
    let rows = sqlx::query(
        "SELECT user_id, app_id, pushkey, pusher FROM hs_pushers WHERE user_id = $1 \
         ORDER BY created_ms, app_id, pushkey",
    )
    .bind(user_id)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(StoredPusher {
                user_id: r.try_get(0)?,
                app_id: r.try_get(1)?,
                pushkey: r.try_get(2)?,
                pusher: r.try_get(3)?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(Into::into)
}
