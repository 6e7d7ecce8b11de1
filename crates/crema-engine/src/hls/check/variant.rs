//! Rules on one variant of the master playlist against what its media
//! playlist and first segment really hold, and the rules across playlists
//! (durations, segment alignment between rungs).

use std::collections::HashSet;

use m3u8_rs::VariantStream;

use super::super::master::VideoRange;

use super::media::MediaCheck;
use super::report::CheckReport;
use super::rules::*;
use super::segment::{Kind, StreamFacts};

/// An audio-only variant: its BANDWIDTH and AVERAGE-BANDWIDTH against its
/// own measured segments, and its CODECS against the stream.
pub(super) fn check_audio_variant(
    report: &mut CheckReport,
    location: &str,
    variant: &VariantStream,
    media: Option<&MediaCheck>,
) {
    if variant.average_bandwidth.is_none() {
        report.push(VARIANT_AVERAGE_BANDWIDTH_MISSING, location, "EXT-X-STREAM-INF has no AVERAGE-BANDWIDTH");
    }
    let Some(media) = media else { return };
    let (peak, average) = (media.stats.peak_bps, media.stats.average_bps);
    if (variant.bandwidth as f64) < peak as f64 * 0.99 {
        let message = format!("BANDWIDTH={} but the measured peak segment bit rate is {peak} bit/s", variant.bandwidth);
        report.push(VARIANT_BANDWIDTH_PEAK, location, message);
    } else if variant.bandwidth as f64 > peak as f64 * 1.10 {
        let message =
            format!("BANDWIDTH={} is more than 10% above the measured peak of {peak} bit/s", variant.bandwidth);
        report.push(VARIANT_BANDWIDTH_OVERSTATED, location, message);
    }
    if let Some(declared) = variant.average_bandwidth
        && (declared as f64 - average as f64).abs() > average as f64 * 0.10
    {
        let message =
            format!("AVERAGE-BANDWIDTH={declared} but the measured average segment bit rate is {average} bit/s");
        report.push(VARIANT_AVERAGE_BANDWIDTH, location, message);
    }
    let real = media.facts.as_ref().and_then(|f| f.codec_string.clone());
    if let (Some(declared), Some(real)) = (variant.codecs.as_deref(), real)
        && !declared.split(',').any(|c| c.trim() == real)
    {
        report.push(VARIANT_CODECS, location, format!("CODECS=\"{declared}\" but the audio is {real}"));
    }
}

/// Compares a variant's declared attributes with its first segment.
pub(super) fn check_variant_against_stream(
    report: &mut CheckReport,
    location: &str,
    variant: &VariantStream,
    codecs: Option<&str>,
    facts: &StreamFacts,
    audio_codecs: &[Option<String>],
) {
    if let (Some(declared), Some(video_codec)) = (codecs, &facts.codec_string) {
        let mut expected: Vec<String> = vec![video_codec.clone()];
        for c in audio_codecs.iter().flatten() {
            if !expected.iter().any(|e| e.eq_ignore_ascii_case(c)) {
                expected.push(c.clone());
            }
        }
        let declared_set: HashSet<String> =
            declared.split(',').map(|c| c.trim().to_ascii_lowercase()).filter(|c| !c.is_empty()).collect();
        let expected_set: HashSet<String> = expected.iter().map(|c| c.to_ascii_lowercase()).collect();
        if declared_set != expected_set {
            report.push(
                VARIANT_CODECS,
                location,
                format!("CODECS=\"{declared}\" but the segments contain \"{}\"", expected.join(",")),
            );
        }
    }
    if let Some(tag) = &facts.sample_entry
        && (tag == "avc3" || tag == "hev1")
    {
        let wanted = if tag == "avc3" { "avc1" } else { "hvc1" };
        report.push(VARIANT_SAMPLE_ENTRY, location, format!("the video uses the '{tag}' sample entry; use '{wanted}'"));
    }
    if let Some(res) = &variant.resolution
        && (res.width != u64::from(facts.width) || res.height != u64::from(facts.height))
    {
        report.push(
            VARIANT_RESOLUTION,
            location,
            format!("RESOLUTION={}x{} but the video is {}x{}", res.width, res.height, facts.width, facts.height),
        );
    }
    // FRAME-RATE is the maximum frame rate of the variant (RFC 8216
    // §4.3.4.2): for a constant rate it equals the average; for a variable
    // one it lies between the average and the base rate every timestamp fits.
    if let (Some(declared), Some(average)) = (variant.frame_rate, facts.frame_rate) {
        let max = facts.nominal_frame_rate.unwrap_or(average).max(average);
        let tolerance = |r: f64| 0.01 + r * 0.001;
        if declared < average - tolerance(average) || declared > max + tolerance(max) {
            let range = if (max - average).abs() > tolerance(max) {
                format!("between its average {average:.3} and maximum {max:.3} fps")
            } else {
                format!("{average:.3} fps")
            };
            report.push(VARIANT_FRAME_RATE, location, format!("FRAME-RATE={declared} but the video runs at {range}"));
        }
    }
    let declared_range =
        variant.other_attributes.as_ref().and_then(|a| a.get("VIDEO-RANGE")).map(|v| v.as_str().to_string());
    match (declared_range.as_deref(), facts.range) {
        (None, VideoRange::Sdr) => {}
        (None, real) => report.push(
            VARIANT_VIDEO_RANGE,
            location,
            format!("the video is {} but EXT-X-STREAM-INF has no VIDEO-RANGE", real.as_str()),
        ),
        (Some(declared), real) if VideoRange::parse(declared) != Some(real) => report.push(
            VARIANT_VIDEO_RANGE,
            location,
            format!("VIDEO-RANGE={declared} but the video's transfer characteristics are {}", real.as_str()),
        ),
        _ => {}
    }
}

