//! Consort's own API (`/_consort/v1/...`, and the contacts under the client API's unstable prefix): what the ledger makes possible and Matrix has no
//! endpoint for.

pub mod contacts;
pub mod key_history;
