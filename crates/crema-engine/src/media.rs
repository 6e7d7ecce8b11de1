//! What a source is, as plain data: [`MediaInfo`] and its stream types,
//! filled in by [`crate::probe`], read by [`crate::streams`] (which streams
//! are encoded), [`crate::limits`] and the encode paths. No FFmpeg calls
//! live here, so every module that reads a probe can import it without
//! importing the probe.
//!
//! The JSON form of [`MediaInfo`] is what `crema probe --json` prints; its
//! first six fields are the `/v1` contract's `source` object.

use serde::Serialize;

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
    /// Nominal frame rate as a reduced fraction string: `"25"`, `"24000/1001"`,
    /// `"25/2"`; `None` without video. For variable-rate sources this is the
    /// base rate (`r_frame_rate`) when the average is at most 20% below it
    /// (dropped frames), else the average snapped to a standard rate.
    pub frame_rate: Option<String>,
    /// Container format name as libavformat reports it (`"mov,mp4,m4a,3gp,3g2,mj2"`).
    pub container: String,
    /// Overall bit rate in bits per second, when known.
    pub bit_rate: Option<u64>,
    /// The video stream Crema encodes: the one libavformat's
    /// `av_find_best_stream` ranks first (see [`crate::streams`]), unless
    /// that is cover art or has no picture size, then the first that is neither.
    pub video: Option<VideoStream>,
    /// Every audio stream, in file order (of every program).
    pub audio: Vec<AudioStream>,
    /// Index of the audio stream that goes with the video: the best audio
    /// stream of the video's program (`av_find_best_stream` with the video as
    /// related stream), skipping streams whose sample rate or channel count
    /// cannot be read; `None` when there is none. HLS packages use this one.
    pub main_audio: Option<usize>,
    /// The programs (MPEG-TS services) with their streams; empty for
    /// containers without programs (MP4, MOV, MKV).
    pub programs: Vec<Program>,
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
    /// Average frame rate as (numerator, denominator), reduced; the
    /// container's base rate (`r_frame_rate`) when it declares no average;
    /// (0, 1) when unknown.
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
    /// Display rotation in degrees clockwise that a player applies (0, 90,
    /// 180, 270), the angle the `ffmpeg` CLI's autorotate uses: 90 means
    /// `transpose=clock`, 180 `hflip,vflip`, 270 `transpose=cclock`.
    ///
    /// This is the *negation* of the display matrix angle that `ffprobe`
    /// prints as `rotation` (counter-clockwise): a phone clip that `ffprobe`
    /// lists as `rotation=90` is reported here as 270 and is turned upright
    /// with `transpose=cclock`. Mirroring in the matrix is ignored.
    pub rotation: i32,
    /// `progressive`, `tt`, `bb`, `tb`, `bt` or `unknown`: the container's
    /// or parser's field order, else the first decoded frame's interlace flags.
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

/// One program (an MPEG-TS service) of a source.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Program {
    /// The program number (MPEG-TS `program_number`, the DVB service id).
    pub id: i32,
    /// The service name (DVB SDT `service_name`), when the container has it.
    pub service_name: Option<String>,
    /// The service provider (DVB SDT `service_provider_name`), when known.
    pub service_provider: Option<String>,
    /// Indices of the streams the program carries, in file order.
    pub streams: Vec<usize>,
}

#[cfg(test)]
impl VideoStream {
    /// A 1920x1080 25 fps 8-bit H.264 stream for unit tests, with the
    /// given field order, rotation (degrees) and HDR transfer.
    pub(crate) fn test_1080p25(field_order: &str, rotation: i32, hdr: Option<&str>) -> VideoStream {
        VideoStream {
            index: 0,
            codec: "h264".into(),
            profile: None,
            width: 1920,
            height: 1080,
            pix_fmt: "yuv420p".into(),
            bit_depth: 8,
            frame_rate: (25, 1),
            variable_frame_rate: false,
            frames: None,
            time_base: (1, 25),
            color_primaries: None,
            color_transfer: None,
            color_matrix: None,
            color_range: None,
            hdr: hdr.map(String::from),
            mastering_display: None,
            content_light_level: None,
            rotation,
            field_order: field_order.into(),
            bit_rate: None,
        }
    }
}
