//! `sophon-auto`'s verified path for a single file: the title is encoded in
//! chunks ([`crate::chunks`]) with the chosen profile's exact settings, each
//! chunk scored against the source as soon as it is written, re-encoded
//! where it misses, and the chunks joined into the delivered file without
//! re-encoding. The score reported is the score of the file delivered.
//!
//! Each chunk is scored in the loop ([`crate::quality::in_loop`]): the
//! encoder's packets are decoded as they are written and compared with the
//! frames the encoder was fed (deinterlaced, upright, scaled, tone-mapped),
//! so the source is decoded once per encode.
//!
//! The rule (VMAF `vmaf_v0.6.1`, every 3rd frame scored; an odd step, see
//! [`crate::quality::QualityOptions::subsample`]):
//!
//! 0. **Keep the original?** With more than one chunk, the first chunk's
//!    first encode is the sample of `sophon-auto`'s rule: when its size
//!    over the source's bytes of the same frames predicts a saving under
//!    `min_saving_percent`, nothing more is encoded and the original is
//!    kept. (No separate sample is encoded.)
//! 1. **First pass, in title order, at about one CRF.** A probe, the first
//!    2 s of the first chunk (when it lasts 4 s or more), is encoded at the
//!    CRF a prior ([`PRIOR`], one CRF step per VMAF point from there)
//!    expects to reach the aim (target + 0.5) and
//!    scored; the first chunk is encoded at the CRF that measurement points
//!    to, every later one at the one CRF at which the chunks so far would
//!    reach the aim on their frame-weighted mean ([`allocate::one_crf`]).
//!    One CRF is close to the allocation that buys a mean at the fewest
//!    bytes (see [`allocate`]), so the first pass starts there.
//! 2. **Repair, at most two rounds, for the title.** From every chunk's
//!    measured points (a log-domain model between and beyond them), the
//!    allocation ([`allocate::plan`]) picks for each chunk a measured
//!    version or a new CRF so that the frame-weighted title mean reaches
//!    the target (+ 0.25, the error of scoring every 3rd frame) and every
//!    chunk the floor (target − 3, + 0.25) at the fewest bytes: quality is
//!    bought where it costs the fewest bytes per VMAF point, so a hard
//!    chunk is not pulled up to the target when an easy one gives the
//!    points cheaper. A predicted score counts 0.25 less than a measured
//!    one, and an encode is priced at a tenth of the chunk's bytes, so a
//!    re-encode that would save less is not made. The chunks planned at a
//!    new CRF are encoded and scored; a round with none ends the repair.
//! 3. **Choice.** Among the measured versions only, the cheapest set whose
//!    title mean and floors hold ([`allocate::choose`]); when none does,
//!    each chunk's best-scoring version, delivered with `best_effort` set
//!    (never a failure).
//!
//! HLS ladders, sources without usable timestamps (raw elementary streams)
//! and hardware encoders asked for by name take the sample-predicted path
//! instead, with the reason in a notice.

use std::path::{Path, PathBuf};
use std::time::Instant;

use super::allocate::{self, Curve, Goal, Pick, Point, Pricing};
use crate::chunks::deliver::{Delivered, Scratch, audio_file, deliver};
use crate::chunks::{self, Chunk, join};
use crate::encoder::{Backend, Preference};
use crate::error::{EngineError, Result};
use crate::media::MediaInfo;
use crate::profile::Profile;
use crate::progress::{CancelFlag, Event, Stage};
use crate::quality::{self, Pooled, QualityOptions, QualityReport};
use crate::request::{ChunkQuality, EncodeRequest, EncoderOption, MeasuredQuality, OutputReport, VerifiedQuality};
use crate::transcode::{Job, KeepRule, Transcoded, transcode};

