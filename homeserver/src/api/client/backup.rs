//! Server-side key backup: `/room_keys/version[/{version}]` and
//! `/room_keys/keys[/{roomId}[/{sessionId}]]` (see `services::key_backup`).

use std::collections::BTreeMap;

use axum::extract::State;
use ruma::api::client::backup::{
    RoomKeyBackup, add_backup_keys, add_backup_keys_for_room, add_backup_keys_for_session,
    create_backup_version, delete_backup_keys, delete_backup_keys_for_room,
    delete_backup_keys_for_session, delete_backup_version, get_backup_info, get_backup_keys,
    get_backup_keys_for_room, get_backup_keys_for_session, get_latest_backup_info,
    update_backup_version,
};
use ruma::serde::Raw;
use ruma::{OwnedRoomId, UInt};

use super::{AppStateRef, RouteResult};
use crate::api::ruma_wrapper::Ruma;
use crate::error::{Error, Result};
use crate::services::key_backup::{self, BackupInfo, BackupKey};

fn raw<T>(json: &str) -> Result<Raw<T>> {
    serde_json::value::RawValue::from_string(json.to_owned())
        .map(Raw::from_json)
        .map_err(|e| Error::Internal(format!("stored backup JSON: {e}")))
}

fn count(n: u64) -> UInt {
    UInt::try_from(n).unwrap_or(UInt::MAX)
}

/// The keys of a `rooms` map as rows.
fn rows(rooms: &BTreeMap<OwnedRoomId, RoomKeyBackup>) -> Vec<BackupKey> {
    rooms
        .iter()
        .flat_map(|(room, backup)| {
            backup.sessions.iter().map(move |(session, data)| {
                (
                    room.to_string(),
                    session.clone(),
                    data.json().get().to_owned(),
                )
            })
        })
        .collect()
}

fn info_parts(
    info: BackupInfo,
) -> Result<(
    Raw<ruma::api::client::backup::BackupAlgorithm>,
    UInt,
    String,
    String,
)> {
    Ok((
        raw(&info.algorithm)?,
        count(info.count),
        info.etag,
        info.version,
    ))
}

/// `POST /_matrix/client/v3/room_keys/version`
pub async fn create_backup_version_route(
    State(state): AppStateRef,
    body: Ruma<create_backup_version::v3::Request>,
) -> RouteResult<create_backup_version::v3::Response> {
    let sender = body.sender()?;
    let version = key_backup::create(
        &state.db.pool,
        sender.user_id.as_str(),
        body.body.algorithm.json().get(),
    )
    .await?;
    Ok(create_backup_version::v3::Response::new(version).into())
}

/// `GET /_matrix/client/v3/room_keys/version`
pub async fn get_latest_backup_info_route(
    State(state): AppStateRef,
    body: Ruma<get_latest_backup_info::v3::Request>,
) -> RouteResult<get_latest_backup_info::v3::Response> {
    let sender = body.sender()?;
    let info = key_backup::info(&state.db.pool, sender.user_id.as_str(), None).await?;
    let (algorithm, count, etag, version) = info_parts(info)?;
    Ok(get_latest_backup_info::v3::Response::new(algorithm, count, etag, version).into())
}

/// `GET /_matrix/client/v3/room_keys/version/{version}`
pub async fn get_backup_info_route(
    State(state): AppStateRef,
    body: Ruma<get_backup_info::v3::Request>,
) -> RouteResult<get_backup_info::v3::Response> {
    let sender = body.sender()?;
    let info = key_backup::info(
        &state.db.pool,
        sender.user_id.as_str(),
        Some(&body.body.version),
    )
    .await?;
    let (algorithm, count, etag, version) = info_parts(info)?;
    Ok(get_backup_info::v3::Response::new(algorithm, count, etag, version).into())
}

