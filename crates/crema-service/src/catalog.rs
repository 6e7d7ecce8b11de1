//! Catalog beyond the contract (the desktop app's and web UI's needs): the
//! profile list, the queue-move position, source facts and poster-frame
//! thumbnails. Imports only the low modules.

use crate::error::{Result, ServiceError};
use crema_engine::profile::ProfileSet;
use serde::{Deserialize, Serialize};
use std::path::Path;
use utoipa::ToSchema;

/// One profile, as `GET /v1/profiles` and the desktop app list it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ProfileInfo {
    /// Profile ID, as used in `POST /v1/jobs`.
    pub id: String,
    /// Short display name.
    pub name: String,
    /// What the profile is for, in plain words.
    pub description: String,
    /// UI group: `standard`, `hq`, `10bit`, `hq-10bit` or `auto`.
    pub group: String,
    /// Output codec of single files (`hevc` or `h264`).
    pub codec: String,
    /// Output bit depth (8 or 10).
    pub bit_depth: u8,
    /// Speed tier (`fast`, `medium`, `slow`); `null` for `auto` profiles.
    pub speed: Option<String>,
    /// Built-in (`profiles/…toml`) or the user file it came from.
    pub source: String,
}

/// The body of `GET /v1/profiles`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ProfileList {
    /// Every profile, built-ins first, in a stable order.
    pub profiles: Vec<ProfileInfo>,
}

/// Where to move a queued job (`POST /v1/jobs/{id}/move`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MovePosition {
    /// First to run.
    Top,
    /// Last to run.
    Bottom,
    /// Just before this queued job.
    Before(String),
}

/// What a file is, without hashing it: for a UI's queue before an encode.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SourceFacts {
    /// File name without folders.
    pub name: String,
    /// Size in bytes.
    pub bytes: u64,
    /// Duration in seconds.
    pub duration_seconds: f64,
    /// `"1920x1080"` after rotation; `null` without video.
    pub resolution: Option<String>,
    /// `"25"` or `"24000/1001"`; `null` without video.
    pub frame_rate: Option<String>,
    /// Video codec (`prores`, `h264`…); `null` without video.
    pub codec: Option<String>,
    /// Bits per luma sample (8, 10, 12); `null` without video.
    pub bit_depth: Option<u8>,
    /// `pq` or `hlg` for HDR, `null` for SDR.
    pub hdr: Option<String>,
    /// Number of audio streams.
    pub audio_tracks: u32,
    /// Container (demuxer) name.
    pub container: String,
}

fn wire<T: Serialize>(v: &T) -> String {
    serde_json::to_value(v).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
}

/// Largest thumbnail side in pixels.
pub const THUMBNAIL_BOX: (u32, u32) = (320, 180);

/// The loaded profiles as the API lists them.
pub(crate) fn profile_list(profiles: &ProfileSet) -> ProfileList {
    let profiles = profiles
        .iter()
        .map(|p| ProfileInfo {
            id: p.id.clone(),
            name: p.name.clone(),
            description: p.description.clone(),
            group: wire(&p.group),
            codec: wire(&p.codec),
            bit_depth: p.bit_depth,
            speed: p.speed.as_ref().map(wire),
            source: p.source.clone(),
        })
        .collect();
    ProfileList { profiles }
}

/// What a local file is (header facts, no hash), for a UI's queue. No
/// source-root check: callers are local (the desktop app), not the HTTP API.
///
/// Errors: [`ServiceError::SourceInvalid`] when the file is not media
/// or cannot be read.
pub(crate) async fn probe_facts(path: &Path) -> Result<SourceFacts> {
    let p = path.to_path_buf();
    let info =
        tokio::task::spawn_blocking(move || crema_engine::probe::probe_facts(&p, &crema_engine::CancelFlag::new()))
            .await
            .map_err(|e| ServiceError::Internal(format!("probe task: {e}")))?
            .map_err(|e| {
                crate::error::source_error(&e, path).unwrap_or_else(|| ServiceError::Internal(format!("probe: {e}")))
            })?;
    let video = info.video.as_ref();
    Ok(SourceFacts {
        name: info.name.clone(),
        bytes: info.bytes,
        duration_seconds: info.duration_seconds,
        resolution: info.resolution.clone(),
        frame_rate: info.frame_rate.clone(),
        codec: video.map(|v| v.codec.clone()),
        bit_depth: video.map(|v| v.bit_depth),
        hdr: video.and_then(|v| v.hdr.clone()),
        audio_tracks: info.audio.len() as u32,
        container: info.container.clone(),
    })
}

/// A JPEG poster frame of a local file, at most 320×180 pixels, upright.
///
/// Errors: [`ServiceError::SourceInvalid`] when the file has no
/// decodable video; [`ServiceError::Internal`] when encoding the JPEG fails.
pub(crate) async fn thumbnail_jpeg(path: &Path) -> Result<Vec<u8>> {
    let p = path.to_path_buf();
    tokio::task::spawn_blocking(move || jpeg_of(&p))
        .await
        .map_err(|e| ServiceError::Internal(format!("thumbnail task: {e}")))?
}

fn jpeg_of(path: &Path) -> Result<Vec<u8>> {
    let frame = crema_engine::thumbnail::poster_frame(path, THUMBNAIL_BOX.0, THUMBNAIL_BOX.1).map_err(|e| {
        crate::error::source_error(&e, path).unwrap_or_else(|| ServiceError::Internal(format!("thumbnail: {e}")))
    })?;
    let img = image::RgbImage::from_raw(frame.width, frame.height, frame.data)
        .ok_or_else(|| ServiceError::Internal("thumbnail buffer has the wrong size".into()))?;
    let mut out = std::io::Cursor::new(Vec::new());
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 82)
        .encode_image(&img)
        .map_err(|e| ServiceError::Internal(format!("JPEG: {e}")))?;
    Ok(out.into_inner())
}
