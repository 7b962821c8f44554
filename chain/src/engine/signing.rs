//! Ed25519 signing of consensus messages (votes, proposals, validator proofs) with
//! ed25519-dalek, behind Malachite's `SigningScheme`, `Signer` and `Verifier` traits.

use async_trait::async_trait;
use borsh::{BorshDeserialize, BorshSerialize};
use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use malachitebft_core_types::{SignedMessage, SigningScheme, ValidatorProof, VoteExtensionScope};
use malachitebft_signing::{Error as SigningError, Signer, VerificationResult, Verifier};

use super::context::ConsortContext;
use super::types::{Proposal, Vote};

/// An ed25519 signature in a form Malachite can order and serialize.
#[derive(Copy, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, BorshSerialize, BorshDeserialize)]
pub struct Signature(pub [u8; 64]);

impl std::fmt::Debug for Signature {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Signature({}..)", hex::encode(&self.0[..8]))
    }
}

impl Signature {
    /// Signs `msg` with `key`.
    pub fn sign(key: &SigningKey, msg: &[u8]) -> Self {
        Signature(key.sign(msg).to_bytes())
    }

    /// Strict ed25519 verification of `msg` under `key`.
    pub fn verify(&self, key: &VerifyingKey, msg: &[u8]) -> bool {
        key.verify_strict(msg, &ed25519_dalek::Signature::from_bytes(&self.0))
            .is_ok()
    }
}

/// The error for undecodable keys or signatures.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct DecodingError(String);

/// Consort's signing scheme: plain ed25519.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ed25519Scheme;

impl SigningScheme for Ed25519Scheme {
    type DecodingError = DecodingError;
    type Signature = Signature;
    type PublicKey = VerifyingKey;
    type PrivateKey = SigningKey;

    fn decode_signature(bytes: &[u8]) -> Result<Signature, DecodingError> {
        let arr: [u8; 64] = bytes
            .try_into()
            .map_err(|_| DecodingError("an ed25519 signature is 64 bytes".into()))?;
        Ok(Signature(arr))
    }

    fn encode_signature(signature: &Signature) -> Vec<u8> {
        signature.0.to_vec()
    }

    fn decode_public_key(bytes: &[u8]) -> Result<VerifyingKey, DecodingError> {
        let arr: [u8; 32] = bytes
            .try_into()
            .map_err(|_| DecodingError("an ed25519 public key is 32 bytes".into()))?;
        VerifyingKey::from_bytes(&arr).map_err(|e| DecodingError(e.to_string()))
    }

    fn encode_public_key(public_key: &VerifyingKey) -> Vec<u8> {
        public_key.to_bytes().to_vec()
    }
}

fn extension_sign_bytes(scope: &VoteExtensionScope<ConsortContext>) -> Vec<u8> {
    let mut out = b"consort-vote-extension".to_vec();
    borsh::to_writer(
        &mut out,
        &(
            scope.height,
            scope.round,
            scope.value_id,
            scope.validator_address,
        ),
    )
    .expect("writing to a Vec cannot fail");
    out
}

fn validator_proof_sign_bytes(public_key: &[u8], peer_id: &[u8]) -> Vec<u8> {
    let mut out = b"consort-validator-proof".to_vec();
    borsh::to_writer(&mut out, &(public_key, peer_id)).expect("writing to a Vec cannot fail");
    out
}

/// Signs this validator's consensus messages with its validator key.
pub struct ConsensusSigner {
    key: SigningKey,
}

impl ConsensusSigner {
    /// A signer holding the validator key.
    pub fn new(key: SigningKey) -> Self {
        Self { key }
    }
}

#[async_trait]
impl Signer<ConsortContext> for ConsensusSigner {
    async fn sign_vote(
        &self,
        vote: Vote,
    ) -> Result<SignedMessage<ConsortContext, Vote>, SigningError> {
        let signature = Signature::sign(&self.key, &vote.to_sign_bytes());
        Ok(SignedMessage::new(vote, signature))
    }

    async fn sign_proposal(
        &self,
        proposal: Proposal,
    ) -> Result<SignedMessage<ConsortContext, Proposal>, SigningError> {
        let signature = Signature::sign(&self.key, &proposal.to_sign_bytes());
        Ok(SignedMessage::new(proposal, signature))
    }

    async fn sign_vote_extension(
        &self,
        scope: VoteExtensionScope<ConsortContext>,
        extension: (),
    ) -> Result<SignedMessage<ConsortContext, ()>, SigningError> {
        let signature = Signature::sign(&self.key, &extension_sign_bytes(&scope));
        Ok(SignedMessage::new(extension, signature))
    }

    async fn sign_validator_proof(
        &self,
        public_key: Vec<u8>,
        peer_id: Vec<u8>,
    ) -> Result<ValidatorProof<ConsortContext>, SigningError> {
        let signature = Signature::sign(
            &self.key,
            &validator_proof_sign_bytes(&public_key, &peer_id),
        );
        Ok(ValidatorProof::new(public_key, peer_id, signature))
    }
}

/// Verifies other validators' consensus messages.
#[derive(Clone, Copy, Default)]
pub struct ConsensusVerifier;

#[async_trait]
impl Verifier<ConsortContext> for ConsensusVerifier {
    async fn verify_signed_vote(
        &self,
        vote: &Vote,
        signature: &Signature,
        public_key: &VerifyingKey,
    ) -> Result<VerificationResult, SigningError> {
        Ok(VerificationResult::from_bool(
            signature.verify(public_key, &vote.to_sign_bytes()),
        ))
    }

    async fn verify_signed_proposal(
        &self,
        proposal: &Proposal,
        signature: &Signature,
        public_key: &VerifyingKey,
    ) -> Result<VerificationResult, SigningError> {
        Ok(VerificationResult::from_bool(
            signature.verify(public_key, &proposal.to_sign_bytes()),
        ))
    }

    async fn verify_signed_vote_extension(
        &self,
        scope: &VoteExtensionScope<ConsortContext>,
        _extension: &(),
        signature: &Signature,
        public_key: &VerifyingKey,
    ) -> Result<VerificationResult, SigningError> {
        Ok(VerificationResult::from_bool(
            signature.verify(public_key, &extension_sign_bytes(scope)),
        ))
    }

    async fn verify_validator_proof(
        &self,
        proof: &ValidatorProof<ConsortContext>,
    ) -> Result<VerificationResult, SigningError> {
        let Ok(key) = Ed25519Scheme::decode_public_key(&proof.public_key) else {
            return Ok(VerificationResult::Invalid);
        };
        Ok(VerificationResult::from_bool(proof.signature.verify(
            &key,
            &validator_proof_sign_bytes(&proof.public_key, &proof.peer_id),
        )))
    }
}
