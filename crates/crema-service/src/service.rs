//! The [`Service`] API: submit, get, list, cancel, retry, subscribe, shutdown.

use crate::config::Config;
use crate::error::{Result, ServiceError};
use crate::jobs::store;
use crate::types::{
    Job, JobSpec, JobStatus, OutputInfo, OutputState, Page, Progress, ServiceEvent, SourceInfo, SourceSpec,
};
use base64::Engine as _;
use crema_engine::CancelFlag;
use crema_engine::profile::ProfileSet;
use sqlx::sqlite::SqlitePool;
use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, broadcast, watch};
use tokio::task::JoinHandle;

/// Largest accepted `metadata`, in bytes of its JSON serialization (16 KiB).
pub const MAX_METADATA_BYTES: usize = 16 * 1024;

/// Why a running job's cancel flag was raised.
pub(crate) const INTENT_NONE: u8 = 0;
/// A caller canceled the job.
pub(crate) const INTENT_CANCEL: u8 = 1;
/// The service is shutting down: requeue the job.
pub(crate) const INTENT_SHUTDOWN: u8 = 2;

/// What the service keeps about a job a worker is running.
#[derive(Clone)]
pub(crate) struct RunHandle {
    pub cancel: CancelFlag,
    /// Becomes true once the engine stopped (outputs removed) or returned.
    pub stopped: watch::Receiver<bool>,
    /// One of the `INTENT_*` values.
    pub intent: Arc<AtomicU8>,
}

/// State shared by the service handle and its workers.
pub(crate) struct Inner {
    pub pool: SqlitePool,
    pub config: Config,
    pub output_dir: PathBuf,
    /// Canonical source roots.
    pub source_roots: Vec<PathBuf>,
    pub profiles: Arc<ProfileSet>,
    pub events: broadcast::Sender<ServiceEvent>,
    pub running: Mutex<HashMap<String, RunHandle>>,
    /// Wakes idle workers when work may be available.
    pub wake: Notify,
    /// Wakes the webhook delivery task.
    pub webhook_wake: Notify,
    /// Wakes the watch-folder manager (a rule was added, removed, paused or resumed).
    pub watch_wake: Notify,
    pub draining: AtomicBool,
    /// Free disk space is under `config.disk_min_free_bytes` (set by the maintenance task).
    pub disk_critical: AtomicBool,
    /// HMAC key for download tokens, from `<data_dir>/server.secret`.
    pub download_signer: crate::tokens::DownloadSigner,
    /// Per-upload locks: parts take it shared, complete/delete/expiry exclusively.
    pub uploads: crate::uploads::UploadLocks,
}

impl Inner {
    pub(crate) fn emit(&self, ev: ServiceEvent) {
        // No subscriber is fine.
        let _ = self.events.send(ev);
    }

    pub(crate) async fn emit_state(&self, id: &str) {
        match store::get(&self.pool, id).await {
            Ok(Some(row)) => self.emit(ServiceEvent::JobStateChanged { job: Box::new(row.job) }),
            Ok(None) => {}
            Err(e) => tracing::warn!("job {id}: cannot read back for an event: {e}"),
        }
    }

    pub(crate) fn running_handle(&self, id: &str) -> Option<RunHandle> {
        self.running.lock().unwrap_or_else(|e| e.into_inner()).get(id).cloned()
    }
}

/// The service: a persistent job queue with a worker pool. Cheap to share
/// behind an `Arc`; every method takes `&self`.
pub struct Service {
    pub(crate) inner: Arc<Inner>,
    pub(crate) workers: Mutex<Vec<JoinHandle<()>>>,
}

