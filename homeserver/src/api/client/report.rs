//! Reporting: `/rooms/{roomId}/report/{eventId}`, `/rooms/{roomId}/report` and
//! `/users/{userId}/report`. A report goes to the reporter's own organisation (its admins list
//! them), never to the ledger.

use axum::extract::State;
use ruma::api::client::reporting::report_user;
use ruma::api::client::room::{report_content, report_room};

use super::{AppStateRef, RouteResult};
use crate::api::ruma_wrapper::Ruma;
use crate::error::{Error, Result};
use crate::services::now_ms;
use crate::services::reports::{self, NewReport, ReportKind};
use crate::services::rooms::access::access;
use crate::services::rooms::membership::room_exists;
use crate::services::rooms::send::store_error;

/// The longest reason kept.
const MAX_REASON: usize = 10_000;

fn reason(reason: Option<&str>) -> Result<Option<&str>> {
    match reason {
        Some(r) if r.len() > MAX_REASON => Err(Error::invalid_param(format!(
            "The reason is longer than {MAX_REASON} bytes"
        ))),
        other => Ok(other),
    }
}

/// `POST /_matrix/client/v3/rooms/{roomId}/report/{eventId}`: the event must be one the
/// reporter can see, else 404 as Synapse answers.
pub async fn report_event_route(
    State(state): AppStateRef,
    body: Ruma<report_content::v3::Request>,
) -> RouteResult<report_content::v3::Response> {
    let sender = body.sender()?;
    let r = &body.body;
    let why = reason(r.reason.as_deref())?;
    let not_found = || {
        Error::not_found("Unable to report event: it does not exist or you aren't able to see it.")
    };
    let access = access(&state, &sender.user_id, &r.room_id)
        .await
        .map_err(|_| not_found())?;
    let pool = state.chain()?.pool();
    let event = consort_bridge::rooms::read::event(pool, r.event_id.as_str())
        .await
        .map_err(store_error)?
        .filter(|e| e.room_id == r.room_id.as_str() && e.pos < access.end)
        .filter(|e| access.window.can_see(e))
        .ok_or_else(not_found)?;
    let report = NewReport {
        kind: ReportKind::Event,
        room_id: Some(r.room_id.as_str()),
        event_id: Some(r.event_id.as_str()),
        target_user: Some(&event.sender),
        reporter: sender.user_id.as_str(),
        reason: why,
    };
    reports::add(&state.db.pool, report, now_ms()).await?;
    Ok(report_content::v3::Response::new().into())
}

/// `POST /_matrix/client/v3/rooms/{roomId}/report`
pub async fn report_room_route(
    State(state): AppStateRef,
    body: Ruma<report_room::v3::Request>,
) -> RouteResult<report_room::v3::Response> {
    let sender = body.sender()?;
    let r = &body.body;
    let why = reason(Some(&r.reason))?;
    if !room_exists(&state, &r.room_id).await? {
        return Err(Error::not_found("Room does not exist"));
    }
    let report = NewReport {
        kind: ReportKind::Room,
        room_id: Some(r.room_id.as_str()),
        event_id: None,
        target_user: None,
        reporter: sender.user_id.as_str(),
        reason: why,
    };
    reports::add(&state.db.pool, report, now_ms()).await?;
    Ok(report_room::v3::Response::new().into())
}

/// `POST /_matrix/client/v3/users/{userId}/report`: any user of the consortium.
pub async fn report_user_route(
    State(state): AppStateRef,
    body: Ruma<report_user::v3::Request>,
) -> RouteResult<report_user::v3::Response> {
    let sender = body.sender()?;
    let r = &body.body;
    let why = reason(Some(&r.reason))?;
    let known = consort_bridge::users::get(state.chain()?.pool(), r.user_id.as_str())
        .await
        .map_err(|e| Error::Internal(format!("users: {e}")))?;
    if known.is_none() {
        return Err(Error::not_found("User does not exist"));
    }
    let report = NewReport {
        kind: ReportKind::User,
        room_id: None,
        event_id: None,
        target_user: Some(r.user_id.as_str()),
        reporter: sender.user_id.as_str(),
        reason: why,
    };
    reports::add(&state.db.pool, report, now_ms()).await?;
    Ok(report_user::v3::Response::new().into())
}
