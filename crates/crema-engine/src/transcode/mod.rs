//! The mechanism of an encode with video: one decode of the source feeding
//! every output (a single MP4/MKV file and/or an HLS ladder), in phases:
//!
//! 1. [`source`]: open the input and its decoder; check every picture the
//!    job writes ([`crate::limits`]) and size the encoders' budget;
//! 2. [`outputs`]: open the staged outputs, their video encoders
//!    ([`sink`], [`encoder_setup`]) and audio paths;
//! 3. the muxer headers ([`crate::output::write_headers`]) and the video
//!    filter graph ([`graph`]);
//! 4. [`decode`]: the decode → filter → encode → mux loop ([`frames`],
//!    [`clock`], [`progress`]) and the flush;
//! 5. [`finish`]: trailers, the master playlist, reports, commit.
//!
//! Nothing here chooses a profile or decides whether to keep an encode:
//! that is policy, in [`crate::auto`] and [`crate::encode`], which call
//! [`transcode`].

use ff::Rational;
use ffmpeg_next as ff;

use crate::error::Result;
use crate::output::write_headers;
use crate::plan::VideoFilters;
use crate::progress::{CancelFlag, Event};

mod clock;
mod decode;
mod encoder_setup;
mod finish;
mod frames;
mod graph;
mod job;
mod outputs;
mod progress;
mod sink;
mod source;

pub(crate) use encoder_setup::gop_frames;
pub(crate) use job::{Job, KeepRule, Transcoded};
pub(crate) use source::nominal_rate;

/// The real work: one decode feeding every output. Returns the output
/// reports, the main output first, or that the [`KeepRule`] discarded them.
///
/// Errors: those of each phase (see the module docs): bad or truncated
/// input, pictures too large, outputs that cannot be written, encoder
/// failures, [`crate::EngineError::Canceled`].
pub(crate) fn transcode(
    job: Job,
    keep: Option<KeepRule>,
    cancel: &CancelFlag,
    on_event: &mut dyn FnMut(Event),
    notices: &mut Vec<String>,
) -> Result<Transcoded> {
    let input = job.req.input.as_path();
    let mut source = source::Source::open(job.req, job.info, job.video, job.profile, job.range, job.cores)?;
    let filters = VideoFilters::for_source(job.video);
    // The time base leaving the filter graph: bwdif (like yadif) halves it so
    // that field-rate output stays representable; the other filters keep it.
    // Checked against the configured graph below.
    let in_tb = source.in_tb;
    let out_tb = if filters.deinterlace { in_tb * Rational::new(1, 2) } else { in_tb };
    let mut out = outputs::Outputs::open(&job, &source, out_tb, on_event, notices)?;
    write_headers(&mut out.muxes, input, source.origin_us)?;
    let mut graph: ff::filter::Graph = graph::build(input, job.video, &source, &filters, &out.sinks, out_tb)?;
    decode::decode_all(&job, &mut source, &mut out, &mut graph, cancel, on_event, notices)?;
    finish::finish(&job, &source, out, keep, on_event)
}
