//! Submission: the checks a job passes before it is queued (profile,
//! output, metadata, webhooks, the source and its pictures), then the insert.

use super::outputs::{pending_output, validate_metadata, validate_output};
use super::state::JobsState;
use crate::error::{Result, ServiceError};
use crate::origin::Origin;
use crate::shared::{new_id, normalize};
use crate::types::{HlsCodec, Job, JobSpec, JobStatus, Progress, ServiceEvent, SourceInfo, SourceSpec};
use std::path::{Path, PathBuf};

/// Validates and queues a job (see `Service::submit`). [`Origin::Local`]:
/// the local user, or a watch-folder rule (its folder was validated when the
/// rule was created), so the source-root check is skipped (the path must
/// still be an absolute, readable file) and `output.dir` is allowed.
/// [`Origin::Network`]: only the source roots, no `output.dir`. `id`: use
/// this job ID (the watch folders record it before the job exists).
pub(crate) async fn submit_job(inner: &JobsState, spec: JobSpec, origin: &Origin, id: Option<String>) -> Result<Job> {
    if inner.core.is_draining() {
        return Err(ServiceError::CapacityExceeded("the service is shutting down and takes no new jobs".into()));
    }
    if inner.core.is_disk_critical() {
        return Err(ServiceError::CapacityExceeded(
            "the server's disk is almost full; it takes no new jobs until space is freed".into(),
        ));
    }
    let metadata = validate_metadata(spec.metadata.clone())?;
    if inner.core.profiles.get(&spec.profile).is_err() {
        let known: Vec<&str> = inner.core.profiles.iter().map(|p| p.id.as_str()).collect();
        return Err(ServiceError::validation(
            "profile",
            format!("unknown profile {:?}; known profiles: {}", spec.profile, known.join(", ")),
        ));
    }
    validate_output(&spec.output)?;
    if let Some(dir) = &spec.output.dir {
        if let Origin::Network(_) = origin {
            return Err(ServiceError::Forbidden(
                "output.dir is for the desktop app's local jobs; network clients download their outputs".into(),
            ));
        }
        if !dir.is_absolute() {
            return Err(ServiceError::validation("output.dir", format!("{} is not an absolute path", dir.display())));
        }
    }
    let webhook_ids = crate::webhooks::check_job_webhooks(&inner.core.pool, &spec.webhook_ids).await?;
    let id = id.unwrap_or_else(|| new_id("job"));
    let source = match &spec.source {
        SourceSpec::Path { path } => {
            let path = match origin {
                Origin::Local => local_source_path(path)?,
                Origin::Network(_) => check_source_path(inner, path)?,
            };
            tokio::task::spawn_blocking(move || describe_source(&path))
                .await
                .map_err(|e| ServiceError::Internal(format!("reading the source: {e}")))??
        }
        // An unknown upload is a bad field of this request, not a missing
        // object of this route (contract: 400/422 here, never 404).
        SourceSpec::Upload { upload_id } => match inner.uploads.job_source(upload_id, &id).await {
            Err(ServiceError::NotFound { kind: "upload", .. }) => {
                return Err(ServiceError::validation("source.upload_id", format!("upload {upload_id} does not exist")));
            }
            other => other?,
        },
        SourceSpec::S3 { key } => bucket_source(inner, key, &id).await?,
    };
    let mut source = source;
    if let (Some(objects), SourceSpec::Upload { .. }, Some(path), None) =
        (&inner.core.objects, &spec.source, &source.path, &source.object_key)
    {
        // Farm mode: any node may run the job, so the source goes to the
        // bucket too (an upload kept in the bucket is there already).
        match super::persist::store_source(objects, &id, Path::new(path)).await {
            Ok(key) => source.object_key = Some(key.as_str().to_string()),
            Err(e) => {
                inner.uploads.remove_job_source(&id).await;
                return Err(ServiceError::Internal(format!("cannot store the source in the bucket: {e}")));
            }
        }
    }
    if let Err(e) = check_pictures(inner, &spec, &source).await {
        if !matches!(spec.source, SourceSpec::Path { .. }) {
            inner.uploads.remove_job_source(&id).await;
        }
        return Err(e);
    }
    let job = Job {
        id,
        status: JobStatus::Queued,
        status_reason: None,
        attempt: 1,
        max_attempts: inner.core.config.max_attempts,
        retryable: false,
        profile: spec.profile.clone(),
        effective_profile_id: None,
        source,
        progress: Progress::queued(),
        output: pending_output(&spec.output),
        metadata,
        created_at: crate::store::now(),
        started_at: None,
        completed_at: None,
        error: None,
        final_artifact: None,
        saved_percent: None,
    };
    if let Err(e) = inner.store.insert(&job, &spec.output, &webhook_ids).await {
        inner.uploads.remove_job_source(&job.id).await;
        return Err(e);
    }
    let in_bucket = job.source.object_key.as_deref().is_some_and(|k| k.starts_with("uploads/"));
    if let (SourceSpec::Upload { upload_id }, true) = (&spec.source, in_bucket) {
        // Farm mode: a delete of the upload that overlapped this submission
        // either sees the job now in the table or is seen here (the
        // object would be gone): then the job is taken back.
        if let Err(e) = inner.uploads.confirm_source(upload_id).await {
            let _ = inner.store.cancel(&job.id, true, &job.output).await;
            let _ = inner.store.delete_finished(&job.id).await;
            inner.uploads.remove_job_source(&job.id).await;
            return Err(e);
        }
        // The copy was for the probe; the node that claims the job fetches its own.
        inner.uploads.remove_job_source(&job.id).await;
    }
    inner.wake.notify_one();
    super::lease::announce(inner).await;
    inner.core.emit(ServiceEvent::JobCreated { job: Box::new(job.clone()) });
    Ok(job)
}

