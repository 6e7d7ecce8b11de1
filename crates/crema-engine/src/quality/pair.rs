//! Pairing reference and distorted frames by presentation time.
//!
//! Index pairing (frame n with frame n) breaks on the first dropped or
//! duplicated frame and on any frame-rate change, and every later pair is
//! then one frame apart. Pairing by timestamp does not: a reference frame at
//! time `t` pairs with the distorted frame nearest to `t` within a tolerance
//! of half a reference frame interval; a reference frame with none is
//! *unmatched* (the distorted video dropped it) and a distorted frame nearer
//! to no reference frame is *extra* (duplicated, or a higher frame rate).

use serde::Serialize;
use std::collections::VecDeque;

/// A matched pair.
#[derive(Debug)]
pub struct Pair<T> {
    /// Reference presentation time, seconds.
    pub reference_seconds: f64,
    /// The reference item.
    pub reference: T,
    /// Distorted presentation time, seconds.
    pub distorted_seconds: f64,
    /// The distorted item.
    pub distorted: T,
}

/// What pairing found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PairingStats {
    /// Pairs made.
    pub paired: u64,
    /// Reference frames with no distorted frame within the tolerance
    /// (dropped by the distorted video, or past its end).
    pub unmatched_reference: u64,
    /// Distorted frames that paired with no reference frame (duplicates,
    /// a higher frame rate, or frames past the reference's end).
    pub unmatched_distorted: u64,
}

/// Streaming pairer. Feed both sides in presentation order (as decoders
/// deliver them), take pairs with [`Pairer::pop`]; it holds only the frames
/// that cannot be decided yet (normally one or two per side when the caller
/// feeds the side that is behind, see [`Pairer::wants_reference`]).
#[derive(Debug)]
pub struct Pairer<T> {
    tolerance: f64,
    refs: VecDeque<(f64, T)>,
    dists: VecDeque<(f64, T)>,
    ref_ended: bool,
    dist_ended: bool,
    last_ref: f64,
    last_dist: f64,
    stats: PairingStats,
}

impl<T> Pairer<T> {
    /// A pairer matching within `tolerance_seconds` (half the reference
    /// frame interval: `0.5 / fps`, with the nominal, highest rate of a
    /// variable-rate reference so that no two reference frames can claim the
    /// same distorted frame).
    pub fn new(tolerance_seconds: f64) -> Self {
        Self {
            tolerance: tolerance_seconds,
            refs: VecDeque::new(),
            dists: VecDeque::new(),
            ref_ended: false,
            dist_ended: false,
            last_ref: f64::NEG_INFINITY,
            last_dist: f64::NEG_INFINITY,
            stats: PairingStats::default(),
        }
    }

    /// Adds the next reference frame, presented at `seconds`.
    pub fn push_reference(&mut self, seconds: f64, item: T) {
        self.last_ref = seconds;
        self.refs.push_back((seconds, item));
    }

    /// Adds the next distorted frame, presented at `seconds`.
    pub fn push_distorted(&mut self, seconds: f64, item: T) {
        self.last_dist = seconds;
        self.dists.push_back((seconds, item));
    }

    /// No more reference frames will come.
    pub fn end_reference(&mut self) {
        self.ref_ended = true;
    }

    /// No more distorted frames will come.
    pub fn end_distorted(&mut self) {
        self.dist_ended = true;
    }

    /// Which side to feed next to keep the queues short: the reference when
    /// its latest time is not ahead of the distorted side's (and it has not
    /// ended), else the distorted side; `None` when both ended.
    pub fn wants_reference(&self) -> Option<bool> {
        match (self.ref_ended, self.dist_ended) {
            (true, true) => None,
            (true, false) => Some(false),
            (false, true) => Some(true),
            (false, false) => Some(self.last_ref <= self.last_dist),
        }
    }

    /// Frames waiting on both sides (to bound memory: a caller may stop when
    /// this grows past what it can hold).
    pub fn queued(&self) -> usize {
        self.refs.len() + self.dists.len()
    }

    /// Counts so far.
    pub fn stats(&self) -> PairingStats {
        self.stats
    }

