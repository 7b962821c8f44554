//! The consensus-level types of our Malachite `Context`: heights, validator addresses,
//! the proposed value (a block hash), votes, proposals and proposal parts.

use std::fmt;

use borsh::{BorshDeserialize, BorshSerialize};
use ed25519_dalek::VerifyingKey;
use malachitebft_core_types as core;
use malachitebft_core_types::{NilOrVal, Round, SignedExtension, VoteType};
use serde::{Deserialize, Serialize};

use super::context::ConsortContext;
use super::signing::Signature;
use crate::crypto::{Hash32, sha256};

/// A block height; the first block is height 1.
#[derive(
    Copy,
    Clone,
    Default,
    Debug,
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
pub struct Height(pub u64);

impl fmt::Display for Height {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl core::Height for Height {
    const ZERO: Self = Height(0);
    const INITIAL: Self = Height(1);

    fn increment_by(&self, n: u64) -> Self {
        Height(self.0.saturating_add(n))
    }

    fn decrement_by(&self, n: u64) -> Option<Self> {
        self.0.checked_sub(n).map(Height)
    }

    fn as_u64(&self) -> u64 {
        self.0
    }
}

/// A validator's address: the first 20 bytes of SHA-256 of its consensus public key.
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
pub struct Address(pub [u8; 20]);

impl Address {
    /// Derives the address of a consensus public key.
    pub fn from_public_key(key: &VerifyingKey) -> Self {
        let digest = sha256(&[b"consort-validator-address", key.as_bytes()]);
        let mut out = [0u8; 20];
        out.copy_from_slice(&digest[..20]);
        Address(out)
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", hex::encode(self.0))
    }
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Address({})", hex::encode(self.0))
    }
}

impl core::Address for Address {}

/// The value consensus agrees on: the hash of a block header. The block itself travels
/// in proposal parts and in synced values; consensus messages only carry this hash.
#[derive(
    Copy,
    Clone,
    Default,
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
pub struct BlockHash(pub Hash32);

impl fmt::Display for BlockHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", hex::encode(self.0))
    }
}

impl fmt::Debug for BlockHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BlockHash({})", hex::encode(&self.0[..8]))
    }
}

impl core::Value for BlockHash {
    type Id = BlockHash;

    fn id(&self) -> BlockHash {
        *self
    }
}

/// A member of the validator set: one per organisation, with equal voting power.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Validator {
    /// Derived from `public_key`.
    pub address: Address,
    /// The consensus (validator) key from the genesis file.
    pub public_key: VerifyingKey,
    /// Voting power; every organisation has the same.
    pub voting_power: u64,
}

impl Validator {
    /// A validator with the given key and power.
    pub fn new(public_key: VerifyingKey, voting_power: u64) -> Self {
        Self {
            address: Address::from_public_key(&public_key),
            public_key,
            voting_power,
        }
    }
}

impl core::Validator<ConsortContext> for Validator {
    fn address(&self) -> &Address {
        &self.address
    }

    fn public_key(&self) -> &VerifyingKey {
        &self.public_key
    }

    fn voting_power(&self) -> u64 {
        self.voting_power
    }
}

/// The validator set, sorted by address so every node indexes it the same way.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidatorSet {
    /// Validators sorted by address.
    pub validators: Vec<Validator>,
}

impl ValidatorSet {
    /// Builds a set, sorting by address and dropping duplicate keys.
    pub fn new(validators: impl IntoIterator<Item = Validator>) -> Self {
        let mut validators: Vec<Validator> = validators.into_iter().collect();
        validators.sort_by_key(|v| v.address);
        validators.dedup_by_key(|v| v.address);
        Self { validators }
    }
}

impl core::ValidatorSet<ConsortContext> for ValidatorSet {
    fn count(&self) -> usize {
        self.validators.len()
    }

    fn total_voting_power(&self) -> u64 {
        self.validators.iter().map(|v| v.voting_power).sum()
    }

    fn get_by_address(&self, address: &Address) -> Option<&Validator> {
        self.validators
            .binary_search_by_key(address, |v| v.address)
            .ok()
            .map(|i| &self.validators[i])
    }

    fn get_by_index(&self, index: usize) -> Option<&Validator> {
        self.validators.get(index)
    }
}

