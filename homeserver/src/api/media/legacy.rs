//! The deprecated unauthenticated media paths (`/_matrix/media/v3/...`), answered as Synapse
//! answers them with authenticated media enforced: downloads and thumbnails 404 (every
//! Consort medium was uploaded with it enforced), the config and `preview_url` as their
//! authenticated twins. ruma marks these types deprecated, hence the `allow`.
#![allow(deprecated)]

use ruma::api::client::media as legacy;

use super::download::previews_off;
use crate::api::client::AppStateRef;
use crate::api::ruma_wrapper::{Ruma, RumaResponse};
use crate::error::{Error, Result};

/// `GET /_matrix/media/v3/config` (deprecated, still called by older clients)
pub async fn legacy_config_route(
    axum::extract::State(state): AppStateRef,
    req: Ruma<legacy::get_media_config::v3::Request>,
) -> Result<RumaResponse<legacy::get_media_config::v3::Response>> {
    req.sender()?;
    let size = ruma::UInt::new_saturating(state.config.media.max_upload_bytes as u64);
    Ok(legacy::get_media_config::v3::Response::new(size).into())
}

/// `GET /_matrix/media/v3/preview_url`
pub async fn legacy_preview_route(
    req: Ruma<legacy::get_media_preview::v3::Request>,
) -> Result<RumaResponse<legacy::get_media_preview::v3::Response>> {
    req.sender()?;
    Err(previews_off())
}

/// The legacy paths' answer: every medium was uploaded with authenticated media enforced.
fn legacy_not_found() -> Error {
    Error::not_found("Not found")
}

/// `GET /_matrix/media/v3/download/{serverName}/{mediaId}`
pub async fn legacy_download_route(_req: Ruma<legacy::get_content::v3::Request>) -> Error {
    legacy_not_found()
}

/// `GET /_matrix/media/v3/download/{serverName}/{mediaId}/{fileName}`
pub async fn legacy_download_as_route(
    _req: Ruma<legacy::get_content_as_filename::v3::Request>,
) -> Error {
    legacy_not_found()
}

/// `GET /_matrix/media/v3/thumbnail/{serverName}/{mediaId}`
pub async fn legacy_thumbnail_route(
    _req: Ruma<legacy::get_content_thumbnail::v3::Request>,
) -> Error {
    legacy_not_found()
}
