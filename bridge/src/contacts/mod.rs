//! Contacts on the ledger: a user asks another (of any organisation) to become a contact, the
//! other accepts or declines, either side can unbind. Every node applies the same steps in
//! block order, so every organisation agrees on who is bound to whom; the room rules use it
//! to decide who may invite whom.

pub mod policy;
pub mod read;

use consort_chain::Genesis;
use sqlx::AnyConnection;

use crate::records::{Contact, ContactAction};
use crate::rejection::{Outcome, Rejection, RejectionKind};
use crate::users;
use crate::validate::{check_actor, no_nul};
use read::{ContactState, state_in};

/// Where a step lands: its block and position.
#[derive(Debug, Clone, Copy)]
pub struct At {
    /// The block's height.
    pub height: u64,
    /// The block's time (Unix ms, the proposer's clock).
    pub time_ms: u64,
    /// The record's ledger position.
    pub pos: i64,
}

/// What a step does to the pair, decided from the pair's state before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// A pending request from the actor.
    Requested,
    /// The two are bound.
    Bound,
    /// The request or the relationship is gone.
    Removed,
}

impl Transition {
    fn as_str(self) -> &'static str {
        match self {
            Self::Requested => "pending",
            Self::Bound => "bound",
            Self::Removed => "none",
        }
    }
}

/// Why a step does not apply to the pair as it stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The actor already asked and has no answer yet.
    #[error("a contact request is already pending")]
    AlreadyPending,
    /// The two are already bound.
    #[error("already a contact")]
    AlreadyContact,
    /// Accepting or declining a request that was never made.
    #[error("there is no contact request to answer")]
    NoRequest,
    /// Unbinding someone who is not a contact.
    #[error("not a contact")]
    NotContact,
}

/// The rule every node applies: what `action` by the actor does given the actor's view of
/// the pair (`None` when there is no relationship), or why it is refused.
pub fn transition(action: ContactAction, now: Option<ContactState>) -> Result<Transition, Refusal> {
    use ContactAction::*;
    use ContactState::*;
    match (action, now) {
        (Request, None) => Ok(Transition::Requested),
        // Both asked: the second request is the answer to the first.
        (Request, Some(Incoming)) | (Accept, Some(Incoming)) => Ok(Transition::Bound),
        (Request, Some(Outgoing)) => Err(Refusal::AlreadyPending),
        (Request | Accept, Some(Bound)) => Err(Refusal::AlreadyContact),
        (Decline, Some(Incoming)) => Ok(Transition::Removed),
        (Accept | Decline, _) => Err(Refusal::NoRequest),
        (Unbind, Some(Bound)) => Ok(Transition::Removed),
        (Unbind, _) => Err(Refusal::NotContact),
    }
}

/// Validates and applies a `Contact` record; `Ok(Err(reason))` is a refusal that changed
/// nothing.
pub async fn apply_contact(
    conn: &mut AnyConnection,
    genesis: &Genesis,
    org: &str,
    r: &Contact,
    at: At,
) -> Result<Outcome, sqlx::Error> {
    let (user, other) = (r.user_id.as_str(), r.other.as_str());
    if let Err(reason) = no_nul(&[user, other]) {
        return Ok(Err(reason));
    }
    let actor = users::get_in(conn, user).await?;
    if let Err(reason) = check_actor(genesis, org, user, actor.as_ref()) {
        return Ok(Err(reason));
    }
    if user == other {
        return Ok(Err(Rejection::forbidden(
            "a user cannot be their own contact",
        )));
    }
    match users::get_in(conn, other).await? {
        None => return Ok(Err(Rejection::unknown_user(other))),
        Some(u) if u.deactivated && r.action != ContactAction::Unbind => {
            return Ok(Err(Rejection::deactivated(other)));
        }
        Some(_) => {}
    }
    let now = state_in(conn, user, other).await?;
    let next = match transition(r.action, now) {
        Ok(next) => next,
        Err(refusal) => {
            return Ok(Err(Rejection::forbidden(format!(
                "{user} -> {other}: {refusal}"
            ))));
        }
    };
    record_step(conn, (user, other), next, r.action.as_str(), org, at).await?;
    Ok(Ok(()))
}

