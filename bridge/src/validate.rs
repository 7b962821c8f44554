//! Deterministic validation of one record against the projection's current state: no
//! clock, no randomness, nothing but the record, its submitter, the genesis and the row
//! of the user it concerns.

use consort_chain::Genesis;

use crate::records::{Record, split_user_id};
use crate::rejection::{Rejection, RejectionKind};
use crate::users::UserRow;

/// The user a record concerns, so the caller can load its row before validating. Room
/// events are checked by [`crate::rooms`] instead and have no subject here.
pub fn subject(record: &Record) -> Option<&str> {
    match record {
        Record::Registration(r) => Some(&r.user_id),
        Record::Deactivation { user_id, .. } | Record::Profile { user_id, .. } => Some(user_id),
        Record::RoomEvent(_)
        | Record::RoomEventBatch(_)
        | Record::RoomAlias(_)
        | Record::RoomDirectory(_)
        | Record::Receipt(_)
        | Record::KeyUpload(_)
        | Record::DeviceRemoved { .. }
        | Record::KeyClaim(_)
        | Record::CrossSigningKeys(_)
        | Record::KeySignatures(_)
        | Record::ToDevice(_)
        | Record::Contact(_)
        | Record::OrgPolicy { .. }
        | Record::MediaPin(_)
        | Record::MediaUnpin(_) => None,
    }
}

/// Checks that `user_id` is a registered, active user of organisation `org`: what every
/// record that acts for a user requires of it.
pub fn check_actor(
    genesis: &Genesis,
    org: &str,
    user_id: &str,
    row: Option<&UserRow>,
) -> Result<(), Rejection> {
    of_org(genesis, org, user_id)?;
    live(user_id, row)
}

/// Checks that `user_id` is a user id of organisation `org`'s server.
fn of_org(genesis: &Genesis, org: &str, user_id: &str) -> Result<(), Rejection> {
    let (_, server) = split_user_id(user_id)
        .ok_or_else(|| Rejection::malformed(format!("`{user_id}` is not a Matrix user id")))?;
    let entry = genesis.org(org).ok_or_else(|| {
        Rejection::wrong_org(format!("organisation `{org}` is not in the genesis"))
    })?;
    if server != entry.server_name {
        return Err(Rejection::wrong_org(format!(
            "{user_id} does not belong to {org} ({})",
            entry.server_name
        )));
    }
    Ok(())
}

/// Checks that `row` (the row of `user_id`) is a registered, active user.
fn live(user_id: &str, row: Option<&UserRow>) -> Result<(), Rejection> {
    match row {
        None => Err(Rejection::unknown_user(user_id)),
        Some(u) if u.deactivated => Err(Rejection::deactivated(user_id)),
        Some(_) => Ok(()),
    }
}

/// Refuses text that PostgreSQL cannot store (NUL), the same way on every backend.
pub fn no_nul(fields: &[&str]) -> Result<(), Rejection> {
    if fields.iter().any(|f| f.contains('\0')) {
        return Err(Rejection::malformed("the record contains NUL"));
    }
    Ok(())
}

/// Checks `record` submitted by organisation `org`. `existing` is the subject's current row.
/// The error is the rejection reason stored with the outcome.
pub fn validate(
    record: &Record,
    org: &str,
    genesis: &Genesis,
    existing: Option<&UserRow>,
) -> Result<(), Rejection> {
    let Some(user_id) = subject(record) else {
        return Err(not_here());
    };
    of_org(genesis, org, user_id)?;
    match record {
        Record::Registration(reg) => {
            if reg.org != org {
                return Err(Rejection::wrong_org(
                    "the certificate names another organisation",
                ));
            }
            let key = genesis.org_node_key(org).ok_or_else(|| {
                Rejection::wrong_org(format!("organisation `{org}` has no node key"))
            })?;
            if !reg.verify(&key) {
                return Err(Rejection::bad_signature(
                    "the registration certificate's signature does not verify",
                ));
            }
            if existing.is_some() {
                return Err(Rejection::new(
                    RejectionKind::UserInUse,
                    format!("{user_id} is already registered"),
                ));
            }
            Ok(())
        }
        Record::RoomEvent(_)
        | Record::RoomEventBatch(_)
        | Record::RoomAlias(_)
        | Record::RoomDirectory(_)
        | Record::Receipt(_)
        | Record::KeyUpload(_)
        | Record::DeviceRemoved { .. }
        | Record::KeyClaim(_)
        | Record::CrossSigningKeys(_)
        | Record::KeySignatures(_)
        | Record::ToDevice(_)
        | Record::Contact(_)
        | Record::OrgPolicy { .. }
        | Record::MediaPin(_)
        | Record::MediaUnpin(_) => Err(not_here()),
        Record::Deactivation { .. } | Record::Profile { .. } => live(user_id, existing),
    }
}

