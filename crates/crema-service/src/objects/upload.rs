//! Uploads: [`Objects::put_file`] (one PUT, or multipart in fixed-size
//! parts) and [`Objects::put_dir`] (an HLS package as its folder of objects).

use super::error::{ObjectsError, Result};
use super::{ObjectKey, Objects};
use futures_util::stream::{FuturesUnordered, StreamExt, TryStreamExt};
use object_store::{
    Attribute, Attributes, ObjectStore, ObjectStoreExt, PutMultipartOptions, PutOptions, PutPayload, UploadPart,
};
use std::path::{Path, PathBuf};
use tokio::io::AsyncReadExt;

/// S3's (and R2's) limit on the parts of one multipart upload.
const MAX_PARTS: u64 = 10_000;

/// What [`Objects::put_dir`] uploaded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DirUploaded {
    /// Number of files (objects) uploaded.
    pub files: u64,
    /// Their total size in bytes.
    pub bytes: u64,
}

/// The `Content-Type` stored with an object, from its key's extension:
/// HLS playlists (`.m3u8`: `application/vnd.apple.mpegurl`), MPEG-TS
/// segments (`.ts`: `video/mp2t`), fMP4 segments (`.m4s`: `video/iso.segment`),
/// MP4 (`.mp4`/`.m4v`: `video/mp4`, `.m4a`: `audio/mp4`), `.mov`, `.vtt`,
/// `.json`, `.jpg`, `.png`; anything else `application/octet-stream`.
pub fn content_type_for(key: &str) -> &'static str {
    let ext = key.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).unwrap_or_default();
    match ext.as_str() {
        "m3u8" => "application/vnd.apple.mpegurl",
        "ts" => "video/mp2t",
        "m4s" => "video/iso.segment",
        "mp4" | "m4v" => "video/mp4",
        "m4a" => "audio/mp4",
        "mov" => "video/quicktime",
        "vtt" => "text/vtt",
        "json" => "application/json",
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        _ => "application/octet-stream",
    }
}

/// The sizes of the parts a file of `size` bytes is cut into: every part
/// `part_size` bytes except the last, which holds the rest (1..=`part_size`).
pub(crate) fn part_sizes(size: u64, part_size: u64) -> impl Iterator<Item = u64> {
    let full = size / part_size;
    let rest = size % part_size;
    (0..full).map(move |_| part_size).chain((rest > 0).then_some(rest))
}

impl Objects {
    /// Uploads the local file `local` to `key` and returns its size in bytes.
    ///
    /// Files up to [`part_size`](super::ObjectsOptions::part_size) bytes go
    /// in one PUT; larger ones as a multipart upload whose parts are all
    /// exactly `part_size` bytes except the last (at most
    /// [`upload_concurrency`](super::ObjectsOptions::upload_concurrency) in
    /// flight; a failed upload is aborted). No checksum headers are sent.
    /// The object replaces any object at `key`, with the content type
    /// [`content_type_for`] gives. Afterwards the object is HEADed and its
    /// size compared with the local size (taken when the upload started: do
    /// not write to the file meanwhile).
    ///
    /// Errors: [`ObjectsError::Io`] (the local file), [`ObjectsError::SizeMismatch`],
    /// [`ObjectsError::InvalidOption`] (the file needs more than 10 000 parts),
    /// [`ObjectsError::Refused`], [`ObjectsError::Unavailable`] (after retries).
    pub async fn put_file(&self, local: &Path, key: &ObjectKey) -> Result<u64> {
        let path = self.path(key)?;
        let store = &self.inner.store;
        let io = |e| ObjectsError::io(local, e);
        let map = |e| ObjectsError::from_store(path.as_ref(), e);
        let mut file = tokio::fs::File::open(local).await.map_err(io)?;
        let size = file.metadata().await.map_err(io)?.len();
        let part_size = self.inner.options.part_size;
        if size.div_ceil(part_size) > MAX_PARTS {
            let reason = format!("{size} bytes need more than {MAX_PARTS} parts of {part_size} bytes");
            return Err(ObjectsError::InvalidOption { reason });
        }
        let attributes = Attributes::from_iter([(Attribute::ContentType, content_type_for(key.as_str()))]);
        if size <= part_size {
            let buf = read_part(&mut file, size).await.map_err(io)?;
            let opts = PutOptions { attributes, ..Default::default() };
            store.put_opts(&path, buf, opts).await.map_err(map)?;
        } else {
            let opts = PutMultipartOptions { attributes, ..Default::default() };
            let mut upload = store.put_multipart_opts(&path, opts).await.map_err(map)?;
            let concurrency = self.inner.options.upload_concurrency;
            let mut in_flight: FuturesUnordered<UploadPart> = FuturesUnordered::new();
            let sent: Result<()> = async {
                for part in part_sizes(size, part_size) {
                    if in_flight.len() >= concurrency {
                        in_flight.next().await.transpose().map_err(map)?;
                    }
                    let payload = read_part(&mut file, part).await.map_err(io)?;
                    in_flight.push(upload.put_part(payload));
                }
                while let Some(done) = in_flight.next().await {
                    done.map_err(map)?;
                }
                Ok(())
            }
            .await;
            drop(in_flight);
            if let Err(e) = sent {
                if let Err(abort) = upload.abort().await {
                    tracing::warn!(key = %path, error = %abort, "could not abort a failed multipart upload");
                }
                return Err(e);
            }
            upload.complete().await.map_err(map)?;
        }
        let remote = store.head(&path).await.map_err(map)?.size;
        if remote != size {
            return Err(ObjectsError::SizeMismatch { key: path.to_string(), local: size, remote });
        }
        tracing::debug!(key = %path, bytes = size, "uploaded");
        Ok(size)
    }

