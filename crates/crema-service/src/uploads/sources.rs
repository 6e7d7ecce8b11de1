//! Upload sources of jobs: the assembled file linked (or copied) into the
//! job's own folder at submission, and removed again when it is refused.

use super::bucket;
use super::files::{SOURCE, link_or_copy, remove_path};
use super::model::{Stored, UploadStatus};
use super::rules::disk_name;
use super::state::{UploadRow, Uploads, blocking, internal_io, job_source_dir, load, received, upload_dir};
use crate::error::{Result, ServiceError};
use crate::objects::ObjectsError;
use crate::store::{now, ts};
use crate::types::SourceInfo;

/// The job source for `SourceSpec::Upload`: the upload's assembled file,
/// hard-linked (copied when linking fails) to `<data_dir>/sources/<job_id>/<file name>`,
/// with the upload's hash, size and probe facts.
///
/// Errors: [`ServiceError::NotFound`] (kind `upload`); [`ServiceError::UploadIncomplete`]
/// when the upload is not completed or its file is gone; [`ServiceError::Internal`].
impl Uploads {
    /// The `source` of a job submitted from a completed upload: the file linked (or copied) into the job's own folder.
    pub(crate) async fn job_source(&self, upload_id: &str, job_id: &str) -> Result<SourceInfo> {
        let inner = self;
        let up = load(inner, upload_id).await?;
        let status = up.effective(now());
        let gone = || {
            ServiceError::UploadIncomplete(format!(
                "upload {upload_id} expired at {}; its file was removed",
                ts(up.expires_at)
            ))
        };
        match status {
            Stored::Shown(UploadStatus::Completed) if up.files_present => {}
            Stored::Shown(status @ (UploadStatus::Uploading | UploadStatus::Assembling)) => {
                let got = received(inner, upload_id).await?.len();
                return Err(ServiceError::UploadIncomplete(format!(
                    "upload {upload_id} is {status} ({got} of {} part(s) received); complete it with \
                 POST /v1/uploads/{upload_id}/complete before using it as a source",
                    up.total_chunks
                )));
            }
            Stored::Shown(UploadStatus::Canceled) => {
                return Err(ServiceError::UploadIncomplete(format!("upload {upload_id} was canceled")));
            }
            Stored::Shown(UploadStatus::Completed) | Stored::Expired => return Err(gone()),
        }
        if let (Some(_), Some(f)) = (&up.multipart_id, &up.facts) {
            // In the bucket, probed at completion: the job names the object,
            // and nothing is downloaded here (the node that runs it fetches it).
            let key = bucket::source_key(upload_id)?.as_str().to_string();
            let facts = (f.codec.clone(), f.bit_depth, f.hdr.clone(), Some(f.audio_tracks));
            return Ok(source_info(&up, upload_id, Some(key), None, facts));
        }
        let src = upload_dir(inner, upload_id).join(SOURCE);
        let dest_dir = job_source_dir(inner, job_id);
        let dest = dest_dir.join(disk_name(&up.file_name));
        let mut object_key = None;
        let linked = if up.multipart_id.is_some() {
            // In the bucket without recorded facts (not media when completed,
            // or completed before they were recorded): this node downloads it
            // to probe it, and the job names the object (no second copy).
            let objects = inner.core.objects.as_ref().ok_or_else(|| {
                ServiceError::Internal(format!(
                    "upload {upload_id} is kept in the object store, which this server lacks"
                ))
            })?;
            let key = bucket::source_key(upload_id)?;
            tokio::fs::create_dir_all(&dest_dir).await.map_err(|e| internal_io("a job's source folder", e))?;
            match objects.get_to_file(&key, &dest).await {
                Ok(_) => {
                    object_key = Some(key.as_str().to_string());
                    Ok(())
                }
                Err(ObjectsError::NotFound { .. }) => Err(std::io::ErrorKind::NotFound.into()),
                Err(e) => {
                    let _ = tokio::fs::remove_dir_all(&dest_dir).await;
                    return Err(bucket::bucket_fault("reading the upload", e));
                }
            }
        } else {
            let (link_dir, link_dest) = (dest_dir.clone(), dest.clone());
            tokio::task::spawn_blocking(move || link_or_copy(&src, &link_dir, &link_dest))
                .await
                .map_err(|e| ServiceError::Internal(format!("linking the upload: {e}")))?
        };
        if let Err(e) = linked {
            let _ = tokio::fs::remove_dir_all(&dest_dir).await;
            return Err(if e.kind() == std::io::ErrorKind::NotFound {
                gone()
            } else {
                internal_io(format!("linking upload {upload_id}"), e)
            });
        }
        // The header facts (codec, bit depth, HDR, audio tracks) the upload record lacks; no hashing.
        // A file the probe cannot read is refused now (`source_invalid`, 422)
        // rather than accepted and failed later.
        let probe_path = dest.clone();
        let probed = tokio::task::spawn_blocking(move || {
            crema_engine::probe::probe_facts(&probe_path, &crema_engine::CancelFlag::new())
        })
        .await
        .map_err(|e| ServiceError::Internal(format!("probing upload {upload_id}: {e}")))?;
        let facts = match probed {
            Ok(f) => Some(f),
            Err(e) => match crate::error::source_error(&e, &dest) {
                Some(refused) => {
                    let _ = tokio::fs::remove_dir_all(&dest_dir).await;
                    return Err(refused);
                }
                None => None,
            },
        };
        let video = facts.as_ref().and_then(|f| f.video.as_ref());
        let described = (
            video.map(|v| v.codec.clone()),
            video.map(|v| v.bit_depth),
            video.and_then(|v| v.hdr.clone()),
            facts.as_ref().map(|f| f.audio.len() as u32),
        );
        Ok(source_info(&up, upload_id, object_key, Some(dest.display().to_string()), described))
    }

