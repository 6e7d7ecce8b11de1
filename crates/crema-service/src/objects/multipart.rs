//! A client's chunked upload as the bucket's own multipart upload
//! ([`Objects::begin_multipart`] … [`Objects::complete_multipart`]): each
//! part a client sends becomes one part of it, so the assembled object is
//! made by the store (S3 `CompleteMultipartUpload`) and no node copies the
//! bytes again. Parts may come from different nodes, in any order; the
//! store keeps them until the upload is completed or aborted.
//!
//! S3 and R2 want every part but the last to be at least 5 MiB (R2: all the
//! same size), and at most 10 000 parts: the contract's part sizes (the whole
//! file under 64 MiB, then 8, 16 or 32 MiB) meet both.

use super::error::{ObjectsError, Result};
use super::{ObjectKey, Objects};
use object_store::multipart::{MultipartStore, PartId};
use object_store::{ObjectStoreExt, PutPayload};

impl Objects {
    /// Starts a multipart upload of the object `key` and returns its upload
    /// ID (the store's; opaque, under 1 KiB on S3 and R2). Nothing is stored
    /// at `key` until [`Objects::complete_multipart`].
    ///
    /// Errors: [`ObjectsError::Refused`], [`ObjectsError::Unavailable`].
    pub async fn begin_multipart(&self, key: &ObjectKey) -> Result<String> {
        let path = self.path(key)?;
        self.inner.store.create_multipart(&path).await.map_err(|e| ObjectsError::from_store(path.as_ref(), e))
    }

    /// Stores part `index` (0-based; S3 part number `index + 1`) of the
    /// multipart upload `upload_id` of `key` and returns its ETag, which
    /// [`Objects::complete_multipart`] needs. Sending the same index again
    /// replaces the part. No checksum header is sent.
    ///
    /// Errors: [`ObjectsError::InvalidOption`] for an index of 10 000 or
    /// more; [`ObjectsError::NotFound`] when the upload was completed or
    /// aborted; [`ObjectsError::Refused`], [`ObjectsError::Unavailable`].
    pub async fn put_multipart_part(
        &self,
        key: &ObjectKey,
        upload_id: &str,
        index: u64,
        bytes: Vec<u8>,
    ) -> Result<String> {
        let path = self.path(key)?;
        let idx = usize::try_from(index).ok().filter(|&i| i < 10_000).ok_or_else(|| ObjectsError::InvalidOption {
            reason: format!("part index {index} is past S3's 10 000 parts"),
        })?;
        let id = upload_id.to_string();
        let part = self
            .inner
            .store
            .put_part(&path, &id, idx, PutPayload::from(bytes))
            .await
            .map_err(|e| ObjectsError::from_store(path.as_ref(), e))?;
        Ok(part.content_id)
    }

    /// Completes the multipart upload `upload_id` of `key` from its parts'
    /// ETags in index order (`etags[i]` from part `i`), then HEADs the object
    /// and checks it has `size` bytes.
    ///
    /// Errors: [`ObjectsError::NotFound`] when no such upload is open (already
    /// completed or aborted: HEAD the object to tell); [`ObjectsError::SizeMismatch`];
    /// [`ObjectsError::Refused`] (a part under 5 MiB that is not the last…),
    /// [`ObjectsError::Unavailable`].
    pub async fn complete_multipart(
        &self,
        key: &ObjectKey,
        upload_id: &str,
        etags: Vec<String>,
        size: u64,
    ) -> Result<()> {
        let path = self.path(key)?;
        let map = |e| ObjectsError::from_store(path.as_ref(), e);
        let parts = etags.into_iter().map(|content_id| PartId { content_id }).collect();
        self.inner.store.complete_multipart(&path, &upload_id.to_string(), parts).await.map_err(map)?;
        let remote = self.inner.store.head(&path).await.map_err(map)?.size;
        if remote != size {
            return Err(ObjectsError::SizeMismatch { key: path.to_string(), local: size, remote });
        }
        Ok(())
    }

    /// Aborts the multipart upload `upload_id` of `key`: the store drops its
    /// parts. One that is already gone (completed or aborted) is no error.
    ///
    /// Errors: [`ObjectsError::Refused`], [`ObjectsError::Unavailable`].
    pub async fn abort_multipart(&self, key: &ObjectKey, upload_id: &str) -> Result<()> {
        let path = self.path(key)?;
        match self.inner.store.abort_multipart(&path, &upload_id.to_string()).await {
            Ok(()) => Ok(()),
            Err(e) => match ObjectsError::from_store(path.as_ref(), e) {
                ObjectsError::NotFound { .. } => Ok(()),
                e => Err(e),
            },
        }
    }
}
