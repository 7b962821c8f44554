//! Fetching media blocks from the other organisations' nodes, through their trustless
//! gateways (`GET /ipfs/{cid}`, `Accept: application/vnd.ipld.raw`), and checking each block
//! against its CID before it is kept. A peer that serves a wrong block is skipped for the
//! rest of the fetch, and logged with its organisation.
//!
//! Gateway requests are signed with the asking node's key, so that a node serves its blocks
//! to the consortium's nodes only, not to anyone who learns a CID.

use std::collections::HashSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use cid::Cid;
use consort_bridge::media::unixfs::{Block, CHUNK_SIZE, FileDag, Part, decode_block};
use consort_chain::Genesis;
use consort_chain::engine::signing::Signature;
use ed25519_dalek::SigningKey;

/// The content type of one raw block from a trustless gateway.
pub const RAW_BLOCK: &str = "application/vnd.ipld.raw";
/// Header naming the asking organisation.
pub const ORG_HEADER: &str = "x-consort-org";
/// Header with the request's time (Unix ms).
pub const TS_HEADER: &str = "x-consort-ts";
/// Header with the organisation's signature (hex) over the request.
pub const SIG_HEADER: &str = "x-consort-signature";
/// How far a signed request's time may be from the serving node's clock.
pub const MAX_SKEW: Duration = Duration::from_secs(300);
/// The largest block accepted from a peer (a raw leaf is at most one chunk; a node of 174
/// links is a few KiB).
const MAX_BLOCK: usize = CHUNK_SIZE + 64 * 1024;

/// Why no peer gave a file.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// No organisation's node is configured to fetch from.
    #[error("no other organisation's node is configured (media.peers)")]
    NoPeers,
    /// Every peer failed, or served blocks that do not match.
    #[error("no organisation's node served {0} intact")]
    Unavailable(String),
    /// The file is larger than the ledger says.
    #[error("{0} holds more bytes than its pin says")]
    TooLong(String),
}

/// One node to fetch from.
#[derive(Debug, Clone)]
pub struct Peer {
    /// Its organisation.
    pub org: String,
    /// Its base URL.
    pub base_url: String,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn signed_bytes(cid: &str, ts: u64) -> Vec<u8> {
    format!("consort-gateway\nGET /ipfs/{cid}\n{ts}").into_bytes()
}

/// Checks a gateway request's signature: an organisation of the consortium, a recent time,
/// its node key. Answers the organisation, or why not.
pub fn verify_request(
    genesis: &Genesis,
    cid: &str,
    org: Option<&str>,
    ts: Option<&str>,
    sig: Option<&str>,
) -> Result<String, String> {
    let (Some(org), Some(ts), Some(sig)) = (org, ts, sig) else {
        return Err("gateway requests must be signed by a consortium node".into());
    };
    let key = genesis
        .org_node_key(org)
        .ok_or_else(|| format!("{org} is not an organisation of the consortium"))?;
    let ts: u64 = ts.parse().map_err(|_| "bad timestamp".to_owned())?;
    if now_ms().abs_diff(ts) > MAX_SKEW.as_millis() as u64 {
        return Err("the request's time is too far from this node's clock".into());
    }
    let bytes: [u8; 64] = hex::decode(sig)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| "bad signature encoding".to_owned())?;
    if !Signature(bytes).verify(&key, &signed_bytes(cid, ts)) {
        return Err("the signature does not verify".into());
    }
    Ok(org.to_owned())
}

/// The consortium's nodes this node fetches from, with its own key to sign requests.
pub struct PeerClient {
    http: reqwest::Client,
    org: String,
    key: SigningKey,
}

impl PeerClient {
    /// A client signing as `org` with `key`.
    pub fn new(org: String, key: SigningKey) -> Self {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(30))
            .build()
            .expect("a client without TLS settings builds");
        Self { http, org, key }
    }

    async fn get_block(&self, peer: &Peer, cid: &Cid) -> Result<Bytes, String> {
        let text = cid.to_string();
        let ts = now_ms();
        let sig = Signature::sign(&self.key, &signed_bytes(&text, ts));
        let response = self
            .http
            .get(format!(
                "{}/ipfs/{text}",
                peer.base_url.trim_end_matches('/')
            ))
            .header(http::header::ACCEPT, RAW_BLOCK)
            .header(ORG_HEADER, &self.org)
            .header(TS_HEADER, ts.to_string())
            .header(SIG_HEADER, hex::encode(sig.0))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if !response.status().is_success() {
            return Err(format!("answered {}", response.status()));
        }
        if response
            .content_length()
            .is_some_and(|n| n > MAX_BLOCK as u64)
        {
            return Err("block too large".into());
        }
        let body = response.bytes().await.map_err(|e| e.to_string())?;
        if body.len() > MAX_BLOCK {
            return Err("block too large".into());
        }
        Ok(body)
    }

    /// Fetches the file `root` of `size` bytes, asking `peers` in order for each block and
    /// keeping only blocks that match their CIDs. Answers the file and its blocks.
    pub async fn fetch(
        &self,
        peers: &[Peer],
        root: &Cid,
        size: u64,
    ) -> Result<(Bytes, FileDag), FetchError> {
        if peers.is_empty() {
            return Err(FetchError::NoPeers);
        }
        let mut bad: HashSet<String> = HashSet::new();
        let mut blocks = Vec::new();
        let mut file = Vec::with_capacity(size.min(64 << 20) as usize);
        let mut stack = vec![*root];
        while let Some(cid) = stack.pop() {
            let mut part = None;
            for peer in peers {
                if bad.contains(&peer.org) {
                    continue;
                }
                match self.get_block(peer, &cid).await {
                    Ok(data) => match decode_block(&cid, data.clone()) {
                        Ok(p) => {
                            blocks.push(Block { cid, data });
                            part = Some(p);
                            break;
                        }
                        Err(e) => {
                            tracing::warn!(
                                org = %peer.org, %cid,
                                "a node served a block that does not match its CID ({e}); \
                                 skipping that organisation"
                            );
                            bad.insert(peer.org.clone());
                        }
                    },
                    Err(e) => {
                        tracing::debug!(org = %peer.org, %cid, "block not fetched: {e}");
                    }
                }
            }
            match part.ok_or_else(|| FetchError::Unavailable(root.to_string()))? {
                Part::Leaf(bytes) => file.extend_from_slice(&bytes),
                Part::Node { inline, children } => {
                    file.extend_from_slice(&inline);
                    stack.extend(children.into_iter().rev());
                }
            }
            if file.len() as u64 > size {
                return Err(FetchError::TooLong(root.to_string()));
            }
        }
        if file.len() as u64 != size {
            return Err(FetchError::Unavailable(root.to_string()));
        }
        let mut seen = HashSet::new();
        blocks.retain(|b| seen.insert(b.cid));
        Ok((
            Bytes::from(file),
            FileDag {
                root: *root,
                blocks,
            },
        ))
    }
}
