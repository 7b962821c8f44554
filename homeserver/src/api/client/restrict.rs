//! `GET`/`PUT /_matrix/client/v1/admin/suspend/{userId}` and `.../lock/{userId}`: an
//! organisation's admins suspend (the account may read, leave and log out, not act: 403
//! `M_USER_SUSPENDED`) or lock (every request: 401 `M_USER_LOCKED`) one of its accounts.

use axum::extract::State;
use ruma::UserId;
use ruma::api::client::admin::{is_user_locked, is_user_suspended, lock_user, suspend_user};

use super::{AppStateRef, RouteResult};
use crate::api::ruma_wrapper::Ruma;
use crate::error::{Error, Result};
use crate::services::auth::Sender;
use crate::state::AppState;
use crate::storage::restrictions::{self, Restriction};

/// Admins only, and only for this organisation's accounts.
fn may_restrict(state: &AppState, sender: &Sender, target: &UserId) -> Result<()> {
    if !sender.is_admin {
        return Err(Error::forbidden("You are not a server admin"));
    }
    if target.server_name() != state.server_name {
        return Err(Error::invalid_param(
            "Only accounts of this organisation can be suspended or locked here",
        ));
    }
    Ok(())
}

async fn get(
    state: &AppState,
    sender: &Sender,
    target: &UserId,
    which: Restriction,
) -> Result<bool> {
    may_restrict(state, sender, target)?;
    restrictions::get(&state.db.pool, target.as_str(), which)
        .await?
        .ok_or_else(|| Error::not_found("Unknown user"))
}

async fn set(
    state: &AppState,
    sender: &Sender,
    target: &UserId,
    which: Restriction,
    on: bool,
) -> Result<()> {
    may_restrict(state, sender, target)?;
    if *target == sender.user_id && on {
        return Err(Error::invalid_param(
            "Admins cannot restrict their own account",
        ));
    }
    if !restrictions::set(&state.db.pool, target.as_str(), which, on).await? {
        return Err(Error::not_found("Unknown user"));
    }
    tracing::info!(user_id = %target, by = %sender.user_id, ?which, on, "account restriction changed");
    Ok(())
}

/// `GET /_matrix/client/v1/admin/suspend/{userId}`
pub async fn is_suspended_route(
    State(state): AppStateRef,
    body: Ruma<is_user_suspended::v1::Request>,
) -> RouteResult<is_user_suspended::v1::Response> {
    let on = get(
        &state,
        body.sender()?,
        &body.body.user_id,
        Restriction::Suspended,
    )
    .await?;
    Ok(is_user_suspended::v1::Response::new(on).into())
}

/// `PUT /_matrix/client/v1/admin/suspend/{userId}`
pub async fn suspend_route(
    State(state): AppStateRef,
    body: Ruma<suspend_user::v1::Request>,
) -> RouteResult<suspend_user::v1::Response> {
    let r = &body.body;
    set(
        &state,
        body.sender()?,
        &r.user_id,
        Restriction::Suspended,
        r.suspended,
    )
    .await?;
    Ok(suspend_user::v1::Response::new(r.suspended).into())
}

/// `GET /_matrix/client/v1/admin/lock/{userId}`
pub async fn is_locked_route(
    State(state): AppStateRef,
    body: Ruma<is_user_locked::v1::Request>,
) -> RouteResult<is_user_locked::v1::Response> {
    let on = get(
        &state,
        body.sender()?,
        &body.body.user_id,
        Restriction::Locked,
    )
    .await?;
    Ok(is_user_locked::v1::Response::new(on).into())
}

/// `PUT /_matrix/client/v1/admin/lock/{userId}`
pub async fn lock_route(
    State(state): AppStateRef,
    body: Ruma<lock_user::v1::Request>,
) -> RouteResult<lock_user::v1::Response> {
    let r = &body.body;
    set(
        &state,
        body.sender()?,
        &r.user_id,
        Restriction::Locked,
        r.locked,
    )
    .await?;
    Ok(lock_user::v1::Response::new(r.locked).into())
}
