//! The deterministic check of one `RoomEvent` record: who may send it (the submitting
//! organisation's registered users), its hashes and signature, and the Matrix auth rules
//! (ruma's state-res) against the room's current state in the projection.

use std::collections::BTreeMap;

use consort_chain::Genesis;
use ruma::events::{StateEventType, TimelineEventType};
use ruma::room_version_rules::RoomVersionRules;
use ruma::{CanonicalJsonObject, CanonicalJsonValue, OwnedEventId, OwnedRoomId, RoomVersionId};

use super::event::{Pdu, create_version, parse_object, public_key_map, rules_for, verify_signed};
use crate::rejection::{Rejection, RejectionKind};
use crate::users::UserRow;

/// A PDU read far enough to know which room (and so which room version) it belongs to.
#[derive(Debug)]
pub struct Peek {
    /// The PDU text.
    pub json: String,
    /// Its `room_id` field (absent for a v12 create event).
    pub room_id: Option<OwnedRoomId>,
    /// For `m.room.create`: the version it creates.
    pub create_version: Option<RoomVersionId>,
}

/// First step: parse the text and find the room, so the caller can load the room's version.
pub fn peek(json: &str) -> Result<Peek, Rejection> {
    let object = parse_object(json)?;
    // Ids, type and state key become SQL text and query parameters, which PostgreSQL cannot
    // hold with NUL: refuse such a PDU on every node alike instead of failing the block on
    // some. In canonical JSON a NUL can only be written as this escape.
    if json.contains("\\u0000") {
        return Err(Rejection::malformed("the PDU contains NUL"));
    }
    let room_id = match object.get("room_id") {
        None => None,
        Some(CanonicalJsonValue::String(s)) => Some(
            OwnedRoomId::try_from(s.as_str())
                .map_err(|e| Rejection::malformed(format!("bad room id: {e}")))?,
        ),
        Some(_) => return Err(Rejection::malformed("`room_id` is not a string")),
    };
    let create_version = match object.get("type") {
        Some(CanonicalJsonValue::String(t)) if t == "m.room.create" => {
            let content = object
                .get("content")
                .ok_or_else(|| Rejection::malformed("missing `content` field in PDU"))?;
            let raw = serde_json::value::to_raw_value(content)
                .map_err(|e| Rejection::malformed(format!("bad content: {e}")))?;
            Some(create_version(&raw)?)
        }
        _ => None,
    };
    Ok(Peek {
        json: json.to_owned(),
        room_id,
        create_version,
    })
}

/// Second step: with the room's version (`None` when the room is unknown), the rules and the
/// parsed event with its id.
pub fn parse(
    peek: &Peek,
    room_version: Option<&RoomVersionId>,
) -> Result<(Pdu, CanonicalJsonObject, RoomVersionRules), Rejection> {
    let version = match (&peek.create_version, room_version) {
        (Some(_), Some(_)) => {
            return Err(Rejection::new(
                RejectionKind::AlreadyExists,
                "the room already exists",
            ));
        }
        (Some(v), None) => v,
        (None, Some(v)) => v,
        (None, None) => return Err(Rejection::not_found("unknown room")),
    };
    let rules = rules_for(version)?;
    let (pdu, object) = Pdu::parse(&peek.json, &rules)?;
    Ok((pdu, object, rules))
}

/// Everything the projection contributes to the check of one event.
pub struct Context<'a> {
    /// The consortium (organisations, server names, keys).
    pub genesis: &'a Genesis,
    /// The organisation that submitted the record.
    pub org: &'a str,
    /// The sender's row in the user table.
    pub sender: Option<&'a UserRow>,
    /// Whether an event with this id is already in the projection.
    pub duplicate: bool,
    /// The event's prev and auth events that exist in the same room.
    pub events: &'a BTreeMap<OwnedEventId, Pdu>,
    /// The room's current state (at least the entries the auth rules look at).
    pub state: &'a BTreeMap<(StateEventType, String), Pdu>,
}

