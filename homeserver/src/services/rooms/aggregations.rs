//! Bundled aggregations (`unsigned.m.relations`): what clients show of an event's relations
//! without fetching them: its latest edit (`m.replace`), its thread's summary (`m.thread`)
//! and the events that reference it (`m.reference`). Only relating events the viewer may
//! see count, so a user who left a room learns nothing of what was added after.

use consort_bridge::rooms::read::StoredEvent;
use serde_json::{Map, Value, json};
use sqlx::AnyPool;

use super::client_event::{Viewer, render_unbundled};
use super::visibility::window;
use crate::error::Result;

/// The `m.relations` object for `event`, `None` when nothing is bundled with it;
/// `candidates` are the events that may be (see `read::bundle_candidates_of`).
pub async fn bundle(
    pool: &AnyPool,
    event: &StoredEvent,
    viewer: Viewer<'_>,
    candidates: &[StoredEvent],
) -> Result<Option<Value>> {
    // A redacted event has lost its content; edits of it mean nothing any more.
    if event.redacted_by.is_some() || candidates.is_empty() {
        return Ok(None);
    }
    let seen = window(pool, &event.room_id, viewer.user_id, i64::MAX).await?;
    let visible: Vec<&StoredEvent> = candidates.iter().filter(|e| seen.can_see(e)).collect();
    let mut relations = Map::new();
    if !is_edit(event)
        && let Some(edit) = visible
            .iter()
            .rev()
            .find(|e| rel_type(e).as_deref() == Some("m.replace") && replaces(e, event))
    {
        relations.insert(
            "m.replace".into(),
            render_unbundled(pool, edit, viewer).await?,
        );
    }
    let replies: Vec<&&StoredEvent> = visible
        .iter()
        .filter(|e| rel_type(e).as_deref() == Some("m.thread"))
        .collect();
    if let Some(latest) = replies.iter().max_by_key(|e| e.pos) {
        let participated =
            event.sender == viewer.user_id || replies.iter().any(|e| e.sender == viewer.user_id);
        relations.insert(
            "m.thread".into(),
            json!({
                "latest_event": render_unbundled(pool, latest, viewer).await?,
                "count": replies.len(),
                "current_user_participated": participated,
            }),
        );
    }
    let references: Vec<Value> = visible
        .iter()
        .filter(|e| rel_type(e).as_deref() == Some("m.reference"))
        .map(|e| json!({ "event_id": e.event_id }))
        .collect();
    if !references.is_empty() {
        relations.insert("m.reference".into(), json!({ "chunk": references }));
    }
    Ok((!relations.is_empty()).then_some(Value::Object(relations)))
}

/// `content.m.relates_to.rel_type` of an event.
fn rel_type(event: &StoredEvent) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Pdu {
        content: Content,
    }
    #[derive(serde::Deserialize)]
    struct Content {
        #[serde(rename = "m.relates_to")]
        relates_to: RelatesTo,
    }
    #[derive(serde::Deserialize)]
    struct RelatesTo {
        rel_type: String,
    }
    serde_json::from_str::<Pdu>(&event.json)
        .ok()
        .map(|p| p.content.relates_to.rel_type)
}

/// Whether the event is itself an edit (edits of edits are not bundled).
fn is_edit(event: &StoredEvent) -> bool {
    rel_type(event).as_deref() == Some("m.replace")
}

/// Whether `edit` is a valid replacement of `original`, by the specification's rules: the
/// same sender and type, neither a state event, and (unless encrypted) new content given.
fn replaces(edit: &StoredEvent, original: &StoredEvent) -> bool {
    if edit.sender != original.sender
        || edit.kind != original.kind
        || edit.state_key.is_some()
        || original.state_key.is_some()
    {
        return false;
    }
    if edit.kind == "m.room.encrypted" {
        return true;
    }
    serde_json::from_str::<Value>(&edit.json)
        .ok()
        .is_some_and(|v| v["content"]["m.new_content"].is_object())
}
