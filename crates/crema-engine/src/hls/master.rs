//! The master (multivariant) playlist, written from measured segments.
//!
//! FFmpeg's `hls` muxer writes one media playlist per rung, but its own
//! master playlist has no bandwidth for CRF encodes. [`write_master`] reads
//! every media playlist back with m3u8-rs, measures the segment files on
//! disk and writes `master.m3u8` with m3u8-rs (never by formatting text by
//! hand):
//!
//! - `BANDWIDTH`: the video playlist's peak segment bit rate plus the audio
//!   rendition's, the "largest sum of peak segment bit rates that is
//!   produced by any playable combination of Renditions" (RFC 8216
//!   §4.3.4.2; Apple HLS Authoring Spec 9.13). The peak segment bit rate is
//!   the RFC 8216 §4.1 one: the largest bit rate of any contiguous set of
//!   segments lasting 0.5 to 1.5 target durations, so that a short last
//!   segment does not inflate it.
//! - `AVERAGE-BANDWIDTH`: the sum of the average segment bit rates (RFC 8216
//!   §4.1, §4.3.4.2; Apple 9.14).
//! - `CODECS` (video, audio), `RESOLUTION`, `FRAME-RATE` (rounded to three
//!   decimals, RFC 8216 §4.3.4.2), `VIDEO-RANGE` when given and the `AUDIO`
//!   group; `EXT-X-INDEPENDENT-SEGMENTS` (Apple 9.11).
//!
//! Sizes are those of the media segments only: the fMP4 initialization
//! section (`init.mp4`, `EXT-X-MAP`) is fetched once per rung and is not
//! part of any Media Segment, so the RFC 8216 §4.1 definitions leave it out,
//! and so does Crema.

use std::path::{Path, PathBuf};

use m3u8_rs::{AlternativeMedia, AlternativeMediaType, MasterPlaylist, QuotedOrUnquoted, Resolution, VariantStream};

use super::playlist::{
    AUDIO_GROUP_ID, MASTER_PLAYLIST, MEDIA_PLAYLIST, PlaylistStats, encode_error, max_rounded_extinf, measure_parsed,
    normalize_media_playlist, read_media_playlist, write_playlist_atomically,
};
use crate::error::{EngineError, Result};

/// The dynamic range a variant is mastered for, written as the
/// `VIDEO-RANGE` attribute of `EXT-X-STREAM-INF` (draft-pantos-hls-rfc8216bis; Apple HLS
/// Authoring Spec 9.16: it MUST be present unless everything is SDR).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum VideoRange {
    /// Standard dynamic range (BT.709/BT.601/BT.2020 SDR transfer).
    Sdr,
    /// Perceptual quantizer, SMPTE ST 2084 (HDR10, Dolby Vision).
    Pq,
    /// Hybrid log-gamma, ARIB STD-B67.
    Hlg,
}

impl VideoRange {
    /// The attribute value: `SDR`, `PQ` or `HLG`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sdr => "SDR",
            Self::Pq => "PQ",
            Self::Hlg => "HLG",
        }
    }

    /// The range a stream with this transfer characteristic (ITU-T H.273
    /// `TransferCharacteristics`, as FFmpeg reports it) is in: 16 (SMPTE
    /// ST 2084) is PQ, 18 (ARIB STD-B67) is HLG, anything else SDR.
    pub fn from_transfer(transfer: ffmpeg_next::util::color::TransferCharacteristic) -> Self {
        use ffmpeg_next::util::color::TransferCharacteristic as T;
        match transfer {
            T::SMPTE2084 => Self::Pq,
            T::ARIB_STD_B67 => Self::Hlg,
            _ => Self::Sdr,
        }
    }

    /// Parses an attribute value (`SDR`, `PQ`, `HLG`; case-sensitive, as
    /// enumerated-strings are).
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "SDR" => Some(Self::Sdr),
            "PQ" => Some(Self::Pq),
            "HLG" => Some(Self::Hlg),
            _ => None,
        }
    }
}