/// `PUT /_matrix/client/v3/room_keys/version/{version}`
pub async fn update_backup_version_route(
    State(state): AppStateRef,
    body: Ruma<update_backup_version::v3::Request>,
) -> RouteResult<update_backup_version::v3::Response> {
    let sender = body.sender()?;
    let r = &body.body;
    key_backup::update(
        &state.db.pool,
        sender.user_id.as_str(),
        &r.version,
        r.algorithm.json().get(),
    )
    .await?;
    Ok(update_backup_version::v3::Response::new().into())
}

/// `DELETE /_matrix/client/v3/room_keys/version/{version}`
pub async fn delete_backup_version_route(
    State(state): AppStateRef,
    body: Ruma<delete_backup_version::v3::Request>,
) -> RouteResult<delete_backup_version::v3::Response> {
    let sender = body.sender()?;
    key_backup::delete_version(&state.db.pool, sender.user_id.as_str(), &body.body.version).await?;
    Ok(delete_backup_version::v3::Response::new().into())
}

/// `PUT /_matrix/client/v3/room_keys/keys`
pub async fn add_backup_keys_route(
    State(state): AppStateRef,
    body: Ruma<add_backup_keys::v3::Request>,
) -> RouteResult<add_backup_keys::v3::Response> {
    let sender = body.sender()?;
    let r = &body.body;
    let (n, etag) = key_backup::put_keys(
        &state.db.pool,
        sender.user_id.as_str(),
        &r.version,
        rows(&r.rooms),
    )
    .await?;
    Ok(add_backup_keys::v3::Response::new(etag, count(n)).into())
}

/// `PUT /_matrix/client/v3/room_keys/keys/{roomId}`
pub async fn add_backup_keys_for_room_route(
    State(state): AppStateRef,
    body: Ruma<add_backup_keys_for_room::v3::Request>,
) -> RouteResult<add_backup_keys_for_room::v3::Response> {
    let sender = body.sender()?;
    let r = &body.body;
    let keys = r
        .sessions
        .iter()
        .map(|(s, d)| (r.room_id.to_string(), s.clone(), d.json().get().to_owned()))
        .collect();
    let (n, etag) =
        key_backup::put_keys(&state.db.pool, sender.user_id.as_str(), &r.version, keys).await?;
    Ok(add_backup_keys_for_room::v3::Response::new(etag, count(n)).into())
}

/// `PUT /_matrix/client/v3/room_keys/keys/{roomId}/{sessionId}`
pub async fn add_backup_keys_for_session_route(
    State(state): AppStateRef,
    body: Ruma<add_backup_keys_for_session::v3::Request>,
) -> RouteResult<add_backup_keys_for_session::v3::Response> {
    let sender = body.sender()?;
    let r = &body.body;
    let keys = vec![(
        r.room_id.to_string(),
        r.session_id.clone(),
        r.session_data.json().get().to_owned(),
    )];
    let (n, etag) =
        key_backup::put_keys(&state.db.pool, sender.user_id.as_str(), &r.version, keys).await?;
    Ok(add_backup_keys_for_session::v3::Response::new(etag, count(n)).into())
}

/// Rows grouped by room, as `/room_keys/keys` answers them.
fn by_room(rows: Vec<BackupKey>) -> Result<BTreeMap<OwnedRoomId, RoomKeyBackup>> {
    let mut rooms: BTreeMap<OwnedRoomId, BTreeMap<String, Raw<_>>> = BTreeMap::new();
    for (room, session, json) in rows {
        let room = OwnedRoomId::try_from(room)
            .map_err(|e| Error::Internal(format!("stored room id: {e}")))?;
        rooms.entry(room).or_default().insert(session, raw(&json)?);
    }
    Ok(rooms
        .into_iter()
        .map(|(room, sessions)| (room, RoomKeyBackup::new(sessions)))
        .collect())
}

