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

/// A Matrix PDU on the ledger, signed by the sender's organisation (DESIGN §3).
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
