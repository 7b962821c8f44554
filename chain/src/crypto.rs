//! Hashing and key helpers shared by transactions, blocks, proofs and consensus signing.

use ed25519_dalek::{SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

/// A SHA-256 digest: the one hash function of the ledger.
pub type Hash32 = [u8; 32];

/// SHA-256 over the concatenation of `parts`, so callers can domain-separate without copying.
pub fn sha256(parts: &[&[u8]]) -> Hash32 {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part);
    }
    hasher.finalize().into()
}

/// Generates a fresh ed25519 key from the operating system's randomness.
pub fn generate_key() -> SigningKey {
    SigningKey::generate(&mut rand::rngs::OsRng)
}

/// Parses a 32-byte hex-encoded ed25519 secret key (as written in key files).
pub fn signing_key_from_hex(hex_str: &str) -> Result<SigningKey, String> {
    let bytes: [u8; 32] = hex::decode(hex_str.trim())
        .map_err(|e| format!("invalid hex: {e}"))?
        .try_into()
        .map_err(|_| "a secret key is 32 bytes".to_string())?;
    Ok(SigningKey::from_bytes(&bytes))
}

/// Parses a 32-byte hex-encoded ed25519 public key (as written in the genesis file).
pub fn verifying_key_from_hex(hex_str: &str) -> Result<VerifyingKey, String> {
    let bytes: [u8; 32] = hex::decode(hex_str.trim())
        .map_err(|e| format!("invalid hex: {e}"))?
        .try_into()
        .map_err(|_| "a public key is 32 bytes".to_string())?;
    VerifyingKey::from_bytes(&bytes).map_err(|e| format!("invalid ed25519 public key: {e}"))
}
