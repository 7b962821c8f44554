//! Contacts: requests, answers and unbinding as `Contact` ledger records. The node checks a
//! step against its copy of the ledger first, so a step that cannot apply gets a precise
//! Matrix error at once and never reaches the ledger; the ledger decides races (two steps
//! for the same pair in one block) the same way on every node.

use consort_bridge::contacts::read::{self, ContactRow, ContactState, ContactStep};
use consort_bridge::contacts::{Refusal, Transition, transition};
use consort_bridge::{Contact, ContactAction, Record};
use serde::Serialize;
use serde_json::{Value, json};

use crate::error::{Error, Result};
use crate::services::auth::Sender;
use crate::services::registration_ledger::LedgerError;
use crate::state::AppState;

/// The account data type that carries a user's contacts and pending requests to `/sync`.
pub const CONTACTS_EVENT: &str = "org.consort.contacts";

fn db(err: sqlx::Error) -> Error {
    Error::Internal(format!("contacts projection: {err}"))
}

fn refusal_error(refusal: Refusal, other: &str) -> Error {
    match refusal {
        Refusal::AlreadyPending => {
            Error::invalid_param(format!("A contact request to {other} is already pending"))
        }
        Refusal::AlreadyContact => Error::invalid_param(format!("{other} is already a contact")),
        Refusal::NoRequest => Error::not_found(format!("There is no contact request from {other}")),
        Refusal::NotContact => Error::not_found(format!("{other} is not a contact")),
    }
}

/// Takes one step towards `other`, after checking it as every node will. Answers the pair's
/// state afterwards.
pub async fn step(
    state: &AppState,
    sender: &Sender,
    other: &str,
    action: ContactAction,
) -> Result<Transition> {
    let chain = state.chain()?;
    let pool = chain.pool();
    let me = sender.user_id.as_str();
    if other == me {
        return Err(Error::invalid_param("You cannot be your own contact"));
    }
    let known = consort_bridge::users::get(pool, other).await.map_err(db)?;
    match known {
        None => return Err(Error::not_found(format!("Unknown user {other}"))),
        Some(u) if u.deactivated && action != ContactAction::Unbind => {
            return Err(Error::not_found(format!("{other} is deactivated")));
        }
        Some(_) => {}
    }
    let now = read::state_of(pool, me, other).await.map_err(db)?;
    let next = transition(action, now).map_err(|r| refusal_error(r, other))?;
    let record = Record::Contact(Contact {
        user_id: me.to_owned(),
        other: other.to_owned(),
        action,
    });
    chain.submit_record(&record).await.map_err(|e| match e {
        // Another step for the pair came first in the same block.
        LedgerError::Rejected(reason) => {
            Error::rejected(reason.context("The ledger refused the contact step"))
        }
        other => Error::Ledger(other),
    })?;
    Ok(next)
}

/// One relationship in an answer.
#[derive(Debug, Serialize)]
pub struct ContactEntry {
    /// The counterpart.
    pub user_id: String,
    /// The height of the ledger block that recorded the current state.
    pub height: u64,
    /// That block's time (Unix ms).
    pub ts: u64,
}

impl From<&ContactRow> for ContactEntry {
    fn from(row: &ContactRow) -> Self {
        Self {
            user_id: row.other.clone(),
            height: row.height,
            ts: row.at_ms,
        }
    }
}

/// A user's relationships, split by state.
#[derive(Debug, Serialize, Default)]
pub struct ContactList {
    /// Bound contacts.
    pub contacts: Vec<ContactEntry>,
    /// Requests to this user, unanswered.
    pub incoming: Vec<ContactEntry>,
    /// This user's requests, unanswered.
    pub outgoing: Vec<ContactEntry>,
}

/// Every relationship of `user`, as this node's copy of the ledger has it.
pub async fn list(state: &AppState, user: &str) -> Result<ContactList> {
    let rows = read::contacts_of(state.chain()?.pool(), user)
        .await
        .map_err(db)?;
    let mut out = ContactList::default();
    for row in &rows {
        let list = match row.state {
            ContactState::Bound => &mut out.contacts,
            ContactState::Incoming => &mut out.incoming,
            ContactState::Outgoing => &mut out.outgoing,
        };
        list.push(row.into());
    }
    Ok(out)
}

/// Every contact step involving `user`, oldest first (for admins).
pub async fn history(state: &AppState, user: &str) -> Result<Vec<ContactStep>> {
    read::log_of(state.chain()?.pool(), user).await.map_err(db)
}

/// The `org.consort.contacts` account data event for `/sync`, when the user's relationships
/// changed in `[from, to)` (always on an initial sync with any relationship).
pub async fn sync_event(
    state: &AppState,
    user: &str,
    from: Option<i64>,
    to: i64,
) -> Result<Option<Value>> {
    let Ok(chain) = state.chain() else {
        return Ok(None);
    };
    if let Some(from) = from {
        let changed = read::changed_since(chain.pool(), user, from, to)
            .await
            .map_err(db)?;
        if !changed {
            return Ok(None);
        }
    }
    let list = list(state, user).await?;
    if from.is_none()
        && list.contacts.is_empty()
        && list.incoming.is_empty()
        && list.outgoing.is_empty()
    {
        return Ok(None);
    }
    Ok(Some(json!({ "type": CONTACTS_EVENT, "content": list })))
}

/// Ignoring a user (`m.ignored_user_list`) ends the relationship with them: a bound contact
/// is unbound and their pending request declined, each as a ledger step.
pub async fn end_with_ignored(state: &AppState, sender: &Sender, list: &Value) -> Result<()> {
    let Ok(chain) = state.chain() else {
        return Ok(());
    };
    let Some(ignored) = list["ignored_users"].as_object() else {
        return Ok(());
    };
    let me = sender.user_id.as_str();
    for other in ignored.keys() {
        let action = match read::state_of(chain.pool(), me, other).await.map_err(db)? {
            Some(ContactState::Bound) => ContactAction::Unbind,
            Some(ContactState::Incoming) => ContactAction::Decline,
            Some(ContactState::Outgoing) | None => continue,
        };
        step(state, sender, other, action).await?;
    }
    Ok(())
}
