//! Read receipts and read markers. Public receipts (`m.read`) go on the ledger so every
//! organisation shows them; private ones stay on this node; `m.fully_read` is room account
//! data.

use axum::extract::State;
use consort_bridge::rooms::read;
use consort_bridge::{ReadReceipt, Record};
use ruma::api::client::read_marker::set_read_marker;
use ruma::api::client::receipt::create_receipt::{self, v3::ReceiptType};
use ruma::events::receipt::ReceiptThread;
use ruma::{EventId, RoomId};
use serde_json::json;

use super::{AppStateRef, RouteResult};
use crate::api::ruma_wrapper::Ruma;
use crate::error::{Error, Result};
use crate::services::auth::Sender;
use crate::services::rooms::access::access;
use crate::services::rooms::send::{store_error, submit_record};
use crate::services::{account_data, now_ms};
use crate::state::AppState;
use crate::storage::private_receipts::{self, PrivateReceipt};

/// What a receipt marks as read.
enum Kind {
    Public,
    Private,
    FullyRead,
}

fn thread_id(thread: &ReceiptThread) -> Result<String> {
    Ok(match thread {
        ReceiptThread::Unthreaded => String::new(),
        ReceiptThread::Main => "main".to_owned(),
        ReceiptThread::Thread(root) => root.to_string(),
        _ => return Err(Error::invalid_param("Unknown thread id")),
    })
}

/// Records one receipt after checking the event is one the user may see in a room they
/// are joined to.
async fn mark(
    state: &AppState,
    sender: &Sender,
    room_id: &RoomId,
    event_id: &EventId,
    kind: Kind,
    thread: String,
) -> Result<()> {
    let access = access(state, &sender.user_id, room_id).await?;
    if !access.joined {
        return Err(Error::forbidden("User not in room"));
    }
    let event = read::event(state.chain()?.pool(), event_id.as_str())
        .await
        .map_err(store_error)?
        .filter(|e| e.room_id == room_id.as_str() && access.window.can_see(e))
        .ok_or_else(|| Error::not_found("Event not found."))?;
    match kind {
        Kind::Public => {
            let record = Record::Receipt(ReadReceipt {
                room_id: room_id.to_string(),
                user_id: sender.user_id.to_string(),
                receipt_type: "m.read".to_owned(),
                thread_id: thread,
                event_id: event.event_id,
                ts_ms: now_ms() as u64,
            });
            submit_record(state, &record).await
        }
        Kind::Private => {
            let receipt = PrivateReceipt {
                room_id: room_id.to_string(),
                thread_id: thread,
                event_id: event.event_id,
                ts: now_ms(),
            };
            private_receipts::set(&state.db.pool, sender.user_id.as_str(), &receipt).await?;
            state.notifier.notify();
            Ok(())
        }
        Kind::FullyRead => {
            let content = json!({ "event_id": event.event_id });
            account_data::set_unchecked(
                state,
                &sender.user_id,
                Some(room_id),
                "m.fully_read",
                &content,
            )
            .await
        }
    }
}

/// `POST /_matrix/client/v3/rooms/{roomId}/receipt/{receiptType}/{eventId}`
pub async fn create_receipt_route(
    State(state): AppStateRef,
    body: Ruma<create_receipt::v3::Request>,
) -> RouteResult<create_receipt::v3::Response> {
    let sender = body.sender()?;
    let r = &body.body;
    let kind = match r.receipt_type {
        ReceiptType::Read => Kind::Public,
        ReceiptType::ReadPrivate => Kind::Private,
        ReceiptType::FullyRead => Kind::FullyRead,
        _ => return Err(Error::invalid_param("Unknown receipt type")),
    };
    if matches!(kind, Kind::FullyRead) && r.thread != ReceiptThread::Unthreaded {
        return Err(Error::invalid_param(
            "m.fully_read receipts cannot be threaded",
        ));
    }
    mark(
        &state,
        sender,
        &r.room_id,
        &r.event_id,
        kind,
        thread_id(&r.thread)?,
    )
    .await?;
    Ok(create_receipt::v3::Response::new().into())
}

/// `POST /_matrix/client/v3/rooms/{roomId}/read_markers`
pub async fn set_read_marker_route(
    State(state): AppStateRef,
    body: Ruma<set_read_marker::v3::Request>,
) -> RouteResult<set_read_marker::v3::Response> {
    let sender = body.sender()?;
    let r = &body.body;
    if let Some(id) = &r.fully_read {
        mark(
            &state,
            sender,
            &r.room_id,
            id,
            Kind::FullyRead,
            String::new(),
        )
        .await?;
    }
    if let Some(id) = &r.read_receipt {
        mark(&state, sender, &r.room_id, id, Kind::Public, String::new()).await?;
    }
    if let Some(id) = &r.private_read_receipt {
        mark(&state, sender, &r.room_id, id, Kind::Private, String::new()).await?;
    }
    Ok(set_read_marker::v3::Response::new().into())
}
