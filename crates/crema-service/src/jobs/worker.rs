//! Workers: claim the oldest queued job, run the engine on a blocking thread,
//! turn its events into job state, record the outcome.

use super::outputs::{ended_output, source_from_probe};
use super::repo::{Finish, JobRow};
use super::state::{INTENT_CANCEL, INTENT_NONE, INTENT_SHUTDOWN, JobsState, RunHandle};
use crate::error::{Result, ServiceError};
use crate::shared::sha256_file;
use crate::types::{EncoderUse, HlsCodec, HlsOutputInfo, HlsRendition, JobStatus, OutputInfo, Progress, ServiceEvent};
use crema_engine::progress::Stage;
use crema_engine::request::{Container, EncodeRequest, EncodeResult, FileRequest, HlsRequest, OutputReport};
use crema_engine::{CancelFlag, EngineError, Event};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};

/// Fewest milliseconds between two progress events (and progress writes) of one job: ≤ 4 per second.
const PROGRESS_INTERVAL: Duration = Duration::from_millis(250);

/// One worker: claims and runs jobs until the service drains.
pub(crate) async fn worker_loop(inner: Arc<JobsState>, n: usize) {
    loop {
        if inner.core.is_draining() {
            break;
        }
        if inner.core.is_disk_critical() {
            tokio::select! {
                _ = inner.wake.notified() => {}
                _ = inner.core.disk_recovered.notified() => {}
                _ = tokio::time::sleep(Duration::from_secs(5)) => {}
            }
            continue;
        }
        match inner.store.claim().await {
            Ok(Some(row)) => {
                let id = row.job.id.clone();
                let attempt = row.job.attempt;
                // Its own task: a panic in the job's async part cannot take the worker down.
                let task = tokio::spawn(run_job(inner.clone(), row));
                if let Err(e) = task.await {
                    tracing::error!("worker {n}: job {id} task failed: {e}");
                    inner.set_running(&id, None);
                    fail_internal(&inner, &id, attempt, &format!("internal error: the job's task failed: {e}")).await;
                }
            }
            Ok(None) => {
                tokio::select! {
                    _ = inner.wake.notified() => {}
                    _ = inner.core.disk_recovered.notified() => {}
                    _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                }
            }
            Err(e) => {
                tracing::error!("worker {n}: cannot claim a job: {e}");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

async fn fail_internal(inner: &JobsState, id: &str, attempt: u32, message: &str) {
    let Ok(job) = inner.store.must_get(id).await else { return };
    let progress = Progress { phase: JobStatus::Failed, ..job.progress.clone() };
    let f = Finish {
        attempt,
        status: JobStatus::Failed,
        status_reason: Some("internal_error"),
        error: Some(message),
        progress: &progress,
        source: &job.source,
        output: &ended_output(&job.output),
        effective_profile_id: None,
        final_artifact: None,
        saved_percent: None,
    };
    if let Err(e) = inner.store.finish(id, &f).await {
        tracing::error!("job {id}: cannot record the failure: {e}");
    }
    remove_dir(&inner.core.output_dir.join(id));
    inner.emit_state(id).await;
}

fn remove_dir(dir: &Path) {
    if let Err(e) = std::fs::remove_dir_all(dir)
        && e.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!("{}: cannot remove: {e}", dir.display());
    }
}

fn status_of(stage: Stage) -> JobStatus {
    match stage {
        Stage::Probing | Stage::Analyzing => JobStatus::Probing,
        Stage::Encoding => JobStatus::Encoding,
        Stage::Muxing | Stage::Measuring => JobStatus::Muxing,
    }
}

fn stage_name(stage: Stage) -> String {
    match stage {
        Stage::Probing => "probing",
        Stage::Analyzing => "analyzing",
        Stage::Encoding => "encoding",
        Stage::Muxing => "muxing",
        Stage::Measuring => "measuring",
    }
    .to_string()
}

fn build_request(row: &JobRow, job_dir: &Path, config: &crate::config::Config) -> EncodeRequest {
    let out = &row.output_request;
    let input = row.job.source.path.clone().unwrap_or_default().into();
    let (file, hls) = match &out.hls {
        None => {
            let container = match out.container {
                crate::types::ContainerSpec::Mp4 => Container::Mp4,
                crate::types::ContainerSpec::Mkv => Container::Mkv,
            };
            // An audio-only source gives an audio file: output.m4a (MP4 audio) or output.mka.
            let audio_only = row.job.source.resolution.is_none() && row.job.source.audio_tracks.is_some_and(|n| n > 0);
            let ext = match (audio_only, container) {
                (true, Container::Mp4) => "m4a",
                (true, Container::Mkv) => "mka",
                (false, c) => c.extension(),
            };
            let path = job_dir.join(format!("output.{ext}"));
            (Some(FileRequest { path, container }), None)
        }
        Some(h) => (
            None,
            Some(HlsRequest {
                dir: job_dir.join("hls"),
                renditions: h.renditions.clone(),
                codec: match h.codec {
                    HlsCodec::H264 => crema_engine::profile::VideoCodec::H264,
                    HlsCodec::Hevc => crema_engine::profile::VideoCodec::Hevc,
                },
                segment_seconds: h.segment_seconds,
                keep_mp4: h.keep_mp4.map(|k| (k, job_dir.join(format!("{k}p.mp4")))),
            }),
        ),
    };
    EncodeRequest {
        input,
        profile: row.job.profile.clone(),
        file,
        hls,
        audio: out.audio,
        target_height: out.target_height,
        encoder: config.encoder,
        decoder: config.decoder,
        overwrite: true,
        waveform: crate::waveform::engine_output(out.waveform.as_ref(), job_dir),
        measure: out.measure,
        target_vmaf: out.quality_target,
        chunk_workers: None,
    }
}

type Outcome = Result<std::thread::Result<crema_engine::Result<EncodeResult>>, tokio::task::JoinError>;

/// Farm mode: a source stored in the bucket (`source.object_key`) that is
/// not on this node's disk is downloaded to this node's own source folder
/// first, and the job runs from there.
async fn ensure_local_source(inner: &JobsState, row: &mut JobRow) -> std::result::Result<(), String> {
    let (Some(objects), Some(key)) = (inner.core.objects.as_ref(), row.job.source.object_key.clone()) else {
        return Ok(());
    };
    if row.job.source.path.as_deref().is_some_and(|p| Path::new(p).is_file()) {
        return Ok(());
    }
    let key: crate::objects::ObjectKey = key.parse().map_err(|e| format!("the source's bucket key: {e}"))?;
    let path =
        super::persist::fetch_source(objects, &inner.core.config.data_dir, &row.job.id, &row.job.source.name, &key)
            .await
            .map_err(|e| format!("cannot fetch the source from the bucket: {e}"))?;
    row.job.source.path = Some(path.display().to_string());
    Ok(())
}

/// Runs one claimed job to its end state.
async fn run_job(inner: Arc<JobsState>, mut row: JobRow) {
    let id = row.job.id.clone();
    if let Err(message) = ensure_local_source(&inner, &mut row).await {
        fail_internal(&inner, &id, row.job.attempt, &message).await;
        return;
    }
    let job_dir = inner.core.output_dir.join(&id);
    remove_dir(&job_dir);
    if let Err(e) = std::fs::create_dir_all(&job_dir) {
        fail_internal(
            &inner,
            &id,
            row.job.attempt,
            &format!("{}: cannot create the output folder: {e}", job_dir.display()),
        )
        .await;
        return;
    }
    let req = build_request(&row, &job_dir, &inner.core.config);
    let cancel = CancelFlag::new();
    let (stopped_tx, stopped_rx) = watch::channel(false);
    let intent = Arc::new(AtomicU8::new(INTENT_NONE));
    let handle = RunHandle { cancel: cancel.clone(), stopped: stopped_rx, intent: intent.clone() };
    inner.set_running(&id, Some(handle));
    // A drain that began before the handle was visible found nothing to
    // stop: it sets the draining flag before it looks at the handles
    // (`Service::drain`, `Jobs::interrupt_running`), so one of the two sees
    // the other. A job claimed as the service drains is given back (same
    // attempt) instead of starting; left running, it kept the drain, and
    // the runtime's shutdown waiting for its thread, from ever ending.
    if inner.core.is_draining() {
        let _ = intent.compare_exchange(INTENT_NONE, INTENT_SHUTDOWN, Ordering::SeqCst, Ordering::SeqCst);
        cancel.cancel();
    }
    // A cancel between the claim and the line above found no handle to stop
    // and only changed the row; with no progress event to notice it (a
    // transcoder may send none for a long time), the encode would run on.
    // Look at the row again now that the handle is visible: `Jobs::cancel`
    // looks for the handle again after its write, so one of the two sees
    // the other.
    let claimed = Progress { stage: Some("probing".into()), phase: JobStatus::Probing, ..Progress::queued() };
    if let Ok(false) = inner.store.set_running_state(&id, row.job.attempt, JobStatus::Probing, &claimed).await {
        // Whoever ended the row (a cancel, a requeue) has sent its event.
        inner.set_running(&id, None);
        remove_dir(&job_dir);
        return;
    }
    inner.emit_state(&id).await;

    let (tx, mut rx) = mpsc::unbounded_channel::<Event>();
    let profiles = inner.core.profiles.clone();
    let transcoder = inner.transcoder.clone();
    let flag = cancel.clone();
    let engine = tokio::task::spawn_blocking(move || {
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            transcoder.transcode(&req, &profiles, &flag, &mut |ev| {
                if matches!(ev, Event::Canceled) {
                    let _ = stopped_tx.send(true);
                }
                let _ = tx.send(ev);
            })
        }));
        let _ = stopped_tx.send(true);
        r
    });

    let mut status = JobStatus::Probing;
    let mut progress = Progress { stage: Some("probing".into()), phase: JobStatus::Probing, ..Progress::queued() };
    let mut last_write: Option<Instant> = None;
    while let Some(ev) = rx.recv().await {
        let (stage, forced) = match ev {
            Event::Stage { stage } => {
                progress.phase_percent = None;
                (stage, true)
            }
            Event::Encoder { output, encoder, reason } => {
                let hardware = !encoder.starts_with("libx26");
                progress.encoders.retain(|e| e.output != output);
                progress.encoders.push(EncoderUse { output, encoder, hardware, reason });
                continue;
            }
            Event::Progress { stage, percent, fps, eta_seconds, frames_done, frames_total } => {
                let percent = percent.clamp(0.0, 100.0);
                progress.phase_percent = Some(percent);
                progress.fps = Some(fps);
                progress.eta_seconds = eta_seconds;
                progress.frames_done = Some(frames_done);
                progress.frames_total = frames_total;
                let overall = match stage {
                    Stage::Probing | Stage::Analyzing => 0.0,
                    Stage::Encoding => percent * 0.99,
                    Stage::Muxing | Stage::Measuring => 99.0,
                };
                progress.percent = progress.percent.max(overall);
                (stage, false)
            }
            _ => continue,
        };
        progress.stage = Some(stage_name(stage));
        let new_status = status_of(stage);
        progress.phase = new_status;
        let changed = new_status != status;
        status = new_status;
        if !(changed || forced || last_write.is_none_or(|t| t.elapsed() >= PROGRESS_INTERVAL)) {
            continue;
        }
        last_write = Some(Instant::now());
        match inner.store.set_running_state(&id, row.job.attempt, status, &progress).await {
            Ok(true) => {}
            Ok(false) => {
                // Canceled (or otherwise ended) behind our back: stop the engine.
                let _ = intent.compare_exchange(INTENT_NONE, INTENT_CANCEL, Ordering::SeqCst, Ordering::SeqCst);
                cancel.cancel();
                continue;
            }
            Err(e) => tracing::warn!("job {id}: cannot record progress: {e}"),
        }
        if changed {
            inner.emit_state(&id).await;
        } else {
            inner.core.emit(ServiceEvent::JobProgress { job_id: id.clone(), progress: progress.clone() });
        }
    }
    let outcome: Outcome = engine.await;
    inner.set_running(&id, None);
    finish_job(&inner, &row, &job_dir, progress, outcome, intent.load(Ordering::SeqCst)).await;
    if row.job.source.object_key.is_some() {
        // The bucket holds the source; this node's copy was scratch.
        remove_dir(&inner.core.config.data_dir.join("sources").join(&id));
    }
    inner.emit_state(&id).await;
}

