//! `GET /_synapse/admin/v2/users` and `GET`/`PUT /_synapse/admin/v2/users/{user}`: list,
//! inspect, create and change accounts, including approving pending registrations.

use axum::{
    Json,
    extract::{Path, Query, State},
    response::{IntoResponse, Response},
};
use http::{StatusCode, Uri};
use ruma::{OwnedUserId, UserId};
use serde::{Deserialize, Serialize};

use super::AdminSender;
use crate::api::json_body::JsonBody;
use crate::{
    api::client::AppStateRef,
    error::{Error, Result},
    services::accounts::{self, NewAccount},
    state::AppState,
    storage::users::{self, UserFilter, UserRow},
};

/// Default page size of the list.
const DEFAULT_LIMIT: i64 = 100;

/// One account in Synapse's admin shape.
#[derive(Debug, Serialize)]
pub struct AdminUser {
    /// Full user id.
    pub name: String,
    /// Display name.
    pub displayname: Option<String>,
    /// Avatar.
    pub avatar_url: Option<String>,
    /// Admin of this node.
    pub admin: bool,
    /// Deactivated.
    pub deactivated: bool,
    /// Registration approved (MSC3866).
    pub approved: bool,
    /// Always false: no guests here.
    pub is_guest: bool,
    /// Always null.
    pub user_type: Option<String>,
    /// Creation time, ms since the epoch.
    pub creation_ts: i64,
    /// Always false.
    pub locked: bool,
    /// Always false.
    pub shadow_banned: bool,
}

impl From<UserRow> for AdminUser {
    fn from(row: UserRow) -> Self {
        Self {
            name: row.user_id,
            displayname: row.displayname,
            avatar_url: row.avatar_url,
            admin: row.is_admin,
            deactivated: row.deactivated,
            approved: row.approved,
            is_guest: false,
            user_type: None,
            creation_ts: row.created_ts,
            locked: false,
            shadow_banned: false,
        }
    }
}

/// Query of the list.
#[derive(Debug, Deserialize)]
struct ListQuery {
    from: Option<String>,
    limit: Option<String>,
    guests: Option<String>,
    deactivated: Option<String>,
    approved: Option<String>,
}

/// The list answer.
#[derive(Debug, Serialize)]
pub struct UserList {
    /// This page.
    pub users: Vec<AdminUser>,
    /// How many match in all.
    pub total: i64,
    /// `from` of the next page, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

fn parse_bool(name: &str, value: Option<&str>) -> Result<Option<bool>> {
    match value {
        None => Ok(None),
        Some("true") => Ok(Some(true)),
        Some("false") => Ok(Some(false)),
        Some(_) => Err(Error::invalid_param(format!(
            "Query parameter {name} must be true or false"
        ))),
    }
}

fn parse_count(name: &str, value: Option<&str>, default: i64) -> Result<i64> {
    match value {
        None => Ok(default),
        Some(v) => v.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| {
            Error::invalid_param(format!(
                "Query parameter {name} must be a non-negative integer"
            ))
        }),
    }
}

/// `GET /_synapse/admin/v2/users`
pub async fn list_users_route(
    State(state): AppStateRef,
    AdminSender(_admin): AdminSender,
    uri: Uri,
) -> Result<Json<UserList>> {
    let Query(query) =
        Query::<ListQuery>::try_from_uri(&uri).map_err(|e| Error::invalid_param(e.body_text()))?;
    let offset = parse_count("from", query.from.as_deref(), 0)?;
    let limit = parse_count("limit", query.limit.as_deref(), DEFAULT_LIMIT)?;
    // No guests exist; the parameter is accepted for compatibility.
    let _guests = parse_bool("guests", query.guests.as_deref())?;
    let filter = UserFilter {
        include_deactivated: parse_bool("deactivated", query.deactivated.as_deref())?
            .unwrap_or(false),
        approved: parse_bool("approved", query.approved.as_deref())?,
        offset,
        limit,
    };
    let (rows, total) = users::list(&state.db.pool, &filter).await?;
    let shown = i64::try_from(rows.len()).unwrap_or(i64::MAX);
    let next_token = (offset + shown < total).then(|| (offset + shown).to_string());
    Ok(Json(UserList {
        users: rows.into_iter().map(AdminUser::from).collect(),
        total,
        next_token,
    }))
}

