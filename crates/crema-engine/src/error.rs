//! The engine's typed errors.
//!
//! Every error names the file it concerns and a human cause; callers map the
//! variants to their own surface (CLI exit codes, the `/v1` error envelope,
//! UI messages) in one place each and never show `Debug` output to a user.

use std::path::PathBuf;

/// Result alias used across the engine.
pub type Result<T, E = EngineError> = std::result::Result<T, E>;

/// What can go wrong in probing, profile loading or encoding.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The input cannot be opened for reading (missing, permission denied).
    #[error("{path}: cannot read: {cause}")]
    InputUnreadable {
        /// The input path as given.
        path: PathBuf,
        /// Why, in words (from the OS).
        cause: String,
    },
    /// The input is readable but not media Crema can encode: empty,
    /// truncated, not a container FFmpeg knows, or without a video stream.
    #[error("{path}: {cause}")]
    InputUnsupported {
        /// The input path as given.
        path: PathBuf,
        /// Why, in words ("not a video file", "no video stream (audio only)"...).
        cause: String,
    },
    /// The source is media Crema reads, but its picture, or the output asked
    /// of it, is larger than Crema can encode: an output (the file after
    /// `target_height`, an HLS rung) beyond its codec's level 6.2 picture
    /// size, or a source beyond the decoder-side limit
    /// ([`crate::limits::SourceLimits`]). Checked before anything is
    /// decoded; `cause` names the size, the limit and, where one exists, the
    /// largest target height that fits (see [`crate::limits`]).
    ///
    /// For the `/v1` API this is `source_unsupported` (422, not retryable):
    /// the file is valid media that this request cannot encode.
    #[error("{path}: {cause}")]
    PictureTooLarge {
        /// The input path as given.
        path: PathBuf,
        /// Width of the picture at fault (source or output), pixels.
        width: u32,
        /// Height of the picture at fault, pixels.
        height: u32,
        /// Why, in words.
        cause: String,
    },
    /// An output cannot be created: folder missing or not writable, or the
    /// file exists and overwriting was not asked for.
    #[error("{path}: cannot write output: {cause}")]
    OutputNotWritable {
        /// The output path.
        path: PathBuf,
        /// Why, in words.
        cause: String,
    },
    /// The disk holding an output filled up (ENOSPC) while writing.
    #[error("{path}: disk full while writing output")]
    DiskFull {
        /// The output path being written.
        path: PathBuf,
    },
    /// A profile file or profile request is invalid; the message names the
    /// file, the field and the allowed values.
    #[error("{0}")]
    Profile(String),
    /// The request itself is inconsistent (unknown rendition height, an
    /// option that does not apply, an encoder not available on this machine).
    #[error("{0}")]
    Usage(String),
    /// FFmpeg failed while decoding, filtering, encoding or muxing.
    #[error("{path}: encode failed: {cause}")]
    Encode {
        /// The input being encoded.
        path: PathBuf,
        /// What failed, in words, with FFmpeg's own message where there is one.
        cause: String,
    },
    /// The caller's [`crate::CancelFlag`] was raised; partial outputs were removed.
    #[error("canceled")]
    Canceled,
    /// A bug or an environment fault that is nobody's input (FFmpeg failed to
    /// initialise, a filter Crema needs is missing from the linked FFmpeg).
    #[error("internal error: {0}")]
    Internal(String),
    /// A source's audio could not be decoded at all (every packet of the
    /// track failed, or the decoder produced no samples), so there is nothing
    /// to measure: used by [`crate::waveform`]. Single damaged packets are
    /// skipped, as the `ffmpeg` command line does, and are not this error.
    #[error("{path}: cannot decode the audio: {cause}")]
    Decode {
        /// The input path as given.
        path: PathBuf,
        /// What failed, in words, with FFmpeg's own message where there is one.
        cause: String,
    },
    /// VMAF cannot be computed by this build: the linked libvmaf lacks a
    /// built-in model (it was built without `xxd`) or refuses to start; the
    /// message names the model and the fix.
    #[error("{0}")]
    VmafUnavailable(String),
    /// Measuring quality failed on readable input: a frame could not be
    /// converted, the reference changed size mid-stream, the two files'
    /// timestamps never meet, or libvmaf reported an error.
    #[error("quality measurement failed: {0}")]
    Quality(String),
}

impl EngineError {
    /// Short stable code for machine consumers (`--json`, the API layer).
    pub fn code(&self) -> &'static str {
        match self {
            Self::InputUnreadable { .. } => "input_unreadable",
            Self::InputUnsupported { .. } => "unsupported_media",
            Self::PictureTooLarge { .. } => "picture_too_large",
            Self::OutputNotWritable { .. } => "output_not_writable",
            Self::DiskFull { .. } => "disk_full",
            Self::Profile(_) => "invalid_profile",
            Self::Usage(_) => "usage",
            Self::Encode { .. } => "encode_failed",
            Self::Canceled => "canceled",
            Self::Internal(_) => "internal_error",
            Self::Decode { .. } => "decode_failed",
            Self::VmafUnavailable(_) => "vmaf_unavailable",
            Self::Quality(_) => "quality_failed",
        }
    }

    /// Builds an [`EngineError::Encode`] from an FFmpeg error, turning
    /// `ENOSPC` into [`EngineError::DiskFull`] and write permission errors
    /// into [`EngineError::OutputNotWritable`] for `output`.
    pub fn from_ffmpeg(
        input: &std::path::Path,
        output: Option<&std::path::Path>,
        what: &str,
        err: ffmpeg_next::Error,
    ) -> Self {
        if let (Some(out), ffmpeg_next::Error::Other { errno }) = (output, err) {
            if errno == libc::ENOSPC {
                return Self::DiskFull { path: out.to_path_buf() };
            }
            if errno == libc::EACCES || errno == libc::EROFS || errno == libc::ENOENT {
                return Self::OutputNotWritable {
                    path: out.to_path_buf(),
                    cause: std::io::Error::from_raw_os_error(errno).to_string(),
                };
            }
        }
        Self::Encode { path: input.to_path_buf(), cause: format!("{what}: {err}") }
    }
}
