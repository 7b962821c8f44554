//! `Ruma<T>`: the axum extractor that turns an HTTP request into a typed ruma request. It reads
//! the body under the configured size limit, authenticates the caller as the endpoint's
//! `Metadata` auth scheme requires, and maps every parsing failure to the Matrix error code
//! Synapse would give. `RumaResponse<R>` turns a typed response back into HTTP.
//!
//! One rule for every endpoint, as Synapse has it: an absent or zero-length JSON body is the
//! body `{}`, so an endpoint whose body fields are all optional takes no body at all, and one
//! with a required field answers `M_NOT_JSON` as before. Decoding runs under the panic net.

use std::{marker::PhantomData, net::SocketAddr, sync::Arc};

use axum::{
    RequestPartsExt,
    extract::{ConnectInfo, FromRequest, RawPathParams, Request},
    response::{IntoResponse, Response},
};
use bytes::{Bytes, BytesMut};
use http::{StatusCode, header, request::Parts};
use ruma::api::{
    IncomingRequest, OutgoingResponse,
    auth_scheme::{
        AccessToken, AccessTokenOptional, AppserviceToken, AppserviceTokenOptional, NoAccessToken,
        NoAuthentication,
    },
    error::{DeserializationError, FromHttpRequestError},
    path_builder::PathBuilder,
};

use super::panic_net::catch_decode_panic;
use crate::{
    error::{Error, Result},
    services::auth::{Sender, authenticate},
    state::AppState,
};

/// How an endpoint wants its caller authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMode {
    /// No access token is looked at.
    None,
    /// An access token must be given and valid.
    Required,
    /// An access token may be given; when given it must be valid.
    Optional,
}

/// Maps ruma's auth scheme types to what the server does with them.
pub trait ServerAuth {
    /// The mode for this scheme.
    const MODE: AuthMode;
}

impl ServerAuth for NoAuthentication {
    const MODE: AuthMode = AuthMode::None;
}
impl ServerAuth for NoAccessToken {
    const MODE: AuthMode = AuthMode::None;
}
impl ServerAuth for AccessToken {
    const MODE: AuthMode = AuthMode::Required;
}
impl ServerAuth for AccessTokenOptional {
    const MODE: AuthMode = AuthMode::Optional;
}
// Application services are not supported: their tokens are not looked at.
impl ServerAuth for AppserviceToken {
    const MODE: AuthMode = AuthMode::Required;
}
impl ServerAuth for AppserviceTokenOptional {
    const MODE: AuthMode = AuthMode::None;
}

/// One endpoint's look at its raw JSON body before ruma decodes it: for bodies whose ruma
/// deserializer cannot itself say what is wrong with them, or where ruma requires a field
/// the specification gives a default for.
pub trait BodyGuard {
    /// Whether the body is bytes, not JSON (a media upload): an empty one stays empty.
    const RAW: bool = false;

    /// The largest body the endpoint takes.
    fn limit(config: &crate::config::Config) -> usize {
        config.max_body_bytes
    }

    /// The body to hand to ruma, or the error to answer.
    fn prepare(body: Bytes) -> Result<Bytes>;
}

/// The guard of media uploads: any bytes, up to `media.max_upload_bytes`.
#[derive(Debug)]
pub struct MediaUpload;

impl BodyGuard for MediaUpload {
    const RAW: bool = true;

    fn limit(config: &crate::config::Config) -> usize {
        config.media.max_upload_bytes
    }

    fn prepare(body: Bytes) -> Result<Bytes> {
        Ok(body)
    }
}

/// The guard of every endpoint whose ruma type decodes any body as the spec says.
#[derive(Debug)]
pub struct NoGuard;

impl BodyGuard for NoGuard {
    fn prepare(body: Bytes) -> Result<Bytes> {
        Ok(body)
    }
}

/// Fills in `field` with `default` when a JSON object body lacks it (the spec's default for a
/// field ruma requires); anything that is not an object is left to ruma to refuse.
pub fn with_default(body: Bytes, field: &str, default: serde_json::Value) -> Result<Bytes> {
    match serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(&body) {
        Ok(mut object) if !object.contains_key(field) => {
            object.insert(field.to_owned(), default);
            let bytes = serde_json::to_vec(&object)
                .map_err(|e| Error::Internal(format!("re-encoding a body: {e}")))?;
            Ok(Bytes::from(bytes))
        }
        _ => Ok(body),
    }
}

