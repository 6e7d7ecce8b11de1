//! Extension `output.waveform`: a job's waveform data (BBC audiowaveform
//! `.dat` or JSON, what peaks.js and `waveform-data` read), made by the
//! engine from the audio it decodes for the encode and stored beside the
//! output as `waveform.dat` / `waveform.json`; served by
//! `GET /v1/jobs/{id}/waveform` (a signed download, like the output).

use serde::{Deserialize, Serialize};
use std::path::Path;
use utoipa::ToSchema;

use crate::error::{Result, ServiceError};
use crema_engine::waveform::{self as wf, Bits, DataFormat, Resolution, WaveformOptions, WaveformOutput};

/// Highest `pixels_per_second`: 1000 (1 ms per pixel; at 8 kHz still 8
/// samples per pixel, above audiowaveform's minimum of 2).
pub const MAX_PIXELS_PER_SECOND: u32 = 1000;
/// Highest `samples_per_pixel`: 2^20 (about 22 s per pixel at 48 kHz).
pub const MAX_SAMPLES_PER_PIXEL: u32 = 1 << 20;

/// `output.waveform`: `true` for audiowaveform's defaults, or the options.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum WaveformRequest {
    /// `true`: 256 samples per pixel, 8-bit, `.dat`; `false`: no waveform.
    Enabled(bool),
    /// The options.
    Options(WaveformSpec),
}

/// The options of `output.waveform` (each optional).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WaveformSpec {
    /// Pixels (min/max pairs) per second of audio, 1..=1000 (audiowaveform
    /// `--pixels-per-second`). Not together with `samples_per_pixel`.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "crate::wire::opt_u32_int")]
    #[schema(minimum = 1, maximum = 1000)]
    pub pixels_per_second: Option<u32>,
    /// Audio samples per pixel, 2..=1048576 (audiowaveform `--zoom`;
    /// default 256 when neither is given).
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "crate::wire::opt_u32_int")]
    #[schema(minimum = 2, maximum = 1048576)]
    pub samples_per_pixel: Option<u32>,
    /// 8 (default; what peaks.js reads) or 16.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "crate::wire::opt_u32_int")]
    #[schema(minimum = 8, maximum = 16)]
    pub bits: Option<u32>,
    /// `dat` (binary, default) or `json`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<WaveformFormat>,
}

/// File form of the waveform data.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum WaveformFormat {
    /// audiowaveform's binary format, version 1 (`application/octet-stream`).
    #[default]
    Dat,
    /// audiowaveform's JSON format (`application/json`).
    Json,
}

/// `output.waveform` of a finished job (extension): what was written.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct WaveformInfo {
    /// `dat` or `json`.
    pub format: WaveformFormat,
    /// Size of the file in bytes.
    pub bytes: u64,
    /// Container stream index of the source audio track it was made from.
    pub track: usize,
    /// Sample rate of that track, Hz.
    pub sample_rate: u32,
    /// Audio samples per pixel.
    pub samples_per_pixel: u32,
    /// Pixels (min/max pairs).
    pub length: usize,
    /// Waveform channels (1: the mono mix).
    pub channels: u16,
    /// 8 or 16.
    pub bits: u8,
    /// Seconds of audio covered.
    pub duration_seconds: f64,
    /// Server-side path of the file, for local transports (absent over the network).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

impl WaveformRequest {
    /// The options asked for, `None` for `false`.
    pub fn spec(&self) -> Option<WaveformSpec> {
        match self {
            Self::Enabled(false) => None,
            Self::Enabled(true) => Some(WaveformSpec::default()),
            Self::Options(o) => Some(o.clone()),
        }
    }
}

/// Checks `output.waveform`'s bounds.
///
/// Errors: [`ServiceError::Validation`] naming `output.waveform.FIELD`:
/// both resolutions given, `pixels_per_second` outside 1..=1000,
/// `samples_per_pixel` outside 2..=1048576, `bits` other than 8 or 16.
pub(crate) fn validate(w: Option<&WaveformRequest>) -> Result<()> {
    let Some(spec) = w.and_then(WaveformRequest::spec) else { return Ok(()) };
    let field = |f: &str| format!("output.waveform.{f}");
    if spec.pixels_per_second.is_some() && spec.samples_per_pixel.is_some() {
        return Err(ServiceError::validation(
            field("pixels_per_second"),
            "give pixels_per_second or samples_per_pixel, not both",
        ));
    }
    if let Some(p) = spec.pixels_per_second.filter(|p| !(1..=MAX_PIXELS_PER_SECOND).contains(p)) {
        return Err(ServiceError::validation(
            field("pixels_per_second"),
            format!("must be 1..{MAX_PIXELS_PER_SECOND}, got {p}"),
        ));
    }
    if let Some(s) = spec.samples_per_pixel.filter(|s| !(2..=MAX_SAMPLES_PER_PIXEL).contains(s)) {
        return Err(ServiceError::validation(
            field("samples_per_pixel"),
            format!("must be 2..{MAX_SAMPLES_PER_PIXEL}, got {s}"),
        ));
    }
    if let Some(b) = spec.bits.filter(|b| *b != 8 && *b != 16) {
        return Err(ServiceError::validation(field("bits"), format!("must be 8 or 16, got {b}")));
    }
    Ok(())
}

