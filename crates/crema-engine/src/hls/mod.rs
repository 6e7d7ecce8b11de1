//! HLS packaging helpers: codec strings, the master playlist and the
//! package checker.
//!
//! The pipeline runs libavformat's `hls` muxer once per rung (and once for
//! the audio rendition) with `hls_playlist_type=vod`; this module finishes
//! and verifies the package it leaves behind:
//!
//! ```text
//! OUT/master.m3u8                     written by master::write_master
//! OUT/{height}p/index.m3u8            one video media playlist per rung
//! OUT/{height}p/init.mp4              fMP4 initialization section (EXT-X-MAP)
//! OUT/{height}p/seg_00000.m4s ...     segments (.m4s for fMP4, .ts for MPEG-TS)
//! OUT/audio/index.m3u8, init.mp4, seg_*.m4s   the shared AAC rendition (optional)
//! ```
//!
//! An audio-only source gives an audio-only package instead: one AAC
//! variant per bit rate, `OUT/aac_{kbps}k/index.m3u8` (see [`audio_master`]).
//!
//! - [`codecs`]: RFC 6381 `CODECS` strings read from the real parameter sets.
//! - [`master`]: measures segments and writes `master.m3u8` with m3u8-rs.
//! - [`playlist`]: reads, measures and rewrites media playlists.
//! - [`uris`]: a media playlist's segment URIs, and the playlist with them
//!   replaced (presigned bucket URLs in farm mode).
//! - [`check`]: re-reads a package and lists every rule of RFC 8216 and
//!   Apple's HLS Authoring Specification it breaks.

pub mod audio_master;
pub mod check;
pub mod codecs;
pub mod master;
pub mod playlist;
pub mod uris;

pub use audio_master::{AudioVariantSpec, write_audio_master};
pub use check::{CheckReport, Violation, check_package};
pub use codecs::{aac_codec_string, avc_codec_string, hevc_codec_string};
pub use master::{AudioRenditionSpec, MasterSummary, VariantSpec, VariantSummary, VideoRange, write_master};
pub use playlist::{AUDIO_GROUP_ID, MASTER_PLAYLIST, MEDIA_PLAYLIST, PlaylistStats, measure_media_playlist};
pub use uris::{media_playlist_uris, rewrite_media_playlist};
