//! Extension `output.measure` / `output.quality`: the finished output scored
//! against its source after the encode (the engine's `measure` module:
//! VMAF, PSNR and SSIM of every frame, an HLS ladder through its top rung),
//! or `sophon-auto`'s verified encode scored chunk by chunk as it was made
//! (`output.quality.verified`, the engine's `auto::verified`).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// One metric pooled over the scored frames.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PooledScore {
    /// Arithmetic mean.
    pub mean: f64,
    /// Harmonic mean as libvmaf pools it (`n / Σ 1/(xᵢ + 1) − 1`): the worst frames weigh most.
    pub harmonic_mean: f64,
    /// 1st percentile (linear interpolation between the closest ranks).
    pub p1: f64,
    /// Lowest frame score.
    pub min: f64,
}

impl From<crema_engine::quality::Pooled> for PooledScore {
    fn from(p: crema_engine::quality::Pooled) -> Self {
        Self { mean: p.mean, harmonic_mean: p.harmonic_mean, p1: p.p1, min: p.min }
    }
}

/// Extension `output.quality`: the written output measured against the
/// source (asked with `output.measure: true`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct QualityInfo {
    /// What was measured: `file`, or `hls 720p` (the ladder's top rung).
    pub output: String,
    /// VMAF model: `vmaf_v0.6.1`, or `vmaf_4k_v0.6.1` for sources above 2560×1440.
    pub model: String,
    /// Width in pixels the frames were scored at (the source's; the output is scaled up to it).
    pub width: u32,
    /// Height in pixels the frames were scored at.
    pub height: u32,
    /// Frames scored.
    pub frames: u64,
    /// VMAF, 0..100.
    pub vmaf: PooledScore,
    /// All-plane PSNR, dB.
    pub psnr: PooledScore,
    /// All-plane SSIM, 0..1.
    pub ssim: PooledScore,
    /// Wall time of the measurement, seconds.
    pub seconds: f64,
    /// `sophon-auto`'s verified encode: the target, whether it was reached
    /// and every chunk. Absent for a measurement after the encode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verified: Option<VerifiedInfo>,
}

/// How `sophon-auto` verified its encode chunk by chunk; the pooled scores
/// around it are those of the delivered chunks (every `subsample`-th frame).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct VerifiedInfo {
    /// VMAF the title mean had to reach, 0..100.
    pub target_vmaf: f64,
    /// VMAF every chunk's mean had to reach, 0..100.
    pub chunk_floor_vmaf: f64,
    /// The target or a chunk's floor was missed: the best version measured was delivered.
    pub best_effort: bool,
    /// Every how many frames one was scored in chunks of 90 frames or more (shorter: every frame).
    pub subsample: u32,
    /// Repair rounds after the first pass, 0..=2.
    pub repair_rounds: u32,
    /// Chunk encodes made in all.
    pub chunk_encodes: u32,
    /// Index of the chunk with the lowest mean VMAF.
    pub worst_chunk: usize,
    /// Every chunk, in title order.
    pub chunks: Vec<ChunkInfo>,
}

/// One chunk of a verified encode.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ChunkInfo {
    /// Position in the title, from 0.
    pub index: usize,
    /// Its first frame's time, seconds from the start.
    pub start_seconds: f64,
    /// Where the next chunk starts (the title's end for the last), seconds.
    pub end_seconds: f64,
    /// Source frames in it.
    pub frames: u64,
    /// The x265 CRF of the version delivered.
    pub crf: f64,
    /// VMAF of the version delivered.
    pub vmaf: PooledScore,
    /// Video bytes of the version delivered.
    pub bytes: u64,
    /// Versions encoded (1 = the first pass held).
    pub encodes: u32,
}

impl From<&crema_engine::request::VerifiedQuality> for VerifiedInfo {
    fn from(v: &crema_engine::request::VerifiedQuality) -> Self {
        Self {
            target_vmaf: v.target_vmaf,
            chunk_floor_vmaf: v.chunk_floor_vmaf,
            best_effort: v.best_effort,
            subsample: v.subsample,
            repair_rounds: v.repair_rounds,
            chunk_encodes: v.chunk_encodes,
            worst_chunk: v.worst_chunk,
            chunks: v
                .chunks
                .iter()
                .map(|c| ChunkInfo {
                    index: c.index,
                    start_seconds: c.start_seconds,
                    end_seconds: c.end_seconds,
                    frames: c.frames,
                    crf: c.crf,
                    vmaf: c.vmaf.into(),
                    bytes: c.bytes,
                    encodes: c.encodes,
                })
                .collect(),
        }
    }
}

impl From<&crema_engine::request::MeasuredQuality> for QualityInfo {
    fn from(q: &crema_engine::request::MeasuredQuality) -> Self {
        Self {
            output: q.output.clone(),
            model: q.model.clone(),
            width: q.width,
            height: q.height,
            frames: q.frames,
            vmaf: q.vmaf.into(),
            psnr: q.psnr.into(),
            ssim: q.ssim.into(),
            seconds: q.seconds,
            verified: q.verified.as_ref().map(Into::into),
        }
    }
}
