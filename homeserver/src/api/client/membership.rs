//! Membership endpoints: join (by id or alias), invite, leave, forget, kick, ban, unban and
//! the member lists. Every change is an `m.room.member` event on the ledger.

use std::collections::BTreeMap;

use axum::extract::State;
use consort_bridge::rooms::read;
use ruma::api::client::knock::knock_room;
use ruma::api::client::membership::{
    ban_user, forget_room, get_member_events, invite_user, join_room_by_id,
    join_room_by_id_or_alias, joined_members, joined_rooms, kick_user, leave_room, unban_user,
};
use ruma::{OwnedMxcUri, OwnedRoomId, OwnedUserId, RoomId};

use super::{AppStateRef, RouteResult};
use crate::api::ruma_wrapper::Ruma;
use crate::error::{Error, Result};
use crate::services::rooms::access::access;
use crate::services::rooms::client_event::{Viewer, to_client_raw};
use crate::services::rooms::send::store_error;
use crate::services::rooms::{directory, membership};
use crate::services::tokens::parse_boundary;
use crate::state::AppState;
use crate::storage::forgotten;

/// A room id or alias resolved to a room id.
async fn resolve(state: &AppState, target: &ruma::RoomOrAliasId) -> Result<OwnedRoomId> {
    match <&RoomId>::try_from(target) {
        Ok(room_id) => Ok(room_id.to_owned()),
        Err(alias) => {
            let room = directory::resolve(state, alias.as_str())
                .await?
                .ok_or_else(|| Error::not_found(format!("Room alias {alias} not found")))?;
            OwnedRoomId::try_from(room).map_err(|e| Error::Internal(e.to_string()))
        }
    }
}

/// `POST /_matrix/client/v3/knock/{roomIdOrAlias}`
pub async fn knock_route(
    State(state): AppStateRef,
    body: Ruma<knock_room::v3::Request>,
) -> RouteResult<knock_room::v3::Response> {
    let sender = body.sender()?;
    sender.active()?;
    let room_id = resolve(&state, &body.body.room_id_or_alias).await?;
    membership::knock(
        &state,
        &sender.user_id,
        &room_id,
        body.body.reason.as_deref(),
    )
    .await?;
    Ok(knock_room::v3::Response::new(room_id).into())
}

/// `POST /_matrix/client/v3/rooms/{roomId}/join`
pub async fn join_room_by_id_route(
    State(state): AppStateRef,
    body: Ruma<join_room_by_id::v3::Request>,
) -> RouteResult<join_room_by_id::v3::Response> {
    let sender = body.sender()?;
    sender.active()?;
    let room_id = &body.body.room_id;
    membership::join(
        &state,
        &sender.user_id,
        room_id,
        body.body.reason.as_deref(),
    )
    .await?;
    Ok(join_room_by_id::v3::Response::new(room_id.clone()).into())
}

/// `POST /_matrix/client/v3/join/{roomIdOrAlias}`
pub async fn join_room_by_id_or_alias_route(
    State(state): AppStateRef,
    body: Ruma<join_room_by_id_or_alias::v3::Request>,
) -> RouteResult<join_room_by_id_or_alias::v3::Response> {
    let sender = body.sender()?;
    sender.active()?;
    let room_id = resolve(&state, &body.body.room_id_or_alias).await?;
    membership::join(
        &state,
        &sender.user_id,
        &room_id,
        body.body.reason.as_deref(),
    )
    .await?;
    Ok(join_room_by_id_or_alias::v3::Response::new(room_id).into())
}

/// `POST /_matrix/client/v3/rooms/{roomId}/invite`
pub async fn invite_user_route(
    State(state): AppStateRef,
    body: Ruma<invite_user::v3::Request>,
) -> RouteResult<invite_user::v3::Response> {
    let sender = body.sender()?;
    sender.active()?;
    let invite_user::v3::InvitationRecipient::UserId(recipient) = &body.body.recipient else {
        return Err(Error::new(
            http::StatusCode::BAD_REQUEST,
            ruma::api::error::ErrorKind::Unrecognized,
            "Third-party invites are not supported",
        ));
    };
    membership::invite(
        &state,
        &sender.user_id,
        &body.body.room_id,
        &recipient.user_id,
        recipient.reason.as_deref(),
    )
    .await?;
    Ok(invite_user::v3::Response::new().into())
}

/// `POST /_matrix/client/v3/rooms/{roomId}/leave`
pub async fn leave_room_route(
    State(state): AppStateRef,
    body: Ruma<leave_room::v3::Request>,
) -> RouteResult<leave_room::v3::Response> {
    let sender = body.sender()?;
    membership::leave(
        &state,
        &sender.user_id,
        &body.body.room_id,
        body.body.reason.as_deref(),
    )
    .await?;
    Ok(leave_room::v3::Response::new().into())
}

/// `POST /_matrix/client/v3/rooms/{roomId}/forget`: only a room one has left.
pub async fn forget_room_route(
    State(state): AppStateRef,
    body: Ruma<forget_room::v3::Request>,
) -> RouteResult<forget_room::v3::Response> {
    let sender = body.sender()?;
    let room_id = &body.body.room_id;
    match membership::current(&state, room_id, &sender.user_id)
        .await?
        .as_deref()
    {
        Some("join" | "invite" | "knock") => {
            return Err(Error::new(
                http::StatusCode::BAD_REQUEST,
                ruma::api::error::ErrorKind::Unknown,
                "User must leave the room before forgetting it",
            ));
        }
        None => return Err(Error::forbidden("User not in room")),
        _ => {}
    }
    forgotten::forget(&state.db.pool, sender.user_id.as_str(), room_id.as_str()).await?;
    Ok(forget_room::v3::Response::new().into())
}

