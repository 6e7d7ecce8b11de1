//! Readiness (`/readyz`) and the maintenance task: free-space watch (every
//! file system Crema writes to) and output retention.

use crate::service::{Inner, Service};
use crate::jobs;
use crate::store;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;

/// How often the maintenance task runs.
const PERIOD: Duration = Duration::from_secs(30);

/// What `/readyz` checks (contract, "Health"). A check is `true` when it FAILED.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReadinessReport {
    /// The database does not answer `SELECT 1` within 2 s.
    pub database: bool,
    /// Free space under `Config::disk_min_free_bytes` on a file system Crema
    /// writes to: the data folder's, or the output folder's when it is another.
    pub disk_critical: bool,
    /// The service is shutting down.
    pub draining: bool,
    /// A worker task ended while the service was not draining.
    pub workers_dead: bool,
    /// Free bytes on the fullest of those file systems, when readable.
    pub free_bytes: Option<u64>,
    /// The folders (data, output) whose file system is under the floor, for
    /// the log and a local UI; `/readyz` sends only the check names.
    pub low_on_space: Vec<PathBuf>,
}

impl ReadinessReport {
    /// The contract's names of the failed checks, in a stable order; empty when ready.
    pub fn failed(&self) -> Vec<&'static str> {
        [
            (self.database, "database"),
            (self.disk_critical, "disk_critical"),
            (self.draining, "draining"),
            (self.workers_dead, "workers_dead"),
        ]
        .into_iter()
        .filter_map(|(failed, name)| failed.then_some(name))
        .collect()
    }
}

impl Service {
    /// Runs the readiness checks now (the disk one is re-measured too).
    pub async fn readiness(&self) -> ReadinessReport {
        let database =
            tokio::time::timeout(Duration::from_secs(2), sqlx::query("SELECT 1").fetch_one(&self.inner.pool))
                .await
                .map_or(true, |r| r.is_err());
        let disk = check_disk(&self.inner);
        let draining = self.is_draining();
        let workers_dead =
            !draining && self.workers.lock().unwrap_or_else(|e| e.into_inner()).iter().any(|w| w.is_finished());
        ReadinessReport {
            database,
            disk_critical: self.inner.disk_critical.load(Ordering::SeqCst),
            draining,
            workers_dead,
            free_bytes: disk.free_bytes,
            low_on_space: disk.low,
        }
    }

    /// Deletes outputs whose retention expired now (the task does this every
    /// 30 s); returns how many jobs' outputs were removed.
    ///
    /// Errors: [`crate::ServiceError::Internal`] when the database fails.
    pub async fn expire_outputs(&self) -> crate::Result<u64> {
        expire_outputs(&self.inner).await
    }
}

/// What one free-space measurement found.
pub(crate) struct DiskCheck {
    /// Free bytes on the fullest file system measured; `None` when none could be read.
    pub free_bytes: Option<u64>,
    /// The folders under the floor.
    pub low: Vec<PathBuf>,
}

/// The folders Crema writes to, one per file system: the data folder
/// (database, uploads, job sources) and the output folder unless it is on
/// the same file system.
fn written_dirs(inner: &Inner) -> Vec<(&'static str, &Path)> {
    let mut dirs = vec![("data folder", inner.config.data_dir.as_path())];
    if !same_file_system(&inner.config.data_dir, &inner.output_dir) {
        dirs.push(("output folder", inner.output_dir.as_path()));
    }
    dirs
}

#[cfg(unix)]
fn same_file_system(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev(),
        _ => a == b,
    }
}

#[cfg(not(unix))]
fn same_file_system(a: &Path, b: &Path) -> bool {
    a == b
}

/// Measures free space on every file system Crema writes to and updates
/// `disk_critical` (any of them under `Config::disk_min_free_bytes`); logs
/// which folder is low when that starts, and when space is back.
pub(crate) fn check_disk(inner: &Inner) -> DiskCheck {
    let floor = inner.config.disk_min_free_bytes;
    let mut free_bytes: Option<u64> = None;
    let mut low = Vec::new();
    let mut lines = Vec::new();
    for (name, dir) in written_dirs(inner) {
        match fs4::available_space(dir) {
            Ok(free) => {
                free_bytes = Some(free_bytes.map_or(free, |f| f.min(free)));
                if free < floor {
                    lines.push(format!("only {free} bytes free on the {name} ({})", dir.display()));
                    low.push(dir.to_path_buf());
                }
            }
            Err(e) => tracing::warn!("{name} {}: cannot read free space: {e}", dir.display()),
        }
    }
    if free_bytes.is_none() {
        // Nothing measured: keep the last verdict.
        return DiskCheck { free_bytes, low };
    }
    let critical = !low.is_empty();
    let was = inner.disk_critical.swap(critical, Ordering::SeqCst);
    if critical && !was {
        tracing::warn!("{}: no new encodes or uploads until more than {floor} bytes are free there", lines.join("; "));
    } else if was && !critical {
        tracing::info!(
            "disk space recovered ({} bytes free): taking encodes and uploads again",
            free_bytes.unwrap_or_default()
        );
        inner.wake.notify_waiters();
    }
    DiskCheck { free_bytes, low }
}

/// The maintenance loop; ends when the service is dropped.
pub(crate) async fn run(inner: Weak<Inner>) {
    loop {
        {
            let Some(inner) = inner.upgrade() else { return };
            if inner.draining.load(Ordering::SeqCst) {
                return;
            }
            check_disk(&inner);
            if let Err(e) = expire_outputs(&inner).await {
                tracing::warn!("output retention cleanup failed: {e}");
            }
        }
        tokio::time::sleep(PERIOD).await;
    }
}

async fn expire_outputs(inner: &Arc<Inner>) -> crate::Result<u64> {
    let now = store::now().unix_timestamp();
    let rows = jobs::store::expiring(&inner.pool, now).await?;
    let mut n = 0;
    for (id, mut output) in rows {
        for dir in [inner.output_dir.join(&id), inner.config.data_dir.join("sources").join(&id)] {
            if let Err(e) = tokio::fs::remove_dir_all(&dir).await
                && e.kind() != std::io::ErrorKind::NotFound
            {
                tracing::warn!("{}: cannot remove expired output: {e}", dir.display());
            }
        }
        output.expired = true;
        output.path = None;
        jobs::store::set_output(&inner.pool, &id, &output).await?;
        tracing::info!("job {id}: output retention expired, files removed");
        n += 1;
    }
    Ok(n)
}
