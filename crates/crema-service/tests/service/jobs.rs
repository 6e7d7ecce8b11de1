//! Service tests on a real SQLite file and real encodes of short clips.

use crate::common;

use common::*;
use crema_service::{JobSpec, JobStatus, ServiceError, ServiceEvent};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submit_runs_to_completion_with_events_and_output() {
    let dir = tempfile::tempdir().unwrap();
    let svc = open(dir.path(), 1).await;
    let mut events = svc.subscribe();
    let started = Instant::now();
    let job = svc.submit(quick_spec(), common::network()).await.unwrap();
    assert_eq!(job.status, JobStatus::Queued);
    assert!(job.id.starts_with("job_") && job.id.len() == 4 + 32, "{}", job.id);
    assert_eq!(job.attempt, 1);
    assert_eq!(job.metadata, serde_json::json!({}));
    assert_eq!(job.source.sha256.len(), 64);

    let mut created = false;
    let mut statuses = Vec::new();
    let mut progress_events = 0u32;
    let done = tokio::time::timeout(Duration::from_secs(180), async {
        loop {
            match events.recv().await.expect("event stream") {
                ServiceEvent::JobCreated { job: j } if j.id == job.id => created = true,
                ServiceEvent::JobStateChanged { job: j } if j.id == job.id => {
                    if statuses.last() != Some(&j.status) {
                        statuses.push(j.status);
                    }
                    if j.status.is_terminal() {
                        return *j;
                    }
                }
                ServiceEvent::JobProgress { job_id, progress } if job_id == job.id => {
                    assert!((0.0..=100.0).contains(&progress.percent));
                    progress_events += 1;
                }
                _ => {}
            }
        }
    })
    .await
    .expect("job finished in time");
    let elapsed = started.elapsed().as_secs_f64();
    assert!(created, "no job_created event");
    assert_eq!(done.status, JobStatus::Completed, "{done:#?}");
    assert!(statuses.contains(&JobStatus::Probing) && statuses.contains(&JobStatus::Encoding), "{statuses:?}");
    assert!(f64::from(progress_events) <= 4.0 * elapsed + 4.0, "{progress_events} progress events in {elapsed:.1} s");

    let job = svc.get(&job.id).await.unwrap();
    assert_eq!(job.status, JobStatus::Completed);
    assert!(!job.retryable);
    assert_eq!(job.effective_profile_id.as_deref(), Some("sophon-espresso"));
    assert_eq!(job.final_artifact.as_deref(), Some("encoded"));
    assert!(job.saved_percent.is_some());
    assert!(job.started_at.is_some() && job.completed_at.is_some());
    assert_eq!(job.progress.percent, 100.0);
    assert_eq!(job.progress.phase, JobStatus::Completed);
    assert_eq!(job.source.resolution.as_deref(), Some("1280x720"));
    let out = &job.output;
    assert_eq!(out.state, crema_service::OutputState::Available);
    assert_eq!(out.container, "mp4");
    assert!(!out.audio, "audio was not asked for");
    assert_eq!(out.target_height, Some(360));
    assert_eq!(out.height, Some(360));
    assert_eq!(out.width, Some(640));
    let path = std::path::PathBuf::from(out.path.clone().expect("output path"));
    assert!(path.starts_with(dir.path().join("outputs").join(&job.id)), "{}", path.display());
    let bytes = std::fs::read(&path).expect("output file present");
    assert_eq!(out.bytes, Some(bytes.len() as u64));
    let sha = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(&bytes))
    };
    assert_eq!(out.sha256.as_deref(), Some(sha.as_str()));

    // The wire shape: every required JobResponse field present, timestamps RFC 3339 UTC.
    let v = serde_json::to_value(&job).unwrap();
    for key in [
        "id",
        "status",
        "status_reason",
        "attempt",
        "retryable",
        "profile",
        "effective_profile_id",
        "source",
        "progress",
        "output",
        "metadata",
        "created_at",
        "started_at",
        "completed_at",
        "error",
    ] {
        assert!(v.get(key).is_some(), "missing {key} in {v}");
    }
    for key in ["name", "bytes", "sha256", "duration_seconds", "resolution", "frame_rate"] {
        assert!(v["source"].get(key).is_some(), "missing source.{key}");
    }
    for key in ["stage", "phase", "percent", "phase_percent", "fps", "eta_seconds", "frames_done", "frames_total"] {
        assert!(v["progress"].get(key).is_some(), "missing progress.{key}");
    }
    for key in
        ["state", "container", "audio", "target_height", "width", "height", "bytes", "sha256", "retention_expires_at"]
    {
        assert!(v["output"].get(key).is_some(), "missing output.{key}");
    }
    assert!(v["created_at"].as_str().unwrap().ends_with('Z'), "{}", v["created_at"]);
    assert_eq!(v["status"], "completed");
    svc.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submit_validation_errors_name_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let svc = open(dir.path(), 0).await;

    let mut spec = quick_spec();
    spec.profile = "sophon-doppio".into();
    let e = svc.submit(spec, common::network()).await.unwrap_err();
    assert!(matches!(&e, ServiceError::Validation { field, .. } if field == "profile"), "{e:?}");
    assert_eq!(e.code().as_str(), "validation_error");
    assert!(!e.retryable());
    assert!(e.to_string().contains("sophon-doppio"), "{e}");

    let mut spec = quick_spec();
    spec.output.target_height = Some(100);
    let e = svc.submit(spec, common::network()).await.unwrap_err();
    assert!(matches!(&e, ServiceError::Validation { field, .. } if field == "output.target_height"), "{e:?}");

    let mut spec = quick_spec();
    spec.metadata = Some(serde_json::json!({ "blob": "x".repeat(16 * 1024) }));
    let e = svc.submit(spec, common::network()).await.unwrap_err();
    assert!(matches!(&e, ServiceError::Validation { field, .. } if field == "metadata"), "{e:?}");

    let mut spec = quick_spec();
    spec.metadata = Some(serde_json::json!([1, 2]));
    let e = svc.submit(spec, common::network()).await.unwrap_err();
    assert!(matches!(&e, ServiceError::Validation { field, .. } if field == "metadata"), "{e:?}");

    let mut spec = quick_spec();
    spec.metadata = Some(serde_json::json!({ "blob": "x".repeat(1000) }));
    let job = svc.submit(spec, common::network()).await.expect("metadata under 16 KiB is fine");
    assert_eq!(job.metadata["blob"].as_str().unwrap().len(), 1000);

    let e = svc.submit(JobSpec::path("relative/clip.mp4", "sophon-espresso"), common::network()).await.unwrap_err();
    assert!(matches!(&e, ServiceError::Validation { field, .. } if field == "source.path"), "{e:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn path_outside_source_roots_is_forbidden() {
    let dir = tempfile::tempdir().unwrap();
    let svc = open(dir.path(), 0).await;
    let outside = dir.path().join("clip.mp4");
    std::fs::copy(fixture("h264_720p_2s.mp4"), &outside).unwrap();
    for path in [outside.clone(), fixtures_dir().join("..").join("..").join("Cargo.toml")] {
        let e = svc.submit(JobSpec::path(&path, "sophon-espresso"), common::network()).await.unwrap_err();
        assert!(matches!(e, ServiceError::Forbidden(_)), "{}: {e:?}", path.display());
        assert_eq!(e.code().as_str(), "forbidden");
    }
    // A symlink inside a root that points outside is refused too.
    let link_root = tempfile::tempdir().unwrap();
    let link = link_root.path().join("link.mp4");
    std::os::unix::fs::symlink(&outside, &link).unwrap();
    let mut cfg = config(&dir.path().join("other"), 0);
    cfg.source_roots = vec![link_root.path().to_path_buf()];
    let svc2 = crema_service::Service::open(cfg).await.unwrap();
    let ok = svc2.submit(JobSpec::path(&link, "sophon-espresso"), common::network()).await;
    // The link's target is outside every root.
    assert!(matches!(ok, Err(ServiceError::Forbidden(_))), "{ok:?}");
    let e = svc.get("job_nope").await.unwrap_err();
    assert_eq!(e.code().as_str(), "not_found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_running_job_is_quick_and_leaves_no_output() {
    let dir = tempfile::tempdir().unwrap();
    let svc = open(dir.path(), 1).await;
    let job = svc
        .submit(JobSpec::path(fixture("prores_hq_1080p25_10bit.mov"), "sophon-espresso"), common::network())
        .await
        .unwrap();
    wait_until(&svc, &job.id, Duration::from_secs(120), |j| {
        j.status == JobStatus::Encoding && j.progress.frames_done.unwrap_or(0) > 0
    })
    .await;
    let t = Instant::now();
    let canceled = svc.cancel(&job.id).await.unwrap();
    let took = t.elapsed();
    // A bound against a hang, not a speed target (cancel waits up to ~1 s for
    // the engine; a loaded machine may take longer).
    eprintln!("cancel answered in {took:?}");
    assert!(took < Duration::from_secs(20), "cancel took {took:?}");
    assert_eq!(canceled.status, JobStatus::Canceled);
    assert!(canceled.completed_at.is_some());
    // The engine removes its partial outputs as it stops, which the cancel
    // does not wait for past ~1 s: wait for that, bounded against a hang.
    let job_dir = dir.path().join("outputs").join(&job.id);
    let deadline = Instant::now() + Duration::from_secs(20);
    while has_files(&job_dir) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!has_files(&job_dir), "partial output left behind");

    let e = svc.cancel(&job.id).await.unwrap_err();
    assert!(matches!(e, ServiceError::JobNotCancelable(_)), "{e:?}");
    assert_eq!(e.code().as_str(), "job_not_cancelable");
    let e = svc.retry(&job.id).await.unwrap_err();
    assert!(matches!(e, ServiceError::InvalidTransition(_)), "{e:?}");

    // The worker winds down without turning the job into anything else.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let after = svc.get(&job.id).await.unwrap();
    assert_eq!(after.status, JobStatus::Canceled);
    assert!(!has_files(&dir.path().join("outputs").join(&job.id)));

    // A queued job is canceled at once.
    let idle = tempfile::tempdir().unwrap();
    let svc0 = open(idle.path(), 0).await;
    let q = svc0.submit(quick_spec(), common::network()).await.unwrap();
    let c = svc0.cancel(&q.id).await.unwrap();
    assert_eq!(c.status, JobStatus::Canceled);
    svc.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_input_fails_and_retry_rules_hold() {
    let dir = tempfile::tempdir().unwrap();
    let svc = open(dir.path(), 0).await;
    // A broken file is refused at submission, nothing queued (issue 9).
    let e =
        svc.submit(JobSpec::path(fixture("truncated.mp4"), "sophon-espresso"), common::network()).await.unwrap_err();
    assert!(matches!(&e, ServiceError::SourceInvalid(m) if m.starts_with("truncated.mp4:")), "{e:?}");
    assert!(svc.list(None, None, None).await.unwrap().jobs.is_empty());
    svc.shutdown(Duration::ZERO).await;
    // One that breaks after it was accepted fails in the worker, and the retry rules hold.
    let scratch = tempfile::tempdir().unwrap();
    let (svc, id) = common::job_with_source_broken_after_submit(
        common::config(dir.path(), 1),
        scratch.path(),
        JobSpec::path(fixture("h264_720p_2s.mp4"), "sophon-espresso"),
    )
    .await;
    let job = svc.get(&id).await.unwrap();
    let failed = wait_terminal(&svc, &job.id).await;
    assert_eq!(failed.status, JobStatus::Failed, "{failed:#?}");
    assert_eq!(failed.status_reason.as_deref(), Some("source_invalid"));
    let msg = failed.error.clone().expect("error message");
    assert!(msg.contains("breaks-later.mp4") && !msg.contains("InputUnsupported"), "{msg}");
    assert!(failed.retryable);
    assert_eq!(failed.output.state, crema_service::OutputState::Pending);

    let retried = svc.retry(&job.id).await.unwrap();
    assert_eq!(retried.status, JobStatus::Queued);
    assert_eq!(retried.attempt, 2);
    assert!(retried.error.is_none());
    let e = svc.retry(&job.id).await.unwrap_err();
    assert!(matches!(e, ServiceError::InvalidTransition(_)), "retry of a queued job: {e:?}");

    let failed2 = wait_terminal(&svc, &job.id).await;
    assert_eq!(failed2.status, JobStatus::Failed);
    assert_eq!(failed2.attempt, 2);
    assert!(!failed2.retryable);
    let e = svc.retry(&job.id).await.unwrap_err();
    assert!(matches!(e, ServiceError::InvalidTransition(_)), "{e:?}");
    assert!(e.to_string().contains("attempts"), "{e}");
    svc.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pagination_is_newest_first_and_stable_under_inserts() {
    let dir = tempfile::tempdir().unwrap();
    let svc = open(dir.path(), 0).await;
    let spec = common::quick_spec;
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(svc.submit(spec(), common::network()).await.unwrap().id);
    }
    let p1 = svc.list(None, Some(2), None).await.unwrap();
    assert_eq!(p1.jobs.iter().map(|j| j.id.clone()).collect::<Vec<_>>(), vec![ids[4].clone(), ids[3].clone()]);
    assert!(p1.has_more);
    // New jobs arrive between page fetches: later pages do not shift.
    for _ in 0..3 {
        svc.submit(spec(), common::network()).await.unwrap();
    }
    let p2 = svc.list(None, Some(2), p1.next_cursor.as_deref()).await.unwrap();
    assert_eq!(p2.jobs.iter().map(|j| j.id.clone()).collect::<Vec<_>>(), vec![ids[2].clone(), ids[1].clone()]);
    let p3 = svc.list(None, Some(2), p2.next_cursor.as_deref()).await.unwrap();
    assert_eq!(p3.jobs.iter().map(|j| j.id.clone()).collect::<Vec<_>>(), vec![ids[0].clone()]);
    assert!(!p3.has_more);
    assert!(p3.next_cursor.is_none());

    let all = svc.list(None, None, None).await.unwrap();
    assert_eq!(all.jobs.len(), 8);
    svc.cancel(&ids[0]).await.unwrap();
    let canceled = svc.list(Some(JobStatus::Canceled), None, None).await.unwrap();
    assert_eq!(canceled.jobs.len(), 1);
    assert_eq!(canceled.jobs[0].id, ids[0]);

    for bad in ["nope", "", "c2VxOi0x"] {
        let e = svc.list(None, None, Some(bad)).await.unwrap_err();
        assert!(matches!(&e, ServiceError::Validation { field, .. } if field == "cursor"), "{bad}: {e:?}");
    }
    for bad in [0, 101] {
        let e = svc.list(None, Some(bad), None).await.unwrap_err();
        assert!(matches!(&e, ServiceError::Validation { field, .. } if field == "limit"), "{bad}: {e:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interrupted_jobs_are_requeued_or_failed_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, c) = {
        let svc = open(dir.path(), 0).await;
        let a = svc.submit(quick_spec(), common::network()).await.unwrap().id;
        let b = svc.submit(quick_spec(), common::network()).await.unwrap().id;
        let c = svc.submit(quick_spec(), common::network()).await.unwrap().id;
        svc.shutdown(Duration::ZERO).await;
        (a, b, c)
    };
    // What a process killed mid-encode leaves behind: a running with attempts
    // left, b running on its last attempt, c still queued.
    {
        let pool = common::db(dir.path()).await;
        sqlx::query("UPDATE jobs SET status = 'encoding', started_at = '2026-11-21T10:00:00Z' WHERE id = $1")
            .bind(&a)
            .execute(&pool)
            .await
            .unwrap();
        sqlx::query("UPDATE jobs SET status = 'muxing', attempt = 2 WHERE id = $1")
            .bind(&b)
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
    }
    let svc = open(dir.path(), 0).await;
    let ja = svc.get(&a).await.unwrap();
    assert_eq!(ja.status, JobStatus::Queued);
    assert_eq!(ja.attempt, 2);
    assert_eq!(ja.status_reason.as_deref(), Some("requeued after an interrupted run"));
    assert!(ja.started_at.is_none());
    let jb = svc.get(&b).await.unwrap();
    assert_eq!(jb.status, JobStatus::Failed);
    assert_eq!(jb.status_reason.as_deref(), Some("interrupted too many times"));
    assert!(!jb.retryable);
    let jc = svc.get(&c).await.unwrap();
    assert_eq!((jc.status, jc.attempt), (JobStatus::Queued, 1));
    svc.shutdown(Duration::ZERO).await;

    // With a worker, the requeued job runs to completion.
    let svc = open(dir.path(), 1).await;
    let done = wait_terminal(&svc, &a).await;
    assert_eq!(done.status, JobStatus::Completed, "{done:#?}");
    assert_eq!(done.attempt, 2);
    svc.shutdown(Duration::from_secs(1)).await;
}

#[test]
fn error_codes_and_statuses_match_the_contract() {
    let cases: Vec<(ServiceError, &str, Option<&str>, bool)> = vec![
        (ServiceError::NotFound { kind: "job", id: "job_1".into() }, "not_found", None, false),
        (ServiceError::validation("profile", "unknown"), "validation_error", None, false),
        (ServiceError::InvalidTransition("x".into()), "conflict", Some("invalid_transition"), false),
        (ServiceError::JobNotCancelable("x".into()), "job_not_cancelable", None, false),
        (ServiceError::OutputNotReady("x".into()), "output_not_ready", None, false),
        (ServiceError::Forbidden("x".into()), "forbidden", None, false),
        (ServiceError::CapacityExceeded("x".into()), "capacity_exceeded", None, true),
        (ServiceError::SourceInvalid("x".into()), "source_invalid", None, false),
        (ServiceError::SourceUnsupported("x".into()), "source_unsupported", None, false),
        (ServiceError::UploadIncomplete("x".into()), "conflict", Some("upload_incomplete"), false),
        (ServiceError::PayloadTooLarge("x".into()), "validation_error", Some("payload_too_large"), false),
        (ServiceError::IdempotencyKeyRequired, "validation_error", Some("idempotency_key_required"), false),
        (ServiceError::IdempotencyKeyReused("k".into()), "conflict", Some("idempotency_key_reused"), false),
        (ServiceError::RequestInProgress("k".into()), "conflict", Some("request_in_progress"), true),
        (ServiceError::RateLimited("x".into()), "rate_limited", None, true),
        (ServiceError::OutputPersistenceFailed("x".into()), "output_persistence_failed", None, false),
        (ServiceError::Internal("x".into()), "internal_error", None, true),
    ];
    // Every code is one of the contract's fourteen (the SDKs' closed enum).
    let contract = [
        "validation_error",
        "unauthorized",
        "forbidden",
        "not_found",
        "conflict",
        "job_not_cancelable",
        "output_not_ready",
        "source_invalid",
        "source_unsupported",
        "rate_limited",
        "quota_exceeded",
        "capacity_exceeded",
        "output_persistence_failed",
        "internal_error",
    ];
    let all: Vec<&str> = crema_service::ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
    assert_eq!(all, contract);
    for (e, code, reason, retryable) in &cases {
        assert_eq!((e.code().as_str(), e.reason(), e.retryable()), (*code, *reason, *retryable), "{e}");
        assert_eq!(serde_json::to_value(e.code()).unwrap(), serde_json::json!(code));
    }
    assert_eq!(ServiceError::NotFound { kind: "job", id: "job_1".into() }.to_string(), "job job_1 does not exist");
    let names: Vec<String> =
        JobStatus::ALL.iter().map(|s| serde_json::to_value(s).unwrap().as_str().unwrap().to_string()).collect();
    assert_eq!(
        names,
        ["queued", "probing", "encoding", "muxing", "uploading_output", "completed", "failed", "canceled"]
    );
    let terminal: Vec<_> = JobStatus::ALL.iter().filter(|s| s.is_terminal()).collect();
    assert_eq!(terminal, [&JobStatus::Completed, &JobStatus::Failed, &JobStatus::Canceled]);
    let spec: JobSpec = serde_json::from_value(serde_json::json!({
        "source": {"type": "path", "path": "/x.mov"}, "profile": "sophon-cortado",
        "output": {"container": "mkv", "audio": true, "target_height": 720,
                   "hls": {"renditions": [720, 360], "codec": "hevc", "segment_seconds": 4, "keep_mp4": 720}}
    }))
    .unwrap();
    assert_eq!(spec.output.hls.unwrap().keep_mp4, Some(720));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_requeues_running_jobs_after_the_grace_period() {
    let dir = tempfile::tempdir().unwrap();
    let svc = open(dir.path(), 1).await;
    let job = svc
        .submit(JobSpec::path(fixture("prores_hq_1080p25_10bit.mov"), "sophon-espresso"), common::network())
        .await
        .unwrap();
    wait_until(&svc, &job.id, Duration::from_secs(120), is(JobStatus::Encoding)).await;
    let t = Instant::now();
    svc.shutdown(Duration::from_millis(200)).await;
    assert!(t.elapsed() < Duration::from_secs(10), "shutdown took {:?}", t.elapsed());
    assert!(svc.is_draining());
    let e = svc.submit(quick_spec(), common::network()).await.unwrap_err();
    assert_eq!(e.code().as_str(), "capacity_exceeded");
    assert!(e.retryable());

    let svc = open(dir.path(), 0).await;
    let j = svc.get(&job.id).await.unwrap();
    assert_eq!((j.status, j.attempt), (JobStatus::Queued, 1), "{j:#?}");
    assert_eq!(j.status_reason.as_deref(), Some("requeued at shutdown"));
    assert!(!has_files(&dir.path().join("outputs").join(&job.id)));
}

/// Issue 9, defect 3 (the same pattern in `move_job` and `revoke_key`): a
/// read-then-write transaction never fails with "database is locked" because
/// another connection committed between its read and its write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moves_and_revokes_succeed_while_another_connection_writes() {
    use crema_service::MovePosition;
    let dir = tempfile::tempdir().unwrap();
    let svc = open(dir.path(), 0).await;
    let mut ids = Vec::new();
    for _ in 0..4 {
        ids.push(svc.submit(quick_spec(), common::network()).await.unwrap().id);
    }
    let other = db(dir.path()).await;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (other, stop, id) = (other.clone(), stop.clone(), ids[0].clone());
        tokio::spawn(async move {
            let mut n = 0u64;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                sqlx::query("UPDATE jobs SET status_reason = $1 WHERE id = $2")
                    .bind(format!("noise {n}"))
                    .bind(&id)
                    .execute(&other)
                    .await
                    .expect("the other connection's write");
                n += 1;
            }
            n
        })
    };
    let mut failures = Vec::new();
    for n in 0..150 {
        let position = if n % 2 == 0 { MovePosition::Top } else { MovePosition::Before(ids[n % 4].clone()) };
        let id = &ids[(n + 1) % 4];
        if let Err(e) = svc.move_job(id, &position).await
            && !matches!(e, ServiceError::Validation { .. })
        {
            failures.push(format!("move: {e}"));
        }
    }
    for n in 0..30 {
        let key = svc.create_key(&format!("k{n}")).await.unwrap();
        if let Err(e) = svc.revoke_key(&key.id).await {
            failures.push(format!("revoke: {e}"));
        }
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let commits = writer.await.unwrap();
    assert!(commits > 0, "the other connection never wrote");
    assert!(failures.is_empty(), "{} of 180 failed ({commits} commits meanwhile): {:?}", failures.len(), failures);
    assert_eq!(svc.queue_order().await.unwrap().len(), 4);
    other.close().await;
    svc.shutdown(Duration::from_secs(1)).await;
}

/// Extension `output.measure`: a completed job carries `output.quality` (the
/// written file scored against its source at the source's size, every frame),
/// which survives a reopen of the store and is absent without `measure`; the
/// job passes through the `measuring` stage while its status stays `muxing`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_measured_job_reports_its_quality() {
    let dir = tempfile::tempdir().unwrap();
    let svc = open(dir.path(), 1).await;
    let mut events = svc.subscribe();
    let mut spec = quick_spec();
    spec.output.measure = true;
    let job = svc.submit(spec, network()).await.unwrap();
    let plain = svc.submit(quick_spec(), network()).await.unwrap();
    let done = wait_terminal(&svc, &job.id).await;
    assert_eq!(done.status, JobStatus::Completed, "{done:?}");
    let q = done.output.quality.clone().expect("output.quality");
    assert_eq!((q.output.as_str(), q.width, q.height, q.frames), ("file", 1280, 720, 50), "{q:?}");
    assert!(q.vmaf.min <= q.vmaf.p1 && q.vmaf.p1 <= q.vmaf.mean && q.vmaf.mean <= 100.0, "{q:?}");
    assert!(q.psnr.mean > 20.0 && q.ssim.mean > 0.5 && q.ssim.mean < 1.0, "{q:?}");
    let mut measuring = false;
    loop {
        let e = match events.try_recv() {
            Ok(e) => e,
            Err(tokio::sync::broadcast::error::TryRecvError::Lagged(_)) => continue,
            Err(_) => break,
        };
        if let ServiceEvent::JobProgress { job_id, progress } = e
            && job_id == job.id
            && progress.stage.as_deref() == Some("measuring")
        {
            assert_eq!(progress.phase, JobStatus::Muxing);
            measuring = true;
        }
    }
    assert!(measuring, "no progress in the measuring stage");
    let plain = wait_terminal(&svc, &plain.id).await;
    assert!(plain.output.quality.is_none());
    svc.shutdown(Duration::ZERO).await;
    let svc = open(dir.path(), 0).await;
    assert_eq!(svc.get(&job.id).await.unwrap().output.quality, Some(q));
    svc.shutdown(Duration::ZERO).await;
}

