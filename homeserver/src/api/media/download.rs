//! Serving media: the authenticated downloads and thumbnails (`/_matrix/client/v1/media/...`),
//! the media config, and the legacy unauthenticated paths, which answer 404 as Synapse does
//! for media uploaded once authenticated media is enforced (every Consort medium is).
//!
//! Served as Synapse serves it: the uploader's content type, `inline` only for types a
//! browser cannot run script from (never HTML or SVG), a sandboxing Content-Security-Policy
//! and `nosniff` on every answer.

use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{HeaderValue, StatusCode, header};
use ruma::api::client::authenticated_media as am;
use ruma::api::error::ErrorKind;
use ruma::http_headers::{ContentDisposition, ContentDispositionType};
use ruma::media::Method;

use crate::api::client::AppStateRef;
use crate::api::ruma_wrapper::{Ruma, RumaResponse};
use crate::error::{Error, Result};
use crate::services::media::thumbnail::{self, Fit};
use crate::services::media::{self, Served};
use crate::state::AppState;

/// Content types served `inline` (Synapse's list); everything else is an attachment.
const INLINE: &[&str] = &[
    "text/css",
    "text/plain",
    "text/csv",
    "application/json",
    "application/ld+json",
    "image/jpeg",
    "image/gif",
    "image/png",
    "image/apng",
    "image/webp",
    "image/avif",
    "video/mp4",
    "video/webm",
    "video/ogg",
    "video/quicktime",
    "audio/mp4",
    "audio/webm",
    "audio/aac",
    "audio/mpeg",
    "audio/ogg",
    "audio/wave",
    "audio/wav",
    "audio/x-wav",
    "audio/x-pn-wav",
    "audio/flac",
    "audio/x-flac",
];

/// The Content-Security-Policy of every media answer (Synapse's).
const CSP: &str = "sandbox; default-src 'none'; script-src 'none'; plugin-types application/pdf; \
                   style-src 'unsafe-inline'; media-src 'self'; object-src 'self';";

/// The largest file thumbnailed.
const MAX_THUMBNAIL_SOURCE: usize = 32 * 1024 * 1024;

/// Builds the answer for `file` of `content_type`, named `filename`.
fn media_response(file: Bytes, content_type: Option<&str>, filename: Option<String>) -> Response {
    let content_type = content_type
        .filter(|c| HeaderValue::from_str(c).is_ok())
        .unwrap_or("application/octet-stream");
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    // Text without a charset would be sniffed by browsers: say UTF-8, as Synapse does.
    let content_type = if essence.starts_with("text/") && !content_type.contains("charset") {
        format!("{content_type}; charset=utf-8")
    } else {
        content_type.to_owned()
    };
    let kind = if INLINE.contains(&essence.as_str()) {
        ContentDispositionType::Inline
    } else {
        ContentDispositionType::Attachment
    };
    let disposition = ContentDisposition::new(kind).with_filename(filename);
    let mut response = (StatusCode::OK, file).into_response();
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_TYPE, content_type),
        (header::CONTENT_DISPOSITION, disposition.to_string()),
        (header::CONTENT_SECURITY_POLICY, CSP.to_owned()),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_owned()),
        (
            header::HeaderName::from_static("cross-origin-resource-policy"),
            "cross-origin".to_owned(),
        ),
        (
            header::CACHE_CONTROL,
            "public, max-age=86400, s-maxage=86400".to_owned(),
        ),
    ] {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
    response
}

fn serve(served: Served, filename: Option<String>) -> Response {
    let name = filename.or(served.upload_name);
    media_response(served.file, served.row.content_type.as_deref(), name)
}

/// `GET /_matrix/client/v1/media/download/{serverName}/{mediaId}`
pub async fn download_route(
    axum::extract::State(state): AppStateRef,
    req: Ruma<am::get_content::v1::Request>,
) -> Result<Response> {
    req.sender()?;
    let b = req.body;
    let served = media::fetch(&state, b.server_name.as_str(), &b.media_id, b.timeout_ms).await?;
    Ok(serve(served, None))
}

/// `GET /_matrix/client/v1/media/download/{serverName}/{mediaId}/{fileName}`
pub async fn download_as_route(
    axum::extract::State(state): AppStateRef,
    req: Ruma<am::get_content_as_filename::v1::Request>,
) -> Result<Response> {
    req.sender()?;
    let b = req.body;
    let served = media::fetch(&state, b.server_name.as_str(), &b.media_id, b.timeout_ms).await?;
    Ok(serve(served, Some(b.filename)))
}

