//! [`ObjectsError`]: the object-storage layer's one error type, and how
//! `object_store`'s errors map onto it.
//!
//! Callers care about a few classes, not about HTTP: the object is missing
//! ([`ObjectsError::NotFound`]), a key a client gave is not allowed
//! ([`ObjectsError::InvalidKey`], [`ObjectsError::OutsidePrefix`]), the store
//! is down or overloaded and a later retry may work
//! ([`ObjectsError::Unavailable`], see [`ObjectsError::is_transient`]), the
//! store said no for good ([`ObjectsError::Refused`]: bad credentials,
//! signature mismatch, a rejected request), or the local disk failed
//! ([`ObjectsError::Io`]). No variant ever carries a credential: messages
//! name the bucket key and the HTTP status with S3's error code only, never
//! a response body (S3 bodies can quote the access key id).

use std::error::Error as StdError;
use std::path::PathBuf;

/// Result alias of the object-storage layer.
pub type Result<T, E = ObjectsError> = std::result::Result<T, E>;

/// Everything that can go wrong talking to the bucket or the local files around it.
#[derive(Debug, thiserror::Error)]
pub enum ObjectsError {
    /// The `--object-store` URL is malformed or names an unknown option.
    #[error("invalid object store URL: {reason}")]
    InvalidUrl {
        /// What is wrong, without the URL's secrets (it may hold none: user info is refused).
        reason: String,
    },
    /// No credentials were found, or the credentials file is unreadable or incomplete.
    #[error("object store credentials: {reason}")]
    Credentials {
        /// What is missing (variable or file names, never values).
        reason: String,
    },
    /// An option value is out of range (part size, concurrency, presigned URL lifetime).
    #[error("invalid object store option: {reason}")]
    InvalidOption {
        /// Which option and its allowed range.
        reason: String,
    },
    /// A key is malformed: empty, an empty or `.` segment, a control character
    /// or backslash, or longer than [`MAX_KEY_BYTES`](super::MAX_KEY_BYTES) bytes.
    #[error("invalid object key {key:?}: {reason}")]
    InvalidKey {
        /// The key as given.
        key: String,
        /// Why it is refused.
        reason: &'static str,
    },
    /// A client's key is absolute, has a `..` segment, or is not under the
    /// configured prefix: clients may only name objects inside it.
    #[error("object key {key:?} is outside the configured prefix {prefix:?}")]
    OutsidePrefix {
        /// The key as given.
        key: String,
        /// The configured prefix (empty for the bucket's root).
        prefix: String,
    },
    /// No object has this key (HTTP 404).
    #[error("object {key:?} not found")]
    NotFound {
        /// The full bucket key.
        key: String,
    },
    /// The store could not be reached, timed out or kept answering 5xx/429
    /// after the configured retries with backoff. Retrying later may work.
    #[error("object store unavailable for {key:?}: {reason}")]
    Unavailable {
        /// The full bucket key (or prefix) of the operation.
        key: String,
        /// The failure, e.g. `HTTP 503` or `connection refused`.
        reason: String,
    },
    /// The store refused the request for good: credentials or signature wrong
    /// (401/403), permission missing, or another 4xx. Retrying will not help.
    #[error("object store refused {key:?}: {reason}")]
    Refused {
        /// The full bucket key of the operation.
        key: String,
        /// The HTTP status and S3 error code, e.g. `HTTP 403 SignatureDoesNotMatch`.
        reason: String,
    },
    /// After an upload, the object's size in the bucket differs from the local file's.
    #[error("object {key:?} has {remote} bytes after upload, the local file {local}")]
    SizeMismatch {
        /// The full bucket key.
        key: String,
        /// Local size in bytes.
        local: u64,
        /// Size the store reports (HEAD) in bytes.
        remote: u64,
    },
    /// A local file or folder could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The local path.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

impl ObjectsError {
    /// True when the same call may succeed later ([`ObjectsError::Unavailable`]).
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Unavailable { .. })
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io { path: path.into(), source }
    }

    /// Maps an `object_store` error for the operation on `key` (a full bucket key).
    pub(crate) fn from_store(key: &str, e: object_store::Error) -> Self {
        let key = key.to_string();
        match e {
            object_store::Error::NotFound { .. } => Self::NotFound { key },
            object_store::Error::PermissionDenied { ref source, .. }
            | object_store::Error::Unauthenticated { ref source, .. } => {
                let reason = describe(&**source).unwrap_or_else(|| "access denied".into());
                Self::Refused { key, reason }
            }
            object_store::Error::Precondition { .. } => {
                Self::Refused { key, reason: "the object changed during the operation (HTTP 412)".into() }
            }
            other => classify(key, &other),
        }
    }
}

