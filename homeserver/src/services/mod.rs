//! Org-local logic of the homeserver, below the HTTP edge and above storage.

pub mod accounts;
pub mod auth;
pub mod chain_ledger;
pub mod credentials;
pub mod rate_limit;
pub mod registration_ledger;
pub mod shared_secret;
pub mod uiaa;

/// Milliseconds since the Unix epoch, as stored in the database.
pub fn now_ms() -> i64 {
    let ms = ruma::MilliSecondsSinceUnixEpoch::now().get();
    i64::try_from(u64::from(ms)).unwrap_or(i64::MAX)
}
