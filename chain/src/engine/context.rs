//! `ConsortContext`: the Malachite `Context` tying our consensus types together.

use malachitebft_core_types::{Context, LinearTimeouts, NilOrVal, Round, VoteType};

use super::signing::Ed25519Scheme;
use super::types::{
    Address, BlockHash, Height, Proposal, ProposalPart, Validator, ValidatorSet, Vote,
};

/// The consensus context of the Consort ledger.
#[derive(Clone, Copy, Debug, Default)]
pub struct ConsortContext;

impl Context for ConsortContext {
    type Address = Address;
    type Height = Height;
    type ProposalPart = ProposalPart;
    type Proposal = Proposal;
    type Validator = Validator;
    type ValidatorSet = ValidatorSet;
    type Timeouts = LinearTimeouts;
    type Value = BlockHash;
    type Vote = Vote;
    type Extension = ();
    type SigningScheme = Ed25519Scheme;

    /// Round-robin over the address-sorted validator set, shifted by height and round, so a
    /// dead proposer is skipped in the next round.
    fn select_proposer<'a>(
        &self,
        validator_set: &'a ValidatorSet,
        height: Height,
        round: Round,
    ) -> &'a Validator {
        let n = validator_set.validators.len() as u64;
        assert!(n > 0, "the validator set is never empty");
        let round = u64::from(round.as_u32().unwrap_or(0));
        let index = (height.0.wrapping_sub(1).wrapping_add(round)) % n;
        &validator_set.validators[index as usize]
    }

    fn new_proposal(
        &self,
        height: Height,
        round: Round,
        value: BlockHash,
        pol_round: Round,
        address: Address,
    ) -> Proposal {
        Proposal {
            height,
            round,
            value,
            pol_round,
            validator_address: address,
        }
    }

    fn new_prevote(
        &self,
        height: Height,
        round: Round,
        value_id: NilOrVal<BlockHash>,
        address: Address,
    ) -> Vote {
        Vote::new(height, round, value_id, VoteType::Prevote, address)
    }

    fn new_precommit(
        &self,
        height: Height,
        round: Round,
        value_id: NilOrVal<BlockHash>,
        address: Address,
    ) -> Vote {
        Vote::new(height, round, value_id, VoteType::Precommit, address)
    }
}
