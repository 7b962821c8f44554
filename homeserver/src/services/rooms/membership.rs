//! Membership changes: join, invite, leave, kick, ban, unban. Each is an `m.room.member`
//! event; the auth rules on the ledger decide, this module only shapes the event and answers
//! the cases Synapse answers without one.

use consort_bridge::rooms::store;
use consort_bridge::users;
use ruma::{OwnedEventId, RoomId, UserId};
use serde_json::{Value, json};

use super::send::{Draft, send, store_error};
use crate::error::{Error, Result};
use crate::state::AppState;
use crate::storage::forgotten;

/// A user's current membership of a room, from the projection.
pub async fn current(
    state: &AppState,
    room_id: &RoomId,
    user_id: &UserId,
) -> Result<Option<String>> {
    let chain = state.chain()?;
    let mut conn = chain.pool().acquire().await?;
    Ok(store::membership(&mut conn, room_id.as_str(), user_id.as_str()).await?)
}

/// Whether a room exists in the projection.
pub async fn room_exists(state: &AppState, room_id: &RoomId) -> Result<bool> {
    let chain = state.chain()?;
    let mut conn = chain.pool().acquire().await?;
    Ok(store::get_room(&mut conn, room_id.as_str())
        .await
        .map_err(store_error)?
        .is_some())
}

/// Member event content: the membership, the target's public profile and the reason.
async fn member_content(
    state: &AppState,
    membership: &str,
    target: &UserId,
    reason: Option<&str>,
) -> Result<Value> {
    let mut content = json!({ "membership": membership });
    if matches!(membership, "join" | "invite" | "knock")
        && let Some(user) = users::get(state.chain()?.pool(), target.as_str()).await?
    {
        if let Some(name) = user.displayname {
            content["displayname"] = json!(name);
        }
        if let Some(url) = user.avatar_url {
            content["avatar_url"] = json!(url);
        }
    }
    if let Some(reason) = reason {
        content["reason"] = json!(reason);
    }
    Ok(content)
}

async fn member_event(
    state: &AppState,
    sender: &UserId,
    room_id: &RoomId,
    target: &UserId,
    membership: &str,
    reason: Option<&str>,
) -> Result<OwnedEventId> {
    let content = member_content(state, membership, target, reason).await?;
    let draft = Draft::state("m.room.member", target.as_str(), content);
    send(state, sender, room_id, draft).await
}

/// Joins `room_id`; joining a room one is already in changes nothing.
pub async fn join(
    state: &AppState,
    user: &UserId,
    room_id: &RoomId,
    reason: Option<&str>,
) -> Result<()> {
    if !room_exists(state, room_id).await? {
        return Err(Error::not_found(
            "No known servers to join this room through",
        ));
    }
    if current(state, room_id, user).await?.as_deref() != Some("join") {
        member_event(state, user, room_id, user, "join", reason).await?;
    }
    forgotten::remember(&state.db.pool, user.as_str(), room_id.as_str()).await?;
    Ok(())
}

/// Knocks on `room_id`: asks its members to let the user in (join rule `knock` or
/// `knock_restricted`, room versions 7 and up, as the auth rules decide). Knocking again
/// changes nothing.
pub async fn knock(
    state: &AppState,
    user: &UserId,
    room_id: &RoomId,
    reason: Option<&str>,
) -> Result<()> {
    if !room_exists(state, room_id).await? {
        return Err(Error::not_found(
            "No known servers to knock on this room through",
        ));
    }
    match current(state, room_id, user).await?.as_deref() {
        Some("join") => Err(Error::forbidden("You are already in the room.")),
        Some("invite") => Err(Error::forbidden(
            "You are already invited to this room; accept the invite instead.",
        )),
        Some("ban") => Err(Error::forbidden("You are banned from this room")),
        Some("knock") => Ok(()),
        _ => member_event(state, user, room_id, user, "knock", reason)
            .await
            .map(|_| ()),
    }
}

/// Invites `target` (a registered user of any organisation).
pub async fn invite(
    state: &AppState,
    sender: &UserId,
    room_id: &RoomId,
    target: &UserId,
    reason: Option<&str>,
) -> Result<()> {
    let known = users::get(state.chain()?.pool(), target.as_str())
        .await?
        .is_some_and(|u| !u.deactivated);
    if !known {
        return Err(Error::not_found(format!("Unknown user {target}")));
    }
    match current(state, room_id, target).await?.as_deref() {
        Some("join") => Err(Error::forbidden(format!(
            "{target} is already in the room."
        ))),
        Some("ban") => Err(Error::forbidden(format!(
            "{target} is banned from the room"
        ))),
        Some("invite") => Ok(()),
        _ => member_event(state, sender, room_id, target, "invite", reason)
            .await
            .map(|_| ()),
    }
}

/// Leaves (or declines an invite to) a room.
pub async fn leave(
    state: &AppState,
    user: &UserId,
    room_id: &RoomId,
    reason: Option<&str>,
) -> Result<()> {
    match current(state, room_id, user).await?.as_deref() {
        Some("join" | "invite" | "knock") => {
            member_event(state, user, room_id, user, "leave", reason)
                .await
                .map(|_| ())
        }
        Some("leave") => Ok(()),
        Some("ban") => Err(Error::forbidden("You are banned from this room")),
        _ => Err(Error::forbidden(format!("{user} is not in the room"))),
    }
}

/// Removes `target` from a room.
pub async fn kick(
    state: &AppState,
    sender: &UserId,
    room_id: &RoomId,
    target: &UserId,
    reason: Option<&str>,
) -> Result<()> {
    match current(state, room_id, target).await?.as_deref() {
        Some("join" | "invite" | "knock") => {
            member_event(state, sender, room_id, target, "leave", reason)
                .await
                .map(|_| ())
        }
        _ => Err(Error::forbidden(format!("{target} is not in the room"))),
    }
}

/// Bans `target` (whatever their membership).
pub async fn ban(
    state: &AppState,
    sender: &UserId,
    room_id: &RoomId,
    target: &UserId,
    reason: Option<&str>,
) -> Result<()> {
    member_event(state, sender, room_id, target, "ban", reason)
        .await
        .map(|_| ())
}

/// Lifts a ban.
pub async fn unban(
    state: &AppState,
    sender: &UserId,
    room_id: &RoomId,
    target: &UserId,
    reason: Option<&str>,
) -> Result<()> {
    match current(state, room_id, target).await?.as_deref() {
        Some("ban") => member_event(state, sender, room_id, target, "leave", reason)
            .await
            .map(|_| ()),
        _ => Err(Error::forbidden(format!("{target} is not banned"))),
    }
}