pub(crate) fn local_user(state: &AppState, user: &str) -> Result<OwnedUserId> {
    let user_id = UserId::parse(user).map_err(|_| Error::invalid_param("Invalid user ID"))?;
    if user_id.server_name() != state.server_name {
        return Err(Error::invalid_param("Can only look up local users"));
    }
    Ok(user_id)
}

/// `GET /_synapse/admin/v2/users/{user}`
pub async fn get_user_route(
    State(state): AppStateRef,
    AdminSender(_admin): AdminSender,
    Path(user): Path<String>,
) -> Result<Json<AdminUser>> {
    let user_id = local_user(&state, &user)?;
    let row = users::get(&state.db.pool, user_id.as_str())
        .await?
        .ok_or_else(|| Error::not_found("User not found"))?;
    Ok(Json(row.into()))
}

/// `PUT` body: every field optional.
#[derive(Debug, Deserialize)]
pub struct PutUser {
    /// New password.
    #[serde(default)]
    pub password: Option<String>,
    /// Log out every device when the password changes (default true).
    #[serde(default)]
    pub logout_devices: Option<bool>,
    /// New display name.
    #[serde(default)]
    pub displayname: Option<String>,
    /// Grant or revoke admin.
    #[serde(default)]
    pub admin: Option<bool>,
    /// Deactivate (`true`); reactivation is not supported.
    #[serde(default)]
    pub deactivated: Option<bool>,
    /// Approve a pending registration (`true`); unapproving is not supported.
    #[serde(default)]
    pub approved: Option<bool>,
    /// Accepted for compatibility with Synapse tools; ignored.
    #[serde(default)]
    pub avatar_url: Option<String>,
}

/// `PUT /_synapse/admin/v2/users/{user}`: creates the account (201) or changes it (200).
pub async fn put_user_route(
    State(state): AppStateRef,
    AdminSender(admin): AdminSender,
    Path(user): Path<String>,
    JsonBody(body): JsonBody<PutUser>,
) -> Result<Response> {
    let user_id = local_user(&state, &user)?;
    let existing = users::get(&state.db.pool, user_id.as_str()).await?;
    let Some(existing) = existing else {
        if body.deactivated == Some(true) || body.approved == Some(false) {
            return Err(Error::invalid_param(
                "Cannot create a deactivated or unapproved user",
            ));
        }
        let row = accounts::create(
            &state,
            NewAccount {
                localpart: user_id.localpart().to_owned(),
                password: body.password,
                admin: body.admin.unwrap_or(false),
                displayname: body.displayname,
                approve_now: Some(Some(admin.user_id.clone())),
            },
        )
        .await?;
        return Ok((StatusCode::CREATED, Json(AdminUser::from(row))).into_response());
    };

    if body.deactivated == Some(false) && existing.deactivated {
        return Err(Error::invalid_param(
            "Reactivating accounts is not supported",
        ));
    }
    if body.approved == Some(false) && existing.approved {
        return Err(Error::invalid_param(
            "An approved registration is on the ledger and cannot be withdrawn; deactivate instead",
        ));
    }
    if existing.deactivated && (body.password.is_some() || body.approved == Some(true)) {
        return Err(Error::user_deactivated());
    }
    if body.approved == Some(true) {
        accounts::approve(&state, &user_id, Some(&admin.user_id)).await?;
    }
    if let Some(password) = body.password {
        let logout = body.logout_devices.unwrap_or(true).then_some(None);
        accounts::change_password(&state, &user_id, password, logout).await?;
    }
    if let Some(name) = body.displayname.as_deref() {
        accounts::set_profile(
            &state,
            &user_id,
            Some(Some(name).filter(|n| !n.is_empty())),
            None,
        )
        .await?;
    }
    if let Some(is_admin) = body.admin {
        users::set_admin(&state.db.pool, user_id.as_str(), is_admin).await?;
    }
    if body.deactivated == Some(true) {
        accounts::deactivate(&state, &user_id).await?;
    }
    let row = users::get(&state.db.pool, user_id.as_str())
        .await?
        .ok_or_else(|| Error::not_found("User not found"))?;
    Ok(Json(AdminUser::from(row)).into_response())
}
