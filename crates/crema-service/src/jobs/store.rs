//! The SQL [`JobStore`] (SQLite or PostgreSQL): every write to the `jobs` table (and the reads
//! the queue needs): submit, claim, progress, finish, cancel, retry, queue
//! order, removal, output retention, placed outputs, crash recovery. No other
//! module writes `jobs`.

use super::repo::{Finish, JobRow, JobStore, QueuePlace, StoreFuture};
use crate::error::{Result, ServiceError};
use crate::store::{Backend, backend, begin_immediate, now, parse_ts, ts};
use crate::store::{DbRow, Pool};
use crate::types::{Job, JobStatus, OutputInfo, OutputSpec, Progress, SourceInfo};
use sqlx::Row;

/// Statuses a worker holds a job in, as an SQL list (a macro so queries stay `&'static str`).
macro_rules! running {
    () => {
        "('probing', 'encoding', 'muxing', 'uploading_output')"
    };
}
/// Terminal statuses, as an SQL list.
macro_rules! terminal {
    () => {
        "('completed', 'failed', 'canceled')"
    };
}

pub(crate) fn row_to_job(row: &DbRow) -> Result<JobRow> {
    let status: String = row.try_get("status")?;
    let status = JobStatus::parse(&status).ok_or_else(|| ServiceError::Internal(format!("stored status {status}")))?;
    let attempt: i64 = row.try_get("attempt")?;
    let max_attempts: i64 = row.try_get("max_attempts")?;
    let source: SourceInfo = serde_json::from_str(&row.try_get::<String, _>("source_json")?)?;
    let progress: Progress = serde_json::from_str(&row.try_get::<String, _>("progress_json")?)?;
    let output: OutputInfo = serde_json::from_str(&row.try_get::<String, _>("output_json")?)?;
    let metadata: serde_json::Value = serde_json::from_str(&row.try_get::<String, _>("metadata_json")?)?;
    let output_request = serde_json::from_str(&row.try_get::<String, _>("output_request_json")?)?;
    let created_at = parse_ts(Some(row.try_get("created_at")?))?.unwrap_or_else(now);
    let job = Job {
        id: row.try_get("id")?,
        status,
        status_reason: row.try_get("status_reason")?,
        attempt: attempt as u32,
        max_attempts: max_attempts as u32,
        retryable: status == JobStatus::Failed && attempt < max_attempts,
        profile: row.try_get("profile")?,
        effective_profile_id: row.try_get("effective_profile_id")?,
        source,
        progress,
        output,
        metadata,
        created_at,
        started_at: parse_ts(row.try_get("started_at")?)?,
        completed_at: parse_ts(row.try_get("completed_at")?)?,
        error: row.try_get("error")?,
        final_artifact: row.try_get("final_artifact")?,
        saved_percent: row.try_get("saved_percent")?,
    };
    Ok(JobRow { job, seq: row.try_get("seq")?, output_request })
}

/// Inserts a new job.
/// `webhook_ids` (already checked) go to `webhook_ids_json`, read by the outbox trigger.
async fn insert(pool: &Pool, job: &Job, output_request: &OutputSpec, webhook_ids: &[String]) -> Result<()> {
    sqlx::query(
        "INSERT INTO jobs (id, status, status_reason, attempt, max_attempts, profile, source_json,
                           output_request_json, progress_json, output_json, metadata_json, created_at,
                           webhook_ids_json)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
    )
    .bind(&job.id)
    .bind(job.status.as_str())
    .bind(&job.status_reason)
    .bind(job.attempt as i64)
    .bind(job.max_attempts as i64)
    .bind(&job.profile)
    .bind(serde_json::to_string(&job.source)?)
    .bind(serde_json::to_string(output_request)?)
    .bind(serde_json::to_string(&job.progress)?)
    .bind(serde_json::to_string(&job.output)?)
    .bind(serde_json::to_string(&job.metadata)?)
    .bind(ts(job.created_at))
    .bind(serde_json::to_string(webhook_ids)?)
    .execute(pool)
    .await?;
    Ok(())
}

/// One job by ID.
async fn get(pool: &Pool, id: &str) -> Result<Option<JobRow>> {
    let row = sqlx::query("SELECT * FROM jobs WHERE id = $1").bind(id).fetch_optional(pool).await?;
    row.as_ref().map(row_to_job).transpose()
}

