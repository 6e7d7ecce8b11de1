//! The one mapping from errors to the `/v1` error envelope (contract, "Errors").
//!
//! Handlers return [`ApiError`]. Its response carries the envelope's fields as a
//! response extension ([`PendingError`]); the request-ID middleware
//! ([`crate::request_id`]) renders the JSON body with the request's ID and
//! fits the status to what the route may answer ([`crate::contract`]), so
//! every error — ours, axum's rejections, a 404 for an unknown route, a body
//! limit — leaves the server as the same envelope with `request_id` and the
//! `X-Request-Id` header, and with one of the contract's fourteen codes.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use crema_service::{ErrorCode, ServiceError};
use serde::Serialize;
use utoipa::ToSchema;

/// Largest `POST` body under `/v1`, in bytes (64 KiB: JSON bodies only; job
/// `metadata` alone is capped at 16 KiB by the service). A larger one is
/// `400 validation_error` with reason `payload_too_large`.
pub const MAX_POST_BODY: usize = 64 * 1024;

/// The envelope body of every non-2xx response except 302:
/// `{"error": {"code", "message", "retryable", "request_id", "reason"?}}`.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ErrorEnvelope {
    /// The error.
    pub error: ErrorBody,
}

/// The `error` object of [`ErrorEnvelope`].
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// One of the contract's fourteen codes (the SDKs' closed enum).
    pub code: ErrorCode,
    /// What went wrong, for people; names the field for validation errors.
    /// Never a server path or a debug string.
    pub message: String,
    /// Whether the same request may succeed later: true for `rate_limited`,
    /// `capacity_exceeded`, `internal_error` and a `conflict` with reason
    /// `request_in_progress`.
    pub retryable: bool,
    /// The request's ID (`req_…`), also sent as `X-Request-Id`.
    pub request_id: String,
    /// Extension: Crema's finer distinction inside `code`
    /// (`idempotency_key_required`, `idempotency_key_reused`,
    /// `request_in_progress`, `upload_incomplete`, `payload_too_large`,
    /// `invalid_transition`, `method_not_allowed`, `body_timeout`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
}

/// An error on its way out: status, code, message, retryable, reason. The
/// request ID is filled in by the middleware.
#[derive(Clone, Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Envelope `code`.
    pub code: ErrorCode,
    /// Envelope `message`.
    pub message: String,
    /// Envelope `retryable`.
    pub retryable: bool,
    /// Envelope `reason` (extension).
    pub reason: Option<&'static str>,
}

/// Marker extension on an error response: the middleware renders it.
#[derive(Clone, Debug)]
pub(crate) struct PendingError(pub ApiError);

impl ApiError {
    /// An error with an explicit status and code; `retryable` follows the code
    /// ([`ErrorCode::retryable`]).
    pub fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into(), retryable: code.retryable(), reason: None }
    }

    /// The same error with an extension `reason`.
    pub fn with_reason(mut self, reason: &'static str) -> Self {
        self.reason = Some(reason);
        self
    }

    /// `400 validation_error` (malformed request: bad JSON, query or header).
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, ErrorCode::ValidationError, message)
    }

    /// `404 not_found`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, ErrorCode::NotFound, message)
    }

    /// `500 internal_error` with a message safe to show (details go to the log).
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, ErrorCode::InternalError, message)
    }

    /// The same error with another status (e.g. a validation error that is a 422, not a 400).
    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    /// A generic envelope for a bare error status produced outside our handlers
    /// (axum's 405, a 404 for an unknown route, tower-http's 408/413, …).
    pub fn from_status(status: StatusCode) -> Self {
        let (code, reason, message) = match status {
            StatusCode::NOT_FOUND => (ErrorCode::NotFound, None, "no such route"),
            StatusCode::METHOD_NOT_ALLOWED => {
                (ErrorCode::ValidationError, Some("method_not_allowed"), "this method is not allowed on this route")
            }
            StatusCode::PAYLOAD_TOO_LARGE => (
                ErrorCode::ValidationError,
                Some("payload_too_large"),
                "the request body is larger than this route allows",
            ),
            StatusCode::REQUEST_TIMEOUT => {
                (ErrorCode::ValidationError, Some("body_timeout"), "the request took too long to arrive")
            }
            StatusCode::UNSUPPORTED_MEDIA_TYPE => {
                (ErrorCode::ValidationError, None, "the request body must be application/json")
            }
            StatusCode::UNAUTHORIZED => (ErrorCode::Unauthorized, None, "a valid API key or session is required"),
            StatusCode::FORBIDDEN => (ErrorCode::Forbidden, None, "this credential may not do this"),
            StatusCode::TOO_MANY_REQUESTS => (ErrorCode::RateLimited, None, "too many requests; slow down"),
            StatusCode::SERVICE_UNAVAILABLE => (ErrorCode::CapacityExceeded, None, "the server cannot take this now"),
            s if s.is_server_error() => (ErrorCode::InternalError, None, "the server failed to handle the request"),
            _ => (ErrorCode::ValidationError, None, "the request is not valid"),
        };
        let e = Self::new(status, code, message);
        match reason {
            Some(r) => e.with_reason(r),
            None => e,
        }
    }
}

