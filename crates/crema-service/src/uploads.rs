//! Chunked, resumable uploads: the `/v1` contract's "Uploads (chunked,
//! resumable)" section, and the `upload` source of jobs.
//!
//! With an object store (farm mode) the parts go to the bucket instead and
//! any node takes them: see `uploads/bucket.rs`. On one box, files live
//! under `<data_dir>/uploads/<upload id>/`:
//! - `part-000042`: an acknowledged part. It is written to
//!   `.tmp-part-000042-<random>`, fsynced, renamed into place and the folder
//!   fsynced before its row goes into `upload_parts`: a part is acknowledged
//!   only once it is durable. Re-sent parts replace the file and the row.
//! - `assembling`: the file being assembled by `complete`. Part 0 is renamed to
//!   it (not copied) and the other parts are appended, hashing everything in
//!   the same single pass; a one-part upload (every file under 64 MiB) is
//!   never copied at all.
//! - `source`: the assembled file once `complete` succeeded.
//!
//! `<data_dir>/space-reserve` (1 MiB) is given up when the database has no
//! room to record a delete, so that uploads can be deleted on a full disk; it
//! is made again at the next upload once space allows.
//!
//! Crash safety: on [`crate::Service::open`], stray temp files are removed; a part 0
//! caught in an interrupted assembly is given back (the assembly only appends
//! after part 0, so truncating `assembling` or `source` to part 0's length
//! restores it); rows whose part file is missing or short are dropped (the
//! client re-sends that part, as it would after any failed request); part files
//! without a row are removed; folders of unknown or cleaned-up uploads are removed.
//! An upload left `assembling` by a dead process is `uploading` again.
//!
//! Concurrency: one `RwLock` per upload. Parts take it shared, so several parts
//! of one upload are written at once; `complete`, `delete` and expiry take it
//! exclusively, so no part changes while the file is assembled or removed.
//!
//! Expiry (contract: sessions expire 24 h after creation, configurable with
//! [`crate::Config::upload_ttl`]): a cleanup pass at open and then every minute
//! stores sessions past `expires_at` that were not completed as `expired`
//! (a state callers never see: such a session is `404`) and removes their
//! files; completed uploads past `expires_at` also become `expired` and lose
//! their files once no unfinished job names them. Jobs never
//! lose their source: each one gets its own hard link (or copy) of the
//! assembled file at submit time.

mod bucket;
mod files;
mod model;
mod rules;
mod sources;
mod state;
mod upkeep;

use crate::error::{Result, ServiceError};
use crate::shared::{check_disk, new_id};
use crate::store::{now, ts};
use files::{SOURCE, TMP_PREFIX, assemble, is_disk_full, part_name, remove_path, sync_dir, write_part};
use model::Stored;
pub use model::{
    FILE_NAME_PATTERN, MAX_FILE_NAME_BYTES, MIB, PartReceived, Upload, UploadCompleted, UploadCreated, UploadSpec,
    UploadStatus, chunk_size_for,
};
pub(crate) use rules::check_config;
use rules::{describe_missing, validate_spec};
pub(crate) use state::Uploads;
use state::{blocking, internal_io, is_database_full, load, received, unix_ms, upload_dir, upload_not_found};
use std::collections::HashSet;
use tokio::io::AsyncRead;
pub(crate) use upkeep::start;
use upkeep::{cleanup, free_files, keep_reserve};

/// The answer to a part that did not fit: `CapacityExceeded` (the server maps
/// it to `503 capacity_exceeded`, retryable), never a server path. The free
/// space is measured again, so `/readyz` and the next requests know at once.
fn disk_full(inner: &Uploads, id: &str, part_number: u64) -> ServiceError {
    check_disk(&inner.core);
    ServiceError::CapacityExceeded(format!(
        "the server's disk is full: part {part_number} of upload {id} was not stored (the parts received \
         before it are kept); send it again once space has been freed"
    ))
}

