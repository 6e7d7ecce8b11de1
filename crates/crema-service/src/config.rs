//! Service configuration.

use crate::database::Database;
use crate::webhooks::policy::WebhookPolicy;
use std::path::PathBuf;
use std::time::Duration;

/// How a [`crate::Service`] is set up. Build with [`Config::new`] and adjust fields.
#[derive(Clone, Debug)]
pub struct Config {
    /// Which encoder back-end jobs ask for (`--encoder`): best hardware first
    /// (the default), software only, or one back-end.
    pub encoder: crema_engine::encoder::Preference,
    /// Which video decoder jobs use (`crema serve --decoder`): software
    /// (the default), `auto` or one hardware back-end
    /// ([`crema_engine::hw_decode`]).
    pub decoder: crema_engine::hw_decode::DecodePreference,
    /// Folder holding `crema.db` (and, by default, `outputs/`). Created if missing.
    pub data_dir: PathBuf,
    /// The database; `None`: `<data_dir>/crema.db` ([`Database::in_data_dir`]).
    /// A [`Database::Postgres`] one may be shared by several nodes (farm mode).
    pub database: Option<Database>,
    /// Where outputs are stored (`--object-store s3://bucket/prefix?…`, farm
    /// mode); `None`: the node's own disk only. See [`crate::objects`].
    pub object_store: Option<crate::objects::ObjectStoreUrl>,
    /// This node's name, recorded on the jobs it runs and listed by
    /// [`crate::Service::nodes`]; default the host name. Nodes sharing a
    /// database must have distinct names.
    pub node_name: String,
    /// How long a claimed job stays this node's without a heartbeat (the
    /// lease); renewed every third of it. When it runs out, another node
    /// (or this one after a restart) requeues the job. Default 30 s.
    pub lease: Duration,
    /// Encodes run at once. 0 runs no workers (a store-only service: jobs stay queued).
    pub workers: usize,
    /// Runs a job may use in all (first run + retries + interrupted runs); at least 1.
    pub max_attempts: u32,
    /// Folders under which `{"type": "path"}` sources are allowed; empty: none are.
    pub source_roots: Vec<PathBuf>,
    /// Where outputs go (`<output_dir>/<job id>/`); `None`: `<data_dir>/outputs`.
    pub output_dir: Option<PathBuf>,
    /// Folder of user profile files loaded beside the built-ins; `None`: built-ins only.
    pub profile_dir: Option<PathBuf>,
    /// How long a completed job's output (and its uploaded source) is kept
    /// before the cleanup task deletes it (`output.retention_expires_at`);
    /// `None` keeps outputs forever. Default 7 days.
    pub output_retention: Option<Duration>,
    /// Free space on the data directory's file system below which `/readyz`
    /// reports `disk_critical` and the queue takes no new encodes, in bytes.
    /// Default 2 GiB.
    pub disk_min_free_bytes: u64,
    /// How long a browser session (the `sophon_api_session` cookie) stays valid
    /// after login; default 12 h. Revoking the key that logged in ends it at once.
    pub session_ttl: Duration,
    /// How long idempotency records are kept before the cleanup task purges
    /// them; default 24 h, the contract's minimum ("Keep keys for at least 24 hours").
    pub idempotency_retention: Duration,
    /// Webhook target policy (SSRF allow-list), attempts, backoff and timeout;
    /// see [`WebhookPolicy`] for the defaults.
    pub webhooks: WebhookPolicy,
    /// Largest `file_size` accepted by `POST /v1/uploads`, in bytes (default 200 GiB);
    /// larger declared sizes are refused with `payload_too_large`.
    pub max_upload_bytes: u64,
    /// How long an upload session lives after creation (default 24 h, the `/v1`
    /// contract's "Uploads"); afterwards an unfinished session is `expired` and its files removed.
    pub upload_ttl: Duration,
    /// For tests: use this part size (bytes, at least 1) for every upload instead of the
    /// contract's tiers ([`crate::chunk_size_for`]), so multi-part uploads need no 64 MiB files.
    /// `None` (the default) in production.
    pub upload_chunk_size_override: Option<u64>,
    /// Watch folders: on/off, file-system events on/off, rescan interval,
    /// jobs per rule at once; see [`WatchConfig`] for the defaults.
    pub watch: WatchConfig,
}

