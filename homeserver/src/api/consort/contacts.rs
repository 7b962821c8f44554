//! The contacts API, under `/_matrix/client/unstable/org.consort.contacts/`: ask another user
//! (of any organisation) to become a contact, list and answer requests, list contacts, unbind.
//! Each step is a `Contact` ledger record (see `services::contacts`).

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use consort_bridge::ContactAction;
use consort_bridge::contacts::Transition;
use serde::Deserialize;
use serde_json::{Value, json};

use super::key_history::AnyUser;
use super::user_id_param;
use crate::api::json_body::{JsonBody, JsonBodyOrEmpty};
use crate::error::{Error, Result};
use crate::services::contacts;
use crate::state::AppState;

/// The common prefix of every contacts route.
pub const PREFIX: &str = "/_matrix/client/unstable/org.consort.contacts";

/// `POST requests`: `{"user_id": ...}`.
#[derive(Debug, Deserialize)]
pub struct NewRequest {
    /// Whom to ask.
    pub user_id: String,
}

/// `DELETE contacts/{userId}`: `{"confirm": true}`.
#[derive(Debug, Deserialize)]
pub struct Unbind {
    /// Must be `true`: unbinding ends the relationship for both sides.
    pub confirm: Option<bool>,
}

fn answer(next: Transition) -> Json<Value> {
    let state = match next {
        Transition::Requested => "pending",
        Transition::Bound => "bound",
        Transition::Removed => "none",
    };
    Json(json!({ "state": state }))
}

/// `POST …/requests`
pub async fn request_route(
    State(state): State<Arc<AppState>>,
    AnyUser(sender): AnyUser,
    JsonBody(body): JsonBody<NewRequest>,
) -> Result<Json<Value>> {
    let other = user_id_param(&body.user_id)?;
    let next = contacts::step(&state, &sender, other.as_str(), ContactAction::Request).await?;
    Ok(answer(next))
}

/// `GET …/requests`: `{"incoming": [...], "outgoing": [...]}`.
pub async fn requests_route(
    State(state): State<Arc<AppState>>,
    AnyUser(sender): AnyUser,
) -> Result<Json<Value>> {
    let list = contacts::list(&state, sender.user_id.as_str()).await?;
    Ok(Json(
        json!({ "incoming": list.incoming, "outgoing": list.outgoing }),
    ))
}

/// `POST …/requests/{userId}/accept`
pub async fn accept_route(
    State(state): State<Arc<AppState>>,
    AnyUser(sender): AnyUser,
    Path(user): Path<String>,
) -> Result<Json<Value>> {
    let other = user_id_param(&user)?;
    let next = contacts::step(&state, &sender, other.as_str(), ContactAction::Accept).await?;
    Ok(answer(next))
}

/// `POST …/requests/{userId}/decline`
pub async fn decline_route(
    State(state): State<Arc<AppState>>,
    AnyUser(sender): AnyUser,
    Path(user): Path<String>,
) -> Result<Json<Value>> {
    let other = user_id_param(&user)?;
    let next = contacts::step(&state, &sender, other.as_str(), ContactAction::Decline).await?;
    Ok(answer(next))
}

/// `GET …/contacts`: `{"contacts": [...]}`.
pub async fn contacts_route(
    State(state): State<Arc<AppState>>,
    AnyUser(sender): AnyUser,
) -> Result<Json<Value>> {
    let list = contacts::list(&state, sender.user_id.as_str()).await?;
    Ok(Json(json!({ "contacts": list.contacts })))
}

/// `DELETE …/contacts/{userId}` with `{"confirm": true}`.
pub async fn unbind_route(
    State(state): State<Arc<AppState>>,
    AnyUser(sender): AnyUser,
    Path(user): Path<String>,
    JsonBodyOrEmpty(body): JsonBodyOrEmpty<Unbind>,
) -> Result<Json<Value>> {
    let other = user_id_param(&user)?;
    match body.confirm {
        Some(true) => {}
        Some(false) => {
            return Err(Error::invalid_param(
                "`confirm` must be true: unbinding ends the relationship for both of you",
            ));
        }
        None => {
            return Err(Error::missing_param(
                "Missing `confirm: true`: unbinding ends the relationship for both of you",
            ));
        }
    }
    let next = contacts::step(&state, &sender, other.as_str(), ContactAction::Unbind).await?;
    Ok(answer(next))
}
