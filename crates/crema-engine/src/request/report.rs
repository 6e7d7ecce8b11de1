//! What one encode reports back: [`EncodeResult`], one [`OutputReport`]
//! per output written, and the encoder set-up that made each
//! ([`EncoderReport`]).

use serde::Serialize;
use std::path::PathBuf;

use crate::encoder::Backend;
use crate::media::MediaInfo;
use crate::quality::Pooled;
use crate::waveform::WaveformReport;

/// Which artifact a client should keep (the `/v1` `final_artifact` extension).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FinalArtifact {
    /// The new encode.
    Encoded,
    /// The source: encoding would not have made it smaller (`sophon-auto`).
    Original,
}

/// The encoder that produced an output, and exactly how it was set up.
#[derive(Clone, Debug, Serialize)]
pub struct EncoderReport {
    /// FFmpeg encoder name (`libx265`, `hevc_nvenc`).
    pub name: String,
    /// Back-end family.
    pub backend: Backend,
    /// Why it was used (requested, detected hardware, or the fallback reason).
    pub reason: String,
    /// Every option set, as `ffmpeg -c:v NAME -KEY VALUE` pairs, so the run
    /// can be reproduced with the `ffmpeg` command line.
    pub options: Vec<EncoderOption>,
}

/// One name/value encoder option.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct EncoderOption {
    /// Option name as the `ffmpeg` command line takes it (`crf`, `x265-params`).
    pub name: String,
    /// Value as a string.
    pub value: String,
}

/// One HLS rung in the result.
#[derive(Clone, Debug, Serialize)]
pub struct RungReport {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Media playlist path.
    pub playlist: PathBuf,
    /// Measured peak bit rate (video + audio), bits/s, as in the master's BANDWIDTH.
    pub bandwidth: u64,
    /// Measured average bit rate, bits/s (AVERAGE-BANDWIDTH).
    pub average_bandwidth: u64,
    /// RFC 6381 codecs string.
    pub codecs: String,
    /// VBV cap the encoder was given, kbit/s.
    pub peak_kbps_cap: u32,
    /// The encoder used for the rung.
    pub encoder: EncoderReport,
}

/// One output in the result.
#[derive(Clone, Debug, Serialize)]
pub struct OutputReport {
    /// `file`, `hls` or `hls_mp4` (the `keep_mp4` file).
    pub kind: String,
    /// File path (for `hls`, the master playlist).
    pub path: PathBuf,
    /// Size in bytes (for `hls`, the whole folder).
    pub bytes: u64,
    /// Duration in seconds, measured from the written output.
    pub duration_seconds: f64,
    /// Width in pixels (for `hls`, the top rung).
    pub width: u32,
    /// Height in pixels (for `hls`, the top rung).
    pub height: u32,
    /// Audio tracks in the output.
    pub audio_tracks: usize,
    /// The video encoder (for `hls`, the top rung's; each rung in `renditions`).
    pub encoder: Option<EncoderReport>,
    /// How the source's video was decoded (software or a hardware
    /// back-end, and why); `None` for audio-only outputs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decoder: Option<crate::hw_decode::DecoderReport>,
    /// HLS rungs, tallest first (only for `hls`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub renditions: Vec<RungReport>,
}

/// The result of one encode.
#[derive(Clone, Debug, Serialize)]
pub struct EncodeResult {
    /// The source as probed.
    pub source: MediaInfo,
    /// Profile as asked.
    pub profile: String,
    /// The concrete profile that ran (for `sophon-auto`, the one chosen).
    pub effective_profile_id: String,
    /// Why that profile (for `sophon-auto`), else `None`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile_reason: Option<String>,
    /// Which artifact to keep.
    pub final_artifact: FinalArtifact,
    /// 0..100: how much smaller the main output is than the source (0 when `original`).
    pub saved_percent: f64,
    /// Outputs written (empty when `final_artifact` is `original`).
    pub outputs: Vec<OutputReport>,
    /// Wall time of the whole run, seconds.
    pub elapsed_seconds: f64,
    /// Notices that were also sent as events (fallbacks, dropped rungs).
    pub notices: Vec<String>,
    /// Parts of the source that were left out (an audio stream whose
    /// parameters cannot be read), also sent as [`crate::Event::Warning`]s. The
    /// encode succeeded without them.
    pub warnings: Vec<String>,
    /// The waveform written, when one was asked for and could be made (why
    /// not is one of the `warnings`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waveform: Option<WaveformReport>,
    /// The main output's measured quality, when the request asked for it
    /// and it could be measured (why not is one of the `warnings`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quality: Option<MeasuredQuality>,
}

/// The quality of an encode's main output, measured against its source
/// after the encode ([`crate::measure`]).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MeasuredQuality {
    /// What was measured: `file`, or `hls 1080p` (the top rung's media playlist).
    pub output: String,
    /// VMAF model (`vmaf_v0.6.1`, or `vmaf_4k_v0.6.1` above 2560×1440).
    pub model: String,
    /// Width × height in pixels the frames were scored at: the source's
    /// (the output is scaled up to it with bicubic filtering).
    pub width: u32,
    /// See `width`.
    pub height: u32,
    /// Frames scored (every frame that paired by timestamp).
    pub frames: u64,
    /// VMAF over the frames, 0..100.
    pub vmaf: Pooled,
    /// All-plane PSNR over the frames, dB.
    pub psnr: Pooled,
    /// All-plane SSIM over the frames, 0..1.
    pub ssim: Pooled,
    /// Wall time the measurement took, seconds.
    pub seconds: f64,
    /// `sophon-auto`'s verified encode: the target and every chunk
    /// ([`crate::auto::verified`]); `None` for a measurement after the
    /// encode (`measure`), which scores every frame.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verified: Option<VerifiedQuality>,
}

/// How `sophon-auto` verified its encode chunk by chunk. The pooled
/// scores of the [`MeasuredQuality`] around it are those of the chunks
/// delivered, every `subsample`-th frame.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct VerifiedQuality {
    /// VMAF the title mean had to reach, 0..100.
    pub target_vmaf: f64,
    /// VMAF every chunk's mean had to reach, 0..100.
    pub chunk_floor_vmaf: f64,
    /// Whether the target or a chunk's floor was missed: the best version
    /// measured was delivered anyway.
    pub best_effort: bool,
    /// Every how many frames one was scored (odd) in chunks of 90 frames or
    /// more; shorter chunks (and probes) score every frame.
    pub subsample: u32,
    /// Repair rounds run after the first pass, 0..=2.
    pub repair_rounds: u32,
    /// Chunk encodes made in all (first pass and repairs).
    pub chunk_encodes: u32,
    /// Index of the chunk with the lowest mean VMAF.
    pub worst_chunk: usize,
    /// Every chunk, in title order.
    pub chunks: Vec<ChunkQuality>,
}

/// One chunk of a verified encode.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ChunkQuality {
    /// Position in the title, from 0.
    pub index: usize,
    /// Presentation time of its first frame, seconds from the start.
    pub start_seconds: f64,
    /// Where the next chunk starts (the title's end for the last), seconds.
    pub end_seconds: f64,
    /// Source frames in it.
    pub frames: u64,
    /// The x265 CRF of the version delivered.
    pub crf: f64,
    /// VMAF of the version delivered, pooled over its scored frames.
    pub vmaf: Pooled,
    /// Video bytes of the version delivered.
    pub bytes: u64,
    /// Versions encoded (1 = the first pass held).
    pub encodes: u32,
}
