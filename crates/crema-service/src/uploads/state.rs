//! The uploads handle's state and the `uploads` rows: what the API
//! (`uploads.rs`) and the upkeep (`upkeep.rs`) both use. Imports only the
//! low modules and its siblings `model.rs` and `files.rs`.

use super::files::{SOURCE, is_disk_full};
use super::model::{Stored, Upload, UploadCompleted, UploadStatus};
use crate::error::{Result, ServiceError};
use crate::shared::Core;
use crate::store::DbRow;
use crate::store::now;
use sqlx::Row;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::sync::RwLock;

/// The uploads handle of a running service: the shared state and the per-upload locks.
pub(crate) struct Uploads {
    pub(crate) core: Arc<Core>,
    /// Per-upload locks: parts take it shared, complete/delete/expiry exclusively.
    pub(super) locks: UploadLocks,
    /// MiB of part data held in memory on their way to the bucket (farm
    /// mode), at most [`BUCKET_PART_MIB`] at once: a part is sent as one
    /// request body, so each holds its whole size until the bucket has it.
    pub(super) bucket_mib: Arc<tokio::sync::Semaphore>,
}

/// MiB of parts in memory on their way to the bucket at once (256 MiB:
/// eight 32 MiB parts, the contract's largest tier below whole files). More
/// parts wait for their turn rather than growing the process.
pub(super) const BUCKET_PART_MIB: u32 = 256;

impl Uploads {
    /// A handle over the shared state.
    pub(crate) fn new(core: Arc<Core>) -> Uploads {
        let bucket_mib = Arc::new(tokio::sync::Semaphore::new(BUCKET_PART_MIB as usize));
        Uploads { core, locks: UploadLocks::default(), bucket_mib }
    }
}

/// One `RwLock` per upload ID (see the module docs).
#[derive(Default)]
pub(crate) struct UploadLocks(Mutex<HashMap<String, Arc<RwLock<()>>>>);

impl UploadLocks {
    pub(super) fn of(&self, id: &str) -> Arc<RwLock<()>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).entry(id.to_string()).or_default().clone()
    }

    /// Forgets locks nobody holds or waits for.
    pub(super) fn prune(&self) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).retain(|_, l| Arc::strong_count(l) > 1);
    }
}

/// An `uploads` row.
pub(super) struct UploadRow {
    pub(super) id: String,
    pub(super) status: Stored,
    pub(super) file_name: String,
    pub(super) file_size: u64,
    pub(super) mime_type: Option<String>,
    pub(super) chunk_size: u64,
    pub(super) total_chunks: u64,
    pub(super) sha256: Option<String>,
    pub(super) bytes: Option<u64>,
    pub(super) source_width: Option<u32>,
    pub(super) source_height: Option<u32>,
    pub(super) source_duration_seconds: Option<f64>,
    pub(super) source_frame_rate: Option<String>,
    pub(super) created_at: OffsetDateTime,
    pub(super) expires_at: OffsetDateTime,
    pub(super) completed_at: Option<OffsetDateTime>,
    pub(super) files_present: bool,
    /// The bucket's multipart upload holding the parts (farm mode); `None`:
    /// the parts are files on the disk of `node`.
    pub(super) multipart_id: Option<String>,
    /// The probe facts recorded at completion (`facts_json`), when it was media.
    pub(super) facts: Option<UploadFacts>,
}

/// An upload's probe facts, recorded when it is completed, so that a job
/// from it can be checked and described without reading the file again
/// (an upload kept in the bucket is then not downloaded at submission).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub(super) struct UploadFacts {
    /// Video codec (`h264`, `prores`…); `None` without video.
    pub(super) codec: Option<String>,
    /// Bits per sample of the video.
    pub(super) bit_depth: Option<u8>,
    /// `hdr10`, `hlg`… when the video is HDR.
    pub(super) hdr: Option<String>,
    /// Coded width in pixels (before rotation).
    pub(super) width: Option<u32>,
    /// Coded height in pixels.
    pub(super) height: Option<u32>,
    /// Degrees clockwise to turn the picture upright (0, 90, 180, 270).
    pub(super) rotation: i32,
    /// Audio tracks.
    pub(super) audio_tracks: u32,
}