/// A file fault while storing part `part_number`: a full disk is
/// [`disk_full`] (logged with the path), anything else `Internal`.
fn part_fault(
    inner: &Uploads,
    id: &str,
    part_number: u64,
    what: &dyn std::fmt::Display,
    e: std::io::Error,
) -> ServiceError {
    if is_disk_full(&e) {
        tracing::warn!("upload {id}: part {part_number} does not fit ({what}: {e})");
        disk_full(inner, id, part_number)
    } else {
        internal_io(what, e)
    }
}

/// `CapacityExceeded` while `/readyz` reports `disk_critical` (measured now):
/// no new uploads or parts until space is freed; deleting still works.
fn refuse_if_disk_critical(inner: &Uploads, what: &str) -> Result<()> {
    check_disk(&inner.core);
    if inner.core.is_disk_critical() {
        return Err(ServiceError::CapacityExceeded(format!(
            "the server's disk is almost full (under {} bytes free); it takes no {what} until space is \
             freed, e.g. by deleting uploads",
            inner.core.config.disk_min_free_bytes
        )));
    }
    Ok(())
}

impl Uploads {
    /// `POST /v1/uploads`: opens an upload session. Part size follows the
    /// contract's tiers ([`chunk_size_for`]) unless the config overrides it;
    /// the session expires [`Config::upload_ttl`] (24 h) after creation.
    ///
    /// Errors: [`ServiceError::Validation`] for a bad `file_name` (empty, over
    /// [`MAX_FILE_NAME_BYTES`], with `/`, `\` or control characters, `.`/`..`),
    /// `file_size` 0 or a bad `mime_type`; [`ServiceError::PayloadTooLarge`] when
    /// `file_size` is over [`Config::max_upload_bytes`];
    /// [`ServiceError::CapacityExceeded`] while the disk is critical (free space
    /// under [`Config::disk_min_free_bytes`] on the data or output folder's file
    /// system, measured now: `/readyz` `disk_critical`); [`ServiceError::Internal`]
    /// for database faults.
    pub(crate) async fn create_upload(&self, spec: UploadSpec) -> Result<UploadCreated> {
        let inner = self;
        validate_spec(&spec, &inner.core.config)?;
        refuse_if_disk_critical(inner, "new uploads")?;
        keep_reserve(inner).await;
        let size = spec.file_size;
        let chunk_size =
            inner.core.config.upload_chunk_size_override.map_or_else(|| chunk_size_for(size), |c| c.min(size));
        let total_chunks = size.div_ceil(chunk_size);
        let created = now();
        let expires_at = time::Duration::try_from(inner.core.config.upload_ttl)
            .ok()
            .and_then(|d| created.checked_add(d))
            .ok_or_else(|| ServiceError::validation("upload_ttl", "out of range"))?;
        let id = new_id("upl");
        // Farm mode: the parts go to the bucket's own multipart upload; else
        // they are files on this node's disk.
        let (multipart_id, node) = match &inner.core.objects {
            Some(objects) => (Some(bucket::begin(objects, &id).await?), None),
            None => (None, Some(inner.core.config.node_name.clone())),
        };
        let inserted = sqlx::query(
            "INSERT INTO uploads (id, status, file_name, file_size, mime_type, chunk_size, total_chunks,
                                  created_at, expires_at, expires_ms, multipart_id, node)
             VALUES ($1, 'uploading', $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(&id)
        .bind(&spec.file_name)
        .bind(size as i64)
        .bind(&spec.mime_type)
        .bind(chunk_size as i64)
        .bind(total_chunks as i64)
        .bind(ts(created))
        .bind(ts(expires_at))
        .bind(unix_ms(expires_at))
        .bind(&multipart_id)
        .bind(node)
        .execute(&inner.core.pool)
        .await;
        if let Err(e) = inserted {
            if let (Some(objects), Some(m)) = (&inner.core.objects, &multipart_id) {
                bucket::abandon(objects, &id, m).await;
            }
            return Err(e.into());
        }
        Ok(UploadCreated { id, chunk_size, total_chunks, expires_at })
    }

    /// `PUT /v1/uploads/{id}/parts/{part_number}`: stores part `part_number`
    /// (0-based) read from `body`. Every part but the last must be exactly
    /// `chunk_size` bytes, the last the remainder; at most that many bytes plus
    /// one are read from `body`. The part is written to a temp file, fsynced and
    /// renamed into place, then recorded: it is acknowledged only once durable.
    /// Re-sending a part replaces it; parts may come in any order and at once.
    ///
    /// Errors: [`ServiceError::NotFound`] (kind `upload`); [`ServiceError::Validation`]
    /// for `part_number` outside `0..total_chunks`, or for a body shorter than
    /// the part's size (field `body`, naming the expected size) or that cannot be
    /// read; [`ServiceError::PayloadTooLarge`] for a body longer than the part's
    /// size; [`ServiceError::NotFound`] when the session expired;
    /// [`ServiceError::InvalidTransition`] when the upload is completed or
    /// canceled; [`ServiceError::CapacityExceeded`] while the disk is critical
    /// (as for [`crate::Service::create_upload`]) or when the part does not fit
    /// (`ENOSPC`, `EDQUOT`, `SQLITE_FULL`): the parts acknowledged before stay,
    /// and the message names no server path; [`ServiceError::Internal`] for
    /// other disk or database faults.
    pub(crate) async fn put_part<R: AsyncRead + Unpin + Send>(
        &self,
        id: &str,
        part_number: u64,
        body: R,
    ) -> Result<PartReceived> {
        let inner = self;
        let up = load(inner, id).await?;
        if part_number >= up.total_chunks {
            return Err(ServiceError::validation(
                "part_number",
                format!(
                    "must be 0..{} for this upload of {} part(s), got {part_number}",
                    up.total_chunks - 1,
                    up.total_chunks
                ),
            ));
        }
        let expected = up.part_len(part_number);
        let lock = inner.locks.of(id);
        let _shared = lock.read().await;
        let status = load(inner, id).await?.visible()?;
        if !status.is_open() {
            return Err(ServiceError::InvalidTransition(format!("upload {id} is {status}; it takes no more parts")));
        }
        refuse_if_disk_critical(inner, "upload parts")?;
        let fault = |what: &dyn std::fmt::Display, e| part_fault(inner, id, part_number, what, e);
        let dir = upload_dir(inner, id);
        tokio::fs::create_dir_all(&dir).await.map_err(|e| fault(&dir.display(), e))?;
        let mut salt = [0u8; 8];
        let _ = getrandom::fill(&mut salt);
        let tmp = dir.join(format!("{TMP_PREFIX}{}-{}", part_name(part_number), hex::encode(salt)));
        if let Err(e) = write_part(&tmp, body, expected, part_number, &fault).await {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(e);
        }
        if up.multipart_id.is_some() {
            let stored = match &inner.core.objects {
                Some(objects) => bucket::store_part(inner, objects, &up, part_number, &tmp).await,
                None => Err(no_bucket(id)),
            };
            let _ = tokio::fs::remove_file(&tmp).await;
            record_part(inner, id, part_number, expected, Some(stored?))
                .await
                .map_err(|e| if is_database_full(&e) { disk_full(inner, id, part_number) } else { e.into() })?;
            return Ok(PartReceived { part_number, received: true });
        }
        let dest = dir.join(part_name(part_number));
        let (moved_dest, moved_dir) = (dest.clone(), dir.clone());
        tokio::task::spawn_blocking(move || {
            std::fs::rename(&tmp, &moved_dest).inspect_err(|_| {
                let _ = std::fs::remove_file(&tmp);
            })?;
            sync_dir(&moved_dir)
        })
        .await
        .map_err(|e| ServiceError::Internal(format!("storing an upload part: {e}")))?
        .map_err(|e| fault(&dest.display(), e))?;
        if let Err(e) = record_part(inner, id, part_number, expected, None).await {
            // A part never acknowledged gives its space back (a re-sent one
            // keeps its row and its new, complete file).
            if !received(inner, id).await?.contains(&part_number) {
                let _ = tokio::fs::remove_file(&dest).await;
            }
            return Err(if is_database_full(&e) { disk_full(inner, id, part_number) } else { e.into() });
        }
        Ok(PartReceived { part_number, received: true })
    }

    /// `GET /v1/uploads/{id}`: the session with the parts received so far.
    /// Its status is `assembling` while [`crate::Service::complete_upload`] runs.
    ///
    /// Errors: [`ServiceError::NotFound`] (kind `upload`) for an unknown or
    /// expired session; [`ServiceError::Internal`].
    pub(crate) async fn get_upload(&self, id: &str) -> Result<Upload> {
        let up = load(self, id).await?;
        let status = up.visible()?;
        Ok(up.to_upload(status, received(self, id).await?))
    }

    /// `POST /v1/uploads/{id}/complete`: assembles the parts into one file
    /// (the upload reads `assembling` meanwhile),
    /// computing its SHA-256 in the same single pass (part 0 is renamed, not
    /// copied; later parts are appended), removes the parts, then probes the
    /// file on a blocking thread for `source_*` (a file that is not media still
    /// completes, with those fields `null`). Completing a completed upload
    /// returns the same result again.
    ///
    /// Errors: [`ServiceError::NotFound`] (kind `upload`);
    /// [`ServiceError::UploadIncomplete`] when parts are missing (the message
    /// lists them as runs, `0-4, 7`, abbreviated after 20 runs);
    /// [`ServiceError::NotFound`] for an expired session;
    /// [`ServiceError::InvalidTransition`] for a canceled upload;
    /// [`ServiceError::CapacityExceeded`] when the disk is too full for the
    /// assembled file; [`ServiceError::Internal`] for other disk or database
    /// faults (the parts are kept in both cases).
    pub(crate) async fn complete_upload(&self, id: &str) -> Result<UploadCompleted> {
        let inner = self;
        load(inner, id).await?;
        let lock = inner.locks.of(id);
        let _exclusive = lock.write().await;
        let up = load(inner, id).await?;
        match up.visible()? {
            UploadStatus::Completed => {
                return up
                    .completed()
                    .ok_or_else(|| ServiceError::Internal(format!("upload {id} is completed but has no stored hash")));
            }
            s @ (UploadStatus::Canceled | UploadStatus::Assembling) => {
                return Err(ServiceError::InvalidTransition(format!(
                    "upload {id} is {s}; it can no longer be completed"
                )));
            }
            UploadStatus::Uploading => {}
        }
        let got: HashSet<u64> = received(inner, id).await?.into_iter().collect();
        let missing: Vec<u64> = (0..up.total_chunks).filter(|n| !got.contains(n)).collect();
        if !missing.is_empty() {
            return Err(ServiceError::UploadIncomplete(format!(
                "upload {id} is missing {} of {} part(s): {}",
                missing.len(),
                up.total_chunks,
                describe_missing(&missing)
            )));
        }
        let dir = upload_dir(inner, id);
        let (total, part0_len, file_size) = (up.total_chunks, up.part_len(0), up.file_size);
        // One statement: in the bucket the node completing it is recorded with
        // the state (its restart gives the upload back: open-time recovery).
        let began = sqlx::query(
            "UPDATE uploads SET status = 'assembling',
                                node = CASE WHEN multipart_id IS NULL THEN node ELSE $1 END
             WHERE id = $2 AND status = 'uploading'",
        )
        .bind(&inner.core.config.node_name)
        .bind(id)
        .execute(&inner.core.pool)
        .await?;
        if began.rows_affected() != 1 {
            // Another request (on this node or another) got there first.
            let now_up = load(inner, id).await?;
            if let (UploadStatus::Completed, Some(done)) = (now_up.visible()?, now_up.completed()) {
                return Ok(done);
            }
            return Err(ServiceError::InvalidTransition(format!("upload {id} is being completed by another request")));
        }
        // The bucket's joined file is downloaded here only to be hashed and probed.
        let _local_copy = up.multipart_id.is_some().then(|| RemoveOnDrop(dir.clone()));
        let assembled = if up.multipart_id.is_some() {
            match &inner.core.objects {
                Some(objects) => bucket::finish(inner, objects, &up).await,
                None => Err(no_bucket(id)),
            }
        } else {
            let assemble_dir = dir.clone();
            blocking("assembling an upload", move || assemble(&assemble_dir, total, part0_len, file_size)).await
        };
        let sha256 = match assembled {
            Ok(sha) => sha,
            Err(e) => {
                // Part 0 was given back (the bucket's parts stay where they
                // were): the session takes parts again.
                set_status(inner, id, UploadStatus::Assembling, UploadStatus::Uploading).await?;
                return Err(match e {
                    ServiceError::CapacityExceeded(_) if up.multipart_id.is_none() => {
                        check_disk(&inner.core);
                        ServiceError::CapacityExceeded(format!(
                            "the server's disk is full: upload {id} could not be assembled (its parts are kept); \
                             complete it again once space has been freed"
                        ))
                    }
                    other => other,
                });
            }
        };
        let source = dir.join(SOURCE);
        // Header facts only: the SHA-256 was computed while assembling, so the
        // file is not read a second time here.
        let probed = tokio::task::spawn_blocking(move || {
            crema_engine::probe::probe_facts(&source, &crema_engine::CancelFlag::new())
        })
        .await;
        let info = match probed {
            Ok(Ok(info)) => Some(info),
            Ok(Err(e)) => {
                tracing::info!("upload {id}: not probed as media: {e}");
                None
            }
            Err(e) => {
                tracing::warn!("upload {id}: the probe failed: {e}");
                None
            }
        };
        let (width, height) = info
            .as_ref()
            .and_then(|i| i.resolution.as_deref())
            .and_then(|r| r.split_once('x'))
            .and_then(|(w, h)| Some((w.parse::<u32>().ok()?, h.parse::<u32>().ok()?)))
            .unzip();
        let facts = info.as_ref().map(|i| serde_json::to_string(&state::UploadFacts::of(i))).transpose()?;
        let r = sqlx::query(
            "UPDATE uploads SET status = 'completed', sha256 = $1, bytes = $2, source_width = $3, source_height = $4,
                                source_duration_seconds = $5, source_frame_rate = $6, completed_at = $7,
                                facts_json = $9
             WHERE id = $8 AND status = 'assembling'",
        )
        .bind(&sha256)
        .bind(file_size as i64)
        .bind(width.map(i64::from))
        .bind(height.map(i64::from))
        .bind(info.as_ref().map(|i| i.duration_seconds))
        .bind(info.as_ref().and_then(|i| i.frame_rate.clone()))
        .bind(ts(now()))
        .bind(id)
        .bind(facts)
        .execute(&inner.core.pool)
        .await?;
        if r.rows_affected() != 1 {
            return Err(ServiceError::Internal(format!("upload {id} changed state while being completed")));
        }
        if up.multipart_id.is_some() {
            // The bucket joined the parts; this node's copy goes with `_local_copy`.
            return Ok(UploadCompleted {
                id: id.to_string(),
                status: UploadStatus::Completed,
                sha256,
                bytes: file_size,
            });
        }
        let _ = blocking("removing assembled parts", move || {
            for n in 1..total {
                remove_path(&dir.join(part_name(n)))?;
            }
            Ok(())
        })
        .await;
        Ok(UploadCompleted { id: id.to_string(), status: UploadStatus::Completed, sha256, bytes: file_size })
    }

    /// `DELETE /v1/uploads/{id}`: cancels the session and frees its files
    /// (parts, or the assembled file of a completed upload; jobs already
    /// submitted from it keep their own link). Returns the upload, status
    /// `canceled`, `received_chunks` empty. Deleting a canceled upload returns
    /// it unchanged. Works on a full disk (the files go before the row changes).
    ///
    /// Errors: [`ServiceError::NotFound`] (kind `upload`) for an unknown or
    /// expired session (an expired one's files are removed now if the cleanup
    /// task had not yet); [`ServiceError::Internal`].
    pub(crate) async fn delete_upload(&self, id: &str) -> Result<Upload> {
        let inner = self;
        load(inner, id).await?;
        let lock = inner.locks.of(id);
        let _exclusive = lock.write().await;
        let up = load(inner, id).await?;
        match up.effective(now()) {
            Stored::Shown(UploadStatus::Canceled) => {}
            Stored::Expired => {
                if up.files_present {
                    free_files(inner, &up, Stored::Expired).await?;
                }
                return Err(upload_not_found(id));
            }
            Stored::Shown(_) => free_files(inner, &up, Stored::Shown(UploadStatus::Canceled)).await?,
        }
        self.get_upload(id).await
    }

    /// Runs one expiry pass now (the cleanup task does this at open and every
    /// minute): open sessions past `expires_at` become `expired` and lose their
    /// files; completed uploads past `expires_at` also become `expired` and lose
    /// their assembled file unless an unfinished job still names them.
    /// Returns how many uploads had their files removed.
    ///
    /// Errors: [`ServiceError::Internal`] for database faults (file removal
    /// faults are logged and retried on the next pass).
    pub(crate) async fn cleanup_uploads(&self) -> Result<u64> {
        cleanup(self).await
    }
}

/// Records (or, for a re-sent part, replaces) part `n`'s row; `etag` for a
/// part stored in the bucket.
async fn record_part(inner: &Uploads, id: &str, n: u64, bytes: u64, etag: Option<String>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO upload_parts (upload_id, part_number, bytes, received_at, etag) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (upload_id, part_number) DO UPDATE SET bytes = excluded.bytes,
                                                             received_at = excluded.received_at,
                                                             etag = excluded.etag",
    )
    .bind(id)
    .bind(n as i64)
    .bind(bytes as i64)
    .bind(ts(now()))
    .bind(etag)
    .execute(&inner.core.pool)
    .await
    .map(|_| ())
}

/// Removes a folder when dropped (blocking: the bucket branch of `complete`
/// leaves no copy of the file behind on any exit).
struct RemoveOnDrop(std::path::PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = remove_path(&self.0);
    }
}

/// An upload kept in the bucket, on a node started without `--object-store`.
fn no_bucket(id: &str) -> ServiceError {
    ServiceError::Internal(format!(
        "upload {id} is kept in the object store, and this server was started without --object-store"
    ))
}

/// Moves an upload from `from` to `to`.
///
/// Errors: [`ServiceError::Internal`] when it was not in `from` (the caller
/// holds the upload's lock exclusively, so nothing else changes it) or the
/// database fails.
async fn set_status(inner: &Uploads, id: &str, from: UploadStatus, to: UploadStatus) -> Result<()> {
    let r = sqlx::query("UPDATE uploads SET status = $1 WHERE id = $2 AND status = $3")
        .bind(to.as_str())
        .bind(id)
        .bind(from.as_str())
        .execute(&inner.core.pool)
        .await?;
    if r.rows_affected() != 1 {
        return Err(ServiceError::Internal(format!("upload {id} was not {from} when it should become {to}")));
    }
    Ok(())
}