impl Config {
    /// Defaults around `data_dir`: [`Config::default_workers`] workers, 2 attempts
    /// (one retry), no source roots, outputs in `<data_dir>/outputs`, built-in profiles,
    /// 7-day output retention, 2 GiB free-space floor, 12 h sessions, idempotency
    /// records kept 24 h, the default webhook policy (no allow-list, 8 attempts,
    /// 2 s backoff base, 10 s timeout), uploads up to 200 GiB that expire
    /// after 24 h, tiered part sizes, watch folders on (events, 60 s rescan,
    /// 4 jobs per rule at once).
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            encoder: crema_engine::encoder::Preference::Auto,
            decoder: Default::default(),
            data_dir: data_dir.into(),
            database: None,
            object_store: None,
            node_name: Self::default_node_name(),
            lease: Duration::from_secs(30),
            workers: Self::default_workers(),
            max_attempts: 2,
            source_roots: Vec::new(),
            output_dir: None,
            profile_dir: None,
            output_retention: Some(Duration::from_secs(7 * 24 * 3600)),
            disk_min_free_bytes: 2 << 30,
            session_ttl: Duration::from_secs(12 * 3600),
            idempotency_retention: Duration::from_secs(24 * 3600),
            webhooks: WebhookPolicy::default(),
            max_upload_bytes: 200 * 1024 * 1024 * 1024,
            upload_ttl: Duration::from_secs(24 * 60 * 60),
            upload_chunk_size_override: None,
            watch: WatchConfig::default(),
        }
    }

    /// The platform data directory (`ProjectDirs("", "", "crema").data_dir()`,
    /// e.g. `~/.local/share/crema` on Linux); `None` when there is no home directory.
    pub fn default_data_dir() -> Option<PathBuf> {
        directories::ProjectDirs::from("", "", "crema").map(|d| d.data_dir().to_path_buf())
    }

    /// The host name (`/proc/sys/kernel/hostname`, then `$HOSTNAME`), or
    /// `crema` when neither is readable.
    pub fn default_node_name() -> String {
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .or_else(|| std::env::var("HOSTNAME").ok())
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "crema".to_string())
    }

    /// The database actually used.
    pub fn resolved_database(&self) -> Database {
        self.database.clone().unwrap_or_else(|| Database::in_data_dir(&self.data_dir))
    }

    /// The core count (`available_parallelism`), at most 4: one encode already
    /// uses several threads.
    pub fn default_workers() -> usize {
        std::thread::available_parallelism().map_or(1, |n| n.get()).min(4)
    }

    /// The output folder actually used.
    pub fn resolved_output_dir(&self) -> PathBuf {
        self.output_dir.clone().unwrap_or_else(|| self.data_dir.join("outputs"))
    }
}

/// How the watch-folder machinery of a [`crate::Service`] runs (`Config::watch`).
#[derive(Clone, Debug)]
pub struct WatchConfig {
    /// Run the watch-folder rules in this service (default true). False: rules
    /// can still be managed but nothing is watched.
    pub enabled: bool,
    /// Use file-system events (`notify`: inotify, FSEvents,
    /// ReadDirectoryChangesW). Default true. False switches events off for
    /// every rule: rules without `poll_seconds` then only see files at the
    /// periodic rescan (tests use this to check the polling mode).
    pub events: bool,
    /// Full rescan of every rule's folder as a safety net against lost events
    /// (default 60 s). Rules in polling mode rescan every `poll_seconds` instead.
    pub rescan_interval: Duration,
    /// Jobs of one rule queued or running at once (default 4, at least 1);
    /// further complete files wait as `pending` rows, so a burst of files
    /// never floods the queue.
    pub max_outstanding_per_rule: usize,
    /// How often a running service re-reads the rules from the database, to
    /// pick up changes made by another process (`crema watch …`) (default 2 s).
    pub reload_interval: Duration,
    /// How often candidates are re-checked for settling (default 250 ms).
    pub tick: Duration,
}

impl Default for WatchConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            events: true,
            rescan_interval: Duration::from_secs(60),
            max_outstanding_per_rule: 4,
            reload_interval: Duration::from_secs(2),
            tick: Duration::from_millis(250),
        }
    }
}