/// Up to `limit` jobs with `seq < before` (all when `None`), newest first.
async fn list(pool: &Pool, status: Option<JobStatus>, before: Option<i64>, limit: u32) -> Result<Vec<JobRow>> {
    let rows = sqlx::query(
        "SELECT * FROM jobs WHERE ($1 IS NULL OR status = $1) AND ($2 IS NULL OR seq < $2)
         ORDER BY seq DESC LIMIT $3",
    )
    .bind(status.map(|s| s.as_str()))
    .bind(before)
    .bind(limit as i64)
    .fetch_all(pool)
    .await?;
    rows.iter().map(row_to_job).collect()
}

/// Atomically moves the first queued job to `probing`, leased to `me` for
/// `lease_ms`, and returns it. On PostgreSQL the pick takes the row with
/// `FOR UPDATE SKIP LOCKED`, so concurrent claims from several nodes each get
/// a different job instead of queueing on one row (PostgreSQL 15 manual,
/// SELECT, "The Locking Clause"); SQLite's single writer makes the plain
/// sub-select atomic already.
async fn claim(pool: &Pool, me: &str, lease_ms: i64) -> Result<Option<JobRow>> {
    let started = now();
    let progress = Progress { phase: JobStatus::Probing, ..Progress::queued() };
    let q = match backend(pool) {
        Backend::Sqlite => {
            "UPDATE jobs SET status = 'probing', started_at = $1, completed_at = NULL, progress_json = $2,
                             node = $3, lease_until_ms = $4
             WHERE id = (SELECT id FROM jobs WHERE status = 'queued' ORDER BY COALESCE(queue_order, seq), seq LIMIT 1)
               AND status = 'queued'
             RETURNING *"
        }
        Backend::Postgres => {
            "UPDATE jobs SET status = 'probing', started_at = $1, completed_at = NULL, progress_json = $2,
                             node = $3, lease_until_ms = $4
             WHERE id = (SELECT id FROM jobs WHERE status = 'queued' ORDER BY COALESCE(queue_order, seq), seq LIMIT 1
                         FOR UPDATE SKIP LOCKED)
               AND status = 'queued'
             RETURNING *"
        }
    };
    let row = sqlx::query(q)
        .bind(ts(started))
        .bind(serde_json::to_string(&progress)?)
        .bind(me)
        .bind(now_ms() + lease_ms)
        .fetch_optional(pool)
        .await?;
    row.as_ref().map(row_to_job).transpose()
}

pub(crate) use crate::store::now_ms;

/// Renews the lease of `me`'s running jobs.
async fn renew_leases(pool: &Pool, me: &str, lease_ms: i64) -> Result<u64> {
    let q = concat!("UPDATE jobs SET lease_until_ms = $1 WHERE node = $2 AND status IN ", running!());
    Ok(sqlx::query(q).bind(now_ms() + lease_ms).bind(me).execute(pool).await?.rows_affected())
}

/// Sets a running job's status and progress; false when the job is no longer running
/// (canceled meanwhile).
async fn set_running_state(pool: &Pool, run: Run<'_>, status: JobStatus, progress: &Progress) -> Result<bool> {
    let q = concat!(
        "UPDATE jobs SET status = $1, progress_json = $2 WHERE id = $3 AND node = $4 AND attempt = $5 AND status IN ",
        running!()
    );
    let r = sqlx::query(q)
        .bind(status.as_str())
        .bind(serde_json::to_string(progress)?)
        .bind(run.id)
        .bind(run.node)
        .bind(i64::from(run.attempt))
        .execute(pool)
        .await?;
    Ok(r.rows_affected() == 1)
}

/// Writes a terminal state for a running job; false when it was no longer running.
async fn finish(pool: &Pool, run: Run<'_>, f: &Finish<'_>) -> Result<bool> {
    let q = concat!(
        "UPDATE jobs SET status = $1, status_reason = $2, error = $3, progress_json = $4, source_json = $5,
                         output_json = $6, effective_profile_id = $7, final_artifact = $8, saved_percent = $9,
                         completed_at = $10, output_expires_unix = $11, lease_until_ms = NULL
         WHERE id = $12 AND node = $13 AND attempt = $14 AND status IN ",
        running!()
    );
    let r = sqlx::query(q)
        .bind(f.status.as_str())
        .bind(f.status_reason)
        .bind(f.error)
        .bind(serde_json::to_string(f.progress)?)
        .bind(serde_json::to_string(f.source)?)
        .bind(serde_json::to_string(f.output)?)
        .bind(f.effective_profile_id)
        .bind(f.final_artifact)
        .bind(f.saved_percent)
        .bind(ts(now()))
        .bind(f.output.retention_expires_at.map(|t| t.unix_timestamp()))
        .bind(run.id)
        .bind(run.node)
        .bind(i64::from(run.attempt))
        .execute(pool)
        .await?;
    Ok(r.rows_affected() == 1)
}

