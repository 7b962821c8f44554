//! Deterministic validation of one record against the projection's current state: no
//! clock, no randomness, nothing but the record, its submitter, the genesis and the row
//! of the user it concerns.

use consort_chain::Genesis;

use crate::records::{Record, split_user_id};
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
) -> Result<(), String> {
    let (_, server) =
        split_user_id(user_id).ok_or_else(|| format!("`{user_id}` is not a Matrix user id"))?;
    let entry = genesis
        .org(org)
        .ok_or_else(|| format!("organisation `{org}` is not in the genesis"))?;
    if server != entry.server_name {
        return Err(format!(
            "{user_id} does not belong to {org} ({})",
            entry.server_name
        ));
    }
    match row {
        None => Err(format!("{user_id} is not registered")),
        Some(u) if u.deactivated => Err(format!("{user_id} is deactivated")),
        Some(_) => Ok(()),
    }
}

/// Refuses text that PostgreSQL cannot store (NUL), the same way on every backend.
pub fn no_nul(fields: &[&str]) -> Result<(), String> {
    if fields.iter().any(|f| f.contains('\0')) {
        return Err("the record contains NUL".into());
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
) -> Result<(), String> {
    let Some(user_id) = subject(record) else {
        return Err("room records are validated by their own modules".into());
    };
    let (_, server) =
        split_user_id(user_id).ok_or_else(|| format!("`{user_id}` is not a Matrix user id"))?;
    let entry = genesis
        .org(org)
        .ok_or_else(|| format!("organisation `{org}` is not in the genesis"))?;
    if server != entry.server_name {
        return Err(format!(
            "{user_id} does not belong to {org} ({})",
            entry.server_name
        ));
    }
    match record {
        Record::Registration(reg) => {
            if reg.org != org {
                return Err("the certificate names another organisation".into());
            }
            let key = genesis
                .org_node_key(org)
                .ok_or_else(|| format!("organisation `{org}` has no node key"))?;
            if !reg.verify(&key) {
                return Err("the registration certificate's signature does not verify".into());
            }
            if existing.is_some() {
                return Err(format!("{user_id} is already registered"));
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
        | Record::MediaUnpin(_) => {
            Err("room and key records are validated by their own modules".into())
        }
        Record::Deactivation { .. } | Record::Profile { .. } => match existing {
            None => Err(format!("{user_id} is not registered")),
            Some(u) if u.deactivated => Err(format!("{user_id} is deactivated")),
            Some(_) => Ok(()),
        },
    }
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
            validate(&good, "org2", &g, None)
                .unwrap_err()
                .contains("does not belong")
        );
        // Already taken.
        let taken = row(user, false);
        assert!(
            validate(&good, "org1", &g, Some(&taken))
                .unwrap_err()
                .contains("already")
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
            validate(&forged, "org1", &g, None)
                .unwrap_err()
                .contains("signature")
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
        assert!(
            validate(&bad, "org1", &g, None)
                .unwrap_err()
                .contains("not a Matrix user id")
        );
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
            validate(&deact, "org1", &g, None)
                .unwrap_err()
                .contains("not registered")
        );
        assert_eq!(
            validate(&deact, "org1", &g, Some(&row(user, false))),
            Ok(())
        );
        assert!(
            validate(&deact, "org1", &g, Some(&row(user, true)))
                .unwrap_err()
                .contains("deactivated")
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
