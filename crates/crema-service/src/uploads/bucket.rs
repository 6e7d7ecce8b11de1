//! Uploads held in the bucket (farm mode, `--object-store`): any node takes
//! any part, and any node completes the upload or runs a job from it.
//!
//! - `create`: the bucket's own multipart upload of the object
//!   `PREFIX/uploads/<id>/source` is started; its ID is the row's
//!   `multipart_id`.
//! - A part: read into a temp file on this node exactly as on one box (the
//!   size rules and their errors are the same), then sent as part
//!   `part_number + 1` of the multipart upload; the row records its ETag. It
//!   is acknowledged once the bucket has it. The temp file is removed.
//! - `complete`: the bucket joins the parts (`CompleteMultipartUpload`, no
//!   node copies the bytes), the object's size is checked, then this node
//!   downloads it once into `<data dir>/uploads/<id>/source` to hash it and
//!   probe it, and removes that copy again (on every exit).
//! - Jobs from the upload name its object as `source.object_key`: the bytes
//!   are not copied again. The facts probed at completion describe the job's
//!   source and check its pictures, so the submitting node reads nothing;
//!   the node that runs the job downloads the object. The object stays while a job that may still run
//!   (queued, running, or failed with attempts left) names the upload, even
//!   after `DELETE /v1/uploads/{id}` or expiry; the expiry pass removes it
//!   once no such job is left.
//! - `DELETE` and expiry abort the multipart upload and delete every object
//!   under `PREFIX/uploads/<id>/`.

use super::files::{SOURCE, hash_file};
use super::state::{BUCKET_PART_MIB, UploadRow, Uploads, blocking, load, upload_dir};
use crate::error::{Result, ServiceError};
use crate::objects::{ObjectKey, Objects, ObjectsError};
use sqlx::Row;

/// `uploads/<id>`: everything the bucket holds for upload `id`.
fn prefix(id: &str) -> Result<ObjectKey> {
    ObjectKey::new(&format!("uploads/{id}")).map_err(|e| ServiceError::Internal(format!("upload {id}: {e}")))
}

/// `uploads/<id>/source`: the assembled object (while parts arrive, the
/// multipart upload's target).
pub(super) fn source_key(id: &str) -> Result<ObjectKey> {
    prefix(id)?.join(SOURCE).map_err(|e| ServiceError::Internal(format!("upload {id}: {e}")))
}

/// A bucket failure during `what`: one that may pass (the store unreachable
/// or overloaded after its retries) is `CapacityExceeded` (503, retryable:
/// send the request again); anything else `Internal`. The message names the
/// operation, not the bucket key.
pub(super) fn bucket_fault(what: &str, e: ObjectsError) -> ServiceError {
    tracing::warn!("{what}: {e}");
    if let ObjectsError::Io { source, .. } = &e
        && super::files::is_disk_full(source)
    {
        return ServiceError::CapacityExceeded(format!(
            "the server's disk is full ({what}); try again once space is freed"
        ));
    }
    if e.is_transient() {
        ServiceError::CapacityExceeded(format!("the object store is unavailable ({what}); try again later"))
    } else {
        ServiceError::Internal(format!("the object store refused {what}"))
    }
}

/// Starts the multipart upload of upload `id`; returns its ID.
pub(super) async fn begin(objects: &Objects, id: &str) -> Result<String> {
    objects.begin_multipart(&source_key(id)?).await.map_err(|e| bucket_fault("starting the upload", e))
}

/// Aborts multipart upload `multipart` of upload `id` whose row was never
/// written; a failure is logged (the bucket's lifecycle rule is the backstop).
pub(super) async fn abandon(objects: &Objects, id: &str, multipart: &str) {
    if let Ok(key) = source_key(id)
        && let Err(e) = objects.abort_multipart(&key, multipart).await
    {
        tracing::warn!("upload {id}: a multipart upload without its row could not be aborted: {e}");
    }
}

/// Sends the part in the local file `tmp` (already checked to be the
/// part's exact size) as part `n` of `up`'s multipart upload; returns its
/// ETag. The part is held in memory meanwhile, within the uploads' shared
/// allowance ([`BUCKET_PART_MIB`]; a part larger than all of it waits for all of it).
pub(super) async fn store_part(
    inner: &Uploads,
    objects: &Objects,
    up: &UploadRow,
    n: u64,
    tmp: &std::path::Path,
) -> Result<String> {
    let mib = u32::try_from(up.part_len(n).div_ceil(1 << 20)).unwrap_or(u32::MAX).clamp(1, BUCKET_PART_MIB);
    let _held = inner
        .bucket_mib
        .acquire_many(mib)
        .await
        .map_err(|_| ServiceError::Internal("the part allowance was closed".into()))?;
    let multipart = up.multipart_id.as_deref().unwrap_or_default();
    let bytes =
        tokio::fs::read(tmp).await.map_err(|e| ServiceError::Internal(format!("reading part {n} back: {e}")))?;
    let e = match objects.put_multipart_part(&source_key(&up.id)?, multipart, n, bytes).await {
        Ok(etag) => return Ok(etag),
        Err(e) => e,
    };
    // Another node may have completed or deleted the upload since this one
    // checked it: S3 then answers 404 NoSuchUpload (some servers 403).
    let gone = || {
        ServiceError::InvalidTransition(format!(
            "upload {} was completed or deleted meanwhile; it takes no more parts",
            up.id
        ))
    };
    match load(inner, &up.id).await.and_then(|u| u.visible()) {
        Ok(status) if !status.is_open() => Err(gone()),
        Err(not_found @ ServiceError::NotFound { .. }) => Err(not_found),
        _ if matches!(e, ObjectsError::NotFound { .. }) => Err(gone()),
        _ => Err(bucket_fault(&format!("storing part {n}"), e)),
    }
}