/// One video rung of the package, as the pipeline encoded it.
#[derive(Clone, Debug, PartialEq)]
pub struct VariantSpec {
    /// Folder of the rung inside the package, `"{height}p"` (e.g. `"720p"`);
    /// its media playlist is `{dir_name}/index.m3u8`.
    pub dir_name: String,
    /// Coded width in pixels (`RESOLUTION`).
    pub width: u32,
    /// Coded height in pixels (`RESOLUTION`).
    pub height: u32,
    /// Frame rate in frames per second (`FRAME-RATE`, written rounded to
    /// three decimals).
    pub frame_rate: f64,
    /// RFC 6381 codec string of the video, from [`super::codecs`]
    /// (`avc1.640028`, `hvc1.1.6.L120.90`).
    pub video_codec: String,
    /// `VIDEO-RANGE` to declare; `None` leaves the attribute out (allowed
    /// only when every variant is SDR, Apple HLS Authoring Spec 9.16).
    pub video_range: Option<VideoRange>,
}

/// The audio rendition shared by every rung (one `EXT-X-MEDIA`,
/// `TYPE=AUDIO`, `GROUP-ID="audio"`, RFC 8216 §4.3.4.1).
#[derive(Clone, Debug, PartialEq)]
pub struct AudioRenditionSpec {
    /// Folder of the rendition inside the package (`"audio"`); its media
    /// playlist is `{dir_name}/index.m3u8`.
    pub dir_name: String,
    /// RFC 6381 codec string (`mp4a.40.2`), from [`super::codecs::aac_codec_string`].
    pub codec: String,
    /// Language of the source track (ISO 639-1 or 639-2 code as the source
    /// container has it); written as an RFC 5646 tag through
    /// [`language_tag`], `und` when `None`.
    pub language: Option<String>,
    /// Human-readable `NAME` (`"English"`, `"Audio"`); must not be empty.
    pub name: String,
    /// Channel count, written as `CHANNELS` (RFC 8216 §4.3.4.1).
    pub channels: u32,
}

/// What [`write_master`] declared for one variant.
#[derive(Clone, Debug, PartialEq)]
pub struct VariantSummary {
    /// The rung's folder (`"720p"`).
    pub dir_name: String,
    /// The rung's video media playlist, measured.
    pub video: PlaylistStats,
    /// `BANDWIDTH` written: video peak + audio peak, bits per second.
    pub bandwidth: u64,
    /// `AVERAGE-BANDWIDTH` written: video average + audio average, bits per second.
    pub average_bandwidth: u64,
}

/// The result of [`write_master`].
#[derive(Clone, Debug, PartialEq)]
pub struct MasterSummary {
    /// Path of the master playlist written (`{package}/master.m3u8`).
    pub master_path: PathBuf,
    /// The variants in the order they appear in the master playlist.
    pub variants: Vec<VariantSummary>,
    /// The audio rendition's playlist, measured, when there is one.
    pub audio: Option<PlaylistStats>,
    /// The `EXT-X-TARGETDURATION` every media playlist now carries, seconds.
    pub target_duration_s: u64,
}

/// Average bit rate Apple wants the default (first) variant to have: "The
/// default video variants SHOULD be the 2000 kbit/s (average bit rate)
/// variant" (Apple HLS Authoring Spec 1.32), bits per second.
const DEFAULT_VARIANT_AVERAGE_BPS: f64 = 2_000_000.0;