/// Apple 8.3/8.7: every media playlist covers the same time range.
pub(super) fn check_durations(report: &mut CheckReport, videos: &[&MediaCheck], all: &[&MediaCheck]) {
    let Some(reference) = videos.first() else {
        return;
    };
    for other in videos.iter().skip(1) {
        let tolerance = reference.frame_duration.max(other.frame_duration) + 0.001;
        if (other.total_s - reference.total_s).abs() > tolerance {
            report.push(
                MEDIA_DURATION_MISMATCH,
                other.location.clone(),
                format!("lasts {:.3} s but {} lasts {:.3} s", other.total_s, reference.location, reference.total_s),
            );
        }
    }
    for audio in all.iter().filter(|m| m.kind == Kind::Audio) {
        if (audio.total_s - reference.total_s).abs() > 0.5 {
            report.push(
                MEDIA_DURATION_MISMATCH,
                audio.location.clone(),
                format!(
                    "audio lasts {:.3} s but the video ({}) lasts {:.3} s",
                    audio.total_s, reference.location, reference.total_s
                ),
            );
        }
    }
}

/// Apple 8.22 / RFC 8216 §6.2.4: segment N of every rung covers the same time.
pub(super) fn check_alignment(report: &mut CheckReport, videos: &[&MediaCheck]) {
    let Some(reference) = videos.first() else {
        return;
    };
    let ref_starts = reference.relative_starts();
    for other in videos.iter().skip(1) {
        if other.durations.len() != reference.durations.len() {
            report.push(
                ALIGN_SEGMENT_COUNT,
                other.location.clone(),
                format!(
                    "{} segments but {} has {}",
                    other.durations.len(),
                    reference.location,
                    reference.durations.len()
                ),
            );
        }
        let tolerance = reference.frame_duration.max(other.frame_duration) + 0.001;
        let starts = other.relative_starts();
        let mut bad = Vec::new();
        for (n, ((start, duration), (ref_start, ref_duration))) in
            starts.iter().zip(&other.durations).zip(ref_starts.iter().zip(&reference.durations)).enumerate()
        {
            let is_last = n + 1 == other.durations.len() || n + 1 == reference.durations.len();
            let duration_off = !is_last && (duration - ref_duration).abs() > tolerance;
            if (start - ref_start).abs() > tolerance || duration_off {
                bad.push((n, *start, *duration, *ref_start, *ref_duration));
            }
        }
        if let Some(&(n, start, duration, ref_start, ref_duration)) = bad.first() {
            report.push(
                ALIGN_KEYFRAMES,
                other.location.clone(),
                format!(
                    "segment {n} starts at {start:.3} s and lasts {duration:.3} s but in {} it starts at {ref_start:.3} s and lasts {ref_duration:.3} s ({} of {} segments misaligned)",
                    reference.location,
                    bad.len(),
                    other.durations.len().min(reference.durations.len())
                ),
            );
        }
    }
}
