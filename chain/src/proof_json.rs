//! The JSON form of an inclusion proof, for users and auditors: every hash, key and signature
//! in hex, the transaction as its canonical (borsh) bytes. Reading it back rebuilds the exact
//! [`TxProof`] that [`crate::proof::verify`] checks, and refuses any field it does not know,
//! so that no byte of the document goes unchecked.

use malachitebft_core_types::{CommitCertificate, CommitSignature, Round};
use serde::{Deserialize, Serialize};

use crate::block::BlockHeader;
use crate::crypto::Hash32;
use crate::engine::signing::Signature;
use crate::engine::types::{Address, BlockHash, Height};
use crate::merkle::PathStep;
use crate::proof::TxProof;
use crate::tx::Tx;

/// The document's format name.
pub const FORMAT: &str = "consort-tx-proof-v1";

/// An inclusion proof as JSON.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TxProofJson {
    /// Always [`FORMAT`].
    pub format: String,
    /// The signed transaction's canonical bytes (hex).
    pub tx: String,
    /// Its hash (hex), for reference; checked against `tx`.
    pub tx_hash: String,
    /// Its index in the block.
    pub index: u32,
    /// The Merkle path from the transaction's leaf to the header's `tx_root`.
    pub path: Vec<PathStepJson>,
    /// The block header.
    pub header: HeaderJson,
    /// The validators' precommits for the header's hash.
    pub certificate: CertificateJson,
}

/// One Merkle step.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PathStepJson {
    /// The sibling hash (hex).
    pub sibling: String,
    /// Whether the sibling is on the left.
    pub sibling_is_left: bool,
}

/// A block header.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeaderJson {
    /// The consortium's chain id.
    pub chain_id: String,
    /// Height.
    pub height: u64,
    /// Proposer's time, Unix milliseconds.
    pub time_ms: u64,
    /// The proposing validator's address (hex).
    pub proposer: String,
    /// The previous header's hash (hex).
    pub prev_hash: String,
    /// Merkle root of the transactions (hex).
    pub tx_root: String,
    /// Number of transactions.
    pub tx_count: u32,
    /// App hash after the previous block (hex).
    pub app_hash: String,
}

/// A commit certificate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertificateJson {
    /// The decided height.
    pub height: u64,
    /// The deciding round.
    pub round: u32,
    /// The decided header's hash (hex).
    pub value_id: String,
    /// The precommit signatures.
    pub signatures: Vec<SignatureJson>,
}

/// One validator's precommit signature.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignatureJson {
    /// The validator's address (hex).
    pub address: String,
    /// Its Ed25519 signature over the precommit (hex).
    pub signature: String,
}

/// Why a JSON document is not a proof.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProofJsonError {
    /// Unknown format name.
    #[error("not a {FORMAT} document (format {0:?})")]
    Format(String),
    /// A field that does not decode.
    #[error("field {field}: {reason}")]
    Field {
        /// Which field.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
}

fn bytes<const N: usize>(field: &'static str, text: &str) -> Result<[u8; N], ProofJsonError> {
    let raw = hex::decode(text).map_err(|e| ProofJsonError::Field {
        field,
        reason: e.to_string(),
    })?;
    // Hex is written lowercase; an upper-case copy of the same bytes is refused, so that the
    // document has one spelling.
    if hex::encode(&raw) != text {
        return Err(ProofJsonError::Field {
            field,
            reason: "not lowercase hex".into(),
        });
    }
    raw.try_into().map_err(|_| ProofJsonError::Field {
        field,
        reason: format!("expected {N} bytes"),
    })
}

impl From<&TxProof> for TxProofJson {
    fn from(p: &TxProof) -> Self {
        let h = &p.header;
        let c = &p.certificate;
        Self {
            format: FORMAT.into(),
            tx: hex::encode(borsh::to_vec(&p.tx).expect("writing to a Vec cannot fail")),
            tx_hash: p.tx.hash().to_string(),
            index: p.index,
            path: p
                .path
                .iter()
                .map(|s| PathStepJson {
                    sibling: hex::encode(s.sibling),
                    sibling_is_left: s.sibling_is_left,
                })
                .collect(),
            header: HeaderJson {
                chain_id: h.chain_id.clone(),
                height: h.height,
                time_ms: h.time_ms,
                proposer: hex::encode(h.proposer.0),
                prev_hash: hex::encode(h.prev_hash),
                tx_root: hex::encode(h.tx_root),
                tx_count: h.tx_count,
                app_hash: hex::encode(h.app_hash),
            },
            certificate: CertificateJson {
                height: c.height.0,
                round: c.round.as_u32().unwrap_or(0),
                value_id: hex::encode(c.value_id.0),
                signatures: c
                    .commit_signatures
                    .iter()
                    .map(|s| SignatureJson {
                        address: hex::encode(s.address.0),
                        signature: hex::encode(s.signature.0),
                    })
                    .collect(),
            },
        }
    }
}

impl TryFrom<&TxProofJson> for TxProof {
    type Error = ProofJsonError;

    fn try_from(j: &TxProofJson) -> Result<Self, ProofJsonError> {
        if j.format != FORMAT {
            return Err(ProofJsonError::Format(j.format.clone()));
        }
        let tx_bytes = hex::decode(&j.tx).map_err(|e| ProofJsonError::Field {
            field: "tx",
            reason: e.to_string(),
        })?;
        let tx: Tx = borsh::from_slice(&tx_bytes).map_err(|e| ProofJsonError::Field {
            field: "tx",
            reason: e.to_string(),
        })?;
        if hex::encode(&tx_bytes) != j.tx
            || borsh::to_vec(&tx).expect("writing to a Vec cannot fail") != tx_bytes
        {
            return Err(ProofJsonError::Field {
                field: "tx",
                reason: "not the canonical encoding".into(),
            });
        }
        if tx.hash().to_string() != j.tx_hash {
            return Err(ProofJsonError::Field {
                field: "tx_hash",
                reason: "is not the transaction's hash".into(),
            });
        }
        let path = j
            .path
            .iter()
            .map(|s| {
                Ok(PathStep {
                    sibling: bytes::<32>("path.sibling", &s.sibling)?,
                    sibling_is_left: s.sibling_is_left,
                })
            })
            .collect::<Result<Vec<_>, ProofJsonError>>()?;
        let h = &j.header;
        let header = BlockHeader {
            chain_id: h.chain_id.clone(),
            height: h.height,
            time_ms: h.time_ms,
            proposer: Address(bytes::<20>("header.proposer", &h.proposer)?),
            prev_hash: bytes::<32>("header.prev_hash", &h.prev_hash)?,
            tx_root: bytes::<32>("header.tx_root", &h.tx_root)?,
            tx_count: h.tx_count,
            app_hash: bytes::<32>("header.app_hash", &h.app_hash)?,
        };
        let c = &j.certificate;
        let commit_signatures = c
            .signatures
            .iter()
            .map(|s| {
                Ok(CommitSignature::new(
                    Address(bytes::<20>("certificate.address", &s.address)?),
                    Signature(bytes::<64>("certificate.signature", &s.signature)?),
                ))
            })
            .collect::<Result<Vec<_>, ProofJsonError>>()?;
        let value_id: Hash32 = bytes::<32>("certificate.value_id", &c.value_id)?;
        Ok(TxProof {
            tx,
            index: j.index,
            path,
            header,
            certificate: CommitCertificate {
                height: Height(c.height),
                round: Round::new(c.round),
                value_id: BlockHash(value_id),
                commit_signatures,
            },
        })
    }
}
