//! The consortium-wide settings a new genesis carries (`consort chain init` and `consort
//! devnet` share them): every node enforces them in ledger validation.

use std::collections::BTreeMap;

use clap::{Args, ValueEnum};
use consort_bridge::rooms::PLAINTEXT_POLICY;

/// What every node does with a plaintext `m.room.message` in an encrypted room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PlaintextPolicy {
    /// Accept it (the Matrix behaviour).
    Allow,
    /// Refuse it on every node, so a buggy client can never put plaintext on the ledger.
    Refuse,
}

/// Options that end up in the genesis of a new consortium.
#[derive(Debug, Clone, Args)]
pub struct GenesisPolicy {
    /// Whether every node refuses plaintext messages in encrypted rooms.
    #[arg(long, value_enum, default_value_t = PlaintextPolicy::Allow)]
    pub plaintext_in_encrypted_rooms: PlaintextPolicy,
}

impl GenesisPolicy {
    /// The genesis `app` map for these options (empty for the defaults).
    pub fn app(&self) -> BTreeMap<String, String> {
        let mut app = BTreeMap::new();
        if self.plaintext_in_encrypted_rooms == PlaintextPolicy::Refuse {
            app.insert(PLAINTEXT_POLICY.to_owned(), "refuse".to_owned());
        }
        app
    }
}
