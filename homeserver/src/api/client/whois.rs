//! `GET /_matrix/client/v3/admin/whois/{userId}`: an admin of the organisation (or the user)
//! sees the user's devices with the address and time each was last used, as Synapse answers.

use axum::extract::State;
use ruma::api::client::admin::get_user_info::v3::{
    ConnectionInfo, DeviceInfo, Request, Response, SessionInfo,
};
use ruma::{MilliSecondsSinceUnixEpoch, UInt};

use super::{AppStateRef, RouteResult};
use crate::api::ruma_wrapper::Ruma;
use crate::error::Error;
use crate::storage::devices;

/// `GET /_matrix/client/v3/admin/whois/{userId}`
pub async fn whois_route(State(state): AppStateRef, body: Ruma<Request>) -> RouteResult<Response> {
    let sender = body.sender()?;
    let target = &body.body.user_id;
    if !sender.is_admin && *target != sender.user_id {
        return Err(Error::forbidden("You are not a server admin"));
    }
    if target.server_name() != state.server_name {
        return Err(Error::invalid_param("Can only whois a local user"));
    }
    let rows = devices::list(&state.db.pool, target.as_str()).await?;
    let mut response = Response::new();
    response.user_id = Some(target.clone());
    for row in rows {
        let mut connection = ConnectionInfo::new();
        connection.ip = row.last_seen_ip;
        connection.last_seen = row
            .last_seen_ts
            .and_then(|ts| UInt::try_from(ts).ok())
            .map(MilliSecondsSinceUnixEpoch);
        let mut session = SessionInfo::new();
        if connection.ip.is_some() || connection.last_seen.is_some() {
            session.connections.push(connection);
        }
        let mut device = DeviceInfo::new();
        device.sessions.push(session);
        response.devices.insert(row.device_id, device);
    }
    Ok(response.into())
}
