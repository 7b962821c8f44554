//! The hook through which the application executes committed blocks, so that its outcome
//! enters the next block's `app_hash` (docs/architecture.md, "Validation, rejections and
//! the app hash").

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::block::Block;
use crate::crypto::{Hash32, sha256};
use crate::store::PayloadKeeper;

/// A boxed future, for an object-safe async trait.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What executing a block gave.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Executed {
    /// The digest of the block's outcome, which enters the app hash.
    pub outcome: Hash32,
    /// The transactions (by index in the block) whose payloads the application now keeps
    /// byte for byte in its own tables, so that the stored block need not hold them a second
    /// time; its [`PayloadKeeper`] hands them back when the block is read.
    pub kept: Vec<u32>,
}

impl Executed {
    /// An outcome whose payloads all stay in the stored block.
    pub fn outcome(outcome: Hash32) -> Self {
        Self {
            outcome,
            kept: Vec::new(),
        }
    }
}

/// Executes each committed block in chain order and returns a digest of its outcome (which
/// records were accepted or rejected). It must be deterministic (every node's executor
/// returns the same digest for the same block) and idempotent per height: after a crash
/// the chain may hand it a block it already executed, and it must return the same digest.
pub trait BlockExecutor: Send + Sync + 'static {
    /// Executes `block`; an error stops the node from advancing (it retries the height).
    fn execute<'a>(&'a self, block: &'a Block) -> BoxFuture<'a, Result<Executed, String>>;

    /// Where the payloads this executor reports as [`Executed::kept`] are read back from;
    /// without one, the store keeps every payload itself.
    fn payload_keeper(&self) -> Option<Arc<dyn PayloadKeeper>> {
        None
    }
}

/// The executor of a bare ledger: every transaction is accepted; the digest commits to
/// the number of transactions.
pub struct AcceptAll;

impl BlockExecutor for AcceptAll {
    fn execute<'a>(&'a self, block: &'a Block) -> BoxFuture<'a, Result<Executed, String>> {
        let count = block.txs.len() as u64;
        Box::pin(async move {
            Ok(Executed::outcome(sha256(&[
                b"consort-accept-all",
                &count.to_be_bytes(),
            ])))
        })
    }
}
