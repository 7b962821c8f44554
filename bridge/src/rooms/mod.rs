//! Rooms on the ledger: Matrix PDUs in `RoomEvent` records, checked by every node with the
//! Matrix auth rules against the projection's current room state, then applied to it.

pub mod auth;
pub mod event;
pub mod power;
pub mod read;
pub mod store;

use crate::effect::Effect;
use std::collections::BTreeMap;

use consort_chain::Genesis;
use ruma::RoomVersionId;
use ruma::events::{StateEventType, TimelineEventType};
use ruma::room_version_rules::RoomVersionRules;
use sqlx::{AnyConnection, Connection};

use crate::contacts::policy::{self, InviteEffect};
use crate::contacts::read::{ContactState, state_in as contact_state};
use crate::contacts::{self, At, Transition};
use crate::position::{MAX_BATCH_EVENTS, position_of};
use crate::records::RoomEvent;
use crate::rejection::{Outcome, Rejection, RejectionKind};
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
    /// What a membership event does to a contact relationship (a direct-chat invite is a
    /// contact request; joining it binds, rejecting it declines).
    pub contact: Option<ContactChange>,
}

/// A change of a contact relationship caused by a room membership event.
#[derive(Debug, Clone)]
pub struct ContactChange {
    /// Who acts (the event's sender).
    pub actor: String,
    /// Towards whom.
    pub other: String,
    /// The pair's state afterwards.
    pub next: Transition,
    /// The log's name for the step.
    pub action: &'static str,
}

/// The contact side of a membership event: refused when the invitee's organisation's policy
/// forbids the invite, else the change it makes, if any.
async fn contact_change(
    conn: &mut AnyConnection,
    genesis: &Genesis,
    pdu: &Pdu,
    state: &BTreeMap<(StateEventType, String), Pdu>,
) -> Result<Result<Option<ContactChange>, Rejection>, StoreError> {
    if pdu.kind != TimelineEventType::RoomMember {
        return Ok(Ok(None));
    }
    let Some(target) = pdu.state_key.as_deref() else {
        return Ok(Ok(None));
    };
    let content: serde_json::Value = serde_json::from_str(pdu.content().get()).unwrap_or_default();
    let sender = pdu.sender.as_str();
    let change = |actor: &str, other: &str, next, action| ContactChange {
        actor: actor.to_owned(),
        other: other.to_owned(),
        next,
        action,
    };
    match content["membership"].as_str() {
        Some("invite") => {
            // Inviting a user who knocked answers their own request to enter: the contacts
            // policy, which guards users from invites they did not ask for, does not apply.
            let knocked = state
                .get(&(StateEventType::RoomMember, target.to_owned()))
                .and_then(|prior| {
                    serde_json::from_str::<serde_json::Value>(prior.content().get()).ok()
                })
                .is_some_and(|c| c["membership"] == "knock");
            if knocked {
                return Ok(Ok(None));
            }
            let is_direct = content["is_direct"] == serde_json::Value::Bool(true);
            Ok(
                match policy::check_invite(conn, genesis, sender, target, is_direct).await? {
                    Err(reason) => Err(reason),
                    Ok(InviteEffect::None) => Ok(None),
                    Ok(InviteEffect::Request) => Ok(Some(change(
                        sender,
                        target,
                        Transition::Requested,
                        "direct_invite",
                    ))),
                    Ok(InviteEffect::Bind) => Ok(Some(change(
                        sender,
                        target,
                        Transition::Bound,
                        "direct_invite",
                    ))),
                },
            )
        }
        Some(membership @ ("join" | "leave")) if target == sender => {
            // The invitee answering a direct-chat invite that is a pending contact request.
            let Some(prior) = state.get(&(StateEventType::RoomMember, target.to_owned())) else {
                return Ok(Ok(None));
            };
            let prior_content: serde_json::Value =
                serde_json::from_str(prior.content().get()).unwrap_or_default();
            if prior_content["membership"] != "invite"
                || prior_content["is_direct"] != serde_json::Value::Bool(true)
            {
                return Ok(Ok(None));
            }
            let inviter = prior.sender.as_str();
            if contact_state(conn, target, inviter).await? != Some(ContactState::Incoming) {
                return Ok(Ok(None));
            }
            Ok(Ok(Some(if membership == "join" {
                change(target, inviter, Transition::Bound, "join")
            } else {
                change(target, inviter, Transition::Removed, "reject")
            })))
        }
        _ => Ok(Ok(None)),
    }
}

