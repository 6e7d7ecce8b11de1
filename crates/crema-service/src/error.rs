//! The service's one error type and the `/v1` contract's closed set of error
//! codes ([`ErrorCode`]).
//!
//! The official SOPHON SDKs parse every error body into a model whose `code`
//! is an enum (contract `shared/api/v1.md`, "Errors"): any other value makes
//! the SDK fail to parse the error, and the client loses `code` and
//! `retryable`. So every [`ServiceError`] maps to one of the fourteen
//! [`ErrorCode`]s, and Crema's finer distinctions travel in the extension
//! field `reason` ([`ServiceError::reason`]) and in the message.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Result alias used across the service.
pub type Result<T, E = ServiceError> = std::result::Result<T, E>;

/// The contract's error codes, exactly the SDKs' enum (contract, "Errors",
/// the table of codes). Nothing else may appear as an envelope's `code`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// A field is missing, mistyped or out of range; unknown profile; missing
    /// `Idempotency-Key` (400, or 422 where the route allows it).
    ValidationError,
    /// No credential, or an invalid, revoked or expired one (401).
    Unauthorized,
    /// The credential may not do this (path outside the source roots, SSRF policy) (403).
    Forbidden,
    /// The object does not exist, or has expired (404).
    NotFound,
    /// The request conflicts with the object's state (409).
    Conflict,
    /// Cancel of a job that is already terminal (409).
    JobNotCancelable,
    /// Output asked for before the job completed (409).
    OutputNotReady,
    /// The source is broken: truncated, zero-byte, not media at all (422).
    SourceInvalid,
    /// The source is media, but nothing Crema can encode (422).
    SourceUnsupported,
    /// Too many requests from this key or address; retryable (429).
    RateLimited,
    /// A configured cap is reached (429).
    QuotaExceeded,
    /// The server cannot take work now (disk nearly full, draining); retryable (503, or 429).
    CapacityExceeded,
    /// The encode worked but its output could not be stored (500).
    OutputPersistenceFailed,
    /// Anything else; retryable; details only in the server log (500).
    InternalError,
}

impl ErrorCode {
    /// Every code, in the contract's table order.
    pub const ALL: [ErrorCode; 14] = [
        Self::ValidationError,
        Self::Unauthorized,
        Self::Forbidden,
        Self::NotFound,
        Self::Conflict,
        Self::JobNotCancelable,
        Self::OutputNotReady,
        Self::SourceInvalid,
        Self::SourceUnsupported,
        Self::RateLimited,
        Self::QuotaExceeded,
        Self::CapacityExceeded,
        Self::OutputPersistenceFailed,
        Self::InternalError,
    ];

