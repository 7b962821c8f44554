//! Paging through a room's timeline for one viewer: events in ledger order, only those the
//! viewer may see and the filter admits, scanned in batches until the page is full.

use consort_bridge::rooms::read::{self, StoredEvent};
use ruma::api::client::filter::RoomEventFilter;
use sqlx::AnyPool;

use super::filter::matches;
use super::send::store_error;
use super::visibility::Window;
use crate::error::Result;

/// One page of a timeline.
#[derive(Debug, Default)]
pub struct Page {
    /// Events in the direction of travel (newest first when going backwards).
    pub events: Vec<StoredEvent>,
    /// Where the next page starts (a position boundary), `None` when the scan reached the
    /// end of the range.
    pub next: Option<i64>,
}

/// Which part of a timeline to scan.
#[derive(Debug, Clone, Copy)]
pub struct Scan {
    /// Where to start (a position boundary).
    pub from: i64,
    /// Where to stop at the latest.
    pub bound: i64,
    /// Backwards: events with `bound <= pos < from`, newest first; forwards: events with
    /// `from <= pos < bound`, oldest first.
    pub backwards: bool,
    /// The most events to return.
    pub limit: usize,
}

/// Up to `limit` events of `room_id` that the viewer may see and the filter admits.
pub async fn page(
    pool: &AnyPool,
    room_id: &str,
    window: &Window,
    filter: &RoomEventFilter,
    scan: Scan,
) -> Result<Page> {
    let Scan {
        from,
        bound,
        backwards,
        limit,
    } = scan;
    let mut out = Vec::new();
    let (mut lo, mut hi) = if backwards {
        (bound, from)
    } else {
        (from, bound)
    };
    let batch = (limit as i64 * 2).clamp(20, 1000);
    loop {
        if lo >= hi {
            return Ok(Page {
                events: out,
                next: None,
            });
        }
        let rows = read::page(pool, room_id, lo, hi, backwards, batch)
            .await
            .map_err(store_error)?;
        let exhausted = (rows.len() as i64) < batch;
        for e in rows {
            // The next scan starts after this event, whatever becomes of it.
            if backwards {
                hi = e.pos;
            } else {
                lo = e.pos + 1;
            }
            if window.can_see(&e) && matches(filter, &e) {
                out.push(e);
                if out.len() >= limit {
                    let next = if backwards { hi } else { lo };
                    return Ok(Page {
                        events: out,
                        next: Some(next),
                    });
                }
            }
        }
        if exhausted {
            return Ok(Page {
                events: out,
                next: None,
            });
        }
    }
}
