//! Chunked encoding: one title cut into chunks of whole source frames, each
//! encoded on its own (its first frame a keyframe: IDR, a closed GOP) and
//! joined again without re-encoding ([`join`]). `sophon-auto`'s verified
//! path ([`crate::auto::verified`]) gives every chunk its own CRF; the
//! same cuts serve chunk-parallel and farm encodes.
//!
//! Cuts ([`plan`]) fall on source frames, preferably on the source's own
//! keyframes (a chunk's decode then starts exactly at its first frame instead
//! of the keyframe before it), a few seconds apart. A chunk covers the
//! frames whose presentation time is at or after its first frame's and
//! before the next chunk's first frame's, so no frame is dropped or repeated
//! at a cut: a cut is a frame's time in whole microseconds, which the
//! engine's frame clock rounds back to that frame's own timestamp (any
//! time base coarser than 1 µs, as every container's is).

use ff::Rescale;
use ffmpeg_next as ff;
use std::path::Path;

use crate::error::{EngineError, Result};
use crate::progress::CancelFlag;

pub(crate) mod deliver;
pub(crate) mod join;
pub mod parallel;

/// One chunk of a title.
#[derive(Clone, Debug, PartialEq)]
pub struct Chunk {
    /// Position in the title, from 0.
    pub index: usize,
    /// Where its encode range starts, µs after the source's start (the
    /// container's start time, the origin every encode counts from): its
    /// first frame's time, but 0 for the first chunk, whose encode begins
    /// where an encode of the whole title does.
    pub start_us: i64,
    /// Presentation time of its first frame, µs after the source's start:
    /// where the join places it. Equals `start_us` but for a first chunk
    /// whose video starts after the container does (audio first).
    pub first_frame_us: i64,
    /// The next chunk's `start_us`; for the last chunk, one second past the
    /// last frame.
    pub end_us: i64,
    /// Source frames in it (video packets with timestamps).
    pub frames: u64,
    /// Whether its first frame is a keyframe of the source.
    pub on_source_keyframe: bool,
}

impl Chunk {
    /// First frame's time, seconds after the source's start.
    pub fn start_seconds(&self) -> f64 {
        self.start_us as f64 / 1e6
    }

    /// The range an encode of this chunk is given, seconds after the
    /// source's start.
    pub fn range(&self) -> (f64, f64) {
        (self.start_us as f64 / 1e6, self.end_us as f64 / 1e6)
    }
}

/// One video frame of the source, from its packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SourceFrame {
    /// Presentation time, µs after the source's start.
    pub t_us: i64,
    /// A keyframe of the source.
    pub key: bool,
    /// Its packet's size, bytes.
    pub bytes: u64,
}

/// Every video frame of the source, in presentation order.
pub type FrameTimes = Vec<SourceFrame>;

/// The presentation times, keyframe flags and sizes of video stream
/// `index`'s frames, from one pass over its packet headers. `None` when the stream cannot be cut by time:
/// a packet without a timestamp (raw elementary streams) or two frames at
/// the same time.
///
/// Errors: [`EngineError::InputUnsupported`] when the file cannot be read;
/// [`EngineError::Canceled`].
pub fn frame_times(path: &Path, index: usize, cancel: &CancelFlag) -> Result<Option<FrameTimes>> {
    let mut ictx = crate::probe::open_input(path)?;
    let tb = ictx.stream(index).map(|s| s.time_base()).ok_or_else(|| EngineError::Internal("no stream".into()))?;
    // SAFETY: plain field read on an open input context.
    let start = unsafe { (*ictx.as_ptr()).start_time };
    let origin = if start == ff::ffi::AV_NOPTS_VALUE { 0 } else { start };
    let us = ff::Rational::new(1, 1_000_000);
    let mut times = Vec::new();
    let mut errors = 0;
    while let Some(packet) = crate::ffutil::read_packet(&mut ictx, path, &mut errors)? {
        if cancel.is_canceled() {
            return Err(EngineError::Canceled);
        }
        if packet.stream() != index {
            continue;
        }
        let Some(pts) = packet.pts() else { return Ok(None) };
        times.push(SourceFrame {
            t_us: pts.rescale(tb, us) - origin,
            key: packet.is_key(),
            bytes: packet.size() as u64,
        });
    }
    times.sort_unstable_by_key(|t| t.t_us);
    if times.windows(2).any(|w| w[0].t_us == w[1].t_us) || times.is_empty() {
        return Ok(None);
    }
    Ok(Some(times))
}