/// An `s3` source (farm mode): the key must name an object below the
/// configured prefix, no larger than `max_upload_bytes`; it is downloaded to
/// the job's own source folder and probed like any file.
///
/// Errors: validation (`source.type` without `--object-store`, `source.key`
/// malformed or missing in the bucket); [`ServiceError::Forbidden`] for a key
/// outside the prefix; `PayloadTooLarge`; `SourceInvalid` from the probe;
/// `Internal` when the bucket cannot be read.
async fn bucket_source(inner: &JobsState, user_key: &str, id: &str) -> Result<SourceInfo> {
    use crate::objects::ObjectsError;
    let Some(objects) = inner.core.objects.as_ref() else {
        return Err(ServiceError::validation("source.type", "s3 sources need a server started with --object-store"));
    };
    let key = objects.resolve_user_key(user_key).map_err(|e| match e {
        ObjectsError::OutsidePrefix { .. } => ServiceError::Forbidden(format!("{e}")),
        other => ServiceError::validation("source.key", other.to_string()),
    })?;
    let bucket_error = |e: ObjectsError| ServiceError::Internal(format!("reading the bucket: {e}"));
    let Some(size) = objects.head(&key).await.map_err(bucket_error)? else {
        return Err(ServiceError::validation("source.key", format!("there is no object {user_key} in the bucket")));
    };
    if size > inner.core.config.max_upload_bytes {
        return Err(ServiceError::PayloadTooLarge(format!(
            "the object is {size} bytes; this server takes sources up to {} bytes",
            inner.core.config.max_upload_bytes
        )));
    }
    let name = key.as_str().rsplit('/').next().unwrap_or("source").to_string();
    let path = super::persist::fetch_source(objects, &inner.core.config.data_dir, id, &name, &key)
        .await
        .map_err(bucket_error)?;
    let probe_path = path.clone();
    let described = tokio::task::spawn_blocking(move || describe_source(&probe_path))
        .await
        .map_err(|e| ServiceError::Internal(format!("reading the source: {e}")))?;
    let mut info = match described {
        Ok(info) => info,
        Err(e) => {
            let _ = tokio::fs::remove_dir_all(path.parent().unwrap_or(&path)).await;
            return Err(e);
        }
    };
    info.kind = "s3".into();
    info.object_key = Some(key.as_str().to_string());
    Ok(info)
}

/// Checks a `path` source: absolute, under a source root (also after
/// resolving symlinks), and readable. Returns the canonical path.
fn check_source_path(inner: &JobsState, path: &Path) -> Result<PathBuf> {
    if !path.is_absolute() {
        return Err(ServiceError::validation("source.path", format!("{} is not an absolute path", path.display())));
    }
    let outside = || ServiceError::Forbidden(format!("{} is outside the server's source roots", path.display()));
    let roots = &inner.core.source_roots;
    if !roots.iter().any(|r| normalize(path).starts_with(r)) {
        return Err(outside());
    }
    let canonical = std::fs::canonicalize(path)
        .map_err(|e| ServiceError::validation("source.path", format!("{}: cannot read: {e}", path.display())))?;
    if !roots.iter().any(|r| canonical.starts_with(r)) {
        return Err(outside());
    }
    if !canonical.is_file() {
        return Err(ServiceError::validation("source.path", format!("{} is not a file", path.display())));
    }
    Ok(canonical)
}

