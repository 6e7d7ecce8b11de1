//! [`compare`]: the quality of a distorted file against its reference file.

use super::pair::Pairer;
use super::{QualityOptions, QualityReport, Scorer};
use crate::probe;
use crate::progress::{CancelFlag, Event, Stage};
use crate::{EngineError, Result};
use ffmpeg_next as ff;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Frames the pairer may hold before the two files are declared unpairable.
/// Feeding the side that is behind keeps it at one or two per side whatever
/// the gaps, rates or offsets; only timestamps that run backwards could pile
/// frames up, and 32 bounds that to about 0.8 GB even for 4K 10-bit frames.
const MAX_QUEUED_FRAMES: usize = 32;

/// One file's decoded video, in presentation order.
pub(super) struct Source {
    path: PathBuf,
    ictx: ff::format::context::Input,
    decoder: ff::decoder::Video,
    index: usize,
    time_base: f64,
    /// Seconds subtracted from every timestamp: the container's start time,
    /// the origin Crema's own encodes (and the ffmpeg CLI's) measure from.
    origin: f64,
    /// Nominal frame rate (libavformat's `r_frame_rate`: the highest rate of
    /// a variable-rate file), frames per second.
    fps: f64,
    /// Duration of the file in seconds (0 when unknown).
    duration: f64,
    eof_sent: bool,
    last: Option<f64>,
    /// Time span of the frames decoded (for error messages).
    span: Option<(f64, f64)>,
}

impl Source {
    pub(super) fn open(path: &Path, cancel: &CancelFlag) -> Result<Self> {
        let info = probe::probe_facts(path, cancel)?;
        let video = info.video.as_ref().ok_or_else(|| EngineError::InputUnsupported {
            path: path.into(),
            cause: "no video stream to measure".into(),
        })?;
        let ictx = probe::open_input(path)?;
        let stream = ictx.stream(video.index).ok_or_else(|| EngineError::Internal("video stream vanished".into()))?;
        let tb = stream.time_base();
        let rate = stream.rate();
        let avg = stream.avg_frame_rate();
        let fps = [rate, avg].into_iter().find(|r| r.numerator() > 0 && r.denominator() > 0).map_or(25.0, f64::from);
        let mut ctx = ff::codec::context::Context::from_parameters(stream.parameters())
            .map_err(|e| EngineError::from_ffmpeg(path, None, "video decoder", e))?;
        // SAFETY: setting the thread count (0 = one per core) and packet time base before open.
        unsafe {
            (*ctx.as_mut_ptr()).thread_count = 0;
            (*ctx.as_mut_ptr()).pkt_timebase = tb.into();
        }
        let decoder = ctx.decoder().video().map_err(|e| EngineError::InputUnsupported {
            path: path.into(),
            cause: format!("cannot decode {} video: {e}", video.codec),
        })?;
        // SAFETY: plain field read on an open input context.
        let start = unsafe { (*ictx.as_ptr()).start_time };
        let origin =
            if start == ff::ffi::AV_NOPTS_VALUE { 0.0 } else { start as f64 / f64::from(ff::ffi::AV_TIME_BASE) };
        Ok(Self {
            path: path.into(),
            ictx,
            decoder,
            index: video.index,
            time_base: f64::from(tb),
            origin,
            fps,
            duration: info.duration_seconds,
            eof_sent: false,
            last: None,
            span: None,
        })
    }

    /// The next decoded frame and its presentation time in seconds from the
    /// origin; `None` at the end. Undecodable packets are skipped, as players
    /// do (the frames they held then count as unmatched).
    pub(super) fn next(&mut self) -> Result<Option<(f64, ff::frame::Video)>> {
        let mut frame = ff::frame::Video::empty();
        loop {
            match self.decoder.receive_frame(&mut frame) {
                Ok(()) => {
                    let t = match frame.timestamp().or(frame.pts()) {
                        Some(ts) => ts as f64 * self.time_base - self.origin,
                        None => self.last.map_or(0.0, |l| l + 1.0 / self.fps),
                    };
                    self.last = Some(t);
                    self.span = Some(self.span.map_or((t, t), |(a, _)| (a, t)));
                    return Ok(Some((t, frame)));
                }
                Err(ff::Error::Eof) => return Ok(None),
                // EAGAIN: the decoder wants input; any other error: this
                // frame is lost, go on with the next packet.
                Err(_) => {}
            }
            if self.eof_sent {
                return Ok(None);
            }
            let mut got_packet = false;
            for (stream, packet) in self.ictx.packets() {
                if stream.index() != self.index {
                    continue;
                }
                got_packet = true;
                // A corrupt packet is skipped; the decoder resynchronises at the next keyframe.
                let _ = self.decoder.send_packet(&packet);
                break;
            }
            if !got_packet {
                self.decoder.send_eof().map_err(|e| EngineError::from_ffmpeg(&self.path, None, "decoder", e))?;
                self.eof_sent = true;
            }
        }
    }

    /// Seeks to the keyframe at or before `seconds` from the origin.
    fn seek(&mut self, seconds: f64) -> Result<()> {
        let ts = ((self.origin + seconds) * f64::from(ff::ffi::AV_TIME_BASE)) as i64;
        self.ictx.seek(ts, ..ts).map_err(|e| EngineError::from_ffmpeg(&self.path, None, "seek", e))?;
        self.decoder.flush();
        Ok(())
    }

    fn span_text(&self) -> String {
        self.span.map_or("no frames".into(), |(a, b)| format!("{a:.3}–{b:.3} s"))
    }
}

