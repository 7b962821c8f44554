//! Acts on removals: after each applied block, the copies of media removed by a
//! `MediaUnpin` are deleted from this node's store (unless another live pin names the same
//! file) with their thumbnails, and this node's progress is kept (`media_removed_pos`), so
//! a restart picks up where it stopped.

use std::sync::{Arc, Weak};
use std::time::Duration;

use crate::state::AppState;
use consort_bridge::media::read;
use consort_bridge::media::unixfs::parse_cid;
use sqlx::Row;

/// Deletes this node's copies of media removed since the last sweep.
pub async fn sweep(state: &AppState) {
    let Ok(chain) = state.chain() else {
        return;
    };
    let _guard = state.media.sweeping.lock().await;
    let pool = chain.pool();
    let done: i64 =
        match sqlx::query("SELECT value FROM hs_counters WHERE name = 'media_removed_pos'")
            .fetch_one(&state.db.pool)
            .await
            .and_then(|r| r.try_get(0))
        {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!("media removals not swept: {e}");
                return;
            }
        };
    let removed = match read::removed_after(pool, done, 100).await {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!("media removals not read: {e}");
            return;
        }
    };
    for (row, pos) in removed {
        let shared = read::cid_in_use(pool, &row.cid).await.unwrap_or(true);
        if !shared
            && let Ok(root) = parse_cid(&row.cid)
            && let Err(e) = state.media.store.remove(&root).await
        {
            tracing::warn!(mxc = %row.mxc, "removed media not deleted yet: {e}");
            return;
        }
        let _ = tokio::fs::remove_dir_all(state.media.thumbnail_dir(&row.mxc)).await;
        let saved =
            sqlx::query("UPDATE hs_counters SET value = $1 WHERE name = 'media_removed_pos'")
                .bind(pos)
                .execute(&state.db.pool)
                .await;
        if let Err(e) = saved {
            tracing::warn!("media sweep progress not saved: {e}");
            return;
        }
        tracing::info!(mxc = %row.mxc, "removed media deleted from this node");
    }
}

/// How old a stored file no pin names must be before it is deleted: older than any upload
/// still on its way to the ledger.
pub const ORPHAN_AGE: Duration = Duration::from_secs(600);
/// How often stored files are checked against the pins.
const ORPHAN_SWEEP_EVERY: Duration = Duration::from_secs(3600);

/// Deletes files stored more than `age` ago that no live pin names (an upload that stopped
/// between the store and the ledger, a node killed in between). Answers how many went.
pub async fn sweep_orphans(state: &AppState, age: Duration) -> usize {
    let before = crate::services::now_ms() - age.as_millis() as i64;
    let _guard = state.media.sweeping.lock().await;
    let roots = match state.media.store.unpinned(before).await {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!("unpinned media not listed: {e}");
            return 0;
        }
    };
    let mut removed = 0;
    for root in roots {
        match state.media.store.remove(&root).await {
            Ok(()) => {
                removed += 1;
                tracing::info!(%root, "deleted a stored file no pin names");
            }
            Err(e) => tracing::warn!(%root, "unpinned file not deleted: {e}"),
        }
    }
    removed
}

/// Sweeps after every applied block while the node runs.
pub fn spawn(state: &Arc<AppState>) {
    let Ok(chain) = state.chain() else {
        return;
    };
    let mut applied = chain.watch_applied();
    let weak: Weak<AppState> = Arc::downgrade(state);
    let orphans = weak.clone();
    tokio::spawn(async move {
        loop {
            match orphans.upgrade() {
                Some(state) => {
                    sweep_orphans(&state, ORPHAN_AGE).await;
                }
                None => return,
            }
            tokio::time::sleep(ORPHAN_SWEEP_EVERY).await;
        }
    });
    tokio::spawn(async move {
        loop {
            match weak.upgrade() {
                Some(state) => sweep(&state).await,
                None => return,
            }
            if applied.changed().await.is_err() {
                return;
            }
        }
    });
}
