//! Sliding sync connections (MSC4186): per (user, device, `conn_id`), where each `pos` the
//! node answered left off (its `/sync` token and the rooms the client already has). Kept in
//! memory and bounded: a connection the node forgot, or one from before a restart, answers
//! `M_UNKNOWN_POS` and the client starts over, as the MSC intends.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;

use crate::services::tokens::SyncToken;

/// The most connections kept; the least recently used goes first.
const MAX_CONNECTIONS: usize = 10_000;
/// The `pos` values kept per connection: the latest, and a few before it for a client that
/// retries a request whose answer it lost.
const POSITIONS_PER_CONNECTION: usize = 4;

/// Which connection: user, device, `conn_id`.
pub type ConnKey = (String, String, String);

/// What the client has after one answer.
#[derive(Debug, Clone, Default)]
pub struct Position {
    /// The `/sync` token the answer was computed at.
    pub token: SyncToken,
    /// The rooms the client has been sent (up to `token`).
    pub rooms: BTreeSet<String>,
}

#[derive(Debug, Default)]
struct Connection {
    positions: BTreeMap<u64, Position>,
    last_used: u64,
}

/// Every connection of the node.
#[derive(Debug, Default)]
pub struct Connections {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    connections: HashMap<ConnKey, Connection>,
    next_pos: u64,
    clock: u64,
}

impl Connections {
    /// The position a client's `pos` names; `None` when the node does not know it.
    pub fn get(&self, key: &ConnKey, pos: u64) -> Option<Position> {
        let mut inner = self.inner.lock().expect("connections");
        inner.clock += 1;
        let clock = inner.clock;
        let conn = inner.connections.get_mut(key)?;
        conn.last_used = clock;
        conn.positions.get(&pos).cloned()
    }

    /// Records a new position of a connection; returns its `pos`.
    pub fn put(&self, key: ConnKey, position: Position) -> u64 {
        let mut inner = self.inner.lock().expect("connections");
        inner.clock += 1;
        inner.next_pos += 1;
        let (pos, clock) = (inner.next_pos, inner.clock);
        if !inner.connections.contains_key(&key) && inner.connections.len() >= MAX_CONNECTIONS {
            let oldest = inner
                .connections
                .iter()
                .min_by_key(|(_, c)| c.last_used)
                .map(|(k, _)| k.clone());
            if let Some(oldest) = oldest {
                inner.connections.remove(&oldest);
            }
        }
        let conn = inner.connections.entry(key).or_default();
        conn.last_used = clock;
        conn.positions.insert(pos, position);
        while conn.positions.len() > POSITIONS_PER_CONNECTION {
            conn.positions.pop_first();
        }
        pos
    }

    /// Forgets a connection (a request without `pos` starts it over).
    pub fn reset(&self, key: &ConnKey) {
        self.inner
            .lock()
            .expect("connections")
            .connections
            .remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(conn: &str) -> ConnKey {
        ("@a:x".into(), "D".into(), conn.into())
    }

    #[test]
    fn positions_are_per_connection_and_bounded() {
        let c = Connections::default();
        let first = c.put(key("main"), Position::default());
        assert!(c.get(&key("main"), first).is_some());
        assert!(c.get(&key("other"), first).is_none());
        let mut last = first;
        for _ in 0..POSITIONS_PER_CONNECTION {
            last = c.put(key("main"), Position::default());
        }
        assert!(
            c.get(&key("main"), first).is_none(),
            "the oldest position is dropped"
        );
        assert!(c.get(&key("main"), last).is_some());
        c.reset(&key("main"));
        assert!(c.get(&key("main"), last).is_none());
    }
}
