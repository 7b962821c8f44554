//! The blob store a node keeps media in, behind one trait with two backends: the embedded
//! block store (the default, no external service) and an IPFS node's RPC API. Both hold
//! files as IPFS blocks under the CIDs `consort_bridge::media::unixfs` computes, so any node
//! can check what it gets from another.

use async_trait::async_trait;
use bytes::Bytes;
use consort_bridge::media::unixfs::FileDag;

/// Why the blob store failed.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    /// Reading or writing the embedded store's files.
    #[error("blob store I/O: {0}")]
    Io(#[from] std::io::Error),
    /// The embedded store's index.
    #[error("blob store index: {0}")]
    Db(#[from] sqlx::Error),
    /// The IPFS node refused or could not be reached.
    #[error("IPFS node: {0}")]
    Ipfs(String),
    /// A block on hand does not match its CID, or a file does not assemble.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

/// Where a node keeps the blocks of media files.
#[async_trait]
pub trait BlobStore: Send + Sync {
    /// Stores every block of `dag` (the blocks of `file`) and pins its root; storing a file
    /// already held is a no-op.
    async fn put(&self, dag: &FileDag, file: &Bytes) -> Result<(), BlobError>;

    /// The whole file under `root`, each block checked against its CID; `None` when the
    /// store does not hold all of it.
    async fn get(&self, root: &cid::Cid) -> Result<Option<Bytes>, BlobError>;

    /// One block, checked against its CID, when held (for the gateway other nodes fetch
    /// from).
    async fn block(&self, cid: &cid::Cid) -> Result<Option<Bytes>, BlobError>;

    /// Unpins the file under `root` and deletes its blocks that no other file held here
    /// uses.
    async fn remove(&self, root: &cid::Cid) -> Result<(), BlobError>;

    /// Files held here, stored before `stored_before_ms`, that no live pin names: left by
    /// an upload that stopped between the store and the ledger. A store that cannot tell
    /// (an IPFS node shared with others) answers none.
    async fn unpinned(&self, stored_before_ms: i64) -> Result<Vec<cid::Cid>, BlobError> {
        let _ = stored_before_ms;
        Ok(Vec::new())
    }

    /// What the store is, for logs and the status.
    fn describe(&self) -> String;
}
