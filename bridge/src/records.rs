//! Every payload the bridge puts on the ledger, in its canonical (borsh) encoding.

use borsh::{BorshDeserialize, BorshSerialize};
use consort_chain::engine::signing::Signature;
use ed25519_dalek::{SigningKey, VerifyingKey};

/// A ledger record: the payload of one chain transaction.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum Record {
    /// An organisation admin approved an account: it becomes usable and visible everywhere.
    Registration(Registration),
    /// An account was deactivated by its organisation.
    Deactivation {
        /// The account.
        user_id: String,
        /// When (Unix ms, from the submitting node).
        at_ms: u64,
    },
    /// A user's public profile changed.
    Profile {
        /// The user.
        user_id: String,
        /// New display name, if any.
        displayname: Option<String>,
        /// New avatar, if any.
        avatar_url: Option<String>,
    },
    /// A Matrix room event. New variants go last so earlier ones keep their encodings.
    RoomEvent(RoomEvent),
    /// A room alias of the submitting organisation was bound to a room, or removed.
    RoomAlias(RoomAlias),
    /// A room was published in, or withdrawn from, the consortium's room directory.
    RoomDirectory(RoomDirectory),
    /// A user's public read receipt.
    Receipt(ReadReceipt),
    /// Room events applied in order, all or none (a new room's first events).
    RoomEventBatch(Vec<RoomEvent>),
    /// A device's identity keys and a batch of its one-time and fallback keys (`/keys/upload`).
    KeyUpload(KeyUpload),
    /// A device was deleted: its keys are gone for every organisation.
    DeviceRemoved {
        /// The device's owner (a user of the submitting organisation).
        user_id: String,
        /// The device.
        device_id: String,
    },
    /// One-time keys claimed (`/keys/claim`), handed out in block order.
    KeyClaim(KeyClaim),
    /// A user's cross-signing keys (master, self-signing, user-signing), each optional.
    CrossSigningKeys(CrossSigningKeys),
    /// Signatures a user made over keys (its own devices, or another user's master key).
    KeySignatures(KeySignatures),
    /// To-device messages (Olm-encrypted room keys, verification) for devices of other
    /// organisations.
    ToDevice(ToDevice),
    /// A step of a contact relationship: a request, its acceptance or refusal, an unbinding.
    Contact(Contact),
    /// The submitting organisation sets one of its policies (`contacts`: `cross_org`, `all`
    /// or `open`); the transaction's signature is the organisation's.
    OrgPolicy {
        /// Which policy.
        policy: String,
        /// Its new value.
        value: String,
    },
    /// Which `mxc://` URI names which file: the file's IPFS CID and what every node needs to
    /// serve it. The bytes stay off the ledger, on the nodes' blob stores.
    MediaPin(MediaPin),
    /// Media removed by an admin of the organisation that uploaded it (legal or abuse
    /// reasons): no node serves it any more, and every node deletes its copy.
    MediaUnpin(MediaUnpin),
}

/// A file uploaded by a user of the submitting organisation.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct MediaPin {
    /// `mxc://{server}/{media id}`, the server being the submitting organisation's.
    pub mxc: String,
    /// The file's CIDv1 (raw leaf or UnixFS DAG-PB root, sha2-256), base32 text.
    pub cid: String,
    /// The file's length in bytes.
    pub size: u64,
    /// The content type the uploader gave.
    pub content_type: Option<String>,
    /// Who uploaded it.
    pub uploader: String,
    /// When (Unix ms, from the submitting node).
    pub at_ms: u64,
}

/// Removes a [`MediaPin`].
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct MediaUnpin {
    /// The media's `mxc://` URI.
    pub mxc: String,
    /// The admin who removed it (a user of the submitting organisation).
    pub admin: String,
}

/// One step of a contact relationship between two users, taken by `user_id` (a user of the
/// submitting organisation) towards `other` (a user of any organisation).
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Contact {
    /// Who acts.
    pub user_id: String,
    /// Towards whom.
    pub other: String,
    /// What they do.
    pub action: ContactAction,
}

/// What a [`Contact`] record does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum ContactAction {
    /// Asks `other` to become a contact (binds at once when `other` has already asked).
    Request,
    /// Accepts `other`'s pending request: the two are bound.
    Accept,
    /// Declines `other`'s pending request.
    Decline,
    /// Ends the relationship with a bound contact.
    Unbind,
}

impl ContactAction {
    /// The name used in the API, the log and the projection.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Request => "request",
            Self::Accept => "accept",
            Self::Decline => "decline",
            Self::Unbind => "unbind",
        }
    }
}

/// What one `/keys/upload` carries to the ledger: public keys only, as JSON text signed by
/// the device.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct KeyUpload {
    /// The device's owner (a user of the submitting organisation).
    pub user_id: String,
    /// The device.
    pub device_id: String,
    /// The device keys object (`algorithms`, `keys`, `signatures`), when uploaded.
    pub device_keys: Option<String>,
    /// New one-time keys: `(algorithm:key_id, key JSON)`.
    pub one_time_keys: Vec<(String, String)>,
    /// New fallback keys: `(algorithm:key_id, key JSON)`, one per algorithm.
    pub fallback_keys: Vec<(String, String)>,
}

