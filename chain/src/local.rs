//! Local consortia: generating a genesis and keys for N organisations on 127.0.0.1, as
//! `consort chain init`, the benchmark and the tests do.

use std::net::TcpListener;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use ed25519_dalek::SigningKey;
use serde::{Deserialize, Serialize};

use crate::crypto::{generate_key, signing_key_from_hex};
use crate::genesis::{ChainParams, Genesis, OrgEntry};

/// One organisation's secret keys, as stored in its `keys.json`.
#[derive(Clone)]
pub struct OrgKeys {
    /// Signs the organisation's transactions.
    pub node_key: SigningKey,
    /// Signs the organisation's consensus votes.
    pub validator_key: SigningKey,
}

#[derive(Serialize, Deserialize)]
struct KeysFile {
    node_key: String,
    validator_key: String,
}

impl OrgKeys {
    /// Fresh random keys.
    pub fn generate() -> Self {
        Self {
            node_key: generate_key(),
            validator_key: generate_key(),
        }
    }

    /// Writes the keys as hex JSON, readable by the owner only.
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        let file = KeysFile {
            node_key: hex::encode(self.node_key.to_bytes()),
            validator_key: hex::encode(self.validator_key.to_bytes()),
        };
        std::fs::write(path, serde_json::to_vec_pretty(&file)?)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
        }
        Ok(())
    }

    /// Reads a keys file.
    pub fn load(path: &Path) -> Result<Self, String> {
        let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let file: KeysFile =
            serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(Self {
            node_key: signing_key_from_hex(&file.node_key)?,
            validator_key: signing_key_from_hex(&file.validator_key)?,
        })
    }
}

/// A free TCP port on 127.0.0.1 (bound, then released for the caller to use).
pub fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Addresses of one organisation's node on 127.0.0.1.
#[derive(Clone, Copy, Debug)]
pub struct LocalPorts {
    /// libp2p consensus port.
    pub p2p: u16,
    /// Transaction gossip port.
    pub gossip: u16,
}

/// A genesis for `ports.len()` organisations `org1..orgN` on 127.0.0.1, with their keys.
pub fn local_consortium(chain_id: &str, ports: &[LocalPorts]) -> (Genesis, Vec<OrgKeys>) {
    let keys: Vec<OrgKeys> = ports.iter().map(|_| OrgKeys::generate()).collect();
    let orgs = ports
        .iter()
        .zip(&keys)
        .enumerate()
        .map(|(i, (p, k))| OrgEntry {
            id: format!("org{}", i + 1),
            server_name: format!("org{}.localhost", i + 1),
            node_key: hex::encode(k.node_key.verifying_key().as_bytes()),
            validator_key: hex::encode(k.validator_key.verifying_key().as_bytes()),
            p2p_addr: format!("/ip4/127.0.0.1/tcp/{}", p.p2p),
            gossip_addr: format!("127.0.0.1:{}", p.gossip),
        })
        .collect();
    let genesis_time_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let genesis = Genesis {
        chain_id: chain_id.to_string(),
        genesis_time_ms,
        params: ChainParams::default(),
        orgs,
    };
    (genesis, keys)
}

/// Ports for `n` organisations chosen by the OS.
pub fn free_local_ports(n: usize) -> std::io::Result<Vec<LocalPorts>> {
    (0..n)
        .map(|_| {
            Ok(LocalPorts {
                p2p: free_port()?,
                gossip: free_port()?,
            })
        })
        .collect()
}
