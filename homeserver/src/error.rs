//! The one error type of the HTTP edge and its single mapping to Matrix error responses.
//! Internal failures are logged with their context here and answered with a bare `M_UNKNOWN`.

use std::time::Duration;

use axum::response::{IntoResponse, Response};
use bytes::BytesMut;
use http::StatusCode;
use ruma::api::{
    OutgoingResponse,
    client::uiaa::{UiaaInfo, UiaaResponse},
    error::{
        Error as MatrixError, ErrorBody, ErrorKind, LimitExceededErrorData, RetryAfter,
        StandardErrorBody, UnknownTokenErrorData,
    },
};

use consort_bridge::{Rejection, RejectionKind};
use consort_chain::TxError;

use crate::{
    services::{credentials::CredentialError, registration_ledger::LedgerError},
    storage::StorageError,
};

/// MSC3866's error code for an account that exists but is not approved yet.
pub const USER_AWAITING_APPROVAL: &str = "M_USER_AWAITING_APPROVAL";

/// Everything a request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A client error with a standard Matrix error code.
    #[error("[{status} / {}] {message}", kind.errcode())]
    Matrix {
        /// HTTP status.
        status: StatusCode,
        /// Matrix error code (and its data).
        kind: ErrorKind,
        /// Human-readable explanation.
        message: String,
    },
    /// The account exists but an admin has not approved it yet (MSC3866).
    #[error("account awaiting approval")]
    AwaitingApproval,
    /// An admin locked the account: 401 `M_USER_LOCKED` with `soft_logout`, so that the
    /// client keeps its session for when the account is unlocked.
    #[error("account locked")]
    Locked,
    /// The endpoint needs (more) user-interactive authentication.
    #[error("user-interactive authentication required")]
    Uiaa(Box<UiaaInfo>),
    /// The database failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// Password hashing failed.
    #[error(transparent)]
    Credential(#[from] CredentialError),
    /// The ledger failed or refused.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// Any other bug-shaped failure.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<sqlx::Error> for Error {
    fn from(err: sqlx::Error) -> Self {
        Self::Storage(StorageError::Query(err))
    }
}

