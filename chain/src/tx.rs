//! Signed transactions: an organisation's payload, signed by that organisation's node key.

use borsh::{BorshDeserialize, BorshSerialize};
use ed25519_dalek::{SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

use sha2::{Digest, Sha256};

use crate::crypto::{Hash32, sha256};
use crate::engine::signing::Signature;
use crate::genesis::Genesis;

/// The hash that identifies a transaction (over org, nonce and payload; the signature
/// signs this hash). Two submissions of the same signed bytes share it: that is a replay.
#[derive(
    Copy,
    Clone,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    BorshSerialize,
    BorshDeserialize,
    Serialize,
    Deserialize,
)]
pub struct TxHash(pub Hash32);

impl std::fmt::Display for TxHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", hex::encode(self.0))
    }
}

impl std::fmt::Debug for TxHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TxHash({})", hex::encode(&self.0[..8]))
    }
}

impl std::str::FromStr for TxHash {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bytes: [u8; 32] = hex::decode(s)
            .map_err(|e| e.to_string())?
            .try_into()
            .map_err(|_| "a transaction hash is 32 bytes".to_string())?;
        Ok(TxHash(bytes))
    }
}

/// A signed ledger transaction: the envelope around every record an organisation submits.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Tx {
    /// The submitting organisation's id, as in the genesis file.
    pub org: String,
    /// Random per submission, so that the same payload can be submitted twice on purpose
    /// while resending the same signed bytes is recognised as a replay.
    pub nonce: u64,
    /// Opaque application bytes (for Consort: one serialized bridge record).
    pub payload: Vec<u8>,
    /// Ed25519 signature by the organisation's node key over [`Tx::hash`].
    pub signature: Signature,
}

/// Why a transaction is refused. Every refusal names its reason; none is silent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TxError {
    /// The signature does not verify under the organisation's node key.
    #[error("transaction signature does not verify for organisation `{0}`")]
    BadSignature(String),
    /// The organisation is not a member of the consortium.
    #[error("organisation `{0}` is not in the genesis")]
    UnknownOrg(String),
    /// The payload exceeds the consortium's per-transaction limit.
    #[error("transaction payload is {size} bytes; the limit is {max}")]
    TooLarge {
        /// Payload size.
        size: usize,
        /// Limit from the genesis.
        max: usize,
    },
    /// This exact transaction is already committed.
    #[error("transaction {0} is already committed (replay)")]
    Replayed(TxHash),
    /// This exact transaction is already waiting in the mempool.
    #[error("transaction {0} is already pending")]
    AlreadyPending(TxHash),
    /// The mempool is at capacity; try again later.
    #[error("the mempool is full ({0} transactions); try again later")]
    MempoolFull(usize),
}

impl Tx {
    /// Builds and signs a transaction.
    pub fn new_signed(org: &str, nonce: u64, payload: Vec<u8>, key: &SigningKey) -> Self {
        let hash = Self::compute_hash(org, nonce, &payload);
        Tx {
            org: org.to_string(),
            nonce,
            payload,
            signature: Signature::sign(key, &hash.0),
        }
    }

    fn compute_hash(org: &str, nonce: u64, payload: &[u8]) -> TxHash {
        // The borsh encoding of (org, nonce, payload), streamed into the hasher.
        let mut hasher = Sha256::new();
        hasher.update(b"consort-tx");
        hasher.update((org.len() as u32).to_le_bytes());
        hasher.update(org.as_bytes());
        hasher.update(nonce.to_le_bytes());
        hasher.update((payload.len() as u32).to_le_bytes());
        hasher.update(payload);
        TxHash(hasher.finalize().into())
    }

    /// The transaction's identity: what is signed, what replays are detected by.
    pub fn hash(&self) -> TxHash {
        Self::compute_hash(&self.org, self.nonce, &self.payload)
    }

    /// The Merkle leaf: commits to the hash *and* the signature, so an inclusion proof
    /// proves the signed transaction.
    pub fn leaf(&self) -> Hash32 {
        sha256(&[&[0u8], &self.hash().0, &self.signature.0])
    }

    /// Encoded size on the wire and in blocks.
    pub fn encoded_len(&self) -> usize {
        // org (4 + len) + nonce 8 + payload (4 + len) + signature 64
        4 + self.org.len() + 8 + 4 + self.payload.len() + 64
    }

    /// Stateless checks every node makes the same way: known org, size, signature.
    pub fn check(&self, genesis: &Genesis) -> Result<TxHash, TxError> {
        let max = genesis.params.max_tx_bytes;
        if self.payload.len() > max {
            return Err(TxError::TooLarge {
                size: self.payload.len(),
                max,
            });
        }
        let key = genesis
            .org_node_key(&self.org)
            .ok_or_else(|| TxError::UnknownOrg(self.org.clone()))?;
        let hash = self.hash();
        if !verify(&key, &hash, &self.signature) {
            return Err(TxError::BadSignature(self.org.clone()));
        }
        Ok(hash)
    }
}

fn verify(key: &VerifyingKey, hash: &TxHash, signature: &Signature) -> bool {
    signature.verify(key, &hash.0)
}

/// Checks many transactions at once (one batched signature verification when they are all
/// valid, which is the common case), returning each one's verdict in order.
pub fn check_batch(txs: &[Tx], genesis: &Genesis) -> Vec<Result<TxHash, TxError>> {
    let mut verdicts = Vec::with_capacity(txs.len());
    let mut keys = Vec::new();
    let mut sigs = Vec::new();
    let mut hashes = Vec::new();
    for tx in txs {
        let max = genesis.params.max_tx_bytes;
        let verdict = if tx.payload.len() > max {
            Err(TxError::TooLarge {
                size: tx.payload.len(),
                max,
            })
        } else if let Some(key) = genesis.org_node_key(&tx.org) {
            let hash = tx.hash();
            keys.push(key);
            sigs.push(ed25519_dalek::Signature::from_bytes(&tx.signature.0));
            hashes.push(hash);
            Ok(hash)
        } else {
            Err(TxError::UnknownOrg(tx.org.clone()))
        };
        verdicts.push(verdict);
    }
    let messages: Vec<&[u8]> = hashes.iter().map(|h| &h.0[..]).collect();
    if ed25519_dalek::verify_batch(&messages, &sigs, &keys).is_ok() {
        return verdicts;
    }
    // Some signature is bad: find which, one by one.
    txs.iter()
        .zip(verdicts)
        .map(|(tx, v)| v.and_then(|_| tx.check(genesis)))
        .collect()
}
