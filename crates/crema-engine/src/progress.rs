//! Typed progress events and the cancel flag.
//!
//! The engine reports what it is doing through [`Event`]s passed to a
//! caller-supplied callback; the CLI renders them as a progress bar or JSON
//! lines, the service forwards them to its queue. The engine never prints.

use serde::Serialize;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// A cheap, clonable cancel flag checked by the pipeline between frames
/// (well under a second on any source Crema accepts).
#[derive(Clone, Debug, Default)]
pub struct CancelFlag(Arc<AtomicBool>);

impl CancelFlag {
    /// A new, lowered flag.
    pub fn new() -> Self {
        Self::default()
    }
    /// Raises the flag; the pipeline stops at its next check and removes partial outputs.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
    /// Whether the flag is raised.
    pub fn is_canceled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// The stage a job is in, named as in the `/v1` contract's job statuses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Reading the source's streams and metadata.
    Probing,
    /// `sophon-auto` is measuring a short sample encode to choose settings.
    Analyzing,
    /// Decoding, filtering and encoding.
    Encoding,
    /// Finishing outputs: trailers, playlists, faststart relocation.
    Muxing,
    /// Scoring the finished output against the source (VMAF, PSNR, SSIM),
    /// when the request asked to measure it ([`crate::request::EncodeRequest::measure`]).
    Measuring,
}

/// One progress report. Emitted at most every ~100 ms while encoding.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// The job entered a new stage.
    Stage {
        /// The new stage.
        stage: Stage,
    },
    /// Encoding progress.
    Progress {
        /// The current stage.
        stage: Stage,
        /// 0..100, from decoded PTS over the source duration.
        percent: f64,
        /// Source frames decoded per second of wall time, averaged since start.
        fps: f64,
        /// Estimated seconds left, `None` until there is enough data.
        eta_seconds: Option<u64>,
        /// Source frames decoded so far.
        frames_done: u64,
        /// Source frames expected (duration × frame rate), `None` when unknown.
        frames_total: Option<u64>,
    },
    /// An encoder was chosen for an output (hardware or software, and why).
    Encoder {
        /// Which output this encoder feeds ("file", "hls 720p").
        output: String,
        /// FFmpeg encoder name (`libx265`, `hevc_nvenc`...).
        encoder: String,
        /// Why this encoder was used: the choice, or the fallback reason.
        reason: String,
    },
    /// The run stopped because the [`CancelFlag`] was raised. Partial outputs
    /// are already removed when this is sent; the engine is still releasing
    /// FFmpeg resources (x265 drains its frame threads) and returns
    /// [`crate::EngineError::Canceled`] after that. A CLI may exit at once.
    Canceled,
    /// A non-fatal note a user should see (a fallback, a dropped rung).
    Notice {
        /// The message, one line.
        message: String,
    },
    /// Part of the source is left out of the outputs (an audio stream whose
    /// parameters cannot be read). The encode goes on; the same text is in
    /// [`crate::request::EncodeResult::warnings`].
    Warning {
        /// The message, one line.
        message: String,
    },
}
