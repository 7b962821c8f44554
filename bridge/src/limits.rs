//! The limits the bridge relies on, checked against the genesis when a node starts: a
//! genesis that let blocks exceed them would make every node fail the same commit and retry
//! it forever, so it is refused at start with a clear error instead.

use consort_chain::Genesis;

use crate::position::MAX_BLOCK_TXS;

/// The smallest `max_tx_bytes` that holds one largest Matrix event (64 KiB of PDU) with the
/// record's framing, so that no valid event is too large for the ledger.
pub const MIN_TX_BYTES: usize = 65_536 + 4_096;

/// Why a genesis does not fit the bridge.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum GenesisLimitError {
    /// Blocks could hold more transactions than ledger positions can tell apart.
    #[error(
        "the genesis allows {allowed} transactions per block (params.max_block_txs), the bridge at most {MAX_BLOCK_TXS}"
    )]
    TooManyTxsPerBlock {
        /// The genesis' `max_block_txs`.
        allowed: usize,
    },
    /// A largest Matrix event would not fit in one transaction.
    #[error(
        "the genesis allows transactions of {allowed} bytes (params.max_tx_bytes); a Matrix event needs {MIN_TX_BYTES}"
    )]
    TxTooSmall {
        /// The genesis' `max_tx_bytes`.
        allowed: usize,
    },
}

/// Checks the genesis' chain parameters against the bridge's limits.
pub fn check_genesis(genesis: &Genesis) -> Result<(), GenesisLimitError> {
    let p = &genesis.params;
    if p.max_block_txs > MAX_BLOCK_TXS {
        return Err(GenesisLimitError::TooManyTxsPerBlock {
            allowed: p.max_block_txs,
        });
    }
    if p.max_tx_bytes < MIN_TX_BYTES {
        return Err(GenesisLimitError::TxTooSmall {
            allowed: p.max_tx_bytes,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use consort_chain::local::{free_local_ports, local_consortium};

    #[test]
    fn the_default_genesis_fits_and_bad_limits_are_named() {
        let (mut genesis, _) = local_consortium("t", &free_local_ports(1).unwrap());
        assert_eq!(check_genesis(&genesis), Ok(()));
        genesis.params.max_block_txs = MAX_BLOCK_TXS + 1;
        let e = check_genesis(&genesis).unwrap_err();
        assert!(e.to_string().contains("max_block_txs"), "{e}");
        genesis.params.max_block_txs = MAX_BLOCK_TXS;
        genesis.params.max_tx_bytes = 1024;
        let e = check_genesis(&genesis).unwrap_err();
        assert!(e.to_string().contains("max_tx_bytes"), "{e}");
    }
}
