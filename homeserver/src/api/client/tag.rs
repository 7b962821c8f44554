//! Room tags (`/user/{userId}/rooms/{roomId}/tags`): the `m.tag` room account data, which
//! clients also read from `/sync`.

use axum::extract::State;
use ruma::api::client::tag::{create_tag, delete_tag, get_tags};
use ruma::events::tag::{TagInfo, TagName, Tags};
use ruma::{RoomId, UserId};
use serde_json::json;

use super::{AppStateRef, RouteResult};
use crate::api::ruma_wrapper::Ruma;
use crate::error::{Error, Result};
use crate::services::account_data;
use crate::services::auth::Sender;
use crate::state::AppState;

/// The account data type tags are kept under.
const TAGS: &str = "m.tag";

fn own(sender: &Sender, user: &UserId) -> Result<()> {
    if *user != sender.user_id {
        return Err(Error::forbidden("Cannot access another user's tags"));
    }
    Ok(())
}

async fn load(state: &AppState, user: &UserId, room: &RoomId) -> Result<Tags> {
    match account_data::get(state, user, Some(room), TAGS).await {
        Ok(content) => Ok(serde_json::from_value(content["tags"].clone()).unwrap_or_default()),
        Err(Error::Matrix { status, .. }) if status == http::StatusCode::NOT_FOUND => {
            Ok(Tags::new())
        }
        Err(e) => Err(e),
    }
}

async fn save(state: &AppState, user: &UserId, room: &RoomId, tags: &Tags) -> Result<()> {
    account_data::set_unchecked(state, user, Some(room), TAGS, &json!({ "tags": tags })).await
}

/// `GET /_matrix/client/v3/user/{userId}/rooms/{roomId}/tags`
pub async fn get_tags_route(
    State(state): AppStateRef,
    body: Ruma<get_tags::v3::Request>,
) -> RouteResult<get_tags::v3::Response> {
    let sender = body.sender()?;
    own(sender, &body.body.user_id)?;
    let tags = load(&state, &sender.user_id, &body.body.room_id).await?;
    Ok(get_tags::v3::Response::new(tags).into())
}

/// `PUT /_matrix/client/v3/user/{userId}/rooms/{roomId}/tags/{tag}`
pub async fn create_tag_route(
    State(state): AppStateRef,
    body: Ruma<create_tag::v3::Request>,
) -> RouteResult<create_tag::v3::Response> {
    let sender = body.sender()?;
    let r = &body.body;
    own(sender, &r.user_id)?;
    if r.tag.is_empty() || r.tag.len() > 255 {
        return Err(Error::invalid_param("A tag is 1 to 255 bytes long"));
    }
    let mut tags = load(&state, &sender.user_id, &r.room_id).await?;
    let info: TagInfo = r.tag_info.clone();
    tags.insert(TagName::from(r.tag.as_str()), info);
    save(&state, &sender.user_id, &r.room_id, &tags).await?;
    Ok(create_tag::v3::Response::new().into())
}

/// `DELETE /_matrix/client/v3/user/{userId}/rooms/{roomId}/tags/{tag}`
pub async fn delete_tag_route(
    State(state): AppStateRef,
    body: Ruma<delete_tag::v3::Request>,
) -> RouteResult<delete_tag::v3::Response> {
    let sender = body.sender()?;
    let r = &body.body;
    own(sender, &r.user_id)?;
    let mut tags = load(&state, &sender.user_id, &r.room_id).await?;
    tags.remove(&TagName::from(r.tag.as_str()));
    save(&state, &sender.user_id, &r.room_id, &tags).await?;
    Ok(delete_tag::v3::Response::new().into())
}