async fn finish_job(inner: &JobsState, row: &JobRow, job_dir: &Path, progress: Progress, outcome: Outcome, intent: u8) {
    let id = &row.job.id;
    if intent == INTENT_SHUTDOWN {
        remove_dir(job_dir);
        if let Err(e) = inner.store.requeue_running(id, row.job.attempt, "requeued at shutdown").await {
            tracing::error!("job {id}: cannot requeue: {e}");
        }
        return;
    }
    if intent == INTENT_CANCEL {
        remove_dir(job_dir);
        if let Err(e) = inner.store.cancel(id, false, &ended_output(&row.job.output)).await {
            tracing::error!("job {id}: cannot record the cancel: {e}");
        }
        return;
    }
    let result = match outcome {
        Ok(Ok(r)) => r,
        Ok(Err(panic)) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            Err(EngineError::Internal(format!("the encode panicked: {what}")))
        }
        Err(e) => Err(EngineError::Internal(format!("the encode thread failed: {e}"))),
    };
    let finished = match result {
        Ok(result) => complete(inner, row, job_dir, progress, result).await,
        Err(EngineError::Canceled) => {
            remove_dir(job_dir);
            inner.store.cancel(id, false, &ended_output(&row.job.output)).await
        }
        Err(e) => {
            remove_dir(job_dir);
            let reason = crate::error::engine_failure_reason(&e);
            // The message leaves the machine: server paths become file names.
            let source_path = row.job.source.path.as_deref().map(Path::new);
            let message = crate::redact::paths(
                &e.to_string(),
                &source_path.into_iter().collect::<Vec<_>>(),
                &[job_dir, &inner.core.output_dir, &inner.core.config.data_dir],
            );
            let progress = Progress { phase: JobStatus::Failed, ..progress };
            let f = Finish {
                attempt: row.job.attempt,
                status: JobStatus::Failed,
                status_reason: Some(reason),
                error: Some(&message),
                progress: &progress,
                source: &row.job.source,
                output: &ended_output(&row.job.output),
                effective_profile_id: None,
                final_artifact: None,
                saved_percent: None,
            };
            inner.store.finish(id, &f).await
        }
    };
    match finished {
        Ok(true) => {}
        Ok(false) => {
            // The job was canceled while the engine finished: keep nothing.
            remove_dir(job_dir);
        }
        Err(e) => tracing::error!("job {id}: cannot record the outcome: {e}"),
    }
}

