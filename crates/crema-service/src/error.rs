//! The service's one error type, mapped 1:1 onto the `/v1` contract's error codes.

/// Result alias used across the service.
pub type Result<T, E = ServiceError> = std::result::Result<T, E>;

/// Everything a service call can fail with. Each variant is one `/v1` error
/// code ([`ServiceError::code`]); transports map it to a status code and the
/// error envelope in one place and show the `Display` text as the message.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The object does not exist (`not_found`, 404).
    #[error("{kind} {id} does not exist")]
    NotFound {
        /// What kind of object ("job").
        kind: &'static str,
        /// The ID that was asked for.
        id: String,
    },
    /// The request is invalid (`validation_failed`, 400/422); the message names the field.
    #[error("{field}: {message}")]
    Validation {
        /// The offending field as a dotted path (`profile`, `output.target_height`).
        field: String,
        /// What is wrong with it and what is allowed.
        message: String,
    },
    /// The job's state does not allow the operation (`invalid_transition`, 409).
    #[error("{0}")]
    InvalidTransition(String),
    /// The caller may not use this object or path (`forbidden`, 403).
    #[error("{0}")]
    Forbidden(String),
    /// The service cannot take the work now, try later (`capacity_exceeded`, 429/503).
    #[error("{0}")]
    CapacityExceeded(String),
    /// The source is not a decodable video file (`unsupported_media`, 422).
    #[error("{0}")]
    UnsupportedMedia(String),
    /// An upload is missing parts (`upload_incomplete`, 409); the message lists them.
    #[error("{0}")]
    UploadIncomplete(String),
    /// A body is larger than the route allows (`payload_too_large`, 413).
    #[error("{0}")]
    PayloadTooLarge(String),
    /// No valid credential (`unauthorized`, 401).
    #[error("{0}")]
    Unauthorized(String),
    /// A `POST` without an `Idempotency-Key` header (`idempotency_key_required`, 400).
    #[error("every POST needs an Idempotency-Key header")]
    IdempotencyKeyRequired,
    /// An `Idempotency-Key` reused with a different body (`idempotency_key_reused`, 422).
    #[error("Idempotency-Key {0:?} was already used with a different request body")]
    IdempotencyKeyReused(String),
    /// A request under the same `Idempotency-Key` is still running (`request_in_progress`, 409, retryable).
    #[error("a request with Idempotency-Key {0:?} is still in progress; retry later")]
    RequestInProgress(String),
    /// Too many requests (`rate_limited`, 429, retryable).
    #[error("{0}")]
    RateLimited(String),
    /// A fault that is not the caller's (database, I/O, a bug) (`internal_error`, 500).
    #[error("internal error: {0}")]
    Internal(String),
}

impl ServiceError {
    /// The stable `/v1` error code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotFound { .. } => "not_found",
            Self::Validation { .. } => "validation_failed",
            Self::InvalidTransition(_) => "invalid_transition",
            Self::Forbidden(_) => "forbidden",
            Self::CapacityExceeded(_) => "capacity_exceeded",
            Self::UnsupportedMedia(_) => "unsupported_media",
            Self::UploadIncomplete(_) => "upload_incomplete",
            Self::PayloadTooLarge(_) => "payload_too_large",
            Self::Unauthorized(_) => "unauthorized",
            Self::IdempotencyKeyRequired => "idempotency_key_required",
            Self::IdempotencyKeyReused(_) => "idempotency_key_reused",
            Self::RequestInProgress(_) => "request_in_progress",
            Self::RateLimited(_) => "rate_limited",
            Self::Internal(_) => "internal_error",
        }
    }

    /// Whether the same request may succeed later (the envelope's `retryable`):
    /// true for `rate_limited`, `capacity_exceeded` and `internal_error`, as the
    /// contract says, and for `request_in_progress` (the same key may be sent again).
    pub fn retryable(&self) -> bool {
        matches!(
            self,
            Self::RateLimited(_) | Self::CapacityExceeded(_) | Self::Internal(_) | Self::RequestInProgress(_)
        )
    }

    /// A [`ServiceError::Validation`] for `field`.
    pub fn validation(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Validation { field: field.into(), message: message.into() }
    }

    pub(crate) fn job_not_found(id: &str) -> Self {
        Self::NotFound { kind: "job", id: id.to_string() }
    }
}

impl From<sqlx::Error> for ServiceError {
    fn from(e: sqlx::Error) -> Self {
        Self::Internal(format!("database: {e}"))
    }
}

impl From<sqlx::migrate::MigrateError> for ServiceError {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        Self::Internal(format!("database migration: {e}"))
    }
}

impl From<serde_json::Error> for ServiceError {
    fn from(e: serde_json::Error) -> Self {
        Self::Internal(format!("stored JSON: {e}"))
    }
}
