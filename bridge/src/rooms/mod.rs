//! Rooms on the ledger: Matrix PDUs in `RoomEvent` records, checked by every node with the
//! Matrix auth rules against the projection's current room state, then applied to it.

pub mod auth;
pub mod event;
pub mod store;

use std::collections::BTreeMap;

use consort_chain::Genesis;
use sqlx::AnyConnection;

use crate::records::RoomEvent;
use crate::users;
use store::StoreError;

/// Validates `record` submitted by `org` against the projection and, if accepted, applies
/// it at ledger position (height, idx). The inner `Err` is a rejection: nothing changed.
pub async fn apply_room_event(
    conn: &mut AnyConnection,
    genesis: &Genesis,
    org: &str,
    record: &RoomEvent,
    height: u64,
    idx: u32,
) -> Result<Result<(), String>, StoreError> {
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
    let mut events = BTreeMap::new();
    for id in pdu.prev_event_ids().iter().chain(pdu.auth_event_ids()) {
        if let Some(e) = store::get_event(conn, pdu.room.as_str(), id.as_str(), &rules).await? {
            events.insert(id.clone(), e);
        }
    }
    let keys = match auth::state_keys_needed(&pdu, &rules) {
        Ok(k) => k,
        Err(reason) => return Ok(Err(reason)),
    };
    let mut state = BTreeMap::new();
    for (kind, key) in keys {
        if let Some(e) = store::get_state(conn, pdu.room.as_str(), &kind, &key, &rules).await? {
            state.insert((kind, key), e);
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
    let version = match (&peek.create_version, room) {
        (Some(v), _) => v.clone(),
        (None, Some(r)) => r.version,
        (None, None) => return Ok(Err("unknown room".into())),
    };
    store::insert_event(conn, &pdu, &version, height, idx).await?;
    Ok(Ok(()))
}
