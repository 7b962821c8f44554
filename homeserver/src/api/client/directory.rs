//! Room aliases and the room directory (`/directory/room/{alias}`, `/publicRooms`,
//! `/directory/list/room/{roomId}`): on the ledger, so every organisation answers alike.

use axum::extract::State;
use consort_bridge::rooms::read::{self, StoredEvent};
use consort_bridge::rooms::{event::rules_for, power, store};
use ruma::api::client::alias::{create_alias, delete_alias, get_alias};
use ruma::api::client::directory::{
    get_public_rooms, get_public_rooms_filtered, get_room_visibility, set_room_visibility,
};
use ruma::api::client::room::Visibility;
use ruma::api::error::ErrorKind;
use ruma::directory::{PublicRoomsChunk, PublicRoomsChunkInit};
use ruma::events::StateEventType;
use ruma::room::JoinRuleKind;
use ruma::{OwnedRoomId, OwnedServerName, RoomAliasId, UInt, UserId};
use serde_json::Value;

use super::{AppStateRef, RouteResult};
use crate::api::ruma_wrapper::{BodyGuard, Ruma, with_default};
use crate::error::{Error, Result};
use crate::services::rooms::directory::{resolve, set_alias, set_visibility};
use crate::services::rooms::membership::{current, room_exists};
use crate::services::rooms::send::store_error;
use crate::services::sync::current_token;
use crate::state::AppState;

/// Most rooms one `/publicRooms` page lists.
const MAX_PUBLIC_ROOMS_PAGE: usize = 500;

fn local_alias(state: &AppState, alias: &RoomAliasId) -> Result<()> {
    if alias.server_name() != state.server_name {
        return Err(Error::invalid_param("Room alias must be local"));
    }
    Ok(())
}

/// `PUT /_matrix/client/v3/directory/room/{roomAlias}`
pub async fn create_alias_route(
    State(state): AppStateRef,
    body: Ruma<create_alias::v3::Request>,
) -> RouteResult<create_alias::v3::Response> {
    let sender = body.sender()?;
    sender.active()?;
    let r = &body.body;
    local_alias(&state, &r.room_alias)?;
    if resolve(&state, r.room_alias.as_str()).await?.is_some() {
        return Err(Error::new(
            http::StatusCode::CONFLICT,
            ErrorKind::Unknown,
            format!("Room alias {} already exists", r.room_alias),
        ));
    }
    if !room_exists(&state, &r.room_id).await? {
        return Err(Error::not_found("Room not found"));
    }
    if current(&state, &r.room_id, &sender.user_id)
        .await?
        .as_deref()
        != Some("join")
    {
        return Err(Error::forbidden(
            "You must be in the room to create an alias for it",
        ));
    }
    set_alias(
        &state,
        &sender.user_id,
        r.room_alias.as_str(),
        Some(&r.room_id),
    )
    .await?;
    Ok(create_alias::v3::Response::new().into())
}

/// `GET /_matrix/client/v3/directory/room/{roomAlias}`
pub async fn get_alias_route(
    State(state): AppStateRef,
    body: Ruma<get_alias::v3::Request>,
) -> RouteResult<get_alias::v3::Response> {
    let alias = &body.body.room_alias;
    let room = resolve(&state, alias.as_str())
        .await?
        .ok_or_else(|| Error::not_found(format!("Room alias {alias} not found")))?;
    let members = read::members(state.chain()?.pool(), &room, "join")
        .await
        .map_err(store_error)?;
    let mut servers: Vec<OwnedServerName> = members
        .iter()
        .filter_map(|u| UserId::parse(u).ok().map(|u| u.server_name().to_owned()))
        .collect();
    servers.sort();
    servers.dedup();
    let room = OwnedRoomId::try_from(room).map_err(|e| Error::Internal(e.to_string()))?;
    Ok(get_alias::v3::Response::new(room, servers).into())
}

