//! The [`Service`]: composes the subsystem handles (the queue, uploads,
//! webhooks, keys and sessions, idempotency records, download tokens, watch
//! folders), starts their background tasks, and is the one API every
//! transport calls. It is the only module that knows every subsystem; none of
//! them imports it. The public methods live here and in the files beside it,
//! one per group, and hand each call to its subsystem.

mod access;
mod catalog;
mod files;
mod hls;

pub use hls::{BucketHlsFile, MAX_PLAYLIST_BYTES};
mod watch;

use crate::auth::Auth;
use crate::config::Config;
use crate::error::{Result, ServiceError};
use crate::idempotency::Idempotency;
use crate::jobs::{FfmpegTranscoder, JobStore, Jobs, SqlJobStore, Transcoder};
use crate::maintenance::ReadinessReport;
use crate::origin::Origin;
use crate::shared::{Core, check_disk, normalize};
use crate::tokens::Downloads;
use crate::types::{Job, JobSpec, JobStatus, Page, ServiceEvent};
use crate::uploads::Uploads;
use crate::watch::Watch;
use crate::webhooks::Webhooks;
use crema_engine::profile::ProfileSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, broadcast};
use tokio::task::JoinHandle;

/// How long [`Service::drain`] waits for each worker once its job was told
/// to stop. A canceled encode normally ends within a frame or two (docs/
/// benchmarks.md, `cargo xtask cancel`). It was 10 s until a graceful-stop
/// test on a loaded 2-core machine (debug build) saw its job come back with
/// attempt + 1: consistent with a worker that needed longer than that, though
/// the worker's warning was not captured. Below systemd's default stop
/// timeout (90 s), with room for the grace period.
pub const WORKER_STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// The service: a persistent job queue with a worker pool. Cheap to share
/// behind an `Arc`; every method takes `&self`.
pub struct Service {
    core: Arc<Core>,
    jobs: Jobs,
    uploads: Arc<Uploads>,
    webhooks: Arc<Webhooks>,
    auth: Auth,
    idempotency: Arc<Idempotency>,
    downloads: Downloads,
    watch: Arc<Watch>,
    workers: Mutex<Vec<JoinHandle<()>>>,
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
        Service::open_with(config, Arc::new(FfmpegTranscoder)).await
    }

    /// [`Service::open`] with the workers' encodes run by `transcoder`
    /// instead of the engine's FFmpeg pipeline (for example a stand-in that
    /// lets queue behaviour be tested without encoding).
    ///
    /// Errors: those of [`Service::open`].
    pub async fn open_with(config: Config, transcoder: Arc<dyn Transcoder>) -> Result<Service> {
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
        let pool = crate::store::open(&config.resolved_database()).await?;
        let downloads = crate::tokens::load_or_create_secret(&config.data_dir).await?;
        crate::idempotency::clear_in_flight(&pool, config.resolved_database().is_shared()).await?;
        let store: Arc<dyn JobStore> = Arc::new(SqlJobStore::new(pool.clone(), &config.node_name, config.lease));
        let (requeued, failed) = store.recover().await?;
        if requeued + failed > 0 {
            tracing::info!("recovered interrupted jobs: {requeued} requeued, {failed} failed");
        }
        let shared = config.resolved_database().is_shared();
        if !shared {
            // On a farm the node that takes the webhook duty does this.
            let interrupted = crate::webhooks::recover(&pool, &config.webhooks).await?;
            if interrupted > 0 {
                tracing::info!("recovered {interrupted} interrupted webhook deliveries");
            }
        }
        let encoders = tokio::task::spawn_blocking(found_encoders).await.unwrap_or_default();
        crate::nodes::register(&pool, &config.node_name, config.workers, &encoders).await?;
        let objects = match &config.object_store {
            Some(url) => Some(
                crate::objects::Objects::open(url)
                    .map_err(|e| ServiceError::validation("object_store", e.to_string()))?,
            ),
            None => None,
        };
        let (events, _) = broadcast::channel(1024);
        let core = Arc::new(Core {
            pool,
            objects,
            output_dir,
            source_roots,
            profiles: Arc::new(profiles),
            events,
            draining: AtomicBool::new(false),
            disk_critical: AtomicBool::new(false),
            disk_recovered: Notify::new(),
            config,
        });
        let uploads = Arc::new(Uploads::new(core.clone()));
        crate::uploads::start(&uploads).await?;
        let idempotency = Arc::new(Idempotency::new(core.clone()));
        crate::idempotency::spawn_purger(&idempotency);
        check_disk(&core);
        let jobs = Jobs::new(core.clone(), uploads.clone(), store, transcoder);
        tokio::spawn(crate::maintenance::run(jobs.downgrade()));
        let mut workers = jobs.spawn_workers();
        // Not among the workers a drain waits for: it ends by itself once the
        // service drains or is dropped.
        drop(jobs.spawn_lease_keeper());
        let webhooks = Arc::new(Webhooks::new(core.clone()));
        workers.push(crate::webhooks::spawn_delivery(webhooks.clone()));
        let watch = Arc::new(Watch::new(core.clone(), jobs.for_rules()));
        if core.config.watch.enabled {
            workers.push(tokio::spawn(crate::watch::manager(watch.clone())));
        }
        let auth = Auth::new(core.pool.clone(), core.config.session_ttl);
        Ok(Service { core, jobs, uploads, webhooks, auth, idempotency, downloads, watch, workers: Mutex::new(workers) })
    }

    /// The configuration the service runs with.
    pub fn config(&self) -> &Config {
        &self.core.config
    }

    /// The loaded profiles (built-ins plus the user folder, if configured).
    pub fn profiles(&self) -> &ProfileSet {
        &self.core.profiles
    }

    /// Whether [`Service::shutdown`] was called (`/readyz` `draining`).
    pub fn is_draining(&self) -> bool {
        self.core.is_draining()
    }

    /// Validates and queues a job; returns it with status `queued`.
    ///
    /// `origin` decides what the job may reach: [`Origin::Network`] (the HTTP
    /// transport, on behalf of an API key) reaches only `path` sources under
    /// the configured source roots and may not set `output.dir`;
    /// [`Origin::Local`] (the local user of this machine: the desktop app)
    /// may name any file the process can read and set `output.dir`. Never
    /// pass `Local` on behalf of a network client.
    ///
    /// Errors: [`ServiceError::Validation`] naming the field (unknown
    /// `profile`, `output.target_height` outside 144..=4320, `metadata` not an
    /// object or over 16 KiB, a relative or unreadable `source.path`,
    /// `webhook_ids` naming an unknown or deleted webhook or more than 16);
    /// for [`Origin::Network`], [`ServiceError::Forbidden`] for a path outside
    /// the source roots or an `output.dir`;
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
    pub async fn submit(&self, spec: JobSpec, origin: Origin) -> Result<Job> {
        self.jobs.submit_as(spec, &origin, None).await
    }

    /// One job. Errors: [`ServiceError::NotFound`].
    pub async fn get(&self, id: &str) -> Result<Job> {
        self.jobs.get(id).await
    }

    /// Jobs newest first, optionally only those in `status`. `limit` is
    /// 1..=100 (default 20); `cursor` is a page's `next_cursor`. Pages are
    /// stable under concurrent inserts: the cursor marks a position in
    /// insertion order, so new jobs never shift later pages.
    ///
    /// Errors: [`ServiceError::Validation`] for a bad `limit` or `cursor`.
    pub async fn list(&self, status: Option<JobStatus>, limit: Option<u32>, cursor: Option<&str>) -> Result<Page> {
        self.jobs.list(status, limit, cursor).await
    }

    /// Cancels a job: a queued one at once; a running one by raising its
    /// cancel flag and waiting (up to about 1 s) until the engine stopped and
    /// removed its partial outputs. Returns the job, status `canceled`.
    ///
    /// Errors: [`ServiceError::NotFound`]; [`ServiceError::JobNotCancelable`]
    /// for a terminal job.
    pub async fn cancel(&self, id: &str) -> Result<Job> {
        self.jobs.cancel(id).await
    }

    /// Requeues a failed job that has attempts left (`attempt < max_attempts`),
    /// with `attempt + 1`.
    ///
    /// Errors: [`ServiceError::NotFound`]; [`ServiceError::InvalidTransition`]
    /// for any other state or when attempts are used up.
    pub async fn retry(&self, id: &str) -> Result<Job> {
        self.jobs.retry(id).await
    }

    /// A receiver of every job event from now on. A slow receiver that falls
    /// more than 1024 events behind gets `RecvError::Lagged` and continues.
    pub fn subscribe(&self) -> broadcast::Receiver<ServiceEvent> {
        self.core.events.subscribe()
    }

    /// Graceful stop, then closes the database: [`Service::drain`] followed
    /// by closing the connection pool. Every later call fails with `Internal`.
    pub async fn shutdown(&self, grace: Duration) {
        self.drain(grace).await;
        if let Err(e) = crate::nodes::stopped(&self.core.pool, &self.core.config.node_name).await {
            tracing::warn!("cannot record this node's stop: {e}");
        }
        self.core.pool.close().await;
    }

    /// Stops taking work but keeps answering: no new jobs are claimed or
    /// accepted (`submit` is `CapacityExceeded`, `/readyz` says `draining`);
    /// running jobs get `grace` to finish, then are canceled and requeued
    /// (same attempt). Returns once the workers stopped (or after a further
    /// [`WORKER_STOP_TIMEOUT`] at most: a job whose worker is still busy then
    /// stays `running` and is taken as interrupted at the next start, attempt + 1). Reads, keys and the rest still work, so a server can
    /// keep serving while it drains; call [`Service::shutdown`] (or drop the
    /// service) at the end.
    pub async fn drain(&self, grace: Duration) {
        self.core.draining.store(true, Ordering::SeqCst);
        self.jobs.wake_all();
        self.webhooks.wake.notify_one();
        self.watch.wake.notify_waiters();
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline && !self.running_ids().is_empty() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.jobs.interrupt_running();
        let workers: Vec<_> = std::mem::take(&mut *self.workers.lock().unwrap_or_else(|e| e.into_inner()));
        for w in workers {
            if tokio::time::timeout(WORKER_STOP_TIMEOUT, w).await.is_err() {
                tracing::warn!("a worker did not stop within {} s", WORKER_STOP_TIMEOUT.as_secs());
            }
        }
    }

    /// IDs of the jobs being run right now.
    pub fn running_ids(&self) -> Vec<String> {
        self.jobs.running_ids()
    }

    /// The nodes sharing this database (one on a single box), by name, with
    /// their heartbeat, workers, running jobs and encoders.
    ///
    /// Errors: [`ServiceError::Internal`] when the database fails.
    pub async fn nodes(&self) -> Result<Vec<crate::NodeInfo>> {
        crate::nodes::list(&self.core.pool, self.core.config.lease.as_millis() as i64).await
    }

    /// A presigned GET URL (24 h) of job `id`'s output in the bucket, when
    /// the output was stored there (`output.object_key`, farm mode) and is
    /// a file; `None` otherwise (the server hands out its own download link).
    ///
    /// Errors: [`ServiceError::NotFound`]; [`ServiceError::Internal`] when
    /// the URL cannot be signed.
    pub async fn presigned_output(&self, id: &str) -> Result<Option<String>> {
        let job = self.get(id).await?;
        let (Some(objects), Some(key), None) = (&self.core.objects, &job.output.object_key, &job.output.hls) else {
            return Ok(None);
        };
        let key: crate::objects::ObjectKey =
            key.parse().map_err(|e: crate::objects::ObjectsError| ServiceError::Internal(e.to_string()))?;
        let url = objects
            .presigned_get(&key, crate::objects::DEFAULT_PRESIGN_TTL)
            .await
            .map_err(|e| ServiceError::Internal(format!("cannot sign the output URL: {e}")))?;
        Ok(Some(url.to_string()))
    }

    /// Farm mode: a presigned GET URL (24 h) of job `id`'s waveform data in
    /// the bucket, when its output was stored there (`output.object_key`)
    /// with a waveform; `None` otherwise (the server hands out its own
    /// download link).
    ///
    /// Errors: [`ServiceError::NotFound`]; [`ServiceError::Internal`] when
    /// the URL cannot be signed.
    pub async fn presigned_waveform(&self, id: &str) -> Result<Option<String>> {
        let job = self.get(id).await?;
        let (Some(objects), Some(_), Some(w)) = (&self.core.objects, &job.output.object_key, &job.output.waveform)
        else {
            return Ok(None);
        };
        let internal = |e: crate::objects::ObjectsError| ServiceError::Internal(e.to_string());
        let key = crate::objects::ObjectKey::new(&format!("jobs/{id}/{}", crate::waveform::file_name(w.format)))
            .map_err(internal)?;
        let url = objects.presigned_get(&key, crate::objects::DEFAULT_PRESIGN_TTL).await.map_err(internal)?;
        Ok(Some(url.to_string()))
    }

    /// This node's name (`--node-name`).
    pub fn node_name(&self) -> &str {
        &self.core.config.node_name
    }

    /// Runs the readiness checks now (the disk one is re-measured too).
    pub async fn readiness(&self) -> ReadinessReport {
        let database = tokio::time::timeout(Duration::from_secs(2), sqlx::query("SELECT 1").fetch_one(&self.core.pool))
            .await
            .map_or(true, |r| r.is_err());
        let disk = check_disk(&self.core);
        let draining = self.is_draining();
        let workers_dead =
            !draining && self.workers.lock().unwrap_or_else(|e| e.into_inner()).iter().any(|w| w.is_finished());
        ReadinessReport {
            database,
            disk_critical: self.core.is_disk_critical(),
            draining,
            workers_dead,
            free_bytes: disk.free_bytes,
            low_on_space: disk.low,
        }
    }

    /// Deletes outputs whose retention expired now (the task does this every
    /// 30 s); returns how many jobs' outputs were removed.
    ///
    /// Errors: [`ServiceError::Internal`] when the database fails.
    pub async fn expire_outputs(&self) -> Result<u64> {
        self.jobs.expire_outputs().await
    }
}

/// FFmpeg names of the video encoders usable here (H.264 and HEVC, software
/// and hardware), for the node list.
fn found_encoders() -> Vec<String> {
    use crema_engine::profile::VideoCodec;
    let mut names: Vec<String> = [VideoCodec::H264, VideoCodec::Hevc]
        .into_iter()
        .flat_map(crema_engine::encoder::detect_all)
        .filter(|d| d.available)
        .map(|d| d.encoder.to_string())
        .collect();
    names.sort();
    names.dedup();
    names
}
