//! Synapse's admin API for event reports: `GET /_synapse/admin/v1/event_reports` (with `from`,
//! `limit`, `dir`, `user_id`, `room_id`, `event_sender_user_id`), `GET .../{reportId}` (with the
//! reported event's JSON) and `DELETE .../{reportId}`. An organisation's admins see the
//! reports of its own users.

use axum::Json;
use axum::extract::{Path, Query, State};
use serde::Deserialize;
use serde_json::{Value, json};

use super::AdminSender;
use crate::api::client::AppStateRef;
use crate::error::{Error, Result};
use crate::services::reports::{self, ReportFilter};

/// The listing's query parameters.
#[derive(Debug, Deserialize)]
pub struct ListQuery {
    /// Offset of the first report.
    #[serde(default)]
    pub from: Option<String>,
    /// Page size (default 100).
    #[serde(default)]
    pub limit: Option<String>,
    /// `b` (newest first, the default) or `f`.
    #[serde(default)]
    pub dir: Option<String>,
    /// Only reports by this user.
    #[serde(default)]
    pub user_id: Option<String>,
    /// Only reports about this room.
    #[serde(default)]
    pub room_id: Option<String>,
    /// Only reports about this sender's events.
    #[serde(default)]
    pub event_sender_user_id: Option<String>,
}

fn non_negative(value: Option<&str>, name: &str, default: i64) -> Result<i64> {
    match value {
        None => Ok(default),
        Some(v) => v.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| {
            Error::invalid_param(format!(
                "Query parameter {name} must be a non-negative integer"
            ))
        }),
    }
}

fn report_id(id: &str) -> Result<i64> {
    id.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| {
        Error::invalid_param(
            "The report_id parameter must be a string representing a positive integer.",
        )
    })
}

/// `GET /_synapse/admin/v1/event_reports`
pub async fn list_route(
    State(state): AppStateRef,
    AdminSender(_admin): AdminSender,
    Query(q): Query<ListQuery>,
) -> Result<Json<Value>> {
    let from = non_negative(q.from.as_deref(), "from", 0)?;
    let limit = non_negative(q.limit.as_deref(), "limit", 100)?;
    let forwards = match q.dir.as_deref() {
        None | Some("b") => false,
        Some("f") => true,
        Some(_) => {
            return Err(Error::invalid_param(
                "Unknown direction: dir must be 'b' or 'f'",
            ));
        }
    };
    let filter = ReportFilter {
        user_id: q.user_id,
        room_id: q.room_id,
        event_sender: q.event_sender_user_id,
    };
    let (page, total) =
        reports::list_events(&state.db.pool, &filter, from, limit, forwards).await?;
    let mut answer = json!({ "event_reports": page, "total": total });
    if from + (page.len() as i64) < total {
        answer["next_token"] = json!(from + page.len() as i64);
    }
    Ok(Json(answer))
}

/// `GET /_synapse/admin/v1/event_reports/{reportId}`: the report and the reported event.
pub async fn get_route(
    State(state): AppStateRef,
    AdminSender(_admin): AdminSender,
    Path(id): Path<String>,
) -> Result<Json<Value>> {
    let report = reports::get_event(&state.db.pool, report_id(&id)?)
        .await?
        .ok_or_else(|| Error::not_found("Event report not found"))?;
    let event = consort_bridge::rooms::read::event(state.chain()?.pool(), &report.event_id)
        .await
        .map_err(crate::services::rooms::send::store_error)?;
    let mut answer = json!(report);
    answer["event_json"] = match event {
        Some(e) => serde_json::from_str(&e.json).unwrap_or(Value::Null),
        None => Value::Null,
    };
    Ok(Json(answer))
}

/// `DELETE /_synapse/admin/v1/event_reports/{reportId}`
pub async fn delete_route(
    State(state): AppStateRef,
    AdminSender(_admin): AdminSender,
    Path(id): Path<String>,
) -> Result<Json<Value>> {
    if !reports::delete_event(&state.db.pool, report_id(&id)?).await? {
        return Err(Error::not_found("Event report not found"));
    }
    Ok(Json(json!({})))
}
