//! The reference through a filter graph ([`super::compare_window`]'s
//! `reference_filter`): frames decoded from the source pass through the
//! same filters an encode fed its encoder (deinterlace, rotation, scaling,
//! tone mapping, pixel format: [`crate::plan::graph_spec`]'s text), so a
//! chunk is scored against the picture its encoder was given.

use ffmpeg_next as ff;
use std::path::Path;

use crate::error::{EngineError, Result};

/// A filter graph from pad `in` (decoded frames) to pad `out0`.
pub(super) struct Filter {
    graph: ff::filter::Graph,
    /// Seconds per tick of the frames leaving `out0`.
    pub(super) time_base: f64,
    flushed: bool,
}

impl Filter {
    /// Builds `spec` for frames of `decoder` with time base `tb` (the
    /// stream's), as the engine's transcode builds its graph.
    ///
    /// Errors: [`EngineError::Internal`] naming `spec` when FFmpeg refuses it.
    pub(super) fn new(spec: &str, decoder: &ff::decoder::Video, tb: ff::Rational, path: &Path) -> Result<Self> {
        let bad =
            |e: ff::Error| EngineError::Internal(format!("reference filter `{spec}` for {}: {e}", path.display()));
        let sar = decoder.aspect_ratio();
        let args = format!(
            "video_size={}x{}:pix_fmt={}:time_base={}/{}:pixel_aspect={}/{}",
            decoder.width(),
            decoder.height(),
            ff::ffi::AVPixelFormat::from(decoder.format()) as i32,
            tb.numerator(),
            tb.denominator(),
            sar.numerator().max(1),
            sar.denominator().max(1),
        );
        let mut graph = ff::filter::Graph::new();
        graph.add(&ff::filter::find("buffer").expect("buffer filter"), "in", &args).map_err(bad)?;
        graph.add(&ff::filter::find("buffersink").expect("buffersink filter"), "out0", "").map_err(bad)?;
        graph.output("in", 0).and_then(|p| p.input("out0", 0)).and_then(|p| p.parse(spec)).map_err(bad)?;
        graph.validate().map_err(bad)?;
        let time_base = f64::from(graph.get("out0").expect("sink").sink().time_base());
        Ok(Self { graph, time_base, flushed: false })
    }

    /// Feeds one decoded frame (its `pts` set, in the stream's time base).
    pub(super) fn push(&mut self, frame: &ff::frame::Video) -> Result<()> {
        self.graph
            .get("in")
            .expect("source")
            .source()
            .add(frame)
            .map_err(|e| EngineError::Internal(format!("reference filter: {e}")))
    }

    /// No more frames: what the filters hold comes out.
    pub(super) fn flush(&mut self) -> Result<()> {
        if !self.flushed {
            self.flushed = true;
            self.graph
                .get("in")
                .expect("source")
                .source()
                .flush()
                .map_err(|e| EngineError::Internal(format!("reference filter flush: {e}")))?;
        }
        Ok(())
    }

    /// Whether [`Filter::flush`] was called.
    pub(super) fn flushed(&self) -> bool {
        self.flushed
    }

    /// The next filtered frame, if one is ready.
    pub(super) fn pull(&mut self) -> Option<ff::frame::Video> {
        let mut out = ff::frame::Video::empty();
        self.graph.get("out0").expect("sink").sink().frame(&mut out).ok().map(|()| out)
    }
}