/// Joins `up`'s parts in the bucket and returns the object's SHA-256,
/// downloading it once into this node's upload folder (the caller removes it).
/// Completing again after a failure later in this function finds the
/// multipart upload gone and the object there with the right size, and goes
/// on from it.
///
/// Errors: `Internal` when a part has no ETag or the bucket refuses;
/// `CapacityExceeded` when the bucket is unavailable or this disk is full.
pub(super) async fn finish(inner: &Uploads, objects: &Objects, up: &UploadRow) -> Result<String> {
    let key = source_key(&up.id)?;
    let rows = sqlx::query("SELECT etag FROM upload_parts WHERE upload_id = $1 ORDER BY part_number")
        .bind(&up.id)
        .fetch_all(&inner.core.pool)
        .await?;
    let etags = rows
        .iter()
        .map(|r| r.try_get::<Option<String>, _>("etag").map_err(ServiceError::from))
        .collect::<Result<Vec<_>>>()?
        .into_iter()
        .collect::<Option<Vec<String>>>()
        .ok_or_else(|| ServiceError::Internal(format!("upload {}: a part has no ETag from the bucket", up.id)))?;
    let multipart = up.multipart_id.as_deref().unwrap_or_default();
    if let Err(e) = objects.complete_multipart(&key, multipart, etags, up.file_size).await {
        // A completion that went through before a later step failed.
        let done = matches!(objects.head(&key).await, Ok(Some(size)) if size == up.file_size);
        if !done {
            return Err(bucket_fault("joining the upload's parts", e));
        }
    }
    let dir = upload_dir(inner, &up.id);
    tokio::fs::create_dir_all(&dir).await.map_err(|e| ServiceError::Internal(format!("upload folder: {e}")))?;
    let local = dir.join(SOURCE);
    objects.get_to_file(&key, &local).await.map_err(|e| bucket_fault("reading the joined upload", e))?;
    blocking("hashing the upload", move || hash_file(&local)).await
}

/// Aborts `up`'s multipart upload unless the upload was completed (one
/// already aborted is no error) and deletes its objects. Parts of a multipart upload are not
/// objects, so a delete cannot remove them: an abort that fails is an error.
///
/// Errors: `CapacityExceeded` / `Internal` from [`bucket_fault`] when the
/// upload cannot be aborted or the objects deleted; nothing is marked freed then.
pub(super) async fn discard(objects: &Objects, up: &UploadRow) -> Result<()> {
    // A completed upload's multipart upload was consumed by the completion.
    if let (Some(multipart), None) = (&up.multipart_id, up.completed_at) {
        objects
            .abort_multipart(&source_key(&up.id)?, multipart)
            .await
            .map_err(|e| bucket_fault("aborting the upload", e))?;
    }
    objects.delete_prefix(&prefix(&up.id)?).await.map_err(|e| bucket_fault("deleting the upload", e))?;
    Ok(())
}

/// Which jobs [`jobs_naming`] counts.
pub(super) enum Naming {
    /// Not completed, failed or canceled.
    Unfinished,
    /// Those that may still run: not completed or canceled, and not failed
    /// with its attempts used up (a failed job with attempts left can be retried).
    MayRun,
}

/// Whether a job of the `which` kind names upload `id` as its source.
pub(super) async fn jobs_naming(inner: &Uploads, id: &str, which: Naming) -> Result<bool> {
    use crate::store::Backend::{Postgres, Sqlite};
    // JSON access differs (SQLite's json_extract, PostgreSQL's ->> on jsonb);
    // static texts, as sqlx wants them.
    let q = match (crate::store::backend(&inner.core.pool), which) {
        (Sqlite, Naming::Unfinished) => {
            "SELECT COUNT(*) AS used FROM jobs WHERE json_extract(source_json, '$.upload_id') = $1
               AND status NOT IN ('completed', 'failed', 'canceled')"
        }
        (Postgres, Naming::Unfinished) => {
            "SELECT COUNT(*) AS used FROM jobs WHERE (source_json::jsonb ->> 'upload_id') = $1
               AND status NOT IN ('completed', 'failed', 'canceled')"
        }
        (Sqlite, Naming::MayRun) => {
            "SELECT COUNT(*) AS used FROM jobs WHERE json_extract(source_json, '$.upload_id') = $1
               AND status NOT IN ('completed', 'canceled') AND NOT (status = 'failed' AND attempt >= max_attempts)"
        }
        (Postgres, Naming::MayRun) => {
            "SELECT COUNT(*) AS used FROM jobs WHERE (source_json::jsonb ->> 'upload_id') = $1
               AND status NOT IN ('completed', 'canceled') AND NOT (status = 'failed' AND attempt >= max_attempts)"
        }
    };
    let row = sqlx::query(q).bind(id).fetch_one(&inner.core.pool).await?;
    Ok(row.try_get::<i64, _>("used")? != 0)
}

/// Whether a job that may still run names upload `id` as its source.
pub(super) async fn needed_by_a_job(inner: &Uploads, id: &str) -> Result<bool> {
    jobs_naming(inner, id, Naming::MayRun).await
}
