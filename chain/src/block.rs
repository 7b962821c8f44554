//! Blocks: a header chained to its predecessor, the ordered transactions, and the checks
//! every validator makes before voting for a proposed block.

use std::collections::HashSet;

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

use crate::crypto::{Hash32, sha256};
use crate::engine::types::{Address, BlockHash};
use crate::genesis::Genesis;
use crate::merkle;
use crate::tx::{Tx, TxError, TxHash};

/// A block header. Its hash is the value consensus decides on.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct BlockHeader {
    /// The consortium's chain id.
    pub chain_id: String,
    /// Height, from 1.
    pub height: u64,
    /// Proposer's time in Unix milliseconds, never earlier than the previous block's.
    pub time_ms: u64,
    /// The proposing validator.
    pub proposer: Address,
    /// Hash of the previous header (zero for height 1).
    pub prev_hash: Hash32,
    /// Merkle root of the transactions' leaves.
    pub tx_root: Hash32,
    /// Number of transactions.
    pub tx_count: u32,
    /// The application's state hash after executing every block before this one
    /// (docs/architecture.md, "Validation, rejections and the app hash"): a node whose
    /// application diverges sees it at the next block.
    pub app_hash: Hash32,
}

impl BlockHeader {
    /// The header hash, which identifies the block.
    pub fn hash(&self) -> BlockHash {
        let bytes = borsh::to_vec(self).expect("writing to a Vec cannot fail");
        BlockHash(sha256(&[b"consort-block", &bytes]))
    }
}

/// A block: header and transactions.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Block {
    /// The header.
    pub header: BlockHeader,
    /// Transactions in ledger order.
    pub txs: Vec<Tx>,
}

impl Block {
    /// The block's identity.
    pub fn hash(&self) -> BlockHash {
        self.header.hash()
    }

    /// Canonical encoding, as stored and sent.
    pub fn encode(&self) -> Vec<u8> {
        borsh::to_vec(self).expect("writing to a Vec cannot fail")
    }

    /// Decodes a block; malformed bytes are an error, never a panic.
    pub fn decode(bytes: &[u8]) -> Result<Self, std::io::Error> {
        borsh::from_slice(bytes)
    }

    /// Merkle root over these transactions.
    pub fn compute_tx_root(txs: &[Tx]) -> Hash32 {
        let leaves: Vec<Hash32> = txs.iter().map(Tx::leaf).collect();
        merkle::root(&leaves)
    }
}

/// What a block is checked against: the committed tip it must extend.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tip {
    /// Height of the last committed block (0 before the first).
    pub height: u64,
    /// Its hash (zero before the first).
    pub hash: Hash32,
    /// Its time (genesis time before the first).
    pub time_ms: u64,
    /// App hash after executing it (genesis hash before the first).
    pub app_hash: Hash32,
}

/// Why a proposed block is refused.
#[derive(Debug, thiserror::Error)]
pub enum BlockError {
    /// Header fields that do not extend the tip.
    #[error("bad header: {0}")]
    Header(String),
    /// The block breaks a consortium limit.
    #[error("block too large: {0}")]
    TooLarge(String),
    /// The transaction root does not match the transactions.
    #[error("transaction root mismatch")]
    TxRoot,
    /// A transaction appears twice.
    #[error("duplicate transaction {0}")]
    Duplicate(TxHash),
    /// A transaction is invalid.
    #[error("transaction {index}: {error}")]
    Tx {
        /// Position in the block.
        index: usize,
        /// The refusal.
        error: TxError,
    },
}

/// Deterministic validity check of `block` as the successor of `tip`, proposed by `proposer`.
/// `is_committed` answers whether a tx hash is already on the chain; `already_verified`
/// lets the caller skip signature checks for transactions it verified on admission.
pub fn validate_block(
    block: &Block,
    tip: &Tip,
    proposer: &Address,
    genesis: &Genesis,
    is_committed: &dyn Fn(&TxHash) -> bool,
    already_verified: &dyn Fn(&Tx) -> bool,
) -> Result<(), BlockError> {
    let h = &block.header;
    let header_err = |m: String| Err(BlockError::Header(m));
    if h.chain_id != genesis.chain_id {
        return header_err(format!(
            "chain id {} is not {}",
            h.chain_id, genesis.chain_id
        ));
    }
    if h.height != tip.height + 1 {
        return header_err(format!(
            "height {} does not follow {}",
            h.height, tip.height
        ));
    }
    if h.prev_hash != tip.hash {
        return header_err("previous hash does not match the committed tip".into());
    }
    if h.app_hash != tip.app_hash {
        return header_err("app hash differs from ours: application state diverged".into());
    }
    if h.time_ms < tip.time_ms {
        return header_err("time goes backwards".into());
    }
    if &h.proposer != proposer {
        return header_err("proposer field is not the round's proposer".into());
    }
    if h.tx_count as usize != block.txs.len() {
        return header_err("tx_count does not match".into());
    }
    if block.txs.len() > genesis.params.max_block_txs {
        return Err(BlockError::TooLarge(format!(
            "{} transactions, limit {}",
            block.txs.len(),
            genesis.params.max_block_txs
        )));
    }
    let bytes: usize = block.txs.iter().map(Tx::encoded_len).sum();
    if bytes > genesis.params.max_block_bytes {
        return Err(BlockError::TooLarge(format!(
            "{bytes} bytes, limit {}",
            genesis.params.max_block_bytes
        )));
    }
    if Block::compute_tx_root(&block.txs) != h.tx_root {
        return Err(BlockError::TxRoot);
    }
    let mut seen = HashSet::with_capacity(block.txs.len());
    for (index, tx) in block.txs.iter().enumerate() {
        let hash = if already_verified(tx) {
            tx.hash()
        } else {
            tx.check(genesis)
                .map_err(|error| BlockError::Tx { index, error })?
        };
        if !seen.insert(hash) {
            return Err(BlockError::Duplicate(hash));
        }
        if is_committed(&hash) {
            return Err(BlockError::Tx {
                index,
                error: TxError::Replayed(hash),
            });
        }
    }
    Ok(())
}

/// The app hash after executing a block: chains the previous app hash, the block hash and
/// the application's outcome digest for the block.
pub fn next_app_hash(prev_app_hash: &Hash32, block_hash: &BlockHash, outcome: &Hash32) -> Hash32 {
    sha256(&[b"consort-app-hash", prev_app_hash, &block_hash.0, outcome])
}