async fn complete(
    inner: &JobsState,
    row: &JobRow,
    job_dir: &Path,
    progress: Progress,
    result: EncodeResult,
) -> Result<bool> {
    let id = &row.job.id;
    let main = result.outputs.first().cloned();
    let hashed = match main.clone() {
        Some(m) => {
            let path = m.path.clone();
            Some(
                tokio::task::spawn_blocking(move || sha256_file(&path))
                    .await
                    .map_err(|e| ServiceError::Internal(e.to_string()))?,
            )
        }
        None => None,
    };
    let sha256 = match hashed {
        Some(Ok(h)) => Some(h),
        Some(Err(e)) => {
            tracing::warn!("job {id}: cannot hash the output: {e}");
            None
        }
        None => None,
    };
    let output = match &main {
        Some(m) => {
            let expires = inner
                .core
                .config
                .output_retention
                .and_then(|r| time::Duration::try_from(r).ok())
                .map(|r| crate::store::now() + r);
            let mut output = written_output(&row.job.output, m, sha256, expires);
            let source = row.job.source.path.as_deref().map(Path::new);
            output.warnings =
                result.warnings.iter().map(|w| crate::redact::paths(w, source.as_slice(), &[job_dir])).collect();
            output.waveform = result.waveform.as_ref().map(crate::waveform::info);
            output.quality = result.quality.as_ref().map(Into::into);
            if let Some(dir) = row.output_request.dir.clone() {
                place_in(&mut output, m, row, &result.effective_profile_id, dir).await?;
            }
            output
        }
        None => {
            remove_dir(job_dir);
            ended_output(&row.job.output)
        }
    };
    let mut output = output;
    if let (Some(objects), Some(m)) = (inner.core.objects.clone(), &main) {
        // Farm mode: the job completes only once its files are in the bucket.
        let uploading =
            Progress { phase: JobStatus::UploadingOutput, stage: Some("uploading_output".into()), ..progress.clone() };
        if !inner.store.set_running_state(id, row.job.attempt, JobStatus::UploadingOutput, &uploading).await? {
            return Ok(false);
        }
        inner.emit_state(id).await;
        match super::persist::upload(&objects, id, job_dir, &m.path).await {
            Ok(key) => {
                output.object_key = Some(key.as_str().to_string());
                if row.output_request.dir.is_none() {
                    // The bucket holds it now (a file, or an HLS package that
                    // any node serves from it): free the scratch copy.
                    remove_dir(job_dir);
                    output.path = None;
                }
            }
            Err(e) => {
                // Kept on this node's disk until a retry succeeds or the job is removed.
                let message = format!("the encode worked but its output could not be stored in the bucket: {e}");
                let failed = Progress { phase: JobStatus::Failed, ..progress.clone() };
                let f = Finish {
                    attempt: row.job.attempt,
                    status: JobStatus::Failed,
                    status_reason: Some("output_persistence_failed"),
                    error: Some(&message),
                    progress: &failed,
                    source: &row.job.source,
                    output: &ended_output(&row.job.output),
                    effective_profile_id: Some(&result.effective_profile_id),
                    final_artifact: None,
                    saved_percent: None,
                };
                return inner.store.finish(id, &f).await;
            }
        }
    }
    let source_path = row.job.source.path.clone().unwrap_or_default();
    let probed = source_from_probe(Path::new(&source_path), &result.source);
    // Keep how the source was given (`upload` and its ID).
    let source = crate::types::SourceInfo {
        kind: row.job.source.kind.clone(),
        upload_id: row.job.source.upload_id.clone(),
        ..probed
    };
    let final_artifact = serde_json::to_value(result.final_artifact)?.as_str().map(str::to_string);
    let progress = Progress {
        phase: JobStatus::Completed,
        percent: 100.0,
        phase_percent: Some(100.0),
        eta_seconds: Some(0),
        ..progress
    };
    let f = Finish {
        attempt: row.job.attempt,
        status: JobStatus::Completed,
        status_reason: None,
        error: None,
        progress: &progress,
        source: &source,
        output: &output,
        effective_profile_id: Some(&result.effective_profile_id),
        final_artifact: final_artifact.as_deref(),
        saved_percent: Some(result.saved_percent),
    };
    inner.store.finish(id, &f).await
}

