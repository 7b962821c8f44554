//! `POST /rooms/{roomId}/upgrade`, as Synapse does it: a new room of the asked version whose
//! create event names its predecessor, with the old room's name, topic, avatar, join rules,
//! visibility, encryption, ACLs, space children, power levels and bans; then a tombstone in
//! the old room pointing at the new one, the old room's power levels raised so that only
//! moderators speak there, and this organisation's aliases and directory entry moved. Every
//! step is an ordinary ledger record, checked by every node.

use consort_bridge::RoomEvent;
use consort_bridge::rooms::check_room_event;
use consort_bridge::rooms::read::{self, StoredEvent};
use ruma::api::client::room::create_room::v3::{Request as CreateRequest, RoomPreset};
use ruma::api::client::room::upgrade_room::v3::Request;
use ruma::{OwnedRoomId, RoomId, RoomVersionId, UserId};
use serde_json::{Value, json};

use super::create::{Upgrade, create_room_as};
use super::directory;
use super::send::{Draft, build, send, store_error};
use crate::error::{Error, Result};
use crate::state::AppState;

/// State carried into the new room as it is (Synapse's list, plus space children).
const CARRIED: [&str; 9] = [
    "m.room.server_acl",
    "m.room.encryption",
    "m.room.name",
    "m.room.join_rules",
    "m.room.guest_access",
    "m.room.history_visibility",
    "m.room.topic",
    "m.room.avatar",
    "m.room.canonical_alias",
];

/// The most state events and bans an upgrade carries over in its one batch.
const MAX_CARRIED: usize = 200;

fn content(event: &StoredEvent) -> Value {
    serde_json::from_str::<Value>(&event.json)
        .map(|v| v["content"].clone())
        .unwrap_or_else(|_| json!({}))
}

fn raw<T>(value: &Value) -> Result<ruma::serde::Raw<T>> {
    super::client_event::raw(value)
}

/// The tombstone pointing at `replacement`.
fn tombstone(replacement: &RoomId) -> Draft {
    Draft::state(
        "m.room.tombstone",
        "",
        json!({ "body": "This room has been replaced", "replacement_room": replacement }),
    )
}

/// Upgrades `req.room_id` for `user`; returns the new room's id.
pub async fn upgrade(state: &AppState, user: &UserId, req: &Request) -> Result<OwnedRoomId> {
    let chain = state.chain()?;
    let pool = chain.pool();
    let old = &req.room_id;
    // May the user tombstone the old room? The auth rules answer, before anything is made.
    let probe = build(state, user, old, tombstone(old)).await?;
    let mut conn = pool.acquire().await?;
    let checked = check_room_event(
        &mut conn,
        chain.genesis(),
        chain.org(),
        &RoomEvent {
            pdu: probe.json.clone(),
        },
    )
    .await
    .map_err(store_error)?;
    drop(conn);
    if let Err(reason) = checked {
        return Err(Error::rejected(reason));
    }

    let now = i64::MAX;
    let current = read::state_at(pool, old.as_str(), now)
        .await
        .map_err(store_error)?;
    let find = |kind: &str| {
        current
            .iter()
            .find(|e| e.kind == kind && e.state_key.as_deref() == Some(""))
    };
    let mut initial = Vec::new();
    let mut bans = Vec::new();
    for e in &current {
        let key = e.state_key.as_deref().unwrap_or_default();
        if (CARRIED.contains(&e.kind.as_str()) && key.is_empty()) || e.kind == "m.space.child" {
            initial.push(raw(
                &json!({ "type": e.kind, "state_key": key, "content": content(e) }),
            )?);
        } else if e.kind == "m.room.member" && e.membership.as_deref() == Some("ban") {
            bans.push(key.to_owned());
        }
    }
    if initial.len() + bans.len() > MAX_CARRIED {
        return Err(Error::invalid_param(format!(
            "The room has more than {MAX_CARRIED} state events and bans to carry over"
        )));
    }

    let mut creation = json!({
        "predecessor": { "room_id": old },
    });
    if let Some(kind) = find("m.room.create")
        .map(content)
        .and_then(|c| c.get("type").cloned())
    {
        creation["type"] = kind;
    }
    if req.new_version == RoomVersionId::V12 && !req.additional_creators.is_empty() {
        creation["additional_creators"] = json!(req.additional_creators);
    }
    let (first, restore) = power_levels(
        find("m.room.power_levels").map(content),
        user,
        &req.new_version,
        &req.additional_creators,
    );
    let public_rule = find("m.room.join_rules")
        .map(content)
        .is_some_and(|c| c["join_rule"] == "public");
    let mut create = CreateRequest::new();
    create.room_version = Some(req.new_version.clone());
    create.creation_content = Some(raw(&creation)?);
    create.initial_state = initial;
    create.power_level_content_override = first.as_ref().map(raw).transpose()?;
    create.preset = Some(if public_rule {
        RoomPreset::PublicChat
    } else {
        RoomPreset::PrivateChat
    });
    let extras = Upgrade {
        bans,
        restore_power_levels: restore,
    };
    let new = create_room_as(state, user, &create, Some(&extras)).await?;

    send(state, user, old, tombstone(&new)).await?;
    restrict_old_room(state, user, old, find("m.room.power_levels").map(content)).await;
    move_aliases(state, user, old, &new).await?;
    if read::is_public(pool, old.as_str())
        .await
        .map_err(store_error)?
    {
        directory::set_visibility(state, user, old, false).await?;
        directory::set_visibility(state, user, &new, true).await?;
    }
    Ok(new)
}