/// Cuts a title whose frames are `frames` ([`frame_times`]) into chunks of
/// about `target_seconds`: each cut is the source keyframe closest to
/// `target_seconds` after the chunk's start within 0.75..1.5 of it, else
/// the first frame `target_seconds` or more after the start. A rest
/// shorter than 1.5 × `target_seconds` stays in the last chunk, so a
/// title shorter than that is one chunk.
pub fn plan(frames: &[SourceFrame], target_seconds: f64) -> Vec<Chunk> {
    let target = (target_seconds * 1e6) as i64;
    let Some(last_t) = frames.last().map(|f| f.t_us) else { return Vec::new() };
    cut(frames, |i| {
        let t0 = frames[i].t_us;
        if last_t - t0 < target * 3 / 2 {
            return frames.len();
        }
        let near = (i + 1..frames.len())
            .take_while(|&j| frames[j].t_us - t0 <= target * 3 / 2)
            .filter(|&j| frames[j].key && frames[j].t_us - t0 >= target * 3 / 4)
            .min_by_key(|&j| (frames[j].t_us - t0 - target).abs());
        near.unwrap_or_else(|| (i + 1..frames.len()).find(|&j| frames[j].t_us - t0 >= target).unwrap_or(frames.len()))
    })
}

/// Cuts a title whose frames are `frames` into chunks of exactly
/// `per_chunk` frames (at least 1), wherever the source's keyframes are; a
/// rest shorter than 1.5 × `per_chunk` stays in the last chunk.
///
/// With `per_chunk` a multiple of the encoder's keyframe interval, a chunk
/// encoded on its own places its keyframes where an encode of the whole
/// title would (absent scene cuts), so the IDR picture starting the next
/// chunk replaces one the whole-title encode has anyway: cuts 6 s apart
/// under a 5 s interval added a keyframe a second or less after another at
/// most cuts, about 3% of the bytes on the 49 s benchmark title
/// (docs/benchmarks.md). A cut off a source keyframe costs decoding from
/// the keyframe before it, not an encode.
pub fn plan_every(frames: &[SourceFrame], per_chunk: usize) -> Vec<Chunk> {
    let per = per_chunk.max(1);
    cut(frames, |i| if ((frames.len() - i) as f64) < 1.5 * per as f64 { frames.len() } else { i + per })
}

