//! Why the consortium's rules rejected a record: a kind with a stable code, stored with the
//! outcome and fed into the outcome digest, and a message for people. The homeserver maps
//! the kind (never the message) to a Matrix error, in one place.

use std::fmt;

/// The class of a rejection. Its [`code`](RejectionKind::code) is stored in
/// `bridge_outcomes.code` and hashed into the app hash: codes never change meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RejectionKind {
    /// The record or a field of it is not well formed (not a record, not canonical JSON,
    /// NUL, out-of-range numbers, missing fields).
    Malformed,
    /// A signature (event, key or certificate) does not verify.
    BadSignature,
    /// The user the record names is not registered.
    UnknownUser,
    /// The user the record names is deactivated.
    Deactivated,
    /// The user id is already registered by an organisation.
    UserInUse,
    /// The room alias is already taken.
    AliasInUse,
    /// The media id already has content.
    MediaInUse,
    /// The room, event, alias, device or media the record refers to does not exist.
    NotFound,
    /// What the record creates already exists (a room, an event already on the ledger).
    AlreadyExists,
    /// The record acts for a user, alias or media of another organisation.
    WrongOrganisation,
    /// The rules refuse it: room authorisation, power levels, contact policy, membership.
    Forbidden,
    /// The room version is not one the consortium supports.
    UnsupportedRoomVersion,
    /// The record asks for something the consortium does not do (a receipt type, a policy).
    Unsupported,
    /// The record exceeds a consortium limit (keys per upload, claims, lengths).
    LimitExceeded,
}

impl RejectionKind {
    /// Every kind, for code lookups and tests.
    pub const ALL: [RejectionKind; 14] = [
        Self::Malformed,
        Self::BadSignature,
        Self::UnknownUser,
        Self::Deactivated,
        Self::UserInUse,
        Self::AliasInUse,
        Self::MediaInUse,
        Self::NotFound,
        Self::AlreadyExists,
        Self::WrongOrganisation,
        Self::Forbidden,
        Self::UnsupportedRoomVersion,
        Self::Unsupported,
        Self::LimitExceeded,
    ];

    /// The stable code stored with the outcome.
    pub fn code(self) -> &'static str {
        match self {
            Self::Malformed => "malformed",
            Self::BadSignature => "bad_signature",
            Self::UnknownUser => "unknown_user",
            Self::Deactivated => "deactivated",
            Self::UserInUse => "user_in_use",
            Self::AliasInUse => "alias_in_use",
            Self::MediaInUse => "media_in_use",
            Self::NotFound => "not_found",
            Self::AlreadyExists => "already_exists",
            Self::WrongOrganisation => "wrong_organisation",
            Self::Forbidden => "forbidden",
            Self::UnsupportedRoomVersion => "unsupported_room_version",
            Self::Unsupported => "unsupported",
            Self::LimitExceeded => "limit_exceeded",
        }
    }

    /// The kind with this stored code.
    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.code() == code)
    }
}

impl fmt::Display for RejectionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// A record's rejection: its kind and what a person reads.
/// How many records of each kind this node has seen rejected since it started, for its
/// metrics (the outcomes themselves are in `bridge_outcomes`).
#[derive(Debug, Default)]
pub struct RejectionCounts([std::sync::atomic::AtomicU64; RejectionKind::ALL.len()]);

impl RejectionCounts {
    /// Counts one rejected record.
    pub fn add(&self, kind: RejectionKind) {
        self.0[Self::slot(kind)].fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// Records of `kind` rejected so far.
    pub fn get(&self, kind: RejectionKind) -> u64 {
        self.0[Self::slot(kind)].load(std::sync::atomic::Ordering::Relaxed)
    }

    fn slot(kind: RejectionKind) -> usize {
        RejectionKind::ALL
            .iter()
            .position(|k| *k == kind)
            .expect("every kind is in ALL")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Rejection {
    kind: RejectionKind,
    message: String,
}

impl Rejection {
    /// A rejection of `kind`, explained by `message`.
    pub fn new(kind: RejectionKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            // PostgreSQL text cannot hold NUL; every backend stores the same message.
            message: message.into().replace('\0', "\\0"),
        }
    }

    /// Its kind.
    pub fn kind(&self) -> RejectionKind {
        self.kind
    }

    /// Its stable code.
    pub fn code(&self) -> &'static str {
        self.kind.code()
    }

    /// What a person reads.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The same rejection, its message prefixed with where it happened (`event 2 of the
    /// batch: …`); the kind is kept.
    pub fn context(self, prefix: impl fmt::Display) -> Self {
        Self::new(self.kind, format!("{prefix}: {}", self.message))
    }

    /// [`RejectionKind::Malformed`].
    pub fn malformed(message: impl Into<String>) -> Self {
        Self::new(RejectionKind::Malformed, message)
    }

    /// [`RejectionKind::BadSignature`].
    pub fn bad_signature(message: impl Into<String>) -> Self {
        Self::new(RejectionKind::BadSignature, message)
    }

    /// [`RejectionKind::NotFound`].
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(RejectionKind::NotFound, message)
    }

    /// [`RejectionKind::Forbidden`].
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(RejectionKind::Forbidden, message)
    }

    /// [`RejectionKind::WrongOrganisation`].
    pub fn wrong_org(message: impl Into<String>) -> Self {
        Self::new(RejectionKind::WrongOrganisation, message)
    }

    /// [`RejectionKind::LimitExceeded`].
    pub fn limit(message: impl Into<String>) -> Self {
        Self::new(RejectionKind::LimitExceeded, message)
    }

    /// [`RejectionKind::UnknownUser`]: `user` is not registered.
    pub fn unknown_user(user: impl fmt::Display) -> Self {
        Self::new(
            RejectionKind::UnknownUser,
            format!("{user} is not registered"),
        )
    }

    /// [`RejectionKind::Deactivated`]: `user` is deactivated.
    pub fn deactivated(user: impl fmt::Display) -> Self {
        Self::new(RejectionKind::Deactivated, format!("{user} is deactivated"))
    }
}

/// A record's outcome: applied, or rejected the same way on every node.
pub type Outcome = Result<(), Rejection>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct_and_round_trip() {
        let mut seen = std::collections::BTreeSet::new();
        for kind in RejectionKind::ALL {
            assert!(seen.insert(kind.code()), "{kind} appears twice");
            assert_eq!(RejectionKind::from_code(kind.code()), Some(kind));
        }
        assert_eq!(RejectionKind::from_code("no such code"), None);
    }

    #[test]
    fn context_keeps_the_kind_and_nul_is_escaped() {
        let r = Rejection::new(RejectionKind::AliasInUse, "#a:x is taken").context("event 2");
        assert_eq!(r.kind(), RejectionKind::AliasInUse);
        assert_eq!(r.to_string(), "event 2: #a:x is taken");
        assert_eq!(Rejection::malformed("a\0b").message(), "a\\0b");
    }
}
