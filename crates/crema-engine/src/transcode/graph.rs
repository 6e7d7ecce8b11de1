//! The video filter graph of a transcode, built once: `buffer` (decoded
//! frames) → the source's filters (deinterlace, rotation; see
//! [`crate::plan`]) → one scale / format / tone-map branch per video sink →
//! `buffersink` `out{i}`.

use ff::Rational;
use ff::ffi;
use ffmpeg_next as ff;
use std::path::Path;

use super::encoder_setup::pixel_name;
use super::sink::VideoSink;
use super::source::Source;
use crate::error::{EngineError, Result};
use crate::media::VideoStream;
use crate::output::fferr;
use crate::plan::{self, VideoFilters};

/// Builds and configures the graph for `sinks`, in sink order.
///
/// Errors: [`EngineError::Internal`] when the graph cannot be configured or
/// leaves a time base other than `out_tb`; FFmpeg errors as
/// [`EngineError::from_ffmpeg`] gives them.
pub(super) fn build(
    input: &Path,
    video: &VideoStream,
    source: &Source,
    filters: &VideoFilters,
    sinks: &[VideoSink],
    out_tb: Rational,
) -> Result<ff::filter::Graph> {
    let (in_tb, sar) = (source.in_tb, source.sar);
    let mut graph = ff::filter::Graph::new();
    let src_args = format!(
        "video_size={}x{}:pix_fmt={}:time_base={}/{}:pixel_aspect={}/{}",
        video.width,
        video.height,
        ffi::AVPixelFormat::from(source.frame_format) as i32,
        in_tb.numerator(),
        in_tb.denominator(),
        sar.numerator().max(1),
        sar.denominator().max(1),
    );
    graph
        .add(&ff::filter::find("buffer").expect("buffer filter"), "in", &src_args)
        .map_err(fferr(input, "filter source"))?;
    for i in 0..sinks.len() {
        graph
            .add(&ff::filter::find("buffersink").expect("buffersink filter"), &format!("out{i}"), "")
            .map_err(fferr(input, "filter sink"))?;
    }
    let pix_names: Vec<String> = sinks.iter().map(|s| pixel_name(s.pix)).collect();
    let sink_filters: Vec<plan::SinkFilter> = sinks
        .iter()
        .zip(&pix_names)
        .map(|(s, pix_fmt)| plan::SinkFilter {
            width: s.width,
            height: s.height,
            pix_fmt,
            tone_map: video.hdr.is_some() && s.bit_depth == 8,
        })
        .collect();
    let spec = plan::graph_spec(&filters.chain(), &sink_filters, plan::Scaling::Cascaded);
    {
        let mut parser = graph.output("in", 0).map_err(fferr(input, "filter graph"))?;
        for i in 0..sinks.len() {
            parser = parser.input(&format!("out{i}"), 0).map_err(fferr(input, "filter graph"))?;
        }
        parser.parse(&spec).map_err(|e| EngineError::Internal(format!("filter graph `{spec}`: {e}")))?;
    }
    graph.validate().map_err(|e| EngineError::Internal(format!("filter graph `{spec}`: {e}")))?;
    for i in 0..sinks.len() {
        let tb = graph.get(&format!("out{i}")).expect("sink").sink().time_base();
        if tb != out_tb {
            return Err(EngineError::Internal(format!(
                "filter graph time base {tb} differs from the expected {out_tb}"
            )));
        }
    }
    Ok(graph)
}