impl Service {
    /// Opens the store in `config.data_dir` (creating it and running
    /// migrations), recovers jobs a dead process left running, drops its
    /// in-flight idempotency records, loads (or creates) the download-token
    /// secret `server.secret`, loads profiles, recovers uploads (stray temp
    /// files removed, expired sessions cleaned, then a cleanup task every
    /// minute: see `uploads.rs`), starts the purge task of idempotency records
    /// and sessions, the maintenance task (free-space watch, output
    /// retention), the webhook delivery task (after recording attempts a dead
    /// process left under way: their deliveries are sent again),
    /// `config.workers` workers and, unless `config.watch.enabled` is false,
    /// the watch-folder manager (every active rule starts watching; files
    /// whose jobs ended while the service was down are finished first).
    /// Must be called inside a tokio runtime.
    ///
    /// Errors: [`ServiceError::Validation`] for a bad config (`max_attempts` 0,
    /// `webhooks.max_attempts` 0, `webhooks.timeout` zero, `upload_chunk_size_override` 0),
    /// [`ServiceError::Internal`] when the folders, database or profiles cannot be opened,
    /// or `server.secret` has a mode wider than 0600 or a wrong length.
    pub async fn open(config: Config) -> Result<Service> {
        if config.max_attempts == 0 {
            return Err(ServiceError::validation("max_attempts", "must be at least 1"));
        }
        config.webhooks.validate()?;
        crate::uploads::check_config(&config)?;
        let output_dir = config.resolved_output_dir();
        for dir in [&config.data_dir, &output_dir] {
            std::fs::create_dir_all(dir)
                .map_err(|e| ServiceError::Internal(format!("{}: cannot create folder: {e}", dir.display())))?;
        }
        let profile_dir = config.profile_dir.clone();
        let profiles = tokio::task::spawn_blocking(move || ProfileSet::load(profile_dir.as_deref()))
            .await
            .map_err(|e| ServiceError::Internal(format!("loading profiles: {e}")))?
            .map_err(|e| ServiceError::Internal(format!("loading profiles: {e}")))?;
        let source_roots =
            config.source_roots.iter().map(|r| std::fs::canonicalize(r).unwrap_or_else(|_| normalize(r))).collect();
        let pool = crate::store::open(&config.data_dir).await?;
        let download_signer = crate::tokens::load_or_create_secret(&config.data_dir).await?;
        crate::idempotency::clear_in_flight(&pool).await?;
        let (requeued, failed) = store::recover(&pool).await?;
        if requeued + failed > 0 {
            tracing::info!("recovered interrupted jobs: {requeued} requeued, {failed} failed");
        }
        let interrupted = crate::webhooks::recover(&pool, &config.webhooks).await?;
        if interrupted > 0 {
            tracing::info!("recovered {interrupted} interrupted webhook deliveries");
        }
        let (events, _) = broadcast::channel(1024);
        let inner = Arc::new(Inner {
            pool,
            output_dir,
            source_roots,
            profiles: Arc::new(profiles),
            events,
            running: Mutex::new(HashMap::new()),
            wake: Notify::new(),
            webhook_wake: Notify::new(),
            watch_wake: Notify::new(),
            draining: AtomicBool::new(false),
            disk_critical: AtomicBool::new(false),
            download_signer,
            uploads: Default::default(),
            config,
        });
        crate::uploads::start(&inner).await?;
        crate::idempotency::spawn_purger(&inner);
        crate::maintenance::check_disk(&inner);
        tokio::spawn(crate::maintenance::run(Arc::downgrade(&inner)));
        let mut workers: Vec<_> =
            (0..inner.config.workers).map(|n| tokio::spawn(crate::worker::worker_loop(inner.clone(), n))).collect();
        workers.push(crate::webhooks::spawn_delivery(inner.clone()));
        if inner.config.watch.enabled {
            workers.push(tokio::spawn(crate::watch::manager(inner.clone())));
        }
        Ok(Service { inner, workers: Mutex::new(workers) })
    }

    /// The configuration the service runs with.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The loaded profiles (built-ins plus the user folder, if configured).
    pub fn profiles(&self) -> &ProfileSet {
        &self.inner.profiles
    }

    /// Whether [`Service::shutdown`] was called (`/readyz` `draining`).
    pub fn is_draining(&self) -> bool {
        self.inner.draining.load(Ordering::SeqCst)
    }

