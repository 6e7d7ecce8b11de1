//! The OS notification when a batch finishes: every job is terminal again
//! after at least one ran.

use crema_service::{JobStatus, Service, ServiceEvent};
use std::collections::HashSet;
use std::sync::Arc;
use tauri::AppHandle;
use tauri_plugin_notification::NotificationExt;
use tokio::sync::broadcast;

/// What the jobs that ran since the last notification came to.
#[derive(Default, Debug)]
pub struct BatchTally {
    started: HashSet<String>,
    completed: usize,
    failed: usize,
    canceled: usize,
}

impl BatchTally {
    /// Records a status change.
    pub fn record(&mut self, id: &str, status: JobStatus) {
        if status.is_running() {
            self.started.insert(id.to_string());
        } else if status.is_terminal() && self.started.remove(id) {
            match status {
                JobStatus::Completed => self.completed += 1,
                JobStatus::Failed => self.failed += 1,
                _ => self.canceled += 1,
            }
        } else if status == JobStatus::Queued {
            // Requeued (retry or shutdown): it counts when it ends.
            self.started.remove(id);
        }
    }

    /// Jobs that ran and ended.
    pub fn ended(&self) -> usize {
        self.completed + self.failed + self.canceled
    }

    /// The notification text, e.g. "3 encodes finished: 2 done, 1 failed."
    pub fn summary(&self) -> String {
        let n = self.ended();
        let mut parts = vec![format!("{} done", self.completed)];
        if self.failed > 0 {
            parts.push(format!("{} failed", self.failed));
        }
        if self.canceled > 0 {
            parts.push(format!("{} canceled", self.canceled));
        }
        let noun = if n == 1 { "encode" } else { "encodes" };
        format!("{n} {noun} finished: {}.", parts.join(", "))
    }
}

/// Whether no job is waiting or running.
async fn queue_idle(service: &Service) -> bool {
    if !service.running_ids().is_empty() {
        return false;
    }
    for status in JobStatus::ALL.into_iter().filter(|s| !s.is_terminal()) {
        match service.list(Some(status), Some(1), None).await {
            Ok(page) if page.jobs.is_empty() => {}
            _ => return false,
        }
    }
    true
}

/// Watches the service and notifies at the end of each batch; ends with the service.
pub async fn watch_batches(app: AppHandle, service: Arc<Service>, mut rx: broadcast::Receiver<ServiceEvent>) {
    let mut tally = BatchTally::default();
    loop {
        let job = match rx.recv().await {
            Ok(ServiceEvent::JobStateChanged { job }) => job,
            Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => continue,
            Err(broadcast::error::RecvError::Closed) => break,
        };
        tally.record(&job.id, job.status);
        if !job.status.is_terminal() || tally.ended() == 0 || service.is_draining() || !queue_idle(&service).await {
            continue;
        }
        let body = tally.summary();
        tracing::info!("batch finished: {body}");
        if let Err(e) = app.notification().builder().title("Crema: batch finished").body(&body).show() {
            tracing::warn!("cannot show the notification ({e}): {body}");
        }
        tally = BatchTally::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_only_jobs_that_ran() {
        let mut t = BatchTally::default();
        t.record("a", JobStatus::Probing);
        t.record("a", JobStatus::Encoding);
        t.record("b", JobStatus::Canceled); // canceled while queued: never ran
        assert_eq!(t.ended(), 0);
        t.record("a", JobStatus::Completed);
        t.record("c", JobStatus::Encoding);
        t.record("c", JobStatus::Failed);
        assert_eq!(t.ended(), 2);
        assert_eq!(t.summary(), "2 encodes finished: 1 done, 1 failed.");
        let mut one = BatchTally::default();
        one.record("x", JobStatus::Encoding);
        one.record("x", JobStatus::Queued); // requeued by a shutdown
        one.record("x", JobStatus::Completed);
        assert_eq!(one.ended(), 0);
    }
}
