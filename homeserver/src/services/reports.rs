//! Reports of events, rooms and users: kept by the reporter's own organisation, which is the
//! one that moderates its users, and listed for its admins in Synapse's admin API shape.

use serde::Serialize;
use sqlx::{AnyPool, Row};

use crate::error::{Error, Result};

/// What is reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportKind {
    /// An event of a room.
    Event,
    /// A whole room.
    Room,
    /// A user.
    User,
}

impl ReportKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Event => "event",
            Self::Room => "room",
            Self::User => "user",
        }
    }
}

/// A new report.
#[derive(Debug, Clone)]
pub struct NewReport<'a> {
    /// What is reported.
    pub kind: ReportKind,
    /// The room, for an event or a room.
    pub room_id: Option<&'a str>,
    /// The event, for an event.
    pub event_id: Option<&'a str>,
    /// The event's sender, or the reported user.
    pub target_user: Option<&'a str>,
    /// Who reports.
    pub reporter: &'a str,
    /// Why, in the reporter's words.
    pub reason: Option<&'a str>,
}

/// A stored event report, as Synapse's admin API lists it.
#[derive(Debug, Clone, Serialize)]
pub struct EventReport {
    /// The report's id.
    pub id: i64,
    /// When it was received (Unix ms).
    pub received_ts: i64,
    /// The room.
    pub room_id: String,
    /// The reported event.
    pub event_id: String,
    /// The reporter.
    pub user_id: String,
    /// The reporter's reason.
    pub reason: Option<String>,
    /// The reported event's sender.
    pub sender: Option<String>,
}

fn db(err: sqlx::Error) -> Error {
    Error::Internal(format!("reports: {err}"))
}

/// Stores a report; answers its id.
pub async fn add(pool: &AnyPool, report: NewReport<'_>, now_ms: i64) -> Result<i64> {
    let mut tx = pool.begin().await.map_err(db)?;
    let id: i64 = sqlx::query(
        "UPDATE hs_counters SET value = value + 1 WHERE name = 'reports' RETURNING value",
    )
    .fetch_one(&mut *tx)
    .await
    .and_then(|r| r.try_get(0))
    .map_err(db)?;
    sqlx::query(
        "INSERT INTO hs_reports (id, kind, room_id, event_id, target_user, event_sender, reporter, reason, received_ts) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(id)
    .bind(report.kind.as_str())
    .bind(report.room_id)
    .bind(report.event_id)
    .bind(report.target_user)
    .bind((report.kind == ReportKind::Event).then_some(report.target_user).flatten())
    .bind(report.reporter)
    .bind(report.reason)
    .bind(now_ms)
    .execute(&mut *tx)
    .await
    .map_err(db)?;
    tx.commit().await.map_err(db)?;
    Ok(id)
}

fn event_report(r: &sqlx::any::AnyRow) -> std::result::Result<EventReport, sqlx::Error> {
    Ok(EventReport {
        id: r.try_get(0)?,
        received_ts: r.try_get(1)?,
        room_id: r.try_get::<Option<String>, _>(2)?.unwrap_or_default(),
        event_id: r.try_get::<Option<String>, _>(3)?.unwrap_or_default(),
        user_id: r.try_get(4)?,
        reason: r.try_get(5)?,
        sender: r.try_get(6)?,
    })
}

const COLUMNS: &str = "id, received_ts, room_id, event_id, reporter, reason, event_sender";

/// Filters of the admin listing.
#[derive(Debug, Default, Clone)]
pub struct ReportFilter {
    /// Only reports by this user.
    pub user_id: Option<String>,
    /// Only reports about this room.
    pub room_id: Option<String>,
    /// Only reports about events sent by this user.
    pub event_sender: Option<String>,
}

/// One page of event reports, newest first unless `forwards`, and the total that match.
pub async fn list_events(
    pool: &AnyPool,
    filter: &ReportFilter,
    from: i64,
    limit: i64,
    forwards: bool,
) -> Result<(Vec<EventReport>, i64)> {
    let clause = "kind = 'event' AND ($1 IS NULL OR reporter = $1) AND ($2 IS NULL OR room_id = $2) \
                  AND ($3 IS NULL OR event_sender = $3)";
    let order = if forwards { "ASC" } else { "DESC" };
    let sql = format!(
        "SELECT {COLUMNS} FROM hs_reports WHERE {clause} ORDER BY received_ts {order}, id {order} \
         LIMIT $4 OFFSET $5"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(filter.user_id.as_deref())
        .bind(filter.room_id.as_deref())
        .bind(filter.event_sender.as_deref())
        .bind(limit)
        .bind(from)
        .fetch_all(pool)
        .await
        .map_err(db)?;
    let total: i64 = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT COUNT(*) FROM hs_reports WHERE {clause}"
    )))
    .bind(filter.user_id.as_deref())
    .bind(filter.room_id.as_deref())
    .bind(filter.event_sender.as_deref())
    .fetch_one(pool)
    .await
    .and_then(|r| r.try_get(0))
    .map_err(db)?;
    let reports = rows
        .iter()
        .map(event_report)
        .collect::<std::result::Result<_, _>>()
        .map_err(db)?;
    Ok((reports, total))
}

/// One event report.
pub async fn get_event(pool: &AnyPool, id: i64) -> Result<Option<EventReport>> {
    let sql = format!("SELECT {COLUMNS} FROM hs_reports WHERE kind = 'event' AND id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(pool)
        .await
        .map_err(db)?;
    row.as_ref().map(event_report).transpose().map_err(db)
}

/// Deletes an event report; whether there was one.
pub async fn delete_event(pool: &AnyPool, id: i64) -> Result<bool> {
    let done = sqlx::query("DELETE FROM hs_reports WHERE kind = 'event' AND id = $1")
        .bind(id)
        .execute(pool)
        .await
        .map_err(db)?;
    Ok(done.rows_affected() > 0)
}