/// The default target: VMAF of the title mean (`vmaf_v0.6.1`, 0..100).
pub const DEFAULT_TARGET_VMAF: f64 = 93.0;
/// Every chunk's mean must reach the target less this (VMAF points): the
/// default floor is 90.
pub const CHUNK_FLOOR_BELOW: f64 = 3.0;
/// Chunk length aimed at, seconds: chunks are a whole number of the
/// profile's keyframe intervals, the number nearest this.
pub const CHUNK_SECONDS: f64 = 6.0;
/// Chunks are aimed this far above the target (VMAF points): scoring every
/// 3rd frame estimates a chunk's mean within about this much.
const AIM_MARGIN: f64 = 0.5;
/// A chunk reaches the target when its in-loop mean is at least this far
/// above it (VMAF points): every 3rd frame scored estimated the mean of all
/// within 0.25 on the `cargo xtask quality` corpus (docs/benchmarks.md).
const REACH_MARGIN: f64 = 0.25;
/// A re-encode is priced at this share of the chunk's first encode's
/// bytes ([`allocate::Pricing::encode_cost`]).
const ENCODE_COST: f64 = 0.1;
/// Where the first chunk starts: x265 CRF 24 lands near VMAF 95 (the median
/// over the `cargo xtask quality` corpus: 95.1 at `medium`; 92.97–96.79 per
/// clip), so the probe is encoded at the CRF that would reach the aim from
/// there at one CRF step per VMAF point, not at the profile's CRF (which
/// is tuned for looks, not for a target).
const PRIOR: (f64, f64) = (24.0, 95.0);
/// Length of the probe encoded before the first chunk, seconds.
const PROBE_SECONDS: f64 = 2.0;
/// Repair rounds after the first pass.
const REPAIR_ROUNDS: usize = 2;
/// Frames scored: every 3rd.
const SUBSAMPLE: u32 = 3;
/// Chunks with fewer frames than this are scored at every frame: a 3-frame
/// sample of a 9-frame chunk missed its mean by 0.6 VMAF in the bench,
/// while 17 of 50 frames were within 0.25 on all six 2 s clips of the corpus
/// (docs/benchmarks.md); scoring those 50 at every frame cost 1.3× the CPU.
const SHORT_CHUNK_FRAMES: u64 = 30;

/// What the verified path did.
pub(crate) enum Verified {
    /// The file was written and committed.
    Written(OutputReport, Box<MeasuredQuality>),
    /// The first chunk predicts too small a saving (see [`run`]): nothing
    /// more was encoded and nothing written.
    KeepOriginal {
        /// What was measured, for the notice.
        reason: String,
    },
    /// The [`KeepRule`] failed: nothing was written.
    NotSmaller {
        /// The saving the encode would have made, percent.
        saved_percent: f64,
    },
}

/// Nothing was written: the request takes the unverified path, for this
/// reason (a notice).
pub(crate) struct Unverified(pub(crate) String);

/// Why a request takes the sample-predicted path instead; `None` when the
/// verified path can run.
pub(crate) fn unsupported(req: &EncodeRequest) -> Option<String> {
    let why = if req.hls.is_some() || req.file.is_none() {
        "an HLS ladder is made in one pass"
    } else if matches!(req.encoder, Preference::Only(b) if b != Backend::Software) {
        "a hardware encoder was asked for, and only x265's CRF is steered"
    } else {
        return None;
    };
    Some(why.to_string())
}

fn profile_crf(profile: &Profile) -> Option<f64> {
    profile.encoders.get("libx265")?.get("crf")?.parse().ok()
}

/// One encode of one chunk.
struct Version {
    crf: f64,
    bytes: u64,
    vmaf: f64,
    report: QualityReport,
    /// The file; removed once another version is better.
    path: Option<PathBuf>,
}

struct ChunkState {
    chunk: Chunk,
    versions: Vec<Version>,
    /// The version delivered (an index of `versions`), set by the choice.
    chosen: usize,
}

impl ChunkState {
    fn new(chunk: Chunk, first: Version) -> Self {
        ChunkState { chunk, versions: vec![first], chosen: 0 }
    }

    /// The version delivered.
    fn chosen(&self) -> Option<&Version> {
        self.versions.get(self.chosen)
    }

    /// The chunk's measured points, for [`allocate`].
    fn curve(&self) -> Curve {
        let points = self.versions.iter().map(|v| Point { crf: v.crf, vmaf: v.vmaf, bytes: v.bytes as f64 }).collect();
        Curve { points, frames: self.chunk.frames as f64 }
    }

