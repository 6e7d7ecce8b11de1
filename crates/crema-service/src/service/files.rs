//! The files-and-hooks part of [`Service`]: chunked uploads and webhooks.

use super::Service;
use crate::error::Result;
use crate::uploads::{PartReceived, Upload, UploadCompleted, UploadCreated, UploadSpec};
use crate::webhooks::{Webhook, WebhookCreated, WebhookDelivery, WebhookSpec};
use tokio::io::AsyncRead;

impl Service {
    /// `POST /v1/uploads`: opens an upload session. Part size follows the
    /// contract's tiers ([`chunk_size_for`]) unless the config overrides it;
    /// the session expires [`Config::upload_ttl`] (24 h) after creation.
    ///
    /// Errors: [`crate::ServiceError::Validation`] for a bad `file_name` (empty, over
    /// [`MAX_FILE_NAME_BYTES`], with `/`, `\` or control characters, `.`/`..`),
    /// `file_size` 0 or a bad `mime_type`; [`crate::ServiceError::PayloadTooLarge`] when
    /// `file_size` is over [`Config::max_upload_bytes`];
    /// [`crate::ServiceError::CapacityExceeded`] while the disk is critical (free space
    /// under [`Config::disk_min_free_bytes`] on the data or output folder's file
    /// system, measured now: `/readyz` `disk_critical`); [`crate::ServiceError::Internal`]
    /// for database faults.
    pub async fn create_upload(&self, spec: UploadSpec) -> Result<UploadCreated> {
        self.uploads.create_upload(spec).await
    }

    /// `PUT /v1/uploads/{id}/parts/{part_number}`: stores part `part_number`
    /// (0-based) read from `body`. Every part but the last must be exactly
    /// `chunk_size` bytes, the last the remainder; at most that many bytes plus
    /// one are read from `body`. The part is written to a temp file, fsynced and
    /// renamed into place, then recorded: it is acknowledged only once durable.
    /// Re-sending a part replaces it; parts may come in any order and at once.
    ///
    /// Errors: [`crate::ServiceError::NotFound`] (kind `upload`); [`crate::ServiceError::Validation`]
    /// for `part_number` outside `0..total_chunks`, or for a body shorter than
    /// the part's size (field `body`, naming the expected size) or that cannot be
    /// read; [`crate::ServiceError::PayloadTooLarge`] for a body longer than the part's
    /// size; [`crate::ServiceError::NotFound`] when the session expired;
    /// [`crate::ServiceError::InvalidTransition`] when the upload is completed or
    /// canceled; [`crate::ServiceError::CapacityExceeded`] while the disk is critical
    /// (as for [`Service::create_upload`]) or when the part does not fit
    /// (`ENOSPC`, `EDQUOT`, `SQLITE_FULL`): the parts acknowledged before stay,
    /// and the message names no server path; [`crate::ServiceError::Internal`] for
    /// other disk or database faults.
    pub async fn put_part<R: AsyncRead + Unpin + Send>(
        &self,
        id: &str,
        part_number: u64,
        body: R,
    ) -> Result<PartReceived> {
        self.uploads.put_part(id, part_number, body).await
    }

    /// `GET /v1/uploads/{id}`: the session with the parts received so far.
    /// Its status is `assembling` while [`Service::complete_upload`] runs.
    ///
    /// Errors: [`crate::ServiceError::NotFound`] (kind `upload`) for an unknown or
    /// expired session; [`crate::ServiceError::Internal`].
    pub async fn get_upload(&self, id: &str) -> Result<Upload> {
        self.uploads.get_upload(id).await
    }

    /// `POST /v1/uploads/{id}/complete`: assembles the parts into one file
    /// (the upload reads `assembling` meanwhile),
    /// computing its SHA-256 in the same single pass (part 0 is renamed, not
    /// copied; later parts are appended), removes the parts, then probes the
    /// file on a blocking thread for `source_*` (a file that is not media still
    /// completes, with those fields `null`). Completing a completed upload
    /// returns the same result again.
    ///
    /// Errors: [`crate::ServiceError::NotFound`] (kind `upload`);
    /// [`crate::ServiceError::UploadIncomplete`] when parts are missing (the message
    /// lists them as runs, `0-4, 7`, abbreviated after 20 runs);
    /// [`crate::ServiceError::NotFound`] for an expired session;
    /// [`crate::ServiceError::InvalidTransition`] for a canceled upload;
    /// [`crate::ServiceError::CapacityExceeded`] when the disk is too full for the
    /// assembled file; [`crate::ServiceError::Internal`] for other disk or database
    /// faults (the parts are kept in both cases).
    pub async fn complete_upload(&self, id: &str) -> Result<UploadCompleted> {
        self.uploads.complete_upload(id).await
    }

