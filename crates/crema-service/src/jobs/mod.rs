//! The job queue: the one owner of the `jobs` table (`store.rs`) and of the
//! workers that run its jobs (`worker.rs`). Other subsystems reach it through
//! the [`Jobs`] handle.

mod lease;
mod outputs;
mod persist;
mod repo;
mod state;
mod store;
mod submit;
mod transcoder;
mod worker;

pub use outputs::MAX_METADATA_BYTES;
pub(crate) use outputs::validate_output;
pub(crate) use repo::JobStore;
use repo::QueuePlace;
pub(crate) use store::SqlJobStore;
pub use transcoder::{FfmpegTranscoder, Transcoder};

use crate::catalog::MovePosition;
use crate::error::{Result, ServiceError};
use crate::origin::Origin;
use crate::shared::Core;
use crate::types::{Job, JobSpec, JobStatus, OutputInfo, Page, ServiceEvent};
use crate::uploads::Uploads;
use base64::Engine as _;
use outputs::{ended_output, pending_output_from};
use state::{INTENT_CANCEL, INTENT_NONE, INTENT_SHUTDOWN, JobsState};
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

/// The queue handle: submit, read, cancel, retry, reorder, remove, expire;
/// cheap to clone (one shared state).
#[derive(Clone)]
pub(crate) struct Jobs(Arc<JobsState>);

/// The narrow part of the queue the watch folders use: submit a rule's job
/// (as [`Origin::Local`]: the rule's folder was vetted when it was made),
/// cancel it, read it, and record where its output was placed.
#[derive(Clone)]
pub(crate) struct RuleJobs(Jobs);

impl RuleJobs {
    /// Queues a rule's job under the ID the rule recorded.
    pub(crate) async fn submit(&self, spec: JobSpec, id: String) -> Result<Job> {
        self.0.submit_as(spec, &Origin::Local, Some(id)).await
    }

    /// Cancels a job of a removed rule.
    pub(crate) async fn cancel(&self, id: &str) -> Result<Job> {
        self.0.cancel(id).await
    }

    /// One job, `None` when there is none.
    pub(crate) async fn find(&self, id: &str) -> Result<Option<Job>> {
        self.0.find(id).await
    }

    /// Points a job's output at the file the rule placed (out of the retention).
    pub(crate) async fn set_output(&self, id: &str, output: &OutputInfo) -> Result<()> {
        self.0.set_output(id, output).await
    }
}

/// A [`Jobs`] handle that does not keep the queue alive (for background tasks).
pub(crate) struct WeakJobs(Weak<JobsState>);

impl WeakJobs {
    /// The handle, while the queue still exists.
    pub(crate) fn upgrade(&self) -> Option<Jobs> {
        self.0.upgrade().map(Jobs)
    }
}

impl Jobs {
    /// The narrow handle the watch folders get.
    pub(crate) fn for_rules(&self) -> RuleJobs {
        RuleJobs(self.clone())
    }

    /// A handle that does not keep the queue alive.
    pub(crate) fn downgrade(&self) -> WeakJobs {
        WeakJobs(Arc::downgrade(&self.0))
    }

    /// The shared state the queue runs on.
    pub(crate) fn core(&self) -> &Arc<Core> {
        &self.0.core
    }

    /// A handle over the shared state; upload sources come from `uploads`,
    /// jobs are kept in `store`, encodes are run by `transcoder`.
    pub(crate) fn new(
        core: Arc<Core>,
        uploads: Arc<Uploads>,
        store: Arc<dyn JobStore>,
        transcoder: Arc<dyn Transcoder>,
    ) -> Jobs {
        let running = Mutex::new(HashMap::new());
        Jobs(Arc::new(JobsState { core, uploads, store, transcoder, running, wake: Notify::new() }))
    }

    /// Starts `config.workers` workers.
    pub(crate) fn spawn_workers(&self) -> Vec<JoinHandle<()>> {
        (0..self.0.core.config.workers).map(|n| tokio::spawn(worker::worker_loop(self.0.clone(), n))).collect()
    }

    /// Starts the lease keeper (lease renewal, node heartbeat, requeue of
    /// jobs whose lease ran out); see `lease.rs`.
    pub(crate) fn spawn_lease_keeper(&self) -> JoinHandle<()> {
        if let crate::Database::Postgres(url) = self.0.core.config.resolved_database() {
            tokio::spawn(lease::listen(Arc::downgrade(&self.0), url));
        }
        tokio::spawn(lease::keep(Arc::downgrade(&self.0), self.0.core.config.lease))
    }