/// Puts a running job back in the queue (graceful shutdown), same attempt.
async fn requeue_running(pool: &Pool, run: Run<'_>, reason: &str) -> Result<bool> {
    let q = concat!(
        "UPDATE jobs SET status = 'queued', status_reason = $1, started_at = NULL, progress_json = $2,
                         lease_until_ms = NULL
         WHERE id = $3 AND node = $4 AND attempt = $5 AND status IN ",
        running!()
    );
    let r = sqlx::query(q)
        .bind(reason)
        .bind(serde_json::to_string(&Progress::queued())?)
        .bind(run.id)
        .bind(run.node)
        .bind(i64::from(run.attempt))
        .execute(pool)
        .await?;
    Ok(r.rows_affected() == 1)
}

/// Cancels a job that is not terminal; false when it already was.
async fn cancel(pool: &Pool, id: &str, only_queued: bool, output: &OutputInfo) -> Result<bool> {
    let q = if only_queued {
        "UPDATE jobs SET status = 'canceled', status_reason = 'canceled by request', completed_at = $1, output_json = $2
         WHERE id = $3 AND status = 'queued'"
    } else {
        concat!(
            "UPDATE jobs SET status = 'canceled', status_reason = 'canceled by request', completed_at = $1,
                             output_json = $2
             WHERE id = $3 AND status NOT IN ",
            terminal!()
        )
    };
    let r = sqlx::query(q).bind(ts(now())).bind(serde_json::to_string(output)?).bind(id).execute(pool).await?;
    Ok(r.rows_affected() == 1)
}

/// Requeues a failed job with attempts left (attempt + 1); the job as
/// requeued, or `None` when it was not failed or had no attempts left.
async fn retry(pool: &Pool, id: &str, output: &OutputInfo) -> Result<Option<Job>> {
    let row = sqlx::query(
        "UPDATE jobs SET status = 'queued', attempt = attempt + 1, status_reason = 'retry requested', error = NULL,
                         started_at = NULL, completed_at = NULL, progress_json = $1, output_json = $2,
                         effective_profile_id = NULL, final_artifact = NULL, saved_percent = NULL
         WHERE id = $3 AND status = 'failed' AND attempt < max_attempts
         RETURNING *",
    )
    .bind(serde_json::to_string(&Progress::queued())?)
    .bind(serde_json::to_string(output)?)
    .bind(id)
    .fetch_optional(pool)
    .await?;
    Ok(row.as_ref().map(row_to_job).transpose()?.map(|r| r.job))
}

/// Which running jobs [`requeue_interrupted`] takes.
enum Interrupted<'a> {
    /// At start: `me`'s (its previous process is gone), rows without a node
    /// or lease (from before leases), and any whose lease ran out.
    AtStart { me: &'a str },
    /// Any node's, once its lease ran out.
    LeaseExpired,
}

/// Jobs whose run was interrupted are requeued with attempt + 1 while
/// attempts remain, else failed. Returns (requeued, failed).
async fn requeue_interrupted(pool: &Pool, which: Interrupted<'_>) -> Result<(u64, u64)> {
    let me = match which {
        Interrupted::AtStart { me } => Some(me),
        Interrupted::LeaseExpired => None,
    };
    let mut tx = begin_immediate(pool).await?;
    let q = concat!(
        "UPDATE jobs SET status = 'queued', attempt = attempt + 1, lease_until_ms = NULL,
                         status_reason = 'requeued after an interrupted run', started_at = NULL, progress_json = $1
         WHERE status IN ",
        running!(),
        " AND attempt < max_attempts
           AND (lease_until_ms < $2 OR ($3 IS NOT NULL AND (node IS NULL OR lease_until_ms IS NULL OR node = $3)))"
    );
    let requeued = sqlx::query(q)
        .bind(serde_json::to_string(&Progress::queued())?)
        .bind(now_ms())
        .bind(me)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    let q = concat!(
        "UPDATE jobs SET status = 'failed', status_reason = 'interrupted too many times', lease_until_ms = NULL,
                         error = 'the service stopped during every attempt of this job', completed_at = $1
         WHERE status IN ",
        running!(),
        " AND (lease_until_ms < $2 OR ($3 IS NOT NULL AND (node IS NULL OR lease_until_ms IS NULL OR node = $3)))"
    );
    let failed = sqlx::query(q).bind(ts(now())).bind(now_ms()).bind(me).execute(&mut *tx).await?.rows_affected();
    tx.commit().await?;
    Ok((requeued, failed))
}