/// The engine request for a job's waveform, written in `job_dir` as
/// `waveform.dat` or `waveform.json` (from the source's main audio track).
pub(crate) fn engine_output(w: Option<&WaveformRequest>, job_dir: &Path) -> Option<WaveformOutput> {
    let spec = w.and_then(WaveformRequest::spec)?;
    let resolution = match (spec.pixels_per_second, spec.samples_per_pixel) {
        (Some(p), _) => Resolution::PixelsPerSecond(p),
        (None, Some(s)) => Resolution::SamplesPerPixel(s),
        (None, None) => Resolution::SamplesPerPixel(wf::DEFAULT_SAMPLES_PER_PIXEL),
    };
    let format = data_format(spec.format.unwrap_or_default());
    let bits = if spec.bits == Some(16) { Bits::Sixteen } else { Bits::Eight };
    Some(WaveformOutput {
        path: job_dir.join(file_name(spec.format.unwrap_or_default())),
        format,
        options: WaveformOptions { resolution, bits, split_channels: false },
        track: None,
    })
}

/// What a finished encode wrote, for the job record.
fn data_format(format: WaveformFormat) -> DataFormat {
    match format {
        WaveformFormat::Dat => DataFormat::Dat,
        WaveformFormat::Json => DataFormat::Json,
    }
}

/// The waveform file's name in the job folder (and under `jobs/<id>/` in
/// the bucket): `waveform.dat` or `waveform.json`.
pub(crate) fn file_name(format: WaveformFormat) -> String {
    format!("waveform.{}", data_format(format).extension())
}

pub(crate) fn info(r: &crema_engine::waveform::WaveformReport) -> WaveformInfo {
    WaveformInfo {
        format: match r.format {
            DataFormat::Dat => WaveformFormat::Dat,
            DataFormat::Json => WaveformFormat::Json,
        },
        bytes: r.bytes,
        track: r.track,
        sample_rate: r.sample_rate,
        samples_per_pixel: r.samples_per_pixel,
        length: r.length,
        channels: r.channels,
        bits: r.bits,
        duration_seconds: r.duration_seconds,
        path: Some(r.path.display().to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(v: serde_json::Value) -> std::result::Result<WaveformRequest, serde_json::Error> {
        serde_json::from_value(v)
    }

    #[test]
    fn true_false_and_options_parse_and_bounds_are_checked() {
        assert_eq!(parse(serde_json::json!(true)).unwrap().spec(), Some(WaveformSpec::default()));
        assert_eq!(parse(serde_json::json!(false)).unwrap().spec(), None);
        let o = parse(serde_json::json!({"pixels_per_second": 20, "bits": 8, "format": "json"})).unwrap();
        assert!(validate(Some(&o)).is_ok());
        let out = engine_output(Some(&o), Path::new("/j")).unwrap();
        assert_eq!(out.path, Path::new("/j/waveform.json"));
        assert_eq!(out.options.resolution, Resolution::PixelsPerSecond(20));
        assert!(parse(serde_json::json!({"pixels": 20})).is_err(), "unknown fields are refused");
        for (bad, field) in [
            (serde_json::json!({"pixels_per_second": 0}), "output.waveform.pixels_per_second"),
            (serde_json::json!({"pixels_per_second": 1001}), "output.waveform.pixels_per_second"),
            (serde_json::json!({"samples_per_pixel": 1}), "output.waveform.samples_per_pixel"),
            (serde_json::json!({"bits": 12}), "output.waveform.bits"),
            (
                serde_json::json!({"pixels_per_second": 20, "samples_per_pixel": 256}),
                "output.waveform.pixels_per_second",
            ),
        ] {
            let e = validate(Some(&parse(bad.clone()).unwrap())).unwrap_err();
            assert!(matches!(&e, ServiceError::Validation { field: f, .. } if f == field), "{bad}: {e:?}");
        }
    }
}
