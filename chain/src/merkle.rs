//! Binary Merkle trees over transaction leaves (RFC 6962 shape: leaves prefixed 0x00 by
//! [`crate::tx::Tx::leaf`], inner nodes prefixed 0x01, an odd node promoted unchanged).

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

use crate::crypto::{Hash32, sha256};

/// The root of an empty tree.
pub fn empty_root() -> Hash32 {
    sha256(&[b"consort-empty-tree"])
}

fn node(left: &Hash32, right: &Hash32) -> Hash32 {
    sha256(&[&[1u8], left, right])
}

/// One level up: pairs hashed together, an odd last node promoted unchanged.
fn next_level(level: &[Hash32]) -> Vec<Hash32> {
    level
        .chunks(2)
        .map(|pair| match pair {
            [l, r] => node(l, r),
            [single] => *single,
            _ => unreachable!("chunks(2) yields one or two items"),
        })
        .collect()
}

/// The root over `leaves`, in order.
pub fn root(leaves: &[Hash32]) -> Hash32 {
    if leaves.is_empty() {
        return empty_root();
    }
    let mut level = leaves.to_vec();
    while level.len() > 1 {
        level = next_level(&level);
    }
    level[0]
}

/// One step of an inclusion path: the sibling hash and which side it sits on.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct PathStep {
    /// The sibling's hash.
    pub sibling: Hash32,
    /// True when the sibling is on the left.
    pub sibling_is_left: bool,
}

/// The inclusion path of leaf `index` among `leaves`.
pub fn path(leaves: &[Hash32], mut index: usize) -> Option<Vec<PathStep>> {
    if index >= leaves.len() {
        return None;
    }
    let mut steps = Vec::new();
    let mut level = leaves.to_vec();
    while level.len() > 1 {
        let sibling = index ^ 1;
        if sibling < level.len() {
            steps.push(PathStep {
                sibling: level[sibling],
                sibling_is_left: sibling < index,
            });
        }
        level = next_level(&level);
        index /= 2;
    }
    Some(steps)
}

/// The sides of the siblings on the path of leaf `index` in a tree of `count` leaves
/// (true = sibling on the left), so a verifier can check a path belongs to that index.
pub fn path_shape(mut index: usize, mut count: usize) -> Option<Vec<bool>> {
    if index >= count {
        return None;
    }
    let mut sides = Vec::new();
    while count > 1 {
        if (index ^ 1) < count {
            sides.push(index & 1 == 1);
        }
        index /= 2;
        count = count.div_ceil(2);
    }
    Some(sides)
}

/// Recomputes the root from a leaf and its path.
pub fn root_from_path(leaf: Hash32, steps: &[PathStep]) -> Hash32 {
    steps.iter().fold(leaf, |acc, step| {
        if step.sibling_is_left {
            node(&step.sibling, &acc)
        } else {
            node(&acc, &step.sibling)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaves(n: usize) -> Vec<Hash32> {
        (0..n as u32).map(|i| sha256(&[&i.to_be_bytes()])).collect()
    }

    #[test]
    fn every_leaf_of_every_size_proves_against_the_root() {
        for n in 1..20 {
            let l = leaves(n);
            let r = root(&l);
            for (i, leaf) in l.iter().enumerate() {
                let p = path(&l, i).unwrap();
                assert_eq!(root_from_path(*leaf, &p), r, "n={n} i={i}");
                let sides: Vec<bool> = p.iter().map(|s| s.sibling_is_left).collect();
                assert_eq!(path_shape(i, n), Some(sides));
            }
            assert!(path(&l, n).is_none());
        }
    }

    #[test]
    fn a_wrong_leaf_or_sibling_gives_another_root() {
        let l = leaves(7);
        let r = root(&l);
        let mut p = path(&l, 3).unwrap();
        assert_ne!(root_from_path(l[4], &p), r);
        p[1].sibling[0] ^= 1;
        assert_ne!(root_from_path(l[3], &p), r);
    }
}
