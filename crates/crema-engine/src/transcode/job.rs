//! What every phase of a transcode reads ([`Job`]) and what a transcode
//! returns ([`Transcoded`]), with `sophon-auto`'s last check ([`KeepRule`]).

use crate::media::{MediaInfo, VideoStream};
use crate::profile::Profile;
use crate::request::{EncodeRequest, OutputReport};
use crate::waveform::tap::WaveformDone;

/// Range to encode in seconds from the start (sample encodes), else everything.
pub(crate) type TimeRange = Option<(f64, f64)>;

/// What every phase reads: the request, the probe, the video stream
/// encoded, the concrete profile and the sample range.
#[derive(Clone, Copy)]
pub(crate) struct Job<'a> {
    /// The request.
    pub(crate) req: &'a EncodeRequest,
    /// The source as probed.
    pub(crate) info: &'a MediaInfo,
    /// The video stream encoded.
    pub(crate) video: &'a VideoStream,
    /// The concrete profile (never `sophon-auto`).
    pub(crate) profile: &'a Profile,
    /// The sample range, `None` for the whole source.
    pub(crate) range: TimeRange,
    /// Logical CPUs the job's decoder and encoders are planned for
    /// ([`crate::budget::threads`]); `None`: every CPU this process may
    /// run on. Chunk-parallel encodes give each chunk its share.
    pub(crate) cores: Option<usize>,
    /// Score the single file's encode in the loop ([`crate::quality::in_loop`]):
    /// its decoded packets against the frames its encoder was fed.
    pub(crate) score: Option<&'a crate::quality::QualityOptions>,
}

/// `sophon-auto`'s last check, made before outputs are committed.
#[derive(Clone, Copy, Debug)]
pub(crate) struct KeepRule {
    /// Keep the encode only if it saves at least this much, 0..100.
    pub min_saving_percent: f64,
    /// Bytes the main output is compared with.
    pub reference_bytes: u64,
}

/// What [`super::transcode`] did.
pub(crate) enum Transcoded {
    /// Outputs written, the main one first, the waveform's fate, and the
    /// in-loop scores of the single file when [`Job::score`] asked (and the
    /// seconds spent scoring).
    Written(Vec<OutputReport>, WaveformDone, Option<Box<(crate::quality::QualityReport, f64)>>),
    /// The [`KeepRule`] failed: nothing was written.
    NotSmaller {
        /// The saving the encode would have made, percent.
        saved_percent: f64,
    },
}
