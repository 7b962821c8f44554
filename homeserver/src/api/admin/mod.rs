//! Synapse-shaped admin API (`/_synapse/admin/...`) so existing admin tools work. Plain axum
//! handlers with serde types, sharing the client API's authentication and error mapping.

pub mod register;
pub mod server_version;
pub mod users;

use std::sync::Arc;

use axum::extract::{FromRequest, FromRequestParts, Request};
use http::request::Parts;
use serde::de::DeserializeOwned;

use crate::{
    api::ruma_wrapper::{access_token, read_body},
    error::Error,
    services::auth::{Sender, authenticate},
    state::AppState,
};

/// The caller of an admin endpoint: an authenticated admin of this node.
#[derive(Debug, Clone)]
pub struct AdminSender(pub Sender);

impl FromRequestParts<Arc<AppState>> for AdminSender {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> Result<Self, Error> {
        let token = access_token(parts)?.ok_or_else(Error::missing_token)?;
        let sender = authenticate(state, &token).await?;
        if !sender.is_admin {
            return Err(Error::forbidden("You are not a server admin"));
        }
        Ok(Self(sender))
    }
}

/// A JSON body read under the node's size limit, with Matrix error codes for bad input.
#[derive(Debug)]
pub struct AdminJson<T>(pub T);

impl<T: DeserializeOwned> FromRequest<Arc<AppState>> for AdminJson<T> {
    type Rejection = Error;

    async fn from_request(request: Request, state: &Arc<AppState>) -> Result<Self, Error> {
        let (parts, body) = request.into_parts();
        let bytes = read_body(&parts, body, state.config.max_body_bytes).await?;
        let value: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|_| Error::not_json("Content not JSON."))?;
        if !value.is_object() {
            return Err(Error::bad_json("Body must be a JSON object"));
        }
        serde_json::from_value(value)
            .map(Self)
            .map_err(|e| Error::bad_json(e.to_string()))
    }
}
