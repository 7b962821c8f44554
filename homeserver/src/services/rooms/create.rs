//! `POST /createRoom`: the new room's first events (create, the creator's join, power levels,
//! preset state, initial state, name, topic, invites) are built and signed here in order and
//! committed as one batch record, so a room is created whole or not at all.

use consort_bridge::rooms::check_batch;
use consort_bridge::rooms::event::{NewEvent, RoomState, SUPPORTED_VERSIONS};
use consort_bridge::{Record, RoomEvent};
use ruma::api::client::room::Visibility;
use ruma::api::client::room::create_room::v3::{Request, RoomPreset};
use ruma::api::error::ErrorKind;
use ruma::{OwnedRoomId, RoomId, RoomVersionId, UserId};
use serde_json::{Map, Value, json};

use super::directory;
use super::send::{sign, store_error, submit_record};
use crate::config::EncryptionDefault;
use crate::error::{Error, Result};
use crate::services::{credentials, event_ts_ms};
use crate::state::AppState;

/// The most initial state events and invites one request may carry (a batch record's limit,
/// less the events the server adds).
const MAX_INITIAL_EVENTS: usize = 200;

/// A state event as the request gives it.
struct StateDraft {
    kind: String,
    state_key: String,
    content: Value,
}

fn entry(kind: &str, state_key: &str, content: Value) -> StateDraft {
    StateDraft {
        kind: kind.to_owned(),
        state_key: state_key.to_owned(),
        content,
    }
}

/// The room version asked for, or the configured default; unsupported versions are refused
/// with `M_UNSUPPORTED_ROOM_VERSION`.
fn version(state: &AppState, asked: Option<&RoomVersionId>) -> Result<RoomVersionId> {
    let version = match asked {
        Some(v) => v.clone(),
        None => RoomVersionId::try_from(state.config.default_room_version.as_str())
            .map_err(|e| Error::Internal(format!("default_room_version: {e}")))?,
    };
    if !SUPPORTED_VERSIONS.contains(&version) {
        return Err(Error::new(
            http::StatusCode::BAD_REQUEST,
            ErrorKind::UnsupportedRoomVersion,
            format!(
                "Your homeserver does not support the features required to join this room (version {version})"
            ),
        ));
    }
    Ok(version)
}

fn json_object(raw: &serde_json::value::RawValue, what: &str) -> Result<Map<String, Value>> {
    match serde_json::from_str(raw.get()) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(Error::bad_json(format!("{what} must be a JSON object"))),
    }
}

/// The power levels Synapse gives a new room, with the creator (not from v12, where creators
/// are implicit) and, for `trusted_private_chat`, the invitees at 100.
fn power_levels(
    creator: &UserId,
    version: &RoomVersionId,
    preset: &RoomPreset,
    invites: &[ruma::OwnedUserId],
) -> Value {
    let mut users = Map::new();
    if *version != RoomVersionId::V12 {
        users.insert(creator.to_string(), json!(100));
    }
    if *preset == RoomPreset::TrustedPrivateChat {
        for user in invites {
            users.insert(user.to_string(), json!(100));
        }
    }
    json!({
        "users": users,
        "users_default": 0,
        "events": {
            "m.room.name": 50,
            "m.room.power_levels": 100,
            "m.room.history_visibility": 100,
            "m.room.canonical_alias": 50,
            "m.room.avatar": 50,
            "m.room.tombstone": 100,
            "m.room.server_acl": 100,
            "m.room.encryption": 100,
        },
        "events_default": 0,
        "state_default": 50,
        "ban": 50,
        "kick": 50,
        "redact": 50,
        "invite": 0,
    })
}

/// What an upgrade adds to a plain `createRoom`: the old room's bans, and the power levels to
/// restore last when the upgrading user had to be raised to set up the new room. An upgrade
/// also never adds the configured default encryption: the new room is as encrypted as the old.
#[derive(Debug, Default)]
pub struct Upgrade {
    /// Users banned from the old room, banned from the new one too.
    pub bans: Vec<String>,
    /// The old room's power levels, when the first power levels event had to differ.
    pub restore_power_levels: Option<Value>,
}

