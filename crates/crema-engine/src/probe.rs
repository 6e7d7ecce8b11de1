//! What a source file is: container, streams, color, HDR, rotation, timecode.
//!
//! [`probe`] opens a file with libavformat, reads the stream headers (and the
//! first video frame's side data where the container does not carry HDR
//! metadata), hashes the file with SHA-256 and returns a [`MediaInfo`].
//! The JSON form of [`MediaInfo`] is what `crema probe --json` prints; its
//! first six fields are the `/v1` contract's `source` object.

use serde::Serialize;
use std::path::Path;

use crate::error::{EngineError, Result};

/// Everything Crema needs to know about a source.
#[derive(Clone, Debug, Serialize)]
pub struct MediaInfo {
    /// File name without folders (the `/v1` `source.name`).
    pub name: String,
    /// File size in bytes.
    pub bytes: u64,
    /// Lower-case hex SHA-256 of the whole file.
    pub sha256: String,
    /// Duration in seconds (container duration, else the longest stream).
    pub duration_seconds: f64,
    /// Display resolution `"WIDTHxHEIGHT"` of the first video stream *after*
    /// rotation (a 1280x720 stream rotated 90° is `"720x1280"`); `None` without video.
    pub resolution: Option<String>,
    /// Frame rate as a reduced fraction string: `"25"`, `"24000/1001"`; `None` without video.
    pub frame_rate: Option<String>,
    /// Container format name as libavformat reports it (`"mov,mp4,m4a,3gp,3g2,mj2"`).
    pub container: String,
    /// Overall bit rate in bits per second, when known.
    pub bit_rate: Option<u64>,
    /// The first video stream, the one Crema encodes.
    pub video: Option<VideoStream>,
    /// Every audio stream, in file order.
    pub audio: Vec<AudioStream>,
    /// Subtitle streams.
    pub subtitles: Vec<OtherStream>,
    /// Data streams (timecode `tmcd`, GoPro `gpmd` telemetry...).
    pub data: Vec<OtherStream>,
    /// SMPTE timecode of the first frame (`"01:00:00:00"`), from a `tmcd`
    /// track, stream or container metadata or the codec's GOP header.
    pub timecode: Option<String>,
}

/// The video stream's facts.
#[derive(Clone, Debug, Serialize)]
pub struct VideoStream {
    /// Index of the stream in the container.
    pub index: usize,
    /// Codec short name (`h264`, `hevc`, `prores`, `dnxhd`, `mpeg2video`).
    pub codec: String,
    /// Codec profile name (`High`, `Main 10`, `HQ`), when known.
    pub profile: Option<String>,
    /// Coded width in pixels (before rotation).
    pub width: u32,
    /// Coded height in pixels (before rotation).
    pub height: u32,
    /// Pixel format name (`yuv420p`, `yuv422p10le`).
    pub pix_fmt: String,
    /// Bits per luma sample (8, 10, 12).
    pub bit_depth: u8,
    /// Average frame rate as (numerator, denominator); (0, 1) when unknown.
    pub frame_rate: (i32, i32),
    /// True when the real frame timing varies (`r_frame_rate` ≠ `avg_frame_rate`).
    pub variable_frame_rate: bool,
    /// Number of frames the container declares, when it does.
    pub frames: Option<u64>,
    /// Stream time base as (numerator, denominator).
    pub time_base: (i32, i32),
    /// Color primaries name as FFmpeg spells it (`bt709`, `bt2020`), `None` when unspecified.
    pub color_primaries: Option<String>,
    /// Transfer characteristics (`bt709`, `smpte2084` = PQ, `arib-std-b67` = HLG).
    pub color_transfer: Option<String>,
    /// Matrix coefficients (`bt709`, `bt2020nc`).
    pub color_matrix: Option<String>,
    /// `tv` (limited) or `pc` (full), `None` when unspecified.
    pub color_range: Option<String>,
    /// `pq`, `hlg` or `None` (SDR), from the transfer characteristics.
    pub hdr: Option<String>,
    /// SMPTE ST 2086 mastering display metadata, when present.
    pub mastering_display: Option<MasteringDisplay>,
    /// CTA-861.3 content light level, when present.
    pub content_light_level: Option<ContentLightLevel>,
    /// Display rotation in degrees clockwise that a player applies (0, 90, 180, 270).
    pub rotation: i32,
    /// `progressive`, `tt`, `bb`, `tb`, `bt` or `unknown`.
    pub field_order: String,
    /// Stream bit rate in bits per second, when known.
    pub bit_rate: Option<u64>,
}

/// SMPTE ST 2086 mastering display color volume. Chromaticities are CIE 1931
/// xy coordinates (0..1), luminance in cd/m².
#[derive(Clone, Copy, Debug, Serialize, PartialEq)]
pub struct MasteringDisplay {
    /// Red primary (x, y).
    pub red: (f64, f64),
    /// Green primary (x, y).
    pub green: (f64, f64),
    /// Blue primary (x, y).
    pub blue: (f64, f64),
    /// White point (x, y).
    pub white_point: (f64, f64),
    /// Minimum luminance, cd/m².
    pub min_luminance: f64,
    /// Maximum luminance, cd/m².
    pub max_luminance: f64,
}

/// CTA-861.3 content light level, both in cd/m².
#[derive(Clone, Copy, Debug, Serialize, PartialEq, Eq)]
pub struct ContentLightLevel {
    /// Maximum content light level (MaxCLL).
    pub max_cll: u32,
    /// Maximum frame-average light level (MaxFALL).
    pub max_fall: u32,
}

/// An audio stream's facts.
#[derive(Clone, Debug, Serialize)]
pub struct AudioStream {
    /// Index of the stream in the container.
    pub index: usize,
    /// Codec short name (`aac`, `pcm_s16le`, `mp2`, `vorbis`).
    pub codec: String,
    /// Codec profile (`LC`), when known.
    pub profile: Option<String>,
    /// Channel count.
    pub channels: u32,
    /// Channel layout name (`stereo`, `5.1`), when known.
    pub layout: Option<String>,
    /// Sample rate in Hz.
    pub sample_rate: u32,
    /// ISO 639-2 language tag, when the container carries one.
    pub language: Option<String>,
    /// Stream bit rate in bits per second, when known.
    pub bit_rate: Option<u64>,
    /// True when the stream is flagged default.
    pub default: bool,
}

/// A subtitle or data stream.
#[derive(Clone, Debug, Serialize)]
pub struct OtherStream {
    /// Index of the stream in the container.
    pub index: usize,
    /// Codec name, or the codec tag (`tmcd`, `gpmd`) when FFmpeg has no codec for it.
    pub codec: String,
    /// ISO 639-2 language tag, when the container carries one.
    pub language: Option<String>,
    /// The stream's `handler_name` metadata, when present.
    pub handler: Option<String>,
}

/// Probes `path`.
///
/// Errors: [`EngineError::InputUnreadable`] when the file cannot be opened
/// for reading; [`EngineError::InputUnsupported`] when it is empty, not a
/// media container, or has no decodable stream. A file with audio but no
/// video probes fine (`video: None`); encoding it is refused later.
pub fn probe(path: &Path) -> Result<MediaInfo> {
    let _ = path;
    Err(EngineError::Internal("probe not implemented yet".into()))
}
