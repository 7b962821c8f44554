//! The room events whose PDUs the stored blocks leave out: the projection's copy, in
//! `bridge_room_events`, is the one kept (a redacted event's JSON as committed stays in its
//! `unredacted` column), and reading a block puts it back.

use std::collections::HashMap;

use consort_chain::executor::BoxFuture;
use consort_chain::store::PayloadKeeper;
use sqlx::{AnyPool, Row};

use crate::position::{end_of, index_of, position, sub_of};
use crate::records::{Record, RoomEvent};

/// The [`PayloadKeeper`] of the room events a node's projection holds.
pub struct KeptRoomEvents {
    pool: AnyPool,
}

impl KeptRoomEvents {
    /// The keeper reading `pool`'s projection.
    pub fn new(pool: AnyPool) -> Self {
        Self { pool }
    }

    async fn read(&self, height: u64, indexes: &[u32]) -> Result<Vec<Vec<u8>>, String> {
        let rows = sqlx::query(
            "SELECT pos, COALESCE(unredacted, json) FROM bridge_room_events \
             WHERE pos >= $1 AND pos < $2",
        )
        .bind(position(height, 0))
        .bind(end_of(height))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| e.to_string())?;
        let mut pdus = HashMap::new();
        for row in rows {
            let pos: i64 = row.try_get(0).map_err(|e| e.to_string())?;
            if sub_of(pos) == 0 {
                let json: String = row.try_get(1).map_err(|e| e.to_string())?;
                pdus.insert(index_of(pos), json);
            }
        }
        indexes
            .iter()
            .map(|index| {
                let pdu = pdus.remove(index).ok_or_else(|| {
                    format!("no room event is kept for transaction {index} of block {height}")
                })?;
                Ok(Record::RoomEvent(RoomEvent { pdu }).encode())
            })
            .collect()
    }
}

impl PayloadKeeper for KeptRoomEvents {
    fn place(&self) -> &str {
        "bridge_room_events"
    }

    fn payloads<'a>(
        &'a self,
        height: u64,
        indexes: &'a [u32],
    ) -> BoxFuture<'a, Result<Vec<Vec<u8>>, String>> {
        Box::pin(self.read(height, indexes))
    }
}
