//! The blob store on an IPFS node, through its RPC API (`/api/v0/...`, POST only), spoken
//! with `reqwest`: `add` with the same layout the embedded store uses (so the node's CID is
//! checked against the one Consort computed), `cat`, `block/get`, `pin/ls`, `pin/rm` and
//! `block/rm`. Works with Kubo and with js-ipfs (which sends sizes as numbers, not strings).

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use cid::Cid;
use consort_bridge::media::unixfs::{self, FileDag, Part, decode_block, verify_block};
use serde::Deserialize;

use super::store::{BlobError, BlobStore};

/// An IPFS node's RPC API.
pub struct KuboStore {
    url: String,
    http: reqwest::Client,
}

#[derive(Deserialize)]
struct Added {
    #[serde(rename = "Hash")]
    hash: String,
}

impl KuboStore {
    /// A store on the node whose RPC API is at `url` (`http://127.0.0.1:5001`).
    pub fn new(url: &str) -> Result<Self, BlobError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(300))
            .build()
            .map_err(|e| BlobError::Ipfs(e.to_string()))?;
        Ok(Self {
            url: url.trim_end_matches('/').to_owned(),
            http,
        })
    }

    /// POSTs `/api/v0/{command}` with `args`; a refusal by the node is an error with its
    /// message.
    async fn call(
        &self,
        command: &str,
        args: &[(&str, &str)],
        form: Option<reqwest::multipart::Form>,
    ) -> Result<Bytes, BlobError> {
        let mut request = self
            .http
            .post(format!("{}/api/v0/{command}", self.url))
            .query(args);
        if let Some(form) = form {
            request = request.multipart(form);
        }
        let response = request
            .send()
            .await
            .map_err(|e| BlobError::Ipfs(format!("{command}: {e}")))?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|e| BlobError::Ipfs(format!("{command}: {e}")))?;
        if !status.is_success() {
            return Err(BlobError::Ipfs(format!(
                "{command} answered {status}: {}",
                String::from_utf8_lossy(&body[..body.len().min(300)])
            )));
        }
        Ok(body)
    }

    async fn is_pinned(&self, root: &Cid) -> Result<bool, BlobError> {
        let root = root.to_string();
        match self
            .call(
                "pin/ls",
                &[("arg", &root), ("type", "recursive"), ("timeout", "5s")],
                None,
            )
            .await
        {
            Ok(_) => Ok(true),
            // "not pinned" (and, for a block it never saw, an error too).
            Err(BlobError::Ipfs(e)) if e.contains("500") || e.contains("not pinned") => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn get_block(&self, cid: &Cid) -> Result<Option<Bytes>, BlobError> {
        let arg = cid.to_string();
        // An offline node asked for a block it lacks would look for it: give up quickly.
        match self
            .call("block/get", &[("arg", &arg), ("timeout", "2s")], None)
            .await
        {
            Ok(data) => match verify_block(cid, &data) {
                Ok(()) => Ok(Some(data)),
                Err(e) => Err(BlobError::Corrupt(e.to_string())),
            },
            Err(BlobError::Ipfs(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

#[async_trait]
impl BlobStore for KuboStore {
    async fn put(&self, dag: &FileDag, file: &Bytes) -> Result<(), BlobError> {
        // js-ipfs refuses a part without a content type.
        let part = reqwest::multipart::Part::bytes(file.to_vec())
            .file_name("blob")
            .mime_str("application/octet-stream")
            .map_err(|e| BlobError::Ipfs(e.to_string()))?;
        let form = reqwest::multipart::Form::new().part("file", part);
        let chunker = format!("size-{}", unixfs::CHUNK_SIZE);
        let body = self
            .call(
                "add",
                &[
                    ("cid-version", "1"),
                    ("raw-leaves", "true"),
                    ("chunker", &chunker),
                    ("cid-base", "base32"),
                    ("pin", "true"),
                ],
                Some(form),
            )
            .await?;
        // One JSON object per line; the file's is the last.
        let last = body
            .split(|b| *b == b'\n')
            .rfind(|line| !line.is_empty())
            .ok_or_else(|| BlobError::Ipfs("add answered nothing".into()))?;
        let added: Added = serde_json::from_slice(last)
            .map_err(|e| BlobError::Ipfs(format!("add answered {e}")))?;
        if added.hash != dag.root.to_string() {
            return Err(BlobError::Ipfs(format!(
                "the node stored the file as {} where Consort computed {}",
                added.hash, dag.root
            )));
        }
        Ok(())
    }

    async fn get(&self, root: &Cid) -> Result<Option<Bytes>, BlobError> {
        if !self.is_pinned(root).await? {
            return Ok(None);
        }
        let arg = root.to_string();
        let file = self.call("cat", &[("arg", &arg)], None).await?;
        // Every byte checked: the node's answer must rebuild the same CID.
        let check = file.clone();
        let rebuilt = tokio::task::spawn_blocking(move || unixfs::build(&check).root)
            .await
            .map_err(|e| BlobError::Corrupt(e.to_string()))?;
        if rebuilt != *root {
            return Err(BlobError::Corrupt(format!(
                "the IPFS node's copy of {root} does not match it"
            )));
        }
        Ok(Some(file))
    }

    async fn block(&self, cid: &Cid) -> Result<Option<Bytes>, BlobError> {
        self.get_block(cid).await
    }

    async fn remove(&self, root: &Cid) -> Result<(), BlobError> {
        let arg = root.to_string();
        match self.call("pin/rm", &[("arg", &arg)], None).await {
            Ok(_) => {}
            Err(BlobError::Ipfs(e)) if e.contains("not pinned") => {}
            Err(e) => return Err(e),
        }
        // Walk the file's blocks and remove each; the node keeps those another pin uses.
        let mut stack = vec![*root];
        let mut blocks = Vec::new();
        while let Some(cid) = stack.pop() {
            let Some(data) = self.get_block(&cid).await? else {
                continue;
            };
            if let Ok(Part::Node { children, .. }) = decode_block(&cid, data) {
                stack.extend(children);
            }
            blocks.push(cid);
        }
        for cid in blocks {
            let arg = cid.to_string();
            if let Err(e) = self.call("block/rm", &[("arg", &arg)], None).await {
                tracing::debug!(%cid, "IPFS node kept a block: {e}");
            }
        }
        Ok(())
    }

    fn describe(&self) -> String {
        format!("IPFS node at {}", self.url)
    }
}
