//! Synapse-shaped admin API (`/_synapse/admin/...`) so existing admin tools work. Plain axum
//! handlers with serde types, sharing the client API's authentication and error mapping.

pub mod contacts;
pub mod event_reports;
pub mod media;
pub mod org_policy;
pub mod register;
pub mod server_version;
pub mod users;

use std::sync::Arc;

use axum::extract::FromRequestParts;
use http::request::Parts;

use crate::{
    api::ruma_wrapper::access_token,
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