/// Deletes a terminal job; false when it was not terminal (any more).
async fn delete_finished(pool: &Pool, id: &str) -> Result<bool> {
    let q = concat!("DELETE FROM jobs WHERE id = $1 AND status IN ", terminal!());
    Ok(sqlx::query(q).bind(id).execute(pool).await?.rows_affected() == 1)
}

/// Moves a queued job in the run order, in one transaction.
///
/// Errors: [`ServiceError::NotFound`]; [`ServiceError::InvalidTransition`]
/// when the job (or the `Before` job) is not queued; a validation error for
/// a job placed before itself.
async fn move_in_queue(pool: &Pool, id: &str, place: QueuePlace<'_>) -> Result<()> {
    let mut tx = begin_immediate(pool).await?;
    let row: Option<(String, f64)> =
        sqlx::query_as("SELECT status, CAST(COALESCE(queue_order, seq) AS DOUBLE PRECISION) FROM jobs WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
    let (status, _) = row.ok_or_else(|| ServiceError::NotFound { kind: "job", id: id.to_string() })?;
    if status != JobStatus::Queued.as_str() {
        return Err(ServiceError::InvalidTransition(format!("job {id} is {status}; only queued jobs can be moved")));
    }
    let q =
        "SELECT CAST(MIN(COALESCE(queue_order, seq)) AS DOUBLE PRECISION), CAST(MAX(COALESCE(queue_order, seq)) AS DOUBLE PRECISION) FROM jobs
             WHERE status = 'queued' AND id <> $1";
    let (min, max): (Option<f64>, Option<f64>) = sqlx::query_as(q).bind(id).fetch_one(&mut *tx).await?;
    let new_order = match place {
        QueuePlace::Top => min.map_or(0.0, |m| m - 1.0),
        QueuePlace::Bottom => max.map_or(0.0, |m| m + 1.0),
        QueuePlace::Before(other) => {
            if other == id {
                return Err(ServiceError::validation("before", "a job cannot move before itself"));
            }
            let target: Option<(String, f64)> = sqlx::query_as(
                "SELECT status, CAST(COALESCE(queue_order, seq) AS DOUBLE PRECISION) FROM jobs WHERE id = $1",
            )
            .bind(other)
            .fetch_optional(&mut *tx)
            .await?;
            let (other_status, other_order) =
                target.ok_or_else(|| ServiceError::NotFound { kind: "job", id: other.to_string() })?;
            if other_status != JobStatus::Queued.as_str() {
                return Err(ServiceError::InvalidTransition(format!(
                    "job {other} is {other_status}; jobs can only be placed before queued jobs"
                )));
            }
            let prev: Option<f64> = sqlx::query_scalar(
                "SELECT CAST(MAX(COALESCE(queue_order, seq)) AS DOUBLE PRECISION) FROM jobs
                 WHERE status = 'queued' AND id <> $1 AND COALESCE(queue_order, seq) < $2",
            )
            .bind(id)
            .bind(other_order)
            .fetch_one(&mut *tx)
            .await?;
            match prev {
                Some(p) => (p + other_order) / 2.0,
                None => other_order - 1.0,
            }
        }
    };
    sqlx::query("UPDATE jobs SET queue_order = $1 WHERE id = $2 AND status = 'queued'")
        .bind(new_order)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// IDs of the queued jobs in the order workers take them.
async fn queue_order(pool: &Pool) -> Result<Vec<String>> {
    Ok(sqlx::query_scalar("SELECT id FROM jobs WHERE status = 'queued' ORDER BY COALESCE(queue_order, seq), seq")
        .fetch_all(pool)
        .await?)
}

/// Jobs whose output retention ran out by `now_unix`, with their output.
async fn expiring(pool: &Pool, now_unix: i64) -> Result<Vec<(String, OutputInfo)>> {
    let rows = sqlx::query(
        "SELECT id, output_json FROM jobs WHERE output_expires_unix IS NOT NULL AND output_expires_unix <= $1",
    )
    .bind(now_unix)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|row| Ok((row.try_get("id")?, serde_json::from_str(&row.try_get::<String, _>("output_json")?)?)))
        .collect()
}

/// Replaces a job's output and stops its retention clock: an expired output,
/// or one a watch rule moved to the user's folder.
async fn set_output(pool: &Pool, id: &str, output: &OutputInfo) -> Result<()> {
    sqlx::query("UPDATE jobs SET output_json = $1, output_expires_unix = NULL WHERE id = $2")
        .bind(serde_json::to_string(output)?)
        .bind(id)
        .execute(pool)
        .await?;
    Ok(())
}

/// One run of a job: what the worker's writes are fenced by.
#[derive(Clone, Copy)]
struct Run<'a> {
    id: &'a str,
    node: &'a str,
    attempt: u32,
}

