//! Matrix PDUs as the ledger carries them: canonical JSON text, content-hashed and signed by
//! the origin organisation's node key with ruma-signatures, identified by their reference hash.

use std::collections::BTreeMap;

use crate::rejection::{Rejection, RejectionKind};
use ed25519_dalek::SigningKey;
use ruma::events::{StateEventType, TimelineEventType};
use ruma::room_version_rules::RoomVersionRules;
use ruma::serde::Base64;
use ruma::signatures::{Ed25519KeyPair, PublicKeyMap, Verified};
use ruma::{
    CanonicalJsonObject, CanonicalJsonValue, EventId, MilliSecondsSinceUnixEpoch, OwnedEventId,
    OwnedRoomId, OwnedUserId, RoomId, RoomVersionId, UserId,
};
use serde::Deserialize;
use serde_json::value::RawValue;

/// The key name under which an organisation signs its PDUs (`ed25519:node`): the org's
/// genesis node key is its only signing key, so one fixed name is enough.
pub const SIGNING_KEY_VERSION: &str = "node";

/// Room versions the ledger accepts: the ones whose auth rules we test.
pub const SUPPORTED_VERSIONS: [RoomVersionId; 3] =
    [RoomVersionId::V10, RoomVersionId::V11, RoomVersionId::V12];

/// The room version new rooms get unless the creator asks for another.
pub const DEFAULT_VERSION: RoomVersionId = RoomVersionId::V11;

