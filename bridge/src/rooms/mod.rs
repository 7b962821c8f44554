//! Rooms on the ledger: Matrix PDUs in `RoomEvent` records, checked by every node with the
//! Matrix auth rules against the projection's current room state, then applied to it.

pub mod auth;
pub mod event;
pub mod power;
pub mod read;
pub mod store;

use std::collections::BTreeMap;

use consort_chain::Genesis;
use ruma::RoomVersionId;
use ruma::events::{StateEventType, TimelineEventType};
use ruma::room_version_rules::RoomVersionRules;
use sqlx::{AnyConnection, Connection};

use crate::position::{MAX_BATCH_EVENTS, position_of};
use crate::records::RoomEvent;
use crate::users;
use event::Pdu;
use store::StoreError;

/// The genesis setting that makes every node refuse a plaintext `m.room.message` in an
/// encrypted room (`allow`, the default, or `refuse`).
pub const PLAINTEXT_POLICY: &str = "plaintext_in_encrypted_rooms";

/// Whether the consortium refuses plaintext messages in encrypted rooms.
pub fn refuses_plaintext(genesis: &Genesis) -> bool {
    genesis.app.get(PLAINTEXT_POLICY).map(String::as_str) == Some("refuse")
}

/// A room event that passed every check and may be applied.
#[derive(Debug)]
pub struct Checked {
    /// The parsed event.
    pub pdu: Pdu,
    /// Its room's version.
    pub version: RoomVersionId,
    /// That version's rules.
    pub rules: RoomVersionRules,
    /// For a redaction: the event it redacts.
    pub redacts: Option<Pdu>,
}

/// Checks `record` submitted by `org` against the projection without changing it. The inner
/// `Err` is the rejection reason. The homeserver calls this before submitting (to answer its
/// client at once); every node calls it again in block order, which is what counts.
pub async fn check_room_event(
    conn: &mut AnyConnection,
    genesis: &Genesis,
    org: &str,
    record: &RoomEvent,
) -> Result<Result<Checked, String>, StoreError> {
    let peek = match auth::peek(&record.pdu) {
        Ok(p) => p,
        Err(reason) => return Ok(Err(reason)),
    };
    let room = match &peek.room_id {
        Some(id) => store::get_room(conn, id.as_str()).await?,
        None => None,
    };
    let (pdu, object, rules) = match auth::parse(&peek, room.as_ref().map(|r| &r.version)) {
        Ok(p) => p,
        Err(reason) => return Ok(Err(reason)),
    };
    let sender = users::get_in(conn, pdu.sender.as_str()).await?;
    let duplicate = store::event_exists(conn, pdu.event_id.as_str()).await?;
    let keys = match auth::state_keys_needed(&pdu, &rules) {
        Ok(k) => k,
        Err(reason) => return Ok(Err(reason)),
    };
    let state = store::get_states(conn, pdu.room.as_str(), &keys, &rules).await?;
    // Cited events: usually the current state just loaded (auth events) and the room's
    // latest event (prev event); only the others are read.
    let mut events = BTreeMap::new();
    for id in pdu.prev_event_ids().iter().chain(pdu.auth_event_ids()) {
        if events.contains_key(id) {
            continue;
        }
        let known = state.values().find(|e| e.event_id == *id).cloned();
        let found = match known {
            Some(e) => Some(e),
            None => store::get_event(conn, pdu.room.as_str(), id.as_str(), &rules).await?,
        };
        if let Some(e) = found {
            events.insert(id.clone(), e);
        }
    }
    let cx = auth::Context {
        genesis,
        org,
        sender: sender.as_ref(),
        duplicate,
        events: &events,
        state: &state,
    };
    if let Err(reason) = auth::check(&pdu, &object, &rules, &cx) {
        return Ok(Err(reason));
    }
    if pdu.kind == TimelineEventType::RoomMessage && refuses_plaintext(genesis) {
        let encryption = store::get_states(
            conn,
            pdu.room.as_str(),
            &[(StateEventType::RoomEncryption, String::new())],
            &rules,
        )
        .await?;
        if !encryption.is_empty() {
            return Ok(Err(
                "the consortium refuses plaintext messages in encrypted rooms".into(),
            ));
        }
    }
    let version = match (&peek.create_version, room) {
        (Some(v), _) => v.clone(),
        (None, Some(r)) => r.version,
        (None, None) => return Ok(Err("unknown room".into())),
    };
    let redacts = if pdu.kind == TimelineEventType::RoomRedaction {
        match redaction_target(conn, &pdu, &state, &rules).await? {
            Ok(target) => Some(target),
            Err(reason) => return Ok(Err(reason)),
        }
    } else {
        None
    };
    Ok(Ok(Checked {
        pdu,
        version,
        rules,
        redacts,
    }))
}