/// The chunks between the cuts `next_cut` gives: from a chunk's first
/// frame index, the index of the next chunk's first (`frames.len()` ends).
fn cut(frames: &[SourceFrame], next_cut: impl Fn(usize) -> usize) -> Vec<Chunk> {
    let Some(last_t) = frames.last().map(|f| f.t_us) else { return Vec::new() };
    let mut chunks = Vec::new();
    let mut i = 0;
    while i < frames.len() {
        let t0 = frames[i].t_us;
        let cut = next_cut(i).clamp(i + 1, frames.len());
        let end_us = frames.get(cut).map_or(last_t + 1_000_000, |f| f.t_us);
        // The first chunk starts at the source's start: frames before the
        // first timestamp cannot exist, and an encode of the whole title
        // begins there too.
        let start_us = if i == 0 { 0 } else { t0 };
        chunks.push(Chunk {
            index: chunks.len(),
            start_us,
            first_frame_us: t0,
            end_us,
            frames: (cut - i) as u64,
            on_source_keyframe: frames[i].key,
        });
        i = cut;
    }
    chunks
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 25 fps frames, a keyframe every `gop` frames.
    fn frames(n: i64, gop: i64) -> FrameTimes {
        (0..n).map(|k| SourceFrame { t_us: k * 40_000, key: k % gop == 0, bytes: 1000 }).collect()
    }

    #[test]
    fn cuts_prefer_source_keyframes_and_cover_every_frame_once() {
        // 20 s, keyframes every 2.4 s (60 frames): 4.8 s and 7.2 s after a
        // start are both 1.2 s from 6 s; the earlier wins, so 4.8 s chunks.
        let f = frames(500, 60);
        let chunks = plan(&f, 6.0);
        assert_eq!(chunks.iter().map(|c| c.frames).sum::<u64>(), 500);
        assert!(chunks.iter().all(|c| c.on_source_keyframe), "{chunks:?}");
        for w in chunks.windows(2) {
            assert_eq!(w[0].end_us, w[1].start_us);
            let len = (w[0].end_us - w[0].start_us) as f64 / 1e6;
            assert!((len - 4.8).abs() < 1e-9, "{len}");
        }
        assert_eq!(chunks[0].start_us, 0);
        assert!(chunks.iter().all(|c| c.first_frame_us == c.start_us));
        assert_eq!(chunks.last().unwrap().end_us, 499 * 40_000 + 1_000_000);
    }

    #[test]
    fn without_keyframes_nearby_a_cut_is_the_first_frame_past_the_target() {
        // One keyframe only (at 0): cuts every 6 s exactly; the 2 s rest joins the last chunk.
        let chunks = plan(&frames(500, 10_000), 6.0);
        let starts: Vec<i64> = chunks.iter().map(|c| c.start_us).collect();
        assert_eq!(starts, [0, 6_000_000, 12_000_000]);
        assert_eq!(chunks.iter().map(|c| c.frames).collect::<Vec<_>>(), [150, 150, 200]);
        assert!(!chunks[1].on_source_keyframe);
        // A short title is one chunk.
        assert_eq!(plan(&frames(200, 10_000), 6.0).len(), 1);
        assert!(plan(&[], 6.0).is_empty());
        // Video starting after the container (audio first): the first
        // chunk's range still starts at 0, its first frame where it is.
        let late: FrameTimes =
            frames(500, 10_000).into_iter().map(|f| SourceFrame { t_us: f.t_us + 21_000, ..f }).collect();
        let chunks = plan(&late, 6.0);
        assert_eq!((chunks[0].start_us, chunks[0].first_frame_us), (0, 21_000));
        assert_eq!((chunks[1].start_us, chunks[1].first_frame_us), (6_021_000, 6_021_000));
    }

    #[test]
    fn cuts_every_n_frames_ignore_source_keyframes_and_keep_a_short_rest() {
        // 500 frames, keyframes every 60: cuts every 125 frames all the same.
        let f = frames(500, 60);
        let chunks = plan_every(&f, 125);
        assert_eq!(chunks.iter().map(|c| c.frames).collect::<Vec<_>>(), [125, 125, 125, 125]);
        assert_eq!(chunks[1].start_us, 125 * 40_000);
        assert_eq!(chunks[3].end_us, 499 * 40_000 + 1_000_000);
        assert!(!chunks[1].on_source_keyframe && chunks[0].on_source_keyframe);
        // A rest of 1.5 chunks or more is a chunk of its own.
        assert_eq!(plan_every(&frames(440, 60), 125).iter().map(|c| c.frames).collect::<Vec<_>>(), [125, 125, 125, 65]);
        assert_eq!(plan_every(&frames(437, 60), 125).iter().map(|c| c.frames).collect::<Vec<_>>(), [125, 125, 187]);
        assert_eq!(plan_every(&frames(438, 60), 125).iter().map(|c| c.frames).collect::<Vec<_>>(), [125, 125, 125, 63]);
        assert_eq!(plan_every(&frames(100, 60), 125).len(), 1);
        assert!(plan_every(&[], 125).is_empty());
    }

    #[test]
    fn an_encode_range_starts_on_the_first_frame_in_whole_microseconds() {
        let c = Chunk {
            index: 1,
            start_us: 6_006_000,
            first_frame_us: 6_006_000,
            end_us: 12_012_000,
            frames: 180,
            on_source_keyframe: true,
        };
        let (s, e) = c.range();
        // What the transcode's source and clock do with the range: whole µs, rounded.
        assert_eq!((s * 1e6).round() as i64, 6_006_000);
        assert_eq!(((e - s) * 1e6).round() as i64, 6_006_000);
    }
}
