//! Org-local logic of the homeserver, below the HTTP edge and above storage.

pub mod account_data;
pub mod accounts;
pub mod auth;
pub mod chain_ledger;
pub mod contacts;
pub mod credentials;
pub mod event_proof;
pub mod key_backup;
pub mod keys;
pub mod media;
pub mod metrics;
pub mod notifier;
pub mod presence;
pub mod push_rules;
pub mod pusher;
pub mod rate_limit;
pub mod registration_ledger;
pub mod reports;
pub mod rooms;
pub mod shared_secret;
pub mod sliding_sync;
pub mod sync;
pub mod tokens;
pub mod typing;
pub mod uiaa;

/// Milliseconds since the Unix epoch, as stored in the database.
pub fn now_ms() -> i64 {
    let ms = ruma::MilliSecondsSinceUnixEpoch::now().get();
    i64::try_from(u64::from(ms)).unwrap_or(i64::MAX)
}

/// The `origin_server_ts` of a new event: now, but always after every timestamp this node
/// gave before. Two events of one sender with the same content, built against the same room
/// state in the same millisecond (two devices, or a client's concurrent sends), would
/// otherwise be the same bytes, so have the same event id, and the second would be refused
/// as already on the ledger.
pub fn event_ts_ms() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static LAST: AtomicU64 = AtomicU64::new(0);
    let now = now_ms().max(0) as u64;
    let step = |last: u64| (last + 1).max(now);
    let previous = LAST
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |last| {
            Some(step(last))
        })
        .unwrap_or_else(|last| last);
    step(previous)
}
