//! The one error type at the Tauri edge: `{code, message}` on the wire.
//!
//! `code` is the service's stable `/v1` code ([`ServiceError::code`]), also
//! for the few errors the shell itself raises; `message` is a human sentence (the error's
//! `Display`), never a Rust debug string. The UI shows `message` and acts on
//! `code`.

use crema_service::{ErrorCode, ServiceError};
use serde::Serialize;

/// A failed command, as the web UI receives it (the rejected promise's value).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error, utoipa::ToSchema)]
#[error("{message}")]
pub struct CommandError {
    /// Stable code: one of the `/v1` contract's codes (`not_found`,
    /// `validation_error`, `conflict`, `job_not_cancelable`,
    /// `capacity_exceeded`, `source_invalid`, `internal_error`, …).
    pub code: ErrorCode,
    /// What went wrong and, where there is something to do, what to do.
    pub message: String,
}

/// Result of every command.
pub type CmdResult<T> = Result<T, CommandError>;

impl CommandError {
    /// Bad input from the UI (`validation_error`); `field` names the argument.
    pub fn invalid(field: &str, message: impl std::fmt::Display) -> Self {
        Self { code: ErrorCode::ValidationError, message: format!("{field}: {message}") }
    }

    /// A path or object that does not exist (`not_found`).
    pub fn not_found(message: impl Into<String>) -> Self {
        Self { code: ErrorCode::NotFound, message: message.into() }
    }

    /// The operation conflicts with the current state (`conflict`).
    pub fn conflict(message: impl Into<String>) -> Self {
        Self { code: ErrorCode::Conflict, message: message.into() }
    }

    /// A fault that is not the user's (`internal_error`).
    pub fn internal(message: impl Into<String>) -> Self {
        Self { code: ErrorCode::InternalError, message: message.into() }
    }
}

impl From<ServiceError> for CommandError {
    fn from(e: ServiceError) -> Self {
        Self { code: e.code(), message: e.to_string() }
    }
}

impl From<tokio::task::JoinError> for CommandError {
    fn from(e: tokio::task::JoinError) -> Self {
        Self::internal(format!("a background task stopped unexpectedly: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_errors_keep_code_and_display() {
        let e: CommandError = ServiceError::validation("profile", "unknown profile \"x\"").into();
        assert_eq!(e.code, ErrorCode::ValidationError);
        assert_eq!(e.message, "profile: unknown profile \"x\"");
        let json = serde_json::to_value(&e).unwrap();
        assert_eq!(json, serde_json::json!({"code": "validation_error", "message": "profile: unknown profile \"x\""}));
    }
}