/// Why a PDU could not be built.
#[derive(Debug, thiserror::Error)]
pub enum PduError {
    /// The room version is unknown or not supported here.
    #[error("{0}")]
    Version(Rejection),
    /// The content is not a JSON object or the PDU could not be made canonical.
    #[error("invalid event: {0}")]
    Invalid(String),
    /// Hashing or signing failed (e.g. the event is too large).
    #[error("cannot sign the event: {0}")]
    Sign(#[from] ruma::signatures::JsonError),
}

/// The rules of a supported room version, or why not.
pub fn rules_for(version: &RoomVersionId) -> Result<RoomVersionRules, Rejection> {
    let unsupported = || {
        Rejection::new(
            RejectionKind::UnsupportedRoomVersion,
            format!("unsupported room version {version}"),
        )
    };
    if !SUPPORTED_VERSIONS.contains(version) {
        return Err(unsupported());
    }
    version.rules().ok_or_else(unsupported)
}

/// A ruma-signatures key pair from an organisation's node key, so PDUs carry a standard
/// Matrix signature that every node verifies against the genesis.
pub fn org_key_pair(key: &SigningKey) -> Ed25519KeyPair {
    // PKCS#8 v1 wrapping of a raw Ed25519 seed (RFC 8410): fixed prefix, then the 32 bytes.
    let mut der = vec![
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    der.extend_from_slice(key.as_bytes());
    Ed25519KeyPair::from_der(&der, SIGNING_KEY_VERSION.into())
        .expect("a 32-byte seed in a well-formed PKCS#8 document always parses")
}

/// The public keys of every organisation, by server name, for `verify_event`.
pub fn public_key_map(genesis: &consort_chain::Genesis) -> PublicKeyMap {
    let mut map = PublicKeyMap::new();
    for org in &genesis.orgs {
        if let Some(key) = genesis.org_node_key(&org.id) {
            let mut set = BTreeMap::new();
            set.insert(
                format!("ed25519:{SIGNING_KEY_VERSION}"),
                Base64::new(key.to_bytes().to_vec()),
            );
            map.insert(org.server_name.clone(), set);
        }
    }
    map
}

/// Checks the hashes and signatures of `object` against the organisations' keys: the
/// sender's organisation must have signed and the content hash must match.
pub fn verify_signed(
    object: &CanonicalJsonObject,
    keys: &PublicKeyMap,
    rules: &RoomVersionRules,
) -> Result<(), Rejection> {
    match ruma::signatures::verify_event(keys, object, rules) {
        Ok(Verified::All) => Ok(()),
        Ok(Verified::Signatures) => Err(Rejection::bad_signature(
            "the content hash does not match the event",
        )),
        Err(e) => Err(Rejection::bad_signature(format!(
            "the event's signature does not verify: {e}"
        ))),
    }
}

#[derive(Deserialize)]
struct RawPdu {
    room_id: Option<OwnedRoomId>,
    sender: OwnedUserId,
    origin_server_ts: MilliSecondsSinceUnixEpoch,
    #[serde(rename = "type")]
    kind: TimelineEventType,
    content: Box<RawValue>,
    state_key: Option<String>,
    prev_events: Vec<OwnedEventId>,
    auth_events: Vec<OwnedEventId>,
    redacts: Option<OwnedEventId>,
    depth: u64,
}

#[derive(Deserialize)]
struct RedactsInContent {
    redacts: Option<OwnedEventId>,
}

/// A parsed PDU with its event id: what the auth rules and the projection work on.
#[derive(Clone, Debug)]
pub struct Pdu {
    /// Reference-hash event id.
    pub event_id: OwnedEventId,
    /// The room (for a v12 create event: derived from its event id).
    pub room: OwnedRoomId,
    room_id_field: Option<OwnedRoomId>,
    /// Sender.
    pub sender: OwnedUserId,
    origin_server_ts: MilliSecondsSinceUnixEpoch,
    /// Event type.
    pub kind: TimelineEventType,
    content: Box<RawValue>,
    /// State key, for state events.
    pub state_key: Option<String>,
    prev_events: Vec<OwnedEventId>,
    auth_events: Vec<OwnedEventId>,
    redacts: Option<OwnedEventId>,
    /// Depth as the origin set it.
    pub depth: u64,
    /// The canonical JSON text, as on the ledger.
    pub json: String,
}

impl Pdu {
    /// Parses canonical PDU text of a room of the given rules; the text must be canonical JSON
    /// so the ledger, the projection and the hashes all see the same bytes.
    pub fn parse(
        json: &str,
        rules: &RoomVersionRules,
    ) -> Result<(Self, CanonicalJsonObject), Rejection> {
        let object = parse_object(json)?;
        let event_id = event_id_of(&object, rules)?;
        let pdu = Self::from_parts(event_id, json, rules)?;
        Ok((pdu, object))
    }

    /// Rebuilds a stored PDU whose event id is already known.
    pub fn from_parts(
        event_id: OwnedEventId,
        json: &str,
        rules: &RoomVersionRules,
    ) -> Result<Self, Rejection> {
        let raw: RawPdu = serde_json::from_str(json)
            .map_err(|e| Rejection::malformed(format!("malformed PDU: {e}")))?;
        if !raw.content.get().starts_with('{') {
            return Err(Rejection::malformed(
                "the event content is not a JSON object",
            ));
        }
        let room = match &raw.room_id {
            Some(r) => r.clone(),
            None if rules.authorization.room_create_event_id_as_room_id
                && raw.kind == TimelineEventType::RoomCreate =>
            {
                RoomId::parse(format!("!{}", &event_id.as_str()[1..]))
                    .map_err(|e| Rejection::malformed(format!("cannot derive the room id: {e}")))?
            }
            None => return Err(Rejection::malformed("missing `room_id` field in PDU")),
        };
        let redacts = match raw.redacts {
            Some(r) => Some(r),
            None if raw.kind == TimelineEventType::RoomRedaction => {
                serde_json::from_str::<RedactsInContent>(raw.content.get())
                    .ok()
                    .and_then(|c| c.redacts)
            }
            None => None,
        };
        Ok(Self {
            event_id,
            room,
            room_id_field: raw.room_id,
            sender: raw.sender,
            origin_server_ts: raw.origin_server_ts,
            kind: raw.kind,
            content: raw.content,
            state_key: raw.state_key,
            prev_events: raw.prev_events,
            auth_events: raw.auth_events,
            redacts,
            depth: raw.depth,
            json: json.to_owned(),
        })
    }

    /// The event's content.
    pub fn content(&self) -> &RawValue {
        &self.content
    }

    /// The events this one follows.
    pub fn prev_event_ids(&self) -> &[OwnedEventId] {
        &self.prev_events
    }

    /// The events this one cites as its authority.
    pub fn auth_event_ids(&self) -> &[OwnedEventId] {
        &self.auth_events
    }

    /// For a redaction: the event it redacts (top-level field or, from v11, in the content).
    pub fn redacted_event_id(&self) -> Option<&OwnedEventId> {
        self.redacts.as_ref()
    }

    /// `origin_server_ts` as the origin set it (Unix ms).
    pub fn origin_server_ts_ms(&self) -> u64 {
        u64::from(self.origin_server_ts.get())
    }
}

impl ruma::state_res::Event for Pdu {
    type Id = OwnedEventId;

    fn event_id(&self) -> &Self::Id {
        &self.event_id
    }
    fn room_id(&self) -> Option<&RoomId> {
        self.room_id_field.as_deref()
    }
    fn sender(&self) -> &UserId {
        &self.sender
    }
    fn origin_server_ts(&self) -> MilliSecondsSinceUnixEpoch {
        self.origin_server_ts
    }
    fn event_type(&self) -> &TimelineEventType {
        &self.kind
    }
    fn content(&self) -> &RawValue {
        &self.content
    }
    fn state_key(&self) -> Option<&str> {
        self.state_key.as_deref()
    }
    fn prev_events(&self) -> Box<dyn DoubleEndedIterator<Item = &Self::Id> + '_> {
        Box::new(self.prev_events.iter())
    }
    fn auth_events(&self) -> Box<dyn DoubleEndedIterator<Item = &Self::Id> + '_> {
        Box::new(self.auth_events.iter())
    }
    fn redacts(&self) -> Option<&Self::Id> {
        self.redacts.as_ref()
    }
    fn rejected(&self) -> bool {
        // Rejected events never reach the projection.
        false
    }
}

