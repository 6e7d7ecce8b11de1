//! The one mapping from errors to the `/v1` error envelope (contract, "Errors").
//!
//! Handlers return [`ApiError`]. Its response carries the envelope's fields as a
//! response extension ([`PendingError`]); the request-ID middleware
//! ([`crate::request_id`]) renders the JSON body with the request's ID, so
//! every error — ours, axum's rejections, a 404 for an unknown route, a 413 from
//! a body limit — leaves the server as the same envelope with `request_id`
//! and the `X-Request-Id` header.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use crema_service::ServiceError;
use serde::Serialize;
use utoipa::ToSchema;

/// The envelope body of every non-2xx response except 302:
/// `{"error": {"code", "message", "retryable", "request_id"}}`.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ErrorEnvelope {
    /// The error.
    pub error: ErrorBody,
}

/// The `error` object of [`ErrorEnvelope`].
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// Stable machine-readable code (`not_found`, `validation_failed`, …).
    pub code: String,
    /// What went wrong, for people; names the field for validation errors.
    pub message: String,
    /// Whether the same request may succeed later: true for `rate_limited`,
    /// `capacity_exceeded`, `internal_error` and `request_in_progress`.
    pub retryable: bool,
    /// The request's ID (`req_…`), also sent as `X-Request-Id`.
    pub request_id: String,
}

/// An error on its way out: status, code, message, retryable. The request ID
/// is filled in by the middleware.
#[derive(Clone, Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Envelope `code`.
    pub code: &'static str,
    /// Envelope `message`.
    pub message: String,
    /// Envelope `retryable`.
    pub retryable: bool,
}

/// Marker extension on an error response: the middleware renders it.
#[derive(Clone, Debug)]
pub(crate) struct PendingError(pub ApiError);

impl ApiError {
    /// An error with an explicit status and code; `retryable` follows the contract's rule.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        let retryable = matches!(code, "rate_limited" | "capacity_exceeded" | "internal_error" | "request_in_progress");
        Self { status, code, message: message.into(), retryable }
    }

    /// `400 validation_failed` (malformed request: bad JSON, query or header).
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "validation_failed", message)
    }

    /// `404 not_found`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// `500 internal_error` with a message safe to show (details go to the log).
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal_error", message)
    }

    /// The same error with another status (e.g. a validation error that is a 400, not a 422).
    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    /// A generic envelope for a bare error status produced outside our handlers
    /// (axum's 405, tower-http's 408/413, …).
    pub(crate) fn from_status(status: StatusCode) -> Self {
        let (code, message) = match status {
            StatusCode::NOT_FOUND => ("not_found", "no such route"),
            StatusCode::METHOD_NOT_ALLOWED => ("method_not_allowed", "this method is not allowed on this route"),
            StatusCode::PAYLOAD_TOO_LARGE => ("payload_too_large", "the request body is larger than this route allows"),
            StatusCode::REQUEST_TIMEOUT => ("request_timeout", "the request took too long to arrive"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => ("validation_failed", "the request body must be application/json"),
            s if s.is_server_error() => ("internal_error", "the server failed to handle the request"),
            _ => ("validation_failed", "the request is not valid"),
        };
        Self::new(status, code, message)
    }
}

/// The HTTP status of each service error (the only place this is decided).
pub fn status_of(e: &ServiceError) -> StatusCode {
    match e {
        ServiceError::NotFound { .. } => StatusCode::NOT_FOUND,
        ServiceError::Validation { .. } => StatusCode::UNPROCESSABLE_ENTITY,
        ServiceError::InvalidTransition(_) | ServiceError::UploadIncomplete(_) => StatusCode::CONFLICT,
        ServiceError::RequestInProgress(_) => StatusCode::CONFLICT,
        ServiceError::Forbidden(_) => StatusCode::FORBIDDEN,
        ServiceError::CapacityExceeded(_) => StatusCode::SERVICE_UNAVAILABLE,
        ServiceError::UnsupportedMedia(_) | ServiceError::IdempotencyKeyReused(_) => StatusCode::UNPROCESSABLE_ENTITY,
        ServiceError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
        ServiceError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
        ServiceError::IdempotencyKeyRequired => StatusCode::BAD_REQUEST,
        ServiceError::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
        ServiceError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
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
            other => other.to_string(),
        };
        Self { status, code: e.code(), message, retryable: e.retryable() }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        let status = match &r {
            JsonRejection::MissingJsonContentType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            JsonRejection::BytesRejection(_) => StatusCode::PAYLOAD_TOO_LARGE,
            _ => StatusCode::BAD_REQUEST,
        };
        let message = r.body_text().replace("Failed to deserialize the JSON body into the target type: ", "");
        let code = if status == StatusCode::PAYLOAD_TOO_LARGE { "payload_too_large" } else { "validation_failed" };
        Self::new(status, code, message)
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