/// A source path of the local user, or of a watch-folder rule (its folder was vetted
/// when the rule was made): it must still be absolute and a readable file. Returns the canonical path.
fn local_source_path(path: &Path) -> Result<PathBuf> {
    if !path.is_absolute() {
        return Err(ServiceError::validation("source.path", format!("{} is not an absolute path", path.display())));
    }
    let canonical = std::fs::canonicalize(path)
        .map_err(|e| ServiceError::validation("source.path", format!("{}: cannot read: {e}", path.display())))?;
    if !canonical.is_file() {
        return Err(ServiceError::validation("source.path", format!("{} is not a file", path.display())));
    }
    Ok(canonical)
}

/// Refuses at submission a source whose pictures no encoder of this job
/// may take (issue 9): larger than the configured source limit, or an
/// output beyond level 6.2 of its codec (ITU-T H.264 Table A-1, H.265
/// Table A.8), with `source_unsupported` (422); the encode would refuse it
/// before decoding anyway. A source the header probe cannot read passes
/// here (the submission's own probe already judged it).
async fn check_pictures(inner: &JobsState, spec: &JobSpec, source: &SourceInfo) -> Result<()> {
    // An upload kept in the bucket is checked from the facts recorded at its completion.
    let recorded = match (&source.path, &spec.source) {
        (None, SourceSpec::Upload { upload_id }) => inner.uploads.picture_facts(upload_id).await?,
        _ => None,
    };
    let file_codec = match &spec.output.hls {
        None => Some(
            inner
                .core
                .profiles
                .get(&spec.profile)
                .map(|p| p.codec)
                .map_err(|e| ServiceError::Internal(e.to_string()))?,
        ),
        Some(_) => None,
    };
    let hls = spec.output.hls.as_ref().map(|h| {
        let codec = match h.codec {
            HlsCodec::H264 => crema_engine::profile::VideoCodec::H264,
            HlsCodec::Hevc => crema_engine::profile::VideoCodec::Hevc,
        };
        (codec, h.renditions.clone())
    });
    let target_height = spec.output.target_height;
    let hls_rungs = || hls.as_ref().map(|(c, r)| (*c, r.as_slice()));
    if let Some(dims) = recorded {
        let name = PathBuf::from(&source.name);
        return crema_engine::limits::check_picture(&name, dims, file_codec, target_height, hls_rungs()).map_err(|e| {
            crate::error::source_error(&e, &name).unwrap_or_else(|| ServiceError::Internal(e.to_string()))
        });
    }
    let Some(path) = source.path.clone().map(PathBuf::from) else { return Ok(()) };
    tokio::task::spawn_blocking(move || {
        let Ok(info) = crema_engine::probe::probe_facts(&path, &crema_engine::CancelFlag::new()) else { return Ok(()) };
        crema_engine::limits::check_probed(
            &path,
            &info,
            file_codec,
            target_height,
            hls.as_ref().map(|(c, r)| (*c, r.as_slice())),
        )
        .map_err(|e| crate::error::source_error(&e, &path).unwrap_or_else(|| ServiceError::Internal(e.to_string())))
    })
    .await
    .map_err(|e| ServiceError::Internal(format!("checking the source: {e}")))?
}

/// The `source` object at submission, from the probe (which also hashes the
/// file). Errors: [`ServiceError::SourceInvalid`] / [`ServiceError::SourceUnsupported`]
/// when the probe cannot read the file as media (empty, truncated, not
/// media): refused now rather than failed later (issue 9); `Internal` for
/// any other probe failure.
fn describe_source(path: &Path) -> Result<SourceInfo> {
    match crema_engine::probe::probe(path) {
        Ok(info) => Ok(super::outputs::source_from_probe(path, &info)),
        Err(e) => Err(crate::error::source_error(&e, path)
            .unwrap_or_else(|| ServiceError::Internal(format!("{}: probe failed: {e}", path.display())))),
    }
}