/// The HTTP status of each service error on an extension route, and the
/// starting point on contract routes (the only place this is decided; the
/// renderer then fits it to the route's allowed statuses, [`crate::contract::fit`]).
pub fn status_of(e: &ServiceError) -> StatusCode {
    match e {
        ServiceError::NotFound { .. } => StatusCode::NOT_FOUND,
        ServiceError::Validation { .. } | ServiceError::IdempotencyKeyRequired => StatusCode::BAD_REQUEST,
        ServiceError::InvalidTransition(_)
        | ServiceError::JobNotCancelable(_)
        | ServiceError::OutputNotReady(_)
        | ServiceError::UploadIncomplete(_)
        | ServiceError::IdempotencyKeyReused(_)
        | ServiceError::RequestInProgress(_) => StatusCode::CONFLICT,
        ServiceError::Forbidden(_) => StatusCode::FORBIDDEN,
        ServiceError::CapacityExceeded(_) => StatusCode::SERVICE_UNAVAILABLE,
        ServiceError::SourceInvalid(_) | ServiceError::SourceUnsupported(_) => StatusCode::UNPROCESSABLE_ENTITY,
        ServiceError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
        ServiceError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
        ServiceError::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
        ServiceError::OutputPersistenceFailed(_) | ServiceError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        let status = status_of(&e);
        let message = match &e {
            // Internal details (SQL, paths) stay in the log.
            ServiceError::Internal(detail) => {
                tracing::error!("internal error: {detail}");
                "the server failed to handle the request; it was logged".to_string()
            }
            ServiceError::OutputPersistenceFailed(detail) => {
                tracing::error!("output persistence failed: {detail}");
                "the encode finished but its output could not be stored; it was logged".to_string()
            }
            other => other.to_string(),
        };
        Self { status, code: e.code(), message, retryable: e.retryable(), reason: e.reason() }
    }
}

/// Why a request body could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyFault {
    /// It is larger than the route allows.
    TooLarge,
    /// The client stopped sending for longer than [`crate::BODY_IDLE_TIMEOUT`].
    Stalled,
    /// The connection failed or the framing was bad.
    Unreadable,
}

impl BodyFault {
    /// Classifies a body-read error by walking its sources (the length
    /// limit of `http-body-util`, the idle timeout of `tower-http`).
    pub fn of(e: &(dyn std::error::Error + 'static)) -> BodyFault {
        let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
        while let Some(err) = cur {
            if err.is::<http_body_util::LengthLimitError>() {
                return BodyFault::TooLarge;
            }
            if err.is::<tower_http::timeout::TimeoutError>() {
                return BodyFault::Stalled;
            }
            cur = err.source();
        }
        BodyFault::Unreadable
    }

    /// The envelope for this fault: 413 `validation_error` (`payload_too_large`;
    /// fitted to 400 on contract routes) or 400 `validation_error`
    /// (`body_timeout`, `body_unreadable`). A stalled body is never "too large".
    pub fn into_error(self, limit: usize) -> ApiError {
        match self {
            BodyFault::TooLarge => ApiError::from_status(StatusCode::PAYLOAD_TOO_LARGE)
                .with_message(format!("the request body is larger than this route's {limit} bytes")),
            BodyFault::Stalled => ApiError::bad_request(format!(
                "the request body stalled: nothing arrived for {} s",
                crate::BODY_IDLE_TIMEOUT.as_secs()
            ))
            .with_reason("body_timeout"),
            BodyFault::Unreadable => {
                ApiError::bad_request("the request body could not be read").with_reason("body_unreadable")
            }
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        if let JsonRejection::BytesRejection(b) = &r {
            return BodyFault::of(b).into_error(MAX_POST_BODY);
        }
        // A missing Content-Type is a malformed request like any other (400, not 415).
        let message = r.body_text().replace("Failed to deserialize the JSON body into the target type: ", "");
        Self::bad_request(message)
    }
}

impl ApiError {
    /// The same error with another message.
    pub fn with_message(mut self, message: impl Into<String>) -> Self {
        self.message = message.into();
        self
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        Self::bad_request(r.body_text().replace("Failed to deserialize query string: ", "query: "))
    }
}

impl From<PathRejection> for ApiError {
    fn from(r: PathRejection) -> Self {
        Self::bad_request(r.body_text())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut res = self.status.into_response();
        res.extensions_mut().insert(PendingError(self));
        res
    }
}

/// Result alias for handlers.
pub type ApiResult<T> = Result<T, ApiError>;
