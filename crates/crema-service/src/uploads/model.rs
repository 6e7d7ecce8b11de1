//! The wire types of `/v1/uploads` (contract, "Uploads (chunked, resumable)")
//! and the states an upload is stored in.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

/// One mebibyte (1024 × 1024 bytes): the unit of the chunk-size tiers. The
/// contract says "MB"/"GB"; Crema reads them as MiB/GiB.
pub const MIB: u64 = 1024 * 1024;

/// Longest accepted `file_name`, in characters (names over 255 bytes are
/// shortened where they become a file on disk).
pub const MAX_FILE_NAME_BYTES: usize = 255;

/// The rule for `file_name` as the OpenAPI document states it: no `/` or
/// `\`, no control characters (Unicode Cc: U+0000–U+001F, U+007F–U+009F).
pub const FILE_NAME_PATTERN: &str = r"^[^/\\\u0000-\u001f\u007f-\u009f]+$";

/// Part size in bytes for a file of `file_size` bytes, the contract's tiers
/// ("Uploads"), with MB/GB read as MiB/GiB ([`MIB`]):
/// under 64 MiB the whole file is one part (`file_size`, at least 1);
/// up to 1 GiB 8 MiB; up to 10 GiB 16 MiB; above that 32 MiB.
pub fn chunk_size_for(file_size: u64) -> u64 {
    match file_size {
        s if s < 64 * MIB => s.max(1),
        s if s <= 1024 * MIB => 8 * MIB,
        s if s <= 10 * 1024 * MIB => 16 * MIB,
        _ => 32 * MIB,
    }
}

/// Body of `POST /v1/uploads`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UploadSpec {
    /// The file's name: 1 to [`MAX_FILE_NAME_BYTES`] characters, no `/` or
    /// `\`, no control characters ([`FILE_NAME_PATTERN`]).
    #[schema(min_length = 1, max_length = 255)]
    pub file_name: String,
    /// The whole file's size in bytes, at least 1 and at most the server's
    /// [`crate::Config::max_upload_bytes`].
    #[schema(minimum = 1)]
    #[serde(deserialize_with = "crate::wire::u64_int")]
    pub file_size: u64,
    /// The client's MIME type, kept as given (at most 255 bytes); informative only.
    #[serde(default)]
    #[schema(max_length = 255, pattern = r"^[^\u0000-\u001f\u007f-\u009f]*$")]
    pub mime_type: Option<String>,
}

/// `201` body of `POST /v1/uploads`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UploadCreated {
    /// `upl_` + 128 random bits in hex.
    pub id: String,
    /// Bytes of every part but the last ([`chunk_size_for`]).
    pub chunk_size: u64,
    /// Number of parts, numbered `0..total_chunks`.
    pub total_chunks: u64,
    /// When the session expires (RFC 3339 UTC), 24 h after creation by default.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

/// An upload session's state: the contract's upload `status`, exactly the
/// SDKs' closed enum ("Uploads": `uploading`, `assembling`, `completed`,
/// `canceled`). An expired session has no status: it is `404 not_found`.
#[derive(Serialize, Deserialize, ToSchema, Clone, Copy, PartialEq, Eq, Debug, Hash)]
#[serde(rename_all = "snake_case")]
pub enum UploadStatus {
    /// Open: parts are accepted (none may have arrived yet).
    Uploading,
    /// `POST /v1/uploads/{id}/complete` is assembling the parts into one file.
    Assembling,
    /// Assembled; usable as a job source.
    Completed,
    /// Deleted by a caller; its files are gone.
    Canceled,
}

impl UploadStatus {
    /// The wire name (`"uploading"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Uploading => "uploading",
            Self::Assembling => "assembling",
            Self::Completed => "completed",
            Self::Canceled => "canceled",
        }
    }

    /// Parses a wire name; `None` for anything else.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Uploading, Self::Assembling, Self::Completed, Self::Canceled].into_iter().find(|st| st.as_str() == s)
    }

    /// Uploading: parts are still accepted.
    pub fn is_open(self) -> bool {
        self == Self::Uploading
    }
}

/// An upload's state as stored (`uploads.status`): the four of
/// [`UploadStatus`], and `expired`, a session whose files were removed after
/// it expired. An expired session is kept (so that a job naming it is told
/// why it cannot run) but callers of the `/v1` routes get `404` for it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Stored {
    Shown(UploadStatus),
    Expired,
}

impl Stored {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Self::Shown(s) => s.as_str(),
            Self::Expired => "expired",
        }
    }

    pub(super) fn parse(s: &str) -> Option<Self> {
        if s == "expired" { Some(Self::Expired) } else { UploadStatus::parse(s).map(Self::Shown) }
    }
}

impl std::fmt::Display for UploadStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Body of `GET /v1/uploads/{id}` (and of `DELETE`): the contract's fields
/// first, then Crema's extensions.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Upload {
    /// `upl_…`.
    pub id: String,
    /// Current state (an open session past `expires_at` is not shown at all:
    /// it is `404`, even before the cleanup task has removed its files).
    pub status: UploadStatus,
    /// As given at creation.
    pub file_name: String,
    /// Number of parts.
    pub total_chunks: u64,
    /// Part numbers received and durable, ascending; empty once the files were
    /// freed (canceled or expired).
    pub received_chunks: Vec<u64>,
    /// When the session expires (RFC 3339 UTC).
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// Display width in pixels (after rotation) from the probe of the assembled
    /// file; `null` before completion, without video, or when the probe failed.
    pub source_width: Option<u32>,
    /// Display height in pixels, like `source_width`.
    pub source_height: Option<u32>,
    /// Duration in seconds from the probe; `null` before completion or when the probe failed.
    pub source_duration_seconds: Option<f64>,
    /// Extension: declared size in bytes.
    pub file_size: u64,
    /// Extension: bytes per part (the last holds the remainder).
    pub chunk_size: u64,
    /// Extension: the MIME type given at creation.
    pub mime_type: Option<String>,
    /// Extension: lower-case hex SHA-256 of the assembled file; `null` before completion.
    pub sha256: Option<String>,
    /// Extension: size of the assembled file in bytes; `null` before completion.
    pub bytes: Option<u64>,
    /// Extension: frame rate from the probe (`"25"`, `"24000/1001"`); `null` like `source_width`.
    pub source_frame_rate: Option<String>,
    /// Extension: when the session was created (RFC 3339 UTC).
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Extension: when it was completed (RFC 3339 UTC); `null` before.
    #[serde(with = "time::serde::rfc3339::option")]
    pub completed_at: Option<OffsetDateTime>,
}

/// Body of `PUT /v1/uploads/{id}/parts/{part_number}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PartReceived {
    /// The part stored.
    pub part_number: u64,
    /// Always true: the part is durable.
    pub received: bool,
}

/// Body of `POST /v1/uploads/{id}/complete`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UploadCompleted {
    /// `upl_…`.
    pub id: String,
    /// `completed`.
    pub status: UploadStatus,
    /// Lower-case hex SHA-256 of the assembled file.
    pub sha256: String,
    /// Size of the assembled file in bytes (the declared `file_size`).
    pub bytes: u64,
}