    /// Removes the files of the versions not delivered.
    fn prune(&mut self) {
        for (i, v) in self.versions.iter_mut().enumerate() {
            if i != self.chosen
                && let Some(p) = v.path.take()
            {
                let _ = std::fs::remove_file(p);
            }
        }
    }
}

/// Everything one chunk encode reads.
struct Ctx<'a> {
    /// The whole title's encode: request, source, concrete profile.
    job: Job<'a>,
    scratch: &'a Path,
    cancel: &'a CancelFlag,
    /// Progress: this pass spans `percent.0..percent.0 + percent.1` of the
    /// job and encodes `pass_frames` source frames; `pass_done` are done.
    percent: (f64, f64),
    pass_frames: u64,
    pass_done: u64,
    started: Instant,
    /// Source frames encoded so far (all passes), for the rate.
    frames_done: u64,
    encodes: u32,
    score_seconds: f64,
    first_report: Option<OutputReport>,
}

impl<'a> Ctx<'a> {
    /// The context of a run whose first pass encodes `pass_frames` source
    /// frames into `scratch`; nothing encoded yet.
    fn new(job: Job<'a>, scratch: &'a Path, cancel: &'a CancelFlag, pass_frames: u64) -> Self {
        Ctx {
            job,
            scratch,
            cancel,
            // The first pass is 0..90% of the job, each repair round half of what is left.
            percent: (0.0, 90.0),
            pass_frames,
            pass_done: 0,
            started: Instant::now(),
            frames_done: 0,
            encodes: 0,
            score_seconds: 0.0,
            first_report: None,
        }
    }

    /// Encodes `chunk` at `crf` and scores it.
    fn encode(
        &mut self,
        chunk: &Chunk,
        crf: f64,
        on_event: &mut dyn FnMut(Event),
        notices: &mut Vec<String>,
    ) -> Result<Version> {
        let path = self.scratch.join(format!("chunk{:05}-crf{crf}.mp4", chunk.index));
        let mut profile = self.job.profile.clone();
        if let Some(x) = profile.encoders.get_mut("libx265") {
            x.insert("crf".into(), format!("{crf}"));
        }
        let mut creq = super::video_only_request(self.job.req, &profile.id, &path);
        if creq.encoder == Preference::Auto {
            creq.encoder = Preference::Only(Backend::Software);
        }
        let subsample = if chunk.frames < SHORT_CHUNK_FRAMES { 1 } else { SUBSAMPLE };
        // Scored in the loop: the encoder's decoded output against the
        // frames it was fed (deinterlaced, upright, scaled, tone-mapped).
        let options = QualityOptions { neg: false, subsample, ..QualityOptions::default() };
        let job = Job { req: &creq, profile: &profile, range: Some(chunk.range()), score: Some(&options), ..self.job };
        let (all, started) = (self.frames_done, self.started);
        let (pass_done, pass_frames, (p0, width)) = (self.pass_done, self.pass_frames.max(1), self.percent);
        let first = self.first_report.is_none();
        let mut forward = |e: Event| match e {
            Event::Canceled => on_event(e),
            Event::Encoder { .. } if first => on_event(e),
            Event::Progress { frames_done, .. } => {
                let done = pass_done + frames_done.min(chunk.frames);
                let secs = started.elapsed().as_secs_f64();
                on_event(Event::Progress {
                    stage: Stage::Encoding,
                    percent: p0 + width * done as f64 / pass_frames as f64,
                    fps: if secs > 0.0 { (all + frames_done) as f64 / secs } else { 0.0 },
                    eta_seconds: None,
                    frames_done: done,
                    frames_total: Some(pass_frames),
                })
            }
            _ => {}
        };
        let mut chunk_notices = Vec::new();
        let (report, (scored, seconds)) = match transcode(job, None, self.cancel, &mut forward, &mut chunk_notices)? {
            Transcoded::Written(mut outputs, _, Some(scores)) if !outputs.is_empty() => (outputs.remove(0), *scores),
            _ => return Err(EngineError::Internal("a chunk encode wrote nothing".into())),
        };
        if first {
            notices.extend(chunk_notices);
        }
        self.frames_done += chunk.frames;
        self.pass_done += chunk.frames;
        self.encodes += 1;
        self.score_seconds += seconds;
        if self.first_report.is_none() {
            self.first_report = Some(report.clone());
        }
        tracing::debug!(
            chunk = chunk.index,
            frames = chunk.frames,
            crf,
            vmaf = scored.vmaf.mean,
            bytes = report.bytes,
            "chunk encoded"
        );
        Ok(Version { crf, bytes: report.bytes, vmaf: scored.vmaf.mean, report: scored, path: Some(path) })
    }
}

