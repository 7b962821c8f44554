//! `POST /_matrix/media/v3/upload`, `POST /_matrix/media/v1/create` and
//! `PUT /_matrix/media/v3/upload/{serverName}/{mediaId}`.

use ruma::api::client::media::{create_content, create_content_async, create_mxc_uri};
use ruma::{MilliSecondsSinceUnixEpoch, OwnedMxcUri, UInt};

use crate::api::client::AppStateRef;
use crate::api::ruma_wrapper::{MediaUpload, Ruma, RumaResponse};
use crate::error::Result;
use crate::services::media;

/// `POST /_matrix/media/v3/upload`
pub async fn upload_route(
    axum::extract::State(state): AppStateRef,
    req: Ruma<create_content::v3::Request, MediaUpload>,
) -> Result<RumaResponse<create_content::v3::Response>> {
    let sender = req.sender()?.clone();
    sender.active()?;
    let body = req.body;
    let mxc = media::upload(&state, &sender, body.file, body.content_type, body.filename).await?;
    Ok(create_content::v3::Response::new(OwnedMxcUri::from(mxc)).into())
}

/// `POST /_matrix/media/v1/create`
pub async fn create_route(
    axum::extract::State(state): AppStateRef,
    req: Ruma<create_mxc_uri::v1::Request>,
) -> Result<RumaResponse<create_mxc_uri::v1::Response>> {
    let (mxc, expires) = media::create(&state, req.sender()?).await?;
    let mut response = create_mxc_uri::v1::Response::new(OwnedMxcUri::from(mxc));
    response.unused_expires_at = UInt::new(expires).map(MilliSecondsSinceUnixEpoch);
    Ok(response.into())
}

/// `PUT /_matrix/media/v3/upload/{serverName}/{mediaId}`
pub async fn upload_reserved_route(
    axum::extract::State(state): AppStateRef,
    req: Ruma<create_content_async::v3::Request, MediaUpload>,
) -> Result<axum::Json<serde_json::Value>> {
    let sender = req.sender()?.clone();
    sender.active()?;
    let body = req.body;
    media::upload_reserved(
        &state,
        &sender,
        (body.server_name.as_str(), &body.media_id),
        body.file,
        body.content_type,
        body.filename,
    )
    .await?;
    // ruma's response type has no fields and no constructor: `{}` as JSON.
    Ok(axum::Json(serde_json::json!({})))
}
