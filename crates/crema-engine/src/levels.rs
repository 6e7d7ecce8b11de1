//! The numbers every picture-size check shares, so that [`crate::limits`]
//! (what a job may ask for) and [`crate::budget`] (what its encoders may
//! hold) import them from one place: the level 6.2 picture limits of H.265
//! and H.264, the most output samples one job writes, and the source
//! picture limit in force in this process ([`SourceLimits`], also handed to
//! libavcodec by [`crate::probe`]).

use std::sync::RwLock;

/// H.265 level 6.2 MaxLumaPs: the largest picture, luma samples (Table A.8).
pub const HEVC_MAX_LUMA_PS: u64 = 35_651_584;
/// H.265 level 6.2: largest width or height, pixels: ⌊√(8 × MaxLumaPs)⌋ (§A.4.1).
pub const HEVC_MAX_DIMENSION: u32 = 16_888;
/// H.264 level 6.2 MaxFS: the largest frame, macroblocks (Table A-1).
pub const H264_MAX_FRAME_MBS: u64 = 139_264;
/// H.264 level 6.2: largest width or height, macroblocks: ⌊√(8 × MaxFS)⌋ (§A.3.1).
pub const H264_MAX_DIMENSION_MBS: u32 = 1_055;

/// The largest source picture Crema decodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SourceLimits {
    /// Largest coded width or height, pixels.
    pub max_dimension: u32,
    /// Largest coded picture, pixels (width × height).
    pub max_samples: u64,
}

impl Default for SourceLimits {
    /// 32,768 pixels a side and 71,303,168 pixels (2 × the H.265 level 6.2
    /// picture): room for 8192×8192 and 12K-wide 2.4:1 sources, which can
    /// be scaled down to a playable output; 15000×15000 is refused.
    fn default() -> Self {
        Self { max_dimension: 32_768, max_samples: 2 * HEVC_MAX_LUMA_PS }
    }
}

static CONFIGURED: RwLock<Option<SourceLimits>> = RwLock::new(None);

/// Sets the source limits of this process (a server's configuration);
/// until called, [`SourceLimits::default`] applies.
pub fn set_source_limits(limits: SourceLimits) {
    *CONFIGURED.write().unwrap_or_else(|e| e.into_inner()) = Some(limits);
}

/// The source limits in force: the configured ones, else the default.
pub fn source_limits() -> SourceLimits {
    CONFIGURED.read().unwrap_or_else(|e| e.into_inner()).unwrap_or_default()
}

/// Most output luma samples per frame one job may write, over all its
/// outputs (file and rungs): three level-6.2 pictures, e.g. an 8K file
/// beside an 8K ladder.
pub const JOB_MAX_OUTPUT_SAMPLES: u64 = 3 * HEVC_MAX_LUMA_PS;
