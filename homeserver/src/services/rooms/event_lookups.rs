//! What rendering events for clients needs besides the events themselves (the sender's own
//! transaction ids, the redactions, the previous state, the relations to bundle), fetched for
//! a whole batch, of any rooms, in a few queries: one `/sync` renders hundreds of rooms' events, and
//! a query per event and lookup made it the slowest part of an initial sync.

use std::collections::HashMap;

use consort_bridge::rooms::read::{
    self, EntryBelow, HISTORY_ENTRIES_MAX, IN_LIST_MAX, StoredEvent,
};
use sqlx::AnyPool;

use super::client_event::Viewer;
use super::send::store_error;
use crate::error::Result;
use crate::storage::send_txns;

/// The lookups of one batch of events.
#[derive(Debug, Default)]
pub struct Lookups {
    /// Event id → the viewer's transaction id, for the events the viewer's device sent.
    pub txns: HashMap<String, String>,
    /// Redaction event id → the redaction.
    pub redactions: HashMap<String, StoredEvent>,
    /// `(room, type, state_key)` → that entry's events, oldest first (below the batch's
    /// newest event).
    pub history: HashMap<(String, String, String), Vec<StoredEvent>>,
    /// Event id → the events that may be bundled with it, as
    /// [`read::bundle_candidates_of`] orders them.
    pub candidates: HashMap<String, Vec<StoredEvent>>,
}

impl Lookups {
    /// Fetches what `events` need; `bundles` says whether to look for relations too.
    pub async fn fetch(
        pool: &AnyPool,
        events: &[&StoredEvent],
        viewer: Viewer<'_>,
        bundles: bool,
    ) -> Result<Self> {
        let mut out = Self::default();
        if let Some(device) = viewer.device_id {
            let own: Vec<&str> = events
                .iter()
                .filter(|e| e.sender == viewer.user_id)
                .map(|e| e.event_id.as_str())
                .collect();
            for chunk in own.chunks(IN_LIST_MAX) {
                out.txns
                    .extend(send_txns::txns_of(pool, viewer.user_id, device, chunk).await?);
            }
        }
        let redactions: Vec<&str> = events
            .iter()
            .filter_map(|e| e.redacted_by.as_deref())
            .collect();
        for chunk in redactions.chunks(IN_LIST_MAX) {
            for r in read::events(pool, chunk).await.map_err(store_error)? {
                out.redactions.insert(r.event_id.clone(), r);
            }
        }
        // The state entries of the batch, each below its room's newest event of the batch,
        // and the relations of its events: a few queries for the whole batch, whatever the
        // rooms.
        let mut newest: HashMap<&str, i64> = HashMap::new();
        for e in events {
            let pos = newest.entry(e.room_id.as_str()).or_insert(e.pos);
            *pos = (*pos).max(e.pos);
        }
        let mut entries: Vec<EntryBelow<'_>> = events
            .iter()
            .filter_map(|e| {
                Some(EntryBelow {
                    room_id: e.room_id.as_str(),
                    kind: e.kind.as_str(),
                    state_key: e.state_key.as_deref()?,
                    before: newest[e.room_id.as_str()],
                })
            })
            .collect();
        entries.sort_unstable();
        entries.dedup();
        for chunk in entries.chunks(HISTORY_ENTRIES_MAX) {
            for e in read::state_histories(pool, chunk)
                .await
                .map_err(store_error)?
            {
                let key = (
                    e.room_id.clone(),
                    e.kind.clone(),
                    e.state_key.clone().unwrap_or_default(),
                );
                out.history.entry(key).or_default().push(e);
            }
        }
        if bundles {
            let parents: Vec<(&str, &str)> = events
                .iter()
                .filter(|e| e.redacted_by.is_none())
                .map(|e| (e.room_id.as_str(), e.event_id.as_str()))
                .collect();
            for chunk in parents.chunks(IN_LIST_MAX / 2) {
                for (parent, e) in read::bundle_candidates_of(pool, chunk)
                    .await
                    .map_err(store_error)?
                {
                    out.candidates.entry(parent).or_default().push(e);
                }
            }
        }
        Ok(out)
    }

    /// The state event `event` replaced: the latest of its entry before it.
    pub fn previous(&self, event: &StoredEvent) -> Option<&StoredEvent> {
        let key = event.state_key.as_ref()?;
        self.history
            .get(&(event.room_id.clone(), event.kind.clone(), key.clone()))?
            .iter()
            .rev()
            .find(|e| e.pos < event.pos)
    }
}
