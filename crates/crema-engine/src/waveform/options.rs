//! What waveform to compute ([`WaveformOptions`]): how much audio a pixel
//! covers ([`Resolution`]), the bits of the stored values, mono mix or
//! split channels.

use super::format::Bits;
use crate::{EngineError, Result};

/// audiowaveform's default zoom (`--zoom 256`).
pub const DEFAULT_SAMPLES_PER_PIXEL: u32 = 256;

/// How much audio one pixel (one min/max pair) covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Resolution {
    /// Audio samples (per channel) per pixel, 2 or more (audiowaveform `--zoom`).
    SamplesPerPixel(u32),
    /// Pixels per second of audio, 1 or more (audiowaveform
    /// `--pixels-per-second`): samples per pixel = sample rate / this, with
    /// integer division (`PixelsPerSecondScaleFactor`), so 20 at 44100 Hz
    /// is 2205 samples per pixel.
    PixelsPerSecond(u32),
}

impl Default for Resolution {
    fn default() -> Self {
        Resolution::SamplesPerPixel(DEFAULT_SAMPLES_PER_PIXEL)
    }
}

impl Resolution {
    /// Samples per pixel for audio at `sample_rate` Hz.
    ///
    /// Errors: [`EngineError::Usage`] when pixels per second is 0, or the
    /// result is below 2 (audiowaveform: "Invalid zoom: minimum 2") or above
    /// `i32::MAX` (the `.dat` header field is an `int32_t`).
    pub fn samples_per_pixel(self, sample_rate: u32) -> Result<u32> {
        let spp = match self {
            Resolution::SamplesPerPixel(n) => n,
            Resolution::PixelsPerSecond(0) => {
                return Err(EngineError::Usage("pixels per second must be greater than zero".into()));
            }
            Resolution::PixelsPerSecond(pps) => sample_rate / pps,
        };
        if spp < 2 {
            return Err(EngineError::Usage(match self {
                Resolution::PixelsPerSecond(pps) => format!(
                    "{pps} pixels per second at {sample_rate} Hz leaves fewer than 2 samples per pixel (the minimum)"
                ),
                Resolution::SamplesPerPixel(n) => format!("{n} samples per pixel: the minimum is 2"),
            }));
        }
        if spp > i32::MAX as u32 {
            return Err(EngineError::Usage(format!("{spp} samples per pixel is too many")));
        }
        Ok(spp)
    }
}

/// What waveform to compute. The default is audiowaveform's: 256 samples
/// per pixel, 8-bit, mono mix.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct WaveformOptions {
    /// Samples or pixels per second.
    pub resolution: Resolution,
    /// Resolution of the written values (8-bit is what peaks.js reads).
    pub bits: Bits,
    /// One waveform channel per audio channel (a `.dat` version 2) instead
    /// of the mono mix (version 1).
    pub split_channels: bool,
}

impl WaveformOptions {
    /// The (min, max) pairs a waveform of `seconds` of audio would hold,
    /// over all channels, rounded up; for refusing a request before decoding.
    ///
    /// Errors: those of [`Resolution::samples_per_pixel`].
    pub fn points_for(&self, sample_rate: u32, channels: u16, seconds: f64) -> Result<u64> {
        let spp = self.resolution.samples_per_pixel(sample_rate)?;
        let samples = (seconds.max(0.0) * f64::from(sample_rate)).ceil() as u64;
        let out = if self.split_channels { u64::from(channels) } else { 1 };
        Ok(samples.div_ceil(u64::from(spp)) * out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolution_follows_audiowaveform_scale_factors() {
        assert_eq!(Resolution::default().samples_per_pixel(44100).unwrap(), 256);
        assert_eq!(Resolution::PixelsPerSecond(20).samples_per_pixel(44100).unwrap(), 2205);
        assert_eq!(Resolution::PixelsPerSecond(100).samples_per_pixel(48000).unwrap(), 480);
        assert_eq!(Resolution::PixelsPerSecond(7).samples_per_pixel(44100).unwrap(), 6300, "integer division");
        assert!(Resolution::PixelsPerSecond(0).samples_per_pixel(44100).is_err());
        assert!(Resolution::PixelsPerSecond(30000).samples_per_pixel(44100).is_err(), "1 sample per pixel");
        assert!(Resolution::SamplesPerPixel(1).samples_per_pixel(44100).is_err());
        assert_eq!(Resolution::SamplesPerPixel(2).samples_per_pixel(44100).unwrap(), 2);
    }

    #[test]
    fn points_for_counts_the_partial_last_pixel_and_channels() {
        let o = WaveformOptions::default();
        assert_eq!(o.points_for(48000, 2, 1.0).unwrap(), 188, "48000 / 256 = 187.5");
        let split = WaveformOptions { split_channels: true, ..o };
        assert_eq!(split.points_for(48000, 6, 1.0).unwrap(), 188 * 6);
    }
}