/// Everything after the create event and the creator's join, in Synapse's order.
fn state_plan(
    state: &AppState,
    req: &Request,
    creator: &UserId,
    (version, upgrade): (&RoomVersionId, bool),
    alias: Option<&str>,
) -> Result<Vec<StateDraft>> {
    let preset = req.preset.clone().unwrap_or(match req.visibility {
        Visibility::Public => RoomPreset::PublicChat,
        _ => RoomPreset::PrivateChat,
    });
    let mut initial = Vec::new();
    for raw in &req.initial_state {
        #[derive(serde::Deserialize)]
        struct Initial {
            #[serde(rename = "type")]
            kind: String,
            #[serde(default)]
            state_key: String,
            content: Box<serde_json::value::RawValue>,
        }
        let e: Initial = serde_json::from_str(raw.json().get())
            .map_err(|e| Error::bad_json(format!("initial_state: {e}")))?;
        let content = json_object(&e.content, "initial_state content")?;
        initial.push(entry(&e.kind, &e.state_key, Value::Object(content)));
    }
    let overridden = |kind: &str| {
        initial
            .iter()
            .any(|e| e.kind == kind && e.state_key.is_empty())
    };
    let mut plan = Vec::new();
    let mut levels = power_levels(creator, version, &preset, &req.invite);
    if let Some(raw) = &req.power_level_content_override {
        for (k, v) in json_object(raw.json(), "power_level_content_override")? {
            levels[k] = v;
        }
    }
    if !overridden("m.room.power_levels") {
        plan.push(entry("m.room.power_levels", "", levels));
    }
    if let Some(alias) = alias {
        plan.push(entry(
            "m.room.canonical_alias",
            "",
            json!({ "alias": alias }),
        ));
    }
    let (join_rule, guests) = match preset {
        RoomPreset::PublicChat => ("public", "forbidden"),
        _ => ("invite", "can_join"),
    };
    if !overridden("m.room.join_rules") {
        plan.push(entry(
            "m.room.join_rules",
            "",
            json!({ "join_rule": join_rule }),
        ));
    }
    if !overridden("m.room.history_visibility") {
        plan.push(entry(
            "m.room.history_visibility",
            "",
            json!({ "history_visibility": "shared" }),
        ));
    }
    if !overridden("m.room.guest_access") {
        plan.push(entry(
            "m.room.guest_access",
            "",
            json!({ "guest_access": guests }),
        ));
    }
    let encrypt = match state.config.encryption_default {
        EncryptionDefault::All => true,
        EncryptionDefault::Invite => {
            req.is_direct
                || matches!(
                    preset,
                    RoomPreset::PrivateChat | RoomPreset::TrustedPrivateChat
                )
        }
        EncryptionDefault::Off => false,
    } && !upgrade
        && !overridden("m.room.encryption");
    plan.extend(initial);
    if encrypt {
        plan.push(entry(
            "m.room.encryption",
            "",
            json!({ "algorithm": "m.megolm.v1.aes-sha2" }),
        ));
    }
    if let Some(name) = &req.name {
        plan.push(entry("m.room.name", "", json!({ "name": name })));
    }
    if let Some(topic) = &req.topic {
        plan.push(entry("m.room.topic", "", json!({ "topic": topic })));
    }
    Ok(plan)
}

/// The alias `#name:server` asked for with `room_alias_name`, checked and not yet taken.
async fn requested_alias(state: &AppState, req: &Request) -> Result<Option<String>> {
    let Some(name) = &req.room_alias_name else {
        return Ok(None);
    };
    if name.is_empty() || name.contains(':') || name.chars().any(char::is_whitespace) {
        return Err(Error::invalid_param("Invalid characters in room alias"));
    }
    let alias = format!("#{name}:{}", state.server_name);
    ruma::RoomAliasId::parse(&alias)
        .map_err(|e| Error::invalid_param(format!("Invalid room alias: {e}")))?;
    if directory::resolve(state, &alias).await?.is_some() {
        return Err(Error::new(
            http::StatusCode::BAD_REQUEST,
            ErrorKind::RoomInUse,
            "Room alias already taken",
        ));
    }
    Ok(Some(alias))
}

