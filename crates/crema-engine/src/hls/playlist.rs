//! Reading, measuring and rewriting media playlists: what both the master
//! playlist writers ([`super::master`], [`super::audio_master`]) and the
//! package checker ([`super::check`]) need. Segment files are resolved
//! relative to their playlist (never outside the package), sized on disk
//! (or by `EXT-X-BYTERANGE`) and turned into the RFC 8216 §4.1 peak and
//! average segment bit rates ([`PlaylistStats`]); playlists are rewritten
//! atomically.

use std::path::{Path, PathBuf};

use m3u8_rs::{MediaPlaylist, MediaPlaylistType};

use crate::error::{EngineError, Result};

/// File name of the master (multivariant) playlist at the package root.
pub const MASTER_PLAYLIST: &str = "master.m3u8";

/// File name of every media playlist, inside its rung's or rendition's folder.
pub const MEDIA_PLAYLIST: &str = "index.m3u8";

/// `GROUP-ID` of the audio rendition group every variant references.
pub const AUDIO_GROUP_ID: &str = "audio";

/// Measured figures of one media playlist (RFC 8216 §4.1 definitions).
#[derive(Clone, Debug, PartialEq)]
pub struct PlaylistStats {
    /// Number of media segments.
    pub segments: usize,
    /// Sum of the `EXTINF` durations, seconds.
    pub duration_s: f64,
    /// Sum of the media segment sizes, bytes (the initialization section
    /// excluded).
    pub bytes: u64,
    /// Peak segment bit rate, bits per second, rounded up: the largest bit
    /// rate of any contiguous set of segments lasting 0.5 to 1.5 target
    /// durations (RFC 8216 §4.1).
    pub peak_bps: u64,
    /// Average segment bit rate, bits per second, rounded up: all segment
    /// bits over the playlist duration (RFC 8216 §4.1).
    pub average_bps: u64,
    /// `EXT-X-TARGETDURATION`, seconds.
    pub target_duration_s: u64,
}

/// Reads and measures one media playlist: segment count, total `EXTINF`
/// duration (seconds), total segment bytes, and the RFC 8216 §4.1 peak and
/// average segment bit rates (bits per second). Segment sizes come from the
/// files on disk, or from `EXT-X-BYTERANGE` when the playlist has one; the
/// initialization section (`EXT-X-MAP`) is not counted.
///
/// Errors: [`EngineError::Encode`] naming the playlist or segment when the
/// playlist cannot be read or parsed, a URI is not a local file, or a
/// segment is missing.
pub fn measure_media_playlist(path: &Path) -> Result<PlaylistStats> {
    let playlist = read_media_playlist(path).map_err(|cause| encode_error(path, cause))?;
    measure_parsed(path, &playlist)
}

/// Brings a media playlist to what the package checker requires; returns
/// whether anything changed.
pub(crate) fn normalize_media_playlist(playlist: &mut MediaPlaylist, target_duration: u64) -> bool {
    let mut changed = false;
    if playlist.playlist_type != Some(MediaPlaylistType::Vod) {
        playlist.playlist_type = Some(MediaPlaylistType::Vod);
        changed = true;
    }
    if !playlist.end_list {
        playlist.end_list = true;
        changed = true;
    }
    if !playlist.independent_segments {
        playlist.independent_segments = true;
        changed = true;
    }
    if playlist.target_duration < target_duration {
        playlist.target_duration = target_duration;
        changed = true;
    }
    let required = required_version(playlist);
    if playlist.version.unwrap_or(1) < required {
        playlist.version = Some(required);
        changed = true;
    }
    changed
}

/// The lowest `EXT-X-VERSION` a media playlist's tags need (RFC 8216 §7):
/// 3 for decimal `EXTINF` durations, 4 for `EXT-X-BYTERANGE`, 6 for
/// `EXT-X-MAP` outside an I-frame playlist.
pub(crate) fn required_version(playlist: &MediaPlaylist) -> usize {
    let mut version = 3;
    if playlist.segments.iter().any(|s| s.byte_range.is_some()) || playlist.i_frames_only {
        version = 4;
    }
    if playlist.segments.iter().any(|s| s.map.is_some()) {
        version = if playlist.i_frames_only { 5 } else { 6 };
    }
    version
}

/// The largest `EXTINF` rounded to the nearest integer, seconds.
pub(crate) fn max_rounded_extinf(playlist: &MediaPlaylist) -> u64 {
    playlist.segments.iter().map(|s| f64::from(s.duration).round().max(0.0) as u64).max().unwrap_or(0)
}

