//! Who may invite whom: each organisation's contacts policy protects its own users. The
//! genesis gives each organisation's starting policy (`contacts_policy.<org>` in its `app`
//! settings, `cross_org` when absent); an `OrgPolicy` record of the organisation replaces it.
//! Every node checks invites against it in ledger validation.

use consort_chain::Genesis;
use sqlx::{AnyConnection, Row};

use super::read::{ContactState, state_in};
use crate::records::split_user_id;
use crate::rejection::Rejection;

/// The genesis `app` key prefix: `contacts_policy.org1 = "open"`.
pub const GENESIS_KEY_PREFIX: &str = "contacts_policy.";

/// The `OrgPolicy` key of the contacts policy.
pub const POLICY_KEY: &str = "contacts";

/// An organisation's rule for invites of its users.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContactsPolicy {
    /// Users of other organisations need a bound contact to invite one of this
    /// organisation's users; a first direct-chat invite is itself the request.
    CrossOrg,
    /// The same for every inviter, colleagues included.
    All,
    /// Anyone may invite.
    Open,
}

impl ContactsPolicy {
    /// Parses a policy value.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "cross_org" => Some(Self::CrossOrg),
            "all" => Some(Self::All),
            "open" => Some(Self::Open),
            _ => None,
        }
    }

    /// Its value in the genesis and in `OrgPolicy` records.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CrossOrg => "cross_org",
            Self::All => "all",
            Self::Open => "open",
        }
    }
}

/// The policy of organisation `org` now: its latest `OrgPolicy`, else the genesis.
pub async fn policy_of(
    conn: &mut AnyConnection,
    genesis: &Genesis,
    org: &str,
) -> Result<ContactsPolicy, sqlx::Error> {
    let row = sqlx::query("SELECT value FROM bridge_org_policy WHERE org = $1 AND policy = $2")
        .bind(org)
        .bind(POLICY_KEY)
        .fetch_optional(&mut *conn)
        .await?;
    let value = match row {
        Some(r) => Some(r.try_get::<String, _>(0)?),
        None => genesis
            .app
            .get(&format!("{GENESIS_KEY_PREFIX}{org}"))
            .cloned(),
    };
    Ok(value
        .as_deref()
        .and_then(ContactsPolicy::parse)
        .unwrap_or(ContactsPolicy::CrossOrg))
}

/// What an accepted invite does to the pair's relationship.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InviteEffect {
    /// Nothing: the policy does not involve contacts here, or they are bound.
    None,
    /// A first direct-chat invite: it is the inviter's contact request.
    Request,
    /// A direct-chat invite answering the invitee's own pending request: they are bound.
    Bind,
}

/// Whether `inviter` may invite `invitee` under the policy of the invitee's organisation,
/// and what the invite does to their relationship; `Err` is the rejection reason.
pub async fn check_invite(
    conn: &mut AnyConnection,
    genesis: &Genesis,
    inviter: &str,
    invitee: &str,
    is_direct: bool,
) -> Result<Result<InviteEffect, Rejection>, sqlx::Error> {
    let (Some((_, from)), Some((_, to))) = (split_user_id(inviter), split_user_id(invitee)) else {
        return Ok(Err(Rejection::malformed("not a user id")));
    };
    let Some(org) = genesis.orgs.iter().find(|o| o.server_name == to) else {
        return Ok(Err(Rejection::wrong_org(format!(
            "{invitee} belongs to no organisation"
        ))));
    };
    let policy = policy_of(conn, genesis, &org.id).await?;
    let free = match policy {
        ContactsPolicy::Open => true,
        ContactsPolicy::CrossOrg => from == to,
        ContactsPolicy::All => inviter == invitee,
    };
    if free {
        return Ok(Ok(InviteEffect::None));
    }
    Ok(match state_in(conn, inviter, invitee).await? {
        Some(ContactState::Bound) => Ok(InviteEffect::None),
        None if is_direct => Ok(InviteEffect::Request),
        Some(ContactState::Incoming) if is_direct => Ok(InviteEffect::Bind),
        Some(ContactState::Outgoing) => Err(Rejection::forbidden(format!(
            "{invitee} has not answered {inviter}'s contact request yet ({} policy of {})",
            policy.as_str(),
            org.id
        ))),
        _ => Err(Rejection::forbidden(format!(
            "{inviter} is not a contact of {invitee}, whose organisation {} requires one to invite ({} policy)",
            org.id,
            policy.as_str()
        ))),
    })
}
