//! Encoding progress: frames done against the expected total, sent as
//! [`Event::Progress`] at most about ten times a second.

use std::time::Instant;

use crate::progress::{Event, Stage};

/// Progress accounting and throttled events (~10 per second).
pub(super) struct Progress {
    started: Instant,
    last_emit: Option<Instant>,
    total_seconds: f64,
    frames_total: Option<u64>,
    pub(super) frames: u64,
}

impl Progress {
    pub(super) fn new(total_seconds: f64, frames_total: Option<u64>) -> Self {
        Self { started: Instant::now(), last_emit: None, total_seconds, frames_total, frames: 0 }
    }

    pub(super) fn frame(&mut self, t: f64, on_event: &mut dyn FnMut(Event)) {
        self.frames += 1;
        let now = Instant::now();
        if self.last_emit.is_some_and(|l| now.duration_since(l).as_millis() < 100) {
            return;
        }
        self.last_emit = Some(now);
        let elapsed = now.duration_since(self.started).as_secs_f64();
        let percent = if self.total_seconds > 0.0 { (t / self.total_seconds * 100.0).clamp(0.0, 100.0) } else { 0.0 };
        let fps = if elapsed > 0.0 { self.frames as f64 / elapsed } else { 0.0 };
        let eta = (percent > 1.0 && elapsed > 0.5).then(|| (elapsed * (100.0 - percent) / percent).round() as u64);
        on_event(Event::Progress {
            stage: Stage::Encoding,
            percent: (percent * 10.0).round() / 10.0,
            fps: (fps * 10.0).round() / 10.0,
            eta_seconds: eta,
            frames_done: self.frames,
            frames_total: self.frames_total,
        });
    }
}
