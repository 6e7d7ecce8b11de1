//! HLS packages kept in the bucket (farm mode): any node serves them to
//! players through its signed folder tokens, with presigned bucket URLs for
//! the bytes. Playlists are read from the bucket and handed out by the node;
//! in each media playlist every segment and `EXT-X-MAP` URI becomes a
//! presigned GET URL (24 h), so segments go from the bucket straight to the
//! player. Any other file of the package asked for by its relative path is a
//! redirect to its presigned URL.

use super::Service;
use crate::error::{Result, ServiceError};
use crate::objects::{DEFAULT_PRESIGN_TTL, ObjectKey, Objects, ObjectsError};
use std::collections::HashMap;

/// Largest playlist read from the bucket, bytes (8 MiB: a VOD media playlist
/// of 2 s segments holds about 100 000 of them within it).
pub const MAX_PLAYLIST_BYTES: u64 = 8 << 20;

/// File extensions of an HLS package: playlists, fMP4 and MPEG-TS segments,
/// initialization sections, audio, subtitles.
const PACKAGE_EXTENSIONS: &[&str] = &["m3u8", "m4s", "mp4", "m4a", "ts", "aac", "vtt", "webvtt"];

/// What a node answers for a file of an HLS package kept in the bucket.
#[derive(Clone, Debug, PartialEq)]
pub enum BucketHlsFile {
    /// A playlist for the node to serve (`application/vnd.apple.mpegurl`):
    /// a master playlist as stored, a media playlist with presigned URIs.
    Playlist(Vec<u8>),
    /// Any other file: a presigned GET URL (24 h) to redirect the player to.
    Redirect(String),
}

impl Service {
    /// File `rel` (a path inside the package: `master.m3u8`,
    /// `720p/index.m3u8`, `720p/seg_00001.m4s`) of job `id`'s HLS package,
    /// when the package is in the bucket (`output.object_key` set, farm
    /// mode); `None` when it is not (the node serves its own folder).
    ///
    /// Errors: [`ServiceError::NotFound`] (kind `download`) for a `rel` that
    /// names no key inside the package (`..`, empty segments) or a playlist
    /// the bucket does not have; [`ServiceError::CapacityExceeded`] when the
    /// bucket is unavailable after its retries; [`ServiceError::Internal`]
    /// when it refuses or a URL cannot be signed.
    pub async fn bucket_hls_file(&self, id: &str, rel: &str) -> Result<Option<BucketHlsFile>> {
        let job = self.get(id).await?;
        let (Some(objects), Some(master), Some(_)) = (&self.core.objects, &job.output.object_key, &job.output.hls)
        else {
            return Ok(None);
        };
        let not_found = || ServiceError::NotFound { kind: "download", id: format!("{id}/{rel}") };
        // Only the package's own files: not the job's source copy or
        // anything else that shares its prefix.
        let ext = rel.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).unwrap_or_default();
        if rel.starts_with("source/") || !PACKAGE_EXTENSIONS.contains(&ext.as_str()) {
            return Err(not_found());
        }
        let package = master.rsplit_once('/').map_or("", |(dir, _)| dir);
        let key = ObjectKey::new(&format!("{package}/{rel}")).map_err(|_| not_found())?;
        let fault = |e: ObjectsError| match e {
            ObjectsError::NotFound { .. } => not_found(),
            e if e.is_transient() => {
                ServiceError::CapacityExceeded("the object store is unavailable; try again later".into())
            }
            e => ServiceError::Internal(format!("reading the package from the object store: {e}")),
        };
        if !rel.ends_with(".m3u8") {
            return Ok(Some(BucketHlsFile::Redirect(presign(objects, &key).await.map_err(fault)?)));
        }
        let bytes = objects.get_small(&key, MAX_PLAYLIST_BYTES).await.map_err(fault)?;
        let Some(uris) = crema_engine::hls::media_playlist_uris(&bytes) else {
            // A master playlist: its URIs are relative, so the player asks this route for them.
            return Ok(Some(BucketHlsFile::Playlist(bytes)));
        };
        let dir = key.as_str().rsplit_once('/').map_or("", |(d, _)| d);
        let mut signed = HashMap::with_capacity(uris.len());
        for uri in uris {
            // Only plain relative URIs inside the package (Crema writes no
            // others); anything else is kept as written, and a relative one
            // then comes back to the node, which redirects it.
            if uri.contains("://") || uri.starts_with('/') || uri.contains(['?', '#', '%']) {
                continue;
            }
            let Ok(k) = ObjectKey::new(&format!("{dir}/{uri}")) else { continue };
            let url = presign(objects, &k).await.map_err(fault)?;
            signed.insert(uri, url);
        }
        let out = crema_engine::hls::rewrite_media_playlist(&bytes, |u| signed.get(u).cloned())
            .ok_or_else(|| ServiceError::Internal(format!("job {id}: {rel} could not be written again")))?;
        Ok(Some(BucketHlsFile::Playlist(out)))
    }
}

async fn presign(objects: &Objects, key: &ObjectKey) -> std::result::Result<String, ObjectsError> {
    Ok(objects.presigned_get(key, DEFAULT_PRESIGN_TTL).await?.to_string())
}
