//! What Consort has nothing behind yet, answered the way Synapse answers when the feature is
//! not configured: third-party lookups (`/thirdparty/*`) find nothing, since no bridge is
//! attached; third-party identifiers (`/account/3pid*`, `*/requestToken`) cannot be
//! validated, since no email or SMS sender is configured; no TURN server is configured for
//! calls. The registration token check is here too: it answers from the node's configuration.

use std::collections::BTreeMap;

use http::StatusCode;
use ruma::api::client::account::{
    ThirdPartyIdRemovalStatus, add_3pid, bind_3pid, check_registration_token_validity, delete_3pid,
    get_3pids, unbind_3pid,
};
use ruma::api::client::thirdparty::{
    get_location_for_protocol, get_location_for_room_alias, get_protocol, get_protocols,
    get_user_for_protocol, get_user_for_user_id,
};
use ruma::api::error::ErrorKind;

use axum::extract::State;

use super::{AppStateRef, RouteResult};
use crate::api::ruma_wrapper::{Ruma, WithEmptyFields};
use crate::error::{Error, Result};

/// 400 `M_THREEPID_MEDIUM_NOT_SUPPORTED` (MSC4178, as Synapse answers without email or SMS
/// configuration), with Synapse's message.
fn not_supported(message: &str) -> Error {
    Error::new(
        StatusCode::BAD_REQUEST,
        ErrorKind::ThreepidMediumNotSupported,
        message,
    )
}

/// `GET /_matrix/client/v3/thirdparty/protocols`: no bridge, no protocol.
pub async fn protocols_route(
    body: Ruma<get_protocols::v3::Request>,
) -> RouteResult<get_protocols::v3::Response> {
    body.sender()?;
    Ok(get_protocols::v3::Response::new(BTreeMap::new()).into())
}

/// `GET /_matrix/client/v3/thirdparty/protocol/{protocol}`
pub async fn protocol_route(
    body: Ruma<get_protocol::v3::Request>,
) -> RouteResult<get_protocol::v3::Response> {
    body.sender()?;
    Err(Error::not_found("Unknown protocol"))
}

/// `GET /_matrix/client/v3/thirdparty/location/{protocol}`
pub async fn location_for_protocol_route(
    body: Ruma<get_location_for_protocol::v3::Request>,
) -> RouteResult<get_location_for_protocol::v3::Response> {
    body.sender()?;
    Ok(get_location_for_protocol::v3::Response::new(Vec::new()).into())
}

/// `GET /_matrix/client/v3/thirdparty/location?alias=`
pub async fn location_for_alias_route(
    body: Ruma<get_location_for_room_alias::v3::Request>,
) -> RouteResult<get_location_for_room_alias::v3::Response> {
    body.sender()?;
    Ok(get_location_for_room_alias::v3::Response::new(Vec::new()).into())
}

/// `GET /_matrix/client/v3/thirdparty/user/{protocol}`
pub async fn user_for_protocol_route(
    body: Ruma<get_user_for_protocol::v3::Request>,
) -> RouteResult<get_user_for_protocol::v3::Response> {
    body.sender()?;
    Ok(get_user_for_protocol::v3::Response::new(Vec::new()).into())
}

/// `GET /_matrix/client/v3/thirdparty/user?userid=`
pub async fn user_for_user_id_route(
    body: Ruma<get_user_for_user_id::v3::Request>,
) -> RouteResult<get_user_for_user_id::v3::Response> {
    body.sender()?;
    Ok(get_user_for_user_id::v3::Response::new(Vec::new()).into())
}

/// `GET /_matrix/client/v3/account/3pid`: none can be added here, so none there is.
pub async fn threepids_route(
    body: Ruma<get_3pids::v3::Request>,
) -> Result<WithEmptyFields<get_3pids::v3::Response>> {
    body.sender()?;
    // Synapse sends `{"threepids": []}`; ruma leaves an empty list out.
    Ok(WithEmptyFields {
        response: get_3pids::v3::Response::new(Vec::new()),
        fields: &[],
        lists: &["threepids"],
    })
}

