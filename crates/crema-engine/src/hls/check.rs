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
use std::ffi::CString;
use std::fmt;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use ffmpeg_next as ffmpeg;
use m3u8_rs::{AlternativeMediaType, MasterPlaylist, MediaPlaylistType, VariantStream};

use super::codecs::codec_string_from_parameters;
use super::master::{
    SegmentFile, VideoRange, max_rounded_extinf, peak_and_average_bps, read_media_playlist, required_version,
    resolve_segments, resolve_uri, segment_size,
};
use super::{MASTER_PLAYLIST, PlaylistStats};
use crate::error::{EngineError, Result};

/// A rule the checker enforces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rule {
    /// Stable short id (`"variant.bandwidth-peak"`), for scripts and tests.
    pub id: &'static str,
    /// The clause it comes from (`"RFC 8216 §4.3.3.1"`, `"Apple HLS Authoring Spec 7.4"`).
    pub spec: &'static str,
    /// What the rule requires, in one line.
    pub summary: &'static str,
}

macro_rules! rules {
    ($($name:ident = ($id:literal, $spec:literal, $summary:literal);)*) => {
        $(const $name: Rule = Rule { id: $id, spec: $spec, summary: $summary };)*
        /// Every rule [`check_package`] enforces, in the order it checks them.
        pub const RULES: &[Rule] = &[$($name),*];
    };
}

