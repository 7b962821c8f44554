//! What each applied record did, in a canonical encoding: the block's outcome digest is
//! built from these, and the digest goes into the chain's app hash, so that two nodes that
//! applied a block differently disagree at the next height (`consort_chain::block::next_app_hash`).

use consort_chain::crypto::{Hash32, sha256};

use crate::rejection::Outcome;

/// The effect of one record, written field by field (each length-prefixed, so that no two
/// different effects encode to the same bytes).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Effect(Vec<u8>);

impl Effect {
    /// Appends one field.
    pub fn field(&mut self, bytes: &[u8]) {
        self.0
            .extend_from_slice(&(bytes.len() as u64).to_be_bytes());
        self.0.extend_from_slice(bytes);
    }

    /// Appends an optional field (absent and empty differ).
    pub fn optional(&mut self, bytes: Option<&[u8]>) {
        match bytes {
            None => self.0.push(0),
            Some(b) => {
                self.0.push(1);
                self.field(b);
            }
        }
    }

    /// Forgets what was written: a rejected record has no effect beyond its rejection.
    pub fn clear(&mut self) {
        self.0.clear();
    }

    /// The digest of the record at `idx` with this effect and its outcome.
    /// A rejection counts by its code and its message.
    pub fn digest(&self, idx: u32, outcome: &Outcome) -> Hash32 {
        let (accepted, code, reason) = match outcome {
            Ok(()) => (1u8, &[][..], &[][..]),
            Err(r) => (0u8, r.code().as_bytes(), r.message().as_bytes()),
        };
        sha256(&[
            b"consort-record-effect-v2",
            &idx.to_be_bytes(),
            &[accepted],
            &(code.len() as u64).to_be_bytes(),
            code,
            &(reason.len() as u64).to_be_bytes(),
            reason,
            &self.0,
        ])
    }
}

/// The outcome digest of a block from its records' digests, in block order.
pub fn block_digest(records: &[Hash32]) -> Hash32 {
    let mut parts: Vec<&[u8]> = Vec::with_capacity(records.len() + 1);
    parts.push(b"consort-block-effects-v1");
    parts.extend(records.iter().map(|h| &h[..]));
    sha256(&parts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rejection::{Rejection, RejectionKind};

    #[test]
    fn fields_are_unambiguous() {
        let mut a = Effect::default();
        a.field(b"ab");
        a.field(b"c");
        let mut b = Effect::default();
        b.field(b"a");
        b.field(b"bc");
        assert_ne!(a.digest(0, &Ok(())), b.digest(0, &Ok(())));
        let mut none = Effect::default();
        none.optional(None);
        let mut empty = Effect::default();
        empty.optional(Some(b""));
        assert_ne!(none.digest(0, &Ok(())), empty.digest(0, &Ok(())));
    }

    #[test]
    fn the_outcome_and_position_count() {
        let e = Effect::default();
        let no = |m: &str| Err(Rejection::forbidden(m));
        assert_ne!(e.digest(0, &Ok(())), e.digest(0, &no("no")));
        assert_ne!(e.digest(0, &no("no")), e.digest(0, &no("not")));
        assert_ne!(
            e.digest(0, &no("no")),
            e.digest(0, &Err(Rejection::new(RejectionKind::NotFound, "no")))
        );
        assert_ne!(e.digest(0, &Ok(())), e.digest(1, &Ok(())));
        let d = e.digest(0, &Ok(()));
        assert_ne!(block_digest(&[d, d]), block_digest(&[d]));
    }
}