fn not_here() -> Rejection {
    Rejection::new(
        RejectionKind::Unsupported,
        "room and key records are validated by their own modules",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::Registration;
    use consort_chain::local::{LocalPorts, local_consortium};

    fn setup() -> (Genesis, Vec<consort_chain::local::OrgKeys>) {
        let ports = [
            LocalPorts { p2p: 1, gossip: 2 },
            LocalPorts { p2p: 3, gossip: 4 },
        ];
        local_consortium("t", &ports)
    }

    fn row(user: &str, deactivated: bool) -> UserRow {
        UserRow {
            user_id: user.into(),
            org: "org1".into(),
            approved_by: "@admin:org1.localhost".into(),
            approved_at_ms: 1,
            height: 1,
            deactivated,
            displayname: None,
            avatar_url: None,
        }
    }

    #[test]
    fn registration_rules() {
        let (g, keys) = setup();
        let user = "@alice:org1.localhost";
        let good = Record::Registration(Registration::new_signed(
            user,
            "org1",
            "@admin:org1.localhost",
            5,
            &keys[0].node_key,
        ));
        assert_eq!(validate(&good, "org1", &g, None), Ok(()));
        // Submitted by another organisation: its server name is not the user's.
        assert!(
            validate(&good, "org2", &g, None).unwrap_err().kind()
                == RejectionKind::WrongOrganisation
        );
        // Already taken.
        let taken = row(user, false);
        assert!(
            validate(&good, "org1", &g, Some(&taken))
                .unwrap_err()
                .kind()
                == RejectionKind::UserInUse
        );
        // Certificate signed by another org's key.
        let forged = Record::Registration(Registration::new_signed(
            user,
            "org1",
            "@admin:org1.localhost",
            5,
            &keys[1].node_key,
        ));
        assert!(
            validate(&forged, "org1", &g, None).unwrap_err().kind() == RejectionKind::BadSignature
        );
        // Tampered after signing.
        let Record::Registration(mut r) = good.clone() else {
            unreachable!()
        };
        r.approved_by = "@mallory:org1.localhost".into();
        assert!(validate(&Record::Registration(r), "org1", &g, None).is_err());
        // Not a user id.
        let bad = Record::Registration(Registration::new_signed(
            "alice",
            "org1",
            "x",
            5,
            &keys[0].node_key,
        ));
        assert!(validate(&bad, "org1", &g, None).unwrap_err().kind() == RejectionKind::Malformed);
    }

    #[test]
    fn deactivation_and_profile_need_a_live_user_of_the_submitter() {
        let (g, _) = setup();
        let user = "@bob:org1.localhost";
        let deact = Record::Deactivation {
            user_id: user.into(),
            at_ms: 1,
        };
        assert!(
            validate(&deact, "org1", &g, None).unwrap_err().kind() == RejectionKind::UnknownUser
        );
        assert_eq!(
            validate(&deact, "org1", &g, Some(&row(user, false))),
            Ok(())
        );
        assert!(
            validate(&deact, "org1", &g, Some(&row(user, true)))
                .unwrap_err()
                .kind()
                == RejectionKind::Deactivated
        );
        assert!(validate(&deact, "org2", &g, Some(&row(user, false))).is_err());
        let profile = Record::Profile {
            user_id: user.into(),
            displayname: Some("B".into()),
            avatar_url: None,
        };
        assert_eq!(
            validate(&profile, "org1", &g, Some(&row(user, false))),
            Ok(())
        );
    }
}
