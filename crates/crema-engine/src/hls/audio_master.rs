//! The master playlist of an audio-only package: one `EXT-X-STREAM-INF` per
//! AAC bit rate, each pointing at its own audio media playlist.
//!
//! RFC 8216 §4.3.4.2 lets a variant stream be audio only: its `CODECS` lists
//! only the audio codec and it has no `RESOLUTION` or `FRAME-RATE` (those
//! are for variants with video); Apple's HLS Authoring Specification (§2.8,
//! "audio-only variants") and hls.js play such packages as any other,
//! switching between the bit rates as bandwidth allows.
//!
//! ```text
//! OUT/master.m3u8
//! OUT/aac_64k/index.m3u8, init.mp4, seg_*.m4s
//! OUT/aac_128k/...
//! OUT/aac_192k/...
//! ```

use std::path::Path;

use m3u8_rs::{MasterPlaylist, VariantStream};

use super::master::{MasterSummary, VariantSummary, valid_dir_name};
use super::playlist::{
    MASTER_PLAYLIST, MEDIA_PLAYLIST, max_rounded_extinf, measure_parsed, normalize_media_playlist, read_media_playlist,
    write_playlist_atomically,
};
use crate::{EngineError, Result};

/// One audio-only variant, as the pipeline encoded it.
#[derive(Clone, Debug, PartialEq)]
pub struct AudioVariantSpec {
    /// Folder inside the package (`"aac_128k"`); its playlist is `{dir_name}/index.m3u8`.
    pub dir_name: String,
    /// RFC 6381 codec string (`mp4a.40.2`).
    pub codec: String,
}

/// Average bit rate of the variant listed first (the one players start
/// with), bits per second: 128 kbit/s stereo AAC, the middle of Crema's
/// audio ladder and the rate Apple's authoring spec lists for stereo AAC-LC.
const DEFAULT_AUDIO_AVERAGE_BPS: f64 = 128_000.0;

/// Writes `{package_dir}/master.m3u8` for audio-only `variants`, after
/// normalizing their media playlists as [`super::write_master`] does (VOD,
/// `EXT-X-ENDLIST`, independent segments, one target duration). Each
/// variant gets `BANDWIDTH` (measured peak segment bit rate),
/// `AVERAGE-BANDWIDTH` and `CODECS`; the one whose average is nearest 128
/// kbit/s comes first, the others by `BANDWIDTH`, highest first. The
/// summaries' `video` fields hold the audio playlists' figures.
///
/// Errors: [`EngineError::Usage`] for no variants or a bad folder name;
/// [`EngineError::Encode`] when a media playlist or segment is missing or
/// unparseable; [`EngineError::OutputNotWritable`] / [`EngineError::DiskFull`]
/// when a playlist cannot be written.
pub fn write_audio_master(package_dir: &Path, variants: &[AudioVariantSpec]) -> Result<MasterSummary> {
    if variants.is_empty() {
        return Err(EngineError::Usage("an audio-only HLS package needs at least one variant".into()));
    }
    if let Some(v) = variants.iter().find(|v| !valid_dir_name(&v.dir_name) || v.codec.trim().is_empty()) {
        return Err(EngineError::Usage(format!("HLS audio variant {:?}: bad folder name or codec", v.dir_name)));
    }
    let mut playlists = Vec::with_capacity(variants.len());
    for v in variants {
        let path = package_dir.join(&v.dir_name).join(MEDIA_PLAYLIST);
        let playlist = read_media_playlist(&path)
            .map_err(|cause| EngineError::Encode { path: path.clone(), cause: format!("HLS packaging: {cause}") })?;
        playlists.push((path, playlist));
    }
    let target =
        playlists.iter().map(|(_, pl)| pl.target_duration.max(max_rounded_extinf(pl))).max().unwrap_or(1).max(1);
    for (path, playlist) in &mut playlists {
        if normalize_media_playlist(playlist, target) && playlist.unknown_tags.is_empty() {
            write_playlist_atomically(path, |w| playlist.write_to(w))?;
        }
    }
    let mut entries = Vec::with_capacity(variants.len());
    for (v, (path, playlist)) in variants.iter().zip(&playlists) {
        let stats = measure_parsed(path, playlist)?;
        let stream = VariantStream {
            uri: format!("{}/{}", v.dir_name, MEDIA_PLAYLIST),
            bandwidth: stats.peak_bps,
            average_bandwidth: Some(stats.average_bps),
            codecs: Some(v.codec.clone()),
            ..VariantStream::default()
        };
        let summary = VariantSummary {
            dir_name: v.dir_name.clone(),
            bandwidth: stats.peak_bps,
            average_bandwidth: stats.average_bps,
            video: stats,
        };
        entries.push((stream, summary));
    }
    entries.sort_by_key(|e| std::cmp::Reverse(e.0.bandwidth));
    let distance =
        |e: &(VariantStream, VariantSummary)| (e.1.average_bandwidth as f64 - DEFAULT_AUDIO_AVERAGE_BPS).abs();
    if let Some(best) = (0..entries.len()).min_by(|&a, &b| distance(&entries[a]).total_cmp(&distance(&entries[b]))) {
        entries[..=best].rotate_right(1);
    }
    let version = playlists.iter().filter_map(|(_, pl)| pl.version).max().unwrap_or(3).max(3);
    let (streams, summaries): (Vec<_>, Vec<_>) = entries.into_iter().unzip();
    let master = MasterPlaylist {
        version: Some(version),
        independent_segments: true,
        variants: streams,
        ..MasterPlaylist::default()
    };
    let master_path = package_dir.join(MASTER_PLAYLIST);
    write_playlist_atomically(&master_path, |w| master.write_to(w))?;
    Ok(MasterSummary { master_path, variants: summaries, audio: None, target_duration_s: target })
}
