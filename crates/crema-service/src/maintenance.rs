//! Readiness (`/readyz`) and the maintenance task: free-space watch (every
//! file system Crema writes to, measured in `shared.rs`) and output
//! retention (done by the queue).

use crate::jobs::WeakJobs;
use crate::shared::check_disk;
use std::path::PathBuf;
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

/// The maintenance loop: every 30 s, the free-space watch and the output
/// retention; ends when the service drains or is dropped.
pub(crate) async fn run(jobs: WeakJobs) {
    loop {
        {
            let Some(jobs) = jobs.upgrade() else { return };
            if jobs.core().is_draining() {
                return;
            }
            check_disk(jobs.core());
            // Retention runs on one node of a farm at a time.
            if jobs.core().hold_duty("retention").await
                && let Err(e) = jobs.expire_outputs().await
            {
                tracing::warn!("output retention cleanup failed: {e}");
            }
        }
        tokio::time::sleep(PERIOD).await;
    }
}