/// Reads and parses a media playlist; the error is a human cause.
pub(crate) fn read_media_playlist(path: &Path) -> std::result::Result<MediaPlaylist, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read media playlist: {e}"))?;
    if !bytes.starts_with(b"#EXTM3U") {
        return Err("not an HLS playlist (no #EXTM3U header)".into());
    }
    match m3u8_rs::parse_playlist_res(&bytes) {
        Ok(m3u8_rs::Playlist::MediaPlaylist(pl)) => Ok(pl),
        Ok(m3u8_rs::Playlist::MasterPlaylist(_)) => Err("is a master playlist, not a media playlist".into()),
        Err(e) => Err(format!("cannot parse media playlist: {e:?}")),
    }
}

/// A byte range of a file: (offset, length), bytes.
pub(crate) type ByteSpan = (u64, u64);

/// A media segment resolved to a local file.
#[derive(Clone, Debug)]
pub(crate) struct SegmentFile {
    /// The URI as written in the playlist.
    pub uri: String,
    /// The file it names.
    pub path: PathBuf,
    /// `EXTINF`, seconds.
    pub duration_s: f64,
    /// `EXT-X-BYTERANGE`, when the segment is a sub-range of `path`.
    pub range: Option<ByteSpan>,
    /// The `EXT-X-MAP` in effect for this segment.
    pub init: Option<InitSection>,
}

/// A Media Initialization Section (`EXT-X-MAP`) resolved to a local file.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct InitSection {
    /// The URI as written in the playlist.
    pub uri: String,
    /// The file it names.
    pub path: PathBuf,
    /// Its `BYTERANGE`, when it is a sub-range of `path`.
    pub range: Option<ByteSpan>,
}

/// Resolves every segment's URI (relative to `playlist_dir`), its byte
/// range (RFC 8216 §4.3.2.2: an absent offset continues the previous
/// segment's sub-range) and the `EXT-X-MAP` in effect (RFC 8216 §4.3.2.5:
/// a map applies to every following segment until the next one).
pub(crate) fn resolve_segments(
    playlist_dir: &Path,
    playlist: &MediaPlaylist,
) -> std::result::Result<Vec<SegmentFile>, String> {
    let mut out = Vec::with_capacity(playlist.segments.len());
    let mut map: Option<InitSection> = None;
    let mut previous_end: Option<(String, u64)> = None;
    for segment in &playlist.segments {
        if let Some(m) = &segment.map {
            map = Some(InitSection {
                uri: m.uri.clone(),
                path: resolve_uri(playlist_dir, &m.uri)?,
                range: m.byte_range.as_ref().map(|r| (r.offset.unwrap_or(0), r.length)),
            });
        }
        let range = match &segment.byte_range {
            None => None,
            Some(r) => {
                let offset = match r.offset {
                    Some(o) => o,
                    None => match &previous_end {
                        Some((uri, end)) if *uri == segment.uri => *end,
                        _ => {
                            return Err(format!(
                                "{}: EXT-X-BYTERANGE without offset does not follow a sub-range of the same file",
                                segment.uri
                            ));
                        }
                    },
                };
                previous_end = Some((segment.uri.clone(), offset + r.length));
                Some((offset, r.length))
            }
        };
        out.push(SegmentFile {
            uri: segment.uri.clone(),
            path: resolve_uri(playlist_dir, &segment.uri)?,
            duration_s: f64::from(segment.duration),
            range,
            init: map.clone(),
        });
    }
    Ok(out)
}

/// A relative URI of a local package, as a path; remote URIs are refused.
pub(crate) fn resolve_uri(base_dir: &Path, uri: &str) -> std::result::Result<PathBuf, String> {
    let uri = uri.trim();
    if uri.is_empty() {
        return Err("empty URI".into());
    }
    if uri.contains("://") || uri.starts_with("data:") {
        return Err(format!("{uri}: not a file of the package (remote URI)"));
    }
    let uri = uri.split(['?', '#']).next().unwrap_or(uri);
    Ok(base_dir.join(uri))
}

/// Size of a segment in bytes: its byte range, or the whole file. Errors
/// with a human cause when the file is missing or too short for the range.
pub(crate) fn segment_size(segment: &SegmentFile) -> std::result::Result<u64, String> {
    let len = std::fs::metadata(&segment.path).map_err(|e| format!("{}: {e}", segment.uri))?.len();
    match segment.range {
        None => Ok(len),
        Some((offset, length)) if offset + length <= len => Ok(length),
        Some((offset, length)) => {
            Err(format!("{}: EXT-X-BYTERANGE {length}@{offset} runs past the end of the {len}-byte file", segment.uri))
        }
    }
}

