//! Presence: ephemeral and org-local (never on the ledger). Users of this node set it with
//! `PUT /presence/{userId}/status` or `/sync?set_presence=`; users of other organisations are
//! reported offline.

use std::collections::HashMap;
use std::sync::Mutex;

use ruma::presence::PresenceState;

/// One user's presence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserPresence {
    /// online, offline or unavailable.
    pub state: PresenceState,
    /// Free-text status.
    pub status_msg: Option<String>,
    /// When it was last set (Unix ms).
    pub last_active_ms: i64,
}

/// The presence of this node's users.
#[derive(Debug, Default)]
pub struct Presence {
    users: Mutex<HashMap<String, UserPresence>>,
}

impl Presence {
    /// Sets a user's presence; the status message is kept unless a new one is given.
    pub fn set(
        &self,
        user_id: &str,
        state: PresenceState,
        status_msg: Option<String>,
        now_ms: i64,
    ) {
        let mut users = self.users.lock().expect("presence lock");
        let entry = users.entry(user_id.to_owned()).or_insert(UserPresence {
            state: PresenceState::Offline,
            status_msg: None,
            last_active_ms: now_ms,
        });
        entry.state = state;
        if status_msg.is_some() {
            entry.status_msg = status_msg;
        }
        entry.last_active_ms = now_ms;
    }

    /// A user's presence, `None` when never set.
    pub fn get(&self, user_id: &str) -> Option<UserPresence> {
        self.users
            .lock()
            .expect("presence lock")
            .get(user_id)
            .cloned()
    }
}
