//! Typing notifications: ephemeral, kept in memory and off the ledger (docs/architecture.md,
//! "What stays off the ledger"), so they reach the users of this node only. Every change takes
//! the next serial; a `/sync` token carries the serial it has seen.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Longest typing timeout honoured, as in Synapse.
pub const MAX_TYPING_TIMEOUT: Duration = Duration::from_secs(120);

#[derive(Debug, Default)]
struct RoomTyping {
    /// Serial of the last change in this room.
    changed: u64,
    /// Typing users and when their typing ends.
    users: BTreeMap<String, Instant>,
}

#[derive(Debug, Default)]
struct Inner {
    serial: u64,
    rooms: HashMap<String, RoomTyping>,
}

/// Who is typing where.
#[derive(Debug, Default)]
pub struct Typing {
    inner: Mutex<Inner>,
}

impl Typing {
    /// Starts (with a timeout) or stops a user's typing; returns whether anything changed.
    pub fn set(&self, room_id: &str, user_id: &str, until: Option<Instant>) -> bool {
        let mut inner = self.inner.lock().expect("typing lock");
        let serial = inner.serial + 1;
        let room = inner.rooms.entry(room_id.to_owned()).or_default();
        let changed = match until {
            Some(t) => room.users.insert(user_id.to_owned(), t).is_none(),
            None => room.users.remove(user_id).is_some(),
        };
        if changed {
            room.changed = serial;
            inner.serial = serial;
        }
        changed
    }

    /// Ends typing whose time is up; returns whether anything changed.
    pub fn expire(&self, now: Instant) -> bool {
        let mut inner = self.inner.lock().expect("typing lock");
        let serial = inner.serial + 1;
        let mut changed = false;
        for room in inner.rooms.values_mut() {
            let before = room.users.len();
            room.users.retain(|_, until| *until > now);
            if room.users.len() != before {
                room.changed = serial;
                changed = true;
            }
        }
        if changed {
            inner.serial = serial;
        }
        changed
    }

    /// The latest serial.
    pub fn serial(&self) -> u64 {
        self.inner.lock().expect("typing lock").serial
    }

    /// The users typing in a room, if it changed after serial `since` (`None`: unchanged).
    pub fn changed_since(&self, room_id: &str, since: u64) -> Option<Vec<String>> {
        let inner = self.inner.lock().expect("typing lock");
        let room = inner.rooms.get(room_id)?;
        (room.changed > since).then(|| room.users.keys().cloned().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_take_serials_and_expire() {
        let t = Typing::default();
        let now = Instant::now();
        assert!(t.set("!r", "@a", Some(now + Duration::from_secs(5))));
        assert!(!t.set("!r", "@a", Some(now + Duration::from_secs(9))));
        let s = t.serial();
        assert_eq!(t.changed_since("!r", 0), Some(vec!["@a".to_owned()]));
        assert_eq!(t.changed_since("!r", s), None);
        assert!(t.expire(now + Duration::from_secs(10)));
        assert_eq!(t.changed_since("!r", s), Some(vec![]));
        assert!(!t.set("!r", "@a", None));
    }
}