/// Writes `{package_dir}/master.m3u8` for `variants` (and `audio`, when the
/// package has an audio rendition), from the media playlists and segments
/// FFmpeg's `hls` muxer wrote under `{package_dir}/{dir_name}/`.
///
/// Before measuring, each media playlist is normalized in place (re-read
/// and re-written with m3u8-rs, and only when something changes):
/// `EXT-X-PLAYLIST-TYPE:VOD` (Apple 8.6), `EXT-X-ENDLIST` (RFC 8216
/// §4.3.3.4), `EXT-X-INDEPENDENT-SEGMENTS` (RFC 8216 §4.3.5.1: the pipeline
/// forces a keyframe at every segment start; audio frames are independent),
/// the same `EXT-X-TARGETDURATION` in every playlist, raised where needed to
/// cover every `EXTINF` rounded to the nearest integer (RFC 8216 §4.3.3.1,
/// §6.2.4; Apple 8.2), and an `EXT-X-VERSION` at least what its tags need
/// (RFC 8216 §7). A playlist holding tags m3u8-rs cannot write back is left
/// untouched.
///
/// The master carries `EXT-X-VERSION` = the highest media playlist version,
/// `EXT-X-INDEPENDENT-SEGMENTS`, the audio `EXT-X-MEDIA` (`DEFAULT=YES`,
/// `AUTOSELECT=YES`, `LANGUAGE`, `CHANNELS`) and one `EXT-X-STREAM-INF` per
/// variant. Order: the variant whose average bit rate is nearest 2000 kbit/s
/// comes first, because the first variant listed is the one players start
/// with (Apple HLS Authoring Spec 1.32; hls.js does the same), then the
/// others by `BANDWIDTH`, highest first.
///
/// Errors: [`EngineError::Usage`] for an empty or inconsistent request
/// (no variants, duplicate folders, zero size or frame rate, empty audio
/// name); [`EngineError::Encode`] naming the playlist or segment when a
/// media playlist is missing or unparseable or a segment is missing;
/// [`EngineError::OutputNotWritable`] / [`EngineError::DiskFull`] when a
/// playlist cannot be written.
pub fn write_master(
    package_dir: &Path,
    variants: &[VariantSpec],
    audio: Option<&AudioRenditionSpec>,
) -> Result<MasterSummary> {
    validate_request(variants, audio)?;

    // Load every media playlist: the video rungs, then the audio rendition.
    let mut dirs: Vec<&str> = variants.iter().map(|v| v.dir_name.as_str()).collect();
    if let Some(a) = audio {
        dirs.push(a.dir_name.as_str());
    }
    let mut playlists = Vec::with_capacity(dirs.len());
    for dir in &dirs {
        let path = package_dir.join(dir).join(MEDIA_PLAYLIST);
        let playlist = read_media_playlist(&path).map_err(|cause| encode_error(&path, cause))?;
        playlists.push((path, playlist));
    }

    // One target duration for all (RFC 8216 §6.2.4), covering every EXTINF.
    let target =
        playlists.iter().map(|(_, pl)| pl.target_duration.max(max_rounded_extinf(pl))).max().unwrap_or(1).max(1);
    for (path, playlist) in &mut playlists {
        if normalize_media_playlist(playlist, target) {
            if playlist.unknown_tags.is_empty() {
                write_playlist_atomically(path, |w| playlist.write_to(w))?;
            } else {
                tracing::warn!(
                    playlist = %path.display(),
                    "media playlist has tags m3u8-rs cannot write back; left as FFmpeg wrote it"
                );
            }
        }
    }

    let mut stats = Vec::with_capacity(playlists.len());
    for (path, playlist) in &playlists {
        stats.push(measure_parsed(path, playlist)?);
    }
    let audio_stats = audio.map(|_| stats.pop().expect("audio playlist was loaded"));

    // Build the variant streams.
    let (audio_peak, audio_avg) = audio_stats.as_ref().map_or((0, 0), |s| (s.peak_bps, s.average_bps));
    let mut entries: Vec<(VariantStream, VariantSummary)> = variants
        .iter()
        .zip(stats)
        .map(|(spec, video)| {
            let bandwidth = video.peak_bps + audio_peak;
            let average_bandwidth = video.average_bps + audio_avg;
            let codecs = match audio {
                Some(a) => format!("{},{}", spec.video_codec, a.codec),
                None => spec.video_codec.clone(),
            };
            let other_attributes = spec.video_range.map(|range| {
                [("VIDEO-RANGE".to_string(), QuotedOrUnquoted::Unquoted(range.as_str().to_string()))]
                    .into_iter()
                    .collect()
            });
            let stream = VariantStream {
                uri: format!("{}/{}", spec.dir_name, MEDIA_PLAYLIST),
                bandwidth,
                average_bandwidth: Some(average_bandwidth),
                codecs: Some(codecs),
                resolution: Some(Resolution { width: u64::from(spec.width), height: u64::from(spec.height) }),
                frame_rate: Some(round_frame_rate(spec.frame_rate)),
                audio: audio.map(|_| AUDIO_GROUP_ID.to_string()),
                other_attributes,
                ..VariantStream::default()
            };
            let summary = VariantSummary { dir_name: spec.dir_name.clone(), video, bandwidth, average_bandwidth };
            (stream, summary)
        })
        .collect();
    order_variants(&mut entries);

    let alternatives = audio
        .map(|a| {
            vec![AlternativeMedia {
                media_type: AlternativeMediaType::Audio,
                uri: Some(format!("{}/{}", a.dir_name, MEDIA_PLAYLIST)),
                group_id: AUDIO_GROUP_ID.to_string(),
                language: Some(language_tag(a.language.as_deref())),
                name: a.name.clone(),
                default: true,
                autoselect: true,
                channels: (a.channels > 0).then(|| a.channels.to_string()),
                ..AlternativeMedia::default()
            }]
        })
        .unwrap_or_default();

    let version = playlists.iter().filter_map(|(_, pl)| pl.version).max().unwrap_or(3).max(3);
    let (streams, summaries): (Vec<_>, Vec<_>) = entries.into_iter().unzip();
    let master = MasterPlaylist {
        version: Some(version),
        independent_segments: true,
        alternatives,
        variants: streams,
        ..MasterPlaylist::default()
    };
    let master_path = package_dir.join(MASTER_PLAYLIST);
    write_playlist_atomically(&master_path, |w| master.write_to(w))?;

    Ok(MasterSummary { master_path, variants: summaries, audio: audio_stats, target_duration_s: target })
}

