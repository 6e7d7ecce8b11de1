//! The SQLite store (sqlx): connection setup, migrations and every query on `jobs`.

use crate::error::{Result, ServiceError};
use crate::types::{Job, JobStatus, OutputInfo, Progress, SourceInfo};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{Row, Sqlite, Transaction};
use std::path::Path;
use std::time::Duration;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

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

/// Opens (creating if needed) `crema.db` in `data_dir`: WAL journal, foreign
/// keys on, 5 s busy timeout, then runs the migrations.
pub(crate) async fn open(data_dir: &Path) -> Result<SqlitePool> {
    let opts = SqliteConnectOptions::new()
        .filename(data_dir.join("crema.db"))
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(5));
    let pool = SqlitePoolOptions::new().max_connections(4).connect_with(opts).await?;
    sqlx::migrate!("./migrations").run(&pool).await?;
    Ok(pool)
}

/// Starts a transaction that takes SQLite's write lock at once (`BEGIN
/// IMMEDIATE`). Every transaction in this crate starts this way. A deferred
/// `BEGIN` that reads and then writes fails at once with
/// `SQLITE_BUSY_SNAPSHOT` (517, "database is locked") when another connection
/// committed between the read and the write: its snapshot is stale, and the
/// busy timeout does not cover that case (SQLite, "Result and Error Codes",
/// `SQLITE_BUSY_SNAPSHOT`; "Isolation In SQLite"). `IMMEDIATE` waits for the
/// lock under the 5 s busy timeout instead, then reads a current snapshot.
///
/// Errors: the database's own (`?` makes them [`ServiceError::Internal`]) when
/// the lock is not had within the busy timeout or the database fails.
pub(crate) async fn begin_immediate(pool: &SqlitePool) -> Result<Transaction<'static, Sqlite>, sqlx::Error> {
    pool.begin_with("BEGIN IMMEDIATE").await
}

/// Now, UTC, truncated to milliseconds.
pub(crate) fn now() -> OffsetDateTime {
    let t = OffsetDateTime::now_utc();
    t.replace_millisecond(t.millisecond()).unwrap_or(t)
}