    /// The wire name (`"validation_error"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ValidationError => "validation_error",
            Self::Unauthorized => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::NotFound => "not_found",
            Self::Conflict => "conflict",
            Self::JobNotCancelable => "job_not_cancelable",
            Self::OutputNotReady => "output_not_ready",
            Self::SourceInvalid => "source_invalid",
            Self::SourceUnsupported => "source_unsupported",
            Self::RateLimited => "rate_limited",
            Self::QuotaExceeded => "quota_exceeded",
            Self::CapacityExceeded => "capacity_exceeded",
            Self::OutputPersistenceFailed => "output_persistence_failed",
            Self::InternalError => "internal_error",
        }
    }

    /// Whether a request that got this code may succeed when sent again
    /// unchanged: `rate_limited`, `capacity_exceeded`, `internal_error` (the
    /// contract marks them retryable). `conflict` is retryable only for a
    /// request still in flight: see [`ServiceError::retryable`].
    pub fn retryable(self) -> bool {
        matches!(self, Self::RateLimited | Self::CapacityExceeded | Self::InternalError)
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Everything a service call can fail with. Each variant has one contract
/// [`ErrorCode`] ([`ServiceError::code`]) and, where Crema distinguishes more
/// than the contract, a `reason` ([`ServiceError::reason`]); transports map
/// it to a status and the error envelope in one place and show the `Display`
/// text as the message (never a server path: see [`crate::redact`]).
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The object does not exist (`not_found`).
    #[error("{kind} {id} does not exist")]
    NotFound {
        /// What kind of object ("job").
        kind: &'static str,
        /// The ID that was asked for.
        id: String,
    },
    /// The request is invalid (`validation_error`); the message names the field.
    #[error("{field}: {message}")]
    Validation {
        /// The offending field as a dotted path (`profile`, `output.target_height`).
        field: String,
        /// What is wrong with it and what is allowed.
        message: String,
    },
    /// The object's state does not allow the operation (`conflict`, reason
    /// `invalid_transition`): retry of a job that has not failed, a part for a
    /// completed upload, moving a job that is not queued.
    #[error("{0}")]
    InvalidTransition(String),
    /// Cancel of a job that is already completed, failed or canceled (`job_not_cancelable`).
    #[error("{0}")]
    JobNotCancelable(String),
    /// The job has no output to hand out yet, or none at all (`output_not_ready`).
    #[error("{0}")]
    OutputNotReady(String),
    /// The caller may not use this object or path (`forbidden`).
    #[error("{0}")]
    Forbidden(String),
    /// The service cannot take the work now, try later (`capacity_exceeded`).
    #[error("{0}")]
    CapacityExceeded(String),
    /// The source is broken: empty, truncated, not a container FFmpeg knows
    /// (`source_invalid`).
    #[error("{0}")]
    SourceInvalid(String),
    /// The source is media but Crema cannot encode it: no video stream, a
    /// picture larger than the encoder's level allows (`source_unsupported`).
    #[error("{0}")]
    SourceUnsupported(String),
    /// An upload is missing parts (`conflict`, reason `upload_incomplete`); the message lists them.
    #[error("{0}")]
    UploadIncomplete(String),
    /// A body is larger than the route allows (`validation_error`, reason
    /// `payload_too_large`; status 400 on contract routes, 413 on extensions).
    #[error("{0}")]
    PayloadTooLarge(String),
    /// No valid credential (`unauthorized`).
    #[error("{0}")]
    Unauthorized(String),
    /// A `POST` without an `Idempotency-Key` header (`validation_error`, reason
    /// `idempotency_key_required`).
    #[error("every POST needs an Idempotency-Key header")]
    IdempotencyKeyRequired,
    /// An `Idempotency-Key` reused with a different body (`conflict`, reason `idempotency_key_reused`).
    #[error("Idempotency-Key {0:?} was already used with a different request body")]
    IdempotencyKeyReused(String),
    /// A request under the same `Idempotency-Key` is still running (`conflict`,
    /// reason `request_in_progress`, retryable).
    #[error("a request with Idempotency-Key {0:?} is still in progress; retry later")]
    RequestInProgress(String),
    /// Too many requests (`rate_limited`, retryable).
    #[error("{0}")]
    RateLimited(String),
    /// The encode worked but its output could not be stored (`output_persistence_failed`).
    #[error("{0}")]
    OutputPersistenceFailed(String),
    /// A fault that is not the caller's (database, I/O, a bug) (`internal_error`).
    #[error("internal error: {0}")]
    Internal(String),
}

