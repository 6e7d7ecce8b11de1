//! Quality measurement in process: VMAF (libvmaf 2.3.1, linked statically),
//! VMAF NEG, PSNR and SSIM of a distorted video against its reference.
//!
//! Two layers:
//!
//! - [`Scorer`]: fed pairs of decoded frames (`ffmpeg_next::frame::Video`),
//!   already matched, returns per-frame scores and pooled results. This is the
//!   piece an encode loop calls per chunk: the encoder's own input frames are
//!   the reference, the decoded output frames the distorted ones. See
//!   [`Scorer`] for the chunk protocol ([`Scorer::start_at`]) that makes
//!   per-chunk scores equal those of one whole-title run.
//! - [`compare`]: decodes two files, pairs their frames by timestamp
//!   ([`Pairer`]) and scores them: `crema quality`.
//!
//! Before scoring, both frames are converted to one pixel format (the coarser
//! chroma subsampling and the higher bit depth of the two) and the distorted
//! frame is scaled to the reference size with swscale's bicubic filter, so a
//! 720p rendition is measured against its 1080p source at 1080p
//! ([`QualityOptions::at_distorted_size`] scales the reference down instead).
//!
//! Metrics, per scored frame:
//! - VMAF with `vmaf_v0.6.1`, or `vmaf_4k_v0.6.1` when the reference is larger
//!   than 2560×1440 pixels ([`Model::Auto`]); 0..100 (clipped, as libvmaf does
//!   by default).
//! - VMAF NEG (`vmaf_v0.6.1neg`: the same model with VIF/ADM enhancement gain
//!   limited to 1.0, so sharpening or contrast boosts cannot raise the score);
//!   libvmaf 2.3.1 ships no 4K NEG model, so NEG always uses this one.
//! - PSNR per plane and over all planes, as FFmpeg's `psnr` filter computes it
//!   (MSE over the plane, peak `2^bits − 1`; "all" from the pixel-count
//!   weighted MSE of the three planes), capped at `6·bits + 12` dB the way
//!   libvmaf's `psnr` feature caps it (60 dB at 8 bits), so identical frames
//!   give a finite number.
//! - SSIM of the luma plane and over all planes, as FFmpeg's `ssim` filter
//!   computes it (x264's SSIM: 8×8 windows on a 4-pixel grid; "all" weighted
//!   by plane pixel count); 0..1.
//!
//! PSNR and SSIM are cheap guards: a pairing error (frames one apart) shows as
//! a PSNR collapse long before anyone reads a VMAF curve.

mod compare;
mod convert;
mod metrics;
mod pair;
mod pool;
mod scorer;
mod vmaf;

pub use compare::{Window, compare, compare_window};
pub(crate) mod in_loop;
pub use pair::{Pair, Pairer, PairingStats};
pub use pool::Pooled;
pub use scorer::{Scorer, libvmaf_version};

use serde::Serialize;

/// Which VMAF model scores the frames.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Model {
    /// `vmaf_4k_v0.6.1` when the reference is larger than 2560×1440 pixels
    /// (more pixels than 1440p), else `vmaf_v0.6.1`.
    #[default]
    Auto,
    /// `vmaf_v0.6.1`: 1080p viewing at 3 picture heights.
    V061,
    /// `vmaf_4k_v0.6.1`: 4K viewing at 1.5 picture heights.
    V061_4k,
}

impl Model {
    /// The libvmaf built-in model name for a reference of `width` × `height` pixels.
    pub fn name_for(self, width: u32, height: u32) -> &'static str {
        match self {
            Self::V061 => "vmaf_v0.6.1",
            Self::V061_4k => "vmaf_4k_v0.6.1",
            Self::Auto if u64::from(width) * u64::from(height) > 2560 * 1440 => "vmaf_4k_v0.6.1",
            Self::Auto => "vmaf_v0.6.1",
        }
    }

    /// Parses `auto`, `vmaf_v0.6.1` or `vmaf_4k_v0.6.1`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "auto" => Some(Self::Auto),
            "vmaf_v0.6.1" => Some(Self::V061),
            "vmaf_4k_v0.6.1" => Some(Self::V061_4k),
            _ => None,
        }
    }
}

/// The name of the NEG model reported beside VMAF.
pub const NEG_MODEL: &str = "vmaf_v0.6.1neg";