/// Whether `user` may change room `room_id`'s canonical alias (and so its aliases and its
/// directory listing).
async fn may_manage(state: &AppState, user: &UserId, room_id: &str) -> Result<bool> {
    let chain = state.chain()?;
    let mut conn = chain.pool().acquire().await?;
    let Some(room) = store::get_room(&mut conn, room_id)
        .await
        .map_err(store_error)?
    else {
        return Ok(false);
    };
    let rules = rules_for(&room.version).map_err(|e| Error::Internal(e.to_string()))?;
    let power_state = store::power_state(&mut conn, room_id, &rules)
        .await
        .map_err(store_error)?;
    Ok(power::from_state(&power_state, &rules)
        .user_can_send_state(user, StateEventType::RoomCanonicalAlias))
}

/// `DELETE /_matrix/client/v3/directory/room/{roomAlias}`: by its creator, a server admin
/// or a room member with the power to change the canonical alias.
pub async fn delete_alias_route(
    State(state): AppStateRef,
    body: Ruma<delete_alias::v3::Request>,
) -> RouteResult<delete_alias::v3::Response> {
    let sender = body.sender()?;
    let alias = &body.body.room_alias;
    local_alias(&state, alias)?;
    let (room, creator) = read::alias(state.chain()?.pool(), alias.as_str())
        .await
        .map_err(store_error)?
        .ok_or_else(|| Error::not_found(format!("Room alias {alias} not found")))?;
    let allowed = creator == sender.user_id.as_str()
        || sender.is_admin
        || may_manage(&state, &sender.user_id, &room).await?;
    if !allowed {
        return Err(Error::forbidden(
            "You don't have permission to delete the alias.",
        ));
    }
    set_alias(&state, &sender.user_id, alias.as_str(), None).await?;
    Ok(delete_alias::v3::Response::new().into())
}

/// `GET /_matrix/client/v3/directory/list/room/{roomId}`
pub async fn get_room_visibility_route(
    State(state): AppStateRef,
    body: Ruma<get_room_visibility::v3::Request>,
) -> RouteResult<get_room_visibility::v3::Response> {
    let room_id = &body.body.room_id;
    if !room_exists(&state, room_id).await? {
        return Err(Error::not_found("Unknown room"));
    }
    let public = read::is_public(state.chain()?.pool(), room_id.as_str())
        .await
        .map_err(store_error)?;
    let visibility = if public {
        Visibility::Public
    } else {
        Visibility::Private
    };
    Ok(get_room_visibility::v3::Response::new(visibility).into())
}

/// `visibility` defaults to `public` (the spec), where ruma requires it.
#[derive(Debug)]
pub struct VisibilityDefault;

impl BodyGuard for VisibilityDefault {
    fn prepare(body: bytes::Bytes) -> Result<bytes::Bytes> {
        with_default(body, "visibility", serde_json::json!("public"))
    }
}

/// `PUT /_matrix/client/v3/directory/list/room/{roomId}`
pub async fn set_room_visibility_route(
    State(state): AppStateRef,
    body: Ruma<set_room_visibility::v3::Request, VisibilityDefault>,
) -> RouteResult<set_room_visibility::v3::Response> {
    let sender = body.sender()?;
    sender.active()?;
    let r = &body.body;
    if !room_exists(&state, &r.room_id).await? {
        return Err(Error::not_found("Unknown room"));
    }
    let public = match r.visibility {
        Visibility::Public => true,
        Visibility::Private => false,
        _ => return Err(Error::invalid_param("Unknown visibility")),
    };
    set_visibility(&state, &sender.user_id, &r.room_id, public).await?;
    Ok(set_room_visibility::v3::Response::new().into())
}

fn content_str(event: Option<&StoredEvent>, field: &str) -> Option<String> {
    let event = event?;
    let pdu: Value = serde_json::from_str(&event.json).ok()?;
    pdu["content"][field].as_str().map(str::to_owned)
}

