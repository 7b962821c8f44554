//! Consort's own API (`/_consort/v1/...`, and the contacts under the client API's unstable prefix): what the ledger makes possible and Matrix has no
//! endpoint for.

pub mod contacts;
pub mod event_proof;
pub mod health;
pub mod key_history;
pub mod ledger_status;

use ruma::{OwnedUserId, UserId};

use crate::error::{Error, Result};

/// A user id from a path or query parameter of an endpoint that is not a ruma endpoint,
/// refused with 400 `M_INVALID_PARAM` naming it.
pub fn user_id_param(user: &str) -> Result<OwnedUserId> {
    UserId::parse(user).map_err(|e| Error::invalid_param(format!("Invalid user id {user}: {e}")))
}
