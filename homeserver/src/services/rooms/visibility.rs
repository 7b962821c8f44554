//! Who may see which event: the Matrix history visibility rules, evaluated against the
//! ledger's history of the viewer's membership and of the room's `m.room.history_visibility`.
//! A user never sees events of a room they are not (and were not) allowed into.

use std::collections::HashMap;

use consort_bridge::rooms::read::{self, IN_LIST_MAX, StoredEvent};
use sqlx::AnyPool;

use super::send::store_error;
use crate::error::Result;

/// The viewer's membership over time and the room's visibility over time, up to a bound.
#[derive(Debug, Clone)]
pub struct Window {
    viewer: String,
    /// `(pos, membership)`, oldest first.
    memberships: Vec<(i64, String)>,
    /// `(pos, history_visibility)`, oldest first.
    visibility: Vec<(i64, String)>,
    /// The viewer's latest membership event within the window.
    member: Option<StoredEvent>,
}

/// Reads what deciding visibility in `room_id` for `viewer` needs, up to position `end`.
pub async fn window(pool: &AnyPool, room_id: &str, viewer: &str, end: i64) -> Result<Window> {
    let events = read::visibility_histories(pool, &[room_id], viewer, end)
        .await
        .map_err(store_error)?;
    Ok(Window::from_history(viewer, events))
}

/// The windows of several rooms at once (a `/sync` needs one per room): a query per
/// [`IN_LIST_MAX`] rooms.
pub async fn windows(
    pool: &AnyPool,
    rooms: &[&str],
    viewer: &str,
    end: i64,
) -> Result<HashMap<String, Window>> {
    let mut by_room: HashMap<String, Vec<StoredEvent>> = rooms
        .iter()
        .map(|r| ((*r).to_owned(), Vec::new()))
        .collect();
    for chunk in rooms.chunks(IN_LIST_MAX) {
        for e in read::visibility_histories(pool, chunk, viewer, end)
            .await
            .map_err(store_error)?
        {
            by_room.entry(e.room_id.clone()).or_default().push(e);
        }
    }
    Ok(by_room
        .into_iter()
        .map(|(room, events)| (room, Window::from_history(viewer, events)))
        .collect())
}

/// The `history_visibility` an event sets; anything unreadable counts as `shared`, the
/// spec's default.
pub fn history_visibility_of(event: &StoredEvent) -> String {
    #[derive(serde::Deserialize)]
    struct Pdu {
        content: Content,
    }
    #[derive(serde::Deserialize)]
    struct Content {
        history_visibility: String,
    }
    serde_json::from_str::<Pdu>(&event.json)
        .map(|p| p.content.history_visibility)
        .unwrap_or_else(|_| "shared".to_owned())
}

fn before(log: &[(i64, String)], pos: i64) -> Option<&str> {
    log.iter()
        .take_while(|(p, _)| *p < pos)
        .last()
        .map(|(_, v)| v.as_str())
}

impl Window {
    /// The window of one room from its membership and visibility events, oldest first.
    fn from_history(viewer: &str, events: Vec<StoredEvent>) -> Self {
        let mut window = Self {
            viewer: viewer.to_owned(),
            memberships: Vec::new(),
            visibility: Vec::new(),
            member: None,
        };
        for e in events {
            if e.kind == "m.room.member" {
                if let Some(m) = &e.membership {
                    window.memberships.push((e.pos, m.clone()));
                }
                window.member = Some(e);
            } else {
                window.visibility.push((e.pos, history_visibility_of(&e)));
            }
        }
        window
    }

    /// The viewer's latest membership event within the window.
    pub fn member_event(&self) -> Option<&StoredEvent> {
        self.member.as_ref()
    }

    /// The viewer's latest membership within the window.
    pub fn current_membership(&self) -> Option<&str> {
        self.memberships.last().map(|(_, m)| m.as_str())
    }

    /// Whether the room's latest `history_visibility` within the window is `world_readable`.
    pub fn world_readable(&self) -> bool {
        self.visibility
            .last()
            .is_some_and(|(_, v)| v == "world_readable")
    }

    /// Whether the viewer was ever joined within the window.
    pub fn ever_joined(&self) -> bool {
        self.memberships.iter().any(|(_, m)| m == "join")
    }

    /// Whether the viewer may see `event` (Synapse's rules): their own membership events
    /// always; otherwise when joined at the time, when the room was world readable, when it
    /// was `shared` and they are joined now, or when it was `invited` and they were invited.
    pub fn can_see(&self, event: &StoredEvent) -> bool {
        if event.kind == "m.room.member" && event.state_key.as_deref() == Some(&self.viewer) {
            return true;
        }
        let membership = before(&self.memberships, event.pos);
        if membership == Some("join") {
            return true;
        }
        match before(&self.visibility, event.pos).unwrap_or("shared") {
            "world_readable" => true,
            "shared" => self.current_membership() == Some("join"),
            "invited" => membership == Some("invite"),
            _ => false,
        }
    }
}