    /// `DELETE /v1/uploads/{id}`: cancels the session and frees its files
    /// (parts, or the assembled file of a completed upload; jobs already
    /// submitted from it keep their own link). Returns the upload, status
    /// `canceled`, `received_chunks` empty. Deleting a canceled upload returns
    /// it unchanged. Works on a full disk (the files go before the row changes).
    ///
    /// Errors: [`crate::ServiceError::NotFound`] (kind `upload`) for an unknown or
    /// expired session (an expired one's files are removed now if the cleanup
    /// task had not yet); [`crate::ServiceError::Internal`].
    pub async fn delete_upload(&self, id: &str) -> Result<Upload> {
        self.uploads.delete_upload(id).await
    }

    /// Runs one expiry pass now (the cleanup task does this at open and every
    /// minute): open sessions past `expires_at` become `expired` and lose their
    /// files; completed uploads past `expires_at` also become `expired` and lose
    /// their assembled file unless an unfinished job still names them.
    /// Returns how many uploads had their files removed.
    ///
    /// Errors: [`crate::ServiceError::Internal`] for database faults (file removal
    /// faults are logged and retried on the next pass).
    pub async fn cleanup_uploads(&self) -> Result<u64> {
        self.uploads.cleanup_uploads().await
    }

    /// Registers a webhook (`POST /v1/webhooks`) with a fresh 32-byte secret.
    ///
    /// The secret is stored in clear in the service database (it must be
    /// readable to sign deliveries) and returned only here.
    ///
    /// Errors: [`crate::ServiceError::Validation`] on `url` (not an absolute URL,
    /// not http/https, no host, user info, over 2048 bytes) or `name` (over
    /// 200 characters); [`crate::ServiceError::Forbidden`] when the host is an IP
    /// literal the [`WebhookPolicy`] refuses (host names are checked at every
    /// delivery, after resolution); [`crate::ServiceError::Internal`] for database
    /// faults or no OS randomness.
    pub async fn create_webhook(&self, spec: WebhookSpec) -> Result<WebhookCreated> {
        self.webhooks.create_webhook(spec).await
    }

    /// Active webhooks, oldest first (`GET /v1/webhooks`); secrets are never listed.
    ///
    /// Errors: [`crate::ServiceError::Internal`] for database faults.
    pub async fn list_webhooks(&self) -> Result<Vec<Webhook>> {
        self.webhooks.list_webhooks().await
    }

    /// Deletes a webhook (`DELETE /v1/webhooks/{id}`): it gets no further
    /// deliveries, its pending ones are marked failed ("webhook deleted"; an
    /// attempt under way at that moment still ends, and is not retried), and
    /// jobs that named it no longer owe it events. The row is kept so that
    /// [`Service::webhook_deliveries`] still answers. Returns the webhook with
    /// `active: false`.
    ///
    /// Errors: [`crate::ServiceError::NotFound`] (kind `webhook`) for an unknown or
    /// already deleted ID; [`crate::ServiceError::Internal`] for database faults.
    pub async fn delete_webhook(&self, id: &str) -> Result<Webhook> {
        self.webhooks.delete_webhook(id).await
    }

    /// Extension: the webhook's delivery attempts, newest first, at most
    /// [`MAX_DELIVERY_RECORDS`]. Works for deleted webhooks too. A delivery
    /// waiting for its first attempt has no record yet.
    ///
    /// Errors: [`crate::ServiceError::NotFound`] (kind `webhook`) for an ID never
    /// registered; [`crate::ServiceError::Internal`] for database faults.
    pub async fn webhook_deliveries(&self, id: &str) -> Result<Vec<WebhookDelivery>> {
        self.webhooks.webhook_deliveries(id).await
    }
}
