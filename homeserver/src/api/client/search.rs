//! `POST /_matrix/client/v3/search`: room events by words of their body, name or topic.

use axum::Json;
use axum::extract::State;
use ruma::api::client::search::search_events;
use serde_json::{Value, json};

use super::AppStateRef;
use crate::api::ruma_wrapper::Ruma;
use crate::error::Result;
use crate::services::rooms::search::room_events;

/// `POST /_matrix/client/v3/search`; answered as JSON built here, since ruma's result types
/// cannot hold every field Synapse sends (`groups` by room and sender, `state` per room).
pub async fn search_route(
    State(state): AppStateRef,
    body: Ruma<search_events::v3::Request>,
) -> Result<Json<Value>> {
    let sender = body.sender()?;
    let r = &body.body;
    let mut categories = json!({});
    if let Some(criteria) = &r.search_categories.room_events {
        categories["room_events"] =
            room_events(&state, sender, criteria, r.next_batch.as_deref()).await?;
    }
    Ok(Json(json!({ "search_categories": categories })))
}