/// Normalizes a language code from a source container to an RFC 5646 tag
/// for `LANGUAGE` (RFC 8216 §4.3.4.1): ISO 639-2 codes that have an ISO
/// 639-1 equivalent become that two-letter code (RFC 5646 §2.2.1: the
/// shortest ISO 639 code is the one registered), both the bibliographic and
/// terminology forms (`fre`/`fra` → `fr`); other codes are lower-cased and
/// kept; `None`, empty, `und` and FFmpeg's `unk` give `und`.
pub fn language_tag(code: Option<&str>) -> String {
    let code = code.map(str::trim).unwrap_or("").to_ascii_lowercase();
    if code.is_empty() || code == "unk" || code == "und" {
        return "und".to_string();
    }
    ISO639_2_TO_1
        .iter()
        .find(|(three, _)| three.split('/').any(|t| t == code))
        .map_or(code.clone(), |(_, two)| (*two).to_string())
}

/// ISO 639-2 (terminology/bibliographic) → ISO 639-1, for the languages
/// most often found in source files.
const ISO639_2_TO_1: &[(&str, &str)] = &[
    ("eng", "en"),
    ("fra/fre", "fr"),
    ("deu/ger", "de"),
    ("spa", "es"),
    ("ita", "it"),
    ("por", "pt"),
    ("nld/dut", "nl"),
    ("swe", "sv"),
    ("nor", "no"),
    ("nob", "nb"),
    ("nno", "nn"),
    ("dan", "da"),
    ("fin", "fi"),
    ("isl/ice", "is"),
    ("pol", "pl"),
    ("ces/cze", "cs"),
    ("slk/slo", "sk"),
    ("slv", "sl"),
    ("hun", "hu"),
    ("ron/rum", "ro"),
    ("bul", "bg"),
    ("hrv", "hr"),
    ("srp", "sr"),
    ("bos", "bs"),
    ("mkd/mac", "mk"),
    ("sqi/alb", "sq"),
    ("ell/gre", "el"),
    ("tur", "tr"),
    ("rus", "ru"),
    ("ukr", "uk"),
    ("bel", "be"),
    ("lit", "lt"),
    ("lav", "lv"),
    ("est", "et"),
    ("cat", "ca"),
    ("eus/baq", "eu"),
    ("glg", "gl"),
    ("cym/wel", "cy"),
    ("gle", "ga"),
    ("ara", "ar"),
    ("heb", "he"),
    ("fas/per", "fa"),
    ("hin", "hi"),
    ("ben", "bn"),
    ("urd", "ur"),
    ("tam", "ta"),
    ("tel", "te"),
    ("zho/chi", "zh"),
    ("jpn", "ja"),
    ("kor", "ko"),
    ("vie", "vi"),
    ("tha", "th"),
    ("ind", "id"),
    ("msa/may", "ms"),
    ("fil", "fil"),
    ("swa", "sw"),
    ("afr", "af"),
    ("hye/arm", "hy"),
    ("kat/geo", "ka"),
    ("lat", "la"),
];