/// Creates a room for `creator`; returns its id once its first events are applied.
pub async fn create_room(state: &AppState, creator: &UserId, req: &Request) -> Result<OwnedRoomId> {
    create_room_as(state, creator, req, None).await
}

/// Creates a room, the upgrade of another one when `upgrade` is given.
pub async fn create_room_as(
    state: &AppState,
    creator: &UserId,
    req: &Request,
    upgrade: Option<&Upgrade>,
) -> Result<OwnedRoomId> {
    let chain = state.chain()?;
    let version = version(state, req.room_version.as_ref())?;
    if req.initial_state.len() + req.invite.len() > MAX_INITIAL_EVENTS {
        return Err(Error::invalid_param(format!(
            "At most {MAX_INITIAL_EVENTS} initial state events and invites"
        )));
    }
    for user in &req.invite {
        let known = consort_bridge::users::get(chain.pool(), user.as_str())
            .await?
            .is_some_and(|u| !u.deactivated);
        if !known {
            return Err(Error::not_found(format!("Unknown user {user}")));
        }
    }
    let alias = requested_alias(state, req).await?;

    let mut create = match &req.creation_content {
        Some(raw) => json_object(raw.json(), "creation_content")?,
        None => Map::new(),
    };
    create.insert("room_version".into(), json!(version.as_str()));
    if version == RoomVersionId::V10 {
        create.insert("creator".into(), json!(creator));
    } else {
        create.remove("creator");
    }
    let room_id = (version != RoomVersionId::V12)
        .then(|| {
            RoomId::parse(format!(
                "!{}:{}",
                credentials::random_urlsafe(18),
                state.server_name
            ))
        })
        .transpose()
        .map_err(|e| Error::Internal(format!("room id: {e}")))?;

    let mut room = RoomState::new_room(room_id, version.clone());
    let mut pdus = Vec::new();
    let mut push = |room: &mut RoomState, kind: &str, key: Option<&str>, content: Value| {
        let pdu = sign(
            state,
            room,
            NewEvent {
                sender: creator.to_owned(),
                kind: kind.into(),
                state_key: key.map(str::to_owned),
                content,
                origin_server_ts: event_ts_ms(),
            },
        )?;
        room.push(pdu.clone());
        pdus.push(pdu);
        Ok::<_, Error>(())
    };
    push(&mut room, "m.room.create", Some(""), Value::Object(create))?;
    let mut join = json!({ "membership": "join" });
    if let Some(user) = consort_bridge::users::get(chain.pool(), creator.as_str()).await?
        && let Some(name) = user.displayname
    {
        join["displayname"] = json!(name);
    }
    push(&mut room, "m.room.member", Some(creator.as_str()), join)?;
    for e in state_plan(
        state,
        req,
        creator,
        (&version, upgrade.is_some()),
        alias.as_deref(),
    )? {
        push(&mut room, &e.kind, Some(&e.state_key), e.content)?;
    }
    if let Some(upgrade) = upgrade {
        for user in &upgrade.bans {
            push(
                &mut room,
                "m.room.member",
                Some(user),
                json!({ "membership": "ban" }),
            )?;
        }
        if let Some(levels) = &upgrade.restore_power_levels {
            push(&mut room, "m.room.power_levels", Some(""), levels.clone())?;
        }
    }
    for user in &req.invite {
        let mut content = json!({ "membership": "invite" });
        if req.is_direct {
            content["is_direct"] = json!(true);
        }
        push(&mut room, "m.room.member", Some(user.as_str()), content)?;
    }
    let room_id = pdus[0].room.clone();

    let batch: Vec<RoomEvent> = pdus
        .iter()
        .map(|p| RoomEvent {
            pdu: p.json.clone(),
        })
        .collect();
    if let Err(reason) = check_batch(chain.pool(), chain.genesis(), chain.org(), &batch)
        .await
        .map_err(store_error)?
    {
        return Err(Error::rejected(reason));
    }
    submit_record(state, &Record::RoomEventBatch(batch)).await?;
    if let Some(alias) = alias {
        directory::set_alias(state, creator, &alias, Some(&room_id)).await?;
    }
    if req.visibility == Visibility::Public {
        directory::set_visibility(state, creator, &room_id, true).await?;
    }
    Ok(room_id)
}