/// Runs the verified path (see the module docs) for `job` (the whole
/// title's request, source and concrete profile; its range, cores and
/// score unused), cut by the source's frames `times`
/// ([`chunks::frame_times`]), keeping the result only if it passes `keep`;
/// `Ok(Err(_))` when it cannot run (nothing written).
///
/// Errors: those of the chunk encodes and of scoring ([`crate::encode::run`]'s);
/// [`EngineError::OutputNotWritable`] when the scratch folder beside the
/// output cannot be made.
pub(crate) fn run(
    job: Job,
    times: &[chunks::SourceFrame],
    keep: Option<KeepRule>,
    cancel: &CancelFlag,
    on_event: &mut dyn FnMut(Event),
    notices: &mut Vec<String>,
) -> Result<std::result::Result<Verified, Unverified>> {
    let Job { req, info, profile, .. } = job;
    let fallback = |why: &str| Ok(Err(Unverified(why.to_string())));
    let Some(file) = &req.file else { return fallback("no single file was asked for") };
    if profile_crf(profile).is_none() {
        return fallback("the profile sets no x265 CRF");
    }
    let target = req.target_vmaf.unwrap_or(DEFAULT_TARGET_VMAF);
    let plan = chunks::plan_every(times, chunk_frames(&job));
    let scratch = Scratch::beside(&file.path)?;
    on_event(Event::Stage { stage: Stage::Encoding });
    let mut ctx = Ctx::new(job, scratch.path(), cancel, times.len() as u64);
    let mut states: Vec<ChunkState> = Vec::with_capacity(plan.len());
    let chunks_in_title = plan.len();
    let aim = target + AIM_MARGIN;
    let one_point = |crf: f64, vmaf: f64| Curve { points: vec![Point { crf, vmaf, bytes: 1.0 }], frames: 1.0 };
    // The prior at one CRF step per VMAF point (around VMAF 90–95 the corpus
    // measured 0.7–1.3 steps per point): CRF 25.5 for target 93. The
    // log-domain curve at a distortion slope of 0.10 gave 26.5, which
    // missed 93 on the corpus's 2 s clips and cost each a second encode.
    let prior = PRIOR.0 + (PRIOR.1 - aim);
    let mut crf = ((prior * 2.0).round() / 2.0).clamp(allocate::CRF_RANGE.0, allocate::CRF_RANGE.1);
    if let Some(probe) = plan.first().and_then(|c| probe_window(c, times)) {
        ctx.pass_frames += probe.frames;
        let p = ctx.encode(&probe, crf, on_event, notices)?;
        if let Some(path) = &p.path {
            let _ = std::fs::remove_file(path);
        }
        crf = allocate::one_crf(&[one_point(p.crf, p.vmaf)], aim).unwrap_or(crf);
    }
    for chunk in plan {
        let v = ctx.encode(&chunk, crf, on_event, notices)?;
        if ctx.first_report.as_ref().and_then(|r| r.encoder.as_ref()).is_some_and(|e| e.name != "libx265") {
            return fallback("x265 did not open for the chunks");
        }
        if chunk.index == 0
            && chunks_in_title > 1
            && let Some(rule) = keep
            && let Some(reason) = too_small(&v, &chunk, times, req, info, rule)
        {
            return Ok(Ok(Verified::KeepOriginal { reason }));
        }
        states.push(ChunkState::new(chunk, v));
        let curves: Vec<Curve> = states.iter().map(ChunkState::curve).collect();
        crf = allocate::one_crf(&curves, aim).unwrap_or(crf);
    }
    let goal = Goal { mean: target + REACH_MARGIN, floor: target - CHUNK_FLOOR_BELOW + REACH_MARGIN };
    let pricing = Pricing { prediction_discount: AIM_MARGIN - REACH_MARGIN, encode_cost: ENCODE_COST };
    let mut rounds: u32 = 0;
    for _ in 0..REPAIR_ROUNDS {
        let curves: Vec<Curve> = states.iter().map(ChunkState::curve).collect();
        let todo: Vec<(usize, f64)> = allocate::plan(&curves, goal, pricing)
            .into_iter()
            .enumerate()
            .filter_map(|(i, p)| if let Pick::Encode(c) = p { Some((i, c)) } else { None })
            .collect();
        if todo.is_empty() {
            break;
        }
        rounds += 1;
        let (p0, width) = ctx.percent;
        ctx.percent = (p0 + width, (100.0 - p0 - width) / 2.0);
        ctx.pass_frames = todo.iter().map(|&(i, _)| states[i].chunk.frames).sum::<u64>();
        ctx.pass_done = 0;
        for (i, c) in todo {
            let chunk = states[i].chunk.clone();
            let v = ctx.encode(&chunk, c, on_event, notices)?;
            states[i].versions.push(v);
        }
    }
    let curves: Vec<Curve> = states.iter().map(ChunkState::curve).collect();
    for (s, i) in states.iter_mut().zip(allocate::choose(&curves, goal).0) {
        s.chosen = i;
        s.prune();
    }
    on_event(Event::Stage { stage: Stage::Muxing });
    let quality = report(&states, target, rounds, &ctx);
    let first_report = ctx.first_report.clone().ok_or_else(|| EngineError::Internal("no chunk encoded".into()))?;
    let parts: Vec<join::Part> = states
        .iter()
        .map(|s| {
            let v = s.chosen().and_then(|v| v.path.clone()).unwrap_or_default();
            join::Part { path: v, start_us: s.chunk.first_frame_us }
        })
        .collect();
    let audio = audio_file(req, info, profile, file.container, scratch.path(), cancel)?;
    let mut output = match deliver(req, &parts, audio.as_deref(), &first_report, keep, cancel)? {
        Delivered::Written(output) => *output,
        Delivered::NotSmaller { saved_percent } => return Ok(Ok(Verified::NotSmaller { saved_percent })),
    };
    if let Some(e) = output.encoder.as_mut() {
        let crfs: Vec<f64> = quality.verified.iter().flat_map(|v| v.chunks.iter().map(|c| c.crf)).collect();
        let (lo, hi) = crfs.iter().fold((f64::MAX, f64::MIN), |(l, h), c| (l.min(*c), h.max(*c)));
        for o in e.options.iter_mut().filter(|o| o.name == "crf") {
            *o = EncoderOption {
                name: "crf".into(),
                value: if lo == hi { format!("{lo}") } else { format!("{lo}..{hi} (per chunk)") },
            };
        }
    }
    Ok(Ok(Verified::Written(output, Box::new(quality))))
}

