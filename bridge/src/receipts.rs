//! Public read receipts on the ledger: the latest one of each user, room and thread.

use consort_chain::Genesis;
use sqlx::AnyConnection;

use crate::records::ReadReceipt;
use crate::rejection::{Outcome, Rejection, RejectionKind};
use crate::rooms::store;
use crate::users;
use crate::validate::{check_actor, no_nul};

/// Receipt types that go on the ledger; private receipts stay on the reader's node.
pub const PUBLIC_RECEIPT_TYPES: [&str; 1] = ["m.read"];

/// Validates and applies a receipt at `pos`: the reader is joined and the event is in the room.
pub async fn apply_receipt(
    conn: &mut AnyConnection,
    genesis: &Genesis,
    org: &str,
    record: &ReadReceipt,
    pos: i64,
) -> Result<Outcome, store::StoreError> {
    let r = record;
    if let Err(reason) = no_nul(&[
        &r.room_id,
        &r.user_id,
        &r.receipt_type,
        &r.thread_id,
        &r.event_id,
    ]) {
        return Ok(Err(reason));
    }
    if !PUBLIC_RECEIPT_TYPES.contains(&r.receipt_type.as_str()) {
        return Ok(Err(Rejection::new(
            RejectionKind::Unsupported,
            format!("{} receipts are not shared", r.receipt_type),
        )));
    }
    let row = users::get_in(conn, &r.user_id).await?;
    if let Err(reason) = check_actor(genesis, org, &r.user_id, row.as_ref()) {
        return Ok(Err(reason));
    }
    if store::membership(conn, &r.room_id, &r.user_id)
        .await?
        .as_deref()
        != Some("join")
    {
        return Ok(Err(Rejection::forbidden(format!(
            "{} is not in {}",
            r.user_id, r.room_id
        ))));
    }
    let in_room =
        sqlx::query("SELECT 1 FROM bridge_room_events WHERE event_id = $1 AND room_id = $2")
            .bind(&r.event_id)
            .bind(&r.room_id)
            .fetch_optional(&mut *conn)
            .await?
            .is_some();
    if !in_room {
        return Ok(Err(Rejection::not_found(format!(
            "{} is not an event of {}",
            r.event_id, r.room_id
        ))));
    }
    sqlx::query(
        "INSERT INTO bridge_receipts (room_id, user_id, receipt_type, thread_id, event_id, ts, pos) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) \
         ON CONFLICT (room_id, user_id, receipt_type, thread_id) DO UPDATE SET \
         event_id = excluded.event_id, ts = excluded.ts, pos = excluded.pos",
    )
    .bind(&r.room_id)
    .bind(&r.user_id)
    .bind(&r.receipt_type)
    .bind(&r.thread_id)
    .bind(&r.event_id)
    .bind(r.ts_ms as i64)
    .bind(pos)
    .execute(&mut *conn)
    .await?;
    Ok(Ok(()))
}
