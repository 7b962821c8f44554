//! The consortium ledger behind [`RegistrationLedger`]: registrations, deactivations and
//! profiles become bridge records committed on the chain and applied by every node.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use consort_bridge::{Bridge, BridgeError, Record, Registration, submit_record, users};
use consort_chain::{ChainNode, Genesis, Receipt, SubmitError};
use ed25519_dalek::SigningKey;
use ruma::{MilliSecondsSinceUnixEpoch, OwnedMxcUri, UserId};
use sqlx::AnyPool;
use tokio::sync::watch;

use super::registration_ledger::{LedgerError, RegistrationLedger, RemoteProfile};

/// How long a client request waits for its record to commit before answering 503.
const COMMIT_TIMEOUT: Duration = Duration::from_secs(30);

/// This organisation's view of the chain, for the account services.
pub struct ChainLedger {
    node: Arc<ChainNode>,
    bridge: Bridge,
    org: String,
    node_key: SigningKey,
}

impl ChainLedger {
    /// A ledger over a running node and its bridge, submitting as `org`.
    pub fn new(node: Arc<ChainNode>, bridge: Bridge, org: String, node_key: SigningKey) -> Self {
        Self {
            node,
            bridge,
            org,
            node_key,
        }
    }

    /// Submits `record` as this organisation and waits until every node applied it; a
    /// rejection by the consortium's rules comes back as [`LedgerError::Rejected`].
    pub async fn submit_record(&self, record: &Record) -> Result<Receipt, LedgerError> {
        match tokio::time::timeout(
            COMMIT_TIMEOUT,
            submit_record(&self.node, &self.bridge, record),
        )
        .await
        {
            Err(_) => Err(LedgerError::Unavailable(
                "the ledger did not commit the record in time".into(),
            )),
            Ok(Ok(receipt)) => Ok(receipt),
            Ok(Err(BridgeError::Rejected(reason))) => Err(LedgerError::Rejected(reason)),
            Ok(Err(BridgeError::Chain(SubmitError::Refused(e)))) => Err(LedgerError::Refused(e)),
            Ok(Err(e)) => Err(LedgerError::Unavailable(e.to_string())),
        }
    }

    async fn submit(&self, record: Record) -> Result<(), LedgerError> {
        self.submit_record(&record).await.map(|_| ())
    }

    /// The projection's pool (this node's one database).
    pub fn pool(&self) -> &AnyPool {
        self.bridge.pool()
    }

    /// The consortium.
    pub fn genesis(&self) -> &Genesis {
        self.bridge.genesis()
    }

    /// This organisation's id in the genesis.
    pub fn org(&self) -> &str {
        &self.org
    }

    /// The ledger node (status, blocks, inclusion proofs).
    pub fn node(&self) -> &ChainNode {
        &self.node
    }

    /// This organisation's node key, which signs its PDUs.
    pub fn node_key(&self) -> &SigningKey {
        &self.node_key
    }

    /// The height of the last block applied to the projection; it changes right after
    /// each block's records are committed there.
    pub fn watch_applied(&self) -> watch::Receiver<u64> {
        self.bridge.watch_applied()
    }

    /// The height of the last block applied to the projection.
    pub fn applied_height(&self) -> u64 {
        *self.bridge.watch_applied().borrow()
    }

    /// Records this node rejected since it started, by kind (for its metrics).
    pub fn rejections(&self) -> &consort_bridge::RejectionCounts {
        self.bridge.rejections()
    }

    /// The hash of the transaction at (height, index), hex, when the node holds the block.
    pub async fn tx_hash_at(&self, height: u64, index: u32) -> Result<Option<String>, LedgerError> {
        let block = self
            .node
            .block(height)
            .await
            .map_err(|e| LedgerError::Unavailable(e.to_string()))?;
        Ok(block.and_then(|b| b.txs.get(index as usize).map(|t| t.hash().to_string())))
    }
}

#[async_trait]
impl RegistrationLedger for ChainLedger {
    async fn publish_registration(
        &self,
        user_id: &UserId,
        approved_by: Option<&UserId>,
        ts: MilliSecondsSinceUnixEpoch,
    ) -> Result<(), LedgerError> {
        // Without an approving admin (open registration, operator tools) the organisation
        // itself vouches: the certificate names its server.
        let approver = approved_by
            .map(|u| u.to_string())
            .unwrap_or_else(|| format!("@:{}", user_id.server_name()));
        let cert = Registration::new_signed(
            user_id.as_str(),
            &self.org,
            &approver,
            u64::from(ts.get()),
            &self.node_key,
        );
        self.submit(Record::Registration(cert)).await
    }

    async fn publish_deactivation(&self, user_id: &UserId) -> Result<(), LedgerError> {
        self.submit(Record::Deactivation {
            user_id: user_id.to_string(),
            at_ms: u64::from(MilliSecondsSinceUnixEpoch::now().get()),
        })
        .await
    }

    async fn publish_profile(
        &self,
        user_id: &UserId,
        displayname: Option<&str>,
        avatar_url: Option<&str>,
    ) -> Result<(), LedgerError> {
        self.submit(Record::Profile {
            user_id: user_id.to_string(),
            displayname: displayname.map(str::to_owned),
            avatar_url: avatar_url.map(str::to_owned),
        })
        .await
    }

    async fn is_user_id_taken_elsewhere(&self, user_id: &UserId) -> Result<bool, LedgerError> {
        users::get(self.bridge.pool(), user_id.as_str())
            .await
            .map(|row| row.is_some())
            .map_err(|e| LedgerError::Unavailable(e.to_string()))
    }

    async fn remote_profile(&self, user_id: &UserId) -> Result<Option<RemoteProfile>, LedgerError> {
        let row = users::get(self.bridge.pool(), user_id.as_str())
            .await
            .map_err(|e| LedgerError::Unavailable(e.to_string()))?;
        Ok(row.filter(|r| !r.deactivated).map(|r| RemoteProfile {
            displayname: r.displayname,
            avatar_url: r.avatar_url.map(OwnedMxcUri::from),
        }))
    }
}