/// The event a redaction removes, if the sender may redact it: their own event, or anyone's
/// with the room's `redact` power. Since room v3 this is the server's check, not the auth
/// rules'; on the ledger it is deterministic, so a redaction that may not apply is rejected.
async fn redaction_target(
    conn: &mut AnyConnection,
    pdu: &Pdu,
    state: &BTreeMap<(StateEventType, String), Pdu>,
    rules: &RoomVersionRules,
) -> Result<Result<Pdu, String>, StoreError> {
    let Some(target_id) = pdu.redacted_event_id() else {
        return Ok(Err(
            "the redaction does not name the event it redacts".into()
        ));
    };
    let Some(target) = store::get_event(conn, pdu.room.as_str(), target_id.as_str(), rules).await?
    else {
        return Ok(Err(format!("{target_id} is not an event of this room")));
    };
    if target.sender != pdu.sender {
        let levels = power::from_state(state, rules);
        if !levels.user_can_redact_event_of_other(&pdu.sender) {
            return Ok(Err(format!(
                "{} may not redact events of other users",
                pdu.sender
            )));
        }
    }
    Ok(Ok(target))
}

/// Validates `record` submitted by `org` against the projection and, if accepted, applies
/// it as event `sub` of the transaction at (height, idx). The inner `Err` is a rejection:
/// nothing changed.
pub async fn apply_room_event(
    conn: &mut AnyConnection,
    genesis: &Genesis,
    org: &str,
    record: &RoomEvent,
    (height, idx, sub): (u64, u32, u32),
) -> Result<Result<(), String>, StoreError> {
    let checked = match check_room_event(conn, genesis, org, record).await? {
        Ok(c) => c,
        Err(reason) => return Ok(Err(reason)),
    };
    let pos = position_of(height, idx, sub);
    store::insert_event(conn, &checked.pdu, &checked.version, (height, idx), pos).await?;
    if let Some(target) = &checked.redacts {
        store::redact_event(conn, target, checked.pdu.event_id.as_str(), &checked.rules).await?;
    }
    Ok(Ok(()))
}

/// Applies the events of one batch record in order, all or none: the first rejection rolls
/// the batch back and is the batch's rejection. A new room's first events travel this way,
/// so a room is never left half-created.
pub async fn apply_batch(
    conn: &mut AnyConnection,
    genesis: &Genesis,
    org: &str,
    events: &[RoomEvent],
    (height, idx): (u64, u32),
) -> Result<Result<(), String>, StoreError> {
    if events.is_empty() || events.len() > MAX_BATCH_EVENTS {
        return Ok(Err(format!(
            "a batch holds 1 to {MAX_BATCH_EVENTS} events, not {}",
            events.len()
        )));
    }
    let mut savepoint = conn.begin().await?;
    for (sub, event) in events.iter().enumerate() {
        let at = (height, idx, sub as u32);
        if let Err(reason) = apply_room_event(&mut savepoint, genesis, org, event, at).await? {
            savepoint.rollback().await?;
            return Ok(Err(format!("event {sub} of the batch: {reason}")));
        }
    }
    savepoint.commit().await?;
    Ok(Ok(()))
}

/// Checks a batch the way every node will, by applying it in a transaction that is then
/// rolled back: later events of a batch can only be checked against the earlier ones applied.
pub async fn check_batch(
    pool: &sqlx::AnyPool,
    genesis: &Genesis,
    org: &str,
    events: &[RoomEvent],
) -> Result<Result<(), String>, StoreError> {
    let mut tx = consort_chain::store::begin_write(pool).await?;
    let outcome = apply_batch(&mut tx, genesis, org, events, (0, 0)).await?;
    tx.rollback().await?;
    Ok(outcome)
}
