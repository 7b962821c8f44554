//! `GET /_synapse/admin/v1/users/{user}/contacts`: an organisation admin sees the contacts,
//! pending requests and contact history of one of the organisation's own users, with the
//! ledger height and block time of each step (what `consort admin contacts` prints).

use axum::Json;
use axum::extract::{Path, State};
use serde_json::{Value, json};

use super::AdminSender;
use super::users::local_user;
use crate::api::client::AppStateRef;
use crate::error::Result;
use crate::services::contacts;

/// `GET /_synapse/admin/v1/users/{user}/contacts`
pub async fn user_contacts_route(
    State(state): AppStateRef,
    AdminSender(_admin): AdminSender,
    Path(user): Path<String>,
) -> Result<Json<Value>> {
    let user_id = local_user(&state, &user)?;
    let list = contacts::list(&state, user_id.as_str()).await?;
    let history: Vec<Value> = contacts::history(&state, user_id.as_str())
        .await?
        .into_iter()
        .map(|s| {
            json!({
                "user_id": s.user_id, "other": s.other, "action": s.action,
                "result": s.result, "org": s.org, "height": s.height, "ts": s.at_ms,
            })
        })
        .collect();
    Ok(Json(json!({
        "user_id": user_id,
        "contacts": list.contacts,
        "incoming": list.incoming,
        "outgoing": list.outgoing,
        "history": history,
    })))
}
