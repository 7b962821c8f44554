//! Sessions: `GET`/`POST /login`, `/refresh`, `/logout`, `/logout/all`.

use axum::extract::State;
use ruma::{
    OwnedDeviceId,
    api::client::{
        session::{
            get_login_types::{
                self,
                v3::{LoginType, PasswordLoginType},
            },
            login::{self, v3::LoginInfo},
            logout, logout_all, refresh_token,
        },
        uiaa::UserIdentifier,
    },
};

use super::{AppStateRef, RouteResult};
use crate::{
    api::ruma_wrapper::{BodyGuard, Ruma},
    error::{Error, Result},
    services::accounts,
    storage::{devices, tokens},
};

/// `GET /_matrix/client/v3/login`: only passwords.
pub async fn get_login_types_route(
    _body: Ruma<get_login_types::v3::Request>,
) -> RouteResult<get_login_types::v3::Response> {
    Ok(
        get_login_types::v3::Response::new(vec![LoginType::Password(PasswordLoginType::new())])
            .into(),
    )
}

/// A login body must name its `type` before ruma reads it: ruma's `LoginInfo` deserializer
/// panics on an object without one. Anything that is not an object is left to ruma to refuse.
#[derive(Debug)]
pub struct LoginTypeGuard;

impl BodyGuard for LoginTypeGuard {
    fn prepare(body: bytes::Bytes) -> Result<bytes::Bytes> {
        match serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(&body) {
            Ok(object) if !object.contains_key("type") => {
                Err(Error::missing_param("Missing JSON keys: type"))
            }
            _ => Ok(body),
        }
    }
}

/// `POST /_matrix/client/v3/login` with `m.login.password`.
pub async fn login_route(
    State(state): AppStateRef,
    body: Ruma<login::v3::Request, LoginTypeGuard>,
) -> RouteResult<login::v3::Response> {
    if let Err(wait) = state.login_limiter.check(&body.client_key()) {
        return Err(Error::limit_exceeded(wait));
    }
    let ip = body.client_ip.map(|a| a.ip().to_string());
    let request = body.body;
    let LoginInfo::Password(password) = request.login_info else {
        return Err(Error::new(
            http::StatusCode::BAD_REQUEST,
            ruma::api::error::ErrorKind::Unknown,
            "Unknown login type",
        ));
    };
    let user = login_user(&password)?;
    let user_id = accounts::resolve_login_user(&state, &user)?;
    accounts::check_login(&state, &user_id, password.password).await?;
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
    let mut response = login::v3::Response::new(
        user_id,
        session.access_token,
        OwnedDeviceId::from(session.device_id),
    );
    if let Some((refresh_token, lifetime)) = session.refresh {
        response.refresh_token = Some(refresh_token);
        response.expires_in = Some(lifetime);
    }
    Ok(response.into())
}

/// The user a password login names: `identifier.user`, or the deprecated top-level `user`.
#[allow(deprecated)]
fn login_user(password: &login::v3::Password) -> Result<String> {
    match (&password.identifier, &password.user) {
        (Some(UserIdentifier::Matrix(id)), _) => Ok(id.user.clone()),
        (Some(_), _) => Err(Error::new(
            http::StatusCode::BAD_REQUEST,
            ruma::api::error::ErrorKind::Unknown,
            "Unknown login identifier type",
        )),
        (None, Some(user)) => Ok(user.clone()),
        (None, None) => Err(Error::new(
            http::StatusCode::BAD_REQUEST,
            ruma::api::error::ErrorKind::MissingParam,
            "Missing param: identifier",
        )),
    }
}

/// `POST /_matrix/client/v3/logout`: ends this device's session.
pub async fn logout_route(
    State(state): AppStateRef,
    body: Ruma<logout::v3::Request>,
) -> RouteResult<logout::v3::Response> {
    let sender = body.sender()?;
    accounts::delete_devices(&state, &sender.user_id, &[sender.device_id.as_str()]).await?;
    Ok(logout::v3::Response::new().into())
}

/// `POST /_matrix/client/v3/logout/all`: ends every session of the account.
pub async fn logout_all_route(
    State(state): AppStateRef,
    body: Ruma<logout_all::v3::Request>,
) -> RouteResult<logout_all::v3::Response> {
    let sender = body.sender()?;
    let mut tx = state.db.pool.begin().await?;
    tokens::delete_for_user(&mut *tx, sender.user_id.as_str(), None).await?;
    devices::delete_all(&mut *tx, sender.user_id.as_str()).await?;
    tx.commit().await?;
    Ok(logout_all::v3::Response::new().into())
}

/// `POST /_matrix/client/v3/refresh`: a refresh token (good once) for a new access token
/// and refresh token of the same device.
pub async fn refresh_route(
    State(state): AppStateRef,
    body: Ruma<refresh_token::v3::Request>,
) -> RouteResult<refresh_token::v3::Response> {
    let session = accounts::refresh_session(&state, &body.body.refresh_token).await?;
    let mut response = refresh_token::v3::Response::new(session.access_token);
    if let Some((refresh, lifetime)) = session.refresh {
        response.refresh_token = Some(refresh);
        response.expires_in_ms = Some(lifetime);
    }
    Ok(response.into())
}
