//! Extension `output.measure` / `output.quality`: the finished output scored
//! against its source after the encode (the engine's `measure` module:
//! VMAF, PSNR and SSIM of every frame, an HLS ladder through its top rung).

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
        }
    }
}
