//! Encode requests and results, and the rules every request obeys, in one
//! place.
//!
//! The types callers build and read are in [`types`] ([`EncodeRequest`],
//! [`FileRequest`], [`HlsRequest`], [`Container`]) and [`report`]
//! ([`EncodeResult`], [`OutputReport`], [`FinalArtifact`]...); both are
//! re-exported here. This module owns the rules.
//!
//! The CLI (`crema encode`), the service (`POST /v1/jobs`, watch rules) and
//! [`crate::encode::run`] itself all call [`check_output`], so a height, a
//! ladder or a segment length is accepted or refused the same way
//! everywhere, with the same words.
//!
//! | rule | value | why |
//! |---|---|---|
//! | output and rung height | [`MIN_HEIGHT`]..=[`MAX_HEIGHT`] pixels | 144p is the smallest rung of common ladders; 4320 is 8K UHD (ITU-R BT.2020's largest picture) |
//! | ladder rungs | at most [`MAX_RUNGS`] distinct heights | bounds one job's memory and CPU (see [`crate::budget`]); duplicates count once |
//! | segment length | [`MIN_SEGMENT_SECONDS`]..=[`MAX_SEGMENT_SECONDS`] seconds | Apple's HLS Authoring Specification (§7) asks for 6 s target durations; Crema allows 1..20 s around it. Every segment starts with a forced IDR, so shorter segments cost bits and longer ones make start-up and seeking coarse; the service once allowed 60 s, the CLI 20 s: 20 s is now the one rule |
//!
//! The ladder cap: Apple's example H.264 ladder (HLS Authoring
//! Specification §2.3) has 9 variants over 6 heights (234p..1080p), and
//! the usual heights from 144p to 2160p are 8 (144, 240, 360, 480, 720,
//! 1080, 1440, 2160). Each rung is one more
//! encoder running at the same time, each holding its own frames: 289
//! distinct heights once took the server to 3.2 GB in 12 s.

use std::fmt;
use std::ops::RangeInclusive;

use crate::error::EngineError;

pub mod report;
pub mod types;

pub use report::{
    ChunkQuality, EncodeResult, EncoderOption, EncoderReport, FinalArtifact, MeasuredQuality, OutputReport, RungReport,
    VerifiedQuality,
};
pub use types::{Container, EncodeRequest, FileRequest, HlsRequest};

/// Smallest output or rung height, pixels.
pub const MIN_HEIGHT: u32 = 144;
/// Largest output or rung height, pixels (8K UHD).
pub const MAX_HEIGHT: u32 = 4320;
/// Most rungs one HLS ladder may ask for (distinct heights; a height asked
/// twice is one rung).
pub const MAX_RUNGS: usize = 8;
/// Shortest HLS target segment duration, seconds.
pub const MIN_SEGMENT_SECONDS: f64 = 1.0;
/// Longest HLS target segment duration, seconds.
pub const MAX_SEGMENT_SECONDS: f64 = 20.0;

/// The heights [`check_output`] accepts, pixels.
pub const HEIGHTS: RangeInclusive<u32> = MIN_HEIGHT..=MAX_HEIGHT;

/// Which part of a request a [`RequestError`] is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    /// The single file's target height.
    TargetHeight,
    /// The HLS ladder's rung heights.
    Renditions,
    /// The HLS target segment duration.
    SegmentSeconds,
    /// `sophon-auto`'s VMAF target.
    TargetVmaf,
}

impl Field {
    /// The field's name in the `/v1` API (`output.hls.renditions`).
    pub fn api_name(self) -> &'static str {
        match self {
            Field::TargetHeight => "output.target_height",
            Field::Renditions => "output.hls.renditions",
            Field::SegmentSeconds => "output.hls.segment_seconds",
            Field::TargetVmaf => "output.quality_target",
        }
    }

    /// The `crema encode` flag that sets it (`--renditions`).
    pub fn cli_flag(self) -> &'static str {
        match self {
            Field::TargetHeight => "--target-height",
            Field::Renditions => "--renditions",
            Field::SegmentSeconds => "--segment-seconds",
            Field::TargetVmaf => "--target-vmaf",
        }
    }
}

/// A request that breaks one of the rules above: which field, and why in
/// words that name the allowed values (no field name inside: callers add
/// their own spelling of it, [`Field::api_name`] or [`Field::cli_flag`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestError {
    /// The field at fault.
    pub field: Field,
    /// Why, e.g. "must be 144..4320, got 5000".
    pub message: String,
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field.cli_flag(), self.message)
    }
}

impl std::error::Error for RequestError {}

impl From<RequestError> for EngineError {
    fn from(e: RequestError) -> Self {
        EngineError::Usage(e.to_string())
    }
}

/// The VMAF targets `sophon-auto` accepts (0..100 scale, `vmaf_v0.6.1`):
/// below 50 is no longer watchable material, above 99 no encode reaches
/// reliably.
pub const TARGET_VMAF: RangeInclusive<f64> = 50.0..=99.0;

/// Checks a VMAF target ([`EncodeRequest::target_vmaf`]).
///
/// Errors: a [`RequestError`] for [`Field::TargetVmaf`] outside [`TARGET_VMAF`] or not a number.
pub fn check_target_vmaf(target: Option<f64>) -> Result<(), RequestError> {
    match target {
        Some(t) if !TARGET_VMAF.contains(&t) => Err(RequestError {
            field: Field::TargetVmaf,
            message: format!("must be a VMAF of {}..{}, got {t}", TARGET_VMAF.start(), TARGET_VMAF.end()),
        }),
        _ => Ok(()),
    }
}