/// Frames per chunk: the whole number of the profile's keyframe intervals
/// nearest [`CHUNK_SECONDS`] (at least one), so each chunk ends where an
/// encode of the whole title would start a keyframe interval anyway
/// ([`chunks::plan_every`]).
fn chunk_frames(job: &Job) -> usize {
    let fps = f64::from(crate::transcode::nominal_rate(job.info, job.video));
    let interval = job.profile.keyframes.as_ref().map_or(CHUNK_SECONDS, |k| k.max_interval_seconds);
    let gop = f64::from(crate::transcode::gop_frames(interval, fps));
    let per = (CHUNK_SECONDS / (gop / fps)).round().max(1.0);
    (gop * per) as usize
}

/// The probe of the first chunk: its first [`PROBE_SECONDS`], when the
/// chunk is at least twice as long (a shorter one is its own probe).
fn probe_window(chunk: &Chunk, frames: &[chunks::SourceFrame]) -> Option<Chunk> {
    let len = (chunk.end_us - chunk.start_us) as f64 / 1e6;
    if len < 2.0 * PROBE_SECONDS {
        return None;
    }
    let in_chunk = &frames[..(chunk.frames as usize).min(frames.len())];
    let cut = in_chunk.iter().position(|f| f.t_us >= chunk.start_us + (PROBE_SECONDS * 1e6) as i64)?;
    Some(Chunk {
        index: 99_999,
        start_us: chunk.start_us,
        first_frame_us: chunk.first_frame_us,
        end_us: in_chunk[cut].t_us,
        frames: cut as u64,
        on_source_keyframe: chunk.on_source_keyframe,
    })
}

