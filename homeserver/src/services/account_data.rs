//! Account data (global and per room): org-local, stored with a local stream value and
//! announced to waiting `/sync` requests.

use ruma::{RoomId, UserId};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::state::AppState;
use crate::storage::account_data;

/// Types the server manages through their own endpoints, which clients may not set here.
const SERVER_MANAGED: [&str; 1] = ["m.push_rules"];

/// Sets an entry from a client; `room_id` is `None` for global data.
pub async fn set(
    state: &AppState,
    user: &UserId,
    room_id: Option<&RoomId>,
    data_type: &str,
    content: &Value,
) -> Result<()> {
    if SERVER_MANAGED.contains(&data_type) {
        return Err(Error::new(
            http::StatusCode::BAD_REQUEST,
            ruma::api::error::ErrorKind::BadJson,
            format!("Cannot set {data_type} through the account data API"),
        ));
    }
    if !content.is_object() {
        return Err(Error::bad_json(
            "Account data content must be a JSON object",
        ));
    }
    set_unchecked(state, user, room_id, data_type, content).await
}

/// Sets an entry (also the server-managed ones) and wakes `/sync`.
pub async fn set_unchecked(
    state: &AppState,
    user: &UserId,
    room_id: Option<&RoomId>,
    data_type: &str,
    content: &Value,
) -> Result<()> {
    let room = room_id.map(RoomId::as_str).unwrap_or_default();
    let text = serde_json::to_string(content)
        .map_err(|e| Error::Internal(format!("account data: {e}")))?;
    account_data::set(&state.db.pool, user.as_str(), room, data_type, &text).await?;
    state.notifier.notify();
    Ok(())
}

/// An entry's content, `M_NOT_FOUND` when unset.
pub async fn get(
    state: &AppState,
    user: &UserId,
    room_id: Option<&RoomId>,
    data_type: &str,
) -> Result<Value> {
    let room = room_id.map(RoomId::as_str).unwrap_or_default();
    let text = account_data::get(&state.db.pool, user.as_str(), room, data_type)
        .await?
        .ok_or_else(|| Error::not_found("Account data not found"))?;
    serde_json::from_str(&text).map_err(|e| Error::Internal(format!("stored account data: {e}")))
}