/// Measures `distorted` against `reference`: decodes both (first video
/// stream each), pairs frames by presentation time ([`Pairer`], tolerance
/// half a reference frame interval), scales and converts each pair (see the
/// module docs) and scores it with a [`Scorer`]. Timestamps count from each
/// file's start time, so an encode that starts at 0 pairs with a source that
/// starts at, say, 1.4 s (MPEG-TS).
///
/// Sends [`Event::Stage`] (`analyzing`) once, then [`Event::Progress`] at most
/// every 100 ms (`percent` from the reference's decoded time over its
/// duration, `fps` = frame pairs scored per second), and checks `cancel`
/// between frames.
///
/// Errors: [`EngineError::InputUnreadable`] / [`EngineError::InputUnsupported`]
/// for a file that cannot be opened or has no decodable video, and for a
/// distorted file none of whose frames pairs with a reference frame (with
/// both files' time spans in the cause); [`EngineError::Usage`] for bad
/// options; [`EngineError::VmafUnavailable`]; [`EngineError::Quality`];
/// [`EngineError::Canceled`].
pub fn compare(
    reference: &Path,
    distorted: &Path,
    options: &QualityOptions,
    cancel: &CancelFlag,
    on_event: &mut dyn FnMut(Event),
) -> Result<QualityReport> {
    compare_window(reference, distorted, None, options, cancel, on_event)
}

/// A span of the reference, seconds from its start: frames at `start` or
/// later and before `end`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Window {
    /// First time included, seconds.
    pub start: f64,
    /// First time excluded, seconds.
    pub end: f64,
}

/// [`compare`] against a [`Window`] of the reference: a chunk encoded
/// from that span (its first frame at time 0) against the source. The
/// reference is read from the keyframe before `window.start`; its frames
/// outside the window are not compared, and the times of those inside
/// count from the first of them, as the chunk's count from its own start.
/// `None` compares the whole reference, as [`compare`] does.
///
/// Errors: those of [`compare`].
pub fn compare_window(
    reference: &Path,
    distorted: &Path,
    window: Option<Window>,
    options: &QualityOptions,
    cancel: &CancelFlag,
    on_event: &mut dyn FnMut(Event),
) -> Result<QualityReport> {
    let mut scorer = Scorer::new(options)?;
    let mut r = Source::open(reference, cancel)?;
    let mut d = Source::open(distorted, cancel)?;
    on_event(Event::Stage { stage: Stage::Analyzing });
    let mut pairer = Pairer::new(0.5 / r.fps);
    if let Some(w) = window {
        r.seek(w.start)?;
        r.duration = (w.end.min(r.duration.max(w.start)) - w.start).max(0.0);
    }
    // The time of the first reference frame kept (a window's shift).
    let mut shift: Option<f64> = None;
    let frames_total = (r.duration > 0.0).then(|| (r.duration * r.fps).round() as u64);
    let started = Instant::now();
    let mut last_event = started;
    loop {
        if cancel.is_canceled() {
            on_event(Event::Canceled);
            return Err(EngineError::Canceled);
        }
        while let Some(p) = pairer.pop() {
            scorer.push(&p.reference, &p.distorted, p.reference_seconds, p.distorted_seconds)?;
        }
        if last_event.elapsed() >= Duration::from_millis(100) {
            last_event = Instant::now();
            on_event(progress(&r, &scorer, started, frames_total));
        }
        match pairer.wants_reference() {
            None => break,
            Some(true) => match r.next()? {
                Some((t, _)) if window.is_some_and(|w| t < w.start) => {}
                Some((t, _)) if window.is_some_and(|w| t >= w.end) => pairer.end_reference(),
                Some((t, f)) => {
                    let s = *shift.get_or_insert(if window.is_some() { t } else { 0.0 });
                    pairer.push_reference(t - s, f);
                }
                None => pairer.end_reference(),
            },
            Some(false) => match d.next()? {
                Some((t, f)) => pairer.push_distorted(t, f),
                None => pairer.end_distorted(),
            },
        }
        if pairer.queued() > MAX_QUEUED_FRAMES {
            return Err(EngineError::Quality(format!(
                "the timestamps of {} and {} do not advance together",
                reference.display(),
                distorted.display()
            )));
        }
    }
    while let Some(p) = pairer.pop() {
        scorer.push(&p.reference, &p.distorted, p.reference_seconds, p.distorted_seconds)?;
    }
    let stats = pairer.stats();
    if stats.paired == 0 {
        return Err(EngineError::InputUnsupported {
            path: distorted.into(),
            cause: format!(
                "no frame pairs with the reference by timestamp (reference {}, distorted {})",
                r.span_text(),
                d.span_text()
            ),
        });
    }
    let mut report = scorer.finish()?;
    report.pairing = Some(stats);
    Ok(report)
}

fn progress(r: &Source, scorer: &Scorer, started: Instant, frames_total: Option<u64>) -> Event {
    let done = scorer.frames_compared();
    let secs = started.elapsed().as_secs_f64();
    let fps = if secs > 0.0 { done as f64 / secs } else { 0.0 };
    let percent = if r.duration > 0.0 { (r.last.unwrap_or(0.0) / r.duration * 100.0).clamp(0.0, 100.0) } else { 0.0 };
    let eta_seconds = frames_total
        .filter(|_| fps > 0.0 && done >= 10)
        .map(|total| (total.saturating_sub(done) as f64 / fps).round() as u64);
    Event::Progress { stage: Stage::Analyzing, percent, fps, eta_seconds, frames_done: done, frames_total }
}