/// The power levels the new room starts with, and those to restore at the end when the
/// upgrading user had to be raised to 100 to set the new room up. From v12 creators are not
/// listed (their power is implicit); before it the old room's creators' implicit power is
/// lost, so the upgrading user is listed.
fn power_levels(
    old: Option<Value>,
    user: &UserId,
    version: &RoomVersionId,
    additional_creators: &[ruma::OwnedUserId],
) -> (Option<Value>, Option<Value>) {
    let Some(mut levels) = old else {
        return (None, None);
    };
    if !levels["users"].is_object() {
        levels["users"] = json!({});
    }
    let users = levels["users"]
        .as_object_mut()
        .expect("just made an object");
    if *version == RoomVersionId::V12 {
        users.remove(user.as_str());
        for creator in additional_creators {
            users.remove(creator.as_str());
        }
        return (Some(levels), None);
    }
    let own = users
        .get(user.as_str())
        .and_then(Value::as_i64)
        .unwrap_or(0);
    if own >= 100 {
        return (Some(levels), None);
    }
    let restore = levels.clone();
    levels["users"][user.as_str()] = json!(100);
    (Some(levels), Some(restore))
}

/// Raises the old room's `events_default` and `invite` to at least 50 (and above
/// `users_default`), so only moderators speak in or invite to a room that was replaced; as
/// in Synapse, a refusal here does not undo the upgrade.
async fn restrict_old_room(state: &AppState, user: &UserId, old: &RoomId, levels: Option<Value>) {
    let mut levels = levels.unwrap_or_else(|| json!({}));
    let users_default = levels["users_default"].as_i64().unwrap_or(0);
    let floor = 50.max(users_default + 1);
    let mut changed = false;
    for key in ["events_default", "invite"] {
        if levels[key].as_i64().unwrap_or(0) < floor {
            levels[key] = json!(floor);
            changed = true;
        }
    }
    if changed
        && let Err(e) = send(
            state,
            user,
            old,
            Draft::state("m.room.power_levels", "", levels),
        )
        .await
    {
        tracing::warn!(room = %old, error = %e, "could not restrict the upgraded room");
    }
}

/// Points this organisation's aliases of the old room at the new one.
async fn move_aliases(state: &AppState, user: &UserId, old: &RoomId, new: &RoomId) -> Result<()> {
    let pool = state.chain()?.pool();
    let ours = format!(":{}", state.server_name);
    for alias in read::aliases_of(pool, old.as_str())
        .await
        .map_err(store_error)?
    {
        if !alias.ends_with(&ours) {
            continue;
        }
        directory::set_alias(state, user, &alias, None).await?;
        directory::set_alias(state, user, &alias, Some(new)).await?;
    }
    Ok(())
}
