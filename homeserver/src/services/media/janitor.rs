//! Acts on removals: after each applied block, the copies of media removed by a
//! `MediaUnpin` are deleted from this node's store (unless another live pin names the same
//! file) with their thumbnails, and this node's progress is kept (`media_removed_pos`), so
//! a restart picks up where it stopped.

use std::sync::{Arc, Weak};

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
        if !shared {
            if let Ok(root) = parse_cid(&row.cid) {
                if let Err(e) = state.media.store.remove(&root).await {
                    tracing::warn!(mxc = %row.mxc, "removed media not deleted yet: {e}");
                    return;
                }
            }
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

/// Sweeps after every applied block while the node runs.
pub fn spawn(state: &Arc<AppState>) {
    let Ok(chain) = state.chain() else {
        return;
    };
    let mut applied = chain.watch_applied();
    let weak: Weak<AppState> = Arc::downgrade(state);
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