/// Writes the pair's new state and the step's log line. `pair` is `(actor, other)`; `action`
/// names the step in the log (`request`, ..., or the room membership that caused it:
/// `direct_invite`, `join`, `reject`).
pub async fn record_step(
    conn: &mut AnyConnection,
    (user, other): (&str, &str),
    next: Transition,
    action: &str,
    org: &str,
    at: At,
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM bridge_contacts WHERE (user_id = $1 AND other = $2) OR (user_id = $2 AND other = $1)")
        .bind(user)
        .bind(other)
        .execute(&mut *conn)
        .await?;
    let rows: &[(&str, &str, &str)] = match next {
        Transition::Requested => &[(user, other, "outgoing"), (other, user, "incoming")],
        Transition::Bound => &[(user, other, "bound"), (other, user, "bound")],
        Transition::Removed => &[],
    };
    for (a, b, state) in rows {
        sqlx::query(
            "INSERT INTO bridge_contacts (user_id, other, state, height, at_ms, pos) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(*a)
        .bind(*b)
        .bind(*state)
        .bind(at.height as i64)
        .bind(at.time_ms as i64)
        .bind(at.pos)
        .execute(&mut *conn)
        .await?;
    }
    sqlx::query(
        "INSERT INTO bridge_contact_log (pos, user_id, other, action, result, org, height, at_ms) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(at.pos)
    .bind(user)
    .bind(other)
    .bind(action)
    .bind(next.as_str())
    .bind(org)
    .bind(at.height as i64)
    .bind(at.time_ms as i64)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Validates and applies an `OrgPolicy` record: the submitting organisation sets one of its
/// own policies.
pub async fn apply_org_policy(
    conn: &mut AnyConnection,
    org: &str,
    policy: &str,
    value: &str,
    pos: i64,
) -> Result<Outcome, sqlx::Error> {
    if policy != policy::POLICY_KEY {
        return Ok(Err(Rejection::new(
            RejectionKind::Unsupported,
            format!("unknown organisation policy `{policy}`"),
        )));
    }
    if policy::ContactsPolicy::parse(value).is_none() {
        return Ok(Err(Rejection::malformed(format!(
            "`{value}` is not a contacts policy (cross_org, all or open)"
        ))));
    }
    sqlx::query("DELETE FROM bridge_org_policy WHERE org = $1 AND policy = $2")
        .bind(org)
        .bind(policy)
        .execute(&mut *conn)
        .await?;
    sqlx::query("INSERT INTO bridge_org_policy (org, policy, value, pos) VALUES ($1, $2, $3, $4)")
        .bind(org)
        .bind(policy)
        .bind(value)
        .bind(pos)
        .execute(&mut *conn)
        .await?;
    Ok(Ok(()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ContactAction::*;
    use ContactState::*;

    #[test]
    fn every_step_from_every_state() {
        let cases = [
            (Request, None, Ok(Transition::Requested)),
            (Request, Some(Incoming), Ok(Transition::Bound)),
            (Request, Some(Outgoing), Err(())),
            (Request, Some(Bound), Err(())),
            (Accept, None, Err(())),
            (Accept, Some(Incoming), Ok(Transition::Bound)),
            (Accept, Some(Outgoing), Err(())),
            (Accept, Some(Bound), Err(())),
            (Decline, None, Err(())),
            (Decline, Some(Incoming), Ok(Transition::Removed)),
            (Decline, Some(Outgoing), Err(())),
            (Decline, Some(Bound), Err(())),
            (Unbind, None, Err(())),
            (Unbind, Some(Incoming), Err(())),
            (Unbind, Some(Outgoing), Err(())),
            (Unbind, Some(Bound), Ok(Transition::Removed)),
        ];
        for (action, now, want) in cases {
            let got = transition(action, now).map_err(|_| ());
            assert_eq!(got, want, "{action:?} from {now:?}");
        }
    }
}
