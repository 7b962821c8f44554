//! (i) Storage per message: one user sends messages with a 1 KiB body; the bytes each node's
//! data directory grew by, all tables and indexes included (see [`crate::footprint`]), per
//! message. On Consort every node keeps the whole ledger, so every node is measured; the
//! figure is the largest of them.

use std::time::Duration;

use anyhow::Context;
use serde::Serialize;

use super::{Params, Users};
use crate::footprint::stored_bytes;
use crate::servers::Target;
use crate::stats::Errors;

/// The body of each message.
const BODY_BYTES: usize = 1024;
/// Messages in flight at once.
const CONCURRENCY: usize = 4;
/// How long the other nodes get to apply the last blocks.
const SETTLE: Duration = Duration::from_secs(3);

/// Figures of (i).
#[derive(Debug, Clone, Serialize)]
pub struct Storage {
    /// Messages sent and answered 200.
    pub messages: usize,
    /// Per node: its name and the bytes it grew by per message.
    pub per_node: Vec<(String, f64)>,
    /// The largest of `per_node`.
    pub bytes_per_message: Option<f64>,
    /// Failed requests, by kind.
    pub errors: Errors,
}

/// Runs (i) on `target`; needs the data directories of the nodes this run started.
pub async fn run(target: &Target, params: &Params, users: &Users) -> anyhow::Result<Storage> {
    anyhow::ensure!(
        !target.nodes.is_empty(),
        "the storage figure needs servers this run started (their data directories)"
    );
    let user = std::sync::Arc::new(users.register(&target.url, "store").await?);
    let room = user
        .create_room("cs-api-bench storage")
        .await
        .map_err(|e| anyhow::anyhow!("/createRoom: {e}"))?;
    tokio::time::sleep(SETTLE).await;
    let mut before = Vec::new();
    for node in &target.nodes {
        before.push(stored_bytes(&node.dir).await?);
    }
    let body = "x".repeat(BODY_BYTES);
    let mut ok = 0;
    let mut errors = Errors::default();
    let per_task = params.storage_messages.div_ceil(CONCURRENCY);
    let tasks: Vec<_> = (0..CONCURRENCY)
        .map(|t| {
            let (user, room, body) = (user.clone(), room.clone(), body.clone());
            let count = per_task.min(params.storage_messages.saturating_sub(t * per_task));
            tokio::spawn(async move {
                let mut ok = 0;
                let mut errors = Errors::default();
                for _ in 0..count {
                    match user.send_text(&room, &body).await {
                        Ok(_) => ok += 1,
                        Err(e) => errors.record("send", &e),
                    }
                }
                (ok, errors)
            })
        })
        .collect();
    for task in tasks {
        let (n, e) = task.await.context("a sender panicked")?;
        ok += n;
        errors.merge(e);
    }
    tokio::time::sleep(SETTLE).await;
    let mut per_node = Vec::new();
    for (node, before) in target.nodes.iter().zip(before) {
        let after = stored_bytes(&node.dir).await?;
        let grown = after.saturating_sub(before) as f64;
        per_node.push((node.name.clone(), grown / ok.max(1) as f64));
    }
    let bytes_per_message = per_node.iter().map(|(_, b)| *b).reduce(f64::max);
    Ok(Storage {
        messages: ok,
        per_node,
        bytes_per_message,
        errors,
    })
}