    /// Validates and queues a job; returns it with status `queued`.
    ///
    /// Errors: [`ServiceError::Validation`] naming the field (unknown
    /// `profile`, `output.target_height` outside 144..=4320, `metadata` not an
    /// object or over 16 KiB, a relative or unreadable `source.path`,
    /// `webhook_ids` naming an unknown or deleted webhook or more than 16);
    /// [`ServiceError::Forbidden`] for a path outside the source roots;
    /// [`ServiceError::Validation`] (field `source.upload_id`) for an unknown upload;
    /// [`ServiceError::SourceInvalid`] / [`ServiceError::SourceUnsupported`] for a
    /// source the probe cannot read as media;
    /// [`ServiceError::UploadIncomplete`] for an upload that is not completed
    /// (or whose file expired); [`ServiceError::CapacityExceeded`] while shutting
    /// down or while the disk is almost full.
    ///
    /// An upload source is hard-linked (or copied) to `<data_dir>/sources/<job id>/<file name>`,
    /// so the job keeps it after the upload session expires; its `sha256`, `bytes`
    /// and probe facts come from the upload record (no second hash).
    pub async fn submit(&self, spec: JobSpec) -> Result<Job> {
        submit_job(&self.inner, spec, false, None).await
    }

    /// [`Service::submit`] for the local user of this machine (the desktop
    /// app): a `path` source may be any file the process can read, with no
    /// source-root check. Never call it on behalf of a network client: the
    /// HTTP transport uses [`Service::submit`], so an API key still reaches
    /// only the configured source roots.
    ///
    /// Errors: those of [`Service::submit`] except the `Forbidden` of the roots.
    pub async fn submit_local(&self, spec: JobSpec) -> Result<Job> {
        submit_job(&self.inner, spec, true, None).await
    }

    /// One job. Errors: [`ServiceError::NotFound`].
    pub async fn get(&self, id: &str) -> Result<Job> {
        store::must_get(&self.inner.pool, id).await
    }

    /// Jobs newest first, optionally only those in `status`. `limit` is
    /// 1..=100 (default 20); `cursor` is a page's `next_cursor`. Pages are
    /// stable under concurrent inserts: the cursor marks a position in
    /// insertion order, so new jobs never shift later pages.
    ///
    /// Errors: [`ServiceError::Validation`] for a bad `limit` or `cursor`.
    pub async fn list(&self, status: Option<JobStatus>, limit: Option<u32>, cursor: Option<&str>) -> Result<Page> {
        let limit = limit.unwrap_or(20);
        if !(1..=100).contains(&limit) {
            return Err(ServiceError::validation("limit", format!("must be 1..100, got {limit}")));
        }
        let before = cursor.map(decode_cursor).transpose()?;
        let mut rows = store::list(&self.inner.pool, status, before, limit + 1).await?;
        let has_more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        let next_cursor = if has_more { rows.last().map(|r| encode_cursor(r.seq)) } else { None };
        Ok(Page { jobs: rows.into_iter().map(|r| r.job).collect(), next_cursor, has_more })
    }

    /// Cancels a job: a queued one at once; a running one by raising its
    /// cancel flag and waiting (up to about 1 s) until the engine stopped and
    /// removed its partial outputs. Returns the job, status `canceled`.
    ///
    /// Errors: [`ServiceError::NotFound`]; [`ServiceError::JobNotCancelable`]
    /// for a terminal job.
    pub async fn cancel(&self, id: &str) -> Result<Job> {
        cancel_job(&self.inner, id).await
    }