rules! {
    MASTER_PARSE = (
        "master.parse",
        "RFC 8216 §4.1, §4.3.4",
        "master.m3u8 exists and parses as a master playlist"
    );
    MASTER_INDEPENDENT = (
        "master.independent-segments",
        "Apple HLS Authoring Spec 9.11; RFC 8216 §4.3.5.1",
        "the master playlist carries EXT-X-INDEPENDENT-SEGMENTS"
    );
    MASTER_VARIANTS = (
        "master.variants",
        "Apple HLS Authoring Spec 9.9",
        "the master playlist offers multiple bit rates of video (at least two variants)"
    );
    VARIANT_PLAYLIST = (
        "variant.playlist",
        "RFC 8216 §4.3.4.2",
        "every variant URI names a media playlist inside the package"
    );
    VARIANT_CODECS_MISSING = (
        "variant.codecs-missing",
        "Apple HLS Authoring Spec 9.1; RFC 8216 §4.3.4.2",
        "every EXT-X-STREAM-INF has CODECS"
    );
    VARIANT_RESOLUTION_MISSING = (
        "variant.resolution-missing",
        "Apple HLS Authoring Spec 9.2; RFC 8216 §4.3.4.2",
        "every EXT-X-STREAM-INF with video has RESOLUTION"
    );
    VARIANT_FRAME_RATE_MISSING = (
        "variant.frame-rate-missing",
        "Apple HLS Authoring Spec 9.15",
        "every EXT-X-STREAM-INF with video has FRAME-RATE"
    );
    VARIANT_AVERAGE_BANDWIDTH_MISSING = (
        "variant.average-bandwidth-missing",
        "Apple HLS Authoring Spec 9.14",
        "every EXT-X-STREAM-INF has AVERAGE-BANDWIDTH"
    );
    VARIANT_BANDWIDTH_PEAK = (
        "variant.bandwidth-peak",
        "RFC 8216 §4.3.4.2; Apple HLS Authoring Spec 9.13",
        "BANDWIDTH is at least the measured peak segment bit rate of video + audio (1% rounding allowed)"
    );
    VARIANT_BANDWIDTH_OVERSTATED = (
        "variant.bandwidth-overstated",
        "Apple HLS Authoring Spec 1.27",
        "BANDWIDTH is within 10% of the measured peak bit rate (VOD)"
    );
    VARIANT_AVERAGE_BANDWIDTH = (
        "variant.average-bandwidth",
        "Apple HLS Authoring Spec 1.26; RFC 8216 §4.3.4.2",
        "AVERAGE-BANDWIDTH is within 10% of the measured average segment bit rate of video + audio (VOD)"
    );
    VARIANT_CODECS = (
        "variant.codecs-mismatch",
        "RFC 8216 §4.3.4.2; RFC 6381 §3.3; ISO/IEC 14496-15 Annex E",
        "CODECS lists exactly the formats the segments contain, with their real profile and level"
    );
    VARIANT_SAMPLE_ENTRY = (
        "variant.sample-entry",
        "Apple HLS Authoring Spec 1.10",
        "parameter sets live in the sample description: avc1/hvc1, not avc3/hev1"
    );
    VARIANT_RESOLUTION = (
        "variant.resolution-mismatch",
        "RFC 8216 §4.3.4.2",
        "RESOLUTION equals the coded size of the video"
    );
    VARIANT_FRAME_RATE = (
        "variant.frame-rate-mismatch",
        "RFC 8216 §4.3.4.2",
        "FRAME-RATE is the video's maximum frame rate: its rate, or for variable rates between the average and the base rate"
    );
    VARIANT_VIDEO_RANGE = (
        "variant.video-range",
        "Apple HLS Authoring Spec 9.16",
        "VIDEO-RANGE is present for PQ/HLG video and matches the stream's transfer characteristics"
    );
    VARIANT_AUDIO_GROUP = (
        "variant.audio-group",
        "RFC 8216 §4.3.4.2",
        "AUDIO names the GROUP-ID of an EXT-X-MEDIA tag with TYPE=AUDIO"
    );
    VARIANT_AUDIO_MISSING = (
        "variant.audio-missing",
        "RFC 8216 §4.3.4.2.1",
        "when the package has audio renditions, every variant references their group (else it plays silent)"
    );
    AUDIO_LANGUAGE = (
        "audio.language",
        "Apple HLS Authoring Spec 8.10; RFC 8216 §4.3.4.1",
        "every audio EXT-X-MEDIA has LANGUAGE"
    );
    AUDIO_CODEC = (
        "audio.codec",
        "Apple HLS Authoring Spec 2.3",
        "the audio rendition is AAC (AAC-LC, HE-AAC v1 or v2)"
    );
    MEDIA_PARSE = (
        "media.parse",
        "RFC 8216 §4.1, §4.3.3",
        "every media playlist exists and parses"
    );
    MEDIA_NO_SEGMENTS = (
        "media.no-segments",
        "RFC 8216 §4.3.3",
        "a VOD media playlist lists at least one segment"
    );
    MEDIA_PLAYLIST_TYPE = (
        "media.playlist-type",
        "Apple HLS Authoring Spec 8.6; RFC 8216 §4.3.3.5",
        "every media playlist carries EXT-X-PLAYLIST-TYPE:VOD"
    );
    MEDIA_ENDLIST = (
        "media.endlist",
        "RFC 8216 §4.3.3.4",
        "every VOD media playlist ends with EXT-X-ENDLIST"
    );
    MEDIA_TARGET_DURATION = (
        "media.target-duration",
        "RFC 8216 §4.3.3.1",
        "every EXTINF rounded to the nearest integer is at most EXT-X-TARGETDURATION"
    );
    MEDIA_TARGET_MISMATCH = (
        "media.target-duration-mismatch",
        "RFC 8216 §6.2.4; Apple HLS Authoring Spec 8.2",
        "all audio and video media playlists have the same EXT-X-TARGETDURATION"
    );
    MEDIA_VERSION = (
        "media.version",
        "RFC 8216 §7",
        "EXT-X-VERSION is at least what the playlist's tags need (6 for EXT-X-MAP)"
    );
    MEDIA_MAP = (
        "media.map-missing",
        "RFC 8216 §3.3; Apple HLS Authoring Spec 8.20",
        "every fMP4 segment has an EXT-X-MAP initialization section"
    );
    MEDIA_EXTINF_ACCURACY = (
        "media.extinf-accuracy",
        "Apple HLS Authoring Spec 8.1",
        "the EXTINF durations add up to the real media time within one video frame"
    );
    MEDIA_DURATION_MISMATCH = (
        "media.duration-mismatch",
        "Apple HLS Authoring Spec 8.3, 8.7",
        "all media playlists cover the same duration (video rungs within a frame, audio within 0.5 s)"
    );
    SEGMENT_MISSING = (
        "segment.missing",
        "RFC 8216 §3, §4.3.2",
        "every segment the playlist lists exists"
    );
    SEGMENT_EMPTY = (
        "segment.empty",
        "RFC 8216 §3",
        "every segment holds media (is not empty; its byte range lies inside the file)"
    );
    SEGMENT_UNREADABLE = (
        "segment.unreadable",
        "RFC 8216 §3",
        "every video segment, with its initialization section, demuxes and holds video"
    );
    SEGMENT_IDR = (
        "segment.idr-start",
        "Apple HLS Authoring Spec 7.4",
        "every video segment starts with a key frame (IDR)"
    );
    SEGMENT_DURATION = (
        "segment.duration",
        "Apple HLS Authoring Spec 7.6",
        "segments are nominally the target duration: no segment but the last is shorter than half of it"
    );
    SEGMENT_HEVC_CONTAINER = (
        "segment.hevc-container",
        "Apple HLS Authoring Spec 1.5",
        "HEVC video is carried in fMP4, not MPEG-TS"
    );
    ALIGN_SEGMENT_COUNT = (
        "align.segment-count",
        "Apple HLS Authoring Spec 8.22; RFC 8216 §6.2.4",
        "every video rung has the same number of segments"
    );
    ALIGN_KEYFRAMES = (
        "align.keyframes",
        "Apple HLS Authoring Spec 8.22, 7.4; RFC 8216 §6.2.4",
        "segment N of every video rung starts at the same time and lasts as long, within one frame"
    );
}

