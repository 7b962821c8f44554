//! Rooms as this node serves them: events built and signed here, checked and committed on
//! the ledger, then read back from the projection that every node applies the same way.

pub mod access;
pub mod aggregations;
pub mod client_event;
pub mod create;
pub mod directory;
pub mod event_lookups;
pub mod filter;
pub mod membership;
pub mod notifications;
pub mod search;
pub mod send;
pub mod timeline;
pub mod upgrade;
pub mod visibility;

use http::StatusCode;
use ruma::api::error::ErrorKind;

use crate::error::Error;

/// The Matrix error for a room record the consortium's rules refused: `M_FORBIDDEN` with the
/// ledger's reason (also for an unknown room, as Synapse answers, so room ids do not leak).
pub fn refused(reason: &str) -> Error {
    Error::new(StatusCode::FORBIDDEN, ErrorKind::Forbidden, reason)
}
