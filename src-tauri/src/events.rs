//! Live job events to the window over a `tauri::ipc::Channel`.
//!
//! Each `subscribe` call starts a task that forwards every
//! [`ServiceEvent`] as the service's one wire model, [`EventMessage`] (the
//! SSE stream of `crates/crema-server/src/routes/events.rs` sends the same
//! messages, the `type` as its event name); the shape `ui/src/api/tauri.ts`
//! reads, typed from `ui/src/api/ipc.json`:
//! - `{"type": "job.created" | "job.updated", "job": Job}`;
//! - `{"type": "job.progress", "job_id", "progress"}`, at most about 10 per
//!   second per job ([`PROGRESS_INTERVAL`]);
//! - `{"type": "lagged", "missed": n}`: the window fell behind and should
//!   refetch with `list_jobs`.
//!
//! Subscriptions end with `unsubscribe`, when the channel is gone, or when
//! the webview that made them starts loading a page (a reload must not leave
//! forwarders behind).

use crema_service::{EventMessage, JobStatus, ServiceEvent};
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tauri::ipc::Channel;
use tokio::sync::broadcast;
use tokio::task::JoinHandle;

/// Fewest time between two forwarded progress events of one job.
pub const PROGRESS_INTERVAL: Duration = Duration::from_millis(100);

/// Drops progress events that come sooner than [`PROGRESS_INTERVAL`] after
/// the last one forwarded for the same job.
#[derive(Default)]
pub struct ProgressThrottle {
    last: HashMap<String, Instant>,
}

impl ProgressThrottle {
    /// Whether a progress event of `job_id` at `now` is forwarded.
    pub fn admit(&mut self, job_id: &str, now: Instant) -> bool {
        match self.last.get(job_id) {
            Some(prev) if now.duration_since(*prev) < PROGRESS_INTERVAL => false,
            _ => {
                self.last.insert(job_id.to_string(), now);
                true
            }
        }
    }

    /// Forgets a job (it ended), so the map stays small.
    pub fn forget(&mut self, job_id: &str) {
        self.last.remove(job_id);
    }
}

/// The message for one service event, or `None` when throttled.
pub fn message(ev: &ServiceEvent, throttle: &mut ProgressThrottle, now: Instant) -> Option<EventMessage> {
    match ev {
        ServiceEvent::JobStateChanged { job } if job.status.is_terminal() || job.status == JobStatus::Queued => {
            throttle.forget(&job.id);
        }
        ServiceEvent::JobProgress { job_id, .. } if !throttle.admit(job_id, now) => return None,
        _ => {}
    }
    Some(EventMessage::from_event(ev))
}

/// Forwards `rx` into `channel` until either side closes.
pub async fn forward(mut rx: broadcast::Receiver<ServiceEvent>, channel: Channel<EventMessage>) {
    let mut throttle = ProgressThrottle::default();
    loop {
        let msg = match rx.recv().await {
            Ok(ev) => match message(&ev, &mut throttle, Instant::now()) {
                Some(m) => m,
                None => continue,
            },
            Err(broadcast::error::RecvError::Lagged(missed)) => EventMessage::Lagged { missed },
            Err(broadcast::error::RecvError::Closed) => break,
        };
        if channel.send(msg).is_err() {
            break;
        }
    }
}

/// The forwarding tasks, by subscription ID, with the webview that owns each.
#[derive(Default)]
pub struct Subscriptions {
    next: AtomicU64,
    tasks: Mutex<HashMap<u64, (String, JoinHandle<()>)>>,
}

impl Subscriptions {
    /// Registers a started task for `webview`; returns its ID.
    pub fn add(&self, webview: &str, task: JoinHandle<()>) -> u64 {
        let id = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        let mut tasks = self.tasks.lock().unwrap_or_else(|e| e.into_inner());
        tasks.retain(|_, (_, t)| !t.is_finished());
        tasks.insert(id, (webview.to_string(), task));
        id
    }

    /// Stops one subscription; false when it did not exist.
    pub fn remove(&self, id: u64) -> bool {
        let task = self.tasks.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
        task.map(|(_, t)| t.abort()).is_some()
    }

    /// Stops every subscription of `webview` (it is loading a new page).
    pub fn remove_webview(&self, webview: &str) {
        self.tasks.lock().unwrap_or_else(|e| e.into_inner()).retain(|_, (label, t)| {
            let keep = label != webview;
            if !keep {
                t.abort();
            }
            keep
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crema_service::Progress;

    fn progress_event(id: &str) -> ServiceEvent {
        ServiceEvent::JobProgress { job_id: id.into(), progress: Progress::queued() }
    }

    #[test]
    fn progress_is_throttled_per_job() {
        let mut t = ProgressThrottle::default();
        let t0 = Instant::now();
        let m = serde_json::to_value(message(&progress_event("job_a"), &mut t, t0).unwrap()).unwrap();
        assert_eq!(m["type"], "job.progress");
        assert_eq!(m["job_id"], "job_a");
        assert_eq!(m["progress"]["phase"], "queued");
        assert!(message(&progress_event("job_a"), &mut t, t0 + Duration::from_millis(50)).is_none());
        // Another job is not held back by the first.
        assert!(message(&progress_event("job_b"), &mut t, t0 + Duration::from_millis(50)).is_some());
        assert!(message(&progress_event("job_a"), &mut t, t0 + Duration::from_millis(100)).is_some());
    }
}