fn validate_request(variants: &[VariantSpec], audio: Option<&AudioRenditionSpec>) -> Result<()> {
    if variants.is_empty() {
        return Err(EngineError::Usage("an HLS package needs at least one video variant".into()));
    }
    let mut seen = std::collections::HashSet::new();
    for v in variants {
        if !valid_dir_name(&v.dir_name) {
            return Err(EngineError::Usage(format!("HLS variant folder {:?} is not a plain folder name", v.dir_name)));
        }
        if !seen.insert(v.dir_name.as_str()) {
            return Err(EngineError::Usage(format!("HLS variant folder {:?} is listed twice", v.dir_name)));
        }
        if v.width == 0 || v.height == 0 {
            return Err(EngineError::Usage(format!("HLS variant {}: resolution must not be zero", v.dir_name)));
        }
        if !(v.frame_rate.is_finite() && v.frame_rate > 0.0) {
            return Err(EngineError::Usage(format!("HLS variant {}: frame rate must be positive", v.dir_name)));
        }
        if v.video_codec.trim().is_empty() {
            return Err(EngineError::Usage(format!("HLS variant {}: video codec string is empty", v.dir_name)));
        }
    }
    if let Some(a) = audio {
        if !valid_dir_name(&a.dir_name) || seen.contains(a.dir_name.as_str()) {
            return Err(EngineError::Usage(format!(
                "HLS audio folder {:?} is invalid or used by a variant",
                a.dir_name
            )));
        }
        if a.name.trim().is_empty() || a.codec.trim().is_empty() {
            return Err(EngineError::Usage("HLS audio rendition needs a NAME and a codec string".into()));
        }
    }
    Ok(())
}

pub(crate) fn valid_dir_name(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\\', '"', '\n', '\r'])
}

/// `FRAME-RATE` is "rounded to three decimal places" (RFC 8216 §4.3.4.2).
fn round_frame_rate(fps: f64) -> f64 {
    (fps * 1000.0).round() / 1000.0
}

/// Puts the default variant first (average nearest 2000 kbit/s, Apple HLS
/// Authoring Spec 1.32), the rest by `BANDWIDTH`, highest first.
fn order_variants(entries: &mut [(VariantStream, VariantSummary)]) {
    entries.sort_by_key(|e| std::cmp::Reverse(e.0.bandwidth));
    let distance =
        |e: &(VariantStream, VariantSummary)| (e.1.average_bandwidth as f64 - DEFAULT_VARIANT_AVERAGE_BPS).abs();
    if let Some(best) = (0..entries.len()).min_by(|&a, &b| distance(&entries[a]).total_cmp(&distance(&entries[b]))) {
        entries[..=best].rotate_right(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn languages() {
        assert_eq!(language_tag(Some("eng")), "en");
        assert_eq!(language_tag(Some("GER")), "de");
        assert_eq!(language_tag(Some("deu")), "de");
        assert_eq!(language_tag(Some("fr")), "fr");
        assert_eq!(language_tag(Some("yue")), "yue");
        assert_eq!(language_tag(None), "und");
        assert_eq!(language_tag(Some("unk")), "und");
        assert_eq!(language_tag(Some(" ")), "und");
    }

    #[test]
    fn frame_rate_rounding() {
        assert_eq!(round_frame_rate(30000.0 / 1001.0), 29.97);
        assert_eq!(round_frame_rate(24000.0 / 1001.0), 23.976);
        assert_eq!(round_frame_rate(12.5), 12.5);
    }

    #[test]
    fn default_variant_first_then_descending() {
        let entry = |bw: u64, avg: u64| {
            (
                VariantStream { bandwidth: bw, ..VariantStream::default() },
                VariantSummary {
                    dir_name: bw.to_string(),
                    video: PlaylistStats {
                        segments: 1,
                        duration_s: 1.0,
                        bytes: 1,
                        peak_bps: bw,
                        average_bps: avg,
                        target_duration_s: 6,
                    },
                    bandwidth: bw,
                    average_bandwidth: avg,
                },
            )
        };
        let mut e =
            vec![entry(600, 400), entry(5_000_000, 3_600_000), entry(2_500_000, 1_800_000), entry(1_000_000, 700_000)];
        order_variants(&mut e);
        let order: Vec<u64> = e.iter().map(|x| x.0.bandwidth).collect();
        assert_eq!(order, [2_500_000, 5_000_000, 1_000_000, 600]);
    }
}
