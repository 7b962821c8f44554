//! Sync filters: `POST /user/{userId}/filter` and `GET /user/{userId}/filter/{filterId}`.

use axum::extract::State;
use ruma::api::client::filter::{FilterDefinition, create_filter, get_filter};

use super::{AppStateRef, RouteResult};
use crate::{api::ruma_wrapper::Ruma, error::Error, services::credentials, storage::filters};

/// `POST /_matrix/client/v3/user/{userId}/filter`
pub async fn create_filter_route(
    State(state): AppStateRef,
    body: Ruma<create_filter::v3::Request>,
) -> RouteResult<create_filter::v3::Response> {
    let sender = body.sender()?;
    if body.body.user_id != sender.user_id {
        return Err(Error::forbidden("Cannot create filters for other users"));
    }
    let json = serde_json::to_string(&body.body.filter)
        .map_err(|e| Error::Internal(format!("cannot serialize a filter: {e}")))?;
    let filter_id = credentials::random_urlsafe(9);
    filters::insert(&state.db.pool, sender.user_id.as_str(), &filter_id, &json).await?;
    Ok(create_filter::v3::Response::new(filter_id).into())
}

/// `GET /_matrix/client/v3/user/{userId}/filter/{filterId}`
pub async fn get_filter_route(
    State(state): AppStateRef,
    body: Ruma<get_filter::v3::Request>,
) -> RouteResult<get_filter::v3::Response> {
    let sender = body.sender()?;
    if body.body.user_id != sender.user_id {
        return Err(Error::forbidden("Cannot get filters for other users"));
    }
    let json = filters::get(
        &state.db.pool,
        sender.user_id.as_str(),
        &body.body.filter_id,
    )
    .await?
    .ok_or_else(|| Error::not_found("No such filter"))?;
    let filter: FilterDefinition = serde_json::from_str(&json)
        .map_err(|e| Error::Internal(format!("stored filter is invalid: {e}")))?;
    Ok(get_filter::v3::Response::new(filter).into())
}
