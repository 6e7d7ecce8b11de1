//! Chunk-parallel encoding of a single file: the title cut into chunks
//! ([`super::plan`]), several chunks encoded side by side, each by its own
//! decoder and encoder with its share of the machine's threads, and joined
//! without re-encoding ([`super::join`]), with the audio written once.
//!
//! **Why.** x264 and x265 stop turning threads into speed well before a
//! many-core machine runs out of cores: x264's frame threads cost motion
//! range and each wait on their reference's rows, x265's wavefront rows and
//! frame threads run out of parallel work (issue 15: "past roughly 8–16
//! threads at 1080p"). Chunks share nothing, so `n` workers of `cores / n`
//! threads each keep every core busy.
//!
//! **The automatic rule** ([`auto_workers`]): one worker per
//! [`THREADS_PER_ENCODER_1080P`] cores at 1080p, the threads an encoder is
//! given scaling with the square root of the output's pixels (a 2160p
//! encoder gets 16, 720p about 5, never under 4), so a 2–15-core machine
//! encodes 1080p in one piece, 16 cores in two, 64 in eight. This is a
//! model, not a measurement: this project's machines have 2 cores, where
//! two workers were measured against one piece (docs/benchmarks.md,
//! "Chunk-parallel encoding"). `EncodeRequest::chunk_workers` overrides it.
//!
//! **What a chunked file differs in.** Every chunk starts with an IDR
//! picture (a closed GOP), so the keyframe interval restarts at each cut
//! (chunks are 10–60 s: [`chunk_seconds`]); rate control starts afresh per
//! chunk (a CRF encode's quality is the same; a VBV-capped one starts each
//! chunk with a full buffer). Memory is that of `n` encodes of one output.
//! HLS ladders and hardware encoders are encoded in one piece.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::encoder::{self, Backend, Preference};
use crate::error::{EngineError, Result};
use crate::media::VideoStream;
use crate::profile::Profile;
use crate::progress::{CancelFlag, Event, Stage};
use crate::request::{EncodeRequest, OutputReport};
use crate::transcode::{Job, KeepRule, Transcoded, transcode};

use super::deliver::{Delivered, Scratch, audio_file, deliver};
use super::join::Part;

/// Threads one x264/x265 encoder is planned to use well on 1080p pictures
/// (issue 15's "8–16 threads at 1080p", the lower end: the rest go to more
/// chunks, which scale without loss).
pub const THREADS_PER_ENCODER_1080P: f64 = 8.0;
/// Shortest chunk of a parallel encode, seconds: each chunk pays an IDR
/// picture and a lookahead that starts empty.
pub const MIN_CHUNK_SECONDS: f64 = 10.0;
/// Longest chunk, seconds: shorter chunks share the work out more evenly
/// at the end of the title.
pub const MAX_CHUNK_SECONDS: f64 = 60.0;
/// Chunks per worker aimed at, so the last chunks to finish leave few
/// workers idle.
const CHUNKS_PER_WORKER: f64 = 4.0;

/// Workers the automatic rule gives on `cores` logical CPUs for an output
/// of `samples` luma samples per frame (see the module docs); 1 means one
/// piece.
pub fn auto_workers(cores: usize, samples: u64) -> usize {
    let scale = (samples as f64 / (1920.0 * 1080.0)).sqrt();
    let per_encoder = (THREADS_PER_ENCODER_1080P * scale).clamp(4.0, 16.0);
    ((cores as f64 / per_encoder).floor() as usize).max(1)
}

/// Chunk length for `workers` workers over a title of `seconds`: about
/// [`CHUNKS_PER_WORKER`] chunks each, within
/// [`MIN_CHUNK_SECONDS`]..=[`MAX_CHUNK_SECONDS`].
pub fn chunk_seconds(seconds: f64, workers: usize) -> f64 {
    (seconds / (workers.max(1) as f64 * CHUNKS_PER_WORKER)).clamp(MIN_CHUNK_SECONDS, MAX_CHUNK_SECONDS)
}

