//! The job record's derived parts: the output object before, between and
//! after runs, the source object from a probe, and the request rules of
//! `output` and `metadata`.

use crate::error::{Result, ServiceError};
use crate::types::{ContainerSpec, OutputInfo, OutputSpec, OutputState, SourceInfo};
use std::path::Path;

/// Largest accepted `metadata`, in bytes of its JSON serialization (16 KiB).
pub const MAX_METADATA_BYTES: usize = 16 * 1024;

/// `metadata` as stored: an object (`{}` when absent) of at most 16 KiB.
pub(crate) fn validate_metadata(metadata: Option<serde_json::Value>) -> Result<serde_json::Value> {
    let value = match metadata {
        None | Some(serde_json::Value::Null) => return Ok(serde_json::json!({})),
        Some(v @ serde_json::Value::Object(_)) => v,
        Some(_) => return Err(ServiceError::validation("metadata", "must be a JSON object")),
    };
    let size = serde_json::to_vec(&value)?.len();
    if size > MAX_METADATA_BYTES {
        return Err(ServiceError::validation(
            "metadata",
            format!("is {size} bytes serialized; at most {MAX_METADATA_BYTES} (16 KiB) are allowed"),
        ));
    }
    Ok(value)
}

/// Checks `output` with the engine's rule set plus the service's own
/// (`keep_mp4` among the renditions, the waveform request).
pub(crate) fn validate_output(output: &OutputSpec) -> Result<()> {
    // The engine's one rule set (heights, rung cap, segment length), shared with the CLI.
    let hls = output
        .hls
        .as_ref()
        .map(|h| crema_engine::request::HlsShape { renditions: &h.renditions, segment_seconds: h.segment_seconds });
    crema_engine::request::check_output(output.target_height, hls)
        .map_err(|e| ServiceError::validation(e.field.api_name(), e.message))?;
    crema_engine::request::check_target_vmaf(output.quality_target)
        .map_err(|e| ServiceError::validation(e.field.api_name(), e.message))?;
    if let Some(hls) = &output.hls
        && let Some(k) = hls.keep_mp4
        && !hls.renditions.contains(&k)
    {
        return Err(ServiceError::validation("output.hls.keep_mp4", format!("{k} is not one of the renditions")));
    }
    crate::waveform::validate(output.waveform.as_ref())
}

/// The `source` object from a probe of `path`.
pub(crate) fn source_from_probe(path: &Path, info: &crema_engine::probe::MediaInfo) -> SourceInfo {
    SourceInfo {
        object_key: None,
        kind: "path".into(),
        upload_id: None,
        path: Some(path.display().to_string()),
        name: info.name.clone(),
        bytes: info.bytes,
        sha256: info.sha256.clone(),
        duration_seconds: Some(info.duration_seconds),
        resolution: info.resolution.clone(),
        frame_rate: info.frame_rate.clone(),
        codec: info.video.as_ref().map(|v| v.codec.clone()),
        bit_depth: info.video.as_ref().map(|v| v.bit_depth),
        hdr: info.video.as_ref().and_then(|v| v.hdr.clone()),
        audio_tracks: Some(info.audio.len() as u32),
    }
}

pub(crate) fn pending_output(spec: &OutputSpec) -> OutputInfo {
    let container = if spec.hls.is_some() {
        "hls"
    } else {
        match spec.container {
            ContainerSpec::Mp4 => "mp4",
            ContainerSpec::Mkv => "mkv",
        }
    };
    OutputInfo {
        state: OutputState::Pending,
        expired: false,
        container: container.into(),
        audio: false,
        target_height: spec.target_height,
        width: None,
        height: None,
        bytes: None,
        sha256: None,
        retention_expires_at: None,
        path: None,
        hls: None,
        object_key: None,
        warnings: Vec::new(),
        waveform: None,
        quality: None,
    }
}

/// The output of a job about to run again: pending, nothing written.
pub(crate) fn pending_output_from(o: &OutputInfo) -> OutputInfo {
    let spec = OutputSpec { target_height: o.target_height, ..Default::default() };
    OutputInfo { container: o.container.clone(), ..pending_output(&spec) }
}

/// The output of a job that ended without one (`pending` is the contract's
/// only other state: the job's status says it will not come).
pub(crate) fn ended_output(o: &OutputInfo) -> OutputInfo {
    pending_output_from(o)
}