    /// Requeues a failed job that has attempts left (`attempt < max_attempts`),
    /// with `attempt + 1`.
    ///
    /// Errors: [`ServiceError::NotFound`]; [`ServiceError::InvalidTransition`]
    /// for any other state or when attempts are used up.
    pub async fn retry(&self, id: &str) -> Result<Job> {
        let pool = &self.inner.pool;
        let job = store::must_get(pool, id).await?;
        let Some(requeued) = store::retry(pool, id, &pending_output_from(&job.output)).await? else {
            let job = store::must_get(pool, id).await?;
            let why = if job.status != JobStatus::Failed {
                format!("job {id} is {}; only failed jobs can be retried", job.status)
            } else {
                format!("job {id} used all its {} attempts", job.max_attempts)
            };
            return Err(ServiceError::InvalidTransition(why));
        };
        self.inner.emit(ServiceEvent::JobStateChanged { job: Box::new(requeued.clone()) });
        self.inner.wake.notify_one();
        Ok(requeued)
    }

    /// A receiver of every job event from now on. A slow receiver that falls
    /// more than 1024 events behind gets `RecvError::Lagged` and continues.
    pub fn subscribe(&self) -> broadcast::Receiver<ServiceEvent> {
        self.inner.events.subscribe()
    }

    /// Graceful stop, then closes the database: [`Service::drain`] followed
    /// by closing the connection pool. Every later call fails with `Internal`.
    pub async fn shutdown(&self, grace: Duration) {
        self.drain(grace).await;
        self.inner.pool.close().await;
    }

    /// Stops taking work but keeps answering: no new jobs are claimed or
    /// accepted (`submit` is `CapacityExceeded`, `/readyz` says `draining`);
    /// running jobs get `grace` to finish, then are canceled and requeued
    /// (same attempt). Returns once the workers stopped (or after a further
    /// 10 s at most). Reads, keys and the rest still work, so a server can
    /// keep serving while it drains; call [`Service::shutdown`] (or drop the
    /// service) at the end.
    pub async fn drain(&self, grace: Duration) {
        self.inner.draining.store(true, Ordering::SeqCst);
        self.inner.wake.notify_waiters();
        self.inner.webhook_wake.notify_one();
        self.inner.watch_wake.notify_waiters();
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline && !self.running_ids().is_empty() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        for id in self.running_ids() {
            if let Some(h) = self.inner.running_handle(&id) {
                let _ = h.intent.compare_exchange(INTENT_NONE, INTENT_SHUTDOWN, Ordering::SeqCst, Ordering::SeqCst);
                h.cancel.cancel();
            }
        }
        let workers: Vec<_> = std::mem::take(&mut *self.workers.lock().unwrap_or_else(|e| e.into_inner()));
        for w in workers {
            if tokio::time::timeout(Duration::from_secs(10), w).await.is_err() {
                tracing::warn!("a worker did not stop within 10 s");
            }
        }
    }

    /// IDs of the jobs being run right now.
    pub fn running_ids(&self) -> Vec<String> {
        self.inner.running.lock().unwrap_or_else(|e| e.into_inner()).keys().cloned().collect()
    }
}

/// Checks a `path` source: absolute, under a source root (also after
/// resolving symlinks), and readable. Returns the canonical path.
fn check_source_path(inner: &Inner, path: &Path) -> Result<PathBuf> {
    if !path.is_absolute() {
        return Err(ServiceError::validation("source.path", format!("{} is not an absolute path", path.display())));
    }
    let outside = || ServiceError::Forbidden(format!("{} is outside the server's source roots", path.display()));
    let roots = &inner.source_roots;
    if !roots.iter().any(|r| normalize(path).starts_with(r)) {
        return Err(outside());
    }
    let canonical = std::fs::canonicalize(path)
        .map_err(|e| ServiceError::validation("source.path", format!("{}: cannot read: {e}", path.display())))?;
    if !roots.iter().any(|r| canonical.starts_with(r)) {
        return Err(outside());
    }
    if !canonical.is_file() {
        return Err(ServiceError::validation("source.path", format!("{} is not a file", path.display())));
    }
    Ok(canonical)
}

/// A source path vetted elsewhere (a watch-folder rule's folder): it must
/// still be absolute and a readable file. Returns the canonical path.
fn trusted_source_path(path: &Path) -> Result<PathBuf> {
    if !path.is_absolute() {
        return Err(ServiceError::validation("source.path", format!("{} is not an absolute path", path.display())));
    }
    let canonical = std::fs::canonicalize(path)
        .map_err(|e| ServiceError::validation("source.path", format!("{}: cannot read: {e}", path.display())))?;
    if !canonical.is_file() {
        return Err(ServiceError::validation("source.path", format!("{} is not a file", path.display())));
    }
    Ok(canonical)
}