    /// Checks, after a job naming upload `upload_id` was inserted, that the
    /// upload is still completed with its files: a delete or expiry that
    /// overlapped the submission (on any node) has committed its status
    /// by then, or counts the new job before it deletes anything (see
    /// `upkeep.rs`, `free_objects`).
    ///
    /// Errors: [`ServiceError::UploadIncomplete`] when it was deleted or
    /// expired meanwhile; [`ServiceError::Internal`].
    pub(crate) async fn confirm_source(&self, upload_id: &str) -> Result<()> {
        let up = match load(self, upload_id).await {
            Err(ServiceError::NotFound { .. }) => None,
            other => Some(other?),
        };
        match up {
            Some(up) if up.files_present && up.effective(now()) == Stored::Shown(UploadStatus::Completed) => Ok(()),
            _ => Err(ServiceError::UploadIncomplete(format!(
                "upload {upload_id} was deleted or expired while the job was being submitted"
            ))),
        }
    }

    /// The coded size in pixels and rotation of completed upload
    /// `upload_id`'s video as recorded at completion, for the submission's
    /// picture check when no local copy was made; `None` when unknown.
    ///
    /// Errors: [`ServiceError::Internal`] for database faults.
    pub(crate) async fn picture_facts(&self, upload_id: &str) -> Result<Option<(u32, u32, i32)>> {
        let up = match load(self, upload_id).await {
            Err(ServiceError::NotFound { .. }) => return Ok(None),
            other => other?,
        };
        Ok(up.facts.and_then(|f| Some((f.width?, f.height?, f.rotation))))
    }

    /// Removes `<data_dir>/sources/<job_id>/` (a submit that failed after linking).
    /// Removes the source link a refused submission made.
    pub(crate) async fn remove_job_source(&self, job_id: &str) {
        let dir = job_source_dir(self, job_id);
        let _ = blocking("removing a job's source link", move || remove_path(&dir)).await;
    }
}

/// Codec, bit depth, HDR and audio tracks of a source, as the job shows them.
type Described = (Option<String>, Option<u8>, Option<String>, Option<u32>);

/// The job's `source` for completed upload `up`: the upload's record plus
/// what a probe (now, or at completion) said of the file.
fn source_info(
    up: &UploadRow,
    upload_id: &str,
    object_key: Option<String>,
    path: Option<String>,
    (codec, bit_depth, hdr, audio_tracks): Described,
) -> SourceInfo {
    SourceInfo {
        object_key,
        kind: "upload".into(),
        upload_id: Some(upload_id.to_string()),
        path,
        name: up.file_name.clone(),
        bytes: up.bytes.unwrap_or(up.file_size),
        sha256: up.sha256.clone().unwrap_or_default(),
        duration_seconds: up.source_duration_seconds,
        resolution: up.source_width.zip(up.source_height).map(|(w, h)| format!("{w}x{h}")),
        frame_rate: up.source_frame_rate.clone(),
        codec,
        bit_depth,
        hdr,
        audio_tracks,
    }
}
