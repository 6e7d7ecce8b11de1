//! Downloads: [`Objects::get_to_file`], ranged and resumable.
//!
//! The bytes go to `FILE.partial`; beside it `FILE.partial.etag` holds the
//! ETag of the object they came from. A later call resumes from the
//! partial's length with a range request only when that ETag is still the
//! object's (else it starts over: the object was replaced meanwhile). Every
//! range request carries `If-Match: ETAG`, so an object replaced during the
//! download fails it instead of mixing two versions. When all bytes are
//! there the file is fsynced, renamed to `FILE` (replacing it), the folder
//! fsynced and the `.etag` file removed.

use super::error::{ObjectsError, Result};
use super::{ObjectKey, Objects};
use futures_util::StreamExt;
use object_store::{GetOptions, GetRange, ObjectStore, ObjectStoreExt};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::io::{AsyncSeekExt, AsyncWriteExt, BufWriter};

/// Range requests in a row that may fail transiently, without a byte of
/// progress, before [`Objects::get_to_file`] gives up (each after
/// `object_store`'s own retries).
const MAX_STALLS: u32 = 3;

/// `local` with `suffix` appended to its file name (`a.mov` → `a.mov.partial`).
pub(crate) fn with_suffix(local: &Path, suffix: &str) -> PathBuf {
    let mut name: OsString = local.file_name().map(OsString::from).unwrap_or_default();
    name.push(suffix);
    local.with_file_name(name)
}

impl Objects {
    /// Downloads `key` to the local file `local` and returns its size in bytes.
    ///
    /// Writes to `local.partial` and resumes it when it exists and was
    /// written from the same object version (see the module documentation);
    /// transient failures keep the bytes received so far, so calling again
    /// continues where this call stopped. Ranges of
    /// [`download_chunk`](super::ObjectsOptions::download_chunk) bytes.
    ///
    /// Errors: [`ObjectsError::NotFound`]; [`ObjectsError::Refused`] (also
    /// when the object was replaced during the download: call again);
    /// [`ObjectsError::Unavailable`] after retries (the partial file stays);
    /// [`ObjectsError::Io`] for the local files.
    pub async fn get_to_file(&self, key: &ObjectKey, local: &Path) -> Result<u64> {
        let path = self.path(key)?;
        let store = &self.inner.store;
        let map = |e| ObjectsError::from_store(path.as_ref(), e);
        let meta = store.head(&path).await.map_err(map)?;
        let (size, etag) = (meta.size, meta.e_tag);
        let partial = with_suffix(local, ".partial");
        let tag_file = with_suffix(local, ".partial.etag");
        let mut offset = resume_offset(&partial, &tag_file, etag.as_deref(), size).await?;
        let io = |e| ObjectsError::io(&partial, e);
        let file = tokio::fs::OpenOptions::new().write(true).create(true).truncate(false).open(&partial).await;
        let mut file = file.map_err(io)?;
        file.set_len(offset).await.map_err(io)?;
        file.seek(std::io::SeekFrom::Start(offset)).await.map_err(io)?;
        let mut out = BufWriter::with_capacity(1 << 20, file);
        if offset > 0 {
            tracing::debug!(key = %path, from = offset, of = size, "resuming download");
        }
        let mut stalls = 0;
        while offset < size {
            let end = size.min(offset + self.inner.options.download_chunk);
            let opts = GetOptions {
                range: Some(GetRange::Bounded(offset..end)),
                if_match: etag.clone(),
                ..Default::default()
            };
            let before = offset;
            let got = fetch_range(store, &path, opts, &mut out, &mut offset, &partial).await;
            out.flush().await.map_err(io)?;
            match got {
                Ok(()) => stalls = 0,
                Err(e) if e.is_transient() && (offset > before || stalls < MAX_STALLS) => {
                    stalls = if offset > before { 0 } else { stalls + 1 };
                    tracing::info!(key = %path, at = offset, error = %e, "download interrupted, resuming");
                    tokio::time::sleep(Duration::from_millis(200) * 2u32.pow(stalls)).await;
                }
                Err(e) => {
                    out.get_ref().sync_data().await.map_err(io)?;
                    return Err(e);
                }
            }
        }
        out.flush().await.map_err(io)?;
        let file = out.into_inner();
        file.sync_all().await.map_err(io)?;
        drop(file);
        tokio::fs::rename(&partial, local).await.map_err(|e| ObjectsError::io(local, e))?;
        sync_parent(local).await?;
        let _ = tokio::fs::remove_file(&tag_file).await;
        Ok(size)
    }
}

/// Streams one range into `out`, advancing `offset` by what was written
/// even when the stream fails halfway.
async fn fetch_range(
    store: &object_store::aws::AmazonS3,
    path: &object_store::path::Path,
    opts: GetOptions,
    out: &mut BufWriter<tokio::fs::File>,
    offset: &mut u64,
    partial: &Path,
) -> Result<()> {
    let map = |e| ObjectsError::from_store(path.as_ref(), e);
    let mut body = store.get_opts(path, opts).await.map_err(map)?.into_stream();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(map)?;
        out.write_all(&chunk).await.map_err(|e| ObjectsError::io(partial, e))?;
        *offset += chunk.len() as u64;
    }
    Ok(())
}

/// Where to start: the partial's length when it exists, is no longer than
/// the object and was written from the object's current `etag`; else 0,
/// after recording `etag` for the next call (none when the store gave none:
/// then every call starts over).
async fn resume_offset(partial: &Path, tag_file: &Path, etag: Option<&str>, size: u64) -> Result<u64> {
    let len = match tokio::fs::metadata(partial).await {
        Ok(m) => Some(m.len()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(ObjectsError::io(partial, e)),
    };
    let recorded = tokio::fs::read_to_string(tag_file).await.ok();
    if let (Some(len), Some(etag), Some(recorded)) = (len, etag, recorded.as_deref())
        && recorded == etag
        && len <= size
    {
        return Ok(len);
    }
    match etag {
        Some(etag) => tokio::fs::write(tag_file, etag).await.map_err(|e| ObjectsError::io(tag_file, e))?,
        None => {
            let _ = tokio::fs::remove_file(tag_file).await;
        }
    }
    Ok(0)
}

/// fsyncs the folder holding `local`, so the rename survives a crash.
async fn sync_parent(local: &Path) -> Result<()> {
    let parent = local.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new(".")).to_path_buf();
    let dir = tokio::fs::File::open(&parent).await.map_err(|e| ObjectsError::io(&parent, e))?;
    dir.sync_all().await.map_err(|e| ObjectsError::io(&parent, e))
}

impl Objects {
    /// The whole object `key` in memory, when it is at most `max_bytes`
    /// long (a playlist, not media).
    ///
    /// Errors: [`ObjectsError::NotFound`]; [`ObjectsError::InvalidOption`]
    /// when the object is larger than `max_bytes` (its body is not read);
    /// [`ObjectsError::Refused`], [`ObjectsError::Unavailable`].
    pub async fn get_small(&self, key: &ObjectKey, max_bytes: u64) -> Result<Vec<u8>> {
        let path = self.path(key)?;
        let map = |e| ObjectsError::from_store(path.as_ref(), e);
        let got = self.inner.store.get(&path).await.map_err(map)?;
        if got.meta.size > max_bytes {
            let reason = format!("object {path} is {} bytes, over the {max_bytes} asked for", got.meta.size);
            return Err(ObjectsError::InvalidOption { reason });
        }
        Ok(got.bytes().await.map_err(map)?.to_vec())
    }
}
