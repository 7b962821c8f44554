//! Local consortia: generating a genesis and keys for N organisations on 127.0.0.1, as
//! `consort chain init`, the benchmark and the tests do.

use std::collections::BTreeMap;
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
///
/// The port is written into a genesis and bound later, so it is taken below the kernel's
/// ephemeral range: a port the kernel hands out for `bind(…:0)` or an outgoing connection
/// in the meantime would otherwise be another server's, and a node dialling it would talk
/// to a stranger. Falls back to an ephemeral port when no such range is free.
pub fn free_port() -> std::io::Result<u16> {
    use std::sync::atomic::{AtomicU16, Ordering};
    static NEXT: AtomicU16 = AtomicU16::new(0);
    static EPHEMERAL_START: std::sync::OnceLock<u16> = std::sync::OnceLock::new();
    let (low, high) = (
        PORTS_FROM,
        (*EPHEMERAL_START.get_or_init(ephemeral_start)).min(PORTS_TO),
    );
    if high > low + 100 {
        let span = high - low;
        if NEXT.load(Ordering::Relaxed) == 0 {
            let _ = NEXT.compare_exchange(
                0,
                rand::random::<u16>() % span + 1,
                Ordering::Relaxed,
                Ordering::Relaxed,
            );
        }
        for _ in 0..span {
            let port = low + NEXT.fetch_add(1, Ordering::Relaxed) % span;
            if TcpListener::bind(("127.0.0.1", port)).is_ok() {
                return Ok(port);
            }
        }
    }
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Where [`free_port`] looks: above the well-known services, below the ephemeral range.
const PORTS_FROM: u16 = 20_000;
const PORTS_TO: u16 = 32_000;

/// The first port of the kernel's ephemeral range (Linux; 32768 elsewhere).
fn ephemeral_start() -> u16 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(32_768)
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
        app: Default::default(),
        node_keys: Default::default(),
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

/// The per-organisation settings file `node.toml` written by `consort chain init`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NodeFile {
    /// This organisation's id in the genesis.
    pub org_id: String,
    /// Database URL; the default is an SQLite file `consort.db` in the org's directory.
    #[serde(default)]
    pub database_url: Option<String>,
    /// With nothing to propose, the longest pause between two blocks, in milliseconds
    /// (default 60,000): one empty heartbeat block per interval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub empty_block_interval_ms: Option<u64>,
    /// libp2p multiaddr to bind for consensus, when not the genesis `p2p_addr` (which is
    /// where the others dial, e.g. a DNS name in front of the node).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p2p_listen: Option<String>,
    /// `host:port` to bind for transaction gossip, when not the genesis `gossip_addr`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gossip_listen: Option<String>,
}

/// Writes a consortium layout under `dir`: `genesis.json`, and per organisation
/// `orgK/{genesis.json, keys.json, node.toml}`. Ports are `base_port + 2(K-1)` (consensus)
/// and the next one (transaction gossip).
pub fn init_dir(
    dir: &Path,
    orgs: usize,
    base_port: u16,
    chain_id: &str,
) -> Result<Genesis, String> {
    init_dir_with_ports(dir, &local_ports(orgs, base_port)?, chain_id)
}

/// The ports [`init_dir`] gives `orgs` organisations from `base_port` on: `base_port + 2(K-1)`
/// for consensus and the next one for transaction gossip.
pub fn local_ports(orgs: usize, base_port: u16) -> Result<Vec<LocalPorts>, String> {
    if orgs == 0 {
        return Err("a consortium needs at least one organisation".into());
    }
    (0..orgs)
        .map(|i| {
            let p = base_port as usize + 2 * i;
            if p + 1 > u16::MAX as usize {
                return Err("ports out of range".to_string());
            }
            Ok(LocalPorts {
                p2p: p as u16,
                gossip: (p + 1) as u16,
            })
        })
        .collect()
}

/// Like [`init_dir`], with explicit ports per organisation.
pub fn init_dir_with_ports(
    dir: &Path,
    ports: &[LocalPorts],
    chain_id: &str,
) -> Result<Genesis, String> {
    init_dir_with_app(dir, ports, chain_id, BTreeMap::new())
}