impl UploadFacts {
    pub(super) fn of(info: &crema_engine::media::MediaInfo) -> Self {
        let v = info.video.as_ref();
        Self {
            codec: v.map(|v| v.codec.clone()),
            bit_depth: v.map(|v| v.bit_depth),
            hdr: v.and_then(|v| v.hdr.clone()),
            width: v.map(|v| v.width),
            height: v.map(|v| v.height),
            rotation: v.map_or(0, |v| v.rotation),
            audio_tracks: info.audio.len() as u32,
        }
    }
}

pub(super) fn parse_ts(s: &str) -> Result<OffsetDateTime> {
    OffsetDateTime::parse(s, &Rfc3339).map_err(|e| ServiceError::Internal(format!("stored time {s}: {e}")))
}

pub(super) fn u64_col(row: &DbRow, col: &str) -> Result<u64> {
    Ok(row.try_get::<i64, _>(col)?.max(0) as u64)
}

impl UploadRow {
    pub(super) fn from_row(row: &DbRow) -> Result<Self> {
        let status: String = row.try_get("status")?;
        let status =
            Stored::parse(&status).ok_or_else(|| ServiceError::Internal(format!("stored upload status {status}")))?;
        let opt_u32 = |col: &str| -> Result<Option<u32>> {
            Ok(row.try_get::<Option<i64>, _>(col)?.and_then(|v| u32::try_from(v).ok()))
        };
        Ok(Self {
            id: row.try_get("id")?,
            status,
            file_name: row.try_get("file_name")?,
            file_size: u64_col(row, "file_size")?,
            mime_type: row.try_get("mime_type")?,
            chunk_size: u64_col(row, "chunk_size")?,
            total_chunks: u64_col(row, "total_chunks")?,
            sha256: row.try_get("sha256")?,
            bytes: row.try_get::<Option<i64>, _>("bytes")?.map(|b| b.max(0) as u64),
            source_width: opt_u32("source_width")?,
            source_height: opt_u32("source_height")?,
            source_duration_seconds: row.try_get("source_duration_seconds")?,
            source_frame_rate: row.try_get("source_frame_rate")?,
            created_at: parse_ts(&row.try_get::<String, _>("created_at")?)?,
            expires_at: parse_ts(&row.try_get::<String, _>("expires_at")?)?,
            completed_at: row.try_get::<Option<String>, _>("completed_at")?.as_deref().map(parse_ts).transpose()?,
            files_present: row.try_get::<i64, _>("files_present")? != 0,
            multipart_id: row.try_get("multipart_id")?,
            facts: row.try_get::<Option<String>, _>("facts_json")?.and_then(|j| {
                serde_json::from_str(&j).inspect_err(|e| tracing::warn!("stored upload facts: {e}")).ok()
            }),
        })
    }

    /// The state at `at`: an open session past `expires_at` is expired.
    pub(super) fn effective(&self, at: OffsetDateTime) -> Stored {
        match self.status {
            Stored::Shown(s) if s.is_open() && at >= self.expires_at => Stored::Expired,
            other => other,
        }
    }

    /// The status callers see now; `NotFound` for an expired session.
    pub(super) fn visible(&self) -> Result<UploadStatus> {
        match self.effective(now()) {
            Stored::Shown(s) => Ok(s),
            Stored::Expired => Err(upload_not_found(&self.id)),
        }
    }

    /// Bytes part `n` must have: `chunk_size`, the last one the remainder.
    pub(super) fn part_len(&self, n: u64) -> u64 {
        if n + 1 < self.total_chunks {
            self.chunk_size
        } else {
            self.file_size - self.chunk_size * (self.total_chunks - 1)
        }
    }

