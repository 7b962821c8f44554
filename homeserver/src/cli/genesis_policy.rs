//! The consortium-wide settings a new genesis carries (`consort chain init` and `consort
//! devnet` share them): every node enforces them in ledger validation.

use std::collections::BTreeMap;

use clap::{Args, ValueEnum};
use consort_bridge::contacts::policy::{ContactsPolicy, GENESIS_KEY_PREFIX};
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
    /// Every organisation's first contacts policy (each can change its own later).
    #[arg(long, value_enum, default_value_t = ContactsPolicyArg::CrossOrg)]
    pub contacts_policy: ContactsPolicyArg,
}

/// Who may invite an organisation's users (see `consort_bridge::contacts::policy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ContactsPolicyArg {
    /// Users of other organisations need to be contacts (a first direct chat is the request).
    CrossOrg,
    /// Everyone needs to be a contact, colleagues included.
    All,
    /// Anyone may invite.
    Open,
}

impl From<ContactsPolicyArg> for ContactsPolicy {
    fn from(arg: ContactsPolicyArg) -> Self {
        match arg {
            ContactsPolicyArg::CrossOrg => Self::CrossOrg,
            ContactsPolicyArg::All => Self::All,
            ContactsPolicyArg::Open => Self::Open,
        }
    }
}

impl GenesisPolicy {
    /// The genesis `app` map for these options (empty for the defaults), for the
    /// organisations `org_ids`.
    pub fn app(&self, org_ids: impl IntoIterator<Item = String>) -> BTreeMap<String, String> {
        let mut app = BTreeMap::new();
        let contacts = ContactsPolicy::from(self.contacts_policy);
        if contacts != ContactsPolicy::CrossOrg {
            for org in org_ids {
                app.insert(
                    format!("{GENESIS_KEY_PREFIX}{org}"),
                    contacts.as_str().to_owned(),
                );
            }
        }
        if self.plaintext_in_encrypted_rooms == PlaintextPolicy::Refuse {
            app.insert(PLAINTEXT_POLICY.to_owned(), "refuse".to_owned());
        }
        app
    }
}

/// The organisation ids `consort_chain::local` gives a local consortium of `n`: `org1`...
pub fn local_org_ids(n: usize) -> impl Iterator<Item = String> {
    (1..=n).map(|i| format!("org{i}"))
}
