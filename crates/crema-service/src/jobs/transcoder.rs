//! The seam between the queue and the engine: a worker hands each claimed
//! job's request to a [`Transcoder`]. [`FfmpegTranscoder`] (the engine's
//! `encode::run`) is the default; another implementation lets the queue's
//! claim, retry, cancel and shutdown paths run without encoding.

use crema_engine::encode;
use crema_engine::profile::ProfileSet;
use crema_engine::request::{EncodeRequest, EncodeResult};
use crema_engine::{CancelFlag, Event};

/// Runs one encode for a worker.
pub trait Transcoder: Send + Sync + 'static {
    /// Runs `req` to its end on the calling thread (a blocking one), calling
    /// `on_event` with the stages, encoder choices and progress as they
    /// happen, and [`Event::Canceled`] once it stopped for `cancel` (partial
    /// outputs removed). Returns the result, or the error that ended it
    /// ([`crema_engine::EngineError::Canceled`] after a cancel).
    fn transcode(
        &self,
        req: &EncodeRequest,
        profiles: &ProfileSet,
        cancel: &CancelFlag,
        on_event: &mut dyn FnMut(Event),
    ) -> crema_engine::Result<EncodeResult>;
}

/// The default [`Transcoder`]: the engine's FFmpeg pipeline.
#[derive(Clone, Copy, Debug, Default)]
pub struct FfmpegTranscoder;

impl Transcoder for FfmpegTranscoder {
    fn transcode(
        &self,
        req: &EncodeRequest,
        profiles: &ProfileSet,
        cancel: &CancelFlag,
        on_event: &mut dyn FnMut(Event),
    ) -> crema_engine::Result<EncodeResult> {
        encode::run(req, profiles, cancel, on_event)
    }
}
