//! Reads of the media projection: one medium by URI, a user's media, and the removals a
//! node has yet to act on.

use sqlx::{AnyConnection, AnyPool, Row};

/// One medium as the ledger names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MediaRow {
    /// `mxc://server/id`.
    pub mxc: String,
    /// The file's CID (base32).
    pub cid: String,
    /// Its length in bytes.
    pub size: u64,
    /// The uploader's content type.
    pub content_type: Option<String>,
    /// Who uploaded it.
    pub uploader: String,
    /// The uploading organisation.
    pub org: String,
    /// When it was uploaded (Unix ms).
    pub created_ms: u64,
    /// Its position on the ledger.
    pub pos: i64,
    /// Whether an admin removed it.
    pub removed: bool,
}

const COLUMNS: &str =
    "mxc, cid, size, content_type, uploader, org, created_ms, pos, removed_pos IS NOT NULL";

fn from_row(r: &sqlx::any::AnyRow) -> Result<MediaRow, sqlx::Error> {
    Ok(MediaRow {
        mxc: r.try_get(0)?,
        cid: r.try_get(1)?,
        size: r.try_get::<i64, _>(2)? as u64,
        content_type: r.try_get(3)?,
        uploader: r.try_get(4)?,
        org: r.try_get(5)?,
        created_ms: r.try_get::<i64, _>(6)? as u64,
        pos: r.try_get(7)?,
        removed: r
            .try_get::<bool, _>(8)
            .or_else(|_| r.try_get::<i64, _>(8).map(|v| v != 0))?,
    })
}

/// The medium named `mxc`, inside a block's transaction.
pub async fn get_in(conn: &mut AnyConnection, mxc: &str) -> Result<Option<MediaRow>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM bridge_media WHERE mxc = $1");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(mxc)
        .fetch_optional(&mut *conn)
        .await?
        .map(|r| from_row(&r))
        .transpose()
}

/// The medium named `mxc`.
pub async fn get(pool: &AnyPool, mxc: &str) -> Result<Option<MediaRow>, sqlx::Error> {
    let mut conn = pool.acquire().await?;
    get_in(&mut conn, mxc).await
}

/// A page of `user`'s media, newest first unless `oldest_first`, and how many there are in
/// all (removed ones included, as Synapse lists quarantined media).
pub async fn by_uploader(
    pool: &AnyPool,
    user: &str,
    from: u64,
    limit: u64,
    oldest_first: bool,
) -> Result<(Vec<MediaRow>, u64), sqlx::Error> {
    let order = if oldest_first { "ASC" } else { "DESC" };
    let sql = format!(
        "SELECT {COLUMNS} FROM bridge_media WHERE uploader = $1 \
         ORDER BY created_ms {order}, pos {order} LIMIT $2 OFFSET $3"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(user)
        .bind(limit.min(i64::MAX as u64) as i64)
        .bind(from.min(i64::MAX as u64) as i64)
        .fetch_all(pool)
        .await?
        .iter()
        .map(from_row)
        .collect::<Result<Vec<_>, _>>()?;
    let total: i64 = sqlx::query("SELECT COUNT(*) FROM bridge_media WHERE uploader = $1")
        .bind(user)
        .fetch_one(pool)
        .await?
        .try_get(0)?;
    Ok((rows, total as u64))
}

/// Media removed after position `after`, in ledger order, with the position of each removal.
pub async fn removed_after(
    pool: &AnyPool,
    after: i64,
    limit: i64,
) -> Result<Vec<(MediaRow, i64)>, sqlx::Error> {
    let sql = format!(
        "SELECT {COLUMNS}, removed_pos FROM bridge_media WHERE removed_pos > $1 \
         ORDER BY removed_pos LIMIT $2"
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(after)
        .bind(limit)
        .fetch_all(pool)
        .await?
        .iter()
        .map(|r| Ok((from_row(r)?, r.try_get::<i64, _>(9)?)))
        .collect()
}

/// Whether a medium that is not removed names the file `cid` (two uploads of the same bytes
/// share one file).
pub async fn cid_in_use(pool: &AnyPool, cid: &str) -> Result<bool, sqlx::Error> {
    Ok(
        sqlx::query("SELECT 1 FROM bridge_media WHERE cid = $1 AND removed_pos IS NULL LIMIT 1")
            .bind(cid)
            .fetch_optional(pool)
            .await?
            .is_some(),
    )
}
