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