/// Checks `record` submitted by `org` against the projection without changing it. The inner
/// `Err` is the rejection reason. The homeserver calls this before submitting (to answer its
/// client at once); every node calls it again in block order, which is what counts.
pub async fn check_room_event(
    conn: &mut AnyConnection,
    genesis: &Genesis,
    org: &str,
    record: &RoomEvent,
) -> Result<Result<Checked, Rejection>, StoreError> {
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
    let contact = match contact_change(conn, genesis, &pdu, &state).await? {
        Ok(c) => c,
        Err(reason) => return Ok(Err(reason)),
    };
    if pdu.kind == TimelineEventType::RoomMessage && refuses_plaintext(genesis) {
        let encryption = store::get_states(
            conn,
            pdu.room.as_str(),
            &[(StateEventType::RoomEncryption, String::new())],
            &rules,
        )
        .await?;
        if !encryption.is_empty() {
            return Ok(Err(Rejection::forbidden(
                "the consortium refuses plaintext messages in encrypted rooms",
            )));
        }
    }
    let version = match (&peek.create_version, room) {
        (Some(v), _) => v.clone(),
        (None, Some(r)) => r.version,
        (None, None) => return Ok(Err(Rejection::not_found("unknown room"))),
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
        contact,
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
) -> Result<Result<Pdu, Rejection>, StoreError> {
    let Some(target_id) = pdu.redacted_event_id() else {
        return Ok(Err(Rejection::malformed(
            "the redaction does not name the event it redacts",
        )));
    };
    let Some(target) = store::get_event(conn, pdu.room.as_str(), target_id.as_str(), rules).await?
    else {
        return Ok(Err(Rejection::not_found(format!(
            "{target_id} is not an event of this room"
        ))));
    };
    if target.sender != pdu.sender {
        let levels = power::from_state(state, rules);
        if !levels.user_can_redact_event_of_other(&pdu.sender) {
            return Ok(Err(Rejection::forbidden(format!(
                "{} may not redact events of other users",
                pdu.sender
            ))));
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
    time_ms: u64,
    effect: &mut Effect,
) -> Result<Outcome, StoreError> {
    let checked = match check_room_event(conn, genesis, org, record).await? {
        Ok(c) => c,
        Err(reason) => return Ok(Err(reason)),
    };
    let pos = position_of(height, idx, sub);
    store::insert_event(conn, &checked.pdu, &checked.version, (height, idx), pos).await?;
    // The event, its room, and the state slot it now holds.
    effect.field(checked.pdu.event_id.as_bytes());
    effect.field(checked.pdu.room.as_bytes());
    effect.optional(
        checked
            .pdu
            .state_key
            .as_ref()
            .map(|k| [checked.pdu.kind.to_string().as_bytes(), b"\0", k.as_bytes()].concat())
            .as_deref(),
    );
    effect.optional(checked.redacts.as_ref().map(|r| r.event_id.as_bytes()));
    if let Some(target) = &checked.redacts {
        store::redact_event(conn, target, checked.pdu.event_id.as_str(), &checked.rules).await?;
    }
    if let Some(c) = &checked.contact {
        let at = At {
            height,
            time_ms,
            pos,
        };
        contacts::record_step(conn, (&c.actor, &c.other), c.next, c.action, org, at).await?;
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
    time_ms: u64,
    effect: &mut Effect,
) -> Result<Outcome, StoreError> {
    if events.is_empty() || events.len() > MAX_BATCH_EVENTS {
        return Ok(Err(Rejection::new(
            RejectionKind::LimitExceeded,
            format!(
                "a batch holds 1 to {MAX_BATCH_EVENTS} events, not {}",
                events.len()
            ),
        )));
    }
    let mut savepoint = conn.begin().await?;
    for (sub, event) in events.iter().enumerate() {
        let at = (height, idx, sub as u32);
        if let Err(reason) =
            apply_room_event(&mut savepoint, genesis, org, event, at, time_ms, effect).await?
        {
            savepoint.rollback().await?;
            effect.clear();
            return Ok(Err(reason.context(format!("event {sub} of the batch"))));
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
) -> Result<Outcome, StoreError> {
    let mut tx = consort_chain::store::begin_write(pool).await?;
    let outcome = apply_batch(
        &mut tx,
        genesis,
        org,
        events,
        (0, 0),
        0,
        &mut Effect::default(),
    )
    .await?;
    tx.rollback().await?;
    Ok(outcome)
}
