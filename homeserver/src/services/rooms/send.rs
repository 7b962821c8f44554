//! Sending room events: build the PDU against the room's current state, sign it with the
//! organisation's key, check it the way every node will, submit it and answer once it is
//! committed and applied (docs/architecture.md, "The life of a write") — so an acknowledged
//! event is never lost.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use consort_bridge::rooms::event::{NewEvent, Pdu, PduError, RoomState, build_pdu, rules_for};
use consort_bridge::rooms::{check_room_event, store};
use consort_bridge::{Record, RoomEvent};
use ruma::events::TimelineEventType;
use ruma::{OwnedEventId, RoomId, RoomVersionId, UserId};
use serde_json::Value;

use super::refused;
use crate::error::{Error, Result};
use crate::services::auth::Sender;
use crate::services::event_ts_ms;
use crate::services::registration_ledger::LedgerError;
use crate::state::AppState;
use crate::storage::send_txns;

/// A client transaction: (user, device, txn id).
type TxnKey = (String, String, String);

/// One lock per `(user, device, txn id)` in flight, so a retry waits for the first attempt
/// and then answers its event instead of sending a second one.
#[derive(Debug, Default)]
pub struct TxnLocks {
    locks: Mutex<HashMap<TxnKey, Arc<tokio::sync::Mutex<()>>>>,
}

impl TxnLocks {
    pub(crate) fn lock_for(&self, key: &TxnKey) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.locks.lock().expect("txn locks");
        locks.entry(key.clone()).or_default().clone()
    }

    pub(crate) fn release(&self, key: &TxnKey) {
        let mut locks = self.locks.lock().expect("txn locks");
        if locks.get(key).is_some_and(|l| Arc::strong_count(l) == 1) {
            locks.remove(key);
        }
    }
}

/// A new event as the client asked for it.
#[derive(Debug, Clone)]
pub struct Draft {
    /// Event type.
    pub kind: TimelineEventType,
    /// State key, for state events.
    pub state_key: Option<String>,
    /// Content (a JSON object).
    pub content: Value,
}

impl Draft {
    /// A state event.
    pub fn state(kind: &str, state_key: &str, content: Value) -> Self {
        Self {
            kind: kind.into(),
            state_key: Some(state_key.to_owned()),
            content,
        }
    }

    fn into_new(self, sender: &UserId) -> NewEvent {
        NewEvent {
            sender: sender.to_owned(),
            kind: self.kind,
            state_key: self.state_key,
            content: self.content,
            origin_server_ts: event_ts_ms(),
        }
    }
}

/// The room's version (for building), or `M_NOT_FOUND`-style refusal for an unknown room.
async fn room_version(state: &AppState, room_id: &RoomId) -> Result<RoomVersionId> {
    let chain = state.chain()?;
    let mut conn = chain.pool().acquire().await?;
    store::get_room(&mut conn, room_id.as_str())
        .await
        .map_err(store_error)?
        .map(|r| r.version)
        .ok_or_else(|| refused("unknown room"))
}

/// Maps a projection read failure to an internal error.
pub fn store_error(err: store::StoreError) -> Error {
    Error::Internal(format!("room projection: {err}"))
}

/// Builds and signs an event of `sender` against the room's current state.
pub async fn build(
    state: &AppState,
    sender: &UserId,
    room_id: &RoomId,
    draft: Draft,
) -> Result<Pdu> {
    let chain = state.chain()?;
    let version = room_version(state, room_id).await?;
    let rules = rules_for(&version).map_err(|e| Error::Internal(e.to_string()))?;
    let content = serde_json::value::to_raw_value(&draft.content)
        .map_err(|e| Error::bad_json(e.to_string()))?;
    let keys = ruma::state_res::auth_types_for_event(
        &draft.kind,
        sender,
        draft.state_key.as_deref(),
        &content,
        &rules.authorization,
    )
    .map_err(Error::bad_json)?;
    let room = store::room_state_with(chain.pool(), room_id.as_str(), &keys)
        .await
        .map_err(store_error)?
        .ok_or_else(|| refused("unknown room"))?;
    sign(state, &room, draft.into_new(sender))
}

/// Signs a new event of `room` with the organisation's key.
pub fn sign(state: &AppState, room: &RoomState, new: NewEvent) -> Result<Pdu> {
    let chain = state.chain()?;
    build_pdu(chain.node_key(), state.server_name.as_str(), room, new).map_err(|e| match e {
        PduError::Sign(ruma::signatures::JsonError::PduTooLarge) => Error::new(
            http::StatusCode::PAYLOAD_TOO_LARGE,
            ruma::api::error::ErrorKind::TooLarge,
            "Event is larger than 65535 bytes",
        ),
        other => Error::bad_json(other.to_string()),
    })
}

/// Checks `pdu` against the projection the way every node will, then submits it and waits
/// until it is applied. A refusal comes back as the Matrix error, with nothing changed.
pub async fn submit(state: &AppState, pdu: &Pdu) -> Result<OwnedEventId> {
    let chain = state.chain()?;
    let record = RoomEvent {
        pdu: pdu.json.clone(),
    };
    let mut conn = chain.pool().acquire().await?;
    let checked = check_room_event(&mut conn, chain.genesis(), chain.org(), &record)
        .await
        .map_err(store_error)?;
    drop(conn);
    if let Err(reason) = checked {
        return Err(Error::rejected(reason));
    }
    submit_record(state, &Record::RoomEvent(record)).await?;
    Ok(pdu.event_id.clone())
}

/// Submits a room record and maps the ledger's refusal to the room's Matrix error.
pub async fn submit_record(state: &AppState, record: &Record) -> Result<()> {
    match state.chain()?.submit_record(record).await {
        Ok(_) => Ok(()),
        Err(LedgerError::Rejected(reason)) => Err(Error::rejected(reason)),
        Err(e) => Err(e.into()),
    }
}

/// Builds, signs, checks and commits one event; returns its id once applied.
pub async fn send(
    state: &AppState,
    sender: &UserId,
    room_id: &RoomId,
    draft: Draft,
) -> Result<OwnedEventId> {
    let pdu = build(state, sender, room_id, draft).await?;
    submit(state, &pdu).await
}

/// `send` for a client transaction: the same `(device, txn id)` always answers the same
/// event, even when retried while the first attempt is still committing.
pub async fn send_with_txn(
    state: &AppState,
    sender: &Sender,
    room_id: &RoomId,
    txn_id: &str,
    draft: Draft,
) -> Result<OwnedEventId> {
    let key = (
        sender.user_id.to_string(),
        sender.device_id.to_string(),
        txn_id.to_owned(),
    );
    let lock = state.txn_locks.lock_for(&key);
    let outcome = async {
        let _guard = lock.lock().await;
        let pool = &state.db.pool;
        if let Some(id) = send_txns::get(pool, &key.0, &key.1, &key.2).await? {
            return OwnedEventId::try_from(id)
                .map_err(|e| Error::Internal(format!("stored event id: {e}")));
        }
        let event_id = send(state, &sender.user_id, room_id, draft).await?;
        send_txns::insert(pool, &key.0, &key.1, &key.2, event_id.as_str()).await?;
        Ok(event_id)
    }
    .await;
    drop(lock);
    state.txn_locks.release(&key);
    outcome
}