/// Checks a parsed event; `Err` is the rejection reason.
pub fn check(
    pdu: &Pdu,
    object: &CanonicalJsonObject,
    rules: &RoomVersionRules,
    cx: &Context<'_>,
) -> Result<(), Rejection> {
    let entry = cx.genesis.org(cx.org).ok_or_else(|| {
        Rejection::wrong_org(format!("organisation `{}` is not in the genesis", cx.org))
    })?;
    if pdu.sender.server_name().as_str() != entry.server_name {
        return Err(Rejection::wrong_org(format!(
            "{} does not belong to {} ({})",
            pdu.sender, cx.org, entry.server_name
        )));
    }
    match cx.sender {
        None => return Err(Rejection::unknown_user(&pdu.sender)),
        Some(u) if u.deactivated => return Err(Rejection::deactivated(&pdu.sender)),
        Some(_) => {}
    }
    ruma::state_res::check_pdu_format(object, &rules.event_format)
        .map_err(|e| Rejection::malformed(e.to_string()))?;
    verify_signed(object, &public_key_map(cx.genesis), rules)?;
    if cx.duplicate {
        return Err(Rejection::new(
            RejectionKind::AlreadyExists,
            format!("{} is already on the ledger", pdu.event_id),
        ));
    }
    let is_create = pdu.kind == TimelineEventType::RoomCreate;
    if !is_create {
        if pdu.prev_event_ids().is_empty() {
            return Err(Rejection::malformed("the event has no prev_events"));
        }
        for id in pdu.prev_event_ids() {
            if cx.events.get(id).is_none_or(|e| e.room != pdu.room) {
                return Err(Rejection::not_found(format!(
                    "prev event {id} is not in the room"
                )));
            }
        }
    }
    let auth = &rules.authorization;
    let current_create = cx.state.get(&(StateEventType::RoomCreate, String::new()));
    ruma::state_res::check_state_independent_auth_rules(auth, pdu, |id| {
        cx.events
            .get(id)
            .or_else(|| current_create.filter(|c| c.event_id.as_str() == id.as_str()))
    })
    .map_err(auth_refused)?;
    if is_create {
        return Ok(());
    }
    // Against the state the event cites, then against the room's current state (where a
    // federating server would soft-fail, the ledger rejects: there is only one order).
    let mut cited: BTreeMap<(StateEventType, String), &Pdu> = BTreeMap::new();
    for id in pdu.auth_event_ids() {
        if let Some(e) = cx.events.get(id)
            && let Some(k) = &e.state_key
        {
            cited.insert((e.kind.to_string().into(), k.clone()), e);
        }
    }
    if let Some(create) = current_create {
        // v12 events do not cite the create event: it is the room id.
        cited
            .entry((StateEventType::RoomCreate, String::new()))
            .or_insert(create);
    }
    ruma::state_res::check_state_dependent_auth_rules(auth, pdu, |t, k| {
        cited.get(&(t.clone(), k.to_owned())).copied()
    })
    .map_err(auth_refused)?;
    ruma::state_res::check_state_dependent_auth_rules(auth, pdu, |t, k| {
        cx.state.get(&(t.clone(), k.to_owned()))
    })
    .map_err(auth_refused)
}

/// The Matrix authorization rules refused the event.
fn auth_refused(reason: impl std::fmt::Display) -> Rejection {
    Rejection::forbidden(reason.to_string())
}

