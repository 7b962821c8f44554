//! `GET /_matrix/client/unstable/uk.half-shot.msc2666/user/mutual_rooms?user_id=`: the rooms
//! the caller and another user (of any organisation) are both joined to (MSC2666), as Synapse
//! answers it: the whole list in one page. ruma has this endpoint behind its
//! `unstable-msc2666` feature, which would rebuild ruma (and matrix-sdk for the client tests)
//! with it; the answer is two fields, so it is served as plain JSON.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};
use http::StatusCode;
use ruma::api::error::ErrorKind;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::api::consort::key_history::AnyUser;
use crate::api::consort::user_id_param;
use crate::error::{Error, Result};
use crate::services::rooms::send::store_error;
use crate::state::AppState;

/// The path, under which the route is mounted.
pub const PATH: &str = "/_matrix/client/unstable/uk.half-shot.msc2666/user/mutual_rooms";

/// The route's stable path (Matrix 1.16).
pub const STABLE_PATH: &str = "/_matrix/client/v1/mutual_rooms";

/// The query.
#[derive(Debug, Deserialize)]
pub struct MutualRoomsQuery {
    /// The other user.
    pub user_id: Option<String>,
}

/// `GET …/mutual_rooms`
pub async fn mutual_rooms_route(
    State(state): State<Arc<AppState>>,
    AnyUser(sender): AnyUser,
    Query(query): Query<MutualRoomsQuery>,
) -> Result<Json<Value>> {
    let other = query
        .user_id
        .ok_or_else(|| Error::missing_param("Missing string query parameter user_id"))?;
    let other = user_id_param(&other)?;
    if other == sender.user_id {
        return Err(Error::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            ErrorKind::InvalidParam,
            "You cannot request a list of shared rooms with yourself",
        ));
    }
    let joined = consort_bridge::rooms::read::mutual_rooms(
        state.chain()?.pool(),
        sender.user_id.as_str(),
        other.as_str(),
    )
    .await
    .map_err(store_error)?;
    Ok(Json(json!({ "joined": joined })))
}
