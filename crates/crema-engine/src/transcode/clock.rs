//! Decoded-frame timestamps ([`FrameClock`]): missing ones filled in,
//! non-increasing ones dropped, and the sample range applied, so every
//! frame reaching the filters has a usable, increasing PTS.

use ff::{Rational, Rescale};
use ffmpeg_next as ff;

use super::job::TimeRange;

/// Parses a probe frame rate string (`"25"`, `"30000/1001"`).
pub(super) fn parse_rate(s: &str) -> Option<Rational> {
    let (n, d) = s.split_once('/').unwrap_or((s, "1"));
    let (n, d) = (n.trim().parse::<i32>().ok()?, d.trim().parse::<i32>().ok()?);
    (n > 0 && d > 0).then(|| Rational::new(n, d))
}

/// What to do with a decoded frame.
pub(super) enum Admit {
    /// Encode it: (PTS in the input time base, seconds since the origin).
    Use(i64, f64),
    /// Before the sample range.
    Skip,
    /// At or past the end of the sample range.
    End,
}

/// Decoded-frame timestamps: fills in missing ones (raw elementary streams
/// carry none) one nominal frame after the previous frame, and applies the
/// sample range.
pub(super) struct FrameClock {
    origin: i64,
    end: Option<i64>,
    ranged: bool,
    /// One nominal frame in the input time base.
    step: i64,
    next: Option<i64>,
    /// End of the last admitted frame, seconds since the origin.
    pub(super) last_seconds: f64,
    /// PTS of the last admitted frame.
    last: Option<i64>,
    /// Frames dropped for non-increasing timestamps.
    pub(super) dropped: u64,
    tb: f64,
    fps: f64,
}

impl FrameClock {
    pub(super) fn admit(&mut self, ts: Option<i64>) -> Admit {
        let ts = ts.unwrap_or_else(|| self.next.unwrap_or(self.origin));
        // A timestamp that does not increase (a transport stream
        // discontinuity, a duplicated frame) would make the muxers fail on
        // non-monotonic DTS: drop the frame, as ffmpeg's vfr mode does.
        if self.last.is_some_and(|last| ts <= last) {
            self.dropped += 1;
            return Admit::Skip;
        }
        self.next = Some(ts + self.step);
        if self.end.is_some_and(|end| ts >= end) {
            return Admit::End;
        }
        if self.ranged && ts < self.origin {
            return Admit::Skip;
        }
        let t = (ts - self.origin) as f64 * self.tb;
        self.last_seconds = self.last_seconds.max(t + 1.0 / self.fps);
        self.last = Some(ts);
        Admit::Use(ts, t)
    }
}

impl FrameClock {
    /// A clock for a stream of time base `in_tb` at `fps` nominal frames
    /// per second whose origin is `origin_us` (µs on the source's clock);
    /// with `range` (seconds from the origin), frames outside it are
    /// skipped and the first at or past its end ends the video (its length
    /// taken in whole microseconds, rounded, as the origin is).
    pub(super) fn new(origin_us: i64, range: TimeRange, in_tb: Rational, fps: f64) -> Self {
        let origin_in = origin_us.rescale(Rational::new(1, 1_000_000), in_tb);
        let end_in = range
            .map(|(s, e)| (origin_us + ((e - s) * 1e6).round() as i64).rescale(Rational::new(1, 1_000_000), in_tb));
        FrameClock {
            origin: origin_in,
            end: end_in,
            ranged: range.is_some(),
            step: (1.0 / (fps * f64::from(in_tb))).round().max(1.0) as i64,
            next: None,
            last_seconds: 0.0,
            last: None,
            dropped: 0,
            tb: f64::from(in_tb),
            fps,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_rates_parse_as_the_probe_writes_them() {
        assert_eq!(parse_rate("25"), Some(Rational::new(25, 1)));
        assert_eq!(parse_rate("30000/1001"), Some(Rational::new(30000, 1001)));
        assert_eq!(parse_rate("0/1"), None);
        assert_eq!(parse_rate("x"), None);
    }

    #[test]
    fn missing_timestamps_follow_the_previous_frame_and_repeats_are_dropped() {
        // 1/25 s frames in a 1/1000 time base.
        let mut clock = FrameClock::new(0, None, Rational::new(1, 1000), 25.0);
        assert!(matches!(clock.admit(None), Admit::Use(0, _)));
        assert!(matches!(clock.admit(None), Admit::Use(40, _)));
        assert!(matches!(clock.admit(Some(40)), Admit::Skip));
        assert!(matches!(clock.admit(Some(120)), Admit::Use(120, _)));
        assert_eq!(clock.dropped, 1);
        assert!((clock.last_seconds - 0.16).abs() < 1e-9, "{}", clock.last_seconds);
    }

    #[test]
    fn a_sample_range_skips_before_and_ends_at_its_end() {
        // Origin 10 s, range 10..12 s: 2 s of frames from 10 s on.
        let mut clock = FrameClock::new(10_000_000, Some((10.0, 12.0)), Rational::new(1, 1000), 25.0);
        assert!(matches!(clock.admit(Some(9_960)), Admit::Skip));
        assert!(matches!(clock.admit(Some(10_000)), Admit::Use(10_000, t) if t == 0.0));
        assert!(matches!(clock.admit(Some(11_960)), Admit::Use(11_960, _)));
        assert!(matches!(clock.admit(Some(12_000)), Admit::End));
    }
}