/// `POST /_matrix/client/v3/account/3pid/add`: no validation session can exist.
pub async fn add_threepid_route(
    body: Ruma<add_3pid::v3::Request>,
) -> RouteResult<add_3pid::v3::Response> {
    body.sender()?;
    Err(Error::new(
        StatusCode::BAD_REQUEST,
        ErrorKind::ThreepidAuthFailed,
        "No validated 3pid session found",
    ))
}

/// `POST /_matrix/client/v3/account/3pid/bind`: no identity server is used.
pub async fn bind_threepid_route(
    body: Ruma<bind_3pid::v3::Request>,
) -> RouteResult<bind_3pid::v3::Response> {
    body.sender()?;
    Err(Error::new(
        StatusCode::BAD_REQUEST,
        ErrorKind::ThreepidDenied,
        "This server does not bind third-party identifiers to identity servers",
    ))
}

/// `POST /_matrix/client/v3/account/3pid/delete`: nothing stored, nothing to unbind.
pub async fn delete_threepid_route(
    body: Ruma<delete_3pid::v3::Request>,
) -> RouteResult<delete_3pid::v3::Response> {
    body.sender()?;
    Ok(delete_3pid::v3::Response::new(ThirdPartyIdRemovalStatus::NoSupport).into())
}

/// `POST /_matrix/client/v3/account/3pid/unbind`
pub async fn unbind_threepid_route(
    body: Ruma<unbind_3pid::v3::Request>,
) -> RouteResult<unbind_3pid::v3::Response> {
    body.sender()?;
    Ok(unbind_3pid::v3::Response::new(ThirdPartyIdRemovalStatus::NoSupport).into())
}

// The request-token endpoints refuse before reading the body, as Synapse does: no body can
// make them work here.

/// `POST /_matrix/client/v3/account/3pid/email/requestToken`
pub async fn threepid_email_token_route() -> Error {
    not_supported("Adding an email to your account is disabled on this server")
}

/// `POST /_matrix/client/v3/account/3pid/msisdn/requestToken`
pub async fn threepid_msisdn_token_route() -> Error {
    not_supported("Adding phone numbers to user account is not supported by this homeserver")
}

/// `POST /_matrix/client/v3/account/password/email/requestToken`
pub async fn password_email_token_route() -> Error {
    not_supported("Email-based password resets have been disabled on this server")
}

/// `POST /_matrix/client/v3/account/password/msisdn/requestToken`
pub async fn password_msisdn_token_route() -> Error {
    not_supported("Password resets by phone number are not supported on this homeserver")
}

/// `POST /_matrix/client/v3/register/email/requestToken`
pub async fn register_email_token_route() -> Error {
    not_supported("Email-based registration has been disabled on this server")
}

/// `POST /_matrix/client/v3/register/msisdn/requestToken`
pub async fn register_msisdn_token_route() -> Error {
    not_supported("Registration by phone number is not supported on this homeserver")
}

/// `GET /_matrix/client/v1/register/m.login.registration_token/validity`: whether the token
/// is one of the node's `registration_tokens`.
pub async fn registration_token_validity_route(
    State(state): AppStateRef,
    body: Ruma<check_registration_token_validity::v1::Request>,
) -> RouteResult<check_registration_token_validity::v1::Response> {
    let valid = state.config.registration_tokens.contains(&body.body.token);
    Ok(check_registration_token_validity::v1::Response::new(valid).into())
}

/// `GET /_matrix/client/v3/voip/turnServer`: `{}`, Synapse's answer when no TURN server is
/// configured (clients then call without relaying).
pub async fn turn_server_route(
    body: Ruma<ruma::api::client::voip::get_turn_server_info::v3::Request>,
) -> Result<axum::Json<serde_json::Value>> {
    body.sender()?;
    Ok(axum::Json(serde_json::json!({})))
}