/// How many workers encode `req` with `profile` in chunks: `None` for one
/// piece (HLS, no single file, a hardware encoder chosen or preferred
/// here, one worker by the rule or by the request).
pub(crate) fn workers(req: &EncodeRequest, video: &VideoStream, profile: &Profile) -> Option<usize> {
    if req.hls.is_some() || req.file.is_none() {
        return None;
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let n = match req.chunk_workers {
        // At most one worker per core.
        Some(n) => (n as usize).min(cores),
        None => {
            let (w, h) = crate::plan::output_size((video.width, video.height), req.target_height);
            auto_workers(cores, u64::from(w) * u64::from(h))
        }
    };
    if n < 2 {
        return None;
    }
    // A hardware encoder has a fixed number of engines: one piece.
    let software_first = match req.encoder {
        Preference::Only(b) => b == Backend::Software,
        Preference::Auto => encoder::candidates(Preference::Auto, profile.codec)
            .is_ok_and(|(c, _)| c.first().is_some_and(|(b, _)| *b == Backend::Software)),
    };
    software_first.then_some(n)
}

/// Seconds left at `fps` source frames per second with `done` of `total`
/// frames encoded: known once a twentieth is done (the rate before that
/// is the encoders' start-up).
fn eta(done: u64, total: u64, fps: f64) -> Option<u64> {
    (fps > 0.0 && done * 20 >= total).then(|| (total.saturating_sub(done) as f64 / fps).round() as u64)
}

/// What one worker reports.
enum Msg {
    Progress { chunk: usize, frames: u64 },
    Encoder(Event),
    Done { chunk: usize, result: Result<(OutputReport, Vec<String>)> },
}

/// Encodes the single file of `job` (the whole title's request, source and
/// concrete profile) in chunks on `workers` workers (at most one
/// per chunk and per logical CPU) and delivers
/// it (joined, checked against `keep`, committed). `Ok(None)` when the
/// source cannot be cut (no frame timestamps) or is a single chunk long:
/// the caller encodes it in one piece.
///
/// Progress runs 0..95% over the chunks' frames; the first chunk's
/// encoder events and notices are passed on, and a notice says how the
/// title was split.
///
/// Errors: the first chunk encode's error (the other workers are stopped);
/// those of the audio encode and of [`deliver`]; [`EngineError::Canceled`].
pub(crate) fn run(
    job: Job,
    workers: usize,
    keep: Option<KeepRule>,
    cancel: &CancelFlag,
    on_event: &mut dyn FnMut(Event),
    notices: &mut Vec<String>,
) -> Result<Option<Delivered>> {
    let Job { req, info, video, profile, .. } = job;
    let Some(file) = &req.file else { return Ok(None) };
    let Some(times) = super::frame_times(&req.input, video.index, cancel)? else { return Ok(None) };
    let plan = super::plan(&times, chunk_seconds(info.duration_seconds, workers));
    if plan.len() < 2 {
        return Ok(None);
    }
    // At most one worker per chunk and per core: each holds a decoder and
    // an encoder in memory.
    let all = std::thread::available_parallelism().map_or(1, |n| n.get());
    let workers = workers.min(plan.len()).min(all);
    let per_worker = (all / workers).max(1);
    let scratch = Scratch::beside(&file.path)?;
    on_event(Event::Stage { stage: Stage::Encoding });
    let total: u64 = plan.iter().map(|c| c.frames).sum::<u64>().max(1);
    let paths: Vec<PathBuf> = plan.iter().map(|c| scratch.path().join(format!("chunk{:05}.mp4", c.index))).collect();
    let stop = CancelFlag::new();
    let next = AtomicUsize::new(0);
    let started = Instant::now();
    let mut reports: Vec<Option<(OutputReport, Vec<String>)>> = vec![None; plan.len()];
    let mut failure: Option<EngineError> = None;
    std::thread::scope(|scope| {
        let (tx, rx) = mpsc::channel::<Msg>();
        for _ in 0..workers {
            let (tx, stop, next, plan, paths) = (tx.clone(), stop.clone(), &next, &plan, &paths);
            scope.spawn(move || {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= plan.len() || stop.is_canceled() {
                        break;
                    }
                    let mut creq = crate::auto::video_only_request(req, &profile.id, &paths[i]);
                    creq.encoder = Preference::Only(Backend::Software);
                    let job = Job { req: &creq, range: Some(plan[i].range()), cores: Some(per_worker), ..job };
                    let mut chunk_notices = Vec::new();
                    let mut forward = |e: Event| match e {
                        Event::Progress { frames_done, .. } => {
                            let _ = tx.send(Msg::Progress { chunk: i, frames: frames_done });
                        }
                        Event::Encoder { .. } if i == 0 => {
                            let _ = tx.send(Msg::Encoder(e));
                        }
                        _ => {}
                    };
                    let result = match transcode(job, None, &stop, &mut forward, &mut chunk_notices) {
                        Ok(Transcoded::Written(mut outputs, _, _)) if !outputs.is_empty() => {
                            Ok((outputs.remove(0), chunk_notices))
                        }
                        Ok(_) => Err(EngineError::Internal("a chunk encode wrote nothing".into())),
                        Err(e) => Err(e),
                    };
                    let failed = result.is_err();
                    let _ = tx.send(Msg::Done { chunk: i, result });
                    if failed {
                        break;
                    }
                }
            });
        }
        drop(tx);
        let mut done = vec![0u64; plan.len()];
        loop {
            if cancel.is_canceled() {
                stop.cancel();
            }
            let msg = match rx.recv_timeout(Duration::from_millis(100)) {
                Ok(m) => m,
                Err(mpsc::RecvTimeoutError::Timeout) => continue,
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            };
            match msg {
                Msg::Encoder(e) => on_event(e),
                Msg::Progress { chunk, frames } => {
                    done[chunk] = frames.min(plan[chunk].frames);
                    let frames_done: u64 = done.iter().sum();
                    let secs = started.elapsed().as_secs_f64();
                    let fps = if secs > 0.0 { frames_done as f64 / secs } else { 0.0 };
                    let eta_seconds = eta(frames_done, total, fps);
                    on_event(Event::Progress {
                        stage: Stage::Encoding,
                        percent: 95.0 * frames_done as f64 / total as f64,
                        fps,
                        eta_seconds,
                        frames_done,
                        frames_total: Some(total),
                    });
                }
                Msg::Done { chunk, result: Ok(r) } => {
                    done[chunk] = plan[chunk].frames;
                    reports[chunk] = Some(r);
                }
                Msg::Done { result: Err(e), .. } => {
                    stop.cancel();
                    // The first real failure wins over the cancellations it causes.
                    if failure.is_none() || matches!(failure, Some(EngineError::Canceled)) {
                        failure = Some(e);
                    }
                }
            }
        }
    });
    if cancel.is_canceled() {
        on_event(Event::Canceled);
        return Err(EngineError::Canceled);
    }
    if let Some(e) = failure {
        return Err(e);
    }
    let mut parts = Vec::with_capacity(plan.len());
    let mut first: Option<OutputReport> = None;
    for ((chunk, path), report) in plan.iter().zip(paths).zip(reports) {
        let (report, chunk_notices) = report.ok_or_else(|| EngineError::Internal("a chunk was not encoded".into()))?;
        if chunk.index == 0 {
            for n in chunk_notices {
                on_event(Event::Notice { message: n.clone() });
                notices.push(n);
            }
            first = Some(report);
        }
        parts.push(Part { path, start_us: chunk.first_frame_us });
    }
    let first = first.ok_or_else(|| EngineError::Internal("no chunk encoded".into()))?;
    on_event(Event::Stage { stage: Stage::Muxing });
    let audio = audio_file(req, info, profile, file.container, scratch.path(), cancel)?;
    let delivered = deliver(req, &parts, audio.as_deref(), &first, keep, cancel)?;
    let n = format!(
        "encoded in {} chunks on {workers} workers side by side ({per_worker} threads each), joined without re-encoding",
        plan.len()
    );
    on_event(Event::Notice { message: n.clone() });
    notices.push(n);
    Ok(Some(delivered))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rule_splits_only_where_one_encoder_cannot_use_the_cores() {
        let p1080 = 1920 * 1080;
        assert_eq!(auto_workers(2, p1080), 1);
        assert_eq!(auto_workers(15, p1080), 1);
        assert_eq!(auto_workers(16, p1080), 2);
        assert_eq!(auto_workers(64, p1080), 8);
        // 2160p: 16 threads per encoder; 720p about 5; tiny pictures at least 4.
        assert_eq!(auto_workers(64, 3840 * 2160), 4);
        assert_eq!(auto_workers(16, 1280 * 720), 3);
        assert_eq!(auto_workers(16, 320 * 240), 4);
        assert_eq!(auto_workers(0, p1080), 1);
    }

    #[test]
    fn the_eta_is_the_frames_left_at_the_rate_so_far_once_a_twentieth_is_done() {
        assert_eq!(eta(4, 100, 10.0), None);
        assert_eq!(eta(5, 100, 10.0), Some(10));
        assert_eq!(eta(50, 100, 25.0), Some(2));
        assert_eq!(eta(100, 100, 25.0), Some(0));
        assert_eq!(eta(50, 100, 0.0), None);
    }

    #[test]
    fn chunks_are_10_to_60_seconds_about_four_per_worker() {
        assert_eq!(chunk_seconds(30.0, 2), MIN_CHUNK_SECONDS);
        assert_eq!(chunk_seconds(7200.0, 8), 60.0);
        assert!((chunk_seconds(600.0, 4) - 37.5).abs() < 1e-9);
        assert_eq!(chunk_seconds(600.0, 0), 60.0);
    }
}
