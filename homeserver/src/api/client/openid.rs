//! OpenID tokens for widgets and call services: `POST /user/{userId}/openid/request_token`
//! hands the user a short-lived token, and `GET /_matrix/federation/v1/openid/userinfo` (the
//! one federation endpoint a third party calls to check it) answers whose it is. The token
//! proves nothing else: it is not an access token.

use std::time::Duration;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use http::StatusCode;
use ruma::api::client::account::request_openid_token;
use ruma::api::error::{ErrorKind, UnknownTokenErrorData};
use ruma::authentication::TokenType;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{AppStateRef, RouteResult};
use crate::api::ruma_wrapper::Ruma;
use crate::error::{Error, Result};
use crate::services::credentials::{new_access_token, token_digest};
use crate::services::now_ms;
use crate::storage::openid_tokens;

/// How long an OpenID token is valid (Synapse's figure).
const LIFETIME: Duration = Duration::from_secs(3600);

/// The path of the userinfo check.
pub const USERINFO_PATH: &str = "/_matrix/federation/v1/openid/userinfo";

/// `POST /_matrix/client/v3/user/{userId}/openid/request_token`: for the caller only.
pub async fn request_token_route(
    State(state): AppStateRef,
    body: Ruma<request_openid_token::v3::Request>,
) -> RouteResult<request_openid_token::v3::Response> {
    let sender = body.sender()?;
    if body.body.user_id != sender.user_id {
        return Err(Error::forbidden("Cannot request tokens for other users."));
    }
    let token = new_access_token();
    let now = now_ms();
    openid_tokens::insert(
        &state.db.pool,
        &token_digest(&token),
        sender.user_id.as_str(),
        (now, now + LIFETIME.as_millis() as i64),
    )
    .await?;
    Ok(request_openid_token::v3::Response::new(
        token,
        TokenType::Bearer,
        state.server_name.clone(),
        LIFETIME,
    )
    .into())
}

/// The userinfo check's query.
#[derive(Debug, Deserialize)]
pub struct UserinfoQuery {
    access_token: Option<String>,
}

/// `GET /_matrix/federation/v1/openid/userinfo?access_token=...`: `{"sub": userId}`, or 401
/// `M_UNKNOWN_TOKEN` for a token unknown or expired.
pub async fn userinfo_route(
    State(state): AppStateRef,
    query: std::result::Result<Query<UserinfoQuery>, QueryRejection>,
) -> Result<Json<Value>> {
    let Query(query) = query.map_err(|e| Error::invalid_param(e.body_text()))?;
    let token = query
        .access_token
        .ok_or_else(|| Error::missing_param("Missing string query parameter 'access_token'"))?;
    match openid_tokens::user_of(&state.db.pool, &token_digest(&token), now_ms()).await? {
        Some(user_id) => Ok(Json(json!({"sub": user_id}))),
        None => Err(Error::new(
            StatusCode::UNAUTHORIZED,
            ErrorKind::UnknownToken(UnknownTokenErrorData::new()),
            "Access Token unknown or expired",
        )),
    }
}