    /// The next decided pair, dropping (and counting) unmatched frames on the
    /// way; `None` when more input is needed or everything is done.
    pub fn pop(&mut self) -> Option<Pair<T>> {
        loop {
            let Some(&(r, _)) = self.refs.front() else {
                if self.ref_ended {
                    self.stats.unmatched_distorted += self.dists.len() as u64;
                    self.dists.clear();
                }
                return None;
            };
            let Some(&(d, _)) = self.dists.front() else {
                if self.dist_ended {
                    self.refs.pop_front();
                    self.stats.unmatched_reference += 1;
                    continue;
                }
                return None;
            };
            if d < r - self.tolerance {
                self.dists.pop_front();
                self.stats.unmatched_distorted += 1;
                continue;
            }
            if d > r + self.tolerance {
                self.refs.pop_front();
                self.stats.unmatched_reference += 1;
                continue;
            }
            // Within the tolerance; a later distorted frame may still be nearer.
            match self.dists.get(1) {
                Some(&(d2, _)) if (d2 - r).abs() < (d - r).abs() => {
                    self.dists.pop_front();
                    self.stats.unmatched_distorted += 1;
                    continue;
                }
                None if d < r && !self.dist_ended => return None,
                _ => {}
            }
            let (reference_seconds, reference) = self.refs.pop_front().expect("front exists");
            let (distorted_seconds, distorted) = self.dists.pop_front().expect("front exists");
            self.stats.paired += 1;
            return Some(Pair { reference_seconds, reference, distorted_seconds, distorted });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds both sides the way `compare` does (the side that is behind
    /// first) and returns the pairs as (reference index, distorted index).
    fn run(refs: &[f64], dists: &[f64], tolerance: f64) -> (Vec<(usize, usize)>, PairingStats) {
        let mut p = Pairer::new(tolerance);
        let (mut ri, mut di) = (0, 0);
        let mut out = Vec::new();
        while let Some(want_ref) = p.wants_reference() {
            if want_ref {
                match refs.get(ri) {
                    Some(&t) => p.push_reference(t, ri),
                    None => p.end_reference(),
                }
                ri += 1;
            } else {
                match dists.get(di) {
                    Some(&t) => p.push_distorted(t, di),
                    None => p.end_distorted(),
                }
                di += 1;
            }
            while let Some(pair) = p.pop() {
                out.push((pair.reference, pair.distorted));
            }
            assert!(p.queued() <= 4, "queues stay short");
        }
        while let Some(pair) = p.pop() {
            out.push((pair.reference, pair.distorted));
        }
        (out, p.stats())
    }

    fn times(n: usize, fps: f64) -> Vec<f64> {
        (0..n).map(|i| i as f64 / fps).collect()
    }

    #[test]
    fn same_timing_pairs_one_to_one() {
        let (pairs, stats) = run(&times(10, 25.0), &times(10, 25.0), 0.02);
        assert_eq!(pairs, (0..10).map(|i| (i, i)).collect::<Vec<_>>());
        assert_eq!(stats, PairingStats { paired: 10, unmatched_reference: 0, unmatched_distorted: 0 });
    }

    #[test]
    fn a_dropped_frame_leaves_the_rest_aligned() {
        let mut d = times(10, 25.0);
        d.remove(4);
        let (pairs, stats) = run(&times(10, 25.0), &d, 0.02);
        assert_eq!(stats.unmatched_reference, 1);
        assert!(pairs.iter().all(|&(r, di)| d[di] == r as f64 / 25.0), "{pairs:?}");
        assert!(!pairs.iter().any(|&(r, _)| r == 4));
    }

    #[test]
    fn double_rate_pairs_every_reference_frame_with_its_own_time() {
        let (pairs, stats) = run(&times(10, 25.0), &times(20, 50.0), 0.02);
        assert_eq!(pairs, (0..10).map(|i| (i, 2 * i)).collect::<Vec<_>>());
        assert_eq!(stats.unmatched_distorted, 10);
    }

    #[test]
    fn half_rate_leaves_every_other_reference_frame_unmatched() {
        let (pairs, stats) = run(&times(10, 25.0), &times(5, 12.5), 0.02);
        assert_eq!(pairs, (0..5).map(|i| (2 * i, i)).collect::<Vec<_>>());
        assert_eq!(stats.unmatched_reference, 5);
    }

    #[test]
    fn jitter_and_nearest_choice() {
        // Distorted a little late and with a duplicate just before frame 3.
        let d = vec![0.004, 0.043, 0.079, 0.105, 0.121, 0.162];
        let (pairs, stats) = run(&times(5, 25.0), &d, 0.02);
        assert_eq!(pairs, vec![(0, 0), (1, 1), (2, 2), (3, 4), (4, 5)]);
        assert_eq!(stats.unmatched_distorted, 1);
    }

    #[test]
    fn disjoint_times_pair_nothing() {
        let d: Vec<f64> = times(5, 25.0).iter().map(|t| t + 10.0).collect();
        let (pairs, stats) = run(&times(5, 25.0), &d, 0.02);
        assert!(pairs.is_empty());
        assert_eq!((stats.unmatched_reference, stats.unmatched_distorted), (5, 5));
    }
}
