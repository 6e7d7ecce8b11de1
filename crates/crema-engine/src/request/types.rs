//! What a caller asks one encode for: [`EncodeRequest`] and its outputs
//! ([`FileRequest`], [`HlsRequest`]). The rules these values obey are in
//! the parent module ([`super::check_output`]).

use serde::Serialize;
use std::path::PathBuf;

use crate::encoder::Preference;
use crate::profile::VideoCodec;
use crate::waveform::WaveformOutput;

/// Single-file container.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Container {
    /// MP4 (ISO BMFF), with faststart and the `hvc1` sample entry for HEVC.
    #[default]
    Mp4,
    /// Matroska.
    Mkv,
}

impl Container {
    /// File extension without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            Container::Mp4 => "mp4",
            Container::Mkv => "mkv",
        }
    }
}

/// A single-file output.
#[derive(Clone, Debug)]
pub struct FileRequest {
    /// Final path of the file.
    pub path: PathBuf,
    /// Container.
    pub container: Container,
}

/// An HLS ladder output (the `/v1` contract's `output.hls`).
#[derive(Clone, Debug)]
pub struct HlsRequest {
    /// Final folder of the package (`master.m3u8` inside).
    pub dir: PathBuf,
    /// Rung heights in pixels; rungs taller than the source are dropped.
    pub renditions: Vec<u32>,
    /// Video codec of every rung.
    pub codec: VideoCodec,
    /// Target segment duration in seconds (Apple HLS Authoring Spec §7: 6 s).
    pub segment_seconds: f64,
    /// Also write a progressive MP4 of the rung of this height, at this path.
    pub keep_mp4: Option<(u32, PathBuf)>,
}

/// Everything one encode needs.
#[derive(Clone, Debug)]
pub struct EncodeRequest {
    /// The source file.
    pub input: PathBuf,
    /// Profile ID as asked (may be `sophon-auto`).
    pub profile: String,
    /// Single-file output, if any.
    pub file: Option<FileRequest>,
    /// HLS output, if any.
    pub hls: Option<HlsRequest>,
    /// Include audio (every track in files; one AAC rendition in HLS).
    pub audio: bool,
    /// Scale the single file down to this height in pixels (never up).
    pub target_height: Option<u32>,
    /// Encoder back-end preference.
    pub encoder: Preference,
    /// Video decoder: software (the default) or a hardware back-end
    /// ([`crate::hw_decode`]); how it went is each output's `decoder`.
    pub decoder: crate::hw_decode::DecodePreference,
    /// Replace existing outputs.
    pub overwrite: bool,
    /// Also write the waveform of one audio track, made from the frames
    /// this encode decodes (see [`crate::waveform::WaveformOutput`]).
    pub waveform: Option<WaveformOutput>,
    /// Score the main output against the source once it is written (VMAF,
    /// PSNR, SSIM of every frame: [`crate::measure`]); the result is
    /// [`super::EncodeResult::quality`]. Costs a second decode of the source
    /// and of the output, and the metrics.
    pub measure: bool,
    /// `sophon-auto` only: the VMAF (0..100, model `vmaf_v0.6.1`) the
    /// title mean must reach, every chunk within 3 of it; `None` for
    /// [`crate::auto::verified::DEFAULT_TARGET_VMAF`]. Other profiles ignore it.
    pub target_vmaf: Option<f64>,
    /// Chunk-parallel encoding of the single file
    /// ([`crate::chunks::parallel`]): `None` lets the engine decide from the
    /// machine's cores and the output's size (below 16 cores at 1080p: one
    /// piece); `Some(0 | 1)` never; `Some(n)` encodes the title in chunks
    /// on `n` workers side by side (at most one per core). HLS, hardware encoders and
    /// `sophon-auto`'s verified path are always encoded their own way.
    pub chunk_workers: Option<u32>,
}
