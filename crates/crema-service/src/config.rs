//! Service configuration.

use std::path::PathBuf;

/// How a [`crate::Service`] is set up. Build with [`Config::new`] and adjust fields.
#[derive(Clone, Debug)]
pub struct Config {
    /// Folder holding `crema.db` (and, by default, `outputs/`). Created if missing.
    pub data_dir: PathBuf,
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
    /// Webhook target policy (SSRF allow-list), attempts, backoff and timeout;
    /// see [`crate::WebhookPolicy`] for the defaults.
    pub webhooks: crate::WebhookPolicy,
}

impl Config {
    /// Defaults around `data_dir`: [`Config::default_workers`] workers, 2 attempts
    /// (one retry), no source roots, outputs in `<data_dir>/outputs`, built-in profiles,
    /// the default webhook policy (no allow-list, 8 attempts, 2 s backoff base, 10 s timeout).
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            workers: Self::default_workers(),
            max_attempts: 2,
            source_roots: Vec::new(),
            output_dir: None,
            profile_dir: None,
            webhooks: crate::WebhookPolicy::default(),
        }
    }

    /// The platform data directory (`ProjectDirs("", "", "crema").data_dir()`,
    /// e.g. `~/.local/share/crema` on Linux); `None` when there is no home directory.
    pub fn default_data_dir() -> Option<PathBuf> {
        directories::ProjectDirs::from("", "", "crema").map(|d| d.data_dir().to_path_buf())
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
