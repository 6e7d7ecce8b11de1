//! Checking one media playlist and its segments ([`Checker`] checks each
//! playlist once, whatever references it).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use m3u8_rs::{MediaPlaylist, MediaPlaylistType};

use super::super::playlist::{
    MASTER_PLAYLIST, PlaylistStats, SegmentFile, max_rounded_extinf, peak_and_average_bps, read_media_playlist,
    required_version, resolve_segments, resolve_uri, segment_size,
};

use super::report::CheckReport;
use super::rules::*;
use super::segment::{Container, Kind, StreamFacts, probe_segment, read_first_video_packet, sniff_container};

/// What a media playlist and its first segment turned out to be.
pub(super) struct MediaCheck {
    pub(super) kind: Kind,
    /// The playlist's location relative to the package.
    pub(super) location: String,
    pub(super) target: u64,
    /// `EXTINF` of every segment, seconds.
    pub(super) durations: Vec<f64>,
    pub(super) total_s: f64,
    pub(super) stats: PlaylistStats,
    /// PTS of each segment's first video packet, seconds (video only).
    pub(super) first_pts: Vec<Option<f64>>,
    /// Facts from the first segment, when it could be probed.
    pub(super) facts: Option<StreamFacts>,
    /// One frame, seconds (video; 0 for audio).
    pub(super) frame_duration: f64,
}

impl MediaCheck {
    /// Start of each segment relative to the first one, seconds: the
    /// measured PTS when both are known, else the sum of `EXTINF`s.
    pub(super) fn relative_starts(&self) -> Vec<f64> {
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

pub(super) struct Checker {
    pub(super) root: PathBuf,
    /// Each media playlist is checked once, whatever references it.
    pub(super) cache: HashMap<PathBuf, Option<MediaCheck>>,
}

impl Checker {
    /// Checks the media playlist at `uri` (relative to the package root)
    /// once; returns its cache key, or `None` when the URI cannot name a
    /// package file.
    pub(super) fn media(&mut self, uri: &str, kind: Kind, report: &mut CheckReport) -> Option<PathBuf> {
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
pub(super) fn check_media(path: &Path, uri: &str, kind: Kind, report: &mut CheckReport) -> Option<MediaCheck> {
    let location = uri.to_string();
    let playlist = match read_media_playlist(path) {
        Ok(p) => p,
        Err(cause) => {
            report.push(MEDIA_PARSE, location, cause);
            return None;
        }
    };
    if !check_header(&playlist, &location, report) {
        return None;
    }
    let target = playlist.target_duration;

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

    let (sizes, present) = measure_sizes(&segments, &seg_location, report);
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

    let (facts, first_pts) = read_segments(&segments, &present, kind, &seg_location, report);
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

    if kind == Kind::Video {
        check_extinf_accuracy(&segments, &first_pts, frame_duration, &seg_location, report);
    }

    Some(MediaCheck { kind, location, target, durations, total_s, stats, first_pts, facts, frame_duration })
}

/// The playlist-level rules: VOD type, ENDLIST, version, the target
/// duration against every EXTINF. False when it lists no segment (nothing
/// more can be checked).
fn check_header(playlist: &MediaPlaylist, location: &str, report: &mut CheckReport) -> bool {
    if playlist.playlist_type != Some(MediaPlaylistType::Vod) {
        let found = playlist.playlist_type.as_ref().map_or("absent".to_string(), |t| t.to_string());
        report.push(MEDIA_PLAYLIST_TYPE, location, format!("EXT-X-PLAYLIST-TYPE is {found}, not VOD"));
    }
    if !playlist.end_list {
        report.push(MEDIA_ENDLIST, location, "EXT-X-ENDLIST is missing");
    }
    let required = required_version(playlist);
    if playlist.version.unwrap_or(1) < required {
        report.push(
            MEDIA_VERSION,
            location,
            format!(
                "EXT-X-VERSION is {} but the playlist's tags need at least {required}",
                playlist.version.unwrap_or(1)
            ),
        );
    }
    if playlist.segments.is_empty() {
        report.push(MEDIA_NO_SEGMENTS, location, "the playlist lists no segment");
        return false;
    }
    let target = playlist.target_duration;
    if max_rounded_extinf(playlist) > target {
        let over: Vec<_> = playlist.segments.iter().filter(|s| f64::from(s.duration).round() as u64 > target).collect();
        report.push(
            MEDIA_TARGET_DURATION,
            location,
            format!(
                "EXT-X-TARGETDURATION is {target} s but {} segment(s) last longer once rounded (first: {} with EXTINF {})",
                over.len(),
                over[0].uri,
                over[0].duration
            ),
        );
    }
    true
}

/// Each segment's (size in bytes, duration in seconds), and whether its
/// file is there and not empty (a missing or empty one is reported).
fn measure_sizes(
    segments: &[SegmentFile],
    seg_location: &dyn Fn(&SegmentFile) -> String,
    report: &mut CheckReport,
) -> (Vec<(u64, f64)>, Vec<bool>) {
    let mut sizes = Vec::with_capacity(segments.len());
    let mut present = Vec::with_capacity(segments.len());
    for segment in segments {
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
    (sizes, present)
}

/// Reads the segments through libavformat: the first present one probed
/// (its stream facts), every other video segment's first packet (an IDR
/// start gives its PTS, seconds; a non-IDR start is reported).
fn read_segments(
    segments: &[SegmentFile],
    present: &[bool],
    kind: Kind,
    seg_location: &dyn Fn(&SegmentFile) -> String,
    report: &mut CheckReport,
) -> (Option<StreamFacts>, Vec<Option<f64>>) {
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
    (facts, first_pts)
}

/// Apple 8.1: the EXTINFs before each segment add up to when it really
/// starts (its first PTS against the first segment's), within a frame of
/// `frame_duration` seconds.
fn check_extinf_accuracy(
    segments: &[SegmentFile],
    first_pts: &[Option<f64>],
    frame_duration: f64,
    seg_location: &dyn Fn(&SegmentFile) -> String,
    report: &mut CheckReport,
) {
    let Some(origin) = first_pts[0] else { return };
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