/// `GET /_matrix/client/v3/room_keys/keys`
pub async fn get_backup_keys_route(
    State(state): AppStateRef,
    body: Ruma<get_backup_keys::v3::Request>,
) -> RouteResult<get_backup_keys::v3::Response> {
    let sender = body.sender()?;
    let keys = key_backup::get_keys(
        &state.db.pool,
        sender.user_id.as_str(),
        &body.body.version,
        None,
        None,
    )
    .await?;
    Ok(get_backup_keys::v3::Response::new(by_room(keys)?).into())
}

/// `GET /_matrix/client/v3/room_keys/keys/{roomId}`
pub async fn get_backup_keys_for_room_route(
    State(state): AppStateRef,
    body: Ruma<get_backup_keys_for_room::v3::Request>,
) -> RouteResult<get_backup_keys_for_room::v3::Response> {
    let sender = body.sender()?;
    let r = &body.body;
    let keys = key_backup::get_keys(
        &state.db.pool,
        sender.user_id.as_str(),
        &r.version,
        Some(r.room_id.as_str()),
        None,
    )
    .await?;
    let sessions = keys
        .into_iter()
        .map(|(_, s, json)| Ok((s, raw(&json)?)))
        .collect::<Result<_>>()?;
    Ok(get_backup_keys_for_room::v3::Response::new(sessions).into())
}

/// `GET /_matrix/client/v3/room_keys/keys/{roomId}/{sessionId}`
pub async fn get_backup_keys_for_session_route(
    State(state): AppStateRef,
    body: Ruma<get_backup_keys_for_session::v3::Request>,
) -> RouteResult<get_backup_keys_for_session::v3::Response> {
    let sender = body.sender()?;
    let r = &body.body;
    let keys = key_backup::get_keys(
        &state.db.pool,
        sender.user_id.as_str(),
        &r.version,
        Some(r.room_id.as_str()),
        Some(&r.session_id),
    )
    .await?;
    let (_, _, json) = keys
        .into_iter()
        .next()
        .ok_or_else(|| Error::not_found("No room key found for this session"))?;
    Ok(get_backup_keys_for_session::v3::Response::new(raw(&json)?).into())
}

/// `DELETE /_matrix/client/v3/room_keys/keys`
pub async fn delete_backup_keys_route(
    State(state): AppStateRef,
    body: Ruma<delete_backup_keys::v3::Request>,
) -> RouteResult<delete_backup_keys::v3::Response> {
    let sender = body.sender()?;
    let (n, etag) = key_backup::delete_keys(
        &state.db.pool,
        sender.user_id.as_str(),
        &body.body.version,
        None,
        None,
    )
    .await?;
    Ok(delete_backup_keys::v3::Response::new(etag, count(n)).into())
}

/// `DELETE /_matrix/client/v3/room_keys/keys/{roomId}`
pub async fn delete_backup_keys_for_room_route(
    State(state): AppStateRef,
    body: Ruma<delete_backup_keys_for_room::v3::Request>,
) -> RouteResult<delete_backup_keys_for_room::v3::Response> {
    let sender = body.sender()?;
    let r = &body.body;
    let (n, etag) = key_backup::delete_keys(
        &state.db.pool,
        sender.user_id.as_str(),
        &r.version,
        Some(r.room_id.as_str()),
        None,
    )
    .await?;
    Ok(delete_backup_keys_for_room::v3::Response::new(etag, count(n)).into())
}

/// `DELETE /_matrix/client/v3/room_keys/keys/{roomId}/{sessionId}`
pub async fn delete_backup_keys_for_session_route(
    State(state): AppStateRef,
    body: Ruma<delete_backup_keys_for_session::v3::Request>,
) -> RouteResult<delete_backup_keys_for_session::v3::Response> {
    let sender = body.sender()?;
    let r = &body.body;
    let (n, etag) = key_backup::delete_keys(
        &state.db.pool,
        sender.user_id.as_str(),
        &r.version,
        Some(r.room_id.as_str()),
        Some(&r.session_id),
    )
    .await?;
    Ok(delete_backup_keys_for_session::v3::Response::new(etag, count(n)).into())
}
