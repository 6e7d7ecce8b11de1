//! The HLS package checker behind `crema hls check DIR`.
//!
//! [`check_package`] re-reads a package from disk (the master playlist, each
//! media playlist, the segment files, and through libavformat the parameter
//! sets and first video packet of every segment) and reports every rule of
//! RFC 8216 and Apple's *HLS Authoring Specification for Apple Devices* it
//! breaks, each with a stable id and the clause it comes from; [`RULES`]
//! lists them all.
//!
//! What it measures and how:
//!
//! - Bit rates: the RFC 8216 §4.1 peak and average segment bit rates from the
//!   segment sizes on disk (initialization sections excluded), summed over
//!   the video playlist and the largest audio rendition of its group.
//! - Codecs, resolution, frame rate, dynamic range: the first segment of
//!   each playlist is opened with its initialization section
//!   (`concat:init.mp4|seg.m4s`) and probed; the codec string is rebuilt
//!   from the stream's extradata with [`super::codecs`].
//! - Keyframes and alignment: every other segment is opened without probing
//!   and only its first video packet is read (key flag and PTS). Segment
//!   start times are compared across rungs relative to each rung's first
//!   segment, so a constant decoder delay (B-frame reordering) that differs
//!   between encoders does not count as misalignment.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use m3u8_rs::{AlternativeMediaType, MasterPlaylist, VariantStream};

use super::playlist::{MASTER_PLAYLIST, PlaylistStats};
use crate::error::{EngineError, Result};

mod media;
mod report;
mod rules;
mod segment;
mod variant;

use self::media::{Checker, MediaCheck};
use self::segment::Kind;
use self::variant::{check_alignment, check_audio_variant, check_durations, check_variant_against_stream};
pub use report::{CheckReport, Violation};
use rules::*;
pub use rules::{RULES, Rule};

