//! What a node knows of the other validators' progress: the heights of their signed votes and
//! proposals, the certified heights it synced from them, and how many are connected. It
//! answers one question for the operator (and a Kubernetes readiness probe): has this node
//! caught up with the consortium?
//!
//! A single peer's claim cannot be trusted (a faulty organisation could claim any height and
//! keep every other node "not ready"), so a node counts itself caught up only once it has
//! heard from more than `f` peers and is at least as high as the `(f+1)`-th highest of them:
//! a height that at least one correct validator has reached.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use crate::engine::types::Address;

/// The other validators' progress, as this node has seen it since it started.
#[derive(Debug, Default)]
pub struct PeerView {
    /// Per validator: the highest height of a consensus message it signed. A validator that
    /// votes at height `h` has committed `h - 1`.
    voting: Mutex<HashMap<Address, u64>>,
    /// The highest height synced from peers with a valid commit certificate.
    certified: AtomicU64,
    /// Peers the consensus network is connected to.
    connected: AtomicUsize,
}

impl PeerView {
    /// Records a (verified) consensus message `validator` signed at `height`.
    pub fn heard(&self, validator: Address, height: u64) {
        let mut voting = self.voting.lock().expect("lock");
        let seen = voting.entry(validator).or_default();
        *seen = (*seen).max(height);
    }

    /// Records a height whose block came with a valid commit certificate.
    pub fn certified(&self, height: u64) {
        self.certified.fetch_max(height, Ordering::Relaxed);
    }

    /// Records how many peers the consensus network is connected to.
    pub fn set_connected(&self, peers: usize) {
        self.connected.store(peers, Ordering::Relaxed);
    }

    /// Peers the consensus network is connected to.
    pub fn connected(&self) -> usize {
        self.connected.load(Ordering::Relaxed)
    }

    /// The height the consortium is known to have committed, by the rule in the module
    /// documentation, among `validators` in total (this node included); `None` until more
    /// than `f` peers have been heard from.
    pub fn consortium_height(&self, validators: usize) -> Option<u64> {
        let committed: Vec<u64> = self
            .voting
            .lock()
            .expect("lock")
            .values()
            .map(|h| h.saturating_sub(1))
            .collect();
        quorum_height(
            committed,
            validators,
            self.certified.load(Ordering::Relaxed),
        )
    }
}

/// The `(f+1)`-th highest of the peers' committed heights (at least `certified`), or `None`
/// with `f` or fewer peers heard from. A consortium of one has no peers to wait for.
fn quorum_height(mut committed: Vec<u64>, validators: usize, certified: u64) -> Option<u64> {
    if validators <= 1 {
        return Some(certified);
    }
    let faulty = (validators - 1) / 3;
    if committed.len() <= faulty {
        return None;
    }
    committed.sort_unstable_by(|a, b| b.cmp(a));
    Some(committed[faulty].max(certified))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_peer_cannot_raise_the_consortium_height() {
        // Four validators, f = 1: the second highest claim of three peers counts.
        assert_eq!(quorum_height(vec![1_000_000, 10, 9], 4, 0), Some(10));
        assert_eq!(quorum_height(vec![10, 10, 9], 4, 0), Some(10));
        // Heard from one peer only: it may be the faulty one.
        assert_eq!(quorum_height(vec![1_000_000], 4, 0), None);
        // A certified height is a floor.
        assert_eq!(quorum_height(vec![3, 2], 4, 7), Some(7));
        // Two validators, f = 0: the one peer counts.
        assert_eq!(quorum_height(vec![5], 2, 0), Some(5));
        assert_eq!(quorum_height(vec![], 2, 0), None);
        assert_eq!(quorum_height(vec![], 1, 0), Some(0));
    }

    #[test]
    fn a_vote_at_a_height_means_the_height_below_is_committed() {
        let view = PeerView::default();
        assert_eq!(view.consortium_height(4), None);
        view.heard(Address([1; 20]), 8);
        view.heard(Address([1; 20]), 6);
        view.heard(Address([2; 20]), 8);
        assert_eq!(view.consortium_height(4), Some(7));
        view.certified(9);
        assert_eq!(view.consortium_height(4), Some(9));
    }
}