/// The HLS part of a request, as [`check_output`] reads it.
#[derive(Clone, Copy, Debug)]
pub struct HlsShape<'a> {
    /// Rung heights in pixels, as asked (duplicates allowed).
    pub renditions: &'a [u32],
    /// Target segment duration, seconds.
    pub segment_seconds: f64,
}

/// Checks the shape of an output request against the rules of this module:
/// `target_height` (single file) and, when an HLS ladder is asked for, its
/// rung heights and segment length.
///
/// Errors: a [`RequestError`] naming the first field at fault: a height
/// outside [`HEIGHTS`]; no rung at all; more than [`MAX_RUNGS`] distinct
/// rung heights; a segment length that is not a finite number of seconds in
/// [`MIN_SEGMENT_SECONDS`]..=[`MAX_SEGMENT_SECONDS`].
pub fn check_output(target_height: Option<u32>, hls: Option<HlsShape<'_>>) -> Result<(), RequestError> {
    if let Some(h) = target_height.filter(|h| !HEIGHTS.contains(h)) {
        return Err(RequestError {
            field: Field::TargetHeight,
            message: format!("must be {MIN_HEIGHT}..{MAX_HEIGHT} pixels, got {h}"),
        });
    }
    let Some(hls) = hls else { return Ok(()) };
    let err = |message: String| RequestError { field: Field::Renditions, message };
    if hls.renditions.is_empty() {
        return Err(err("must list at least one height".into()));
    }
    if let Some(h) = hls.renditions.iter().find(|h| !HEIGHTS.contains(*h)) {
        return Err(err(format!("heights must be {MIN_HEIGHT}..{MAX_HEIGHT} pixels, got {h}")));
    }
    let mut distinct = hls.renditions.to_vec();
    distinct.sort_unstable();
    distinct.dedup();
    if distinct.len() > MAX_RUNGS {
        return Err(err(format!("at most {MAX_RUNGS} distinct heights per ladder, got {}", distinct.len())));
    }
    let s = hls.segment_seconds;
    if !(s.is_finite() && (MIN_SEGMENT_SECONDS..=MAX_SEGMENT_SECONDS).contains(&s)) {
        return Err(RequestError {
            field: Field::SegmentSeconds,
            message: format!("must be {MIN_SEGMENT_SECONDS}..{MAX_SEGMENT_SECONDS} seconds, got {s}"),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hls(renditions: &[u32], segment_seconds: f64) -> Option<HlsShape<'_>> {
        Some(HlsShape { renditions, segment_seconds })
    }

    #[test]
    fn heights_segments_and_the_rung_cap() {
        assert!(check_output(None, None).is_ok());
        assert!(check_output(Some(144), hls(&[4320, 144], 1.0)).is_ok());
        assert!(check_output(Some(4320), hls(&[720], 20.0)).is_ok());
        assert_eq!(check_output(Some(143), None).unwrap_err().field, Field::TargetHeight);
        assert_eq!(check_output(Some(4321), None).unwrap_err().field, Field::TargetHeight);
        let e = check_output(None, hls(&[720, 5000], 6.0)).unwrap_err();
        assert_eq!((e.field, e.message.as_str()), (Field::Renditions, "heights must be 144..4320 pixels, got 5000"));
        assert_eq!(check_output(None, hls(&[], 6.0)).unwrap_err().field, Field::Renditions);
        for bad in [0.5, 20.5, f64::NAN, f64::INFINITY, -1.0] {
            assert_eq!(check_output(None, hls(&[720], bad)).unwrap_err().field, Field::SegmentSeconds, "{bad}");
        }
    }

    #[test]
    fn vmaf_targets_are_50_to_99() {
        assert!(check_target_vmaf(None).is_ok());
        assert!(check_target_vmaf(Some(50.0)).is_ok() && check_target_vmaf(Some(99.0)).is_ok());
        for bad in [49.9, 99.5, f64::NAN, -1.0] {
            let e = check_target_vmaf(Some(bad)).unwrap_err();
            assert_eq!(e.field, Field::TargetVmaf, "{bad}");
        }
        let e: EngineError = check_target_vmaf(Some(120.0)).unwrap_err().into();
        assert!(matches!(&e, EngineError::Usage(m) if m == "--target-vmaf: must be a VMAF of 50..99, got 120"), "{e}");
    }

    #[test]
    fn at_most_eight_distinct_rungs_and_duplicates_count_once() {
        let eight = [1080, 900, 720, 576, 480, 360, 240, 144];
        assert!(check_output(None, hls(&eight, 6.0)).is_ok());
        let doubled: Vec<u32> = eight.iter().chain(&eight).copied().collect();
        assert!(check_output(None, hls(&doubled, 6.0)).is_ok());
        let nine = [1080, 900, 720, 576, 480, 360, 240, 144, 2160];
        let e = check_output(None, hls(&nine, 6.0)).unwrap_err();
        assert_eq!((e.field, e.message.as_str()), (Field::Renditions, "at most 8 distinct heights per ladder, got 9"));
        // The outside test's request: 289 distinct heights.
        let many: Vec<u32> = (144..144 + 289).collect();
        assert!(check_output(None, hls(&many, 6.0)).unwrap_err().message.contains("got 289"));
        let e: EngineError = check_output(None, hls(&nine, 6.0)).unwrap_err().into();
        assert!(matches!(&e, EngineError::Usage(m) if m.starts_with("--renditions: at most 8")), "{e}");
    }
}