/// Checks the HLS package in folder `dir` (with `master.m3u8` at its root)
/// and returns every violation found; see [`RULES`] for the list. The
/// package is only read, never changed.
///
/// Errors only when the check cannot run at all:
/// [`EngineError::InputUnreadable`] when `dir` is not a readable folder,
/// [`EngineError::Internal`] when FFmpeg cannot be initialised. A missing or
/// broken master playlist is a violation (`master.parse`), not an error.
pub fn check_package(dir: &Path) -> Result<CheckReport> {
    crate::init()?;
    std::fs::read_dir(dir)
        .map_err(|e| EngineError::InputUnreadable { path: dir.to_path_buf(), cause: e.to_string() })?;
    let mut report = CheckReport::default();

    let master_path = dir.join(MASTER_PLAYLIST);
    let master = match read_master(&master_path) {
        Ok(m) => m,
        Err(cause) => {
            report.push(MASTER_PARSE, MASTER_PLAYLIST, cause);
            return Ok(report);
        }
    };
    if !master.independent_segments {
        report.push(MASTER_INDEPENDENT, MASTER_PLAYLIST, "EXT-X-INDEPENDENT-SEGMENTS is missing");
    }
    let variants: Vec<&VariantStream> = master.variants.iter().filter(|v| !v.is_i_frame).collect();
    report.variants = variants.len();
    if variants.len() < 2 {
        report.push(
            MASTER_VARIANTS,
            MASTER_PLAYLIST,
            format!("{} video variant(s); at least two bit rates are required", variants.len()),
        );
    }

    let mut checker = Checker { root: dir.to_path_buf(), cache: HashMap::new() };

    // Audio renditions.
    let audio: Vec<_> = master.alternatives.iter().filter(|a| a.media_type == AlternativeMediaType::Audio).collect();
    report.audio_renditions = audio.len();
    let mut audio_groups: HashMap<&str, Vec<Option<PathBuf>>> = HashMap::new();
    for rendition in &audio {
        let location = format!("{MASTER_PLAYLIST} (audio {:?})", rendition.name);
        if rendition.language.as_deref().is_none_or(|l| l.trim().is_empty()) {
            report.push(AUDIO_LANGUAGE, location.clone(), "EXT-X-MEDIA TYPE=AUDIO has no LANGUAGE");
        }
        let key = rendition.uri.as_deref().and_then(|uri| checker.media(uri, Kind::Audio, &mut report));
        audio_groups.entry(rendition.group_id.as_str()).or_default().push(key);
    }

    // Variants.
    let mut video_keys: Vec<PathBuf> = Vec::new();
    let mut audio_variant_keys: Vec<PathBuf> = Vec::new();
    for variant in &variants {
        let location = format!("{MASTER_PLAYLIST} ({})", variant.uri);
        let codecs = variant.codecs.as_deref().filter(|c| !c.trim().is_empty());
        if codecs.is_none() {
            report.push(VARIANT_CODECS_MISSING, location.clone(), "EXT-X-STREAM-INF has no CODECS");
        }
        // An audio-only variant (RFC 8216 §4.3.4.2: CODECS lists audio
        // only) has no RESOLUTION or FRAME-RATE; its playlist is audio.
        let audio_only = codecs.is_some_and(only_audio_codecs);
        if audio_only {
            if let Some(key) = checker.media(&variant.uri, Kind::Audio, &mut report) {
                check_audio_variant(&mut report, &location, variant, checker.cache.get(&key).and_then(Option::as_ref));
                audio_variant_keys.push(key);
            }
            continue;
        }
        if let Some(key) =
            check_video_variant(&mut report, &mut checker, variant, &location, codecs, &audio_groups, !audio.is_empty())
        {
            video_keys.push(key);
        }
    }

    // Cross-playlist rules.
    let checked: Vec<&MediaCheck> = checker.cache.values().flatten().collect();
    let targets: HashSet<u64> = checked.iter().map(|m| m.target).collect();
    if targets.len() > 1 {
        let mut listed: Vec<String> = checked.iter().map(|m| format!("{} has {} s", m.location, m.target)).collect();
        listed.sort();
        report.push(
            MEDIA_TARGET_MISMATCH,
            MASTER_PLAYLIST,
            format!("EXT-X-TARGETDURATION differs between media playlists: {}", listed.join(", ")),
        );
    }
    let videos: Vec<&MediaCheck> = unique(&video_keys).iter().filter_map(|k| checker.cache.get(*k)?.as_ref()).collect();
    check_durations(&mut report, &videos, &checked);
    if videos.is_empty() {
        // An audio-only package: every playlist within 0.5 s of the first variant's.
        let first = audio_variant_keys.first().and_then(|k| checker.cache.get(k)?.as_ref());
        check_durations(&mut report, &first.into_iter().collect::<Vec<_>>(), &checked);
    }
    check_alignment(&mut report, &videos);

    report.segments = checked.iter().map(|m| m.durations.len()).sum();
    Ok(report)
}

