//! `consort-chain`: the permissioned ledger under Consort. Organisations' nodes replicate
//! one chain of signed transactions ordered by Malachite BFT over libp2p. This crate knows
//! nothing about Matrix: it moves opaque payloads.

pub mod bench;
pub mod block;
pub mod crypto;
pub mod engine;
pub mod executor;
pub mod genesis;
pub(crate) mod gossip;
pub mod local;
pub mod mempool;
pub mod merkle;
pub mod node;
pub mod peers;
pub mod proof;
pub mod proof_json;
pub mod store;
pub mod test_postgres;
pub mod testnet;
pub mod tx;

pub use block::{Block, BlockHeader, Tip};
pub use executor::{AcceptAll, BlockExecutor, Executed};
pub use genesis::{ChainParams, Genesis, OrgEntry};
pub use node::{
    ChainNode, ListenAddrs, LoopState, NodeConfig, Receipt, Status, SubmitError, Tuning,
};
pub use proof::{ProofError, TxProof, verify};
pub use tx::{Tx, TxError, TxHash};
