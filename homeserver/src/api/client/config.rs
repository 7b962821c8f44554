//! Account data: `/user/{userId}/account_data/{type}` and the per-room variant.

use axum::extract::State;
use ruma::UserId;
use ruma::api::client::config::{
    get_global_account_data, get_room_account_data, set_global_account_data, set_room_account_data,
};
use serde_json::Value;

use super::{AppStateRef, RouteResult};
use crate::api::ruma_wrapper::Ruma;
use crate::error::{Error, Result};
use crate::services::account_data;
use crate::services::auth::Sender;
use crate::services::contacts;
use crate::services::rooms::client_event::raw;

fn own(sender: &Sender, user: &UserId) -> Result<()> {
    if *user != sender.user_id {
        return Err(Error::forbidden(
            "Cannot access another user's account data",
        ));
    }
    Ok(())
}

fn content(raw: &serde_json::value::RawValue) -> Result<Value> {
    serde_json::from_str(raw.get()).map_err(|e| Error::bad_json(e.to_string()))
}

/// `PUT /_matrix/client/v3/user/{userId}/account_data/{type}`
pub async fn set_global_account_data_route(
    State(state): AppStateRef,
    body: Ruma<set_global_account_data::v3::Request>,
) -> RouteResult<set_global_account_data::v3::Response> {
    let sender = body.sender()?;
    let r = &body.body;
    own(sender, &r.user_id)?;
    let value = content(r.data.json())?;
    let event_type = r.event_type.to_string();
    account_data::set(&state, &sender.user_id, None, &event_type, &value).await?;
    if event_type == "m.ignored_user_list" {
        contacts::end_with_ignored(&state, sender, &value).await?;
    }
    Ok(set_global_account_data::v3::Response::new().into())
}

/// `GET /_matrix/client/v3/user/{userId}/account_data/{type}`
pub async fn get_global_account_data_route(
    State(state): AppStateRef,
    body: Ruma<get_global_account_data::v3::Request>,
) -> RouteResult<get_global_account_data::v3::Response> {
    let sender = body.sender()?;
    let r = &body.body;
    own(sender, &r.user_id)?;
    let value = account_data::get(&state, &sender.user_id, None, &r.event_type.to_string()).await?;
    Ok(get_global_account_data::v3::Response::new(raw(&value)?).into())
}

/// `PUT /_matrix/client/v3/user/{userId}/rooms/{roomId}/account_data/{type}`
pub async fn set_room_account_data_route(
    State(state): AppStateRef,
    body: Ruma<set_room_account_data::v3::Request>,
) -> RouteResult<set_room_account_data::v3::Response> {
    let sender = body.sender()?;
    let r = &body.body;
    own(sender, &r.user_id)?;
    let value = content(r.data.json())?;
    account_data::set(
        &state,
        &sender.user_id,
        Some(&r.room_id),
        &r.event_type.to_string(),
        &value,
    )
    .await?;
    Ok(set_room_account_data::v3::Response::new().into())
}

/// `GET /_matrix/client/v3/user/{userId}/rooms/{roomId}/account_data/{type}`
pub async fn get_room_account_data_route(
    State(state): AppStateRef,
    body: Ruma<get_room_account_data::v3::Request>,
) -> RouteResult<get_room_account_data::v3::Response> {
    let sender = body.sender()?;
    let r = &body.body;
    own(sender, &r.user_id)?;
    let value = account_data::get(
        &state,
        &sender.user_id,
        Some(&r.room_id),
        &r.event_type.to_string(),
    )
    .await?;
    Ok(get_room_account_data::v3::Response::new(raw(&value)?).into())
}