/// `init_dir_with_ports` with the application's consortium-wide settings in the genesis.
pub fn init_dir_with_app(
    dir: &Path,
    ports: &[LocalPorts],
    chain_id: &str,
    app: BTreeMap<String, String>,
) -> Result<Genesis, String> {
    if dir.join("genesis.json").exists() {
        return Err(format!("{} already holds a consortium", dir.display()));
    }
    let (mut genesis, keys) = local_consortium(chain_id, ports);
    genesis.app = app;
    let io = |e: std::io::Error| e.to_string();
    std::fs::create_dir_all(dir).map_err(io)?;
    genesis
        .save(&dir.join("genesis.json"))
        .map_err(|e| e.to_string())?;
    for (org, k) in genesis.orgs.iter().zip(&keys) {
        let od = dir.join(&org.id);
        std::fs::create_dir_all(&od).map_err(io)?;
        genesis
            .save(&od.join("genesis.json"))
            .map_err(|e| e.to_string())?;
        k.save(&od.join("keys.json")).map_err(io)?;
        let file = NodeFile {
            org_id: org.id.clone(),
            database_url: None,
            empty_block_interval_ms: None,
            p2p_listen: None,
            gossip_listen: None,
        };
        std::fs::write(
            od.join("node.toml"),
            toml::to_string(&file).map_err(|e| e.to_string())?,
        )
        .map_err(io)?;
    }
    Ok(genesis)
}

/// Loads an organisation directory written by [`init_dir`] into a node configuration.
pub fn load_org_dir(dir: &Path) -> Result<crate::node::NodeConfig, String> {
    let file: NodeFile = toml::from_str(
        &std::fs::read_to_string(dir.join("node.toml"))
            .map_err(|e| format!("{}: {e}", dir.join("node.toml").display()))?,
    )
    .map_err(|e| format!("node.toml: {e}"))?;
    let genesis = Genesis::load(&dir.join("genesis.json")).map_err(|e| e.to_string())?;
    let keys = OrgKeys::load(&dir.join("keys.json"))?;
    let database_url = file
        .database_url
        .unwrap_or_else(|| default_database_url(dir));
    Ok(crate::node::NodeConfig {
        home: dir.to_path_buf(),
        genesis,
        org_id: file.org_id,
        node_key: keys.node_key,
        validator_key: keys.validator_key,
        database_url,
        tuning: crate::node::Tuning {
            empty_block_interval: file
                .empty_block_interval_ms
                .map(std::time::Duration::from_millis)
                .unwrap_or(crate::node::Tuning::default().empty_block_interval),
            ..Default::default()
        },
        listen: crate::node::ListenAddrs {
            p2p: file.p2p_listen,
            gossip: file.gossip_listen,
        },
        executor: None,
        pool: None,
    })
}

/// The embedded default database of a node directory.
pub fn default_database_url(dir: &Path) -> String {
    format!("sqlite://{}?mode=rwc", dir.join("consort.db").display())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `node.toml` can bind other addresses than the genesis publishes (a node behind a
    /// Service binds `0.0.0.0`); without them the node binds its genesis addresses.
    #[test]
    fn node_file_listen_overrides_reach_the_node_config() {
        let dir = tempfile::tempdir().expect("tempdir");
        init_dir(dir.path(), 1, 40000, "listen-test").expect("init");
        let org = dir.path().join("org1");
        assert_eq!(
            load_org_dir(&org).expect("load").listen,
            crate::node::ListenAddrs::default()
        );
        std::fs::write(
            org.join("node.toml"),
            "org_id = \"org1\"\np2p_listen = \"/ip4/0.0.0.0/tcp/26656\"\ngossip_listen = \"0.0.0.0:26657\"\n",
        )
        .expect("write node.toml");
        let listen = load_org_dir(&org).expect("load").listen;
        assert_eq!(listen.p2p.as_deref(), Some("/ip4/0.0.0.0/tcp/26656"));
        assert_eq!(listen.gossip.as_deref(), Some("0.0.0.0:26657"));
    }
}