    /// Validates and queues a job for `origin` (see `Service::submit`).
    /// `id`: use this job ID (the watch folders record it before the job exists).
    pub(crate) async fn submit_as(&self, spec: JobSpec, origin: &Origin, id: Option<String>) -> Result<Job> {
        submit::submit_job(&self.0, spec, origin, id).await
    }

    /// One job. Errors: [`ServiceError::NotFound`].
    pub(crate) async fn get(&self, id: &str) -> Result<Job> {
        self.0.store.must_get(id).await
    }

    /// One job, `None` when there is none.
    pub(crate) async fn find(&self, id: &str) -> Result<Option<Job>> {
        Ok(self.0.store.get(id).await?.map(|r| r.job))
    }

    /// A page of jobs, newest first (see `Service::list`).
    pub(crate) async fn list(
        &self,
        status: Option<JobStatus>,
        limit: Option<u32>,
        cursor: Option<&str>,
    ) -> Result<Page> {
        let limit = limit.unwrap_or(20);
        if !(1..=100).contains(&limit) {
            return Err(ServiceError::validation("limit", format!("must be 1..100, got {limit}")));
        }
        let before = cursor.map(decode_cursor).transpose()?;
        let mut rows = self.0.store.list(status, before, limit + 1).await?;
        let has_more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        let next_cursor = if has_more { rows.last().map(|r| encode_cursor(r.seq)) } else { None };
        Ok(Page { jobs: rows.into_iter().map(|r| r.job).collect(), next_cursor, has_more })
    }

    /// Cancels a queued or running job (see `Service::cancel`).
    pub(crate) async fn cancel(&self, id: &str) -> Result<Job> {
        let inner = &*self.0;
        let job = self.0.store.must_get(id).await?;
        if job.status.is_terminal() {
            return Err(ServiceError::JobNotCancelable(format!(
                "job {id} is {}; only queued or running jobs can be canceled",
                job.status
            )));
        }
        let none = ended_output(&job.output);
        if job.status == JobStatus::Queued && self.0.store.cancel(id, true, &none).await? {
            inner.emit_state(id).await;
            return self.0.store.must_get(id).await;
        }
        // Running (or claimed since we looked).
        let handle = inner.running_handle(id);
        if let Some(h) = &handle {
            h.intent.store(INTENT_CANCEL, Ordering::SeqCst);
            h.cancel.cancel();
        }
        if !self.0.store.cancel(id, false, &none).await? {
            let job = self.0.store.must_get(id).await?;
            return if job.status == JobStatus::Canceled {
                Ok(job)
            } else {
                Err(ServiceError::JobNotCancelable(format!("job {id} is {}; it can no longer be canceled", job.status)))
            };
        }
        // The worker may have registered its handle after the first look (it
        // checks the row once more after registering: see `worker::run_job`).
        let handle = handle.or_else(|| inner.running_handle(id));
        if let Some(h) = &handle {
            h.intent.store(INTENT_CANCEL, Ordering::SeqCst);
            h.cancel.cancel();
        }
        if let Some(mut h) = handle {
            let _ = tokio::time::timeout(Duration::from_millis(900), h.stopped.wait_for(|stopped| *stopped)).await;
        }
        inner.emit_state(id).await;
        self.0.store.must_get(id).await
    }

    /// Requeues a failed job with attempts left (see `Service::retry`).
    pub(crate) async fn retry(&self, id: &str) -> Result<Job> {
        let job = self.0.store.must_get(id).await?;
        let Some(requeued) = self.0.store.retry(id, &pending_output_from(&job.output)).await? else {
            let job = self.0.store.must_get(id).await?;
            let why = if job.status != JobStatus::Failed {
                format!("job {id} is {}; only failed jobs can be retried", job.status)
            } else {
                format!("job {id} used all its {} attempts", job.max_attempts)
            };
            return Err(ServiceError::InvalidTransition(why));
        };
        self.0.core.emit(ServiceEvent::JobStateChanged { job: Box::new(requeued.clone()) });
        self.0.wake.notify_one();
        lease::announce(&self.0).await;
        Ok(requeued)
    }

