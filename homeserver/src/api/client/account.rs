//! Accounts: `/register`, `/register/available`, `/account/whoami`, `/account/password`,
//! `/account/deactivate`.

use axum::extract::State;
use http::StatusCode;
use ruma::{
    OwnedDeviceId,
    api::{
        client::account::{
            ThirdPartyIdRemovalStatus, change_password, deactivate, get_username_availability,
            register::{self, RegistrationKind},
            whoami,
        },
        error::ErrorKind,
    },
};

use super::{AppStateRef, RouteResult};
use crate::{
    api::ruma_wrapper::Ruma,
    config::RegistrationMode,
    error::{Error, Result},
    services::{
        accounts::{self, NewAccount},
        credentials, uiaa,
    },
    state::AppState,
    storage::users,
};

/// Longest password accepted (argon2 does not care, but nobody needs more).
const MAX_PASSWORD_LEN: usize = 512;

/// `GET /_matrix/client/v3/account/whoami`
pub async fn whoami_route(body: Ruma<whoami::v3::Request>) -> RouteResult<whoami::v3::Response> {
    let sender = body.sender()?;
    let mut response = whoami::v3::Response::new(sender.user_id.clone(), false);
    response.device_id = Some(sender.device_id.clone());
    Ok(response.into())
}

/// Fails with `M_INVALID_USERNAME` or `M_USER_IN_USE` unless `localpart` may be registered.
async fn check_available(state: &AppState, localpart: &str) -> Result<()> {
    accounts::validate_localpart(state, localpart)?;
    let user_id = accounts::local_user_id(state, localpart)?;
    if users::get(&state.db.pool, user_id.as_str())
        .await?
        .is_some()
        || state.ledger.is_user_id_taken_elsewhere(&user_id).await?
    {
        return Err(Error::user_in_use());
    }
    Ok(())
}

fn check_password_shape(password: &str) -> Result<()> {
    if password.len() > MAX_PASSWORD_LEN {
        return Err(Error::new(
            StatusCode::BAD_REQUEST,
            ErrorKind::BadJson,
            "Password too long",
        ));
    }
    Ok(())
}

/// `GET /_matrix/client/v3/register/available`
pub async fn register_available_route(
    State(state): AppStateRef,
    body: Ruma<get_username_availability::v3::Request>,
) -> RouteResult<get_username_availability::v3::Response> {
    check_available(&state, &body.body.username).await?;
    Ok(get_username_availability::v3::Response::new(true).into())
}

/// `POST /_matrix/client/v3/register`: UIAA (`m.login.dummy` or a registration token), then the
/// account; in approval mode it waits for an admin and the answer is `M_USER_AWAITING_APPROVAL`.
pub async fn register_route(
    State(state): AppStateRef,
    body: Ruma<register::v3::Request>,
) -> RouteResult<register::v3::Response> {
    if let Err(wait) = state.register_limiter.check(&body.client_key()) {
        return Err(Error::limit_exceeded(wait));
    }
    if state.config.registration == RegistrationMode::Closed {
        return Err(Error::forbidden("Registration has been disabled"));
    }
    if body.body.kind != RegistrationKind::User {
        return Err(Error::forbidden("Guest access is disabled"));
    }
    let ip = body.client_ip.map(|a| a.ip().to_string());
    let request = body.body;
    if let Some(username) = &request.username {
        check_available(&state, username).await?;
    }
    uiaa::check_register(&state, request.auth.as_ref())?;
    let Some(password) = request.password else {
        return Err(Error::new(
            StatusCode::BAD_REQUEST,
            ErrorKind::MissingParam,
            "Missing params: password",
        ));
    };
    check_password_shape(&password)?;
    let localpart = match request.username {
        Some(username) => username,
        None => generated_localpart(),
    };
    let open = state.config.registration == RegistrationMode::Open;
    let user = accounts::create(
        &state,
        NewAccount {
            localpart,
            password: Some(password),
            admin: false,
            displayname: None,
            approve_now: open.then_some(None),
        },
    )
    .await?;
    let user_id = ruma::OwnedUserId::try_from(user.user_id)
        .map_err(|e| Error::Internal(format!("created an invalid user id: {e}")))?;
    if !user.approved {
        tracing::info!(%user_id, "registered, awaiting approval");
        return Err(Error::AwaitingApproval);
    }
    let mut response = register::v3::Response::new(user_id.clone());
    if !request.inhibit_login {
        let session = accounts::open_session(
            &state,
            &user_id,
            request.device_id.map(|d| d.to_string()),
            (
                request.initial_device_display_name.as_deref(),
                ip.as_deref(),
            ),
            request.refresh_token,
        )
        .await?;
        response.access_token = Some(session.access_token);
        response.device_id = Some(OwnedDeviceId::from(session.device_id));
        if let Some((refresh_token, lifetime)) = session.refresh {
            response.refresh_token = Some(refresh_token);
            response.expires_in = Some(lifetime);
        }
    }
    Ok(response.into())
}

/// A localpart for clients that do not choose one.
fn generated_localpart() -> String {
    format!("u{}", credentials::new_device_id().to_lowercase())
}

/// `POST /_matrix/client/v3/account/password` behind UIAA `m.login.password`.
pub async fn change_password_route(
    State(state): AppStateRef,
    body: Ruma<change_password::v3::Request>,
) -> RouteResult<change_password::v3::Response> {
    let sender = body.sender()?.clone();
    let request = body.body;
    uiaa::check_password(&state, &sender, request.auth.as_ref()).await?;
    check_password_shape(&request.new_password)?;
    let logout = request
        .logout_devices
        .then_some(Some(sender.device_id.as_str()));
    accounts::change_password(&state, &sender.user_id, request.new_password, logout).await?;
    Ok(change_password::v3::Response::new().into())
}

/// `POST /_matrix/client/v3/account/deactivate` behind UIAA `m.login.password`.
pub async fn deactivate_route(
    State(state): AppStateRef,
    body: Ruma<deactivate::v3::Request>,
) -> RouteResult<deactivate::v3::Response> {
    let sender = body.sender()?.clone();
    uiaa::check_password(&state, &sender, body.body.auth.as_ref()).await?;
    accounts::deactivate(&state, &sender.user_id).await?;
    Ok(deactivate::v3::Response::new(ThirdPartyIdRemovalStatus::Success).into())
}
