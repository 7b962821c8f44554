//! Server-side key backup (`/room_keys`), org-local: versions of a user's backup and the
//! room keys the client encrypted for it. Keys are replaced only by better ones (verified
//! over unverified, then the lower first message index, then fewer forwards), as the spec
//! says; every change moves the version's `etag`.

use http::StatusCode;
use ruma::api::error::{ErrorKind, WrongRoomKeysVersionErrorData};
use sqlx::{AnyPool, Row};

use crate::error::{Error, Result};

/// A backup version as `/room_keys/version` answers it.
#[derive(Debug, Clone)]
pub struct BackupInfo {
    /// The version.
    pub version: String,
    /// The `{algorithm, auth_data}` JSON the client created it with.
    pub algorithm: String,
    /// Keys stored.
    pub count: u64,
    /// Changes with every change of the keys.
    pub etag: String,
}

/// One room key: `(room id, session id, KeyBackupData JSON)`.
pub type BackupKey = (String, String, String);

fn unknown_version(version: &str) -> Error {
    Error::not_found(format!("Unknown backup version {version}"))
}

fn parse_version(version: &str) -> Result<i64> {
    version.parse().map_err(|_| unknown_version(version))
}

/// The algorithm name of a `{algorithm, auth_data}` object; both must be there.
fn algorithm_name(json: &str) -> Result<String> {
    let value: serde_json::Value =
        serde_json::from_str(json).map_err(|e| Error::bad_json(e.to_string()))?;
    if !value["auth_data"].is_object() {
        return Err(Error::bad_json("The backup needs an auth_data object"));
    }
    value["algorithm"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| Error::bad_json("The backup needs an algorithm"))
}

/// The user's latest backup version that is not deleted.
async fn current(pool: &AnyPool, user: &str) -> Result<Option<i64>> {
    let row = sqlx::query(
        "SELECT MAX(version) FROM hs_backup_versions WHERE user_id = $1 AND deleted = 0",
    )
    .bind(user)
    .fetch_one(pool)
    .await?;
    Ok(row.try_get::<Option<i64>, _>(0)?)
}

/// A version that exists and is not deleted, or 404.
async fn live(pool: &AnyPool, user: &str, version: &str) -> Result<i64> {
    let v = parse_version(version)?;
    let found = sqlx::query(
        "SELECT 1 FROM hs_backup_versions WHERE user_id = $1 AND version = $2 AND deleted = 0",
    )
    .bind(user)
    .bind(v)
    .fetch_optional(pool)
    .await?;
    found.map(|_| v).ok_or_else(|| unknown_version(version))
}

/// Creates a new version, which becomes the current one.
pub async fn create(pool: &AnyPool, user: &str, algorithm: &str) -> Result<String> {
    algorithm_name(algorithm)?;
    let mut tx = pool.begin().await?;
    let next: i64 = sqlx::query(
        "SELECT COALESCE(MAX(version), 0) + 1 FROM hs_backup_versions WHERE user_id = $1",
    )
    .bind(user)
    .fetch_one(&mut *tx)
    .await?
    .try_get(0)?;
    sqlx::query(
        "INSERT INTO hs_backup_versions (user_id, version, algorithm, etag, deleted) VALUES ($1, $2, $3, 0, 0)",
    )
    .bind(user)
    .bind(next)
    .bind(algorithm)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(next.to_string())
}

/// A version's description: the given one, or the current one.
pub async fn info(pool: &AnyPool, user: &str, version: Option<&str>) -> Result<BackupInfo> {
    let v = match version {
        Some(version) => live(pool, user, version).await?,
        None => current(pool, user)
            .await?
            .ok_or_else(|| Error::not_found("No current backup version"))?,
    };
    let row = sqlx::query(
        "SELECT algorithm, etag, (SELECT COUNT(*) FROM hs_backup_keys k WHERE k.user_id = v.user_id \
         AND k.version = v.version) FROM hs_backup_versions v WHERE user_id = $1 AND version = $2",
    )
    .bind(user)
    .bind(v)
    .fetch_one(pool)
    .await?;
    Ok(BackupInfo {
        version: v.to_string(),
        algorithm: row.try_get(0)?,
        etag: row.try_get::<i64, _>(1)?.to_string(),
        count: row.try_get::<i64, _>(2)? as u64,
    })
}

/// Replaces a version's `auth_data`; the algorithm may not change.
pub async fn update(pool: &AnyPool, user: &str, version: &str, algorithm: &str) -> Result<()> {
    let v = live(pool, user, version).await?;
    let old: String =
        sqlx::query("SELECT algorithm FROM hs_backup_versions WHERE user_id = $1 AND version = $2")
            .bind(user)
            .bind(v)
            .fetch_one(pool)
            .await?
            .try_get(0)?;
    if algorithm_name(&old)? != algorithm_name(algorithm)? {
        return Err(Error::invalid_param("The backup's algorithm cannot change"));
    }
    sqlx::query("UPDATE hs_backup_versions SET algorithm = $1 WHERE user_id = $2 AND version = $3")
        .bind(algorithm)
        .bind(user)
        .bind(v)
        .execute(pool)
        .await?;
    Ok(())
}

/// Deletes a version and its keys.
pub async fn delete_version(pool: &AnyPool, user: &str, version: &str) -> Result<()> {
    let v = live(pool, user, version).await?;
    let mut tx = pool.begin().await?;
    sqlx::query("UPDATE hs_backup_versions SET deleted = 1 WHERE user_id = $1 AND version = $2")
        .bind(user)
        .bind(v)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM hs_backup_keys WHERE user_id = $1 AND version = $2")
        .bind(user)
        .bind(v)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// What decides whether one backed-up key replaces another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Rank {
    is_verified: bool,
    first_message_index: i64,
    forwarded_count: i64,
}