/// The current-state entries the auth rules may read for `pdu`.
pub fn state_keys_needed(
    pdu: &Pdu,
    rules: &RoomVersionRules,
) -> Result<Vec<(StateEventType, String)>, Rejection> {
    let mut keys = ruma::state_res::auth_types_for_event(
        &pdu.kind,
        &pdu.sender,
        pdu.state_key.as_deref(),
        pdu.content(),
        &rules.authorization,
    )
    .map_err(|e| Rejection::malformed(e.to_string()))?;
    let create = (StateEventType::RoomCreate, String::new());
    if !keys.contains(&create) {
        keys.push(create);
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rooms::event::{NewEvent, RoomState, build_pdu};
    use consort_chain::local::{LocalPorts, OrgKeys, local_consortium};
    use ruma::{OwnedUserId, RoomId};
    use serde_json::json;

    const ALICE: &str = "@alice:org1.localhost";
    const BOB: &str = "@bob:org2.localhost";

    struct World {
        genesis: Genesis,
        keys: Vec<OrgKeys>,
        users: BTreeMap<String, UserRow>,
        rooms: BTreeMap<OwnedRoomId, (RoomState, BTreeMap<OwnedEventId, Pdu>)>,
    }

    fn user(id: &str, org: &str) -> UserRow {
        UserRow {
            user_id: id.into(),
            org: org.into(),
            approved_by: "@admin:x".into(),
            approved_at_ms: 1,
            height: 1,
            deactivated: false,
            displayname: None,
            avatar_url: None,
        }
    }

    impl World {
        fn new() -> Self {
            let ports = [
                LocalPorts { p2p: 1, gossip: 2 },
                LocalPorts { p2p: 3, gossip: 4 },
            ];
            let (genesis, keys) = local_consortium("t", &ports);
            let mut users = BTreeMap::new();
            users.insert(ALICE.to_owned(), user(ALICE, "org1"));
            users.insert(BOB.to_owned(), user(BOB, "org2"));
            Self {
                genesis,
                keys,
                users,
                rooms: BTreeMap::new(),
            }
        }

        /// Builds an event signed by org `signer` (0-based) against the room's state.
        fn build(
            &self,
            signer: usize,
            room: &RoomState,
            sender: &str,
            kind: &str,
            state_key: Option<&str>,
            content: serde_json::Value,
        ) -> Pdu {
            build_pdu(
                &self.keys[signer].node_key,
                &self.genesis.orgs[signer].server_name,
                room,
                NewEvent {
                    sender: OwnedUserId::try_from(sender).unwrap(),
                    kind: kind.into(),
                    state_key: state_key.map(Into::into),
                    content,
                    origin_server_ts: 1000,
                },
            )
            .unwrap()
        }

        fn state(&self, room: &OwnedRoomId) -> RoomState {
            self.rooms[room].0.clone()
        }

        /// Validates `json` as submitted by `org` and applies it if accepted.
        fn submit(&mut self, org: &str, json: &str) -> Result<OwnedEventId, Rejection> {
            let peek = peek(json)?;
            let room = peek.room_id.as_ref().and_then(|r| self.rooms.get(r));
            let (pdu, object, rules) = parse(&peek, room.map(|r| &r.0.version))?;
            let empty = (
                RoomState::new_room(None, ruma::RoomVersionId::V11),
                BTreeMap::new(),
            );
            let (state, events) = self.rooms.get(&pdu.room).unwrap_or(&empty);
            let cx = Context {
                genesis: &self.genesis,
                org,
                sender: self.users.get(pdu.sender.as_str()),
                duplicate: events.contains_key(&pdu.event_id),
                events,
                state: &state.state,
            };
            check(&pdu, &object, &rules, &cx)?;
            let version = peek
                .create_version
                .clone()
                .unwrap_or_else(|| state.version.clone());
            let entry = self
                .rooms
                .entry(pdu.room.clone())
                .or_insert_with(|| (RoomState::new_room(None, version), BTreeMap::new()));
            entry.1.insert(pdu.event_id.clone(), pdu.clone());
            entry.0.push(pdu.clone());
            Ok(pdu.event_id)
        }

        /// Alice creates a public room of `version` and joins it; returns its id.
        fn public_room(&mut self, version: RoomVersionId) -> OwnedRoomId {
            let room_id = (version != RoomVersionId::V12)
                .then(|| RoomId::parse("!r1:org1.localhost").unwrap());
            let mut content = json!({ "room_version": version.as_str() });
            if version == RoomVersionId::V10 {
                content["creator"] = json!(ALICE);
            }
            let fresh = RoomState::new_room(room_id, version.clone());
            let create = self.build(0, &fresh, ALICE, "m.room.create", Some(""), content);
            self.submit("org1", &create.json).expect("create");
            let room = create.room.clone();
            let join = json!({ "membership": "join" });
            let ev = self.build(
                0,
                &self.state(&room),
                ALICE,
                "m.room.member",
                Some(ALICE),
                join,
            );
            self.submit("org1", &ev.json).expect("creator joins");
            let mut users = json!({});
            if version != RoomVersionId::V12 {
                // Since v12 the creator's power is implicit and may not be listed.
                users[ALICE] = json!(100);
            }
            let pl = json!({ "users": users, "state_default": 50, "events_default": 0 });
            let ev = self.build(
                0,
                &self.state(&room),
                ALICE,
                "m.room.power_levels",
                Some(""),
                pl,
            );
            self.submit("org1", &ev.json).expect("power levels");
            let jr = json!({ "join_rule": "public" });
            let ev = self.build(
                0,
                &self.state(&room),
                ALICE,
                "m.room.join_rules",
                Some(""),
                jr,
            );
            self.submit("org1", &ev.json).expect("join rules");
            room
        }
    }

    fn msg(body: &str) -> serde_json::Value {
        json!({ "msgtype": "m.text", "body": body })
    }

    #[test]
    fn create_join_send_on_every_supported_version() {
        for version in [RoomVersionId::V10, RoomVersionId::V11, RoomVersionId::V12] {
            let mut w = World::new();
            let room = w.public_room(version.clone());
            let ev = w.build(0, &w.state(&room), ALICE, "m.room.message", None, msg("hi"));
            w.submit("org1", &ev.json).expect("the creator sends");
            // Bob (org 2) is not in the room yet.
            let ev = w.build(1, &w.state(&room), BOB, "m.room.message", None, msg("hey"));
            let err = w.submit("org2", &ev.json).unwrap_err();
            assert!(err.message().contains("membership"), "{version}: {err}");
            assert_eq!(err.kind(), RejectionKind::Forbidden);
            let join = json!({ "membership": "join" });
            let ev = w.build(1, &w.state(&room), BOB, "m.room.member", Some(BOB), join);
            w.submit("org2", &ev.json)
                .expect("bob joins the public room");
            let ev = w.build(1, &w.state(&room), BOB, "m.room.message", None, msg("hey"));
            w.submit("org2", &ev.json).expect("bob sends after joining");
            assert_eq!(w.rooms[&room].1.len(), 7, "{version}");
        }
    }

    #[test]
    fn power_levels_are_enforced() {
        let mut w = World::new();
        let room = w.public_room(RoomVersionId::V11);
        let join = json!({ "membership": "join" });
        let ev = w.build(1, &w.state(&room), BOB, "m.room.member", Some(BOB), join);
        w.submit("org2", &ev.json).unwrap();
        // state_default is 50, Bob has 0.
        let name = json!({ "name": "bob's room" });
        let ev = w.build(
            1,
            &w.state(&room),
            BOB,
            "m.room.name",
            Some(""),
            name.clone(),
        );
        let err = w.submit("org2", &ev.json).unwrap_err();
        assert!(err.message().contains("enough power"), "{err}");
        let pl = json!({ "users": { ALICE: 100, BOB: 100 }, "state_default": 50 });
        let ev = w.build(1, &w.state(&room), BOB, "m.room.power_levels", Some(""), pl);
        assert!(w.submit("org2", &ev.json).is_err());
        // Alice (100) may.
        let ev = w.build(0, &w.state(&room), ALICE, "m.room.name", Some(""), name);
        w.submit("org1", &ev.json).expect("alice names the room");
    }

    #[test]
    fn forged_tampered_replayed_and_foreign_events_are_refused() {
        let mut w = World::new();
        let room = w.public_room(RoomVersionId::V11);
        // Alice's event signed with org 2's key under org 1's name.
        let forged = w.build(1, &w.state(&room), ALICE, "m.room.message", None, msg("x"));
        let forged = forged
            .json
            .replace("org2.localhost\":{", "org1.localhost\":{");
        let err = w.submit("org1", &forged).unwrap_err();
        assert!(err.message().contains("signature"), "{err}");
        assert_eq!(err.kind(), RejectionKind::BadSignature);
        // Content changed after signing: the content hash no longer matches.
        let ev = w.build(0, &w.state(&room), ALICE, "m.room.message", None, msg("hi"));
        let tampered = ev.json.replace("\"hi\"", "\"ho\"");
        let err = w.submit("org1", &tampered).unwrap_err();
        assert!(err.message().contains("content hash"), "{err}");
        assert_eq!(err.kind(), RejectionKind::BadSignature);
        // Submitted by the wrong organisation.
        let err = w.submit("org2", &ev.json).unwrap_err();
        assert!(err.message().contains("does not belong"), "{err}");
        assert_eq!(err.kind(), RejectionKind::WrongOrganisation);
        // Unknown sender of the right organisation.
        let carol = w.build(
            0,
            &w.state(&room),
            "@carol:org1.localhost",
            "m.room.message",
            None,
            msg("c"),
        );
        let err = w.submit("org1", &carol.json).unwrap_err();
        assert!(err.message().contains("not registered"), "{err}");
        assert_eq!(err.kind(), RejectionKind::UnknownUser);
        // Deactivated sender.
        w.users.get_mut(ALICE).unwrap().deactivated = true;
        assert!(
            w.submit("org1", &ev.json)
                .unwrap_err()
                .message()
                .contains("deactivated")
        );
        w.users.get_mut(ALICE).unwrap().deactivated = false;
        // Accepted once, never twice.
        w.submit("org1", &ev.json).unwrap();
        let err = w.submit("org1", &ev.json).unwrap_err();
        assert!(err.message().contains("already"), "{err}");
        assert_eq!(err.kind(), RejectionKind::AlreadyExists);
        // Not canonical, or with fields the signature does not cover.
        let spaced = ev.json.replacen('{', "{ ", 1);
        assert!(
            w.submit("org1", &spaced)
                .unwrap_err()
                .message()
                .contains("canonical")
        );
        // NUL in a state key (unstorable in PostgreSQL text) is refused everywhere.
        let nul = w.build(
            0,
            &w.state(&room),
            ALICE,
            "m.room.topic",
            Some("a\0b"),
            json!({"topic": "t"}),
        );
        assert!(
            w.submit("org1", &nul.json)
                .unwrap_err()
                .message()
                .contains("NUL")
        );
        // Unknown room.
        let other = ev.json.replace("!r1:org1.localhost", "!r2:org1.localhost");
        assert!(
            w.submit("org1", &other)
                .unwrap_err()
                .message()
                .contains("unknown room")
        );
    }

    #[test]
    fn a_room_is_created_once_and_only_by_its_servers_users() {
        let mut w = World::new();
        w.public_room(RoomVersionId::V11);
        let again = RoomState::new_room(
            Some(RoomId::parse("!r1:org1.localhost").unwrap()),
            RoomVersionId::V11,
        );
        let content = json!({ "room_version": "11", "x": 1 });
        let ev = w.build(0, &again, ALICE, "m.room.create", Some(""), content.clone());
        assert!(
            w.submit("org1", &ev.json)
                .unwrap_err()
                .message()
                .contains("already exists")
        );
        // Bob cannot create a room under org 1's name.
        let squat = RoomState::new_room(
            Some(RoomId::parse("!r9:org1.localhost").unwrap()),
            RoomVersionId::V11,
        );
        let ev = w.build(1, &squat, BOB, "m.room.create", Some(""), content);
        assert!(w.submit("org2", &ev.json).is_err());
        // Unsupported versions are refused.
        let v9 = json!({ "room_version": "9", "creator": ALICE });
        let fresh = RoomState::new_room(
            Some(RoomId::parse("!r3:org1.localhost").unwrap()),
            RoomVersionId::V11,
        );
        let ev = w.build(0, &fresh, ALICE, "m.room.create", Some(""), v9);
        assert!(
            w.submit("org1", &ev.json)
                .unwrap_err()
                .message()
                .contains("unsupported")
        );
    }
}