/// [`Service::cancel`] for callers inside the crate (the watch folders cancel
/// the jobs of a removed rule).
pub(crate) async fn cancel_job(inner: &Inner, id: &str) -> Result<Job> {
    let pool = &inner.pool;
    let job = store::must_get(pool, id).await?;
    if job.status.is_terminal() {
        return Err(ServiceError::JobNotCancelable(format!(
            "job {id} is {}; only queued or running jobs can be canceled",
            job.status
        )));
    }
    let none = ended_output(&job.output);
    if job.status == JobStatus::Queued && store::cancel(pool, id, true, &none).await? {
        inner.emit_state(id).await;
        return store::must_get(pool, id).await;
    }
    // Running (or claimed since we looked).
    let handle = inner.running_handle(id);
    if let Some(h) = &handle {
        h.intent.store(INTENT_CANCEL, Ordering::SeqCst);
        h.cancel.cancel();
    }
    if !store::cancel(pool, id, false, &none).await? {
        let job = store::must_get(pool, id).await?;
        return if job.status == JobStatus::Canceled {
            Ok(job)
        } else {
            Err(ServiceError::JobNotCancelable(format!("job {id} is {}; it can no longer be canceled", job.status)))
        };
    }
    if let Some(mut h) = handle {
        let _ = tokio::time::timeout(Duration::from_millis(900), h.stopped.wait_for(|stopped| *stopped)).await;
    }
    inner.emit_state(id).await;
    store::must_get(pool, id).await
}

/// [`Service::submit`] for every caller inside the crate. `trusted`: the
/// source path was vetted elsewhere (a watch-folder rule's folder is validated
/// when the rule is created), so the source-root check is skipped; the path
/// must still be an absolute, readable file. `id`: use this job ID (the watch
/// folders record it before the job exists).
pub(crate) async fn submit_job(inner: &Inner, spec: JobSpec, trusted: bool, id: Option<String>) -> Result<Job> {
    if inner.draining.load(Ordering::SeqCst) {
        return Err(ServiceError::CapacityExceeded("the service is shutting down and takes no new jobs".into()));
    }
    if inner.disk_critical.load(Ordering::SeqCst) {
        return Err(ServiceError::CapacityExceeded(
            "the server's disk is almost full; it takes no new jobs until space is freed".into(),
        ));
    }
    let metadata = validate_metadata(spec.metadata.clone())?;
    if inner.profiles.get(&spec.profile).is_err() {
        let known: Vec<&str> = inner.profiles.iter().map(|p| p.id.as_str()).collect();
        return Err(ServiceError::validation(
            "profile",
            format!("unknown profile {:?}; known profiles: {}", spec.profile, known.join(", ")),
        ));
    }
    validate_output(&spec.output)?;
    if let Some(dir) = &spec.output.dir {
        if !trusted {
            return Err(ServiceError::Forbidden(
                "output.dir is for the desktop app's local jobs; network clients download their outputs".into(),
            ));
        }
        if !dir.is_absolute() {
            return Err(ServiceError::validation("output.dir", format!("{} is not an absolute path", dir.display())));
        }
    }
    let webhook_ids = crate::webhooks::check_job_webhooks(&inner.pool, &spec.webhook_ids).await?;
    let id = id.unwrap_or_else(|| new_id("job"));
    let source = match &spec.source {
        SourceSpec::Path { path } => {
            let path = if trusted { trusted_source_path(path)? } else { check_source_path(inner, path)? };
            tokio::task::spawn_blocking(move || describe_source(&path))
                .await
                .map_err(|e| ServiceError::Internal(format!("reading the source: {e}")))??
        }
        // An unknown upload is a bad field of this request, not a missing
        // object of this route (contract: 400/422 here, never 404).
        SourceSpec::Upload { upload_id } => match crate::uploads::job_source(inner, upload_id, &id).await {
            Err(ServiceError::NotFound { kind: "upload", .. }) => {
                return Err(ServiceError::validation("source.upload_id", format!("upload {upload_id} does not exist")));
            }
            other => other?,
        },
    };
    if let Err(e) = check_pictures(inner, &spec, &source).await {
        if matches!(spec.source, SourceSpec::Upload { .. }) {
            crate::uploads::remove_job_source(inner, &id).await;
        }
        return Err(e);
    }
    let job = Job {
        id,
        status: JobStatus::Queued,
        status_reason: None,
        attempt: 1,
        max_attempts: inner.config.max_attempts,
        retryable: false,
        profile: spec.profile.clone(),
        effective_profile_id: None,
        source,
        progress: Progress::queued(),
        output: pending_output(&spec.output),
        metadata,
        created_at: crate::store::now(),
        started_at: None,
        completed_at: None,
        error: None,
        final_artifact: None,
        saved_percent: None,
    };
    if let Err(e) = store::insert(&inner.pool, &job, &spec.output, &webhook_ids).await {
        crate::uploads::remove_job_source(inner, &job.id).await;
        return Err(e);
    }
    inner.wake.notify_one();
    inner.emit(ServiceEvent::JobCreated { job: Box::new(job.clone()) });
    Ok(job)
}