/// Result of a handler or service.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A client error with the given status, code and message.
    pub fn new(status: StatusCode, kind: ErrorKind, message: impl Into<String>) -> Self {
        Self::Matrix {
            status,
            kind,
            message: message.into(),
        }
    }

    /// 400 `M_BAD_JSON`.
    pub fn bad_json(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, ErrorKind::BadJson, message)
    }

    /// 400 `M_MISSING_PARAM`: a required field or parameter is absent.
    pub fn missing_param(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, ErrorKind::MissingParam, message)
    }

    /// 400 `M_NOT_JSON`.
    pub fn not_json(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, ErrorKind::NotJson, message)
    }

    /// 400 `M_INVALID_PARAM`.
    pub fn invalid_param(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, ErrorKind::InvalidParam, message)
    }

    /// 403 `M_FORBIDDEN`.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, ErrorKind::Forbidden, message)
    }

    /// 404 `M_NOT_FOUND`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, ErrorKind::NotFound, message)
    }

    /// 404 `M_UNRECOGNIZED`: no such endpoint.
    pub fn unrecognized() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            ErrorKind::Unrecognized,
            "Unrecognized request",
        )
    }

    /// 405 `M_UNRECOGNIZED`: known path, wrong method.
    pub fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            ErrorKind::Unrecognized,
            "Method not allowed",
        )
    }

    /// 401 `M_MISSING_TOKEN`.
    pub fn missing_token() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            ErrorKind::MissingToken,
            "Missing access token",
        )
    }

    /// 401 `M_UNKNOWN_TOKEN`.
    pub fn unknown_token() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            ErrorKind::UnknownToken(UnknownTokenErrorData::new()),
            "Unknown access token",
        )
    }

    /// 401 `M_UNKNOWN_TOKEN` with `soft_logout`: the access token expired; the client
    /// refreshes it (or logs in again on the same device) without losing its session.
    pub fn soft_logout() -> Self {
        let mut data = UnknownTokenErrorData::new();
        data.soft_logout = true;
        Self::new(
            StatusCode::UNAUTHORIZED,
            ErrorKind::UnknownToken(data),
            "Access token has expired",
        )
    }

    /// The account is locked (see [`Error::Locked`]).
    pub fn locked() -> Self {
        Self::Locked
    }

    /// 413 `M_TOO_LARGE`.
    pub fn too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorKind::TooLarge,
            format!("Request body larger than {limit} bytes"),
        )
    }

    /// 429 `M_LIMIT_EXCEEDED` with `retry_after_ms`.
    pub fn limit_exceeded(wait: Duration) -> Self {
        let mut data = LimitExceededErrorData::new();
        data.retry_after = Some(RetryAfter::Delay(wait));
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            ErrorKind::LimitExceeded(data),
            "Too many requests",
        )
    }

    /// 400 `M_USER_IN_USE`.
    pub fn user_in_use() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            ErrorKind::UserInUse,
            "User ID already taken",
        )
    }

    /// 400 `M_INVALID_USERNAME`.
    pub fn invalid_username(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, ErrorKind::InvalidUsername, message)
    }

    /// 403 `M_USER_DEACTIVATED`.
    pub fn user_deactivated() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            ErrorKind::UserDeactivated,
            "This account has been deactivated",
        )
    }

    /// The Matrix error for a record the consortium's rules rejected: the one place where a
    /// rejection's kind (never its text) becomes a status and an errcode.
    pub fn rejected(rejection: Rejection) -> Self {
        use RejectionKind as K;
        let (status, kind) = match rejection.kind() {
            K::Malformed => (StatusCode::BAD_REQUEST, ErrorKind::BadJson),
            K::BadSignature | K::AlreadyExists | K::Unsupported => {
                (StatusCode::BAD_REQUEST, ErrorKind::InvalidParam)
            }
            K::UnknownUser | K::NotFound => (StatusCode::NOT_FOUND, ErrorKind::NotFound),
            K::Deactivated | K::WrongOrganisation | K::Forbidden => {
                (StatusCode::FORBIDDEN, ErrorKind::Forbidden)
            }
            K::UserInUse => (StatusCode::BAD_REQUEST, ErrorKind::UserInUse),
            // Synapse answers a taken alias with 409 and no specific errcode.
            K::AliasInUse => (StatusCode::CONFLICT, ErrorKind::Unknown),
            K::MediaInUse => (StatusCode::CONFLICT, ErrorKind::CannotOverwriteMedia),
            K::UnsupportedRoomVersion => {
                (StatusCode::BAD_REQUEST, ErrorKind::UnsupportedRoomVersion)
            }
            K::LimitExceeded => (StatusCode::PAYLOAD_TOO_LARGE, ErrorKind::TooLarge),
        };
        Self::new(status, kind, rejection.message())
    }

    /// The Matrix error for a transaction this node's ledger refused before consensus.
    fn refused_tx(refusal: TxError) -> Self {
        match refusal {
            TxError::TooLarge { .. } => Self::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                ErrorKind::TooLarge,
                format!("The request is too large for the consortium ledger: {refusal}"),
            ),
            TxError::MempoolFull(_) => Self::limit_exceeded(Duration::from_secs(1)),
            // Our own node signed and numbered it: anything else is this node's fault.
            other => Self::Internal(format!("the ledger node refused a transaction: {other}")),
        }
    }

    /// Converts into the Matrix error body clients see, logging what they must not see.
    pub fn into_matrix_error(self) -> MatrixError {
        match self {
            Self::Matrix {
                status,
                kind,
                message,
            } => MatrixError::new(
                status,
                ErrorBody::Standard(StandardErrorBody::new(kind, message)),
            ),
            Self::AwaitingApproval => MatrixError::new(
                StatusCode::FORBIDDEN,
                ErrorBody::Json(serde_json::json!({
                    "errcode": USER_AWAITING_APPROVAL,
                    "error": "This account is pending approval by a server administrator.",
                })),
            ),
            Self::Locked => MatrixError::new(
                StatusCode::UNAUTHORIZED,
                ErrorBody::Json(serde_json::json!({
                    "errcode": "M_USER_LOCKED",
                    "error": "This account has been locked",
                    "soft_logout": true,
                })),
            ),
            Self::Uiaa(_) => {
                // Only reachable through `into_response`'s UIAA branch; keep a sane fallback.
                internal(&"user-interactive auth outside a UIAA response")
            }
            Self::Ledger(LedgerError::Rejected(rejection)) => {
                Self::rejected(rejection.context("The consortium ledger rejected the request"))
                    .into_matrix_error()
            }
            Self::Ledger(LedgerError::Refused(refusal)) => {
                Self::refused_tx(refusal).into_matrix_error()
            }
            Self::Ledger(err @ LedgerError::Unavailable(_)) => {
                tracing::error!(error = %err, "ledger unavailable");
                MatrixError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    ErrorBody::Standard(StandardErrorBody::new(
                        ErrorKind::Unknown,
                        "The consortium ledger is unavailable, try again later".into(),
                    )),
                )
            }
            Self::Storage(err) => internal(&err),
            Self::Credential(err) => internal(&err),
            Self::Internal(err) => internal(&err),
        }
    }
}

fn internal(err: &dyn std::fmt::Display) -> MatrixError {
    tracing::error!(error = %err, "internal error while handling a request");
    MatrixError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        ErrorBody::Standard(StandardErrorBody::new(
            ErrorKind::Unknown,
            "Internal server error".into(),
        )),
    )
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let response = match self {
            Self::Uiaa(info) => {
                UiaaResponse::AuthResponse(*info).try_into_http_response::<BytesMut>()
            }
            other => other
                .into_matrix_error()
                .try_into_http_response::<BytesMut>(),
        };
        match response {
            Ok(response) => response.map(|body| axum::body::Body::from(body.freeze())),
            Err(err) => {
                tracing::error!(error = %err, "cannot serialize an error response");
                StatusCode::INTERNAL_SERVER_ERROR.into_response()
            }
        }
    }
}
