//! The consortium's genesis: its organisations, their keys and addresses, and the limits
//! every node validates against. Every node of a consortium loads the identical file.

use std::collections::BTreeMap;
use std::path::Path;

use ed25519_dalek::VerifyingKey;
use serde::{Deserialize, Serialize};

use crate::crypto::{Hash32, sha256, verifying_key_from_hex};
use crate::engine::types::{Validator, ValidatorSet};

/// One member organisation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgEntry {
    /// Short stable id, e.g. `org1`; transactions name their org by it.
    pub id: String,
    /// The Matrix server name of the organisation's homeserver, e.g. `org1.localhost`.
    pub server_name: String,
    /// Hex ed25519 public key that signs the organisation's transactions.
    pub node_key: String,
    /// Hex ed25519 public key of the organisation's validator (consensus votes).
    pub validator_key: String,
    /// libp2p multiaddr of the organisation's consensus endpoint.
    pub p2p_addr: String,
    /// `host:port` where the organisation's node accepts gossiped transactions.
    pub gossip_addr: String,
}

/// Consensus-critical limits: every node must apply the same ones.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainParams {
    /// Largest transaction payload, in bytes.
    pub max_tx_bytes: usize,
    /// Largest block body (sum of encoded transactions), in bytes.
    pub max_block_bytes: usize,
    /// Most transactions in one block.
    pub max_block_txs: usize,
}

impl Default for ChainParams {
    fn default() -> Self {
        Self {
            max_tx_bytes: 256 * 1024,
            max_block_bytes: 8 * 1024 * 1024,
            max_block_txs: 20_000,
        }
    }
}

/// The genesis file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Genesis {
    /// Distinguishes this consortium's chain from any other.
    pub chain_id: String,
    /// Unix milliseconds; the first block's time is not earlier.
    pub genesis_time_ms: u64,
    /// Limits.
    #[serde(default)]
    pub params: ChainParams,
    /// Member organisations.
    pub orgs: Vec<OrgEntry>,
    /// Consortium-wide settings of the application on top of the chain (names and values
    /// are the application's; the chain only carries them, as part of the genesis hash).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub app: BTreeMap<String, String>,
    /// Parsed node keys, computed once (every transaction check needs one).
    #[serde(skip)]
    pub node_keys: KeyCache,
}

/// A lazily filled map from org id to its parsed node key. It is derived from the genesis
/// fields, so it never makes two geneses differ.
#[derive(Clone, Default)]
pub struct KeyCache(std::sync::Arc<std::sync::OnceLock<BTreeMap<String, VerifyingKey>>>);

impl PartialEq for KeyCache {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for KeyCache {}

impl std::fmt::Debug for KeyCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyCache")
    }
}

/// A malformed genesis file.
#[derive(Debug, thiserror::Error)]
pub enum GenesisError {
    /// Reading the file failed.
    #[error("cannot read genesis file: {0}")]
    Io(#[from] std::io::Error),
    /// The JSON is not a genesis.
    #[error("genesis file is not valid: {0}")]
    Json(#[from] serde_json::Error),
    /// A semantic problem: duplicate ids, bad keys.
    #[error("genesis is inconsistent: {0}")]
    Invalid(String),
}

impl Genesis {
    /// Loads and checks a genesis file.
    pub fn load(path: &Path) -> Result<Self, GenesisError> {
        let genesis: Genesis = serde_json::from_slice(&std::fs::read(path)?)?;
        genesis.check()?;
        Ok(genesis)
    }

    /// Writes the genesis as pretty JSON.
    pub fn save(&self, path: &Path) -> Result<(), GenesisError> {
        std::fs::write(path, serde_json::to_vec_pretty(self)?)?;
        Ok(())
    }

    /// Checks that ids and server names are unique and every key parses.
    pub fn check(&self) -> Result<(), GenesisError> {
        if self.orgs.is_empty() {
            return Err(GenesisError::Invalid("no organisations".into()));
        }
        let mut ids = BTreeMap::new();
        for org in &self.orgs {
            if ids.insert(org.id.clone(), ()).is_some() {
                return Err(GenesisError::Invalid(format!(
                    "duplicate org id {}",
                    org.id
                )));
            }
            verifying_key_from_hex(&org.node_key)
                .map_err(|e| GenesisError::Invalid(format!("{}: node_key: {e}", org.id)))?;
            verifying_key_from_hex(&org.validator_key)
                .map_err(|e| GenesisError::Invalid(format!("{}: validator_key: {e}", org.id)))?;
        }
        let names: std::collections::BTreeSet<_> =
            self.orgs.iter().map(|o| &o.server_name).collect();
        if names.len() != self.orgs.len() {
            return Err(GenesisError::Invalid("duplicate server names".into()));
        }
        let p = &self.params;
        if p.max_block_txs == 0 || p.max_tx_bytes == 0 {
            return Err(GenesisError::Invalid(
                "params: max_block_txs and max_tx_bytes must be at least 1".into(),
            ));
        }
        if p.max_block_bytes < p.max_tx_bytes {
            return Err(GenesisError::Invalid(format!(
                "params: max_block_bytes ({}) is below max_tx_bytes ({}): the largest transaction would never fit in a block",
                p.max_block_bytes, p.max_tx_bytes
            )));
        }
        Ok(())
    }

    /// The organisation with this id.
    pub fn org(&self, id: &str) -> Option<&OrgEntry> {
        self.orgs.iter().find(|o| o.id == id)
    }

    /// The organisation whose homeserver has this Matrix server name.
    pub fn org_by_server_name(&self, server_name: &str) -> Option<&OrgEntry> {
        self.orgs.iter().find(|o| o.server_name == server_name)
    }

    /// The key that signs `org`'s transactions.
    pub fn org_node_key(&self, org: &str) -> Option<VerifyingKey> {
        self.node_keys
            .0
            .get_or_init(|| {
                self.orgs
                    .iter()
                    .filter_map(|o| Some((o.id.clone(), verifying_key_from_hex(&o.node_key).ok()?)))
                    .collect()
            })
            .get(org)
            .copied()
    }

    /// The validator set: one validator per organisation, equal power.
    pub fn validator_set(&self) -> ValidatorSet {
        ValidatorSet::new(self.orgs.iter().filter_map(|o| {
            verifying_key_from_hex(&o.validator_key)
                .ok()
                .map(|k| Validator::new(k, 1))
        }))
    }

    /// Hash of the canonical genesis bytes: the app hash before block 1.
    pub fn hash(&self) -> Hash32 {
        let bytes = serde_json::to_vec(self).expect("a genesis always serializes");
        sha256(&[b"consort-genesis", &bytes])
    }
}
