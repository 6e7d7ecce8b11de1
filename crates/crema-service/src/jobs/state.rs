//! What the queue keeps in memory beside the `jobs` table: the jobs being
//! run (their cancel flags) and the wake-up of idle workers.

use super::repo::JobStore;
use super::transcoder::Transcoder;
use crate::shared::Core;
use crate::types::ServiceEvent;
use crate::uploads::Uploads;
use crema_engine::CancelFlag;
use std::collections::HashMap;
use std::sync::atomic::AtomicU8;
use std::sync::{Arc, Mutex};
use tokio::sync::{Notify, watch};

/// Why a running job's cancel flag was raised: not raised.
pub(crate) const INTENT_NONE: u8 = 0;
/// A caller canceled the job.
pub(crate) const INTENT_CANCEL: u8 = 1;
/// The service is shutting down: requeue the job.
pub(crate) const INTENT_SHUTDOWN: u8 = 2;

/// What the queue keeps about a job a worker is running.
#[derive(Clone)]
pub(crate) struct RunHandle {
    pub cancel: CancelFlag,
    /// Becomes true once the engine stopped (outputs removed) or returned.
    pub stopped: watch::Receiver<bool>,
    /// One of the `INTENT_*` values.
    pub intent: Arc<AtomicU8>,
}

/// State shared by the [`super::Jobs`] handle and its workers.
pub(crate) struct JobsState {
    pub core: Arc<Core>,
    /// Upload sources of submitted jobs.
    pub uploads: Arc<Uploads>,
    /// The `jobs` table.
    pub store: Arc<dyn JobStore>,
    /// Runs the encodes.
    pub transcoder: Arc<dyn Transcoder>,
    pub running: Mutex<HashMap<String, RunHandle>>,
    /// Wakes idle workers when work may be available.
    pub wake: Notify,
}

impl JobsState {
    /// Sends the job's current state as `JobStateChanged`.
    pub(crate) async fn emit_state(&self, id: &str) {
        match self.store.get(id).await {
            Ok(Some(row)) => self.core.emit(ServiceEvent::JobStateChanged { job: Box::new(row.job) }),
            Ok(None) => {}
            Err(e) => tracing::warn!("job {id}: cannot read back for an event: {e}"),
        }
    }

    /// The run handle of a job being run now.
    pub(crate) fn running_handle(&self, id: &str) -> Option<RunHandle> {
        self.running.lock().unwrap_or_else(|e| e.into_inner()).get(id).cloned()
    }

    /// Records (or with `None`, forgets) the run handle of a job.
    pub(crate) fn set_running(&self, id: &str, handle: Option<RunHandle>) {
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        match handle {
            Some(h) => running.insert(id.to_string(), h),
            None => running.remove(id),
        };
    }
}