impl ServiceError {
    /// The contract's error code.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::NotFound { .. } => ErrorCode::NotFound,
            Self::Validation { .. } | Self::PayloadTooLarge(_) | Self::IdempotencyKeyRequired => {
                ErrorCode::ValidationError
            }
            Self::InvalidTransition(_)
            | Self::UploadIncomplete(_)
            | Self::IdempotencyKeyReused(_)
            | Self::RequestInProgress(_) => ErrorCode::Conflict,
            Self::JobNotCancelable(_) => ErrorCode::JobNotCancelable,
            Self::OutputNotReady(_) => ErrorCode::OutputNotReady,
            Self::Forbidden(_) => ErrorCode::Forbidden,
            Self::CapacityExceeded(_) => ErrorCode::CapacityExceeded,
            Self::SourceInvalid(_) => ErrorCode::SourceInvalid,
            Self::SourceUnsupported(_) => ErrorCode::SourceUnsupported,
            Self::Unauthorized(_) => ErrorCode::Unauthorized,
            Self::RateLimited(_) => ErrorCode::RateLimited,
            Self::OutputPersistenceFailed(_) => ErrorCode::OutputPersistenceFailed,
            Self::Internal(_) => ErrorCode::InternalError,
        }
    }

    /// Crema's finer distinction inside a code, sent as the envelope's
    /// extension field `reason` (contract, "Idempotency" names three of them);
    /// `None` where the code says it all.
    pub fn reason(&self) -> Option<&'static str> {
        match self {
            Self::InvalidTransition(_) => Some("invalid_transition"),
            Self::UploadIncomplete(_) => Some("upload_incomplete"),
            Self::PayloadTooLarge(_) => Some("payload_too_large"),
            Self::IdempotencyKeyRequired => Some("idempotency_key_required"),
            Self::IdempotencyKeyReused(_) => Some("idempotency_key_reused"),
            Self::RequestInProgress(_) => Some("request_in_progress"),
            _ => None,
        }
    }

    /// Whether the same request may succeed later (the envelope's
    /// `retryable`): the retryable codes ([`ErrorCode::retryable`]) and a
    /// request still in flight under the same `Idempotency-Key` (contract,
    /// "Idempotency": retryable).
    pub fn retryable(&self) -> bool {
        self.code().retryable() || matches!(self, Self::RequestInProgress(_))
    }

    /// A [`ServiceError::Validation`] for `field`.
    pub fn validation(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Validation { field: field.into(), message: message.into() }
    }

    pub(crate) fn job_not_found(id: &str) -> Self {
        Self::NotFound { kind: "job", id: id.to_string() }
    }
}

/// The `status_reason` of a job the engine failed: the contract's code for
/// source faults (`source_invalid`: unreadable, empty, truncated, not media;
/// `source_unsupported`: media without a video stream), else the engine's own
/// short code (`encode_failed`, `disk_full`, …). `status_reason` is a free
/// string in the contract; these values are stable for clients to match.
pub(crate) fn engine_failure_reason(e: &crema_engine::EngineError) -> &'static str {
    source_error_code(e).map(ErrorCode::as_str).unwrap_or_else(|| e.code())
}

/// The contract code of an engine error that blames the source, `None` for
/// any other engine error.
pub(crate) fn source_error_code(e: &crema_engine::EngineError) -> Option<ErrorCode> {
    use crema_engine::EngineError as E;
    match e {
        E::InputUnreadable { .. } => Some(ErrorCode::SourceInvalid),
        E::InputUnsupported { cause, .. } if cause.contains("no video stream") => Some(ErrorCode::SourceUnsupported),
        E::InputUnsupported { .. } => Some(ErrorCode::SourceInvalid),
        // Readable, but larger than the encoder's level or the configured
        // source limit allows: a source the service cannot encode.
        E::PictureTooLarge { .. } => Some(ErrorCode::SourceUnsupported),
        _ => None,
    }
}

/// The [`ServiceError`] that refuses a source the engine could not read
/// (`source_invalid` / `source_unsupported`), its message naming the file by
/// its name only; `None` when the engine error does not blame the source.
pub(crate) fn source_error(e: &crema_engine::EngineError, path: &std::path::Path) -> Option<ServiceError> {
    let message = crate::redact::paths(&e.to_string(), &[path], &[]);
    match source_error_code(e)? {
        ErrorCode::SourceUnsupported => Some(ServiceError::SourceUnsupported(message)),
        _ => Some(ServiceError::SourceInvalid(message)),
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
