//! Ledger positions as one integer: `height << 23 | index in the block << 8 | index in the
//! record`. Timelines, receipts, aliases and `/sync` tokens are ordered by it, the same way on
//! every node; the last part orders the events of one batch record (a new room's first events).

/// Bits of a position below the block height.
const HEIGHT_SHIFT: u32 = 23;

/// Bits of a position below the transaction index.
const INDEX_SHIFT: u32 = 8;

/// The most transactions a block may hold for its positions to stay distinct.
pub const MAX_BLOCK_TXS: usize = 1 << (HEIGHT_SHIFT - INDEX_SHIFT);

/// The most events one batch record may hold.
pub const MAX_BATCH_EVENTS: usize = 1 << INDEX_SHIFT;

/// The position of event `sub` of the transaction at (height, index).
pub fn position_of(height: u64, index: u32, sub: u32) -> i64 {
    ((height << HEIGHT_SHIFT) | (u64::from(index) << INDEX_SHIFT) | u64::from(sub)) as i64
}

/// The position of the transaction at (height, index).
pub fn position(height: u64, index: u32) -> i64 {
    position_of(height, index, 0)
}

/// The first position after every transaction of block `height` (and before block
/// `height + 1`): events with `pos < end_of(height)` are exactly those up to that block.
pub fn end_of(height: u64) -> i64 {
    position(height + 1, 0)
}

/// The height a position belongs to.
pub fn height_of(pos: i64) -> u64 {
    (pos as u64) >> HEIGHT_SHIFT
}

/// The index in its record of the event at a position (0 but in a batch record).
pub fn sub_of(pos: i64) -> u32 {
    ((pos as u64) & ((1 << INDEX_SHIFT) - 1)) as u32
}

/// The index in its block of the transaction a position belongs to.
pub fn index_of(pos: i64) -> u32 {
    (((pos as u64) >> INDEX_SHIFT) & ((1 << (HEIGHT_SHIFT - INDEX_SHIFT)) - 1)) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_order_like_the_ledger() {
        assert!(position(1, 5) < position(2, 0));
        assert!(position(2, 0) < position_of(2, 0, 1));
        assert!(position_of(2, 0, 255) < position(2, 1));
        assert!(position_of(7, MAX_BLOCK_TXS as u32 - 1, 255) < end_of(7));
        assert_eq!(end_of(7), position(8, 0));
        assert_eq!(height_of(position_of(9, 3, 4)), 9);
        assert_eq!(index_of(position_of(9, 3, 4)), 3);
        assert_eq!(
            index_of(position(9, MAX_BLOCK_TXS as u32 - 1)),
            MAX_BLOCK_TXS as u32 - 1
        );
    }
}
