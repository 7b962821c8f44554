//! The hook through which the application executes committed blocks, so that its outcome
//! enters the next block's `app_hash` (docs/architecture.md, "Validation, rejections and
//! the app hash").

use std::future::Future;
use std::pin::Pin;

use crate::block::Block;
use crate::crypto::{Hash32, sha256};

/// A boxed future, for an object-safe async trait.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Executes each committed block in chain order and returns a digest of its outcome (which
/// records were accepted or rejected). It must be deterministic (every node's executor
/// returns the same digest for the same block) and idempotent per height: after a crash
/// the chain may hand it a block it already executed, and it must return the same digest.
pub trait BlockExecutor: Send + Sync + 'static {
    /// Executes `block`; an error stops the node from advancing (it retries the height).
    fn execute<'a>(&'a self, block: &'a Block) -> BoxFuture<'a, Result<Hash32, String>>;
}

/// The executor of a bare ledger: every transaction is accepted; the digest commits to
/// the number of transactions.
pub struct AcceptAll;

impl BlockExecutor for AcceptAll {
    fn execute<'a>(&'a self, block: &'a Block) -> BoxFuture<'a, Result<Hash32, String>> {
        let count = block.txs.len() as u64;
        Box::pin(async move { Ok(sha256(&[b"consort-accept-all", &count.to_be_bytes()])) })
    }
}
