//! Inclusion proofs: a transaction, its Merkle path to the block's `tx_root`, the block
//! header and the commit certificate, checked by [`verify`] against the genesis alone.

use std::collections::BTreeSet;

use borsh::{BorshDeserialize, BorshSerialize};
use malachitebft_core_types::{CommitCertificate, NilOrVal, VoteType};

use crate::block::BlockHeader;
use crate::engine::context::ConsortContext;
use crate::engine::types::{Height, Vote};
use crate::genesis::Genesis;
use crate::merkle::{self, PathStep};
use crate::tx::Tx;

/// Proof that `tx` was committed in the block with `header`.
#[derive(Clone, Debug, BorshSerialize, BorshDeserialize)]
pub struct TxProof {
    /// The signed transaction.
    pub tx: Tx,
    /// Its index in the block.
    pub index: u32,
    /// Its Merkle path.
    pub path: Vec<PathStep>,
    /// The block header.
    pub header: BlockHeader,
    /// The validators' commit certificate for the header's hash.
    pub certificate: CommitCertificate<ConsortContext>,
}

impl TxProof {
    /// Canonical bytes of the proof, to hand to an auditor.
    pub fn encode(&self) -> Vec<u8> {
        borsh::to_vec(self).expect("writing to a Vec cannot fail")
    }

    /// Decodes proof bytes.
    pub fn decode(bytes: &[u8]) -> Result<Self, std::io::Error> {
        borsh::from_slice(bytes)
    }
}

/// Why a proof does not verify.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    /// The transaction itself is not validly signed by a member.
    #[error("transaction: {0}")]
    Tx(String),
    /// The path does not lead to the header's tx root.
    #[error("Merkle path does not lead to the block's transaction root")]
    Path,
    /// The certificate is for another block or height.
    #[error("certificate does not certify this header")]
    CertificateMismatch,
    /// Signatures are invalid, duplicated, or from non-validators.
    #[error("certificate signature invalid: {0}")]
    BadSignature(String),
    /// Valid signatures do not reach more than two thirds of voting power.
    #[error("certificate has {got} of {total} voting power; more than two thirds needed")]
    NoQuorum {
        /// Power of valid signatures.
        got: u64,
        /// Total power.
        total: u64,
    },
}

/// Checks a proof using only the genesis: the tx's signature, the Merkle path, and that
/// more than two thirds of the validators precommitted the header's hash.
pub fn verify(proof: &TxProof, genesis: &Genesis) -> Result<(), ProofError> {
    proof
        .tx
        .check(genesis)
        .map_err(|e| ProofError::Tx(e.to_string()))?;
    if proof.header.chain_id != genesis.chain_id {
        return Err(ProofError::CertificateMismatch);
    }
    let sides: Vec<bool> = proof.path.iter().map(|s| s.sibling_is_left).collect();
    if merkle::path_shape(proof.index as usize, proof.header.tx_count as usize) != Some(sides) {
        return Err(ProofError::Path);
    }
    if merkle::root_from_path(proof.tx.leaf(), &proof.path) != proof.header.tx_root {
        return Err(ProofError::Path);
    }
    verify_certificate(&proof.certificate, &proof.header, genesis)
}

/// Checks that `cert` certifies `header`: more than two thirds of the genesis validators'
/// voting power precommitted the header's hash at its height, each signature valid and
/// counted once.
pub fn verify_certificate(
    cert: &CommitCertificate<ConsortContext>,
    header: &BlockHeader,
    genesis: &Genesis,
) -> Result<(), ProofError> {
    if cert.value_id != header.hash() || cert.height != Height(header.height) {
        return Err(ProofError::CertificateMismatch);
    }
    let validators = genesis.validator_set();
    let total: u64 = validators.validators.iter().map(|v| v.voting_power).sum();
    let mut seen = BTreeSet::new();
    let mut got = 0u64;
    for sig in &cert.commit_signatures {
        let validator = validators
            .validators
            .iter()
            .find(|v| v.address == sig.address)
            .ok_or_else(|| {
                ProofError::BadSignature(format!("{} is not a validator", sig.address))
            })?;
        if !seen.insert(sig.address) {
            return Err(ProofError::BadSignature(format!(
                "{} signed twice",
                sig.address
            )));
        }
        let vote = Vote::new(
            cert.height,
            cert.round,
            NilOrVal::Val(cert.value_id),
            VoteType::Precommit,
            sig.address,
        );
        if !sig
            .signature
            .verify(&validator.public_key, &vote.to_sign_bytes())
        {
            return Err(ProofError::BadSignature(format!(
                "{}'s precommit signature does not verify",
                sig.address
            )));
        }
        got += validator.voting_power;
    }
    if got * 3 <= total * 2 {
        return Err(ProofError::NoQuorum { got, total });
    }
    Ok(())
}