/// One claim of one-time keys by a user: `(user, device, algorithm)` each.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct KeyClaim {
    /// Who claims (a user of the submitting organisation).
    pub user_id: String,
    /// The keys asked for.
    pub claims: Vec<(String, String, String)>,
}

/// A user's cross-signing keys as JSON text (`CrossSigningKey` objects).
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct CrossSigningKeys {
    /// The owner (a user of the submitting organisation).
    pub user_id: String,
    /// The master key.
    pub master: Option<String>,
    /// The self-signing key, signed by the master key.
    pub self_signing: Option<String>,
    /// The user-signing key, signed by the master key.
    pub user_signing: Option<String>,
}

/// Signatures uploaded by `user_id`: `(target user, key id or device id, signed object JSON)`.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct KeySignatures {
    /// The signer (a user of the submitting organisation).
    pub user_id: String,
    /// The signed objects, each carrying the new signature.
    pub signed: Vec<(String, String, String)>,
}

/// To-device messages from one device: `(user, device or "*", content JSON)` each.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct ToDevice {
    /// The sender (a user of the submitting organisation).
    pub sender: String,
    /// The event type (`m.room.encrypted`, `m.room_key_request`, ...).
    pub event_type: String,
    /// The messages.
    pub messages: Vec<(String, String, String)>,
}

/// Binds `#name:server` to a room (or removes the binding). Only the organisation whose
/// server name the alias carries may submit it.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct RoomAlias {
    /// The alias, `#name:server`.
    pub alias: String,
    /// The room it points to; `None` removes the alias.
    pub room_id: Option<String>,
    /// The user who asked (a user of the submitting organisation).
    pub user_id: String,
}

/// Publishes a room in the directory every organisation lists (`/publicRooms`).
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct RoomDirectory {
    /// The room.
    pub room_id: String,
    /// The user who asked: joined, with the power to change the room's canonical alias.
    pub user_id: String,
    /// Listed (`true`) or withdrawn.
    pub public: bool,
}

/// A public read receipt (`m.read`), shown to every member of the room on every node.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct ReadReceipt {
    /// The room.
    pub room_id: String,
    /// The reader (a user of the submitting organisation, joined to the room).
    pub user_id: String,
    /// The receipt type (`m.read`).
    pub receipt_type: String,
    /// The thread (`main` or a thread root), empty for an unthreaded receipt.
    pub thread_id: String,
    /// The event read up to.
    pub event_id: String,
    /// When (Unix ms, from the submitting node).
    pub ts_ms: u64,
}

/// A Matrix PDU on the ledger, signed by the sender's organisation (docs/architecture.md,
/// "Ledger records").
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct RoomEvent {
    /// The PDU as canonical JSON text, with `hashes.sha256` and the org's signature; its event
    /// id is its reference hash, so it is not carried.
    pub pdu: String,
}

impl Record {
    /// Canonical bytes for a chain transaction's payload.
    pub fn encode(&self) -> Vec<u8> {
        borsh::to_vec(self).expect("writing to a Vec cannot fail")
    }

    /// Decodes a payload; garbage is an error (and a rejected transaction), never a panic.
    pub fn decode(bytes: &[u8]) -> Result<Self, std::io::Error> {
        borsh::from_slice(bytes)
    }
}

/// The approval certificate of an account, signed by the organisation's node key.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Registration {
    /// The full Matrix user id, `@local:server`.
    pub user_id: String,
    /// The organisation that approved it; the user id's server name must be its.
    pub org: String,
    /// The approving admin's user id.
    pub approved_by: String,
    /// Approval time (Unix ms).
    pub approved_at_ms: u64,
    /// The organisation's signature over the fields above.
    pub signature: Signature,
}

impl Registration {
    fn sign_bytes(user_id: &str, org: &str, approved_by: &str, approved_at_ms: u64) -> Vec<u8> {
        let mut out = b"consort-registration".to_vec();
        borsh::to_writer(&mut out, &(user_id, org, approved_by, approved_at_ms))
            .expect("writing to a Vec cannot fail");
        out
    }

    /// Signs a new certificate with the organisation's node key.
    pub fn new_signed(
        user_id: &str,
        org: &str,
        approved_by: &str,
        approved_at_ms: u64,
        key: &SigningKey,
    ) -> Self {
        let signature = Signature::sign(
            key,
            &Self::sign_bytes(user_id, org, approved_by, approved_at_ms),
        );
        Self {
            user_id: user_id.into(),
            org: org.into(),
            approved_by: approved_by.into(),
            approved_at_ms,
            signature,
        }
    }

    /// Whether the certificate is signed by `key`.
    pub fn verify(&self, key: &VerifyingKey) -> bool {
        self.signature.verify(
            key,
            &Self::sign_bytes(
                &self.user_id,
                &self.org,
                &self.approved_by,
                self.approved_at_ms,
            ),
        )
    }
}

/// Splits `@local:server` into its parts, or `None` when it is not a user id.
pub fn split_user_id(user_id: &str) -> Option<(&str, &str)> {
    let rest = user_id.strip_prefix('@')?;
    let (local, server) = rest.split_once(':')?;
    if local.is_empty() || server.is_empty() {
        return None;
    }
    Some((local, server))
}