/// A typed, authenticated Matrix request; `G` checks the raw body first.
#[derive(Debug)]
pub struct Ruma<T, G = NoGuard> {
    /// The parsed request.
    pub body: T,
    /// The caller, when the endpoint authenticates and a token was given.
    pub sender: Option<Sender>,
    /// The client's address, when known.
    pub client_ip: Option<SocketAddr>,
    /// The body as received, for the fields a ruma type does not know yet (sliding sync's
    /// `spaces` list filter).
    pub raw_body: Bytes,
    guard: PhantomData<G>,
}

impl<T, G> Ruma<T, G> {
    /// The caller of an endpoint that requires authentication.
    pub fn sender(&self) -> Result<&Sender> {
        self.sender.as_ref().ok_or_else(Error::missing_token)
    }

    /// The client's address as a rate-limiter key.
    pub fn client_key(&self) -> String {
        self.client_ip
            .map(|a| a.ip().to_string())
            .unwrap_or_else(|| "unknown".to_owned())
    }
}

/// Reads and drops up to `cap` bytes of a refused body, for at most 5 s: a client still
/// writing its body when the 413 arrives otherwise fails with a broken pipe and never reads
/// the answer. Larger or slower bodies are cut off as before.
async fn drain(mut body: axum::body::Body, cap: usize) {
    use http_body_util::BodyExt;
    let mut seen = 0usize;
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), async {
        while seen <= cap {
            match body.frame().await {
                Some(Ok(frame)) => seen += frame.data_ref().map_or(0, |d| d.len()),
                _ => break,
            }
        }
    })
    .await;
}

/// Reads a whole body, refusing more than `limit` bytes with 413 `M_TOO_LARGE`.
pub async fn read_body(parts: &Parts, body: axum::body::Body, limit: usize) -> Result<Bytes> {
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        drain(body, limit.saturating_mul(4)).await;
        return Err(Error::too_large(limit));
    }
    axum::body::to_bytes(body, limit).await.map_err(|err| {
        let source = err.into_inner();
        if source
            .downcast_ref::<http_body_util::LengthLimitError>()
            .is_some()
        {
            Error::too_large(limit)
        } else {
            Error::new(
                StatusCode::BAD_REQUEST,
                ruma::api::error::ErrorKind::Unknown,
                format!("Cannot read request body: {source}"),
            )
        }
    })
}

/// The access token of a request: the `Authorization: Bearer` header or the deprecated
/// `access_token` query parameter. Both at once must name the same token: two different
/// tokens answer 400, as nothing says which of the two callers is meant.
pub fn access_token(parts: &Parts) -> Result<Option<String>> {
    #[derive(serde::Deserialize)]
    struct Query {
        access_token: Option<String>,
    }
    let query = axum::extract::Query::<Query>::try_from_uri(&parts.uri)
        .ok()
        .and_then(|q| q.0.access_token);
    let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
        return Ok(query);
    };
    let value = value.to_str().map_err(|_| Error::missing_token())?;
    let header = value
        .get(..7)
        .filter(|scheme| scheme.eq_ignore_ascii_case("bearer "))
        .map(|_| value[7..].trim())
        .ok_or_else(Error::missing_token)?;
    if query.as_deref().is_some_and(|q| q != header) {
        return Err(Error::invalid_param(
            "Mixing Authorization headers and access_token query parameters with different tokens.",
        ));
    }
    Ok(Some(header.to_owned()))
}

/// Whether a zero-length body stands for `{}`: unless it says it is something other than JSON
/// (a media upload of zero bytes stays zero bytes).
fn empty_means_empty_object(parts: &Parts) -> bool {
    parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|v| {
            let essence = v.split(';').next().unwrap_or_default().trim();
            essence.is_empty() || essence.eq_ignore_ascii_case("application/json")
        })
}

/// Decodes the request with ruma, under the panic net, applying the empty-body rule.
fn decode<T: IncomingRequest, G: BodyGuard>(
    parts: Parts,
    bytes: Bytes,
    path_args: &[String],
) -> Result<T> {
    let empty = !G::RAW && bytes.is_empty() && empty_means_empty_object(&parts);
    let bytes = if empty {
        Bytes::from_static(b"{}")
    } else {
        bytes
    };
    let bytes = G::prepare(bytes)?;
    let request = http::Request::from_parts(parts, bytes);
    match catch_decode_panic(|| T::try_from_http_request(request, path_args)) {
        Ok(Ok(body)) => Ok(body),
        // No body where a field is required: what the missing body itself would answer.
        Ok(Err(FromHttpRequestError::Deserialization(DeserializationError::Json(_)))) if empty => {
            Err(Error::not_json("Content not JSON."))
        }
        Ok(Err(err)) => Err(parse_error(err)),
        Err(panic) => {
            tracing::warn!(
                path = T::PATH_BUILDER.all_paths().next().unwrap_or_default(),
                %panic,
                "decoding a request panicked; answered 400"
            );
            Err(Error::bad_json(
                "The request body is not what this endpoint takes.",
            ))
        }
    }
}