/// `sophon-auto` runs its verified path for a job: `output.quality_target`
/// sets the target the job's `output.quality.verified` reports (chunks,
/// CRFs), kept across a reopen of the store; a target outside 50..99 is
/// refused at submission, naming the field.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sophon_auto_job_reports_its_verified_quality_for_the_target_asked() {
    let dir = tempfile::tempdir().unwrap();
    let svc = open(dir.path(), 1).await;
    let mut spec = quick_spec();
    spec.profile = "sophon-auto".into();
    spec.output.quality_target = Some(88.0);
    let job = svc.submit(spec.clone(), network()).await.unwrap();
    let done = wait_terminal(&svc, &job.id).await;
    assert_eq!(done.status, JobStatus::Completed, "{done:?}");
    let q = done.output.quality.clone().unwrap_or_else(|| panic!("no output.quality: {done:#?}"));
    let v = q.verified.clone().expect("verified");
    assert_eq!((v.target_vmaf, v.chunk_floor_vmaf), (88.0, 85.0));
    assert_eq!(v.chunks.len(), 1, "a 2 s title is one chunk: {v:?}");
    assert_eq!(v.chunks[0].frames, 50);
    assert_eq!(v.best_effort, q.vmaf.mean < 88.0);
    assert_eq!((q.width, q.height), (640, 360), "scored at the encode's size");
    spec.output.quality_target = Some(120.0);
    match svc.submit(spec, network()).await {
        Err(ServiceError::Validation { field, message }) => {
            assert_eq!(field, "output.quality_target");
            assert!(message.contains("50..99"), "{message}");
        }
        other => panic!("a target of 120 was not refused: {other:?}"),
    }
    svc.shutdown(Duration::ZERO).await;
    let svc = open(dir.path(), 0).await;
    assert_eq!(svc.get(&job.id).await.unwrap().output.quality, Some(q));
    svc.shutdown(Duration::ZERO).await;
}