/// `Generic` and the rest: transport failures and 5xx/429/408 are
/// transient, 404 is [`ObjectsError::NotFound`], other statuses are refusals. `object_store` keeps its retry
/// error type private, so the status is read from its message
/// (`… status code: 503 …`), the one weak spot of this mapping.
fn classify(key: String, e: &object_store::Error) -> ObjectsError {
    if let Some(kind) = transport_kind(e) {
        return ObjectsError::Unavailable { key, reason: kind };
    }
    let text = e.to_string();
    match status_in(&text) {
        Some(s) if s >= 500 || s == 429 || s == 408 => {
            ObjectsError::Unavailable { key, reason: with_code(format!("HTTP {s}"), &text) }
        }
        // What `object_store` leaves generic: a multipart upload that is gone
        // (`NoSuchUpload` on UploadPart or CompleteMultipartUpload).
        Some(404) => ObjectsError::NotFound { key },
        Some(s) => ObjectsError::Refused { key, reason: with_code(format!("HTTP {s}"), &text) },
        // A 2xx whose body says InternalError/SlowDown, after retries.
        None if text.contains("InternalError") || text.contains("SlowDown") => {
            ObjectsError::Unavailable { key, reason: with_code("error in a 2xx response".into(), &text) }
        }
        None => ObjectsError::Refused { key, reason: short(&text) },
    }
}

/// The kind of a transport error (connect, timeout…) in the source chain, if any.
fn transport_kind(e: &(dyn StdError + 'static)) -> Option<String> {
    let mut cur: Option<&(dyn StdError + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(h) = err.downcast_ref::<object_store::client::HttpError>() {
            let root = root_cause(h);
            return Some(format!("{:?}: {}", h.kind(), short(&root)).to_lowercase());
        }
        cur = err.source();
    }
    None
}

fn root_cause(e: &(dyn StdError + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

/// `HTTP 403 SignatureDoesNotMatch` from an error chain, when it holds a status.
fn describe(e: &(dyn StdError + Send + Sync + 'static)) -> Option<String> {
    let text = e.to_string();
    status_in(&text).map(|s| with_code(format!("HTTP {s}"), &text))
}

/// The status in `object_store`'s message `… status code: 403 Forbidden …`.
fn status_in(text: &str) -> Option<u16> {
    let at = text.find("status code: ")? + "status code: ".len();
    text.get(at..at + 3)?.parse().ok()
}

/// Appends S3's `<Code>…</Code>` from the quoted body, if any; nothing else of the body.
fn with_code(mut head: String, text: &str) -> String {
    if let Some(start) = text.find("<Code>") {
        let rest = &text[start + 6..];
        if let Some(end) = rest.find("</Code>") {
            let code = &rest[..end];
            if code.len() <= 64 && code.chars().all(|c| c.is_ascii_alphanumeric()) {
                head.push(' ');
                head.push_str(code);
            }
        }
    }
    head
}

/// The first line, at most 200 characters, with anything after `<` (an XML body) dropped.
fn short(text: &str) -> String {
    let line = text.lines().next().unwrap_or("");
    let line = line.split('<').next().unwrap_or("");
    line.chars().take(200).collect::<String>().trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_and_code_are_read_without_the_body() {
        let text = "Error performing PUT http://h/b/k in 3ms - Server returned non-2xx status code: 403 Forbidden: \
                    <Error><Code>SignatureDoesNotMatch</Code><AWSAccessKeyId>AKIDSECRETISH</AWSAccessKeyId></Error>";
        assert_eq!(status_in(text), Some(403));
        let r = with_code("HTTP 403".into(), text);
        assert_eq!(r, "HTTP 403 SignatureDoesNotMatch");
        assert!(!short(text).contains("AKID"));
    }

    #[test]
    fn a_generic_404_is_not_found_and_a_403_a_refusal() {
        let gone = object_store::Error::Generic {
            store: "S3",
            source: "Error performing POST http://h/b/k?uploadId=x in 2ms - Server returned non-2xx status code: \
                     404 Not Found: <Error><Code>NoSuchUpload</Code></Error>"
                .into(),
        };
        assert!(matches!(ObjectsError::from_store("b/k", gone), ObjectsError::NotFound { .. }));
        let denied = object_store::Error::Generic {
            store: "S3",
            source: "Server returned non-2xx status code: 403 Forbidden: <Error><Code>AccessDenied</Code></Error>"
                .into(),
        };
        match ObjectsError::from_store("b/k", denied) {
            ObjectsError::Refused { reason, .. } => assert_eq!(reason, "HTTP 403 AccessDenied"),
            other => panic!("{other:?}"),
        }
    }
}