/// A thumbnail, from the cache or made now and cached.
async fn thumbnail_of(
    state: &AppState,
    served: &Served,
    (width, height): (u32, u32),
    fit: Fit,
) -> Result<(Vec<u8>, &'static str)> {
    let dir = state.media.thumbnail_dir(&served.row.mxc);
    let stem = format!("{width}x{height}-{}", fit.as_str());
    for (ext, ct) in [("png", "image/png"), ("jpg", "image/jpeg")] {
        if let Ok(data) = tokio::fs::read(dir.join(format!("{stem}.{ext}"))).await {
            return Ok((data, ct));
        }
    }
    if served.file.len() > MAX_THUMBNAIL_SOURCE {
        return Err(cannot_thumbnail());
    }
    let file = served.file.clone();
    let (data, ct) =
        tokio::task::spawn_blocking(move || thumbnail::make(&file, width, height, fit))
            .await
            .map_err(|e| Error::Internal(format!("thumbnailing: {e}")))?
            .map_err(|_| cannot_thumbnail())?;
    let ext = if ct == "image/png" { "png" } else { "jpg" };
    // The cache is an optimisation: a failure to write it is only logged.
    let tmp = dir.join(format!("{stem}.{ext}.{}", rand::random::<u32>()));
    let written = async {
        tokio::fs::create_dir_all(&dir).await?;
        tokio::fs::write(&tmp, &data).await?;
        tokio::fs::rename(&tmp, dir.join(format!("{stem}.{ext}"))).await
    }
    .await;
    if let Err(e) = written {
        tracing::debug!("thumbnail not cached: {e}");
    }
    Ok((data, ct))
}

fn cannot_thumbnail() -> Error {
    Error::new(
        StatusCode::BAD_REQUEST,
        ErrorKind::Unknown,
        "Cannot generate a thumbnail of this content",
    )
}

/// `GET /_matrix/client/v1/media/thumbnail/{serverName}/{mediaId}`
pub async fn thumbnail_route(
    axum::extract::State(state): AppStateRef,
    req: Ruma<am::get_content_thumbnail::v1::Request>,
) -> Result<Response> {
    req.sender()?;
    let b = req.body;
    let (width, height) = (u64::from(b.width), u64::from(b.height));
    if width == 0 || height == 0 {
        return Err(Error::invalid_param(
            "width and height must be positive integers",
        ));
    }
    let fit = match b.method {
        Some(Method::Crop) => Fit::Crop,
        None | Some(Method::Scale) => Fit::Scale,
        Some(other) => {
            return Err(Error::invalid_param(format!(
                "Unknown thumbnail method {}",
                other.as_str()
            )));
        }
    };
    // Absurd sizes get the largest thumbnail there is.
    let clamp = |v: u64| v.min(u64::from(thumbnail::MAX_SIDE)) as u32;
    let served = media::fetch(&state, b.server_name.as_str(), &b.media_id, b.timeout_ms).await?;
    let (data, ct) = thumbnail_of(&state, &served, (clamp(width), clamp(height)), fit).await?;
    let name = if ct == "image/png" {
        "thumbnail.png"
    } else {
        "thumbnail.jpg"
    };
    Ok(media_response(
        Bytes::from(data),
        Some(ct),
        Some(name.to_owned()),
    ))
}

/// `GET /_matrix/client/v1/media/config`
pub async fn config_route(
    axum::extract::State(state): AppStateRef,
    req: Ruma<am::get_media_config::v1::Request>,
) -> Result<RumaResponse<am::get_media_config::v1::Response>> {
    req.sender()?;
    let size = ruma::UInt::new_saturating(state.config.media.max_upload_bytes as u64);
    Ok(am::get_media_config::v1::Response::new(size).into())
}

/// What `/preview_url` answers while URL previews are off (Synapse's default): the path is
/// not served.
pub(super) fn previews_off() -> Error {
    Error::new(
        StatusCode::NOT_FOUND,
        ErrorKind::Unrecognized,
        "URL previews are disabled on this server",
    )
}

/// `GET /_matrix/client/v1/media/preview_url`
pub async fn preview_route(
    req: Ruma<am::get_media_preview::v1::Request>,
) -> Result<RumaResponse<am::get_media_preview::v1::Response>> {
    req.sender()?;
    Err(previews_off())
}