/// One broken rule, where and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// Stable short id of the rule (`"media.target-duration"`), see [`RULES`].
    pub rule: &'static str,
    /// The clause it comes from (`"RFC 8216 §4.3.3.1"`).
    pub spec: &'static str,
    /// Where, relative to the package folder (`"360p/index.m3u8"`,
    /// `"360p/seg_00002.m4s"`, `"master.m3u8 (360p/index.m3u8)"`).
    pub location: String,
    /// What is wrong, with the declared and measured values.
    pub message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} [{}; {}]", self.location, self.message, self.rule, self.spec)
    }
}

/// The outcome of [`check_package`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CheckReport {
    /// Every broken rule, in the order found.
    pub violations: Vec<Violation>,
    /// Video variants (`EXT-X-STREAM-INF`) in the master playlist.
    pub variants: usize,
    /// Audio renditions (`EXT-X-MEDIA TYPE=AUDIO`) in the master playlist.
    pub audio_renditions: usize,
    /// Media segments listed by the media playlists checked (each playlist once).
    pub segments: usize,
}

impl CheckReport {
    /// True when no rule is broken.
    pub fn is_ok(&self) -> bool {
        self.violations.is_empty()
    }

    /// True when some violation has rule id `rule`.
    pub fn has(&self, rule: &str) -> bool {
        self.violations.iter().any(|v| v.rule == rule)
    }

    fn push(&mut self, rule: Rule, location: impl Into<String>, message: impl Into<String>) {
        self.violations.push(Violation {
            rule: rule.id,
            spec: rule.spec,
            location: location.into(),
            message: message.into(),
        });
    }
}

