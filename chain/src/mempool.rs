//! The mempool: admitted, verified transactions waiting for a block, in arrival order,
//! de-duplicated by hash and bounded in count.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use crate::tx::{Tx, TxError, TxHash};

/// Pending transactions.
pub struct Mempool {
    capacity: usize,
    next_seq: u64,
    by_seq: BTreeMap<u64, (TxHash, Instant)>,
    by_hash: HashMap<TxHash, (u64, Tx)>,
}

impl Mempool {
    /// An empty mempool holding at most `capacity` transactions.
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            next_seq: 0,
            by_seq: BTreeMap::new(),
            by_hash: HashMap::new(),
        }
    }

    /// Number of pending transactions.
    pub fn len(&self) -> usize {
        self.by_hash.len()
    }

    /// True when nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.by_hash.is_empty()
    }

    /// Whether this exact transaction (hash and signature) is pending, i.e. was verified
    /// on admission.
    pub fn contains_verified(&self, tx: &Tx, hash: &TxHash) -> bool {
        self.by_hash
            .get(hash)
            .is_some_and(|(_, t)| t.signature == tx.signature)
    }

    /// Whether a transaction with this hash is pending.
    pub fn contains(&self, hash: &TxHash) -> bool {
        self.by_hash.contains_key(hash)
    }

    /// Admits a verified transaction.
    pub fn insert(&mut self, hash: TxHash, tx: Tx) -> Result<(), TxError> {
        if self.by_hash.contains_key(&hash) {
            return Err(TxError::AlreadyPending(hash));
        }
        if self.by_hash.len() >= self.capacity {
            return Err(TxError::MempoolFull(self.capacity));
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.by_seq.insert(seq, (hash, Instant::now()));
        self.by_hash.insert(hash, (seq, tx));
        Ok(())
    }

    /// The oldest transactions fitting in `max_bytes` and `max_txs`, left in the pool until
    /// they are committed.
    pub fn select(&self, max_txs: usize, max_bytes: usize) -> Vec<Tx> {
        let mut out = Vec::new();
        let mut bytes = 0;
        for (hash, _) in self.by_seq.values() {
            if out.len() >= max_txs {
                break;
            }
            let (_, tx) = &self.by_hash[hash];
            let size = tx.encoded_len();
            if bytes + size > max_bytes {
                break;
            }
            bytes += size;
            out.push(tx.clone());
        }
        out
    }

    /// Up to `max` of the transactions pending for longer than `age`, oldest first: those
    /// whose gossip may have been lost (a peer that was down when they came), to send again.
    pub fn waiting_longer_than(&self, age: Duration, max: usize) -> Vec<Tx> {
        let now = Instant::now();
        self.by_seq
            .values()
            .take_while(|(_, admitted)| now.duration_since(*admitted) >= age)
            .take(max)
            .map(|(hash, _)| self.by_hash[hash].1.clone())
            .collect()
    }

    /// Drops committed transactions.
    pub fn remove(&mut self, hashes: impl IntoIterator<Item = TxHash>) {
        for hash in hashes {
            if let Some((seq, _)) = self.by_hash.remove(&hash) {
                self.by_seq.remove(&seq);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::generate_key;

    fn tx(n: u64) -> (TxHash, Tx) {
        let t = Tx::new_signed("org1", n, vec![n as u8; 10], &generate_key());
        (t.hash(), t)
    }

    #[test]
    fn keeps_order_refuses_duplicates_and_overflow() {
        let mut m = Mempool::new(2);
        let (h1, t1) = tx(1);
        let (h2, t2) = tx(2);
        let (h3, t3) = tx(3);
        m.insert(h1, t1.clone()).unwrap();
        assert_eq!(m.insert(h1, t1.clone()), Err(TxError::AlreadyPending(h1)));
        m.insert(h2, t2.clone()).unwrap();
        assert_eq!(m.insert(h3, t3), Err(TxError::MempoolFull(2)));
        assert_eq!(m.select(10, usize::MAX), vec![t1.clone(), t2.clone()]);
        assert_eq!(m.select(1, usize::MAX), vec![t1.clone()]);
        assert!(m.select(10, 10).is_empty());
        assert_eq!(
            m.waiting_longer_than(Duration::ZERO, 10),
            vec![t1.clone(), t2.clone()]
        );
        assert!(
            m.waiting_longer_than(Duration::from_secs(3600), 10)
                .is_empty()
        );
        m.remove([h1]);
        assert_eq!(m.select(10, usize::MAX), vec![t2]);
        assert!(!m.contains(&h1));
    }
}