/// Maps ruma's parse failures to Synapse's error codes.
fn parse_error(err: FromHttpRequestError) -> Error {
    match err {
        FromHttpRequestError::Deserialization(DeserializationError::Json(err)) => {
            match err.classify() {
                serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
                    Error::not_json("Content not JSON.")
                }
                _ => Error::bad_json(err.to_string()),
            }
        }
        FromHttpRequestError::Deserialization(DeserializationError::Utf8(_)) => {
            Error::not_json("Content not JSON.")
        }
        FromHttpRequestError::MethodMismatch { .. } => Error::method_not_allowed(),
        other => Error::invalid_param(other.to_string()),
    }
}

impl<T, G> FromRequest<Arc<AppState>> for Ruma<T, G>
where
    T: IncomingRequest + Send + 'static,
    T::Authentication: ServerAuth,
    G: BodyGuard,
{
    type Rejection = Error;

    async fn from_request(request: Request, state: &Arc<AppState>) -> Result<Self, Error> {
        let (mut parts, body) = request.into_parts();
        let mut path_args: Vec<String> = match parts.extract::<RawPathParams>().await {
            Ok(params) => params.iter().map(|(_, v)| v.to_owned()).collect(),
            Err(_) => return Err(Error::invalid_param("Invalid path parameter")),
        };
        // Routes registered without their last (empty) parameter, like `/state/{type}/`.
        let expected = T::PATH_BUILDER
            .all_paths()
            .next()
            .map_or(0, |p| p.matches('{').count());
        while path_args.len() < expected {
            path_args.push(String::new());
        }
        let client_ip = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0);

        let sender = match <T::Authentication as ServerAuth>::MODE {
            AuthMode::None => None,
            mode => match access_token(&parts)? {
                Some(token) => Some(authenticate(state, &token).await?),
                None if mode == AuthMode::Required => return Err(Error::missing_token()),
                None => None,
            },
        };

        let bytes = read_body(&parts, body, G::limit(&state.config)).await?;
        let raw_body = bytes.clone();
        let body = decode::<T, G>(parts, bytes, &path_args)?;
        Ok(Self {
            body,
            sender,
            client_ip,
            raw_body,
            guard: PhantomData,
        })
    }
}

/// A typed response, serialized by ruma.
#[derive(Debug)]
pub struct RumaResponse<R>(pub R);

impl<R: OutgoingResponse> IntoResponse for RumaResponse<R> {
    fn into_response(self) -> Response {
        match self.0.try_into_http_response::<BytesMut>() {
            Ok(response) => response.map(|body| axum::body::Body::from(body.freeze())),
            Err(err) => {
                Error::Internal(format!("cannot serialize response: {err}")).into_response()
            }
        }
    }
}

/// A typed response that always carries some fields ruma leaves out when they are empty.
/// Synapse always sends them, and clients read them unconditionally: Hydrogen reads
/// `Object.keys(response.failures)` of `/keys/claim`, and throws when the field is absent.
#[derive(Debug)]
pub struct WithEmptyFields<R> {
    /// The response ruma serializes.
    pub response: R,
    /// Top-level fields set to `{}` when ruma's JSON does not have them.
    pub fields: &'static [&'static str],
    /// Top-level fields set to `[]` when ruma's JSON does not have them.
    pub lists: &'static [&'static str],
}

impl<R: OutgoingResponse> IntoResponse for WithEmptyFields<R> {
    fn into_response(self) -> Response {
        let response = match self.response.try_into_http_response::<BytesMut>() {
            Ok(response) => response,
            Err(err) => {
                return Error::Internal(format!("cannot serialize response: {err}"))
                    .into_response();
            }
        };
        let (parts, body) = response.into_parts();
        let mut json: serde_json::Map<String, serde_json::Value> =
            match serde_json::from_slice(&body) {
                Ok(json) => json,
                Err(err) => {
                    return Error::Internal(format!("response is not a JSON object: {err}"))
                        .into_response();
                }
            };
        for field in self.fields {
            json.entry(*field)
                .or_insert_with(|| serde_json::Value::Object(Default::default()));
        }
        for field in self.lists {
            json.entry(*field)
                .or_insert_with(|| serde_json::Value::Array(Vec::new()));
        }
        let body = serde_json::to_vec(&json).unwrap_or_default();
        let mut response = Response::from_parts(parts, axum::body::Body::from(body));
        response.headers_mut().remove(header::CONTENT_LENGTH);
        response
    }
}

impl<R> From<R> for RumaResponse<R> {
    fn from(response: R) -> Self {
        Self(response)
    }
}
