//! `GET /_consort/v1/keys/history/{userId}`: every key record of a user in ledger order
//! (devices added or removed, cross-signing keys set or replaced, signatures), with the block,
//! the transaction and the submitting organisation. Any user of the consortium may read it,
//! and every node gives the same answer: a key a homeserver slipped in for one of its own
//! users is there for every organisation to see.

use std::sync::Arc;

use axum::Json;
use axum::extract::{FromRequestParts, Path, State};
use http::request::Parts;
use serde::Serialize;

use crate::api::ruma_wrapper::access_token;
use crate::error::{Error, Result};
use crate::services::auth::{Sender, authenticate};
use crate::services::keys::{KeyHistoryEntry, key_history};
use crate::state::AppState;

/// Any authenticated user.
#[derive(Debug)]
pub struct AnyUser(pub Sender);

impl FromRequestParts<Arc<AppState>> for AnyUser {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> Result<Self> {
        let token = access_token(parts)?.ok_or_else(Error::missing_token)?;
        Ok(Self(authenticate(state, &token).await?))
    }
}

/// The answer.
#[derive(Debug, Serialize)]
pub struct KeyHistory {
    /// Whose keys.
    pub user_id: String,
    /// The ledger height the answer reflects.
    pub height: u64,
    /// The records, oldest first.
    pub history: Vec<KeyHistoryEntry>,
}

/// `GET /_consort/v1/keys/history/{userId}`
pub async fn key_history_route(
    State(state): State<Arc<AppState>>,
    _caller: AnyUser,
    Path(user): Path<String>,
) -> Result<Json<KeyHistory>> {
    let user = super::user_id_param(&user)?;
    let height = state.chain()?.applied_height();
    let history = key_history(&state, user.as_str()).await?;
    Ok(Json(KeyHistory {
        user_id: user.to_string(),
        height,
        history,
    }))
}
