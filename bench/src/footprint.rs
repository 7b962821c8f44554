//! What the servers hold: each process's resident memory (from `/proc`) and the bytes their
//! data directories use. SQLite databases count by their pages in use (`page_count` less
//! `freelist_count`, read through a read-only connection, which also sees what is still in
//! the write-ahead log); logs, the WAL and shared-memory files do not count; other files count
//! by their size.

use std::path::Path;

use serde::Serialize;
use sqlx::ConnectOptions;
use sqlx::sqlite::SqliteConnectOptions;

use crate::servers::Node;

/// One process's resident memory.
#[derive(Debug, Clone, Serialize)]
pub struct Resident {
    /// The node's name.
    pub name: String,
    /// `VmRSS`, in MiB.
    pub rss_mib: f64,
}

/// The resident memory of each node that is still running.
pub fn resident(nodes: &[Node]) -> Vec<Resident> {
    nodes
        .iter()
        .filter_map(|n| {
            let status = std::fs::read_to_string(format!("/proc/{}/status", n.pid)).ok()?;
            let kib: f64 = status
                .lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))?
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse()
                .ok()?;
            Some(Resident {
                name: n.name.clone(),
                rss_mib: kib / 1024.0,
            })
        })
        .collect()
}

/// The bytes one data directory uses, as the module says.
pub async fn stored_bytes(dir: &Path) -> anyhow::Result<u64> {
    let mut total = 0;
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            let kind = entry.file_type()?;
            if kind.is_dir() {
                pending.push(path);
            } else if name.ends_with(".db") || name.ends_with(".sqlite") {
                total += sqlite_bytes(&path).await?;
            } else if !(name.ends_with("-wal")
                || name.ends_with("-shm")
                || name.ends_with(".log")
                || name.contains(".log."))
            {
                total += entry.metadata()?.len();
            }
        }
    }
    Ok(total)
}

async fn sqlite_bytes(path: &Path) -> anyhow::Result<u64> {
    let mut conn = SqliteConnectOptions::new()
        .filename(path)
        .read_only(true)
        .connect()
        .await?;
    let pragma = async |conn: &mut sqlx::SqliteConnection, name: &str| -> anyhow::Result<i64> {
        Ok(
            sqlx::query_scalar(sqlx::AssertSqlSafe(format!("PRAGMA {name}")))
                .fetch_one(&mut *conn)
                .await?,
        )
    };
    let pages = pragma(&mut conn, "page_count").await?;
    let free = pragma(&mut conn, "freelist_count").await?;
    let size = pragma(&mut conn, "page_size").await?;
    Ok(((pages - free).max(0) * size) as u64)
}
