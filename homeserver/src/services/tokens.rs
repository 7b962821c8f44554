//! Pagination and `/sync` tokens. A sync token is `s{height}_{local}_{typing}`: the last
//! ledger block applied (so every node answers the same history the same way;
//! docs/architecture.md, "Positions and sync tokens"), the org-local stream value and the
//! typing serial. A timeline token is `t{pos}`: a ledger position between two events. Either
//! may be given to `/messages`.

use consort_bridge::position::end_of;

use crate::error::{Error, Result};

/// Where a `/sync` response left off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SyncToken {
    /// Last ledger block included.
    pub height: u64,
    /// Org-local stream value included.
    pub local: i64,
    /// Typing serial included.
    pub typing: u64,
}

impl SyncToken {
    /// Parses `s{height}_{local}_{typing}`.
    pub fn parse(token: &str) -> Result<Self> {
        let bad = || Error::invalid_param(format!("Invalid sync token: {token}"));
        let rest = token.strip_prefix('s').ok_or_else(bad)?;
        let mut parts = rest.split('_');
        let mut next = || parts.next().ok_or_else(bad);
        let height = next()?.parse().map_err(|_| bad())?;
        let local = next()?.parse().map_err(|_| bad())?;
        let typing = next()?.parse().map_err(|_| bad())?;
        if parts.next().is_some() {
            return Err(bad());
        }
        Ok(Self {
            height,
            local,
            typing,
        })
    }

    /// The first ledger position not covered by this token.
    pub fn end(&self) -> i64 {
        end_of(self.height)
    }
}

impl std::fmt::Display for SyncToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "s{}_{}_{}", self.height, self.local, self.typing)
    }
}

/// A timeline token for a position: events before it are "before", the rest "after".
pub fn timeline_token(pos: i64) -> String {
    format!("t{pos}")
}

/// Parses a `/messages` `from`/`to` token (timeline or sync) into a position boundary.
pub fn parse_boundary(token: &str) -> Result<i64> {
    if let Some(pos) = token.strip_prefix('t') {
        return pos
            .parse::<i64>()
            .ok()
            .filter(|p| *p >= 0)
            .ok_or_else(|| Error::invalid_param(format!("Invalid pagination token: {token}")));
    }
    SyncToken::parse(token).map(|t| t.end())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_garbage() {
        let t = SyncToken {
            height: 12,
            local: 3,
            typing: 9,
        };
        assert_eq!(SyncToken::parse(&t.to_string()).unwrap(), t);
        for bad in ["", "s", "s1_2", "s1_2_3_4", "x1_2_3", "s-1_2_3", "sa_b_c"] {
            assert!(SyncToken::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_boundary("t42").unwrap(), 42);
        assert_eq!(parse_boundary(&t.to_string()).unwrap(), end_of(12));
        assert!(parse_boundary("t-1").is_err());
        assert!(parse_boundary("tx").is_err());
    }
}
