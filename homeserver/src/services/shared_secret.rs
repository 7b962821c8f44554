//! Synapse's shared-secret registration (`/_synapse/admin/v1/register`): single-use nonces
//! and the HMAC-SHA1 over `nonce\0username\0password\0admin|notadmin` keyed by the secret.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use hmac::{Hmac, Mac};
use sha1::Sha1;

use crate::services::credentials;

/// How long a nonce may be used.
const NONCE_TTL: Duration = Duration::from_secs(60);

/// Nonces handed out and not yet used.
#[derive(Debug, Default)]
pub struct NonceStore {
    nonces: Mutex<HashMap<String, Instant>>,
}

impl NonceStore {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Instant>> {
        self.nonces
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Issues a fresh nonce.
    pub fn issue(&self) -> String {
        let nonce = hex_nonce();
        let mut nonces = self.lock();
        nonces.retain(|_, t| t.elapsed() < NONCE_TTL);
        nonces.insert(nonce.clone(), Instant::now());
        nonce
    }

    /// Consumes a nonce; `false` when unknown, used or expired.
    pub fn take(&self, nonce: &str) -> bool {
        self.lock()
            .remove(nonce)
            .is_some_and(|t| t.elapsed() < NONCE_TTL)
    }
}

fn hex_nonce() -> String {
    credentials::random_urlsafe(24)
}

/// Whether `mac_hex` is the right MAC for this registration request.
pub fn verify_mac(
    secret: &str,
    nonce: &str,
    username: &str,
    password: &str,
    admin: bool,
    mac_hex: &str,
) -> bool {
    let Ok(expected) = hex::decode(mac_hex) else {
        return false;
    };
    mac(secret, nonce, username, password, admin)
        .verify_slice(&expected)
        .is_ok()
}

/// The MAC a client computes (exposed for tests and tools).
pub fn compute_mac_hex(
    secret: &str,
    nonce: &str,
    username: &str,
    password: &str,
    admin: bool,
) -> String {
    hex::encode(
        mac(secret, nonce, username, password, admin)
            .finalize()
            .into_bytes(),
    )
}

fn mac(secret: &str, nonce: &str, username: &str, password: &str, admin: bool) -> Hmac<Sha1> {
    // HMAC accepts keys of any length: `new_from_slice` cannot fail here.
    let mut mac = <Hmac<Sha1> as Mac>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(nonce.as_bytes());
    mac.update(b"\x00");
    mac.update(username.as_bytes());
    mac.update(b"\x00");
    mac.update(password.as_bytes());
    mac.update(b"\x00");
    mac.update(if admin { b"admin" } else { b"notadmin" });
    mac
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_round_trip_and_single_use_nonce() {
        let store = NonceStore::default();
        let nonce = store.issue();
        let mac = compute_mac_hex("s3cret", &nonce, "alice", "pw", true);
        assert!(verify_mac("s3cret", &nonce, "alice", "pw", true, &mac));
        assert!(!verify_mac("s3cret", &nonce, "alice", "pw", false, &mac));
        assert!(!verify_mac("other", &nonce, "alice", "pw", true, &mac));
        assert!(store.take(&nonce));
        assert!(!store.take(&nonce));
    }
}