/// Parses PDU text into a canonical JSON object, insisting that the text is already canonical
/// and carries nothing the signatures do not cover.
pub fn parse_object(json: &str) -> Result<CanonicalJsonObject, Rejection> {
    let object: CanonicalJsonObject = serde_json::from_str(json)
        .map_err(|e| Rejection::malformed(format!("the PDU is not canonical JSON: {e}")))?;
    let again = serde_json::to_string(&object)
        .map_err(|e| Rejection::malformed(format!("the PDU: {e}")))?;
    if again != json {
        return Err(Rejection::malformed(
            "the PDU is not in canonical JSON form",
        ));
    }
    for field in ["unsigned", "event_id"] {
        if object.contains_key(field) {
            return Err(Rejection::malformed(format!(
                "the PDU must not carry `{field}`"
            )));
        }
    }
    Ok(object)
}

/// The event id: `$` + the reference hash under the room version's rules.
pub fn event_id_of(
    object: &CanonicalJsonObject,
    rules: &RoomVersionRules,
) -> Result<OwnedEventId, Rejection> {
    let hash = ruma::signatures::reference_hash(object, rules)
        .map_err(|e| Rejection::malformed(format!("cannot compute the reference hash: {e}")))?;
    EventId::parse(format!("${hash}"))
        .map_err(|e| Rejection::malformed(format!("bad event id: {e}")))
}

/// The version a room is (to be) created with, from an `m.room.create` event's content.
pub fn create_version(content: &RawValue) -> Result<RoomVersionId, Rejection> {
    #[derive(Deserialize)]
    struct C {
        room_version: Option<RoomVersionId>,
    }
    let c: C = serde_json::from_str(content.get())
        .map_err(|e| Rejection::malformed(format!("malformed `m.room.create` content: {e}")))?;
    // The spec's default for a create event without a version is "1", which we refuse.
    c.room_version
        .ok_or_else(|| Rejection::malformed("`m.room.create` must name its room_version"))
}

/// What building a PDU needs to know of its room: version, latest event and current state.
#[derive(Clone, Debug)]
pub struct RoomState {
    /// Room id; `None` only for a v12 room not created yet.
    pub room_id: Option<OwnedRoomId>,
    /// Room version.
    pub version: RoomVersionId,
    /// Current state, `(type, state_key)` → event.
    pub state: BTreeMap<(StateEventType, String), Pdu>,
    /// The latest event in ledger order and its depth.
    pub latest: Option<(OwnedEventId, u64)>,
}

