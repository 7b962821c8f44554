//! Consort's own API (`/_consort/v1/...`): what the ledger makes possible and Matrix has no
//! endpoint for.

pub mod key_history;
