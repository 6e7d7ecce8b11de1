//! Pushing decoded video frames through the filter graph to every video
//! encoder and on to the muxers ([`LoopCtx`]): HLS keyframes forced on the
//! segment grid, packet durations restored, hardware upload where needed.

use ff::{Rational, Rescale};
use ffmpeg_next as ff;
use std::path::Path;

use super::encoder_setup::Keyframing;
use super::encoder_setup::pixel_name;
use super::sink::VideoSink;
use crate::error::{EngineError, Result};
use crate::output::{AudioFeed, Mux, fferr, write_to};

/// Mutable state of the main loop, so that pushing a frame through filters,
/// encoders and muxers is one method call.
pub(super) struct LoopCtx<'a> {
    pub(super) input: &'a Path,
    /// Time base of decoded frames (and of their `pkt_duration`).
    pub(super) in_tb: Rational,
    pub(super) muxes: &'a mut Vec<Mux>,
    pub(super) sinks: &'a mut Vec<VideoSink>,
    pub(super) graph: &'a mut ff::filter::Graph,
    /// Time of the first encoded video frame, µs on the source's clock; the
    /// HLS audio rendition starts there.
    pub(super) video_start_us: Option<i64>,
    /// Size and pixel format of the first frame given to the video graph.
    pub(super) video_in: Option<(u32, u32, ff::format::Pixel)>,
}

impl LoopCtx<'_> {
    pub(super) fn push_video(&mut self, frame: &ff::frame::Video, filtered: &mut ff::frame::Video) -> Result<()> {
        // The video graph is built once. Most of it follows pictures that
        // change size or format mid-stream (a broadcast capture across a
        // programme change), but not every filter does (the deinterlacers
        // fail with EPERM): such a failure is told in words, not as a
        // generic filter error.
        let now = (frame.width(), frame.height(), frame.format());
        let first = *self.video_in.get_or_insert(now);
        let pushed = self.graph.get("in").expect("source").source().add(frame).map_err(fferr(self.input, "filter"));
        let done = pushed.and_then(|()| self.drain_filters(filtered));
        match done {
            Err(EngineError::Encode { .. }) if now != first => {
                let show = |(w, h, p): (u32, u32, ff::format::Pixel)| format!("{w}x{h} {}", pixel_name(p));
                Err(EngineError::InputUnsupported {
                    path: self.input.into(),
                    cause: format!(
                        "the video changes size or format mid-stream ({} → {}), which Crema does not handle yet",
                        show(first),
                        show(now)
                    ),
                })
            }
            other => other,
        }
    }

    pub(super) fn drain_filters(&mut self, filtered: &mut ff::frame::Video) -> Result<()> {
        for i in 0..self.sinks.len() {
            loop {
                let got = self.graph.get(&format!("out{i}")).expect("sink").sink().frame(filtered);
                match got {
                    Ok(()) => {}
                    Err(ff::Error::Eof) => break,
                    Err(ff::Error::Other { errno }) if errno == libc::EAGAIN => break,
                    Err(e) => return Err(EngineError::from_ffmpeg(self.input, None, "filter", e)),
                }
                self.encode_frame(i, filtered)?;
            }
        }
        Ok(())
    }

    fn encode_frame(&mut self, i: usize, frame: &mut ff::frame::Video) -> Result<()> {
        let sink = &mut self.sinks[i];
        let Some(pts) = frame.pts() else {
            return Ok(());
        };
        // pkt_duration is not rescaled by the filters: it is still in the input time base.
        let dur = frame.packet().duration.rescale(self.in_tb, sink.tb);
        sink.durations.insert(pts, if dur > 0 { dur } else { sink.default_duration });
        // Never pass the decoder's picture types on (the source's I-frames would
        // become keyframes); force IDRs only where HLS segments must start.
        frame.set_kind(ff::picture::Type::None);
        if let Keyframing::Hls { segment_seconds } = sink.keyframing {
            // The grid starts at this output's first frame, in its own time
            // base: the HLS muxer measures segment durations from its first
            // packet, and the graph's time base may differ from the input's
            // (bwdif halves it).
            let first = *sink.grid_origin.get_or_insert(pts);
            let t = (pts - first) as f64 * f64::from(sink.tb);
            if t + 1e-6 >= sink.next_forced as f64 * segment_seconds {
                frame.set_kind(ff::picture::Type::I);
                while t + 1e-6 >= sink.next_forced as f64 * segment_seconds {
                    sink.next_forced += 1;
                }
            }
        }
        if let Some(scoring) = &mut sink.in_loop {
            scoring.reference(frame)?;
        }
        let sent = match &sink.upload {
            Some(up) => {
                let hw = up.upload(frame).map_err(fferr(self.input, "hardware upload"))?;
                sink.encoder.send_frame(&hw)
            }
            None => sink.encoder.send_frame(frame),
        };
        sent.map_err(fferr(self.input, "encode"))?;
        self.drain_encoder(i)
    }

    pub(super) fn drain_encoder(&mut self, i: usize) -> Result<()> {
        let mut pkt = ff::Packet::empty();
        loop {
            let sink = &mut self.sinks[i];
            match sink.encoder.receive_packet(&mut pkt) {
                Ok(()) => {}
                Err(ff::Error::Eof) => return Ok(()),
                Err(ff::Error::Other { errno }) if errno == libc::EAGAIN => return Ok(()),
                Err(e) => return Err(EngineError::from_ffmpeg(self.input, None, "encode", e)),
            }
            if pkt.duration() <= 0 {
                let d = pkt.pts().and_then(|p| sink.durations.remove(&p)).unwrap_or(sink.default_duration);
                pkt.set_duration(d);
            } else if let Some(p) = pkt.pts() {
                sink.durations.remove(&p);
            }
            if let Some(scoring) = &mut sink.in_loop {
                scoring.packet(&pkt)?;
            }
            let tb = sink.tb;
            let outs = sink.outputs.clone();
            write_to(self.muxes, &outs, &pkt, tb, self.input)?;
        }
    }

    /// The audio side of the loop: the same muxers, and the video's start.
    pub(super) fn audio(&mut self) -> AudioFeed<'_> {
        AudioFeed { input: self.input, muxes: &mut self.muxes[..], video_start_us: self.video_start_us }
    }
}