impl RoomState {
    /// The state of a room about to be created with `m.room.create`.
    pub fn new_room(room_id: Option<OwnedRoomId>, version: RoomVersionId) -> Self {
        Self {
            room_id,
            version,
            state: BTreeMap::new(),
            latest: None,
        }
    }

    /// Folds an accepted event in (used by tests and by callers that keep a room in memory).
    pub fn push(&mut self, pdu: Pdu) {
        self.room_id = Some(pdu.room.clone());
        self.latest = Some((pdu.event_id.clone(), pdu.depth));
        if let Some(key) = &pdu.state_key {
            self.state
                .insert((pdu.kind.to_string().into(), key.clone()), pdu);
        }
    }
}

/// A new event as the homeserver wants to send it.
#[derive(Clone, Debug)]
pub struct NewEvent {
    /// Sender (a user of the signing organisation).
    pub sender: OwnedUserId,
    /// Event type.
    pub kind: TimelineEventType,
    /// State key, for state events.
    pub state_key: Option<String>,
    /// Content, a JSON object.
    pub content: serde_json::Value,
    /// `origin_server_ts` (Unix ms, from the sending node's clock).
    pub origin_server_ts: u64,
}

/// Builds, content-hashes and signs a PDU for `room` with the organisation's node key:
/// prev event = the room's latest, auth events chosen from its current state.
pub fn build_pdu(
    key: &SigningKey,
    server_name: &str,
    room: &RoomState,
    new: NewEvent,
) -> Result<Pdu, PduError> {
    let rules = rules_for(&room.version).map_err(PduError::Version)?;
    let content_raw = serde_json::value::to_raw_value(&new.content)
        .map_err(|e| PduError::Invalid(e.to_string()))?;
    let auth_types = ruma::state_res::auth_types_for_event(
        &new.kind,
        &new.sender,
        new.state_key.as_deref(),
        &content_raw,
        &rules.authorization,
    )
    .map_err(PduError::Invalid)?;
    let auth_events: Vec<CanonicalJsonValue> = auth_types
        .iter()
        .filter_map(|k| room.state.get(k))
        .map(|e| CanonicalJsonValue::String(e.event_id.to_string()))
        .collect();
    let (prev_events, depth) = match &room.latest {
        Some((id, depth)) => (vec![CanonicalJsonValue::String(id.to_string())], depth + 1),
        None => (vec![], 1),
    };
    let mut object = CanonicalJsonObject::new();
    let value = |v: serde_json::Value| {
        ruma::canonical_json::to_canonical_value(v).map_err(|e| PduError::Invalid(e.to_string()))
    };
    object.insert("auth_events".into(), CanonicalJsonValue::Array(auth_events));
    object.insert("content".into(), value(new.content)?);
    object.insert("depth".into(), value(depth.into())?);
    object.insert(
        "origin_server_ts".into(),
        value(new.origin_server_ts.into())?,
    );
    object.insert("prev_events".into(), CanonicalJsonValue::Array(prev_events));
    if let Some(room_id) = &room.room_id {
        object.insert(
            "room_id".into(),
            CanonicalJsonValue::String(room_id.to_string()),
        );
    }
    object.insert(
        "sender".into(),
        CanonicalJsonValue::String(new.sender.to_string()),
    );
    if let Some(state_key) = new.state_key {
        object.insert("state_key".into(), CanonicalJsonValue::String(state_key));
    }
    object.insert(
        "type".into(),
        CanonicalJsonValue::String(new.kind.to_string()),
    );
    ruma::signatures::hash_and_sign_event(
        server_name,
        &org_key_pair(key),
        &mut object,
        &rules.redaction,
    )?;
    let json = serde_json::to_string(&object).map_err(|e| PduError::Invalid(e.to_string()))?;
    let (pdu, _) = Pdu::parse(&json, &rules).map_err(|e| PduError::Invalid(e.to_string()))?;
    Ok(pdu)
}