/// `prefix_` + 128 random bits in lower-case hex.
pub(crate) fn new_id(prefix: &str) -> String {
    let mut bytes = [0u8; 16];
    if getrandom::fill(&mut bytes).is_err() {
        // No OS randomness is a broken machine; still never reuse an ID.
        let nanos = time::OffsetDateTime::now_utc().unix_timestamp_nanos();
        bytes = nanos.to_le_bytes();
    }
    format!("{prefix}_{}", hex::encode(bytes))
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

/// Lexical normalization: drops `.`, resolves `..` against earlier parts.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

fn validate_metadata(metadata: Option<serde_json::Value>) -> Result<serde_json::Value> {
    let value = match metadata {
        None | Some(serde_json::Value::Null) => return Ok(serde_json::json!({})),
        Some(v @ serde_json::Value::Object(_)) => v,
        Some(_) => return Err(ServiceError::validation("metadata", "must be a JSON object")),
    };
    let size = serde_json::to_vec(&value)?.len();
    if size > MAX_METADATA_BYTES {
        return Err(ServiceError::validation(
            "metadata",
            format!("is {size} bytes serialized; at most {MAX_METADATA_BYTES} (16 KiB) are allowed"),
        ));
    }
    Ok(value)
}

pub(crate) fn validate_output(output: &crate::types::OutputSpec) -> Result<()> {
    // The engine's one rule set (heights, rung cap, segment length), shared with the CLI.
    let hls = output
        .hls
        .as_ref()
        .map(|h| crema_engine::request::HlsShape { renditions: &h.renditions, segment_seconds: h.segment_seconds });
    crema_engine::request::check_output(output.target_height, hls)
        .map_err(|e| ServiceError::validation(e.field.api_name(), e.message))?;
    if let Some(hls) = &output.hls
        && let Some(k) = hls.keep_mp4
        && !hls.renditions.contains(&k)
    {
        return Err(ServiceError::validation("output.hls.keep_mp4", format!("{k} is not one of the renditions")));
    }
    crate::waveform::validate(output.waveform.as_ref())
}

/// Refuses at submission a source whose pictures no encoder of this job
/// may take (issue 9): larger than the configured source limit, or an
/// output beyond level 6.2 of its codec (ITU-T H.264 Table A-1, H.265
/// Table A.8), with `source_unsupported` (422); the encode would refuse it
/// before decoding anyway. A source the header probe cannot read passes
/// here (the submission's own probe already judged it).
async fn check_pictures(inner: &Inner, spec: &JobSpec, source: &SourceInfo) -> Result<()> {
    let Some(path) = source.path.clone().map(PathBuf::from) else { return Ok(()) };
    let file_codec = match &spec.output.hls {
        None => Some(
            inner.profiles.get(&spec.profile).map(|p| p.codec).map_err(|e| ServiceError::Internal(e.to_string()))?,
        ),
        Some(_) => None,
    };
    let hls = spec.output.hls.as_ref().map(|h| {
        let codec = match h.codec {
            crate::types::HlsCodec::H264 => crema_engine::profile::VideoCodec::H264,
            crate::types::HlsCodec::Hevc => crema_engine::profile::VideoCodec::Hevc,
        };
        (codec, h.renditions.clone())
    });
    let target_height = spec.output.target_height;
    tokio::task::spawn_blocking(move || {
        let Ok(info) = crema_engine::probe::probe_facts(&path, &crema_engine::CancelFlag::new()) else { return Ok(()) };
        crema_engine::limits::check_probed(
            &path,
            &info,
            file_codec,
            target_height,
            hls.as_ref().map(|(c, r)| (*c, r.as_slice())),
        )
        .map_err(|e| crate::error::source_error(&e, &path).unwrap_or_else(|| ServiceError::Internal(e.to_string())))
    })
    .await
    .map_err(|e| ServiceError::Internal(format!("checking the source: {e}")))?
}

/// The `source` object at submission, from the probe (which also hashes the
/// file). Errors: [`ServiceError::SourceInvalid`] / [`ServiceError::SourceUnsupported`]
/// when the probe cannot read the file as media (empty, truncated, not
/// media): refused now rather than failed later (issue 9); `Internal` for
/// any other probe failure.
fn describe_source(path: &Path) -> Result<SourceInfo> {
    match crema_engine::probe::probe(path) {
        Ok(info) => Ok(source_from_probe(path, &info)),
        Err(e) => Err(crate::error::source_error(&e, path)
            .unwrap_or_else(|| ServiceError::Internal(format!("{}: probe failed: {e}", path.display())))),
    }
}

pub(crate) fn source_from_probe(path: &Path, info: &crema_engine::probe::MediaInfo) -> SourceInfo {
    SourceInfo {
        kind: "path".into(),
        upload_id: None,
        path: Some(path.display().to_string()),
        name: info.name.clone(),
        bytes: info.bytes,
        sha256: info.sha256.clone(),
        duration_seconds: Some(info.duration_seconds),
        resolution: info.resolution.clone(),
        frame_rate: info.frame_rate.clone(),
        codec: info.video.as_ref().map(|v| v.codec.clone()),
        bit_depth: info.video.as_ref().map(|v| v.bit_depth),
        hdr: info.video.as_ref().and_then(|v| v.hdr.clone()),
        audio_tracks: Some(info.audio.len() as u32),
    }
}

fn pending_output(spec: &crate::types::OutputSpec) -> OutputInfo {
    let container = if spec.hls.is_some() {
        "hls"
    } else {
        match spec.container {
            crate::types::ContainerSpec::Mp4 => "mp4",
            crate::types::ContainerSpec::Mkv => "mkv",
        }
    };
    OutputInfo {
        state: OutputState::Pending,
        expired: false,
        container: container.into(),
        audio: false,
        target_height: spec.target_height,
        width: None,
        height: None,
        bytes: None,
        sha256: None,
        retention_expires_at: None,
        path: None,
        hls: None,
        warnings: Vec::new(),
        waveform: None,
    }
}

/// The output of a job about to run again: pending, nothing written.
fn pending_output_from(o: &OutputInfo) -> OutputInfo {
    let spec = crate::types::OutputSpec { target_height: o.target_height, ..Default::default() };
    OutputInfo { container: o.container.clone(), ..pending_output(&spec) }
}

/// The output of a job that ended without one (`pending` is the contract's
/// only other state: the job's status says it will not come).
pub(crate) fn ended_output(o: &OutputInfo) -> OutputInfo {
    pending_output_from(o)
}
