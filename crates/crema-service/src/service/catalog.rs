//! The catalog and queue-management part of [`Service`]: profiles,
//! removing and reordering jobs, source facts, thumbnails.

use super::Service;
use crate::catalog::{MovePosition, ProfileList, SourceFacts};
use crate::error::{Result, ServiceError};
use crate::types::Job;
use crate::uploads::UploadStatus;
use std::path::{Path, PathBuf};

impl Service {
    /// The loaded profiles as the API lists them.
    pub fn profile_list(&self) -> ProfileList {
        crate::catalog::profile_list(self.profiles())
    }

    /// Removes a finished job from the store with its output and kept source.
    ///
    /// Errors: [`ServiceError::NotFound`]; [`ServiceError::InvalidTransition`]
    /// while the job is queued or running (cancel it first) or while webhook
    /// deliveries about it are still owed.
    pub async fn remove_job(&self, id: &str) -> Result<()> {
        self.jobs.remove(id).await
    }

    /// Moves a queued job in the run order (pagination order is unchanged:
    /// it follows submission). Returns the job.
    ///
    /// Errors: [`ServiceError::NotFound`]; [`ServiceError::InvalidTransition`]
    /// when the job (or the `Before` job) is not queued.
    pub async fn move_job(&self, id: &str, position: &MovePosition) -> Result<Job> {
        self.jobs.move_job(id, position).await
    }

    /// IDs of the queued jobs in the order workers will take them.
    ///
    /// Errors: [`ServiceError::Internal`] when the database fails.
    pub async fn queue_order(&self) -> Result<Vec<String>> {
        self.jobs.queue_order().await
    }

    /// What a local file is (header facts, no hash), for a UI's queue. No
    /// source-root check: callers are local (the desktop app), not the HTTP API.
    ///
    /// Errors: [`ServiceError::SourceInvalid`] when the file is not media
    /// or cannot be read.
    pub async fn probe_facts(&self, path: &Path) -> Result<SourceFacts> {
        crate::catalog::probe_facts(path).await
    }

    /// A JPEG poster frame of a local file, at most 320×180 pixels, upright.
    ///
    /// Errors: [`ServiceError::SourceInvalid`] when the file has no
    /// decodable video; [`ServiceError::Internal`] when encoding the JPEG fails.
    pub async fn thumbnail_jpeg(&self, path: &Path) -> Result<Vec<u8>> {
        crate::catalog::thumbnail_jpeg(path).await
    }

    /// The poster frame of a job's source (`GET /v1/jobs/{id}/thumbnail`).
    ///
    /// Errors: [`ServiceError::NotFound`] for an unknown job or a source that
    /// is gone; those of [`Service::thumbnail_jpeg`].
    pub async fn job_thumbnail(&self, id: &str) -> Result<Vec<u8>> {
        let job = self.get(id).await?;
        let path = job
            .source
            .path
            .map(PathBuf::from)
            .filter(|p| p.is_file())
            .ok_or_else(|| ServiceError::NotFound { kind: "thumbnail", id: id.to_string() })?;
        self.thumbnail_jpeg(&path).await
    }

    /// The poster frame of a completed upload (`GET /v1/uploads/{id}/thumbnail`).
    ///
    /// Errors: [`ServiceError::NotFound`] for an unknown upload or one that is
    /// not assembled (yet, or any more); those of [`Service::thumbnail_jpeg`].
    pub async fn upload_thumbnail(&self, id: &str) -> Result<Vec<u8>> {
        let up = self.get_upload(id).await?;
        let path = (up.status == UploadStatus::Completed)
            .then(|| self.uploads.assembled_file(id))
            .flatten()
            .ok_or_else(|| ServiceError::NotFound { kind: "thumbnail", id: id.to_string() })?;
        self.thumbnail_jpeg(&path).await
    }
}
