//! Where an approved registration becomes official. In a consortium the node publishes a
//! `Registration` record on the shared ledger and every organisation checks it; an account is
//! usable only once that publication succeeded. This trait is the seam between the
//! homeserver and that ledger, so the homeserver can run (and be tested) without a chain.

use async_trait::async_trait;
use consort_bridge::Rejection;
use consort_chain::TxError;
use ruma::{MilliSecondsSinceUnixEpoch, OwnedMxcUri, UserId};
use sqlx::AnyPool;

/// Why the ledger did not accept or answer.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// The ledger validated the record and rejected it, the same way on every node; a user
    /// id taken by some organisation is a rejection of kind `UserInUse`.
    #[error("ledger rejected the record: {0}")]
    Rejected(Rejection),
    /// This node refused the transaction before it reached the ledger (too large, mempool
    /// full).
    #[error("the ledger node refused the transaction: {0}")]
    Refused(TxError),
    /// The ledger could not be reached or did not commit in time.
    #[error("ledger unavailable: {0}")]
    Unavailable(String),
}

/// A profile of a user of another organisation, as the ledger knows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RemoteProfile {
    /// Display name.
    pub displayname: Option<String>,
    /// Avatar.
    pub avatar_url: Option<OwnedMxcUri>,
}

/// The consortium ledger as the account services see it.
#[async_trait]
pub trait RegistrationLedger: Send + Sync {
    /// Publishes that `user_id` (of this organisation) is registered, approved by `approved_by`
    /// (`None` for open registration or operator tools) at `ts`. Returns once the record is
    /// committed and accepted; only then may the account be used.
    async fn publish_registration(
        &self,
        user_id: &UserId,
        approved_by: Option<&UserId>,
        ts: MilliSecondsSinceUnixEpoch,
    ) -> Result<(), LedgerError>;

    /// Publishes that `user_id` is deactivated.
    async fn publish_deactivation(&self, user_id: &UserId) -> Result<(), LedgerError>;

    /// Publishes `user_id`'s public profile so other organisations show it.
    async fn publish_profile(
        &self,
        user_id: &UserId,
        displayname: Option<&str>,
        avatar_url: Option<&str>,
    ) -> Result<(), LedgerError>;

    /// Whether another organisation (or an earlier registration) already holds `user_id`.
    async fn is_user_id_taken_elsewhere(&self, user_id: &UserId) -> Result<bool, LedgerError>;

    /// The profile of a user of another organisation, `None` when unknown.
    async fn remote_profile(&self, user_id: &UserId) -> Result<Option<RemoteProfile>, LedgerError>;
}

/// Single-node mode: no consortium, the "ledger" is a table of this node's own database
/// (`hs_local_ledger`) that records accepted registrations and deactivations. No other
/// organisation exists, so nothing is taken elsewhere and no remote profile is known.
#[derive(Debug, Clone)]
pub struct LocalOnlyLedger {
    pool: AnyPool,
}

impl LocalOnlyLedger {
    /// A ledger over the node's own database.
    pub fn new(pool: AnyPool) -> Self {
        Self { pool }
    }

    async fn record(
        &self,
        kind: &str,
        user_id: &UserId,
        approved_by: Option<&UserId>,
        ts: MilliSecondsSinceUnixEpoch,
    ) -> Result<(), LedgerError> {
        let ts = i64::try_from(u64::from(ts.get())).unwrap_or(i64::MAX);
        sqlx::query(
            "INSERT INTO hs_local_ledger (kind, user_id, approved_by, ts) VALUES ($1, $2, $3, $4)",
        )
        .bind(kind)
        .bind(user_id.as_str())
        .bind(approved_by.map(UserId::as_str))
        .bind(ts)
        .execute(&self.pool)
        .await
        .map_err(|e| LedgerError::Unavailable(e.to_string()))?;
        Ok(())
    }
}

#[async_trait]
impl RegistrationLedger for LocalOnlyLedger {
    async fn publish_registration(
        &self,
        user_id: &UserId,
        approved_by: Option<&UserId>,
        ts: MilliSecondsSinceUnixEpoch,
    ) -> Result<(), LedgerError> {
        self.record("registration", user_id, approved_by, ts).await
    }

    async fn publish_deactivation(&self, user_id: &UserId) -> Result<(), LedgerError> {
        self.record(
            "deactivation",
            user_id,
            None,
            MilliSecondsSinceUnixEpoch::now(),
        )
        .await
    }

    async fn publish_profile(
        &self,
        user_id: &UserId,
        _displayname: Option<&str>,
        _avatar_url: Option<&str>,
    ) -> Result<(), LedgerError> {
        self.record("profile", user_id, None, MilliSecondsSinceUnixEpoch::now())
            .await
    }

    async fn is_user_id_taken_elsewhere(&self, _user_id: &UserId) -> Result<bool, LedgerError> {
        Ok(false)
    }

    async fn remote_profile(
        &self,
        _user_id: &UserId,
    ) -> Result<Option<RemoteProfile>, LedgerError> {
        Ok(None)
    }
}