/// How to score.
#[derive(Clone, Debug)]
pub struct QualityOptions {
    /// The VMAF model.
    pub model: Model,
    /// Also compute VMAF NEG (roughly doubles the VIF/ADM work).
    pub neg: bool,
    /// Score every Nth frame (1 = every frame). Must be odd: x264/x265 give
    /// frames in a fixed mini-GOP pattern different quality, and an even step
    /// keeps landing on the same positions of that pattern (Netflix/vmaf
    /// issue 1214). The motion feature still sees every frame. 1..=99.
    pub subsample: u32,
    /// libvmaf worker threads (its thread pool); 0 runs the features on the
    /// calling thread. Conversion, PSNR and SSIM always run on the calling thread.
    pub threads: usize,
    /// Clip VMAF scores to 0..100 (libvmaf's default). `false` reports the
    /// model's raw prediction (libvmaf's `disable_clip`), which can exceed 100
    /// for contrast-enhanced video; used to check Crema against libvmaf's own
    /// test expectations.
    pub clip: bool,
    /// Score at the distorted video's size, the reference scaled to it
    /// (bicubic), instead of the distorted video scaled up to the
    /// reference's: how a downscaled encode is scored against the picture
    /// its encoder was fed (`sophon-auto` with a target height).
    pub at_distorted_size: bool,
}

impl Default for QualityOptions {
    fn default() -> Self {
        Self {
            model: Model::Auto,
            neg: true,
            subsample: 1,
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            clip: true,
            at_distorted_size: false,
        }
    }
}

/// The scores of one scored frame pair.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FrameScore {
    /// Frame number: the pair's position counted from 0 (in a chunked run,
    /// from [`Scorer::start_at`]'s `first_index`).
    pub index: u64,
    /// Presentation time of the reference frame, seconds from the start.
    pub reference_seconds: f64,
    /// Presentation time of the distorted frame, seconds from the start.
    pub distorted_seconds: f64,
    /// VMAF, 0..100 (above 100 only with `clip: false`).
    pub vmaf: f64,
    /// VMAF NEG, 0..100; `None` when not asked for.
    pub vmaf_neg: Option<f64>,
    /// PSNR of the luma plane in dB (capped, see the module docs).
    pub psnr_y: f64,
    /// PSNR of the Cb plane in dB.
    pub psnr_cb: f64,
    /// PSNR of the Cr plane in dB.
    pub psnr_cr: f64,
    /// PSNR over all planes in dB (FFmpeg's `psnr_avg`).
    pub psnr: f64,
    /// SSIM of the luma plane, 0..1.
    pub ssim_y: f64,
    /// SSIM over all planes, 0..1 (FFmpeg's `All`).
    pub ssim: f64,
}

/// Per-frame scores and pooled results of one run (a whole title or a chunk).
#[derive(Clone, Debug, Serialize)]
pub struct QualityReport {
    /// The VMAF model used (`vmaf_v0.6.1` or `vmaf_4k_v0.6.1`).
    pub model: String,
    /// The NEG model (`vmaf_v0.6.1neg`), `None` when NEG was not computed.
    pub neg_model: Option<String>,
    /// Width in pixels the frames were scored at (the reference's).
    pub width: u32,
    /// Height in pixels the frames were scored at (the reference's).
    pub height: u32,
    /// The pixel format both sides were converted to (`yuv420p`, `yuv420p10le`).
    pub pixel_format: String,
    /// Bits per sample of that format (8, 10, 12 or 16).
    pub bit_depth: u32,
    /// The subsampling step (1 = every frame scored).
    pub subsample: u32,
    /// Frame pairs fed to the scorer (scored or not).
    pub frames_compared: u64,
    /// Frames scored (`frames.len()`).
    pub frames_scored: u64,
    /// Pooled VMAF.
    pub vmaf: Pooled,
    /// Pooled VMAF NEG, `None` when not computed.
    pub vmaf_neg: Option<Pooled>,
    /// Pooled luma PSNR, dB.
    pub psnr_y: Pooled,
    /// Pooled all-plane PSNR, dB.
    pub psnr: Pooled,
    /// Pooled luma SSIM.
    pub ssim_y: Pooled,
    /// Pooled all-plane SSIM.
    pub ssim: Pooled,
    /// How the frames of two files paired by timestamp; `None` from a
    /// [`Scorer`] that was fed matched pairs.
    pub pairing: Option<PairingStats>,
    /// Every scored frame, in order.
    pub frames: Vec<FrameScore>,
}

#[cfg(test)]
mod tests;