    /// Uploads every file under the folder `local_dir` to
    /// `key_prefix/RELATIVE/PATH` (relative paths kept, `/`-separated; an
    /// HLS package's playlists and segments) with [`Objects::put_file`],
    /// [`dir_concurrency`](super::ObjectsOptions::dir_concurrency) files at
    /// once. Empty folders leave nothing.
    ///
    /// Errors: those of [`Objects::put_file`]; [`ObjectsError::Io`] for a
    /// symbolic link or an unreadable folder; [`ObjectsError::InvalidKey`]
    /// for a file name that is no valid key segment (not UTF-8, `\`…). On an
    /// error some files may already be uploaded: delete the prefix or retry.
    pub async fn put_dir(&self, local_dir: &Path, key_prefix: &ObjectKey) -> Result<DirUploaded> {
        let root = local_dir.to_path_buf();
        let files = tokio::task::spawn_blocking(move || list_files(&root))
            .await
            .map_err(|e| ObjectsError::io(local_dir, std::io::Error::other(e)))??;
        let mut jobs = Vec::with_capacity(files.len());
        for (abs, rel) in files {
            jobs.push((abs, key_prefix.join(&rel)?));
        }
        let sizes: Vec<u64> = futures_util::stream::iter(jobs)
            .map(|(abs, key)| async move { self.put_file(&abs, &key).await })
            .buffer_unordered(self.inner.options.dir_concurrency)
            .try_collect()
            .await?;
        Ok(DirUploaded { files: sizes.len() as u64, bytes: sizes.iter().sum() })
    }
}

/// Reads exactly `len` bytes (a part fits in memory: at most 5 GiB, by default 16 MiB).
async fn read_part(file: &mut tokio::fs::File, len: u64) -> std::io::Result<PutPayload> {
    let len = usize::try_from(len).map_err(std::io::Error::other)?;
    let mut buf = vec![0u8; len];
    file.read_exact(&mut buf).await?;
    Ok(PutPayload::from(buf))
}

/// Every regular file under `root` as (absolute path, `/`-joined relative path), sorted.
fn list_files(root: &Path) -> Result<Vec<(PathBuf, String)>> {
    let mut out = Vec::new();
    let mut stack = vec![(root.to_path_buf(), String::new())];
    while let Some((dir, rel)) = stack.pop() {
        let entries = std::fs::read_dir(&dir).map_err(|e| ObjectsError::io(&dir, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| ObjectsError::io(&dir, e))?;
            let path = entry.path();
            let kind = entry.file_type().map_err(|e| ObjectsError::io(&path, e))?;
            let name = entry.file_name();
            let name = name.to_str().ok_or_else(|| ObjectsError::InvalidKey {
                key: path.display().to_string(),
                reason: "file name is not UTF-8",
            })?;
            let child = if rel.is_empty() { name.to_string() } else { format!("{rel}/{name}") };
            if kind.is_dir() {
                stack.push((path, child));
            } else if kind.is_file() {
                out.push((path, child));
            } else {
                let e = std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a regular file or folder (a link?)");
                return Err(ObjectsError::io(path, e));
            }
        }
    }
    out.sort_by(|a, b| a.1.cmp(&b.1));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_are_equal_but_the_last() {
        let m = 5 * 1024 * 1024;
        assert_eq!(part_sizes(2 * m + 7, m).collect::<Vec<_>>(), vec![m, m, 7]);
        assert_eq!(part_sizes(3 * m, m).collect::<Vec<_>>(), vec![m, m, m]);
        assert_eq!(part_sizes(1, m).collect::<Vec<_>>(), vec![1]);
        assert_eq!(content_type_for("a/master.m3u8"), "application/vnd.apple.mpegurl");
        assert_eq!(content_type_for("a/seg_001.M4S"), "video/iso.segment");
        assert_eq!(content_type_for("a/noext"), "application/octet-stream");
    }
}
