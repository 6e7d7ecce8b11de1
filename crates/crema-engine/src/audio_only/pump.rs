//! The copy loop of an audio-only job: every packet read once, covers
//! written to their MP4 stream, audio pushed through its paths, then the
//! paths flushed; progress from the packets' timestamps.

use ff::{Rational, Rescale};
use ffmpeg_next as ff;
use std::path::Path;
use std::time::Instant;

use super::cover::write_cover;
use super::outputs::Outputs;
use crate::error::Result;
use crate::output::{AudioFeed, canceled};
use crate::progress::{CancelFlag, Event, Stage};

/// Reads the whole source into `out`'s paths and muxers (trailers still
/// to be written); `duration_seconds` and `origin_us` (µs on the source's
/// clock) place the progress.
///
/// Errors: [`EngineError::Canceled`] (partial outputs removed first);
/// [`EngineError::InputUnsupported`] for unreadable data; encode and mux errors.
pub(super) fn copy_all(
    input: &Path,
    ictx: &mut ff::format::context::Input,
    out: &mut Outputs,
    duration_seconds: f64,
    origin_us: i64,
    cancel: &CancelFlag,
    on_event: &mut dyn FnMut(Event),
) -> Result<()> {
    on_event(Event::Stage { stage: Stage::Encoding });
    let mut progress = AudioProgress::new(duration_seconds, origin_us);
    let Outputs { staging, muxes, paths, covers, .. } = out;
    let mut ctx = AudioFeed { input, muxes, video_start_us: None };
    let mut read_errors = 0u32;
    loop {
        if cancel.is_canceled() {
            return Err(canceled(staging, on_event));
        }
        let Some(packet) = crate::ffutil::read_packet(ictx, input, &mut read_errors)? else { break };
        let si = packet.stream();
        if let Some(&(_, (mi, os))) = covers.iter().find(|(i, _)| *i == si) {
            write_cover(&mut ctx.muxes[mi], os, packet, input)?;
            continue;
        }
        let tb = ictx.stream(si).map_or(Rational::new(1, 1), |s| s.time_base());
        for p in paths.iter_mut().filter(|p| p.source_index == si) {
            ctx.push_audio(p, &packet)?;
        }
        progress.packet(packet.pts(), tb, on_event);
    }
    for p in paths.iter_mut() {
        ctx.flush_audio(p)?;
    }
    if cancel.is_canceled() {
        return Err(canceled(staging, on_event));
    }
    Ok(())
}

/// Progress of an audio-only run, from the packets' timestamps (~10 events a second).
struct AudioProgress {
    started: Instant,
    last_emit: Option<Instant>,
    total_seconds: f64,
    origin_us: i64,
    packets: u64,
}

impl AudioProgress {
    fn new(total_seconds: f64, origin_us: i64) -> Self {
        AudioProgress { started: Instant::now(), last_emit: None, total_seconds, origin_us, packets: 0 }
    }

    fn packet(&mut self, pts: Option<i64>, tb: Rational, on_event: &mut dyn FnMut(Event)) {
        self.packets += 1;
        let now = Instant::now();
        let Some(pts) = pts else { return };
        if self.last_emit.is_some_and(|l| now.duration_since(l).as_millis() < 100) || self.total_seconds <= 0.0 {
            return;
        }
        self.last_emit = Some(now);
        let t = (pts.rescale(tb, Rational::new(1, 1_000_000)) - self.origin_us) as f64 / 1e6;
        let percent = (t / self.total_seconds * 100.0).clamp(0.0, 100.0);
        let elapsed = now.duration_since(self.started).as_secs_f64();
        let eta = (percent > 1.0 && elapsed > 0.5).then(|| (elapsed * (100.0 - percent) / percent).round() as u64);
        on_event(Event::Progress {
            stage: Stage::Encoding,
            percent: (percent * 10.0).round() / 10.0,
            fps: 0.0,
            eta_seconds: eta,
            frames_done: self.packets,
            frames_total: None,
        });
    }
}
