//! Readiness (`/readyz`) and the maintenance task: free-space watch and
//! output retention.

use crate::service::{Inner, Service};
use crate::store;
use crate::types::OutputInfo;
use sqlx::Row;
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
    /// Free space on the data directory is under `Config::disk_min_free_bytes`.
    pub disk_critical: bool,
    /// The service is shutting down.
    pub draining: bool,
    /// A worker task ended while the service was not draining.
    pub workers_dead: bool,
    /// Free bytes on the data directory's file system, when readable.
    pub free_bytes: Option<u64>,
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
        let free_bytes = check_disk(&self.inner);
        let draining = self.is_draining();
        let workers_dead =
            !draining && self.workers.lock().unwrap_or_else(|e| e.into_inner()).iter().any(|w| w.is_finished());
        ReadinessReport {
            database,
            disk_critical: self.inner.disk_critical.load(Ordering::SeqCst),
            draining,
            workers_dead,
            free_bytes,
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

/// Measures free space and updates `disk_critical`; returns the free bytes.
pub(crate) fn check_disk(inner: &Inner) -> Option<u64> {
    match fs4::available_space(&inner.config.data_dir) {
        Ok(free) => {
            let critical = free < inner.config.disk_min_free_bytes;
            let was = inner.disk_critical.swap(critical, Ordering::SeqCst);
            if critical && !was {
                tracing::warn!(
                    "only {free} bytes free on {}: no new encodes until more than {} are free",
                    inner.config.data_dir.display(),
                    inner.config.disk_min_free_bytes
                );
            } else if was && !critical {
                tracing::info!("disk space recovered ({free} bytes free): taking encodes again");
                inner.wake.notify_waiters();
            }
            Some(free)
        }
        Err(e) => {
            tracing::warn!("{}: cannot read free space: {e}", inner.config.data_dir.display());
            None
        }
    }
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
    let rows = sqlx::query(
        "SELECT id, output_json FROM jobs WHERE output_expires_unix IS NOT NULL AND output_expires_unix <= ?",
    )
    .bind(now)
    .fetch_all(&inner.pool)
    .await?;
    let mut n = 0;
    for row in rows {
        let id: String = row.try_get("id")?;
        let mut output: OutputInfo = serde_json::from_str(&row.try_get::<String, _>("output_json")?)?;
        for dir in [inner.output_dir.join(&id), inner.config.data_dir.join("sources").join(&id)] {
            if let Err(e) = tokio::fs::remove_dir_all(&dir).await
                && e.kind() != std::io::ErrorKind::NotFound
            {
                tracing::warn!("{}: cannot remove expired output: {e}", dir.display());
            }
        }
        output.expired = true;
        output.path = None;
        sqlx::query("UPDATE jobs SET output_json = ?, output_expires_unix = NULL WHERE id = ?")
            .bind(serde_json::to_string(&output)?)
            .bind(&id)
            .execute(&inner.pool)
            .await?;
        tracing::info!("job {id}: output retention expired, files removed");
        n += 1;
    }
    Ok(n)
}