/// One line per violation; a single `ok: ...` line when there is none.
impl fmt::Display for CheckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.violations.is_empty() {
            return writeln!(
                f,
                "ok: {} variant(s), {} audio rendition(s), {} segment(s), no violations",
                self.variants, self.audio_renditions, self.segments
            );
        }
        for v in &self.violations {
            writeln!(f, "{v}")?;
        }
        Ok(())
    }
}

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
        if variant.resolution.is_none() {
            report.push(VARIANT_RESOLUTION_MISSING, location.clone(), "EXT-X-STREAM-INF has no RESOLUTION");
        }
        if variant.frame_rate.is_none() {
            report.push(VARIANT_FRAME_RATE_MISSING, location.clone(), "EXT-X-STREAM-INF has no FRAME-RATE");
        }
        if variant.average_bandwidth.is_none() {
            report.push(
                VARIANT_AVERAGE_BANDWIDTH_MISSING,
                location.clone(),
                "EXT-X-STREAM-INF has no AVERAGE-BANDWIDTH",
            );
        }

        // The audio renditions this variant plays with.
        let group: Vec<&MediaCheck> = match &variant.audio {
            Some(group_id) => match audio_groups.get(group_id.as_str()) {
                Some(keys) => keys.iter().flatten().filter_map(|k| checker.cache.get(k)?.as_ref()).collect(),
                None => {
                    let message = format!("AUDIO=\"{group_id}\" but no EXT-X-MEDIA TYPE=AUDIO has that GROUP-ID");
                    report.push(VARIANT_AUDIO_GROUP, location.clone(), message);
                    Vec::new()
                }
            },
            None => {
                if !audio.is_empty() {
                    report.push(
                        VARIANT_AUDIO_MISSING,
                        location.clone(),
                        "the package has audio renditions but this variant has no AUDIO attribute",
                    );
                }
                Vec::new()
            }
        };
        let group_stats: Vec<PlaylistStats> = group.iter().map(|m| m.stats.clone()).collect();
        let group_codecs: Vec<Option<String>> =
            group.iter().map(|m| m.facts.as_ref().and_then(|f| f.codec_string.clone())).collect();

        let Some(key) = checker.media(&variant.uri, Kind::Video, &mut report) else {
            continue;
        };
        video_keys.push(key.clone());
        let Some(video) = checker.cache.get(&key).and_then(Option::as_ref) else {
            continue;
        };

        // Bandwidth against measurement: video + the largest audio rendition.
        let audio_peak = group_stats.iter().map(|s| s.peak_bps).max().unwrap_or(0);
        let audio_avg = group_stats.iter().map(|s| s.average_bps).max().unwrap_or(0);
        let peak = video.stats.peak_bps + audio_peak;
        let average = video.stats.average_bps + audio_avg;
        if (variant.bandwidth as f64) < peak as f64 * 0.99 {
            report.push(
                VARIANT_BANDWIDTH_PEAK,
                location.clone(),
                format!("BANDWIDTH={} but the measured peak segment bit rate is {peak} bit/s", variant.bandwidth),
            );
        } else if variant.bandwidth as f64 > peak as f64 * 1.10 {
            report.push(
                VARIANT_BANDWIDTH_OVERSTATED,
                location.clone(),
                format!("BANDWIDTH={} is more than 10% above the measured peak of {peak} bit/s", variant.bandwidth),
            );
        }
        if let Some(declared) = variant.average_bandwidth
            && (declared as f64 - average as f64).abs() > average as f64 * 0.10
        {
            report.push(
                VARIANT_AVERAGE_BANDWIDTH,
                location.clone(),
                format!("AVERAGE-BANDWIDTH={declared} but the measured average segment bit rate is {average} bit/s"),
            );
        }

        if let Some(facts) = &video.facts {
            check_variant_against_stream(&mut report, &location, variant, codecs, facts, &group_codecs);
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

/// Whether every codec of a `CODECS` value is an audio codec (RFC 6381
/// sample entry names HLS carries: AAC, AC-3, E-AC-3, Opus, FLAC, ALAC, MP3).
fn only_audio_codecs(codecs: &str) -> bool {
    const AUDIO: &[&str] = &["mp4a", "ac-3", "ec-3", "opus", "flac", "alac", "mp3", ".mp3"];
    codecs.split(',').map(str::trim).all(|c| {
        let entry = c.split('.').next().unwrap_or(c).to_ascii_lowercase();
        AUDIO.contains(&entry.as_str())
    })
}

/// An audio-only variant: its BANDWIDTH and AVERAGE-BANDWIDTH against its
/// own measured segments, and its CODECS against the stream.
fn check_audio_variant(report: &mut CheckReport, location: &str, variant: &VariantStream, media: Option<&MediaCheck>) {
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

/// Compares a variant's declared attributes with its first segment.
fn check_variant_against_stream(
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
fn check_durations(report: &mut CheckReport, videos: &[&MediaCheck], all: &[&MediaCheck]) {
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
fn check_alignment(report: &mut CheckReport, videos: &[&MediaCheck]) {
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

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Video,
    Audio,
}

/// What a media playlist and its first segment turned out to be.
struct MediaCheck {
    kind: Kind,
    /// The playlist's location relative to the package.
    location: String,
    target: u64,
    /// `EXTINF` of every segment, seconds.
    durations: Vec<f64>,
    total_s: f64,
    stats: PlaylistStats,
    /// PTS of each segment's first video packet, seconds (video only).
    first_pts: Vec<Option<f64>>,
    /// Facts from the first segment, when it could be probed.
    facts: Option<StreamFacts>,
    /// One frame, seconds (video; 0 for audio).
    frame_duration: f64,
}

impl MediaCheck {
    /// Start of each segment relative to the first one, seconds: the
    /// measured PTS when both are known, else the sum of `EXTINF`s.
    fn relative_starts(&self) -> Vec<f64> {
        let origin = self.first_pts.first().copied().flatten();
        let mut declared = 0.0;
        self.durations
            .iter()
            .enumerate()
            .map(|(i, d)| {
                let start = match (origin, self.first_pts.get(i).copied().flatten()) {
                    (Some(o), Some(p)) => p - o,
                    _ => declared,
                };
                declared += d;
                start
            })
            .collect()
    }
}

/// Facts of a playlist's stream, from its first segment.
#[derive(Clone, Debug)]
struct StreamFacts {
    /// RFC 6381 string rebuilt from the bitstream; `None` when the codec is
    /// not one Crema can describe.
    codec_string: Option<String>,
    /// The MP4 sample entry (`avc1`, `hvc1`, `hev1`...), when in MP4.
    sample_entry: Option<String>,
    is_hevc: bool,
    width: u32,
    height: u32,
    /// Average frame rate of the first segment.
    frame_rate: Option<f64>,
    /// libavformat's base rate guess (`r_frame_rate`): the rate every
    /// timestamp fits, the highest rate of a variable-rate stream.
    nominal_frame_rate: Option<f64>,
    range: VideoRange,
}

struct Checker {
    root: PathBuf,
    /// Each media playlist is checked once, whatever references it.
    cache: HashMap<PathBuf, Option<MediaCheck>>,
}

impl Checker {
    /// Checks the media playlist at `uri` (relative to the package root)
    /// once; returns its cache key, or `None` when the URI cannot name a
    /// package file.
    fn media(&mut self, uri: &str, kind: Kind, report: &mut CheckReport) -> Option<PathBuf> {
        let path = match resolve_uri(&self.root, uri) {
            Ok(p) => p,
            Err(cause) => {
                report.push(VARIANT_PLAYLIST, format!("{MASTER_PLAYLIST} ({uri})"), cause);
                return None;
            }
        };
        if !self.cache.contains_key(&path) {
            let checked = check_media(&path, uri, kind, report);
            self.cache.insert(path.clone(), checked);
        }
        Some(path)
    }
}

/// Checks one media playlist and its segments.
fn check_media(path: &Path, uri: &str, kind: Kind, report: &mut CheckReport) -> Option<MediaCheck> {
    let location = uri.to_string();
    let playlist = match read_media_playlist(path) {
        Ok(p) => p,
        Err(cause) => {
            report.push(MEDIA_PARSE, location, cause);
            return None;
        }
    };
    if playlist.playlist_type != Some(MediaPlaylistType::Vod) {
        let found = playlist.playlist_type.as_ref().map_or("absent".to_string(), |t| t.to_string());
        report.push(MEDIA_PLAYLIST_TYPE, location.clone(), format!("EXT-X-PLAYLIST-TYPE is {found}, not VOD"));
    }
    if !playlist.end_list {
        report.push(MEDIA_ENDLIST, location.clone(), "EXT-X-ENDLIST is missing");
    }
    let required = required_version(&playlist);
    if playlist.version.unwrap_or(1) < required {
        report.push(
            MEDIA_VERSION,
            location.clone(),
            format!(
                "EXT-X-VERSION is {} but the playlist's tags need at least {required}",
                playlist.version.unwrap_or(1)
            ),
        );
    }
    if playlist.segments.is_empty() {
        report.push(MEDIA_NO_SEGMENTS, location, "the playlist lists no segment");
        return None;
    }
    let target = playlist.target_duration;
    if max_rounded_extinf(&playlist) > target {
        let over: Vec<_> = playlist.segments.iter().filter(|s| f64::from(s.duration).round() as u64 > target).collect();
        report.push(
            MEDIA_TARGET_DURATION,
            location.clone(),
            format!(
                "EXT-X-TARGETDURATION is {target} s but {} segment(s) last longer once rounded (first: {} with EXTINF {})",
                over.len(),
                over[0].uri,
                over[0].duration
            ),
        );
    }

    let playlist_dir = path.parent().unwrap_or(Path::new("."));
    let segments = match resolve_segments(playlist_dir, &playlist) {
        Ok(s) => s,
        Err(cause) => {
            report.push(MEDIA_PARSE, location, cause);
            return None;
        }
    };
    let uri_dir = Path::new(uri).parent().unwrap_or(Path::new(""));
    let seg_location = |s: &SegmentFile| uri_dir.join(&s.uri).display().to_string();

    // Sizes.
    let mut sizes = Vec::with_capacity(segments.len());
    let mut present = Vec::with_capacity(segments.len());
    for segment in &segments {
        let ok = match segment_size(segment) {
            Ok(0) => {
                report.push(SEGMENT_EMPTY, seg_location(segment), "the segment file is empty");
                sizes.push((0, segment.duration_s));
                false
            }
            Ok(bytes) => {
                sizes.push((bytes, segment.duration_s));
                true
            }
            Err(cause) => {
                if segment.path.exists() {
                    report.push(SEGMENT_EMPTY, seg_location(segment), cause);
                } else {
                    report.push(
                        SEGMENT_MISSING,
                        seg_location(segment),
                        "the playlist lists it but the file does not exist",
                    );
                }
                sizes.push((0, segment.duration_s));
                false
            }
        };
        present.push(ok);
    }
    // Bit rates over the segments that exist, so that a missing one is
    // reported once rather than again as a bandwidth mismatch.
    let measurable: Vec<(u64, f64)> = sizes.iter().zip(&present).filter(|(_, ok)| **ok).map(|(s, _)| *s).collect();
    let (peak, average) = peak_and_average_bps(&measurable, target as f64);
    let durations: Vec<f64> = segments.iter().map(|s| s.duration_s).collect();
    let total_s: f64 = durations.iter().sum();
    let stats = PlaylistStats {
        segments: segments.len(),
        duration_s: total_s,
        bytes: sizes.iter().map(|(b, _)| b).sum(),
        peak_bps: peak.ceil() as u64,
        average_bps: average.ceil() as u64,
        target_duration_s: target,
    };

    // Apple 7.6: segments nominally the target duration.
    let short: Vec<&SegmentFile> =
        segments[..segments.len() - 1].iter().filter(|s| s.duration_s < 0.5 * target as f64).collect();
    if let Some(first) = short.first() {
        report.push(
            SEGMENT_DURATION,
            seg_location(first),
            format!(
                "lasts {:.3} s, less than half the {target} s target duration ({} such segment(s) before the last)",
                first.duration_s,
                short.len()
            ),
        );
    }

    // Container: fMP4 segments need EXT-X-MAP.
    let first_present = segments.iter().zip(&present).find(|(_, ok)| **ok).map(|(s, _)| s);
    let container = first_present.map_or(Container::Unknown, sniff_container);
    if container == Container::Fmp4 && segments.iter().any(|s| s.init.is_none()) {
        let count = segments.iter().filter(|s| s.init.is_none()).count();
        report.push(
            MEDIA_MAP,
            location.clone(),
            format!("{count} fMP4 segment(s) have no EXT-X-MAP initialization section"),
        );
    }

    // FFmpeg reads.
    let mut facts = None;
    let mut first_pts = vec![None; segments.len()];
    let mut probed = false;
    for (i, segment) in segments.iter().enumerate() {
        if !present[i] {
            continue;
        }
        if kind == Kind::Audio && probed {
            break;
        }
        let result = if probed { read_first_video_packet(segment) } else { probe_segment(segment, kind) };
        probed = true;
        match result {
            Ok((segment_facts, packet)) => {
                if let Some(f) = segment_facts {
                    facts = Some(f);
                }
                if let Some(p) = packet {
                    // Only an IDR start says when the segment's media begins;
                    // other starts are reported below and timed by EXTINF.
                    if p.key && p.idr != Some(false) {
                        first_pts[i] = p.pts;
                    }
                    if !p.key {
                        report.push(SEGMENT_IDR, seg_location(segment), "the first video frame is not a key frame");
                    } else if p.idr == Some(false) {
                        report.push(
                            SEGMENT_IDR,
                            seg_location(segment),
                            format!(
                                "the first video frame is a key frame but not an IDR picture (NAL unit type {}; open GOP?)",
                                p.nal_type.unwrap_or(0)
                            ),
                        );
                    }
                }
            }
            Err(cause) => report.push(SEGMENT_UNREADABLE, seg_location(segment), cause),
        }
    }
    if let Some(f) = &facts {
        if kind == Kind::Audio && f.codec_string.as_deref().is_none_or(|c| !c.starts_with("mp4a.40.")) {
            report.push(AUDIO_CODEC, location.clone(), "the audio rendition is not AAC");
        }
        if f.is_hevc && container == Container::Ts {
            report.push(SEGMENT_HEVC_CONTAINER, location.clone(), "HEVC video in MPEG-TS segments");
        }
    }
    let frame_duration = match kind {
        Kind::Audio => 0.0,
        Kind::Video => facts.as_ref().and_then(|f| f.frame_rate).filter(|r| *r > 0.0).map_or(1.0 / 25.0, |r| 1.0 / r),
    };

    // Apple 8.1: EXTINF sums track the real media time within a frame.
    if kind == Kind::Video
        && let Some(origin) = first_pts[0]
    {
        let mut declared = 0.0;
        let mut off = Vec::new();
        for (i, segment) in segments.iter().enumerate() {
            if let Some(pts) = first_pts[i] {
                let real = pts - origin;
                if (declared - real).abs() > frame_duration + 0.001 {
                    off.push((segment, declared, real));
                }
            }
            declared += segment.duration_s;
        }
        if let Some((segment, declared, real)) = off.first() {
            report.push(
                MEDIA_EXTINF_ACCURACY,
                seg_location(segment),
                format!(
                    "the EXTINFs before this segment add up to {declared:.3} s but it starts {real:.3} s into the stream ({} segment(s) off by more than a frame)",
                    off.len()
                ),
            );
        }
    }

    Some(MediaCheck { kind, location, target, durations, total_s, stats, first_pts, facts, frame_duration })
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Container {
    Fmp4,
    Ts,
    Unknown,
}

/// fMP4 when the segment starts with an ISO BMFF box a segment may start
/// with, MPEG-TS when it starts with a sync byte.
fn sniff_container(segment: &SegmentFile) -> Container {
    let mut head = [0u8; 8];
    let read = (|| -> std::io::Result<()> {
        let mut file = std::fs::File::open(&segment.path)?;
        file.seek(SeekFrom::Start(segment.range.map_or(0, |(o, _)| o)))?;
        file.read_exact(&mut head)
    })();
    if read.is_err() {
        return Container::Unknown;
    }
    match &head[4..8] {
        b"styp" | b"moof" | b"sidx" | b"ftyp" | b"emsg" | b"prft" | b"free" => Container::Fmp4,
        _ if head[0] == 0x47 => Container::Ts,
        _ => Container::Unknown,
    }
}

/// A segment (with its initialization section) as something libavformat
/// can open: a `concat:` URL over the files, or a temporary file holding
/// the byte ranges when the playlist uses `EXT-X-BYTERANGE`.
struct SegmentInput {
    url: String,
    _temp: Option<TempFile>,
}

impl SegmentInput {
    fn new(segment: &SegmentFile) -> std::result::Result<Self, String> {
        let plain = |p: &Path| -> Option<String> {
            let abs = std::path::absolute(p).ok()?;
            let s = abs.to_str()?.to_string();
            (!s.contains('|')).then_some(s)
        };
        let uses_ranges = segment.range.is_some() || segment.init.as_ref().is_some_and(|i| i.range.is_some());
        if !uses_ranges {
            match &segment.init {
                None => {
                    if let Some(seg) = plain(&segment.path) {
                        return Ok(Self { url: format!("file:{seg}"), _temp: None });
                    }
                }
                Some(init) => {
                    if let (Some(init), Some(seg)) = (plain(&init.path), plain(&segment.path)) {
                        return Ok(Self { url: format!("concat:{init}|{seg}"), _temp: None });
                    }
                }
            }
        }
        let temp = TempFile::create()?;
        {
            let mut out = std::fs::File::create(&temp.0).map_err(|e| format!("temporary file: {e}"))?;
            if let Some(init) = &segment.init {
                copy_range(&init.path, init.range, &mut out).map_err(|e| format!("{}: {e}", init.uri))?;
            }
            copy_range(&segment.path, segment.range, &mut out).map_err(|e| format!("{}: {e}", segment.uri))?;
        }
        let url = format!("file:{}", temp.0.to_str().ok_or("temporary folder path is not UTF-8")?);
        Ok(Self { url, _temp: Some(temp) })
    }
}

fn copy_range(path: &Path, range: Option<(u64, u64)>, out: &mut std::fs::File) -> std::io::Result<()> {
    let mut file = std::fs::File::open(path)?;
    match range {
        None => {
            std::io::copy(&mut file, out)?;
        }
        Some((offset, length)) => {
            file.seek(SeekFrom::Start(offset))?;
            std::io::copy(&mut file.take(length), out)?;
        }
    }
    out.flush()
}

/// A file in the system temporary folder, removed on drop.
struct TempFile(PathBuf);

impl TempFile {
    fn create() -> std::result::Result<Self, String> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("crema-hls-check-{}-{n}.seg", std::process::id()));
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| format!("temporary file {}: {e}", path.display()))?;
        Ok(Self(path))
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// The first video packet of a segment.
#[derive(Clone, Copy, Debug)]
struct FirstPacket {
    /// The demuxer's key flag (sync sample in MP4, random access point in TS).
    key: bool,
    /// Whether its first picture is an IDR, from the NAL unit types; `None`
    /// when the codec is not H.264/HEVC or the payload cannot be parsed.
    idr: Option<bool>,
    /// The first VCL NAL unit type, for messages.
    nal_type: Option<u8>,
    /// PTS, seconds.
    pts: Option<f64>,
}

/// Opens a playlist's first segment with stream probing and returns its
/// stream facts and, for video, its first packet.
fn probe_segment(
    segment: &SegmentFile,
    kind: Kind,
) -> std::result::Result<(Option<StreamFacts>, Option<FirstPacket>), String> {
    let input = SegmentInput::new(segment)?;
    let mut ictx = ffmpeg::format::input(&input.url).map_err(|e| format!("FFmpeg cannot open the segment: {e}"))?;
    let medium = match kind {
        Kind::Video => ffmpeg::media::Type::Video,
        Kind::Audio => ffmpeg::media::Type::Audio,
    };
    let Some(stream) = ictx.streams().find(|s| s.parameters().medium() == medium) else {
        return Err(format!("no {} stream in the segment", if kind == Kind::Video { "video" } else { "audio" }));
    };
    let index = stream.index();
    let facts = stream_facts(&stream);
    let packet = match kind {
        Kind::Video => Some(first_packet(&mut ictx, index, segment)?),
        Kind::Audio => None,
    };
    Ok((Some(facts), packet))
}

/// Opens a segment without probing and reads its first video packet.
fn read_first_video_packet(
    segment: &SegmentFile,
) -> std::result::Result<(Option<StreamFacts>, Option<FirstPacket>), String> {
    let input = SegmentInput::new(segment)?;
    let mut ictx = open_without_probing(&input.url)?;
    let index = ictx
        .streams()
        .find(|s| s.parameters().medium() == ffmpeg::media::Type::Video)
        .map(|s| s.index())
        .ok_or("no video stream in the segment")?;
    Ok((None, Some(first_packet(&mut ictx, index, segment)?)))
}

/// `avformat_open_input` without `avformat_find_stream_info`: the headers
/// (moov of the init section, the PMT of a TS segment) are enough to read
/// packets, and skipping the probe keeps one open per segment cheap.
fn open_without_probing(url: &str) -> std::result::Result<ffmpeg::format::context::Input, String> {
    let c_url = CString::new(url).map_err(|_| "segment path contains a NUL byte".to_string())?;
    let mut ctx: *mut ffmpeg::ffi::AVFormatContext = std::ptr::null_mut();
    // SAFETY: `ctx` is a valid out-pointer initialised to null and `c_url`
    // outlives the call; on failure libavformat frees what it allocated and
    // leaves `ctx` null.
    let ret =
        unsafe { ffmpeg::ffi::avformat_open_input(&mut ctx, c_url.as_ptr(), std::ptr::null(), std::ptr::null_mut()) };
    if ret < 0 || ctx.is_null() {
        return Err(format!("FFmpeg cannot open the segment: {}", ffmpeg::Error::from(ret)));
    }
    // SAFETY: `ctx` is an opened input context that nothing else owns;
    // `Input` closes it with `avformat_close_input` when dropped.
    Ok(unsafe { ffmpeg::format::context::Input::wrap(ctx) })
}

/// Reads packets until the first one of stream `index`.
fn first_packet(
    ictx: &mut ffmpeg::format::context::Input,
    index: usize,
    segment: &SegmentFile,
) -> std::result::Result<FirstPacket, String> {
    const MAX_PACKETS: usize = 4096;
    let (time_base, codec) = ictx
        .stream(index)
        .map(|s| (f64::from(s.time_base()), s.parameters().id()))
        .unwrap_or((0.0, ffmpeg::codec::Id::None));
    // MP4 samples hold length-prefixed NAL units (FFmpeg always writes
    // 4-byte lengths); MPEG-TS carries Annex-B start codes.
    let annex_b = sniff_container(segment) != Container::Fmp4;
    let mut packet = ffmpeg::Packet::empty();
    for _ in 0..MAX_PACKETS {
        match packet.read(ictx) {
            Ok(()) if packet.stream() == index => {
                let pts = packet.pts().or(packet.dts()).map(|t| t as f64 * time_base);
                let nal_type = packet.data().and_then(|d| first_vcl_nal_type(d, annex_b, codec));
                let idr = nal_type.map(|t| match codec {
                    ffmpeg::codec::Id::HEVC => t == 19 || t == 20,
                    _ => t == 5,
                });
                return Ok(FirstPacket { key: packet.is_key(), idr, nal_type, pts });
            }
            Ok(()) | Err(ffmpeg::Error::InvalidData) => {}
            Err(ffmpeg::Error::Eof) => return Err("the segment holds no video packet".into()),
            Err(e) => return Err(format!("FFmpeg cannot read the segment: {e}")),
        }
    }
    Err(format!("no video packet among the first {MAX_PACKETS} packets"))
}

/// The NAL unit type of the first VCL (coded slice) NAL unit of an access
/// unit: H.264 types 1–5 (ITU-T H.264 Table 7-1; 5 is IDR), HEVC types
/// 0–31 (ITU-T H.265 Table 7-1; 19 and 20 are IDR, 21 CRA, 16–18 BLA).
fn first_vcl_nal_type(data: &[u8], annex_b: bool, codec: ffmpeg::codec::Id) -> Option<u8> {
    let nal_type = |nal: &[u8]| -> Option<u8> {
        let header = *nal.first()?;
        match codec {
            ffmpeg::codec::Id::H264 => Some(header & 0x1f).filter(|t| (1..=5).contains(t)),
            ffmpeg::codec::Id::HEVC => Some((header >> 1) & 0x3f).filter(|t| *t <= 31),
            _ => None,
        }
    };
    if annex_b {
        return super::codecs::annex_b_nal_units(data).find_map(nal_type);
    }
    let mut rest = data;
    while rest.len() >= 4 {
        let len = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        let nal = rest.get(4..4 + len)?;
        if let Some(t) = nal_type(nal) {
            return Some(t);
        }
        rest = &rest[4 + len..];
    }
    None
}

fn stream_facts(stream: &ffmpeg::format::stream::Stream) -> StreamFacts {
    let params = stream.parameters();
    // SAFETY: `params` wraps the stream's AVCodecParameters, valid while the
    // stream's context is; only plain fields are copied out.
    let (width, height, transfer, tag) = unsafe {
        let p = &*params.as_ptr();
        (p.width, p.height, p.color_trc, p.codec_tag)
    };
    let rate = |r: ffmpeg::Rational| (r.numerator() > 0 && r.denominator() > 0).then(|| f64::from(r));
    StreamFacts {
        codec_string: codec_string_from_parameters(&params),
        sample_entry: (tag != 0).then(|| String::from_utf8_lossy(&tag.to_le_bytes()).into_owned()),
        is_hevc: params.id() == ffmpeg::codec::Id::HEVC,
        width: width.max(0) as u32,
        height: height.max(0) as u32,
        frame_rate: rate(stream.avg_frame_rate()).or_else(|| rate(stream.rate())),
        nominal_frame_rate: rate(stream.rate()),
        range: VideoRange::from_transfer(transfer.into()),
    }
}
