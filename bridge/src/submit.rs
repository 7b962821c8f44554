//! Submitting a record and learning its fate: committed and accepted, or the reason every
//! node rejected it.

use consort_chain::{ChainNode, Receipt, SubmitError};

use crate::apply::Bridge;
use crate::records::Record;
use crate::rejection::Rejection;

/// Why a record did not take effect.
#[derive(Debug, thiserror::Error)]
pub enum BridgeError {
    /// The chain refused the transaction or the node stopped.
    #[error(transparent)]
    Chain(#[from] SubmitError),
    /// Committed, but the consortium's rules rejected it (the same way on every node).
    #[error("rejected by the consortium: {0}")]
    Rejected(Rejection),
    /// The projection could not be read.
    #[error("projection error: {0}")]
    Db(#[from] sqlx::Error),
    /// The block was committed but its outcome is missing (should not happen).
    #[error("no outcome recorded for {0:?}")]
    MissingOutcome(Receipt),
}

/// Submits `record` as this node's organisation and waits until it is committed and applied.
pub async fn submit_record(
    node: &ChainNode,
    bridge: &Bridge,
    record: &Record,
) -> Result<Receipt, BridgeError> {
    let receipt = node.submit(record.encode()).await?;
    match bridge.outcome(receipt.height, receipt.index).await? {
        Some(Ok(())) => Ok(receipt),
        Some(Err(reason)) => Err(BridgeError::Rejected(reason)),
        None => Err(BridgeError::MissingOutcome(receipt)),
    }
}
