//! Profiles: `GET /profile/{userId}` and the `displayname` / `avatar_url` fields (get, set,
//! delete; changes go on the ledger like every profile change). Local users
//! come from this node's database; users of other organisations from the ledger.

use axum::extract::State;
use ruma::{
    OwnedMxcUri, UserId,
    api::client::profile::{
        delete_profile_field, get_profile, get_profile_field, set_profile_field,
    },
    profile::{ProfileFieldName, ProfileFieldValue},
};

use super::{AppStateRef, RouteResult};
use crate::{
    api::ruma_wrapper::Ruma,
    error::{Error, Result},
    services::{accounts, registration_ledger::RemoteProfile},
    state::AppState,
    storage::users,
};

/// Longest display name accepted.
const MAX_DISPLAYNAME_LEN: usize = 256;

/// A user's profile wherever it lives; `M_NOT_FOUND` for unknown or deactivated users.
async fn load_profile(state: &AppState, user_id: &UserId) -> Result<RemoteProfile> {
    if user_id.server_name() == state.server_name {
        let user = users::get(&state.db.pool, user_id.as_str())
            .await?
            .filter(|u| u.approved && !u.deactivated)
            .ok_or_else(|| Error::not_found("Profile was not found"))?;
        return Ok(RemoteProfile {
            displayname: user.displayname,
            avatar_url: user.avatar_url.map(OwnedMxcUri::from),
        });
    }
    state
        .ledger
        .remote_profile(user_id)
        .await?
        .ok_or_else(|| Error::not_found("Profile was not found"))
}

/// `GET /_matrix/client/v3/profile/{userId}`
pub async fn get_profile_route(
    State(state): AppStateRef,
    body: Ruma<get_profile::v3::Request>,
) -> RouteResult<get_profile::v3::Response> {
    let profile = load_profile(&state, &body.body.user_id).await?;
    let mut response = get_profile::v3::Response::new();
    if let Some(name) = profile.displayname {
        response.set("displayname".to_owned(), name.into());
    }
    if let Some(url) = profile.avatar_url {
        response.set("avatar_url".to_owned(), url.to_string().into());
    }
    Ok(response.into())
}

/// `GET /_matrix/client/v3/profile/{userId}/{field}` for `displayname` and `avatar_url`.
pub async fn get_profile_field_route(
    State(state): AppStateRef,
    body: Ruma<get_profile_field::v3::Request>,
) -> RouteResult<get_profile_field::v3::Response> {
    let profile = load_profile(&state, &body.body.user_id).await?;
    let value = match body.body.field {
        ProfileFieldName::DisplayName => profile.displayname.map(ProfileFieldValue::DisplayName),
        ProfileFieldName::AvatarUrl => profile.avatar_url.map(ProfileFieldValue::AvatarUrl),
        _ => None,
    };
    let value = value.ok_or_else(|| Error::not_found("Profile field not set"))?;
    Ok(get_profile_field::v3::Response::new(value).into())
}

/// `PUT /_matrix/client/v3/profile/{userId}/{field}`: only one's own `displayname`/`avatar_url`.
pub async fn set_profile_field_route(
    State(state): AppStateRef,
    body: Ruma<set_profile_field::v3::Request>,
) -> RouteResult<set_profile_field::v3::Response> {
    let sender = body.sender()?;
    sender.active()?;
    let request = &body.body;
    if request.user_id != sender.user_id {
        return Err(Error::forbidden("Cannot set another user's profile"));
    }
    let user_id = &sender.user_id;
    match &request.value {
        ProfileFieldValue::DisplayName(name) => {
            if name.len() > MAX_DISPLAYNAME_LEN {
                return Err(Error::invalid_param("Display name is too long (max 256)"));
            }
            let name = Some(name.as_str()).filter(|n| !n.is_empty());
            accounts::set_profile(&state, user_id, Some(name), None).await?;
        }
        ProfileFieldValue::AvatarUrl(url) => {
            let url = Some(url.as_str()).filter(|u| !u.is_empty());
            accounts::set_profile(&state, user_id, None, Some(url)).await?;
        }
        _ => {
            return Err(Error::forbidden(
                "This profile field cannot be set on this server",
            ));
        }
    }
    Ok(set_profile_field::v3::Response::new().into())
}

/// `DELETE /_matrix/client/v3/profile/{userId}/{keyName}`: clears `displayname` or
/// `avatar_url` (a ledger profile record, as setting them is); no other field is stored
/// here, so deleting one changes nothing.
pub async fn delete_profile_field_route(
    State(state): AppStateRef,
    body: Ruma<delete_profile_field::v3::Request>,
) -> RouteResult<delete_profile_field::v3::Response> {
    let sender = body.sender()?;
    let request = &body.body;
    if request.user_id != sender.user_id {
        return Err(Error::forbidden("Cannot set another user's profile"));
    }
    let user_id = &sender.user_id;
    match &request.field {
        ProfileFieldName::DisplayName => {
            accounts::set_profile(&state, user_id, Some(None), None).await?;
        }
        ProfileFieldName::AvatarUrl => {
            accounts::set_profile(&state, user_id, None, Some(None)).await?;
        }
        _ => {}
    }
    Ok(delete_profile_field::v3::Response::new().into())
}
