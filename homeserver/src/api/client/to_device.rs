//! `PUT /_matrix/client/v3/sendToDevice/{eventType}/{txnId}`: to-device messages (Olm room
//! keys, verification) through the ledger, once per device and transaction id.

use axum::extract::State;
use ruma::api::client::to_device::send_event_to_device;
use ruma::to_device::DeviceIdOrAllDevices;

use super::{AppStateRef, RouteResult};
use crate::api::ruma_wrapper::Ruma;
use crate::services::keys;

/// `PUT /_matrix/client/v3/sendToDevice/{eventType}/{txnId}`
pub async fn send_to_device_route(
    State(state): AppStateRef,
    body: Ruma<send_event_to_device::v3::Request>,
) -> RouteResult<send_event_to_device::v3::Response> {
    let sender = body.sender()?;
    let r = &body.body;
    let mut messages = Vec::new();
    for (user, devices) in &r.messages {
        for (device, content) in devices {
            let device = match device {
                DeviceIdOrAllDevices::AllDevices => "*".to_owned(),
                DeviceIdOrAllDevices::DeviceId(d) => d.to_string(),
            };
            messages.push((user.to_string(), device, content.json().get().to_owned()));
        }
    }
    keys::send_to_device(
        &state,
        sender,
        &r.event_type.to_string(),
        r.txn_id.as_str(),
        messages,
    )
    .await?;
    Ok(send_event_to_device::v3::Response::new().into())
}
