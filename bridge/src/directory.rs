//! Room aliases and the consortium's room directory: records that every node applies the
//! same way, so `#name:org1` resolves and published rooms are listed on every node.

use consort_chain::Genesis;
use ruma::events::StateEventType;
use ruma::{RoomAliasId, UserId};
use sqlx::AnyConnection;

use crate::records::{RoomAlias, RoomDirectory};
use crate::rejection::{Outcome, Rejection, RejectionKind};
use crate::rooms::{event::rules_for, power, store};
use crate::users;
use crate::validate::{check_actor, no_nul};

/// Validates and applies an alias record at `pos`; the inner `Err` is the rejection.
pub async fn apply_alias(
    conn: &mut AnyConnection,
    genesis: &Genesis,
    org: &str,
    record: &RoomAlias,
    pos: i64,
) -> Result<Outcome, store::StoreError> {
    let room = record.room_id.as_deref().unwrap_or_default();
    if let Err(reason) = no_nul(&[&record.alias, room, &record.user_id]) {
        return Ok(Err(reason));
    }
    let row = users::get_in(conn, &record.user_id).await?;
    if let Err(reason) = check_actor(genesis, org, &record.user_id, row.as_ref()) {
        return Ok(Err(reason));
    }
    let alias = match RoomAliasId::parse(&record.alias) {
        Ok(a) => a,
        Err(e) => {
            return Ok(Err(Rejection::malformed(format!(
                "`{}` is not a room alias: {e}",
                record.alias
            ))));
        }
    };
    let owner = genesis.org(org).map(|o| o.server_name.as_str());
    if Some(alias.server_name().as_str()) != owner {
        return Ok(Err(Rejection::wrong_org(format!(
            "{alias} does not belong to {org}"
        ))));
    }
    let existing = sqlx::query("SELECT room_id FROM bridge_aliases WHERE alias = $1")
        .bind(alias.as_str())
        .fetch_optional(&mut *conn)
        .await?;
    match &record.room_id {
        Some(room_id) => {
            if existing.is_some() {
                return Ok(Err(Rejection::new(
                    RejectionKind::AliasInUse,
                    format!("{alias} is already in use"),
                )));
            }
            if store::get_room(conn, room_id).await?.is_none() {
                return Ok(Err(Rejection::not_found(format!("unknown room {room_id}"))));
            }
            sqlx::query(
                "INSERT INTO bridge_aliases (alias, room_id, creator, pos) VALUES ($1, $2, $3, $4)",
            )
            .bind(alias.as_str())
            .bind(room_id)
            .bind(&record.user_id)
            .bind(pos)
            .execute(&mut *conn)
            .await?;
        }
        None => {
            if existing.is_none() {
                return Ok(Err(Rejection::not_found(format!("{alias} does not exist"))));
            }
            sqlx::query("DELETE FROM bridge_aliases WHERE alias = $1")
                .bind(alias.as_str())
                .execute(&mut *conn)
                .await?;
        }
    }
    Ok(Ok(()))
}

/// Validates and applies a directory record at `pos`: the user must be joined to the room
/// with the power to set its canonical alias (Synapse's rule for publishing a room).
pub async fn apply_directory(
    conn: &mut AnyConnection,
    genesis: &Genesis,
    org: &str,
    record: &RoomDirectory,
    pos: i64,
) -> Result<Outcome, store::StoreError> {
    if let Err(reason) = no_nul(&[&record.room_id, &record.user_id]) {
        return Ok(Err(reason));
    }
    let row = users::get_in(conn, &record.user_id).await?;
    if let Err(reason) = check_actor(genesis, org, &record.user_id, row.as_ref()) {
        return Ok(Err(reason));
    }
    let Some(room) = store::get_room(conn, &record.room_id).await? else {
        return Ok(Err(Rejection::not_found(format!(
            "unknown room {}",
            record.room_id
        ))));
    };
    let membership = store::membership(conn, &record.room_id, &record.user_id).await?;
    if membership.as_deref() != Some("join") {
        return Ok(Err(Rejection::forbidden(format!(
            "{} is not in {}",
            record.user_id, record.room_id
        ))));
    }
    let rules = rules_for(&room.version).map_err(|e| store::StoreError::Corrupt(e.to_string()))?;
    let state = store::power_state(conn, &record.room_id, &rules).await?;
    let user =
        UserId::parse(&record.user_id).map_err(|e| store::StoreError::Corrupt(e.to_string()))?;
    if !power::from_state(&state, &rules)
        .user_can_send_state(&user, StateEventType::RoomCanonicalAlias)
    {
        return Ok(Err(Rejection::forbidden(format!(
            "{} may not change the directory listing of {}",
            record.user_id, record.room_id
        ))));
    }
    if record.public {
        sqlx::query(
            "INSERT INTO bridge_public_rooms (room_id, pos) VALUES ($1, $2) \
             ON CONFLICT (room_id) DO UPDATE SET pos = excluded.pos",
        )
        .bind(&record.room_id)
        .bind(pos)
        .execute(&mut *conn)
        .await?;
    } else {
        sqlx::query("DELETE FROM bridge_public_rooms WHERE room_id = $1")
            .bind(&record.room_id)
            .execute(&mut *conn)
            .await?;
    }
    Ok(Ok(()))
}
