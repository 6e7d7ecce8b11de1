//! Queue behaviour with a stand-in transcoder (`Service::open_with`): claim,
//! failure, retry, cancel and shutdown run without encoding anything.

use crate::common;

use common::*;
use crema_engine::profile::ProfileSet;
use crema_engine::request::{EncodeRequest, EncodeResult};
use crema_engine::{CancelFlag, EngineError, Event};
use crema_service::{JobStatus, Service, ServiceError, Transcoder};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// Fails every encode at once, counting the calls.
#[derive(Default)]
struct Failing(AtomicUsize);

impl Transcoder for Failing {
    fn transcode(
        &self,
        _req: &EncodeRequest,
        _profiles: &ProfileSet,
        _cancel: &CancelFlag,
        _on_event: &mut dyn FnMut(Event),
    ) -> crema_engine::Result<EncodeResult> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Err(EngineError::Internal("stand-in failure".into()))
    }
}

/// Runs until canceled, then stops as the engine does.
struct UntilCanceled;

impl Transcoder for UntilCanceled {
    fn transcode(
        &self,
        _req: &EncodeRequest,
        _profiles: &ProfileSet,
        cancel: &CancelFlag,
        on_event: &mut dyn FnMut(Event),
    ) -> crema_engine::Result<EncodeResult> {
        while !cancel.is_canceled() {
            std::thread::sleep(Duration::from_millis(10));
        }
        on_event(Event::Canceled);
        Err(EngineError::Canceled)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_encode_is_retried_until_its_attempts_are_used_up() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path(), 1);
    config.max_attempts = 2;
    let failing = Arc::new(Failing::default());
    let svc = Service::open_with(config, failing.clone()).await.unwrap();
    let job = svc.submit(quick_spec(), network()).await.unwrap();
    let failed = wait_terminal(&svc, &job.id).await;
    assert_eq!(failed.status, JobStatus::Failed);
    assert!(failed.error.as_deref().unwrap_or_default().contains("stand-in failure"), "{:?}", failed.error);
    assert!(failed.retryable);

    let again = svc.retry(&job.id).await.unwrap();
    assert_eq!((again.status, again.attempt), (JobStatus::Queued, 2));
    let failed = wait_terminal(&svc, &job.id).await;
    assert_eq!((failed.status, failed.attempt, failed.retryable), (JobStatus::Failed, 2, false));
    assert!(matches!(svc.retry(&job.id).await, Err(ServiceError::InvalidTransition(_))));
    assert_eq!(failing.0.load(Ordering::SeqCst), 2);
    svc.shutdown(Duration::ZERO).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_job_is_canceled_and_a_drain_requeues_the_next() {
    let dir = tempfile::tempdir().unwrap();
    let svc = Service::open_with(config(dir.path(), 1), Arc::new(UntilCanceled)).await.unwrap();
    let job = svc.submit(quick_spec(), network()).await.unwrap();
    wait_until(&svc, &job.id, Duration::from_secs(30), |j| j.status == JobStatus::Probing).await;
    let canceled = svc.cancel(&job.id).await.unwrap();
    assert_eq!(canceled.status, JobStatus::Canceled);
    assert!(!has_files(&svc.config().resolved_output_dir().join(&job.id)));

    let next = svc.submit(quick_spec(), network()).await.unwrap();
    wait_until(&svc, &next.id, Duration::from_secs(30), |j| j.status == JobStatus::Probing).await;
    svc.drain(Duration::ZERO).await;
    let requeued = svc.get(&next.id).await.unwrap();
    assert_eq!((requeued.status, requeued.attempt), (JobStatus::Queued, 1));
    svc.shutdown(Duration::ZERO).await;
}