/// A video variant: its required attributes and audio group, and its
/// BANDWIDTH and AVERAGE-BANDWIDTH against the measured segments (video
/// plus the largest audio rendition of its group), then its attributes
/// against the stream. Returns its media playlist's cache key, when the
/// URI names a package file.
fn check_video_variant(
    report: &mut CheckReport,
    checker: &mut Checker,
    variant: &VariantStream,
    location: &str,
    codecs: Option<&str>,
    audio_groups: &HashMap<&str, Vec<Option<PathBuf>>>,
    has_audio: bool,
) -> Option<PathBuf> {
    if variant.resolution.is_none() {
        report.push(VARIANT_RESOLUTION_MISSING, location, "EXT-X-STREAM-INF has no RESOLUTION");
    }
    if variant.frame_rate.is_none() {
        report.push(VARIANT_FRAME_RATE_MISSING, location, "EXT-X-STREAM-INF has no FRAME-RATE");
    }
    if variant.average_bandwidth.is_none() {
        report.push(VARIANT_AVERAGE_BANDWIDTH_MISSING, location, "EXT-X-STREAM-INF has no AVERAGE-BANDWIDTH");
    }

    // The audio renditions this variant plays with.
    let group: Vec<&MediaCheck> = match &variant.audio {
        Some(group_id) => match audio_groups.get(group_id.as_str()) {
            Some(keys) => keys.iter().flatten().filter_map(|k| checker.cache.get(k)?.as_ref()).collect(),
            None => {
                let message = format!("AUDIO=\"{group_id}\" but no EXT-X-MEDIA TYPE=AUDIO has that GROUP-ID");
                report.push(VARIANT_AUDIO_GROUP, location, message);
                Vec::new()
            }
        },
        None => {
            if has_audio {
                report.push(
                    VARIANT_AUDIO_MISSING,
                    location,
                    "the package has audio renditions but this variant has no AUDIO attribute",
                );
            }
            Vec::new()
        }
    };
    let group_stats: Vec<PlaylistStats> = group.iter().map(|m| m.stats.clone()).collect();
    let group_codecs: Vec<Option<String>> =
        group.iter().map(|m| m.facts.as_ref().and_then(|f| f.codec_string.clone())).collect();

    let key = checker.media(&variant.uri, Kind::Video, report)?;
    let Some(video) = checker.cache.get(&key).and_then(Option::as_ref) else {
        return Some(key);
    };

    // Bandwidth against measurement: video + the largest audio rendition.
    let audio_peak = group_stats.iter().map(|s| s.peak_bps).max().unwrap_or(0);
    let audio_avg = group_stats.iter().map(|s| s.average_bps).max().unwrap_or(0);
    let peak = video.stats.peak_bps + audio_peak;
    let average = video.stats.average_bps + audio_avg;
    if (variant.bandwidth as f64) < peak as f64 * 0.99 {
        report.push(
            VARIANT_BANDWIDTH_PEAK,
            location,
            format!("BANDWIDTH={} but the measured peak segment bit rate is {peak} bit/s", variant.bandwidth),
        );
    } else if variant.bandwidth as f64 > peak as f64 * 1.10 {
        report.push(
            VARIANT_BANDWIDTH_OVERSTATED,
            location,
            format!("BANDWIDTH={} is more than 10% above the measured peak of {peak} bit/s", variant.bandwidth),
        );
    }
    if let Some(declared) = variant.average_bandwidth
        && (declared as f64 - average as f64).abs() > average as f64 * 0.10
    {
        report.push(
            VARIANT_AVERAGE_BANDWIDTH,
            location,
            format!("AVERAGE-BANDWIDTH={declared} but the measured average segment bit rate is {average} bit/s"),
        );
    }

    if let Some(facts) = &video.facts {
        check_variant_against_stream(report, location, variant, codecs, facts, &group_codecs);
    }
    Some(key)
}

/// Whether every codec of a `CODECS` value is an audio codec (RFC 6381
/// sample entry names HLS carries: AAC, AC-3, E-AC-3, Opus, FLAC, ALAC, MP3).
fn only_audio_codecs(codecs: &str) -> bool {
    const AUDIO: &[&str] = &["mp4a", "ac-3", "ec-3", "opus", "flac", "alac", "mp3", ".mp3"];
    codecs.split(',').map(str::trim).all(|c| {
        let entry = c.split('.').next().unwrap_or(c).to_ascii_lowercase();
        AUDIO.contains(&entry.as_str())
    })
}

fn unique(keys: &[PathBuf]) -> Vec<&PathBuf> {
    let mut seen = HashSet::new();
    keys.iter().filter(|k| seen.insert(*k)).collect()
}

fn read_master(path: &Path) -> std::result::Result<MasterPlaylist, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read the master playlist: {e}"))?;
    if !bytes.starts_with(b"#EXTM3U") {
        return Err("not an HLS playlist (no #EXTM3U header)".into());
    }
    match m3u8_rs::parse_playlist_res(&bytes) {
        Ok(m3u8_rs::Playlist::MasterPlaylist(m)) => Ok(m),
        Ok(m3u8_rs::Playlist::MediaPlaylist(_)) => Err("is a media playlist, not a master playlist".into()),
        Err(e) => Err(format!("cannot parse the master playlist: {e:?}")),
    }
}
