//! Outputs in object storage (farm mode, `--object-store`): after muxing a
//! job enters `uploading_output`, everything it wrote (the file or the HLS
//! package, waveform data) is uploaded under `jobs/<job id>/` with fixed-size
//! multipart parts and each object's size checked, and only then does the
//! job complete. `GET /v1/jobs/{id}/output` then redirects to a presigned
//! URL of the bucket.

use crate::objects::{ObjectKey, Objects, ObjectsError};
use std::path::Path;
use std::time::Duration;

/// Rounds of [`upload`] before the job fails with `output_persistence_failed`
/// (each round is itself retried by the store client on transient errors).
const ROUNDS: u32 = 3;
/// Pause before the second round; doubled before each later one.
const FIRST_PAUSE: Duration = Duration::from_secs(2);

/// `jobs/<id>`: where job `id`'s files live in the bucket.
pub(crate) fn job_prefix(id: &str) -> Result<ObjectKey, ObjectsError> {
    ObjectKey::new(&format!("jobs/{id}"))
}

/// Uploads the job folder `job_dir` to `jobs/<id>/` and returns the key of
/// `main` (the file, or the HLS master playlist) inside it.
///
/// Errors: the store's last error after [`ROUNDS`] rounds; the objects of a
/// failed round may stay in the bucket (the next round overwrites them, job
/// removal deletes the prefix).
pub(super) async fn upload(
    objects: &Objects,
    id: &str,
    job_dir: &Path,
    main: &Path,
) -> Result<ObjectKey, ObjectsError> {
    let prefix = job_prefix(id)?;
    let rel = main.strip_prefix(job_dir).unwrap_or(main);
    let rel = rel.to_string_lossy().replace('\\', "/");
    let main_key = prefix.join(&rel)?;
    let mut pause = FIRST_PAUSE;
    let mut round = 1;
    loop {
        match objects.put_dir(job_dir, &prefix).await {
            Ok(up) => {
                tracing::info!("job {id}: {} files, {} bytes stored in the bucket", up.files, up.bytes);
                return Ok(main_key);
            }
            Err(e) if round < ROUNDS && !matches!(e, ObjectsError::Io { .. } | ObjectsError::InvalidKey { .. }) => {
                tracing::warn!("job {id}: storing the output failed (round {round} of {ROUNDS}), trying again: {e}");
                tokio::time::sleep(pause).await;
                pause *= 2;
                round += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Deletes job `id`'s objects (retention, removal); errors are logged.
pub(crate) async fn delete(objects: &Objects, id: &str) {
    match job_prefix(id) {
        Ok(prefix) => {
            if let Err(e) = objects.delete_prefix(&prefix).await {
                tracing::warn!("job {id}: cannot delete its objects from the bucket: {e}");
            }
        }
        Err(e) => tracing::warn!("job {id}: {e}"),
    }
}

/// `<data_dir>/sources/<job id>/<name>`: where a job's own copy of its source
/// lives on this node (uploads link it there; bucket sources download there).
pub(crate) fn local_source(data_dir: &Path, job_id: &str, name: &str) -> std::path::PathBuf {
    data_dir.join("sources").join(job_id).join(name)
}

/// Downloads `key` to [`local_source`] (ranged, resumable) unless it is
/// there already; returns the local path.
///
/// Errors: the store's ([`ObjectsError::NotFound`] for a missing object) or
/// the local disk's.
pub(crate) async fn fetch_source(
    objects: &Objects,
    data_dir: &Path,
    job_id: &str,
    name: &str,
    key: &ObjectKey,
) -> Result<std::path::PathBuf, ObjectsError> {
    let path = local_source(data_dir, job_id, name);
    if tokio::fs::metadata(&path).await.is_ok_and(|m| m.is_file()) {
        return Ok(path);
    }
    if let Some(dir) = path.parent() {
        tokio::fs::create_dir_all(dir).await.map_err(|e| ObjectsError::io(dir, e))?;
    }
    objects.get_to_file(key, &path).await?;
    Ok(path)
}

/// Stores job `id`'s local source copy at `jobs/<id>/source/<name>` so any
/// node of the farm can fetch it; returns the key.
pub(crate) async fn store_source(objects: &Objects, id: &str, path: &Path) -> Result<ObjectKey, ObjectsError> {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "source".into());
    let key = job_prefix(id)?.join("source")?.join(&name)?;
    objects.put_file(path, &key).await?;
    Ok(key)
}