/// The `jobs` table in the service's database, as node `node` sees it.
pub(crate) struct SqlJobStore {
    pool: Pool,
    node: String,
    lease_ms: i64,
}

impl SqlJobStore {
    /// The store over `pool` (migrations already run) for node `node`,
    /// whose claims hold for `lease` unless renewed.
    pub(crate) fn new(pool: Pool, node: &str, lease: std::time::Duration) -> SqlJobStore {
        SqlJobStore { pool, node: node.to_string(), lease_ms: lease.as_millis() as i64 }
    }

    fn run<'a>(&'a self, id: &'a str, attempt: u32) -> Run<'a> {
        Run { id, node: &self.node, attempt }
    }
}

impl JobStore for SqlJobStore {
    fn insert<'a>(
        &'a self,
        job: &'a Job,
        output_request: &'a OutputSpec,
        webhook_ids: &'a [String],
    ) -> StoreFuture<'a, ()> {
        Box::pin(insert(&self.pool, job, output_request, webhook_ids))
    }
    fn get<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<JobRow>> {
        Box::pin(get(&self.pool, id))
    }
    fn list(&self, status: Option<JobStatus>, before: Option<i64>, limit: u32) -> StoreFuture<'_, Vec<JobRow>> {
        Box::pin(list(&self.pool, status, before, limit))
    }
    fn claim(&self) -> StoreFuture<'_, Option<JobRow>> {
        Box::pin(claim(&self.pool, &self.node, self.lease_ms))
    }
    fn set_running_state<'a>(
        &'a self,
        id: &'a str,
        attempt: u32,
        status: JobStatus,
        progress: &'a Progress,
    ) -> StoreFuture<'a, bool> {
        Box::pin(set_running_state(&self.pool, self.run(id, attempt), status, progress))
    }
    fn finish<'a>(&'a self, id: &'a str, f: &'a Finish<'a>) -> StoreFuture<'a, bool> {
        Box::pin(finish(&self.pool, self.run(id, f.attempt), f))
    }
    fn requeue_running<'a>(&'a self, id: &'a str, attempt: u32, reason: &'a str) -> StoreFuture<'a, bool> {
        Box::pin(requeue_running(&self.pool, self.run(id, attempt), reason))
    }
    fn renew_leases(&self) -> StoreFuture<'_, u64> {
        Box::pin(renew_leases(&self.pool, &self.node, self.lease_ms))
    }
    fn reap_expired(&self) -> StoreFuture<'_, (u64, u64)> {
        Box::pin(requeue_interrupted(&self.pool, Interrupted::LeaseExpired))
    }
    fn cancel<'a>(&'a self, id: &'a str, only_queued: bool, output: &'a OutputInfo) -> StoreFuture<'a, bool> {
        Box::pin(cancel(&self.pool, id, only_queued, output))
    }
    fn retry<'a>(&'a self, id: &'a str, output: &'a OutputInfo) -> StoreFuture<'a, Option<Job>> {
        Box::pin(retry(&self.pool, id, output))
    }
    fn recover(&self) -> StoreFuture<'_, (u64, u64)> {
        Box::pin(requeue_interrupted(&self.pool, Interrupted::AtStart { me: &self.node }))
    }
    fn delete_finished<'a>(&'a self, id: &'a str) -> StoreFuture<'a, bool> {
        Box::pin(delete_finished(&self.pool, id))
    }
    fn move_in_queue<'a>(&'a self, id: &'a str, place: QueuePlace<'a>) -> StoreFuture<'a, ()> {
        Box::pin(move_in_queue(&self.pool, id, place))
    }
    fn queue_order(&self) -> StoreFuture<'_, Vec<String>> {
        Box::pin(queue_order(&self.pool))
    }
    fn expiring(&self, now_unix: i64) -> StoreFuture<'_, Vec<(String, OutputInfo)>> {
        Box::pin(expiring(&self.pool, now_unix))
    }
    fn set_output<'a>(&'a self, id: &'a str, output: &'a OutputInfo) -> StoreFuture<'a, ()> {
        Box::pin(set_output(&self.pool, id, output))
    }
}