/// The directory entry of a published room, from its current state.
async fn chunk(state: &AppState, room_id: &str, end: i64) -> Result<PublicRoomsChunk> {
    let pool = state.chain()?.pool();
    let events = read::state_at(pool, room_id, end)
        .await
        .map_err(store_error)?;
    let get = |kind: &str| {
        events
            .iter()
            .find(|e| e.kind == kind && e.state_key.as_deref() == Some(""))
    };
    let joined = events
        .iter()
        .filter(|e| e.kind == "m.room.member" && e.membership.as_deref() == Some("join"))
        .count();
    let room_id = OwnedRoomId::try_from(room_id).map_err(|e| Error::Internal(e.to_string()))?;
    let mut c: PublicRoomsChunk = PublicRoomsChunkInit {
        num_joined_members: UInt::try_from(joined as u64).unwrap_or_default(),
        room_id,
        world_readable: content_str(get("m.room.history_visibility"), "history_visibility")
            .as_deref()
            == Some("world_readable"),
        guest_can_join: content_str(get("m.room.guest_access"), "guest_access").as_deref()
            == Some("can_join"),
    }
    .into();
    c.name = content_str(get("m.room.name"), "name");
    c.topic = content_str(get("m.room.topic"), "topic");
    c.canonical_alias =
        content_str(get("m.room.canonical_alias"), "alias").and_then(|a| a.try_into().ok());
    c.avatar_url = content_str(get("m.room.avatar"), "url").map(Into::into);
    c.join_rule = content_str(get("m.room.join_rules"), "join_rule")
        .map_or(JoinRuleKind::Public, |r| JoinRuleKind::from(r.as_str()));
    Ok(c)
}

/// One page of the directory: rooms matching `term`, from offset `since`.
async fn public_rooms(
    state: &AppState,
    limit: Option<UInt>,
    since: Option<&str>,
    term: Option<&str>,
) -> Result<(Vec<PublicRoomsChunk>, Option<String>, Option<String>, usize)> {
    let pool = state.chain()?.pool();
    let end = current_token(state).await?.end();
    let term = term.map(str::to_lowercase).filter(|t| !t.is_empty());
    let mut all = Vec::new();
    for room in read::public_rooms(pool).await.map_err(store_error)? {
        let c = chunk(state, &room, end).await?;
        let matches = term.as_ref().is_none_or(|t| {
            [&c.name, &c.topic]
                .iter()
                .filter_map(|f| f.as_deref())
                .chain(c.canonical_alias.as_ref().map(|a| a.as_str()))
                .any(|f| f.to_lowercase().contains(t.as_str()))
        });
        if matches {
            all.push(c);
        }
    }
    all.sort_by_key(|c| std::cmp::Reverse(c.num_joined_members));
    let total = all.len();
    let offset = match since {
        Some(s) => s
            .strip_prefix('p')
            .and_then(|n| n.parse::<usize>().ok())
            .ok_or_else(|| Error::invalid_param("Invalid `since` token"))?,
        None => 0,
    };
    let limit = limit
        .map(|l| u64::from(l) as usize)
        .unwrap_or(MAX_PUBLIC_ROOMS_PAGE)
        .clamp(1, MAX_PUBLIC_ROOMS_PAGE);
    let page: Vec<_> = all.into_iter().skip(offset).take(limit).collect();
    let next = (offset + page.len() < total).then(|| format!("p{}", offset + page.len()));
    let prev = (offset > 0).then(|| format!("p{}", offset.saturating_sub(limit)));
    Ok((page, next, prev, total))
}

/// `GET /_matrix/client/v3/publicRooms`
pub async fn get_public_rooms_route(
    State(state): AppStateRef,
    body: Ruma<get_public_rooms::v3::Request>,
) -> RouteResult<get_public_rooms::v3::Response> {
    let r = &body.body;
    let (chunk, next, prev, total) =
        public_rooms(&state, r.limit, r.since.as_deref(), None).await?;
    let mut response = get_public_rooms::v3::Response::new(chunk);
    response.next_batch = next;
    response.prev_batch = prev;
    response.total_room_count_estimate = UInt::try_from(total as u64).ok();
    Ok(response.into())
}

/// `POST /_matrix/client/v3/publicRooms` (with a search filter)
pub async fn get_public_rooms_filtered_route(
    State(state): AppStateRef,
    body: Ruma<get_public_rooms_filtered::v3::Request>,
) -> RouteResult<get_public_rooms_filtered::v3::Response> {
    let r = &body.body;
    let term = r.filter.generic_search_term.as_deref();
    let (chunk, next, prev, total) =
        public_rooms(&state, r.limit, r.since.as_deref(), term).await?;
    let mut response = get_public_rooms_filtered::v3::Response::new();
    response.chunk = chunk;
    response.next_batch = next;
    response.prev_batch = prev;
    response.total_room_count_estimate = UInt::try_from(total as u64).ok();
    Ok(response.into())
}