impl Rank {
    fn of(json: &str) -> Result<Self> {
        #[derive(serde::Deserialize)]
        struct Data {
            first_message_index: i64,
            forwarded_count: i64,
            is_verified: bool,
            session_data: serde_json::Map<String, serde_json::Value>,
        }
        let d: Data = serde_json::from_str(json)
            .map_err(|e| Error::bad_json(format!("Invalid key backup data: {e}")))?;
        let _ = d.session_data;
        Ok(Self {
            is_verified: d.is_verified,
            first_message_index: d.first_message_index,
            forwarded_count: d.forwarded_count,
        })
    }

    /// Whether `self` is a better key than `old`.
    fn beats(&self, old: &Self) -> bool {
        if self.is_verified != old.is_verified {
            return self.is_verified;
        }
        (self.first_message_index, self.forwarded_count)
            < (old.first_message_index, old.forwarded_count)
    }
}

/// Stores keys into the current version (another version answers 403
/// `M_WRONG_ROOM_KEYS_VERSION`); answers the version's count and etag.
pub async fn put_keys(
    pool: &AnyPool,
    user: &str,
    version: &str,
    keys: Vec<BackupKey>,
) -> Result<(u64, String)> {
    let v = parse_version(version)?;
    let current = current(pool, user).await?;
    if current != Some(v) {
        let current_version = current.map(|c| c.to_string()).unwrap_or_default();
        return Err(Error::new(
            StatusCode::FORBIDDEN,
            ErrorKind::WrongRoomKeysVersion(WrongRoomKeysVersionErrorData::new(current_version)),
            "Wrong backup version",
        ));
    }
    let ranked = keys
        .into_iter()
        .map(|(room, session, json)| Ok((room, session, Rank::of(&json)?, json)))
        .collect::<Result<Vec<_>>>()?;
    let mut tx = pool.begin().await?;
    let mut changed = false;
    for (room, session, rank, json) in ranked {
        let old = sqlx::query(
            "SELECT is_verified, first_message_index, forwarded_count FROM hs_backup_keys \
             WHERE user_id = $1 AND version = $2 AND room_id = $3 AND session_id = $4",
        )
        .bind(user)
        .bind(v)
        .bind(&room)
        .bind(&session)
        .fetch_optional(&mut *tx)
        .await?;
        let old = old
            .map(|r| -> Result<Rank> {
                Ok(Rank {
                    is_verified: r.try_get::<i64, _>(0)? != 0,
                    first_message_index: r.try_get(1)?,
                    forwarded_count: r.try_get(2)?,
                })
            })
            .transpose()?;
        if old.is_some_and(|old| !rank.beats(&old)) {
            continue;
        }
        sqlx::query(
            "INSERT INTO hs_backup_keys (user_id, version, room_id, session_id, first_message_index, \
             forwarded_count, is_verified, key_data) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (user_id, version, room_id, session_id) DO UPDATE SET \
             first_message_index = excluded.first_message_index, forwarded_count = excluded.forwarded_count, \
             is_verified = excluded.is_verified, key_data = excluded.key_data",
        )
        .bind(user)
        .bind(v)
        .bind(&room)
        .bind(&session)
        .bind(rank.first_message_index)
        .bind(rank.forwarded_count)
        .bind(i64::from(rank.is_verified))
        .bind(json)
        .execute(&mut *tx)
        .await?;
        changed = true;
    }
    if changed {
        sqlx::query(
            "UPDATE hs_backup_versions SET etag = etag + 1 WHERE user_id = $1 AND version = $2",
        )
        .bind(user)
        .bind(v)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    let info = info(pool, user, Some(version)).await?;
    Ok((info.count, info.etag))
}

/// The SQL condition and binds selecting keys of a version, a room or a session.
fn scope(room: Option<&str>, session: Option<&str>) -> &'static str {
    match (room, session) {
        (None, _) => "",
        (Some(_), None) => " AND room_id = $3",
        (Some(_), Some(_)) => " AND room_id = $3 AND session_id = $4",
    }
}

/// The keys of a version (of one room, of one session).
pub async fn get_keys(
    pool: &AnyPool,
    user: &str,
    version: &str,
    room: Option<&str>,
    session: Option<&str>,
) -> Result<Vec<BackupKey>> {
    let v = live(pool, user, version).await?;
    let sql = format!(
        "SELECT room_id, session_id, key_data FROM hs_backup_keys WHERE user_id = $1 AND version = $2{} \
         ORDER BY room_id, session_id",
        scope(room, session)
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(user).bind(v);
    for value in [room, session].into_iter().flatten() {
        query = query.bind(value);
    }
    let rows = query.fetch_all(pool).await?;
    Ok(rows
        .iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
        .collect::<Result<Vec<_>, sqlx::Error>>()?)
}

/// Deletes the keys of a version (of one room, of one session); answers count and etag.
pub async fn delete_keys(
    pool: &AnyPool,
    user: &str,
    version: &str,
    room: Option<&str>,
    session: Option<&str>,
) -> Result<(u64, String)> {
    let v = live(pool, user, version).await?;
    let sql = format!(
        "DELETE FROM hs_backup_keys WHERE user_id = $1 AND version = $2{}",
        scope(room, session)
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(user).bind(v);
    for value in [room, session].into_iter().flatten() {
        query = query.bind(value);
    }
    if query.execute(pool).await?.rows_affected() > 0 {
        sqlx::query(
            "UPDATE hs_backup_versions SET etag = etag + 1 WHERE user_id = $1 AND version = $2",
        )
        .bind(user)
        .bind(v)
        .execute(pool)
        .await?;
    }
    let info = info(pool, user, Some(version)).await?;
    Ok((info.count, info.etag))
}
