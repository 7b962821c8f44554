//! `GET /ipfs/{cid}`: the trustless gateway (raw blocks, `Accept: application/vnd.ipld.raw`)
//! other organisations' nodes fetch media blocks from. Requests are signed by the asking
//! organisation's node key (`services::media::peers`); answers are the block's bytes, which
//! the asker checks against the CID.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use ruma::api::error::ErrorKind;

use crate::api::client::AppStateRef;
use crate::error::{Error, Result};
use crate::services::media::peers::{ORG_HEADER, RAW_BLOCK, SIG_HEADER, TS_HEADER, verify_request};
use consort_bridge::media::unixfs::parse_cid;

/// The path the route is mounted at.
pub const PATH: &str = "/ipfs/{cid}";

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// `GET /ipfs/{cid}`
pub async fn block_route(
    State(state): AppStateRef,
    Path(cid): Path<String>,
    headers: HeaderMap,
) -> Result<Response> {
    let accepts_raw = header_str(&headers, "accept")
        .is_some_and(|a| a.split(',').any(|t| t.trim().starts_with(RAW_BLOCK)));
    if !accepts_raw {
        return Err(Error::new(
            StatusCode::NOT_ACCEPTABLE,
            ErrorKind::Unknown,
            "This gateway serves raw blocks only (Accept: application/vnd.ipld.raw)",
        ));
    }
    let chain = state.chain()?;
    let org = verify_request(
        chain.genesis(),
        &cid,
        header_str(&headers, ORG_HEADER),
        header_str(&headers, TS_HEADER),
        header_str(&headers, SIG_HEADER),
    )
    .map_err(Error::forbidden)?;
    let parsed = parse_cid(&cid).map_err(|e| Error::invalid_param(e.to_string()))?;
    let Some(block) = state
        .media
        .store
        .block(&parsed)
        .await
        .map_err(|e| Error::Internal(format!("media store: {e}")))?
    else {
        tracing::debug!(%org, %cid, "asked for a block this node does not hold");
        return Err(Error::not_found("This node does not hold that block"));
    };
    let mut response = (StatusCode::OK, block).into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(RAW_BLOCK));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=29030400, immutable"),
    );
    Ok(response)
}