/// RFC 3339 text of a timestamp.
pub(crate) fn ts(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

fn parse_ts(s: Option<String>) -> Result<Option<OffsetDateTime>> {
    s.map(|s| OffsetDateTime::parse(&s, &Rfc3339).map_err(|e| ServiceError::Internal(format!("stored time {s}: {e}"))))
        .transpose()
}

/// A job row as stored, with the parts the worker needs that the response does not show.
pub(crate) struct JobRow {
    pub job: Job,
    pub seq: i64,
    pub output_request: crate::types::OutputSpec,
}

pub(crate) fn row_to_job(row: &SqliteRow) -> Result<JobRow> {
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
pub(crate) async fn insert(
    pool: &SqlitePool,
    job: &Job,
    output_request: &crate::types::OutputSpec,
    webhook_ids: &[String],
) -> Result<()> {
    sqlx::query(
        "INSERT INTO jobs (id, status, status_reason, attempt, max_attempts, profile, source_json,
                           output_request_json, progress_json, output_json, metadata_json, created_at,
                           webhook_ids_json)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
pub(crate) async fn get(pool: &SqlitePool, id: &str) -> Result<Option<JobRow>> {
    let row = sqlx::query("SELECT * FROM jobs WHERE id = ?").bind(id).fetch_optional(pool).await?;
    row.as_ref().map(row_to_job).transpose()
}

/// Like [`get`], `NotFound` when absent.
pub(crate) async fn must_get(pool: &SqlitePool, id: &str) -> Result<Job> {
    get(pool, id).await?.map(|r| r.job).ok_or_else(|| ServiceError::job_not_found(id))
}

/// Up to `limit` jobs with `seq < before` (all when `None`), newest first.
pub(crate) async fn list(
    pool: &SqlitePool,
    status: Option<JobStatus>,
    before: Option<i64>,
    limit: u32,
) -> Result<Vec<JobRow>> {
    let rows = sqlx::query(
        "SELECT * FROM jobs WHERE (?1 IS NULL OR status = ?1) AND (?2 IS NULL OR seq < ?2)
         ORDER BY seq DESC LIMIT ?3",
    )
    .bind(status.map(|s| s.as_str()))
    .bind(before)
    .bind(limit as i64)
    .fetch_all(pool)
    .await?;
    rows.iter().map(row_to_job).collect()
}

/// Atomically moves the oldest queued job to `probing` and returns it.
pub(crate) async fn claim(pool: &SqlitePool) -> Result<Option<JobRow>> {
    let started = now();
    let progress = Progress { phase: JobStatus::Probing, ..Progress::queued() };
    let row = sqlx::query(
        "UPDATE jobs SET status = 'probing', started_at = ?, completed_at = NULL, progress_json = ?
         WHERE id = (SELECT id FROM jobs WHERE status = 'queued' ORDER BY COALESCE(queue_order, seq), seq LIMIT 1) AND status = 'queued'
         RETURNING *",
    )
    .bind(ts(started))
    .bind(serde_json::to_string(&progress)?)
    .fetch_optional(pool)
    .await?;
    row.as_ref().map(row_to_job).transpose()
}

/// Sets a running job's status and progress; false when the job is no longer running
/// (canceled meanwhile).
pub(crate) async fn set_running_state(
    pool: &SqlitePool,
    id: &str,
    status: JobStatus,
    progress: &Progress,
) -> Result<bool> {
    let q = concat!("UPDATE jobs SET status = ?, progress_json = ? WHERE id = ? AND status IN ", running!());
    let r = sqlx::query(q).bind(status.as_str()).bind(serde_json::to_string(progress)?).bind(id).execute(pool).await?;
    Ok(r.rows_affected() == 1)
}

/// The final state of a run, written only if the job is still running.
pub(crate) struct Finish<'a> {
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

/// Writes a terminal state for a running job; false when it was no longer running.
pub(crate) async fn finish(pool: &SqlitePool, id: &str, f: &Finish<'_>) -> Result<bool> {
    let q = concat!(
        "UPDATE jobs SET status = ?, status_reason = ?, error = ?, progress_json = ?, source_json = ?,
                         output_json = ?, effective_profile_id = ?, final_artifact = ?, saved_percent = ?,
                         completed_at = ?, output_expires_unix = ?
         WHERE id = ? AND status IN ",
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
        .bind(id)
        .execute(pool)
        .await?;
    Ok(r.rows_affected() == 1)
}

/// Puts a running job back in the queue (graceful shutdown), same attempt.
pub(crate) async fn requeue_running(pool: &SqlitePool, id: &str, reason: &str) -> Result<bool> {
    let q = concat!(
        "UPDATE jobs SET status = 'queued', status_reason = ?, started_at = NULL, progress_json = ?
         WHERE id = ? AND status IN ",
        running!()
    );
    let r =
        sqlx::query(q).bind(reason).bind(serde_json::to_string(&Progress::queued())?).bind(id).execute(pool).await?;
    Ok(r.rows_affected() == 1)
}

/// Cancels a job that is not terminal; false when it already was.
pub(crate) async fn cancel(pool: &SqlitePool, id: &str, only_queued: bool, output: &OutputInfo) -> Result<bool> {
    let q = if only_queued {
        "UPDATE jobs SET status = 'canceled', status_reason = 'canceled by request', completed_at = ?, output_json = ?
         WHERE id = ? AND status = 'queued'"
    } else {
        concat!(
            "UPDATE jobs SET status = 'canceled', status_reason = 'canceled by request', completed_at = ?,
                             output_json = ?
             WHERE id = ? AND status NOT IN ",
            terminal!()
        )
    };
    let r = sqlx::query(q).bind(ts(now())).bind(serde_json::to_string(output)?).bind(id).execute(pool).await?;
    Ok(r.rows_affected() == 1)
}

/// Requeues a failed job with attempts left (attempt + 1); the job as
/// requeued, or `None` when it was not failed or had no attempts left.
pub(crate) async fn retry(pool: &SqlitePool, id: &str, output: &OutputInfo) -> Result<Option<Job>> {
    let row = sqlx::query(
        "UPDATE jobs SET status = 'queued', attempt = attempt + 1, status_reason = 'retry requested', error = NULL,
                         started_at = NULL, completed_at = NULL, progress_json = ?, output_json = ?,
                         effective_profile_id = NULL, final_artifact = NULL, saved_percent = NULL
         WHERE id = ? AND status = 'failed' AND attempt < max_attempts
         RETURNING *",
    )
    .bind(serde_json::to_string(&Progress::queued())?)
    .bind(serde_json::to_string(output)?)
    .bind(id)
    .fetch_optional(pool)
    .await?;
    Ok(row.as_ref().map(row_to_job).transpose()?.map(|r| r.job))
}

/// Crash recovery: jobs left running by a dead process are requeued with
/// attempt + 1 while attempts remain, else failed. Returns (requeued, failed).
pub(crate) async fn recover(pool: &SqlitePool) -> Result<(u64, u64)> {
    let mut tx = begin_immediate(pool).await?;
    let q = concat!(
        "UPDATE jobs SET status = 'queued', attempt = attempt + 1,
                         status_reason = 'requeued after an interrupted run', started_at = NULL, progress_json = ?
         WHERE status IN ",
        running!(),
        " AND attempt < max_attempts"
    );
    let requeued =
        sqlx::query(q).bind(serde_json::to_string(&Progress::queued())?).execute(&mut *tx).await?.rows_affected();
    let q = concat!(
        "UPDATE jobs SET status = 'failed', status_reason = 'interrupted too many times',
                         error = 'the service stopped during every attempt of this job', completed_at = ?
         WHERE status IN ",
        running!()
    );
    let failed = sqlx::query(q).bind(ts(now())).execute(&mut *tx).await?.rows_affected();
    tx.commit().await?;
    Ok((requeued, failed))
}