/// A prevote or precommit.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Vote {
    /// Height voted on.
    pub height: Height,
    /// Round voted in.
    pub round: Round,
    /// The block hash voted for, or nil.
    pub value: NilOrVal<BlockHash>,
    /// Prevote or precommit.
    pub vote_type: VoteType,
    /// The voter.
    pub validator_address: Address,
    /// Unused by Consort (vote extensions are disabled) but part of Malachite's vote shape.
    pub extension: Option<SignedExtension<ConsortContext>>,
}

impl Vote {
    /// A vote without extension.
    pub fn new(
        height: Height,
        round: Round,
        value: NilOrVal<BlockHash>,
        vote_type: VoteType,
        validator_address: Address,
    ) -> Self {
        Self {
            height,
            round,
            value,
            vote_type,
            validator_address,
            extension: None,
        }
    }

    /// The bytes a validator signs: everything but the extension, domain-separated.
    pub fn to_sign_bytes(&self) -> Vec<u8> {
        let body = (
            self.height,
            self.round,
            self.value,
            self.vote_type,
            self.validator_address,
        );
        let mut out = b"consort-vote".to_vec();
        borsh::to_writer(&mut out, &body).expect("writing to a Vec cannot fail");
        out
    }
}

impl core::Vote<ConsortContext> for Vote {
    fn height(&self) -> Height {
        self.height
    }

    fn round(&self) -> Round {
        self.round
    }

    fn value(&self) -> &NilOrVal<BlockHash> {
        &self.value
    }

    fn take_value(self) -> NilOrVal<BlockHash> {
        self.value
    }

    fn vote_type(&self) -> VoteType {
        self.vote_type
    }

    fn validator_address(&self) -> &Address {
        &self.validator_address
    }

    fn extension(&self) -> Option<&SignedExtension<ConsortContext>> {
        self.extension.as_ref()
    }

    fn take_extension(&mut self) -> Option<SignedExtension<ConsortContext>> {
        self.extension.take()
    }

    fn extend(self, extension: SignedExtension<ConsortContext>) -> Self {
        Self {
            extension: Some(extension),
            ..self
        }
    }
}

/// A signed proposal of a block hash at a height and round.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Proposal {
    /// Height proposed for.
    pub height: Height,
    /// Round proposed in.
    pub round: Round,
    /// The proposed block's hash.
    pub value: BlockHash,
    /// Proof-of-lock round (Tendermint's valid round).
    pub pol_round: Round,
    /// The proposer.
    pub validator_address: Address,
}

impl Proposal {
    /// The bytes the proposer signs, domain-separated.
    pub fn to_sign_bytes(&self) -> Vec<u8> {
        let mut out = b"consort-proposal".to_vec();
        borsh::to_writer(&mut out, self).expect("writing to a Vec cannot fail");
        out
    }
}

impl core::Proposal<ConsortContext> for Proposal {
    fn height(&self) -> Height {
        self.height
    }

    fn round(&self) -> Round {
        self.round
    }

    fn value(&self) -> &BlockHash {
        &self.value
    }

    fn take_value(self) -> BlockHash {
        self.value
    }

    fn pol_round(&self) -> Round {
        self.pol_round
    }

    fn validator_address(&self) -> &Address {
        &self.validator_address
    }
}

/// The first part of a streamed proposal: who proposes what, where.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct ProposalInit {
    /// Height of the proposal.
    pub height: Height,
    /// Round of the proposal.
    pub round: Round,
    /// Proof-of-lock round.
    pub pol_round: Round,
    /// The proposer.
    pub proposer: Address,
}

/// One part of a streamed proposal. A block is sent as `Init`, then the encoded block in
/// `Data` chunks, then `Fin` with the proposer's signature over the whole stream's content.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum ProposalPart {
    /// Stream header.
    Init(ProposalInit),
    /// A chunk of the borsh-encoded block.
    Data(Vec<u8>),
    /// Proposer's signature over (init, block hash).
    Fin(Signature),
}

impl core::ProposalPart<ConsortContext> for ProposalPart {
    fn is_first(&self) -> bool {
        matches!(self, ProposalPart::Init(_))
    }

    fn is_last(&self) -> bool {
        matches!(self, ProposalPart::Fin(_))
    }
}

/// The bytes signed in a proposal's `Fin` part: binds the stream header to the block hash.
pub fn proposal_fin_sign_bytes(init: &ProposalInit, block_hash: &BlockHash) -> Vec<u8> {
    let mut out = b"consort-proposal-parts".to_vec();
    borsh::to_writer(&mut out, &(init, block_hash)).expect("writing to a Vec cannot fail");
    out
}