    pub(super) fn to_upload(&self, status: UploadStatus, received_chunks: Vec<u64>) -> Upload {
        Upload {
            id: self.id.clone(),
            status,
            file_name: self.file_name.clone(),
            total_chunks: self.total_chunks,
            received_chunks,
            expires_at: self.expires_at,
            source_width: self.source_width,
            source_height: self.source_height,
            source_duration_seconds: self.source_duration_seconds,
            file_size: self.file_size,
            chunk_size: self.chunk_size,
            mime_type: self.mime_type.clone(),
            sha256: self.sha256.clone(),
            bytes: self.bytes,
            source_frame_rate: self.source_frame_rate.clone(),
            created_at: self.created_at,
            completed_at: self.completed_at,
        }
    }

    pub(super) fn completed(&self) -> Option<UploadCompleted> {
        Some(UploadCompleted {
            id: self.id.clone(),
            status: UploadStatus::Completed,
            sha256: self.sha256.clone()?,
            bytes: self.bytes?,
        })
    }
}

pub(super) fn upload_not_found(id: &str) -> ServiceError {
    ServiceError::NotFound { kind: "upload", id: id.to_string() }
}

pub(super) async fn load(inner: &Uploads, id: &str) -> Result<UploadRow> {
    let row = sqlx::query("SELECT * FROM uploads WHERE id = $1").bind(id).fetch_optional(&inner.core.pool).await?;
    row.as_ref().map(UploadRow::from_row).transpose()?.ok_or_else(|| upload_not_found(id))
}

/// Acknowledged part numbers, ascending.
pub(super) async fn received(inner: &Uploads, id: &str) -> Result<Vec<u64>> {
    let rows = sqlx::query("SELECT part_number FROM upload_parts WHERE upload_id = $1 ORDER BY part_number")
        .bind(id)
        .fetch_all(&inner.core.pool)
        .await?;
    rows.iter().map(|r| Ok(r.try_get::<i64, _>("part_number")?.max(0) as u64)).collect()
}

pub(super) fn uploads_root(inner: &Uploads) -> PathBuf {
    inner.core.config.data_dir.join("uploads")
}

/// The assembled file of a completed upload, when it is still on disk.
impl Uploads {
    /// The assembled file of a completed upload, when present.
    pub(crate) fn assembled_file(&self, id: &str) -> Option<PathBuf> {
        let inner = self;
        Some(upload_dir(inner, id).join(SOURCE)).filter(|p| p.is_file())
    }
}

pub(super) fn upload_dir(inner: &Uploads, id: &str) -> PathBuf {
    uploads_root(inner).join(id)
}

pub(super) fn job_source_dir(inner: &Uploads, job_id: &str) -> PathBuf {
    inner.core.config.data_dir.join("sources").join(job_id)
}

pub(super) fn unix_ms(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

pub(super) fn internal_io(what: impl std::fmt::Display, e: std::io::Error) -> ServiceError {
    ServiceError::Internal(format!("{what}: {e}"))
}

/// Whether SQLite failed for want of space (`SQLITE_FULL`, 13).
pub(super) fn is_database_full(e: &sqlx::Error) -> bool {
    e.as_database_error().and_then(|d| d.code()).is_some_and(|c| c == "13")
}

/// Runs file work on a blocking thread. A full disk is `CapacityExceeded`
/// (naming `what`, no path), anything else `Internal`.
pub(super) async fn blocking<T: Send + 'static>(
    what: &'static str,
    f: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(f).await.map_err(|e| ServiceError::Internal(format!("{what}: {e}")))?.map_err(|e| {
        tracing::warn!("{what}: {e}");
        if is_disk_full(&e) {
            ServiceError::CapacityExceeded(format!("the server's disk is full ({what}); try again once space is freed"))
        } else {
            internal_io(what, e)
        }
    })
}
