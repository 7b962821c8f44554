//! Synapse's shared-secret registration: `GET /_synapse/admin/v1/register` hands out a nonce,
//! `POST` creates an approved account when the HMAC over the request matches.

use axum::{Json, extract::State};
use http::StatusCode;
use ruma::api::error::ErrorKind;
use serde::{Deserialize, Serialize};

use crate::api::json_body::JsonBody;
use crate::{
    api::client::AppStateRef,
    error::{Error, Result},
    services::{
        accounts::{self, NewAccount},
        shared_secret,
    },
};

/// `GET` answer.
#[derive(Debug, Serialize)]
pub struct Nonce {
    /// Single-use nonce, valid for a minute.
    pub nonce: String,
}

/// `POST` body.
#[derive(Debug, Deserialize)]
pub struct SharedSecretRegistration {
    /// Nonce from the `GET`.
    pub nonce: String,
    /// Localpart.
    pub username: String,
    /// Password.
    pub password: String,
    /// Display name.
    #[serde(default)]
    pub displayname: Option<String>,
    /// Make the account an admin.
    #[serde(default)]
    pub admin: bool,
    /// Hex HMAC-SHA1 of `nonce\0username\0password\0admin|notadmin`.
    pub mac: String,
}

/// `POST` answer: the new account, logged in.
#[derive(Debug, Serialize)]
pub struct Registered {
    /// The account.
    pub user_id: String,
    /// Its first access token.
    pub access_token: String,
    /// Its first device.
    pub device_id: String,
    /// This server's name.
    pub home_server: String,
}

fn not_enabled() -> Error {
    Error::new(
        StatusCode::BAD_REQUEST,
        ErrorKind::Unknown,
        "Shared secret registration is not enabled",
    )
}

/// `GET /_synapse/admin/v1/register`
pub async fn get_nonce_route(State(state): AppStateRef) -> Result<Json<Nonce>> {
    if state.config.registration_shared_secret.is_none() {
        return Err(not_enabled());
    }
    Ok(Json(Nonce {
        nonce: state.nonces.issue(),
    }))
}

/// `POST /_synapse/admin/v1/register`
pub async fn shared_secret_register_route(
    State(state): AppStateRef,
    JsonBody(body): JsonBody<SharedSecretRegistration>,
) -> Result<Json<Registered>> {
    let Some(secret) = state.config.registration_shared_secret.clone() else {
        return Err(not_enabled());
    };
    if !state.nonces.take(&body.nonce) {
        return Err(Error::new(
            StatusCode::BAD_REQUEST,
            ErrorKind::Unknown,
            "unrecognised nonce",
        ));
    }
    if !shared_secret::verify_mac(
        &secret,
        &body.nonce,
        &body.username,
        &body.password,
        body.admin,
        &body.mac,
    ) {
        return Err(Error::forbidden("HMAC incorrect"));
    }
    let user = accounts::create(
        &state,
        NewAccount {
            localpart: body.username,
            password: Some(body.password),
            admin: body.admin,
            displayname: body.displayname,
            approve_now: Some(None),
        },
    )
    .await?;
    let user_id = ruma::OwnedUserId::try_from(user.user_id)
        .map_err(|e| Error::Internal(format!("created an invalid user id: {e}")))?;
    let session = accounts::open_session(&state, &user_id, None, (None, None), false).await?;
    Ok(Json(Registered {
        user_id: user_id.to_string(),
        access_token: session.access_token,
        device_id: session.device_id,
        home_server: state.server_name.to_string(),
    }))
}
