//! Devices: list, get, rename, delete (one or many, behind UIAA `m.login.password`).

use axum::extract::State;
use ruma::{
    MilliSecondsSinceUnixEpoch, OwnedDeviceId, UInt,
    api::client::device::{
        self as device_api, delete_device, delete_devices, get_device, get_devices, update_device,
    },
};

use super::{AppStateRef, RouteResult};
use crate::{
    api::ruma_wrapper::Ruma,
    error::Error,
    services::{accounts, uiaa},
    storage::devices::{self, DeviceRow},
};

fn to_device(row: DeviceRow) -> device_api::Device {
    let mut device = device_api::Device::new(OwnedDeviceId::from(row.device_id));
    device.display_name = row.display_name;
    device.last_seen_ip = row.last_seen_ip;
    device.last_seen_ts = row
        .last_seen_ts
        .and_then(|ts| UInt::try_from(ts).ok())
        .map(MilliSecondsSinceUnixEpoch);
    device
}

/// `GET /_matrix/client/v3/devices`
pub async fn get_devices_route(
    State(state): AppStateRef,
    body: Ruma<get_devices::v3::Request>,
) -> RouteResult<get_devices::v3::Response> {
    let sender = body.sender()?;
    let rows = devices::list(&state.db.pool, sender.user_id.as_str()).await?;
    Ok(get_devices::v3::Response::new(rows.into_iter().map(to_device).collect()).into())
}

/// `GET /_matrix/client/v3/devices/{deviceId}`
pub async fn get_device_route(
    State(state): AppStateRef,
    body: Ruma<get_device::v3::Request>,
) -> RouteResult<get_device::v3::Response> {
    let sender = body.sender()?;
    let row = devices::get(
        &state.db.pool,
        sender.user_id.as_str(),
        body.body.device_id.as_str(),
    )
    .await?
    .ok_or_else(|| Error::not_found("Device not found"))?;
    Ok(get_device::v3::Response::new(to_device(row)).into())
}

/// `PUT /_matrix/client/v3/devices/{deviceId}`
pub async fn update_device_route(
    State(state): AppStateRef,
    body: Ruma<update_device::v3::Request>,
) -> RouteResult<update_device::v3::Response> {
    let sender = body.sender()?;
    let request = &body.body;
    if request.display_name.as_ref().is_some_and(|n| n.len() > 100) {
        return Err(Error::invalid_param(
            "Device display name is too long (max 100)",
        ));
    }
    let found = devices::rename(
        &state.db.pool,
        sender.user_id.as_str(),
        request.device_id.as_str(),
        request.display_name.as_deref(),
    )
    .await?;
    if !found {
        return Err(Error::not_found("Device not found"));
    }
    Ok(update_device::v3::Response::new().into())
}

/// `DELETE /_matrix/client/v3/devices/{deviceId}`
pub async fn delete_device_route(
    State(state): AppStateRef,
    body: Ruma<delete_device::v3::Request>,
) -> RouteResult<delete_device::v3::Response> {
    let sender = body.sender()?.clone();
    let request = body.body;
    if devices::get(
        &state.db.pool,
        sender.user_id.as_str(),
        request.device_id.as_str(),
    )
    .await?
    .is_none()
    {
        return Err(Error::not_found("Device not found"));
    }
    uiaa::check_password(&state, &sender, request.auth.as_ref()).await?;
    accounts::delete_devices(&state, &sender.user_id, &[request.device_id.as_str()]).await?;
    Ok(delete_device::v3::Response::new().into())
}

/// `POST /_matrix/client/v3/delete_devices`
pub async fn delete_devices_route(
    State(state): AppStateRef,
    body: Ruma<delete_devices::v3::Request>,
) -> RouteResult<delete_devices::v3::Response> {
    let sender = body.sender()?.clone();
    let request = body.body;
    uiaa::check_password(&state, &sender, request.auth.as_ref()).await?;
    let ids: Vec<&str> = request.devices.iter().map(|d| d.as_str()).collect();
    accounts::delete_devices(&state, &sender.user_id, &ids).await?;
    Ok(delete_devices::v3::Response::new().into())
}