/// `POST /_matrix/client/v3/rooms/{roomId}/kick`
pub async fn kick_user_route(
    State(state): AppStateRef,
    body: Ruma<kick_user::v3::Request>,
) -> RouteResult<kick_user::v3::Response> {
    let sender = body.sender()?;
    let r = &body.body;
    membership::kick(
        &state,
        &sender.user_id,
        &r.room_id,
        &r.user_id,
        r.reason.as_deref(),
    )
    .await?;
    Ok(kick_user::v3::Response::new().into())
}

/// `POST /_matrix/client/v3/rooms/{roomId}/ban`
pub async fn ban_user_route(
    State(state): AppStateRef,
    body: Ruma<ban_user::v3::Request>,
) -> RouteResult<ban_user::v3::Response> {
    let sender = body.sender()?;
    let r = &body.body;
    membership::ban(
        &state,
        &sender.user_id,
        &r.room_id,
        &r.user_id,
        r.reason.as_deref(),
    )
    .await?;
    Ok(ban_user::v3::Response::new().into())
}

/// `POST /_matrix/client/v3/rooms/{roomId}/unban`
pub async fn unban_user_route(
    State(state): AppStateRef,
    body: Ruma<unban_user::v3::Request>,
) -> RouteResult<unban_user::v3::Response> {
    let sender = body.sender()?;
    let r = &body.body;
    membership::unban(
        &state,
        &sender.user_id,
        &r.room_id,
        &r.user_id,
        r.reason.as_deref(),
    )
    .await?;
    Ok(unban_user::v3::Response::new().into())
}

/// `GET /_matrix/client/v3/joined_rooms`
pub async fn joined_rooms_route(
    State(state): AppStateRef,
    body: Ruma<joined_rooms::v3::Request>,
) -> RouteResult<joined_rooms::v3::Response> {
    let sender = body.sender()?;
    let rooms = read::rooms_of_user(state.chain()?.pool(), sender.user_id.as_str())
        .await
        .map_err(store_error)?;
    let joined = rooms
        .into_iter()
        .filter(|(_, m, _)| m == "join")
        .filter_map(|(r, _, _)| OwnedRoomId::try_from(r).ok())
        .collect();
    Ok(joined_rooms::v3::Response::new(joined).into())
}

/// `GET /_matrix/client/v3/rooms/{roomId}/members` (optionally `at` a token, filtered by
/// membership).
pub async fn get_member_events_route(
    State(state): AppStateRef,
    body: Ruma<get_member_events::v3::Request>,
) -> RouteResult<get_member_events::v3::Response> {
    let sender = body.sender()?;
    let r = &body.body;
    let access = access(&state, &sender.user_id, &r.room_id).await?;
    let mut end = access.end;
    if let Some(at) = &r.at {
        end = end.min(parse_boundary(at)?);
    }
    let pool = state.chain()?.pool();
    let mut members = read::state_at(pool, r.room_id.as_str(), end)
        .await
        .map_err(store_error)?;
    members.retain(|e| {
        let m = e.membership.as_deref().unwrap_or_default();
        e.kind == "m.room.member"
            && r.membership.as_ref().is_none_or(|want| want.as_str() == m)
            && r.not_membership
                .as_ref()
                .is_none_or(|not| not.as_str() != m)
    });
    let viewer = Viewer::of(sender);
    let chunk = to_client_raw(pool, &members, viewer).await?;
    Ok(get_member_events::v3::Response::new(chunk).into())
}

/// `GET /_matrix/client/v3/rooms/{roomId}/joined_members`
pub async fn joined_members_route(
    State(state): AppStateRef,
    body: Ruma<joined_members::v3::Request>,
) -> RouteResult<joined_members::v3::Response> {
    let sender = body.sender()?;
    let access = access(&state, &sender.user_id, &body.body.room_id).await?;
    if !access.joined && !access.window.world_readable() {
        return Err(Error::forbidden("User not in room"));
    }
    let pool = state.chain()?.pool();
    let state_now = read::state_at(pool, body.body.room_id.as_str(), access.end)
        .await
        .map_err(store_error)?;
    let mut joined = BTreeMap::new();
    for e in state_now
        .iter()
        .filter(|e| e.kind == "m.room.member" && e.membership.as_deref() == Some("join"))
    {
        #[derive(serde::Deserialize)]
        struct Pdu {
            content: Content,
        }
        #[derive(serde::Deserialize)]
        struct Content {
            displayname: Option<String>,
            avatar_url: Option<String>,
        }
        let content = serde_json::from_str::<Pdu>(&e.json).ok().map(|p| p.content);
        let Some(user) = e
            .state_key
            .as_deref()
            .and_then(|k| OwnedUserId::try_from(k).ok())
        else {
            continue;
        };
        let mut member = joined_members::v3::RoomMember::new();
        if let Some(c) = content {
            member.display_name = c.displayname;
            member.avatar_url = c.avatar_url.map(OwnedMxcUri::from);
        }
        joined.insert(user, member);
    }
    Ok(joined_members::v3::Response::new(joined).into())
}
