//! Events as clients see them: the PDU without its federation fields, plus `event_id` and
//! `unsigned` (the sender's own `transaction_id`, `redacted_because`, `prev_content`, `age`,
//! and the bundled aggregations `m.relations`).

use consort_bridge::rooms::read::StoredEvent;
use serde_json::{Map, Value, json};
use sqlx::AnyPool;

use super::aggregations;
use super::event_lookups::Lookups;
use crate::error::{Error, Result};
use crate::services::now_ms;

/// PDU fields clients do not get.
const FEDERATION_FIELDS: [&str; 7] = [
    "auth_events",
    "prev_events",
    "hashes",
    "signatures",
    "depth",
    "origin",
    "prev_state",
];

/// Who is looking, for `transaction_id`.
#[derive(Debug, Clone, Copy)]
pub struct Viewer<'a> {
    /// The viewer's user id.
    pub user_id: &'a str,
    /// The viewer's device, when known.
    pub device_id: Option<&'a str>,
}

impl<'a> Viewer<'a> {
    /// The caller of a request, on the device it used.
    pub fn of(sender: &'a crate::services::auth::Sender) -> Self {
        Self {
            user_id: sender.user_id.as_str(),
            device_id: Some(sender.device_id.as_str()),
        }
    }
}

fn object(event: &StoredEvent) -> Result<Map<String, Value>> {
    match serde_json::from_str(&event.json) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(Error::Internal(format!(
            "stored event {} is not a JSON object",
            event.event_id
        ))),
    }
}

/// The event without `unsigned`: what nesting (`redacted_because`) and stripped state need.
pub fn bare(event: &StoredEvent) -> Result<Map<String, Value>> {
    let mut map = object(event)?;
    for field in FEDERATION_FIELDS {
        map.remove(field);
    }
    map.insert("event_id".into(), json!(event.event_id));
    // v12 create events have no room_id field; clients still want it.
    map.entry("room_id").or_insert_with(|| json!(event.room_id));
    // Since v11 `redacts` lives in the content; clients of older versions look for it at the
    // top level too.
    if event.kind == "m.room.redaction"
        && !map.contains_key("redacts")
        && let Some(redacts) = map.get("content").and_then(|c| c.get("redacts")).cloned()
    {
        map.insert("redacts".into(), redacts);
    }
    Ok(map)
}

/// One event in client format, with its bundled aggregations.
pub async fn to_client(pool: &AnyPool, event: &StoredEvent, viewer: Viewer<'_>) -> Result<Value> {
    let mut all = to_client_all(pool, std::slice::from_ref(event), viewer).await?;
    all.pop()
        .ok_or_else(|| Error::Internal("an event rendered as nothing".into()))
}

/// One event in client format without bundled aggregations: what an aggregation itself
/// holds (an edit, a thread's latest reply).
pub async fn render_unbundled(
    pool: &AnyPool,
    event: &StoredEvent,
    viewer: Viewer<'_>,
) -> Result<Value> {
    let lookups = Lookups::fetch(pool, &[event], viewer, false).await?;
    render(event, &lookups)
}

/// The client format of `event` from the lookups of its batch.
fn render(event: &StoredEvent, lookups: &Lookups) -> Result<Value> {
    let mut map = bare(event)?;
    let mut unsigned = Map::new();
    if let Some(ts) = map.get("origin_server_ts").and_then(Value::as_i64) {
        unsigned.insert("age".into(), json!((now_ms() - ts).max(0)));
    }
    if let Some(txn) = lookups.txns.get(&event.event_id) {
        unsigned.insert("transaction_id".into(), json!(txn));
    }
    if let Some(redaction_id) = &event.redacted_by
        && let Some(redaction) = lookups.redactions.get(redaction_id)
    {
        unsigned.insert("redacted_because".into(), Value::Object(bare(redaction)?));
    }
    if let Some(prev) = lookups.previous(event) {
        let prev_map = object(prev)?;
        if let Some(content) = prev_map.get("content") {
            unsigned.insert("prev_content".into(), content.clone());
        }
        unsigned.insert("replaces_state".into(), json!(prev.event_id));
        unsigned.insert("prev_sender".into(), json!(prev.sender));
    }
    if !unsigned.is_empty() {
        map.insert("unsigned".into(), Value::Object(unsigned));
    }
    Ok(Value::Object(map))
}

/// Several events in client format, in the given order, with their bundled aggregations;
/// what they need besides themselves is read for the whole batch at once.
pub async fn to_client_all(
    pool: &AnyPool,
    events: &[StoredEvent],
    viewer: Viewer<'_>,
) -> Result<Vec<Value>> {
    let refs: Vec<&StoredEvent> = events.iter().collect();
    let lookups = Lookups::fetch(pool, &refs, viewer, true).await?;
    let mut out = Vec::with_capacity(events.len());
    for e in events {
        let mut value = render(e, &lookups)?;
        let candidates = lookups.candidates.get(&e.event_id).map(Vec::as_slice);
        if let Some(relations) = Box::pin(aggregations::bundle(
            pool,
            e,
            viewer,
            candidates.unwrap_or_default(),
        ))
        .await?
        {
            value
                .as_object_mut()
                .ok_or_else(|| Error::Internal("a client event is not an object".into()))?
                .entry("unsigned")
                .or_insert_with(|| json!({}))
                .as_object_mut()
                .ok_or_else(|| Error::Internal("unsigned is not an object".into()))?
                .insert("m.relations".into(), relations);
        }
        out.push(value);
    }
    Ok(out)
}

/// Several events in client format, as the `Raw` values ruma responses hold.
pub async fn to_client_raw<T>(
    pool: &AnyPool,
    events: &[StoredEvent],
    viewer: Viewer<'_>,
) -> Result<Vec<ruma::serde::Raw<T>>> {
    to_client_all(pool, events, viewer)
        .await?
        .iter()
        .map(raw)
        .collect()
}

/// Stripped state (type, state_key, sender, content) for invites and knocks.
pub fn stripped(event: &StoredEvent) -> Result<Value> {
    let map = object(event)?;
    Ok(json!({
        "type": event.kind,
        "state_key": event.state_key,
        "sender": event.sender,
        "content": map.get("content").cloned().unwrap_or_else(|| json!({})),
    }))
}

/// Converts a JSON value into the `Raw<T>` ruma response types hold.
pub fn raw<T>(value: &Value) -> Result<ruma::serde::Raw<T>> {
    let raw = serde_json::value::to_raw_value(value)
        .map_err(|e| Error::Internal(format!("cannot serialize an event: {e}")))?;
    Ok(ruma::serde::Raw::from_json(raw))
}
