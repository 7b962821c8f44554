//! Secrets: argon2id password hashes (computed off the async runtime) and random access tokens
//! stored only as sha256 digests.

use argon2::{
    Argon2, PasswordHash, PasswordHasher, PasswordVerifier,
    password_hash::{SaltString, rand_core::OsRng},
};
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// Why hashing failed (never the password's fault: an internal error).
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    /// argon2 refused.
    #[error("password hashing failed: {0}")]
    Hash(String),
    /// The blocking task died.
    #[error("password hashing task failed: {0}")]
    Join(#[from] tokio::task::JoinError),
}

/// Password hashes computed at once: one per core. Each takes 19 MiB and a core for a while;
/// more at once would not finish sooner, only hold more memory.
static HASHING: std::sync::LazyLock<tokio::sync::Semaphore> = std::sync::LazyLock::new(|| {
    tokio::sync::Semaphore::new(std::thread::available_parallelism().map_or(2, |n| n.get()))
});

/// Hashes a password with argon2id and a random salt.
pub async fn hash_password(password: String) -> Result<String, CredentialError> {
    let _permit = HASHING
        .acquire()
        .await
        .expect("the hashing semaphore is never closed");
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| CredentialError::Hash(e.to_string()))
    })
    .await?
}

/// Checks a password against a stored hash; a malformed hash never matches.
pub async fn verify_password(password: String, hash: String) -> Result<bool, CredentialError> {
    let _permit = HASHING
        .acquire()
        .await
        .expect("the hashing semaphore is never closed");
    Ok(tokio::task::spawn_blocking(move || {
        PasswordHash::new(&hash)
            .map(|parsed| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok()
            })
            .unwrap_or(false)
    })
    .await?)
}

/// A fresh access token: 32 random bytes, base64url without padding.
pub fn new_access_token() -> String {
    random_urlsafe(32)
}

/// A fresh device id: 10 random uppercase letters, like other homeservers hand out.
pub fn new_device_id() -> String {
    let mut rng = rand::thread_rng();
    (0..10)
        .map(|_| char::from(b'A' + (rng.next_u32() % 26) as u8))
        .collect()
}

/// `n` random bytes as base64url without padding.
pub fn random_urlsafe(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    rand::thread_rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The digest under which a token is stored and looked up.
pub fn token_digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hash_and_verify() {
        let hash = hash_password("hunter2".into()).await.expect("hash");
        assert!(hash.starts_with("$argon2id$"));
        assert!(
            verify_password("hunter2".into(), hash.clone())
                .await
                .expect("verify")
        );
        assert!(
            !verify_password("hunter3".into(), hash)
                .await
                .expect("verify")
        );
        assert!(
            !verify_password("x".into(), "garbage".into())
                .await
                .expect("verify")
        );
    }

    #[test]
    fn tokens_are_random_and_digested() {
        let a = new_access_token();
        assert_eq!(a.len(), 43);
        assert_ne!(a, new_access_token());
        assert_eq!(token_digest(&a).len(), 64);
        assert_eq!(new_device_id().len(), 10);
    }
}
