//! `JsonBody<T>`: a JSON object body for the endpoints that are not ruma endpoints (the admin
//! API, Consort's own API), read under the node's size limit with Matrix error codes.

use std::sync::Arc;

use axum::extract::{FromRequest, Request};
use serde::de::DeserializeOwned;

use crate::{api::ruma_wrapper::read_body, error::Error, state::AppState};

/// A JSON body read under the node's size limit, with Matrix error codes for bad input.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned> FromRequest<Arc<AppState>> for JsonBody<T> {
    type Rejection = Error;

    async fn from_request(request: Request, state: &Arc<AppState>) -> Result<Self, Error> {
        let (parts, body) = request.into_parts();
        let bytes = read_body(&parts, body, state.config.max_body_bytes).await?;
        parse(&bytes).map(Self)
    }
}

/// Like [`JsonBody`], but an absent or empty body is `{}` (the client API's rule, so that a
/// missing required field is named rather than the whole body refused).
#[derive(Debug)]
pub struct JsonBodyOrEmpty<T>(pub T);

impl<T: DeserializeOwned> FromRequest<Arc<AppState>> for JsonBodyOrEmpty<T> {
    type Rejection = Error;

    async fn from_request(request: Request, state: &Arc<AppState>) -> Result<Self, Error> {
        let (parts, body) = request.into_parts();
        let bytes = read_body(&parts, body, state.config.max_body_bytes).await?;
        if bytes.is_empty() {
            return parse(b"{}").map(Self);
        }
        parse(&bytes).map(Self)
    }
}

fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|_| Error::not_json("Content not JSON."))?;
    if !value.is_object() {
        return Err(Error::bad_json("Body must be a JSON object"));
    }
    serde_json::from_value(value).map_err(|e| Error::bad_json(e.to_string()))
}