    /// Removes a finished job with its output and kept source (see `Service::remove_job`).
    pub(crate) async fn remove(&self, id: &str) -> Result<()> {
        let core = &self.0.core;
        let job = self.0.store.must_get(id).await?;
        if !job.status.is_terminal() {
            return Err(ServiceError::InvalidTransition(format!(
                "job {id} is {}; cancel it before removing it",
                job.status
            )));
        }
        let owed = crate::webhooks::owed_deliveries(&core.pool, id).await?;
        if owed > 0 {
            return Err(ServiceError::InvalidTransition(format!(
                "job {id} still has {owed} webhook deliveries to make; try again later"
            )));
        }
        if !self.0.store.delete_finished(id).await? {
            return Err(ServiceError::InvalidTransition(format!("job {id} changed state; look again")));
        }
        if let Some(objects) = &core.objects {
            persist::delete(objects, id).await;
        }
        for dir in [core.output_dir.join(id), core.config.data_dir.join("sources").join(id)] {
            if let Err(e) = tokio::fs::remove_dir_all(&dir).await
                && e.kind() != std::io::ErrorKind::NotFound
            {
                tracing::warn!("{}: cannot remove: {e}", dir.display());
            }
        }
        Ok(())
    }

    /// Moves a queued job in the run order (see `Service::move_job`).
    pub(crate) async fn move_job(&self, id: &str, position: &MovePosition) -> Result<Job> {
        let place = match position {
            MovePosition::Top => QueuePlace::Top,
            MovePosition::Bottom => QueuePlace::Bottom,
            MovePosition::Before(other) => QueuePlace::Before(other),
        };
        self.0.store.move_in_queue(id, place).await?;
        self.0.store.must_get(id).await
    }

    /// IDs of the queued jobs in the order workers take them.
    pub(crate) async fn queue_order(&self) -> Result<Vec<String>> {
        self.0.store.queue_order().await
    }

    /// Points a job's output at a file placed elsewhere (a watch rule moved
    /// it) and takes it out of the output retention.
    pub(crate) async fn set_output(&self, id: &str, output: &OutputInfo) -> Result<()> {
        self.0.store.set_output(id, output).await
    }

    /// Output retention: deletes the outputs whose retention expired; returns
    /// how many jobs' outputs were removed.
    pub(crate) async fn expire_outputs(&self) -> Result<u64> {
        let core = &self.0.core;
        let now = crate::store::now().unix_timestamp();
        let rows = self.0.store.expiring(now).await?;
        let mut n = 0;
        for (id, mut output) in rows {
            for dir in [core.output_dir.join(&id), core.config.data_dir.join("sources").join(&id)] {
                if let Err(e) = tokio::fs::remove_dir_all(&dir).await
                    && e.kind() != std::io::ErrorKind::NotFound
                {
                    tracing::warn!("{}: cannot remove expired output: {e}", dir.display());
                }
            }
            if let Some(objects) = &core.objects {
                persist::delete(objects, &id).await;
            }
            output.expired = true;
            output.path = None;
            self.0.store.set_output(&id, &output).await?;
            tracing::info!("job {id}: output retention expired, files removed");
            n += 1;
        }
        Ok(n)
    }

    /// IDs of the jobs being run right now.
    pub(crate) fn running_ids(&self) -> Vec<String> {
        self.0.running.lock().unwrap_or_else(|e| e.into_inner()).keys().cloned().collect()
    }

    /// Wakes every idle worker (they see the draining flag and stop).
    pub(crate) fn wake_all(&self) {
        self.0.wake.notify_waiters();
    }

    /// Stops every running job so that it is requeued (same attempt): the
    /// end of a graceful shutdown's grace period.
    pub(crate) fn interrupt_running(&self) {
        for id in self.running_ids() {
            if let Some(h) = self.0.running_handle(&id) {
                let _ = h.intent.compare_exchange(INTENT_NONE, INTENT_SHUTDOWN, Ordering::SeqCst, Ordering::SeqCst);
                h.cancel.cancel();
            }
        }
    }
}

fn encode_cursor(seq: i64) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("seq:{seq}"))
}

fn decode_cursor(cursor: &str) -> Result<i64> {
    let bad = || ServiceError::validation("cursor", "not a cursor returned by this server");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    text.strip_prefix("seq:").and_then(|n| n.parse::<i64>().ok()).filter(|n| *n > 0).ok_or_else(bad)
}