/// Places a finished output in the folder the local caller asked for
/// (`output.dir`) and points the job's output there; a placed output is the
/// user's file, so retention no longer applies to it.
async fn place_in(
    output: &mut OutputInfo,
    m: &OutputReport,
    row: &JobRow,
    profile: &str,
    dir: std::path::PathBuf,
) -> Result<()> {
    let hls = m.kind == "hls";
    let src = if hls { m.path.parent().map(Path::to_path_buf).unwrap_or_default() } else { m.path.clone() };
    let ext = if hls {
        "hls".to_string()
    } else {
        m.path.extension().map(|e| e.to_string_lossy().into_owned()).unwrap_or_else(|| "mp4".into())
    };
    let source_stem = Path::new(&row.job.source.name)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "output".into());
    let placement = crate::place::Placement {
        src,
        dir: dir.clone(),
        stem: format!("{source_stem}.{profile}"),
        ext,
        tmp_name: format!(".crema-placing-{}.tmp", row.job.id),
    };
    let placed = tokio::task::spawn_blocking(move || crate::place::place_unrecorded(&placement))
        .await
        .map_err(|e| ServiceError::Internal(format!("placing the output: {e}")))?
        .map_err(|e| ServiceError::Internal(format!("{}: cannot place the output: {e}", dir.display())))?;
    if let Some(dest) = placed {
        if hls {
            let master = dest.join("master.m3u8");
            if let Some(h) = output.hls.as_mut() {
                h.master_playlist = master.display().to_string();
            }
            output.path = Some(master.display().to_string());
        } else {
            output.path = Some(dest.display().to_string());
        }
        output.retention_expires_at = None;
    }
    Ok(())
}

fn written_output(
    pending: &OutputInfo,
    m: &OutputReport,
    sha256: Option<String>,
    retention_expires_at: Option<time::OffsetDateTime>,
) -> OutputInfo {
    let hls = (m.kind == "hls").then(|| HlsOutputInfo {
        master_playlist: m.path.display().to_string(),
        renditions: m
            .renditions
            .iter()
            .map(|r| HlsRendition {
                width: r.width,
                height: r.height,
                bandwidth: r.bandwidth,
                codecs: r.codecs.clone(),
            })
            .collect(),
    });
    OutputInfo {
        state: crate::types::OutputState::Available,
        expired: false,
        container: pending.container.clone(),
        audio: m.audio_tracks > 0,
        target_height: pending.target_height,
        width: Some(m.width),
        height: Some(m.height),
        bytes: Some(m.bytes),
        sha256,
        retention_expires_at,
        path: Some(m.path.display().to_string()),
        hls,
        object_key: None,
        warnings: Vec::new(),
        waveform: None,
        quality: None,
    }
}
