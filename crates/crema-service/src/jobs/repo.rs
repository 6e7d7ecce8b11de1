//! The queue's storage seam: [`JobStore`], every operation the queue needs
//! on the `jobs` table, as one trait. `store.rs` is the SQL
//! implementation (SQLite or PostgreSQL) ([`super::store::SqlJobStore`]); another database can
//! implement the trait without touching the queue's logic.

use crate::error::{Result, ServiceError};
use crate::types::{Job, JobStatus, OutputInfo, OutputSpec, Progress, SourceInfo};
use std::future::Future;
use std::pin::Pin;

/// What a [`JobStore`] operation returns: a boxed, sendable future (so the
/// trait can be used as `dyn JobStore`).
pub(crate) type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T>> + Send + 'a>>;

/// A job row as stored, with the parts the worker needs that the response does not show.
pub(crate) struct JobRow {
    pub job: Job,
    pub seq: i64,
    pub output_request: OutputSpec,
}

/// The final state of a run, written only if the job is still running.
pub(crate) struct Finish<'a> {
    /// The attempt the worker ran: the write happens only if the job still
    /// runs that attempt on this node (a node that lost its lease must not
    /// overwrite the run that replaced it).
    pub attempt: u32,
    pub status: JobStatus,
    pub status_reason: Option<&'a str>,
    pub error: Option<&'a str>,
    pub progress: &'a Progress,
    pub source: &'a SourceInfo,
    pub output: &'a OutputInfo,
    pub effective_profile_id: Option<&'a str>,
    pub final_artifact: Option<&'a str>,
    pub saved_percent: Option<f64>,
}

/// Where a queued job goes in the run order.
pub(crate) enum QueuePlace<'a> {
    /// First to run.
    Top,
    /// Last to run.
    Bottom,
    /// Just before this queued job.
    Before(&'a str),
}

/// The `jobs` table, as the queue uses it. Writes that depend on a job's
/// state (claim, progress, finish, cancel, retry, move) are atomic: they
/// happen only while the job is in the state named, and say whether they did.
pub(crate) trait JobStore: Send + Sync {
    /// Inserts a new job; `webhook_ids` (already checked) are the webhooks it owes events.
    fn insert<'a>(
        &'a self,
        job: &'a Job,
        output_request: &'a OutputSpec,
        webhook_ids: &'a [String],
    ) -> StoreFuture<'a, ()>;
    /// One job by ID.
    fn get<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<JobRow>>;
    /// Up to `limit` jobs with `seq < before` (all when `None`), newest first.
    fn list(&self, status: Option<JobStatus>, before: Option<i64>, limit: u32) -> StoreFuture<'_, Vec<JobRow>>;
    /// Atomically moves the first queued job (run order) to `probing`, leased
    /// to this node, and returns it. Concurrent claims (other workers, other
    /// nodes) never get the same job.
    fn claim(&self) -> StoreFuture<'_, Option<JobRow>>;
    /// Sets a running job's status and progress; false when it no longer runs
    /// `attempt` on this node (canceled meanwhile, or its lease was lost).
    fn set_running_state<'a>(
        &'a self,
        id: &'a str,
        attempt: u32,
        status: JobStatus,
        progress: &'a Progress,
    ) -> StoreFuture<'a, bool>;
    /// Writes a terminal state for a running job; false when it no longer ran
    /// `f.attempt` on this node.
    fn finish<'a>(&'a self, id: &'a str, f: &'a Finish<'a>) -> StoreFuture<'a, bool>;
    /// Puts a running job back in the queue (graceful shutdown), same attempt.
    fn requeue_running<'a>(&'a self, id: &'a str, attempt: u32, reason: &'a str) -> StoreFuture<'a, bool>;
    /// Renews the lease of every job this node runs until `now + lease`;
    /// returns how many were renewed.
    fn renew_leases(&self) -> StoreFuture<'_, u64>;
    /// Requeues (attempt + 1) or fails (attempts used up) the running jobs
    /// whose lease ran out, whichever node held them. Returns (requeued, failed).
    fn reap_expired(&self) -> StoreFuture<'_, (u64, u64)>;
    /// Cancels a job that is not terminal (only a queued one with
    /// `only_queued`); false when it was not cancelable.
    fn cancel<'a>(&'a self, id: &'a str, only_queued: bool, output: &'a OutputInfo) -> StoreFuture<'a, bool>;
    /// Requeues a failed job with attempts left (attempt + 1); `None` when it was not.
    fn retry<'a>(&'a self, id: &'a str, output: &'a OutputInfo) -> StoreFuture<'a, Option<Job>>;
    /// Crash recovery at start: jobs this node (by name) left running, and
    /// rows from before leases existed, are requeued (attempt + 1) or failed
    /// when their attempts are used up; other nodes' jobs are left to
    /// [`JobStore::reap_expired`]. Returns (requeued, failed).
    fn recover(&self) -> StoreFuture<'_, (u64, u64)>;
    /// Deletes a terminal job; false when it was not terminal.
    fn delete_finished<'a>(&'a self, id: &'a str) -> StoreFuture<'a, bool>;
    /// Moves a queued job in the run order (errors as `Service::move_job`).
    fn move_in_queue<'a>(&'a self, id: &'a str, place: QueuePlace<'a>) -> StoreFuture<'a, ()>;
    /// IDs of the queued jobs in run order.
    fn queue_order(&self) -> StoreFuture<'_, Vec<String>>;
    /// Jobs whose output retention ran out by `now_unix`, with their output.
    fn expiring(&self, now_unix: i64) -> StoreFuture<'_, Vec<(String, OutputInfo)>>;
    /// Replaces a job's output and stops its retention clock.
    fn set_output<'a>(&'a self, id: &'a str, output: &'a OutputInfo) -> StoreFuture<'a, ()>;

    /// Like [`JobStore::get`], [`ServiceError::NotFound`] when absent.
    fn must_get<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Job> {
        Box::pin(async move { self.get(id).await?.map(|r| r.job).ok_or_else(|| ServiceError::job_not_found(id)) })
    }
}
