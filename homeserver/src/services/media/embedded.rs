//! The embedded blob store: one file per block under `{data_dir}/media/blocks`, named by its
//! CID, and an index of which blocks each stored file uses (`hs_blob_blocks`), so that
//! removing a file keeps the blocks another file shares. Blocks are written to a temporary
//! name and renamed, so a crash never leaves a partial block under a CID; every read is
//! checked against the CID, so a damaged block reads as missing, never as wrong bytes.

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use bytes::Bytes;
use cid::Cid;
use consort_bridge::media::unixfs::{FileDag, Part, decode_block, verify_block};
use sqlx::{AnyPool, Row};
use tokio::sync::Mutex;

use super::store::{BlobError, BlobStore};

/// Blocks on the node's own disk.
pub struct EmbeddedStore {
    dir: PathBuf,
    pool: AnyPool,
    /// Serialises writes and removals, so a removal never deletes a block that a concurrent
    /// store of another file has just indexed.
    writes: Mutex<()>,
}

impl EmbeddedStore {
    /// A store under `dir` (created when missing), indexed in `pool`.
    pub fn open(dir: &Path, pool: AnyPool) -> Result<Self, BlobError> {
        std::fs::create_dir_all(dir.join("blocks"))?;
        std::fs::create_dir_all(dir.join("tmp"))?;
        Ok(Self {
            dir: dir.to_owned(),
            pool,
            writes: Mutex::new(()),
        })
    }

    fn path_of(&self, cid: &Cid) -> PathBuf {
        let name = cid.to_string();
        // Spread blocks over directories by the end of the name (the start is the same
        // multibase and codec prefix for every CID).
        let shard = &name[name.len().saturating_sub(2)..];
        self.dir.join("blocks").join(shard).join(name)
    }

    async fn read_block(&self, cid: &Cid) -> Result<Option<Bytes>, BlobError> {
        match tokio::fs::read(self.path_of(cid)).await {
            Ok(data) => {
                let data = Bytes::from(data);
                match verify_block(cid, &data) {
                    Ok(()) => Ok(Some(data)),
                    Err(e) => {
                        tracing::error!(%cid, "a stored block is damaged: {e}; treated as missing");
                        Ok(None)
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    async fn write_block(&self, cid: &Cid, data: &[u8]) -> Result<(), BlobError> {
        let path = self.path_of(cid);
        if tokio::fs::try_exists(&path).await? {
            return Ok(());
        }
        if let Some(parent) = path.parent() {
            tokio::fs::create_dir_all(parent).await?;
        }
        let tmp = self
            .dir
            .join("tmp")
            .join(format!("{cid}.{}", rand::random::<u64>()));
        tokio::fs::write(&tmp, data).await?;
        tokio::fs::rename(&tmp, &path).await?;
        Ok(())
    }
}

#[async_trait]
impl BlobStore for EmbeddedStore {
    async fn put(&self, dag: &FileDag, _file: &Bytes) -> Result<(), BlobError> {
        let _guard = self.writes.lock().await;
        for block in &dag.blocks {
            self.write_block(&block.cid, &block.data).await?;
        }
        // Indexed once every block is on disk: an indexed file is whole.
        let root = dag.root.to_string();
        let mut tx = self.pool.begin().await?;
        for block in &dag.blocks {
            sqlx::query(
                "INSERT INTO hs_blob_blocks (root, block, stored_ms) VALUES ($1, $2, $3) \
                 ON CONFLICT (root, block) DO NOTHING",
            )
            .bind(&root)
            .bind(block.cid.to_string())
            .bind(crate::services::now_ms())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn get(&self, root: &Cid) -> Result<Option<Bytes>, BlobError> {
        let indexed = sqlx::query("SELECT 1 FROM hs_blob_blocks WHERE root = $1 LIMIT 1")
            .bind(root.to_string())
            .fetch_optional(&self.pool)
            .await?
            .is_some();
        if !indexed {
            return Ok(None);
        }
        // Depth first, children in order: the file's bytes.
        let mut out = Vec::new();
        let mut stack = vec![*root];
        while let Some(cid) = stack.pop() {
            let Some(data) = self.read_block(&cid).await? else {
                return Ok(None);
            };
            match decode_block(&cid, data).map_err(|e| BlobError::Corrupt(e.to_string()))? {
                Part::Leaf(bytes) => out.extend_from_slice(&bytes),
                Part::Node { inline, children } => {
                    out.extend_from_slice(&inline);
                    stack.extend(children.into_iter().rev());
                }
            }
        }
        Ok(Some(Bytes::from(out)))
    }

    async fn block(&self, cid: &Cid) -> Result<Option<Bytes>, BlobError> {
        let indexed = sqlx::query("SELECT 1 FROM hs_blob_blocks WHERE block = $1 LIMIT 1")
            .bind(cid.to_string())
            .fetch_optional(&self.pool)
            .await?
            .is_some();
        if !indexed {
            return Ok(None);
        }
        self.read_block(cid).await
    }

    async fn remove(&self, root: &Cid) -> Result<(), BlobError> {
        let _guard = self.writes.lock().await;
        let root = root.to_string();
        let blocks: Vec<String> = sqlx::query("SELECT block FROM hs_blob_blocks WHERE root = $1")
            .bind(&root)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| r.try_get(0))
            .collect::<Result<_, _>>()?;
        sqlx::query("DELETE FROM hs_blob_blocks WHERE root = $1")
            .bind(&root)
            .execute(&self.pool)
            .await?;
        for block in blocks {
            let shared = sqlx::query("SELECT 1 FROM hs_blob_blocks WHERE block = $1 LIMIT 1")
                .bind(&block)
                .fetch_optional(&self.pool)
                .await?
                .is_some();
            if shared {
                continue;
            }
            let Ok(cid) = Cid::try_from(block.as_str()) else {
                continue;
            };
            match tokio::fs::remove_file(self.path_of(&cid)).await {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    async fn unpinned(&self, stored_before_ms: i64) -> Result<Vec<Cid>, BlobError> {
        let roots: Vec<String> = sqlx::query(
            "SELECT DISTINCT b.root FROM hs_blob_blocks b WHERE b.stored_ms <= $1 AND NOT EXISTS \
             (SELECT 1 FROM bridge_media m WHERE m.cid = b.root AND m.removed_pos IS NULL)",
        )
        .bind(stored_before_ms)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| r.try_get(0))
        .collect::<Result<_, _>>()?;
        Ok(roots
            .iter()
            .filter_map(|r| Cid::try_from(r.as_str()).ok())
            .collect())
    }

    fn describe(&self) -> String {
        format!("embedded block store in {}", self.dir.display())
    }
}