/// `sophon-auto`'s sample rule ([`super::predict_saving`]) applied to the
/// first chunk's first encode: its size over the source's
/// video bytes of the same frames predicts the output; `Some(why)` when the
/// predicted saving is below the rule's minimum.
fn too_small(
    v: &Version,
    chunk: &Chunk,
    frames: &[chunks::SourceFrame],
    req: &EncodeRequest,
    info: &MediaInfo,
    rule: KeepRule,
) -> Option<String> {
    let in_chunk: u64 = frames.iter().take(chunk.frames as usize).map(|f| f.bytes).sum();
    let total: u64 = frames.iter().map(|f| f.bytes).sum();
    if in_chunk == 0 || total == 0 {
        return None;
    }
    let ratio = v.bytes as f64 / in_chunk as f64;
    let (predicted, reference) = if req.audio {
        (ratio * total as f64 + info.bytes.saturating_sub(total) as f64, info.bytes)
    } else {
        (ratio * total as f64, total)
    };
    let saving = (1.0 - predicted / reference.max(1) as f64) * 100.0;
    (saving < rule.min_saving_percent).then(|| {
        format!(
            "keeping the original: the first chunk, a {:.1} s sample encoded at the final settings, came to {:.0}% of \
             the source's video bytes; predicted saving {saving:.1}% (below {}%)",
            (chunk.end_us - chunk.start_us) as f64 / 1e6,
            ratio * 100.0,
            rule.min_saving_percent
        )
    })
}

/// The pooled scores of the delivered chunks.
fn report(states: &[ChunkState], target: f64, rounds: u32, ctx: &Ctx) -> MeasuredQuality {
    let chosen: Vec<&Version> = states.iter().filter_map(ChunkState::chosen).collect();
    let frames: Vec<&quality::FrameScore> = chosen.iter().flat_map(|v| v.report.frames.iter()).collect();
    let pool = |f: &dyn Fn(&quality::FrameScore) -> f64| {
        Pooled::of(&frames.iter().map(|s| f(s)).collect::<Vec<_>>()).unwrap_or(Pooled {
            mean: 0.0,
            harmonic_mean: 0.0,
            p1: 0.0,
            min: 0.0,
        })
    };
    let vmaf = pool(&|s| s.vmaf);
    let chunks: Vec<ChunkQuality> = states
        .iter()
        .zip(&chosen)
        .map(|(s, v)| ChunkQuality {
            index: s.chunk.index,
            start_seconds: s.chunk.start_seconds(),
            end_seconds: (s.chunk.end_us as f64 / 1e6).min(ctx.job.info.duration_seconds.max(s.chunk.start_seconds())),
            frames: s.chunk.frames,
            crf: v.crf,
            vmaf: v.report.vmaf,
            bytes: v.bytes,
            encodes: s.versions.len() as u32,
        })
        .collect();
    let floor = target - CHUNK_FLOOR_BELOW;
    let worst = chunks.iter().min_by(|a, b| a.vmaf.mean.total_cmp(&b.vmaf.mean)).map_or(0, |c| c.index);
    let best_effort = vmaf.mean < target || chunks.iter().any(|c| c.vmaf.mean < floor);
    let first = chosen.first().map(|v| &v.report);
    MeasuredQuality {
        output: "file".into(),
        model: first.map_or_else(|| "vmaf_v0.6.1".into(), |r| r.model.clone()),
        width: first.map_or(0, |r| r.width),
        height: first.map_or(0, |r| r.height),
        frames: frames.len() as u64,
        vmaf,
        psnr: pool(&|s| s.psnr),
        ssim: pool(&|s| s.ssim),
        seconds: ctx.score_seconds,
        verified: Some(VerifiedQuality {
            target_vmaf: target,
            chunk_floor_vmaf: floor,
            best_effort,
            subsample: SUBSAMPLE,
            repair_rounds: rounds,
            chunk_encodes: ctx.encodes,
            worst_chunk: worst,
            chunks,
        }),
    }
}

#[cfg(test)]
#[path = "verified_tests.rs"]
mod tests;