/// Peak and average segment bit rates (bits per second) of segments given
/// as (bytes, seconds), per RFC 8216 §4.1: the peak is the largest bit rate
/// of any contiguous set of segments whose total duration is between 0.5
/// and 1.5 × `target_s`; a single segment longer than that still counts on
/// its own, so the peak is never understated. When no set qualifies (a
/// playlist shorter than half a target duration) the peak is the average.
pub(crate) fn peak_and_average_bps(segments: &[(u64, f64)], target_s: f64) -> (f64, f64) {
    let total_bits: f64 = segments.iter().map(|(b, _)| *b as f64 * 8.0).sum();
    let total_s: f64 = segments.iter().map(|(_, d)| *d).sum();
    let average = if total_s > 0.0 { total_bits / total_s } else { 0.0 };
    let (low, high) = (0.5 * target_s - 1e-6, 1.5 * target_s + 1e-6);
    let mut peak: Option<f64> = None;
    for start in 0..segments.len() {
        let (mut bits, mut seconds) = (0.0, 0.0);
        for (end, (bytes, duration)) in segments.iter().enumerate().skip(start) {
            bits += *bytes as f64 * 8.0;
            seconds += *duration;
            if seconds >= low && seconds > 0.0 && (seconds <= high || end == start) {
                let rate = bits / seconds;
                peak = Some(peak.map_or(rate, |p: f64| p.max(rate)));
            }
            if seconds > high {
                break;
            }
        }
    }
    (peak.unwrap_or(average), average)
}

pub(crate) fn measure_parsed(path: &Path, playlist: &MediaPlaylist) -> Result<PlaylistStats> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let segments = resolve_segments(dir, playlist).map_err(|cause| encode_error(path, cause))?;
    if segments.is_empty() {
        return Err(encode_error(path, "media playlist has no segments".into()));
    }
    let mut sized = Vec::with_capacity(segments.len());
    for segment in &segments {
        let bytes = segment_size(segment).map_err(|cause| encode_error(&segment.path, cause))?;
        sized.push((bytes, segment.duration_s));
    }
    let (peak, average) = peak_and_average_bps(&sized, playlist.target_duration as f64);
    Ok(PlaylistStats {
        segments: sized.len(),
        duration_s: sized.iter().map(|(_, d)| d).sum(),
        bytes: sized.iter().map(|(b, _)| b).sum(),
        peak_bps: peak.ceil() as u64,
        average_bps: average.ceil() as u64,
        target_duration_s: playlist.target_duration,
    })
}

pub(crate) fn encode_error(path: &Path, cause: String) -> EngineError {
    EngineError::Encode { path: path.to_path_buf(), cause: format!("HLS packaging: {cause}") }
}

/// Writes a playlist next to `path` and renames it into place, so that a
/// reader never sees half a playlist.
pub(crate) fn write_playlist_atomically(
    path: &Path,
    write: impl FnOnce(&mut Vec<u8>) -> std::io::Result<()>,
) -> Result<()> {
    let mut text = Vec::new();
    write(&mut text).map_err(|e| EngineError::Internal(format!("serializing {}: {e}", path.display())))?;
    let file_name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = path.with_file_name(format!(".{file_name}.tmp"));
    let io_error = |e: std::io::Error| {
        if e.raw_os_error() == Some(libc::ENOSPC) {
            EngineError::DiskFull { path: path.to_path_buf() }
        } else {
            EngineError::OutputNotWritable { path: path.to_path_buf(), cause: e.to_string() }
        }
    };
    std::fs::write(&tmp, &text).map_err(io_error)?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        io_error(e)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peak_uses_rfc_windows() {
        // Three 2 s segments and a tiny tail: the tail alone is shorter than
        // half the target, so it only counts together with its neighbour.
        let segs = [(250_000, 2.0), (500_000, 2.0), (250_000, 2.0), (20_000, 0.02)];
        let (peak, avg) = peak_and_average_bps(&segs, 2.0);
        assert_eq!(peak, 2_000_000.0);
        assert!((avg - (1_020_000.0 * 8.0 / 6.02)).abs() < 1e-6);
        // Without the window rule the tail would read 8 Mbit/s; with it, it
        // only counts with its neighbour.
        let segs = [(250_000, 2.0), (20_000, 0.02)];
        let (peak, _) = peak_and_average_bps(&segs, 2.0);
        assert!((peak - 270_000.0 * 8.0 / 2.02).abs() < 1e-6);
        // Only a short playlist: the peak falls back to the average.
        let (peak, avg) = peak_and_average_bps(&[(1000, 0.5)], 6.0);
        assert_eq!(peak, avg);
    }
}
