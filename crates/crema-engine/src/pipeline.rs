//! Decode once → filter → encode every output → mux.
//!
//! [`run`] takes an [`EncodeRequest`] and produces a single file (MP4/MKV)
//! and/or an HLS ladder from one decode of the source. It blocks; callers
//! run it on a thread of their own, raise the [`CancelFlag`] to stop it
//! (checked between packets) and receive [`Event`]s through a callback.
//!
//! Outputs are written under temporary names beside their final place
//! (`.NAME.crema-partial…`) and renamed only when everything succeeded, so a
//! failed or canceled run leaves nothing behind and never replaces an
//! existing file with a broken one.
//!
//! Before anything is decoded, [`run`] checks the request's shape
//! ([`crate::request::check_output`]: heights, at most 8 rungs, segment
//! length) and every picture it would write ([`crate::limits`]: level 6.2,
//! the source limit), and sizes what each encoder may hold from the sum of
//! those pictures ([`crate::budget`]). The streams encoded are those of the
//! source's main program ([`crate::streams`]); audio that cannot be read is
//! left out with a warning ([`EncodeResult::warnings`]).

use ff::ffi;
use ff::{Rational, Rescale};
use ffmpeg_next as ff;
use serde::Serialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::budget::Budget;
use crate::encoder::{self, Backend, HwDevice, Preference};
use crate::error::{EngineError, Result};
use crate::ffutil::{self, Options};
use crate::limits::{self, JobPictures};
use crate::plan::{self, VideoFilters};
use crate::probe::{self, MediaInfo, VideoStream};
use crate::profile::{Profile, ProfileSet, VideoCodec};
use crate::progress::{CancelFlag, Event, Stage};
use crate::request;
use crate::streams;

/// Single-file container.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Container {
    /// MP4 (ISO BMFF), with faststart and the `hvc1` sample entry for HEVC.
    #[default]
    Mp4,
    /// Matroska.
    Mkv,
}

impl Container {
    /// File extension without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            Container::Mp4 => "mp4",
            Container::Mkv => "mkv",
        }
    }
}

/// A single-file output.
#[derive(Clone, Debug)]
pub struct FileRequest {
    /// Final path of the file.
    pub path: PathBuf,
    /// Container.
    pub container: Container,
}

/// An HLS ladder output (the `/v1` contract's `output.hls`).
#[derive(Clone, Debug)]
pub struct HlsRequest {
    /// Final folder of the package (`master.m3u8` inside).
    pub dir: PathBuf,
    /// Rung heights in pixels; rungs taller than the source are dropped.
    pub renditions: Vec<u32>,
    /// Video codec of every rung.
    pub codec: VideoCodec,
    /// Target segment duration in seconds (Apple HLS Authoring Spec §7: 6 s).
    pub segment_seconds: f64,
    /// Also write a progressive MP4 of the rung of this height, at this path.
    pub keep_mp4: Option<(u32, PathBuf)>,
}

/// Everything one encode needs.
#[derive(Clone, Debug)]
pub struct EncodeRequest {
    /// The source file.
    pub input: PathBuf,
    /// Profile ID as asked (may be `sophon-auto`).
    pub profile: String,
    /// Single-file output, if any.
    pub file: Option<FileRequest>,
    /// HLS output, if any.
    pub hls: Option<HlsRequest>,
    /// Include audio (every track in files; one AAC rendition in HLS).
    pub audio: bool,
    /// Scale the single file down to this height in pixels (never up).
    pub target_height: Option<u32>,
    /// Encoder back-end preference.
    pub encoder: Preference,
    /// Replace existing outputs.
    pub overwrite: bool,
}

/// Which artifact a client should keep (the `/v1` `final_artifact` extension).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FinalArtifact {
    /// The new encode.
    Encoded,
    /// The source: encoding would not have made it smaller (`sophon-auto`).
    Original,
}

/// The encoder that produced an output, and exactly how it was set up.
#[derive(Clone, Debug, Serialize)]
pub struct EncoderReport {
    /// FFmpeg encoder name (`libx265`, `hevc_nvenc`).
    pub name: String,
    /// Back-end family.
    pub backend: Backend,
    /// Why it was used (requested, detected hardware, or the fallback reason).
    pub reason: String,
    /// Every option set, as `ffmpeg -c:v NAME -KEY VALUE` pairs, so the run
    /// can be reproduced with the `ffmpeg` command line.
    pub options: Vec<EncoderOption>,
}

/// One name/value encoder option.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct EncoderOption {
    /// Option name as the `ffmpeg` command line takes it (`crf`, `x265-params`).
    pub name: String,
    /// Value as a string.
    pub value: String,
}

/// One HLS rung in the result.
#[derive(Clone, Debug, Serialize)]
pub struct RungReport {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Media playlist path.
    pub playlist: PathBuf,
    /// Measured peak bit rate (video + audio), bits/s, as in the master's BANDWIDTH.
    pub bandwidth: u64,
    /// Measured average bit rate, bits/s (AVERAGE-BANDWIDTH).
    pub average_bandwidth: u64,
    /// RFC 6381 codecs string.
    pub codecs: String,
    /// VBV cap the encoder was given, kbit/s.
    pub peak_kbps_cap: u32,
    /// The encoder used for the rung.
    pub encoder: EncoderReport,
}

/// One output in the result.
#[derive(Clone, Debug, Serialize)]
pub struct OutputReport {
    /// `file`, `hls` or `hls_mp4` (the `keep_mp4` file).
    pub kind: String,
    /// File path (for `hls`, the master playlist).
    pub path: PathBuf,
    /// Size in bytes (for `hls`, the whole folder).
    pub bytes: u64,
    /// Duration in seconds, measured from the written output.
    pub duration_seconds: f64,
    /// Width in pixels (for `hls`, the top rung).
    pub width: u32,
    /// Height in pixels (for `hls`, the top rung).
    pub height: u32,
    /// Audio tracks in the output.
    pub audio_tracks: usize,
    /// The video encoder (for `hls`, the top rung's; each rung in `renditions`).
    pub encoder: Option<EncoderReport>,
    /// HLS rungs, tallest first (only for `hls`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub renditions: Vec<RungReport>,
}

/// The result of one encode.
#[derive(Clone, Debug, Serialize)]
pub struct EncodeResult {
    /// The source as probed.
    pub source: MediaInfo,
    /// Profile as asked.
    pub profile: String,
    /// The concrete profile that ran (for `sophon-auto`, the one chosen).
    pub effective_profile_id: String,
    /// Why that profile (for `sophon-auto`), else `None`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile_reason: Option<String>,
    /// Which artifact to keep.
    pub final_artifact: FinalArtifact,
    /// 0..100: how much smaller the main output is than the source (0 when `original`).
    pub saved_percent: f64,
    /// Outputs written (empty when `final_artifact` is `original`).
    pub outputs: Vec<OutputReport>,
    /// Wall time of the whole run, seconds.
    pub elapsed_seconds: f64,
    /// Notices that were also sent as events (fallbacks, dropped rungs).
    pub notices: Vec<String>,
    /// Parts of the source that were left out (an audio stream whose
    /// parameters cannot be read), also sent as [`Event::Warning`]s. The
    /// encode succeeded without them.
    pub warnings: Vec<String>,
}

/// Runs one encode. See the module docs.
///
/// Errors: [`EngineError::InputUnreadable`]/[`EngineError::InputUnsupported`]
/// for bad sources (also: no video stream, truncated data);
/// [`EngineError::OutputNotWritable`] when an output exists without
/// `overwrite` or its folder cannot be written; [`EngineError::DiskFull`];
/// [`EngineError::Usage`] for an unknown profile or an unavailable explicit
/// encoder; [`EngineError::Canceled`]; [`EngineError::Encode`] for FFmpeg failures.
pub fn run(
    req: &EncodeRequest,
    profiles: &ProfileSet,
    cancel: &CancelFlag,
    on_event: &mut dyn FnMut(Event),
) -> Result<EncodeResult> {
    crate::init()?;
    let started = Instant::now();
    let profile = profiles.get(&req.profile)?.clone();
    if req.file.is_none() && req.hls.is_none() {
        return Err(EngineError::Usage("nothing to write: ask for a file and/or an HLS package".into()));
    }
    let hls_shape =
        req.hls.as_ref().map(|h| request::HlsShape { renditions: &h.renditions, segment_seconds: h.segment_seconds });
    request::check_output(req.target_height, hls_shape)?;
    check_outputs_free(req)?;
    on_event(Event::Stage { stage: Stage::Probing });
    let info = probe::probe_with(&req.input, cancel)?;
    let Some(video) = info.video.clone() else {
        return Err(EngineError::InputUnsupported {
            path: req.input.clone(),
            cause: if info.audio.is_empty() {
                "no video stream".into()
            } else {
                "no video stream: audio-only files are not encoded (yet)".into()
            },
        });
    };
    limits::check_source(&req.input, video.width, video.height, limits::source_limits())?;
    let mut notices = Vec::new();
    let warnings = source_warnings(req, &info, &mut notices, on_event);
    let mut reason = None;
    let mut keep_rule = None;
    let concrete = match &profile.auto {
        None => profile.clone(),
        Some(rules) => {
            let (id, why) = crate::auto::choose(&info, &video, rules);
            let concrete = profiles.get(&id)?.clone();
            on_event(Event::Stage { stage: Stage::Analyzing });
            let decision = crate::auto::predict_saving(req, &info, &video, &concrete, rules, cancel, on_event)?;
            if let Some(n) = &decision.notice {
                notices.push(n.clone());
                on_event(Event::Notice { message: n.clone() });
            }
            if !decision.encode {
                return Ok(EncodeResult {
                    source: info,
                    profile: req.profile.clone(),
                    effective_profile_id: concrete.id.clone(),
                    profile_reason: Some(format!("{why}; {}", decision.reason)),
                    final_artifact: FinalArtifact::Original,
                    saved_percent: 0.0,
                    outputs: vec![],
                    elapsed_seconds: started.elapsed().as_secs_f64(),
                    notices,
                    warnings,
                });
            }
            reason = Some(format!("{why}; {}", decision.reason));
            if req.hls.is_none() {
                // Decided before anything is committed: the real output must
                // save enough against what it replaces (the whole source with
                // audio, its video alone without).
                let reference = match decision.reference_bytes {
                    Some(bytes) => bytes,
                    None if req.audio => info.bytes,
                    None => crate::auto::video_bytes(&req.input, video.index, None, cancel)?.1,
                };
                keep_rule = Some(KeepRule { min_saving_percent: rules.min_saving_percent, reference_bytes: reference });
            }
            concrete
        }
    };
    let (outputs, final_artifact) =
        match transcode(req, &info, &video, &concrete, None, keep_rule, cancel, on_event, &mut notices)? {
            Transcoded::Written(outputs) => (outputs, FinalArtifact::Encoded),
            Transcoded::NotSmaller { saved_percent } => {
                let why =
                    format!("the encode saved only {saved_percent:.1}% (below the profile's minimum), original kept");
                notices.push(why.clone());
                on_event(Event::Notice { message: why.clone() });
                reason = reason.map(|r| format!("{r}; {why}"));
                (vec![], FinalArtifact::Original)
            }
        };
    let main_bytes = outputs.first().map_or(0, |o| o.bytes);
    let saved = if info.bytes > 0 { (1.0 - main_bytes as f64 / info.bytes as f64) * 100.0 } else { 0.0 };
    Ok(EncodeResult {
        source: info,
        profile: req.profile.clone(),
        effective_profile_id: concrete.id.clone(),
        profile_reason: reason,
        final_artifact,
        saved_percent: if final_artifact == FinalArtifact::Encoded {
            (saved.max(0.0) * 10.0).round() / 10.0
        } else {
            0.0
        },
        outputs,
        elapsed_seconds: started.elapsed().as_secs_f64(),
        notices,
        warnings,
    })
}

/// The warnings about what of the source is left out (sent as events now,
/// returned for the result), and a notice naming the program encoded.
fn source_warnings(
    req: &EncodeRequest,
    info: &MediaInfo,
    notices: &mut Vec<String>,
    on_event: &mut dyn FnMut(Event),
) -> Vec<String> {
    if let Some(n) = streams::program_notice(info) {
        notices.push(n.clone());
        on_event(Event::Notice { message: n });
    }
    let mut warnings = Vec::new();
    if req.audio {
        if req.file.is_some() {
            warnings.extend(streams::file_audio(info).1);
        }
        if req.hls.is_some() {
            warnings.extend(streams::hls_audio(info).1);
        }
    }
    let mut seen = std::collections::HashSet::new();
    warnings.retain(|w| seen.insert(w.clone()));
    for w in &warnings {
        on_event(Event::Warning { message: w.clone() });
    }
    warnings
}

/// Whether `output` names the same file as `input`, however spelled
/// (`..`, symlinks, hard links).
fn same_file(output: &Path, input: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    if let (Ok(a), Ok(b)) = (std::fs::metadata(output), std::fs::metadata(input)) {
        return a.dev() == b.dev() && a.ino() == b.ino();
    }
    let resolve = |p: &Path| {
        let parent = p.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        parent.canonicalize().ok().map(|d| d.join(p.file_name().unwrap_or_default()))
    };
    resolve(output).is_some_and(|o| Some(o) == input.canonicalize().ok())
}

fn check_outputs_free(req: &EncodeRequest) -> Result<()> {
    let mut paths: Vec<&Path> = Vec::new();
    if let Some(f) = &req.file {
        paths.push(&f.path);
    }
    if let Some(h) = &req.hls {
        paths.push(&h.dir);
        if let Some((_, p)) = &h.keep_mp4 {
            paths.push(p);
        }
    }
    for p in paths {
        if same_file(p, &req.input) {
            return Err(EngineError::OutputNotWritable {
                path: p.into(),
                cause: "output would replace the input".into(),
            });
        }
        if p.exists() && !req.overwrite {
            return Err(EngineError::OutputNotWritable {
                path: p.into(),
                cause: "already exists (use --overwrite to replace it)".into(),
            });
        }
        let parent = p.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        if !parent.is_dir() {
            return Err(EngineError::OutputNotWritable { path: p.into(), cause: "folder does not exist".into() });
        }
    }
    Ok(())
}

/// Temporary outputs that become final only on [`Staging::commit`];
/// dropped uncommitted, they are removed.
struct Staging {
    entries: Vec<(PathBuf, PathBuf, bool)>,
    committed: bool,
}

impl Staging {
    fn new() -> Self {
        Self { entries: Vec::new(), committed: false }
    }

    /// A temporary path beside `final_path` (same folder, so rename is atomic).
    fn add(&mut self, final_path: &Path, is_dir: bool) -> Result<PathBuf> {
        let name = final_path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        // Unique per process and call, so concurrent jobs writing the same
        // output never touch each other's temporary files.
        let tag = unique_tag();
        let tmp_name = match final_path.extension() {
            Some(ext) if !is_dir => format!(".{name}.crema-partial-{tag}.{}", ext.to_string_lossy()),
            _ => format!(".{name}.crema-partial-{tag}"),
        };
        let tmp = final_path.with_file_name(tmp_name);
        if is_dir {
            std::fs::create_dir(&tmp).map_err(|e| io_out_err(final_path, e))?;
        } else {
            std::fs::File::create(&tmp).map_err(|e| io_out_err(final_path, e))?;
        }
        self.entries.push((tmp.clone(), final_path.to_path_buf(), is_dir));
        Ok(tmp)
    }

    /// Removes every temporary output now (files still open in a muxer are
    /// unlinked; the muxer's later writes go nowhere).
    fn discard(&mut self) {
        for (tmp, _, is_dir) in &self.entries {
            let _ = if *is_dir { std::fs::remove_dir_all(tmp) } else { std::fs::remove_file(tmp) };
        }
    }

    /// Moves every temporary output to its final place. A file replaces an
    /// existing one atomically (`rename`); an existing folder is first moved
    /// aside and removed only once the new one is in place, so a failure
    /// never leaves neither.
    fn commit(mut self) -> Result<()> {
        for (tmp, fin, is_dir) in &self.entries {
            if *is_dir && fin.exists() {
                let name = fin.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                let old = fin.with_file_name(format!(".{name}.crema-old-{}", unique_tag()));
                std::fs::rename(fin, &old).map_err(|e| io_out_err(fin, e))?;
                if let Err(e) = std::fs::rename(tmp, fin) {
                    let _ = std::fs::rename(&old, fin);
                    return Err(io_out_err(fin, e));
                }
                let _ = std::fs::remove_dir_all(&old);
            } else {
                std::fs::rename(tmp, fin).map_err(|e| io_out_err(fin, e))?;
            }
        }
        self.committed = true;
        Ok(())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.committed {
            self.discard();
        }
    }
}

/// Cancellation: partial outputs go first, before encoders are closed (x265
/// may take a while to drain its frame threads), then callers are told.
fn canceled(staging: &mut Staging, on_event: &mut dyn FnMut(Event)) -> EngineError {
    staging.discard();
    on_event(Event::Canceled);
    EngineError::Canceled
}

/// Parses a probe frame rate string (`"25"`, `"30000/1001"`).
fn parse_rate(s: &str) -> Option<Rational> {
    let (n, d) = s.split_once('/').unwrap_or((s, "1"));
    let (n, d) = (n.trim().parse::<i32>().ok()?, d.trim().parse::<i32>().ok()?);
    (n > 0 && d > 0).then(|| Rational::new(n, d))
}

/// What to do with a decoded frame.
enum Admit {
    /// Encode it: (PTS in the input time base, seconds since the origin).
    Use(i64, f64),
    /// Before the sample range.
    Skip,
    /// At or past the end of the sample range.
    End,
}

/// Decoded-frame timestamps: fills in missing ones (raw elementary streams
/// carry none) one nominal frame after the previous frame, and applies the
/// sample range.
struct FrameClock {
    origin: i64,
    end: Option<i64>,
    ranged: bool,
    /// One nominal frame in the input time base.
    step: i64,
    next: Option<i64>,
    /// End of the last admitted frame, seconds since the origin.
    last_seconds: f64,
    /// PTS of the last admitted frame.
    last: Option<i64>,
    /// Frames dropped for non-increasing timestamps.
    dropped: u64,
    tb: f64,
    fps: f64,
}

impl FrameClock {
    fn admit(&mut self, ts: Option<i64>) -> Admit {
        let ts = ts.unwrap_or_else(|| self.next.unwrap_or(self.origin));
        // A timestamp that does not increase (a transport stream
        // discontinuity, a duplicated frame) would make the muxers fail on
        // non-monotonic DTS: drop the frame, as ffmpeg's vfr mode does.
        if self.last.is_some_and(|last| ts <= last) {
            self.dropped += 1;
            return Admit::Skip;
        }
        self.next = Some(ts + self.step);
        if self.end.is_some_and(|end| ts >= end) {
            return Admit::End;
        }
        if self.ranged && ts < self.origin {
            return Admit::Skip;
        }
        let t = (ts - self.origin) as f64 * self.tb;
        self.last_seconds = self.last_seconds.max(t + 1.0 / self.fps);
        self.last = Some(ts);
        Admit::Use(ts, t)
    }
}

/// `PID-N`, unique within this machine's running processes.
fn unique_tag() -> String {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    format!("{}-{}", std::process::id(), COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
}

fn io_out_err(path: &Path, e: std::io::Error) -> EngineError {
    if e.raw_os_error() == Some(libc::ENOSPC) {
        EngineError::DiskFull { path: path.into() }
    } else {
        EngineError::OutputNotWritable { path: path.into(), cause: e.to_string() }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum MuxKind {
    File,
    HlsRung,
    HlsAudio,
    KeepMp4,
}

struct Mux {
    ctx: ff::format::context::Output,
    kind: MuxKind,
    /// Path that errors name (the final output path).
    report_path: PathBuf,
    header: Options,
    stream_tbs: Vec<Rational>,
    /// Origin (first timestamp of the source) per stream in the stream's time base.
    origins: Vec<i64>,
}

#[derive(Clone, Copy, Debug)]
enum Keyframing {
    /// Profile policy: keyframe at most every `max` seconds, scene cuts as the profile says.
    File { max_seconds: f64, scenecut: bool },
    /// HLS: a forced IDR every `segment` seconds, no scene cuts, closed GOPs.
    Hls { segment_seconds: f64 },
}

struct VideoSink {
    label: String,
    width: u32,
    height: u32,
    encoder: ff::codec::encoder::video::Encoder,
    report: EncoderReport,
    tb: Rational,
    /// (mux index, stream index) fed by this encoder.
    outputs: Vec<(usize, usize)>,
    /// Frame durations by PTS, to give encoded packets a duration.
    durations: HashMap<i64, i64>,
    default_duration: i64,
    keyframing: Keyframing,
    next_forced: u64,
    /// PTS of this output's first frame: the origin of the HLS keyframe grid.
    grid_origin: Option<i64>,
    upload: Option<HwUpload>,
    /// The software pixel format the filter graph delivers to this encoder.
    pix: ff::format::Pixel,
    peak_kbps: Option<u32>,
    /// Output bit depth (8 or 10).
    bit_depth: u8,
}

/// System-memory → device-surface upload for back-ends that need it (VAAPI).
struct HwUpload {
    frames: *mut ffi::AVBufferRef,
    _device: HwDevice,
}

impl HwUpload {
    fn new(
        device: HwDevice,
        sw: ff::format::Pixel,
        hw: ffi::AVPixelFormat,
        w: u32,
        h: u32,
    ) -> std::result::Result<Self, String> {
        // SAFETY: standard FFmpeg frames-context set-up; every pointer is checked.
        unsafe {
            let frames = ffi::av_hwframe_ctx_alloc(device.as_ptr());
            if frames.is_null() {
                return Err("cannot allocate hardware frames".into());
            }
            let fc = (*frames).data as *mut ffi::AVHWFramesContext;
            (*fc).format = hw;
            (*fc).sw_format = sw.into();
            (*fc).width = w as i32;
            (*fc).height = h as i32;
            (*fc).initial_pool_size = 20;
            let r = ffi::av_hwframe_ctx_init(frames);
            if r < 0 {
                let mut f = frames;
                ffi::av_buffer_unref(&mut f);
                return Err(ff::Error::from(r).to_string());
            }
            Ok(Self { frames, _device: device })
        }
    }

    fn upload(&self, src: &ff::frame::Video) -> std::result::Result<ff::frame::Video, ff::Error> {
        // SAFETY: `dst` is a fresh frame; av_hwframe_get_buffer fills it from our pool.
        unsafe {
            let mut dst = ff::frame::Video::empty();
            let r = ffi::av_hwframe_get_buffer(self.frames, dst.as_mut_ptr(), 0);
            if r < 0 {
                return Err(ff::Error::from(r));
            }
            let r = ffi::av_hwframe_transfer_data(dst.as_mut_ptr(), src.as_ptr(), 0);
            if r < 0 {
                return Err(ff::Error::from(r));
            }
            let r = ffi::av_frame_copy_props(dst.as_mut_ptr(), src.as_ptr());
            if r < 0 {
                return Err(ff::Error::from(r));
            }
            Ok(dst)
        }
    }
}

impl Drop for HwUpload {
    fn drop(&mut self) {
        // SAFETY: we own one reference.
        unsafe { ffi::av_buffer_unref(&mut self.frames) }
    }
}

enum AudioWork {
    Copy,
    Transcode {
        decoder: ff::codec::decoder::Audio,
        graph: ff::filter::Graph,
        encoder: ff::codec::encoder::audio::Encoder,
        /// What the graph's `abuffer` was configured with.
        graph_in: AudioInput,
        /// The encoder's side of the graph (the same for every rebuild).
        graph_out: AudioOutput,
        /// End of the last frame sent to the encoder, in its time base (1/rate).
        next_pts: Option<i64>,
    },
}

/// Decoded audio as an `abuffer` sees it. Broadcast sources change it
/// mid-stream (AC-3 switching between 2.0 and 5.1, a new sample rate).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct AudioInput {
    format: ff::format::Sample,
    rate: u32,
    /// Never empty: an unspecified layout becomes the default for the channel count.
    layout: ff::ChannelLayout,
}

impl AudioInput {
    fn of_frame(frame: &ff::frame::Audio) -> Self {
        AudioInput {
            format: frame.format(),
            rate: frame.rate(),
            layout: known_layout(frame.channel_layout(), frame.channels()),
        }
    }
}

fn known_layout(layout: ff::ChannelLayout, channels: u16) -> ff::ChannelLayout {
    if layout.bits() == 0 { ff::ChannelLayout::default(i32::from(channels)) } else { layout }
}

/// The encoder's side of an audio graph: fltp at the encoder's rate and layout, in frames of its size.
#[derive(Clone, Copy, Debug)]
struct AudioOutput {
    rate: u32,
    layout: ff::ChannelLayout,
    frame_size: u32,
}

/// `abuffer` (decoded audio, timestamps in `in_tb`) → resample, convert and
/// cut into encoder frames → `abuffersink`. Used at open and whenever the
/// decoded format changes.
fn audio_graph(input: &Path, in_tb: Rational, src: AudioInput, out: AudioOutput) -> Result<ff::filter::Graph> {
    let mut graph = ff::filter::Graph::new();
    let args = format!(
        "time_base={}/{}:sample_rate={}:sample_fmt={}:channel_layout=0x{:x}",
        in_tb.numerator(),
        in_tb.denominator(),
        src.rate,
        src.format.name(),
        src.layout.bits()
    );
    graph
        .add(&ff::filter::find("abuffer").expect("abuffer"), "in", &args)
        .map_err(fferr(input, "audio filter source"))?;
    graph
        .add(&ff::filter::find("abuffersink").expect("abuffersink"), "out", "")
        .map_err(fferr(input, "audio filter sink"))?;
    let spec = format!(
        "aresample={},aformat=sample_fmts=fltp:channel_layouts=0x{:x},asetnsamples=n={}:p=0",
        out.rate,
        out.layout.bits(),
        out.frame_size
    );
    graph
        .output("in", 0)
        .and_then(|p| p.input("out", 0))
        .and_then(|p| p.parse(&spec))
        .map_err(|e| EngineError::Internal(format!("audio filter `{spec}`: {e}")))?;
    graph.validate().map_err(|e| EngineError::Internal(format!("audio filter `{spec}`: {e}")))?;
    Ok(graph)
}

struct AudioPath {
    /// True for the HLS audio rendition.
    hls: bool,
    /// HLS only: packets read before the first video frame, waiting for it.
    pending: Vec<ff::Packet>,
    source_index: usize,
    source_tb: Rational,
    work: AudioWork,
    outputs: Vec<(usize, usize)>,
}

/// AAC sampling frequencies (ISO/IEC 14496-3 §1.6.3.4, Table 1.18).
const AAC_RATES: &[u32] = &[96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000];

/// Audio codecs an MP4 keeps as they are (ISO/IEC 14496-14 and the
/// registered MP4 sample entries: `mp4a`, `alac`, `ac-3`, `ec-3`, `Opus`).
const MP4_AUDIO_COPY: &[&str] = &["aac", "alac", "ac3", "eac3", "opus"];

fn fferr<'a>(input: &'a Path, what: &str) -> impl Fn(ff::Error) -> EngineError + 'a {
    let what = what.to_string();
    move |e| EngineError::from_ffmpeg(input, None, &what, e)
}

fn rat(p: (i32, i32)) -> Rational {
    Rational::new(p.0, p.1)
}

/// Range to encode in seconds from the start (sample encodes), else everything.
pub(crate) type TimeRange = Option<(f64, f64)>;

/// The real work: one decode feeding every output. Returns the output
/// reports, the main output first.
#[allow(clippy::too_many_arguments)]
pub(crate) fn transcode(
    req: &EncodeRequest,
    info: &MediaInfo,
    video: &VideoStream,
    profile: &Profile,
    range: TimeRange,
    keep: Option<KeepRule>,
    cancel: &CancelFlag,
    on_event: &mut dyn FnMut(Event),
    notices: &mut Vec<String>,
) -> Result<Transcoded> {
    let input = req.input.as_path();
    let mut ictx = probe::open_input(input)?;
    let vindex = video.index;
    let in_stream = ictx.stream(vindex).ok_or_else(|| EngineError::Internal("video stream vanished".into()))?;
    let in_tb = in_stream.time_base();
    let (in_stream_start, in_stream_duration) = (in_stream.start_time(), in_stream.duration());
    let in_params = in_stream.parameters();
    // SAFETY: the stream pointer stays valid while `ictx` lives (used once, below).
    let in_stream_ptr = unsafe { *(*ictx.as_ptr()).streams.add(vindex) };
    // The container's pixel aspect ratio (MOV `pasp`, MKV display size) wins
    // over the bitstream's, as players do.
    // SAFETY: pointers from an open input context and its stream.
    let sar = Rational::from(unsafe {
        ffi::av_guess_sample_aspect_ratio(ictx.as_mut_ptr(), in_stream_ptr, std::ptr::null_mut())
    });
    let display = plan::display_size(video.width, video.height, (sar.numerator(), sar.denominator()), video.rotation);
    // Every picture this job writes, checked before anything is decoded;
    // their sum sets what each encoder may hold (see `budget`).
    let source_limits = limits::source_limits();
    limits::check_source(input, video.width, video.height, source_limits)?;
    let ladder = req.hls.as_ref().map(|h| plan::ladder(display, &h.renditions));
    let pictures = JobPictures {
        file: req.file.as_ref().map(|_| (profile.codec, plan::output_size(display, req.target_height))),
        rungs: req.hls.as_ref().zip(ladder.as_ref()).map(|(h, (rungs, _))| (h.codec, rungs.clone())),
    };
    let samples = limits::check_job(input, display, &pictures)?;
    let budget = Budget::for_job(samples, std::thread::available_parallelism().map_or(1, |n| n.get()));
    let mut decoder = {
        let mut ctx = ff::codec::context::Context::from_parameters(in_params).map_err(fferr(input, "video decoder"))?;
        // SAFETY: plain field stores before open: the thread count (0 = one
        // per core, at most 16 in libavcodec), and the largest picture the
        // decoder may allocate (a stream that grows mid-way is refused).
        unsafe {
            (*ctx.as_mut_ptr()).thread_count = 0;
            (*ctx.as_mut_ptr()).pkt_timebase = in_tb.into();
            (*ctx.as_mut_ptr()).max_pixels = source_limits.max_samples.min(i32::MAX as u64) as i64;
        }
        ctx.decoder().video().map_err(|e| EngineError::InputUnsupported {
            path: input.into(),
            cause: format!("cannot decode {} video: {e}", video.codec),
        })?
    };
    // The nominal rate (the probe's `frame_rate`, libavformat's r_frame_rate)
    // is the rate the encoders are told and HLS declares: for variable frame
    // rate sources it is the highest rate that occurs (RFC 8216 §4.3.4.2
    // FRAME-RATE). The average rate only estimates the frame count.
    let average = (video.frame_rate.0 > 0 && video.frame_rate.1 > 0).then(|| rat(video.frame_rate));
    let frame_rate = info.frame_rate.as_deref().and_then(parse_rate).or(average).unwrap_or(Rational::new(25, 1));
    let fps = f64::from(frame_rate);
    let average_fps = average.map_or(fps, f64::from);
    // Origin: every output timestamp is shifted so the source's first timestamp becomes 0.
    // A sample range is in seconds from that start (a broadcast capture may
    // start at 19207 s).
    // SAFETY: plain field read on an open input context.
    let container_start = match unsafe { (*ictx.as_ptr()).start_time } {
        ffi::AV_NOPTS_VALUE => 0,
        st => st,
    };
    let origin_us = container_start + range.map_or(0, |(start, _)| (start * 1e6) as i64);
    if range.is_some() {
        ictx.seek(origin_us, ..origin_us).map_err(fferr(input, "seek"))?;
    }
    // Where the video should end, seconds after the origin, to tell a
    // truncated file from a short one: the video stream's own start and
    // duration, else the container's duration unless libavformat only
    // estimated it from the bit rate.
    let expected_video_end = {
        let tb = f64::from(in_tb);
        let (start, duration) = (in_stream_start, in_stream_duration);
        if duration > 0 {
            let start_s =
                if start == ffi::AV_NOPTS_VALUE { 0.0 } else { start as f64 * tb - container_start as f64 / 1e6 };
            Some(start_s + duration as f64 * tb)
        } else {
            // SAFETY: plain field read on an open input context.
            let method = unsafe { (*ictx.as_ptr()).duration_estimation_method };
            (method != ffi::AVDurationEstimationMethod::AVFMT_DURATION_FROM_BITRATE && info.duration_seconds > 0.0)
                .then_some(info.duration_seconds)
        }
    };

    let mut staging = Staging::new();
    let mut muxes: Vec<Mux> = Vec::new();
    let mut sinks: Vec<VideoSink> = Vec::new();

    // ---- Video sinks and their muxers -------------------------------------------------
    let bit_depth = profile.bit_depth;
    let filters = VideoFilters::for_source(video);
    // The time base leaving the filter graph: bwdif (like yadif) halves it so
    // that field-rate output stays representable; the other filters keep it.
    // Checked against the configured graph below.
    let out_tb = if filters.deinterlace { in_tb * Rational::new(1, 2) } else { in_tb };
    let kf = profile
        .keyframes
        .clone()
        .ok_or_else(|| EngineError::Internal(format!("profile {} has no keyframes", profile.id)))?;
    let tc = info.timecode.clone();

    if let Some(f) = &req.file {
        let (w, h) = plan::output_size(display, req.target_height);
        let tmp = staging.add(&f.path, false)?;
        let (fmt, header) = match f.container {
            Container::Mp4 => ("mp4", vec![("movflags".to_string(), "+faststart".to_string())]),
            Container::Mkv => ("matroska", vec![]),
        };
        let ctx = ff::format::output_as(&tmp, fmt)
            .map_err(|e| EngineError::from_ffmpeg(input, Some(&f.path), "create output", e))?;
        muxes.push(Mux {
            ctx,
            kind: MuxKind::File,
            report_path: f.path.clone(),
            header,
            stream_tbs: vec![],
            origins: vec![],
        });
        let spec = SinkSpec {
            label: "file".into(),
            codec: profile.codec,
            bit_depth,
            size: (w, h),
            tb: out_tb,
            frame_rate,
            keyframing: Keyframing::File { max_seconds: kf.max_interval_seconds, scenecut: kf.scenecut },
            peak_kbps: None,
            budget,
        };
        let candidates = encoder::candidates(req.encoder, profile.codec)?.0;
        let sink = open_sink(spec, profile, video, &candidates, req.encoder, on_event, notices)?;
        sinks.push(sink);
        let si = sinks.len() - 1;
        add_video_stream(&mut muxes, 0, &mut sinks[si], tc.as_deref().filter(|_| f.container == Container::Mp4))?;
    }

    let mut hls_dir_tmp = None;
    if let Some(h) = &req.hls {
        let (rungs, dropped) = ladder.clone().unwrap_or_default();
        if !dropped.is_empty() {
            let n = format!(
                "HLS rungs taller than the source ({}p) dropped: {}",
                display.1,
                dropped.iter().map(|d| format!("{d}p")).collect::<Vec<_>>().join(", ")
            );
            notices.push(n.clone());
            on_event(Event::Notice { message: n });
        }
        if let Some((keep_h, _)) = &h.keep_mp4
            && !rungs.iter().any(|r| r.1 == *keep_h)
        {
            return Err(EngineError::Usage(format!(
                "--keep-mp4 {keep_h}: no such rung (rungs: {})",
                rungs.iter().map(|r| r.1.to_string()).collect::<Vec<_>>().join(", ")
            )));
        }
        let hls_depth = if h.codec == VideoCodec::H264 { 8 } else { bit_depth };
        // Hardware detection opens devices: once per ladder, not per rung.
        let candidates = encoder::candidates(req.encoder, h.codec)?.0;
        let dir = staging.add(&h.dir, true)?;
        for &(w, hh) in &rungs {
            let rung_dir = dir.join(format!("{hh}p"));
            std::fs::create_dir(&rung_dir).map_err(|e| io_out_err(&h.dir, e))?;
            let mi = push_hls_mux(&mut muxes, &rung_dir, MuxKind::HlsRung, h.segment_seconds, &h.dir, input)?;
            let peak = plan::rung_peak_kbps(h.codec, hh);
            let spec = SinkSpec {
                label: format!("hls {hh}p"),
                codec: h.codec,
                bit_depth: hls_depth,
                size: (w, hh),
                tb: out_tb,
                frame_rate,
                keyframing: Keyframing::Hls { segment_seconds: h.segment_seconds },
                peak_kbps: Some(peak),
                budget,
            };
            let mut sink = open_sink(spec, profile, video, &candidates, req.encoder, on_event, notices)?;
            add_video_stream(&mut muxes, mi, &mut sink, None)?;
            if let Some((keep_h, keep_path)) = &h.keep_mp4
                && *keep_h == hh
            {
                let tmp = staging.add(keep_path, false)?;
                let ctx = ff::format::output_as(&tmp, "mp4")
                    .map_err(|e| EngineError::from_ffmpeg(input, Some(keep_path), "create output", e))?;
                muxes.push(Mux {
                    ctx,
                    kind: MuxKind::KeepMp4,
                    report_path: keep_path.clone(),
                    header: vec![("movflags".into(), "+faststart".into())],
                    stream_tbs: vec![],
                    origins: vec![],
                });
                let ki = muxes.len() - 1;
                add_video_stream(&mut muxes, ki, &mut sink, tc.as_deref())?;
            }
            sinks.push(sink);
        }
        hls_dir_tmp = Some(dir);
    }

    // ---- Audio paths -------------------------------------------------------------------
    let mut audio_paths: Vec<AudioPath> = Vec::new();
    if req.audio && range.is_none() {
        if let Some(f) = &req.file {
            // The readable audio of the encoded program (warned about in `run`).
            for a in streams::file_audio(info).0 {
                let copy = f.container == Container::Mkv || MP4_AUDIO_COPY.contains(&a.codec.as_str());
                let stream = ictx
                    .stream(a.index)
                    .ok_or_else(|| EngineError::Internal(format!("audio stream {} vanished", a.index)))?;
                let path = if copy {
                    AudioPath {
                        hls: false,
                        pending: vec![],
                        source_index: a.index,
                        source_tb: stream.time_base(),
                        work: AudioWork::Copy,
                        outputs: vec![],
                    }
                } else {
                    open_audio_transcode(input, &stream, None)?
                };
                audio_paths.push(path);
                let pi = audio_paths.len() - 1;
                let (lang, disp) = (a.language.clone(), stream.disposition().bits());
                add_audio_stream(&mut muxes, 0, &mut audio_paths[pi], &ictx, lang.as_deref(), disp)?;
            }
        }
        if let (Some(_), Some(dir)) = (&req.hls, &hls_dir_tmp) {
            let chosen = streams::hls_audio(info).0;
            if let Some(a) = chosen {
                let stream = ictx
                    .stream(a.index)
                    .ok_or_else(|| EngineError::Internal(format!("audio stream {} vanished", a.index)))?;
                let mut path = open_audio_transcode(input, &stream, Some(2))?;
                let adir = dir.join("audio");
                std::fs::create_dir(&adir).map_err(|e| io_out_err(&req.hls.as_ref().unwrap().dir, e))?;
                let hls = req.hls.as_ref().unwrap();
                let mi = push_hls_mux(&mut muxes, &adir, MuxKind::HlsAudio, hls.segment_seconds, &hls.dir, input)?;
                add_audio_stream(&mut muxes, mi, &mut path, &ictx, a.language.as_deref(), 1)?;
                if let Some(ki) = muxes.iter().position(|m| m.kind == MuxKind::KeepMp4) {
                    add_audio_stream(&mut muxes, ki, &mut path, &ictx, a.language.as_deref(), 1)?;
                }
                audio_paths.push(path);
            }
        }
    }

    // ---- Headers -------------------------------------------------------------------------
    for m in &mut muxes {
        let header = m.header.clone();
        ffutil::write_header(&mut m.ctx, &header).map_err(|e| match e {
            ffutil::HeaderError::UnknownOptions(keys) => {
                EngineError::Internal(format!("unknown muxer option(s): {}", keys.join(", ")))
            }
            ffutil::HeaderError::Ffmpeg(e) => EngineError::from_ffmpeg(input, Some(&m.report_path), "write header", e),
        })?;
        m.stream_tbs = m.ctx.streams().map(|s| s.time_base()).collect();
        m.origins = m.stream_tbs.iter().map(|tb| origin_us.rescale(Rational::new(1, 1_000_000), *tb)).collect();
    }

    // ---- Filter graph --------------------------------------------------------------------
    let mut graph = ff::filter::Graph::new();
    let src_args = format!(
        "video_size={}x{}:pix_fmt={}:time_base={}/{}:pixel_aspect={}/{}",
        video.width,
        video.height,
        ffi::AVPixelFormat::from(decoder.format()) as i32,
        in_tb.numerator(),
        in_tb.denominator(),
        sar.numerator().max(1),
        sar.denominator().max(1),
    );
    graph
        .add(&ff::filter::find("buffer").expect("buffer filter"), "in", &src_args)
        .map_err(fferr(input, "filter source"))?;
    for i in 0..sinks.len() {
        graph
            .add(&ff::filter::find("buffersink").expect("buffersink filter"), &format!("out{i}"), "")
            .map_err(fferr(input, "filter sink"))?;
    }
    let pix_names: Vec<String> = sinks.iter().map(|s| pixel_name(s.pix)).collect();
    let sink_filters: Vec<plan::SinkFilter> = sinks
        .iter()
        .zip(&pix_names)
        .map(|(s, pix_fmt)| plan::SinkFilter {
            width: s.width,
            height: s.height,
            pix_fmt,
            tone_map: video.hdr.is_some() && s.bit_depth == 8,
        })
        .collect();
    let spec = plan::graph_spec(&filters.chain(), &sink_filters);
    {
        let mut parser = graph.output("in", 0).map_err(fferr(input, "filter graph"))?;
        for i in 0..sinks.len() {
            parser = parser.input(&format!("out{i}"), 0).map_err(fferr(input, "filter graph"))?;
        }
        parser.parse(&spec).map_err(|e| EngineError::Internal(format!("filter graph `{spec}`: {e}")))?;
    }
    graph.validate().map_err(|e| EngineError::Internal(format!("filter graph `{spec}`: {e}")))?;
    for i in 0..sinks.len() {
        let tb = graph.get(&format!("out{i}")).expect("sink").sink().time_base();
        if tb != out_tb {
            return Err(EngineError::Internal(format!(
                "filter graph time base {tb} differs from the expected {out_tb}"
            )));
        }
    }

    // ---- Main loop -----------------------------------------------------------------------
    on_event(Event::Stage { stage: Stage::Encoding });
    let total_seconds = match range {
        Some((s, e)) => e - s,
        None => info.duration_seconds,
    };
    let frames_total = (total_seconds > 0.0).then(|| (total_seconds * average_fps).round() as u64);
    let mut progress = Progress::new(total_seconds, frames_total);
    let origin_in = origin_us.rescale(Rational::new(1, 1_000_000), in_tb);
    let end_in = range.map(|(s, e)| (origin_us + ((e - s) * 1e6) as i64).rescale(Rational::new(1, 1_000_000), in_tb));
    let mut clock = FrameClock {
        origin: origin_in,
        end: end_in,
        ranged: range.is_some(),
        step: (1.0 / (fps * f64::from(in_tb))).round().max(1.0) as i64,
        next: None,
        last_seconds: 0.0,
        last: None,
        dropped: 0,
        tb: f64::from(in_tb),
        fps,
    };
    let mut decoded = ff::frame::Video::empty();
    let mut filtered = ff::frame::Video::empty();
    let mut decode_errors = 0u32;
    let mut read_errors = 0u32;
    let mut video_done = false;
    let mut ctx = LoopCtx {
        input,
        in_tb,
        muxes: &mut muxes,
        sinks: &mut sinks,
        graph: &mut graph,
        video_start_us: None,
        video_in: None,
    };

    loop {
        if cancel.is_canceled() {
            return Err(canceled(&mut staging, on_event));
        }
        // A fresh packet per read: ffmpeg-next's `Packet::read` does not
        // unreference the previous packet, so reusing one would keep every
        // packet of the source in memory (libavcodec 59).
        let mut packet = ff::Packet::empty();
        match packet.read(&mut ictx) {
            Ok(()) => read_errors = 0,
            Err(ff::Error::Eof) => break,
            Err(e) => {
                read_errors += 1;
                if read_errors > 100 {
                    return Err(EngineError::InputUnsupported {
                        path: input.into(),
                        cause: format!("unreadable data: {e}"),
                    });
                }
                continue;
            }
        }
        let si = packet.stream();
        if si == vindex {
            if video_done {
                continue;
            }
            if decoder.send_packet(&packet).is_err() {
                decode_errors += 1;
                continue;
            }
            while decoder.receive_frame(&mut decoded).is_ok() {
                match clock.admit(decoded.timestamp().or(decoded.pts())) {
                    Admit::End => {
                        video_done = true;
                        break;
                    }
                    Admit::Skip => {}
                    Admit::Use(ts, t) => {
                        ctx.video_start_us.get_or_insert(ts.rescale(in_tb, Rational::new(1, 1_000_000)));
                        decoded.set_pts(Some(ts));
                        ctx.push_video(&decoded, &mut filtered)?;
                        progress.frame(t, on_event);
                    }
                }
            }
        } else {
            // The same source stream may feed several paths (file track and HLS rendition).
            for p in audio_paths.iter_mut().filter(|p| p.source_index == si) {
                ctx.push_audio(p, &packet)?;
            }
        }
    }

    // ---- Flush ---------------------------------------------------------------------------
    let _ = decoder.send_eof();
    while !video_done && decoder.receive_frame(&mut decoded).is_ok() {
        match clock.admit(decoded.timestamp().or(decoded.pts())) {
            Admit::End => break,
            Admit::Skip => {}
            Admit::Use(ts, t) => {
                decoded.set_pts(Some(ts));
                ctx.push_video(&decoded, &mut filtered)?;
                progress.frame(t, on_event);
            }
        }
    }
    let last_video_seconds = clock.last_seconds;
    if clock.dropped > 0 {
        let n = format!("{} video frame(s) with repeated or backward timestamps were dropped", clock.dropped);
        notices.push(n.clone());
        on_event(Event::Notice { message: n });
    }
    if progress.frames == 0 {
        return Err(EngineError::InputUnsupported {
            path: input.into(),
            cause: format!("no decodable video frames ({decode_errors} packets failed to decode)"),
        });
    }
    if let (None, Some(expected)) = (range, expected_video_end) {
        let missing = expected - last_video_seconds;
        if missing > (expected * 0.05).max(1.0) {
            return Err(EngineError::InputUnsupported {
                path: input.into(),
                cause: format!("truncated or corrupt: video data ends at {last_video_seconds:.1} s of {expected:.1} s"),
            });
        }
    }
    ctx.graph.get("in").expect("source").source().flush().map_err(fferr(input, "filter flush"))?;
    ctx.drain_filters(&mut filtered)?;
    for i in 0..ctx.sinks.len() {
        ctx.sinks[i].encoder.send_eof().map_err(fferr(input, "encoder flush"))?;
        ctx.drain_encoder(i)?;
    }
    for p in audio_paths.iter_mut() {
        ctx.flush_audio(p)?;
    }
    if cancel.is_canceled() {
        return Err(canceled(&mut staging, on_event));
    }

    on_event(Event::Stage { stage: Stage::Muxing });
    for m in ctx.muxes.iter_mut() {
        m.ctx.write_trailer().map_err(|e| EngineError::from_ffmpeg(input, Some(&m.report_path), "finish output", e))?;
    }

    // ---- HLS master playlist ---------------------------------------------------------------
    let mut hls_summary = None;
    if let (Some(h), Some(dir)) = (&req.hls, &hls_dir_tmp) {
        hls_summary = Some(finish_hls(
            req.file.is_some(),
            dir,
            &sinks,
            &audio_paths,
            info,
            frame_rate,
            h.codec,
            bit_depth,
            video,
        )?);
    }

    // ---- Reports -------------------------------------------------------------------------------
    let mut reports = Vec::new();
    let audio_tracks_in = |kind: MuxKind| {
        muxes
            .iter()
            .find(|m| m.kind == kind)
            .map_or(0, |m| m.ctx.streams().filter(|s| s.parameters().medium() == ff::media::Type::Audio).count())
    };
    let file_audio = audio_tracks_in(MuxKind::File);
    let hls_audio = audio_tracks_in(MuxKind::HlsAudio);
    let keep_audio = audio_tracks_in(MuxKind::KeepMp4);
    let staged: Vec<(PathBuf, PathBuf)> = staging.entries.iter().map(|(t, f, _)| (t.clone(), f.clone())).collect();
    let tmp_of =
        |fin: &Path| staged.iter().find(|(_, f)| f == fin).map(|(t, _)| t.clone()).unwrap_or_else(|| fin.to_path_buf());
    if let Some(f) = &req.file {
        let s = &sinks[0];
        reports.push(OutputReport {
            kind: "file".into(),
            path: f.path.clone(),
            bytes: std::fs::metadata(tmp_of(&f.path)).map(|m| m.len()).unwrap_or(0),
            duration_seconds: measured_duration(&tmp_of(&f.path)),
            width: s.width,
            height: s.height,
            audio_tracks: file_audio,
            encoder: Some(s.report.clone()),
            renditions: vec![],
        });
    }
    if let (Some(h), Some(dir), Some(summary)) = (&req.hls, &hls_dir_tmp, hls_summary) {
        let first = if req.file.is_some() { 1 } else { 0 };
        let rungs: Vec<RungReport> = summary
            .into_iter()
            .enumerate()
            .map(|(i, r)| {
                let s = &sinks[first + i];
                RungReport {
                    width: s.width,
                    height: s.height,
                    playlist: h.dir.join(format!("{}p", s.height)).join("index.m3u8"),
                    bandwidth: r.0,
                    average_bandwidth: r.1,
                    codecs: r.2,
                    peak_kbps_cap: s.peak_kbps.unwrap_or(0),
                    encoder: s.report.clone(),
                }
            })
            .collect();
        reports.push(OutputReport {
            kind: "hls".into(),
            path: h.dir.join("master.m3u8"),
            bytes: dir_size(dir),
            duration_seconds: measured_duration(&dir.join("master.m3u8")),
            width: rungs.first().map_or(0, |r| r.width),
            height: rungs.first().map_or(0, |r| r.height),
            audio_tracks: hls_audio,
            encoder: rungs.first().map(|r| r.encoder.clone()),
            renditions: rungs,
        });
        if let Some((kh, kp)) = &h.keep_mp4 {
            let s = sinks.iter().find(|s| s.height == *kh && s.label.starts_with("hls")).expect("keep rung exists");
            reports.push(OutputReport {
                kind: "hls_mp4".into(),
                path: kp.clone(),
                bytes: std::fs::metadata(tmp_of(kp)).map(|m| m.len()).unwrap_or(0),
                duration_seconds: measured_duration(&tmp_of(kp)),
                width: s.width,
                height: s.height,
                audio_tracks: keep_audio,
                encoder: Some(s.report.clone()),
                renditions: vec![],
            });
        }
    }
    drop(muxes);
    if let (Some(rule), Some(main)) = (keep, reports.first()) {
        let saved_percent = (1.0 - main.bytes as f64 / rule.reference_bytes.max(1) as f64) * 100.0;
        if saved_percent < rule.min_saving_percent {
            staging.discard();
            return Ok(Transcoded::NotSmaller { saved_percent });
        }
    }
    staging.commit()?;
    Ok(Transcoded::Written(reports))
}

/// `sophon-auto`'s last check, made before outputs are committed.
#[derive(Clone, Copy, Debug)]
pub(crate) struct KeepRule {
    /// Keep the encode only if it saves at least this much, 0..100.
    pub min_saving_percent: f64,
    /// Bytes the main output is compared with.
    pub reference_bytes: u64,
}

/// What [`transcode`] did.
pub(crate) enum Transcoded {
    /// Outputs written, the main one first.
    Written(Vec<OutputReport>),
    /// The [`KeepRule`] failed: nothing was written.
    NotSmaller {
        /// The saving the encode would have made, percent.
        saved_percent: f64,
    },
}

/// Writes the master playlist of an HLS package from the rungs' measured
/// segments. Returns (BANDWIDTH, AVERAGE-BANDWIDTH, CODECS) per rung, in
/// rung order.
#[allow(clippy::too_many_arguments)]
fn finish_hls(
    has_file: bool,
    dir: &Path,
    sinks: &[VideoSink],
    audio_paths: &[AudioPath],
    info: &MediaInfo,
    frame_rate: Rational,
    codec: VideoCodec,
    bit_depth: u8,
    video: &VideoStream,
) -> Result<Vec<(u64, u64, String)>> {
    use crate::hls::{self, AudioRenditionSpec, VariantSpec, VideoRange};
    let rungs = &sinks[usize::from(has_file)..];
    let range = match (bit_depth, codec, video.hdr.as_deref()) {
        (10, VideoCodec::Hevc, Some("pq")) => VideoRange::Pq,
        (10, VideoCodec::Hevc, Some("hlg")) => VideoRange::Hlg,
        _ => VideoRange::Sdr,
    };
    let mut variants = Vec::new();
    for s in rungs {
        let extradata = encoder_extradata(&s.encoder);
        let codecs = match codec {
            VideoCodec::H264 => hls::avc_codec_string(&extradata),
            VideoCodec::Hevc => hls::hevc_codec_string(&extradata),
        }
        .ok_or_else(|| EngineError::Internal(format!("cannot read the {} parameter sets for CODECS", s.label)))?;
        variants.push(VariantSpec {
            dir_name: format!("{}p", s.height),
            width: s.width,
            height: s.height,
            frame_rate: f64::from(frame_rate),
            video_codec: codecs,
            video_range: Some(range),
        });
    }
    // The HLS audio rendition is the transcoding path whose outputs include an HLS mux.
    // The HLS rendition is the (always transcoded) path marked `hls`.
    let hls_audio = audio_paths.iter().find_map(|p| match &p.work {
        AudioWork::Transcode { encoder, .. } if p.hls => Some((p.source_index, u32::from(encoder.channels()))),
        _ => None,
    });
    let audio = hls_audio.map(|(source_index, channels)| {
        let src = info.audio.iter().find(|a| a.index == source_index);
        AudioRenditionSpec {
            dir_name: "audio".into(),
            codec: hls::aac_codec_string(1),
            language: src.and_then(|a| a.language.clone()),
            name: src.and_then(|a| a.language.clone()).map_or_else(|| "Audio".to_string(), |l| format!("Audio ({l})")),
            channels,
        }
    });
    let summary = hls::write_master(dir, &variants, audio.as_ref())?;
    Ok(variants
        .iter()
        .map(|v| {
            let s = summary.variants.iter().find(|x| x.dir_name == v.dir_name);
            (s.map_or(0, |s| s.bandwidth), s.map_or(0, |s| s.average_bandwidth), {
                let mut c = v.video_codec.clone();
                if let Some(a) = &audio {
                    c.push(',');
                    c.push_str(&a.codec);
                }
                c
            })
        })
        .collect())
}

/// The encoder's global header (SPS/PPS/VPS), for codec strings.
fn encoder_extradata(enc: &ff::codec::encoder::video::Encoder) -> Vec<u8> {
    // SAFETY: extradata/extradata_size describe one buffer owned by the open encoder.
    unsafe {
        let ctx = enc.as_ptr();
        if (*ctx).extradata.is_null() || (*ctx).extradata_size <= 0 {
            return Vec::new();
        }
        std::slice::from_raw_parts((*ctx).extradata, (*ctx).extradata_size as usize).to_vec()
    }
}

fn pixel_name(p: ff::format::Pixel) -> String {
    let d = p.descriptor().map(|d| d.name().to_string());
    d.unwrap_or_else(|| "yuv420p".into())
}

fn dir_size(dir: &Path) -> u64 {
    let mut total = 0;
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            total += if p.is_dir() { dir_size(&p) } else { e.metadata().map(|m| m.len()).unwrap_or(0) };
        }
    }
    total
}

/// Duration of a written output as libavformat reads it, seconds (0 on failure).
pub fn measured_duration(path: &Path) -> f64 {
    match ff::format::input(&path) {
        Ok(ctx) if ctx.duration() > 0 => ctx.duration() as f64 / 1e6,
        _ => 0.0,
    }
}

fn push_hls_mux(
    muxes: &mut Vec<Mux>,
    dir: &Path,
    kind: MuxKind,
    segment_seconds: f64,
    report: &Path,
    input: &Path,
) -> Result<usize> {
    let playlist = dir.join("index.m3u8");
    let ctx = ff::format::output_as(&playlist, "hls")
        .map_err(|e| EngineError::from_ffmpeg(input, Some(report), "create HLS output", e))?;
    let header = vec![
        ("hls_time".to_string(), format!("{segment_seconds}")),
        ("hls_playlist_type".into(), "vod".into()),
        ("hls_segment_type".into(), "fmp4".into()),
        ("hls_fmp4_init_filename".into(), "init.mp4".into()),
        ("hls_segment_filename".into(), dir.join("seg_%05d.m4s").to_string_lossy().into_owned()),
        ("hls_flags".into(), "independent_segments".into()),
        // Every track starts at presentation time 0 with no edit list: video
        // with negative composition offsets (trun version 1), so its first
        // frame is shown at its decode time, as CMAF (ISO/IEC 23000-19) lays
        // out fMP4 tracks (what FFmpeg's own `+cmaf` movflag implies).
        // Without it the B-frame delay (80 ms for two B-frames at 25 fps)
        // sits between the fragment's decode time, which players such as
        // hls.js take as the start, and the first picture, while the audio
        // starts at 0: a hole at the start of every package.
        ("hls_segment_options".into(), "movflags=+negative_cts_offsets:use_editlist=0".into()),
    ];
    muxes.push(Mux { ctx, kind, report_path: report.to_path_buf(), header, stream_tbs: vec![], origins: vec![] });
    Ok(muxes.len() - 1)
}

fn add_video_stream(muxes: &mut [Mux], mi: usize, sink: &mut VideoSink, timecode: Option<&str>) -> Result<()> {
    let mux = &mut muxes[mi];
    let is_mkv = mux.ctx.format().name() == "matroska";
    let mut st =
        mux.ctx.add_stream_with(&sink.encoder).map_err(|e| EngineError::Internal(format!("add video stream: {e}")))?;
    st.set_time_base(sink.tb);
    st.set_avg_frame_rate(sink.encoder.frame_rate());
    // SAFETY: plain field store on a valid stream. The one video track is the
    // default track (Matroska players otherwise may not select it).
    unsafe { (*st.as_mut_ptr()).disposition = ffi::AV_DISPOSITION_DEFAULT };
    if sink.encoder.id() == ff::codec::Id::HEVC && !is_mkv {
        ffutil::set_hvc1_tag(&mut st);
    }
    if let Some(tc) = timecode {
        let mut md = ff::Dictionary::new();
        md.set("timecode", tc);
        st.set_metadata(md);
    }
    let idx = st.index();
    sink.outputs.push((mi, idx));
    Ok(())
}

fn add_audio_stream(
    muxes: &mut [Mux],
    mi: usize,
    path: &mut AudioPath,
    ictx: &ff::format::context::Input,
    language: Option<&str>,
    disposition: i32,
) -> Result<()> {
    let mux = &mut muxes[mi];
    let mut st = match &path.work {
        AudioWork::Copy => {
            let src = ictx.stream(path.source_index).expect("audio stream");
            let mut st = mux
                .ctx
                .add_stream(ff::encoder::find(ff::codec::Id::None))
                .map_err(|e| EngineError::Internal(format!("add audio stream: {e}")))?;
            st.set_parameters(src.parameters());
            // SAFETY: clear the source's codec tag so the muxer picks its own.
            unsafe { (*(*st.as_mut_ptr()).codecpar).codec_tag = 0 };
            st.set_time_base(path.source_tb);
            st
        }
        AudioWork::Transcode { encoder, .. } => {
            let mut st = mux
                .ctx
                .add_stream_with(encoder)
                .map_err(|e| EngineError::Internal(format!("add audio stream: {e}")))?;
            st.set_time_base(encoder.time_base());
            st
        }
    };
    if let Some(l) = language {
        let mut md = ff::Dictionary::new();
        md.set("language", l);
        st.set_metadata(md);
    }
    // SAFETY: plain field store on a valid stream.
    unsafe { (*st.as_mut_ptr()).disposition = disposition };
    let idx = st.index();
    path.outputs.push((mi, idx));
    Ok(())
}

fn open_audio_transcode(input: &Path, stream: &ff::format::stream::Stream, channels: Option<u16>) -> Result<AudioPath> {
    let in_tb = stream.time_base();
    let mut ctx =
        ff::codec::context::Context::from_parameters(stream.parameters()).map_err(fferr(input, "audio decoder"))?;
    // SAFETY: set before open.
    unsafe { (*ctx.as_mut_ptr()).pkt_timebase = in_tb.into() };
    let decoder = ctx.decoder().audio().map_err(|e| EngineError::InputUnsupported {
        path: input.into(),
        cause: format!("cannot decode audio: {e}"),
    })?;
    let in_layout = known_layout(decoder.channel_layout(), decoder.channels());
    let out_channels = channels.unwrap_or_else(|| decoder.channels().min(8));
    let out_layout = if channels.is_none() && out_channels == decoder.channels() {
        in_layout
    } else {
        ff::ChannelLayout::default(i32::from(out_channels))
    };
    let rate = if AAC_RATES.contains(&decoder.rate()) && channels.is_none() {
        decoder.rate()
    } else if decoder.rate() == 44100 {
        44100
    } else {
        48000
    };
    let aac =
        ff::encoder::find_by_name("aac").ok_or_else(|| EngineError::Internal("FFmpeg has no aac encoder".into()))?;
    let mut enc =
        ff::codec::context::Context::new_with_codec(aac).encoder().audio().map_err(fferr(input, "aac encoder"))?;
    enc.set_rate(rate as i32);
    enc.set_channel_layout(out_layout);
    enc.set_channels(i32::from(out_channels));
    enc.set_format(ff::format::Sample::F32(ff::format::sample::Type::Planar));
    enc.set_time_base(Rational::new(1, rate as i32));
    let kbps = if out_channels <= 2 {
        128 * u32::from(out_channels.max(1)) / 2 + 32
    } else {
        (64 * u32::from(out_channels)).min(512)
    };
    enc.set_bit_rate(kbps as usize * 1000);
    ffutil::add_global_header(&mut enc);
    let encoder =
        ffutil::open_audio_encoder(enc, aac, &[]).map_err(|e| EngineError::Internal(format!("aac encoder: {e}")))?;
    let graph_in = AudioInput { format: decoder.format(), rate: decoder.rate(), layout: in_layout };
    let graph_out = AudioOutput { rate, layout: out_layout, frame_size: encoder.frame_size().max(1024) };
    let graph = audio_graph(input, in_tb, graph_in, graph_out)?;
    Ok(AudioPath {
        hls: channels.is_some(),
        pending: vec![],
        source_index: stream.index(),
        source_tb: in_tb,
        work: AudioWork::Transcode { decoder, graph, encoder, graph_in, graph_out, next_pts: None },
        outputs: vec![],
    })
}

/// What one video output needs from its encoder.
struct SinkSpec {
    /// Which output ("file", "hls 720p"), for events.
    label: String,
    codec: VideoCodec,
    /// 8 or 10.
    bit_depth: u8,
    /// (width, height) in pixels.
    size: (u32, u32),
    /// Encoder time base (the filter graph's output time base).
    tb: Rational,
    /// Nominal frame rate.
    frame_rate: Rational,
    keyframing: Keyframing,
    /// VBV peak cap, kbit/s (HLS rungs).
    peak_kbps: Option<u32>,
    /// What the encoder may hold (lookahead, frame threads).
    budget: Budget,
}

/// Opens the first of `candidates` (from [`encoder::candidates`]) that works
/// for `spec`, falling back (with `auto`) and reporting why.
fn open_sink(
    spec: SinkSpec,
    profile: &Profile,
    video: &VideoStream,
    candidates: &[(Backend, String)],
    pref: Preference,
    on_event: &mut dyn FnMut(Event),
    notices: &mut Vec<String>,
) -> Result<VideoSink> {
    let SinkSpec { ref label, codec, bit_depth, size: (width, height), tb, frame_rate, keyframing, peak_kbps, .. } =
        spec;
    let mut failures: Vec<String> = Vec::new();
    for &(backend, ref why) in candidates {
        let name = backend.encoder_name(codec);
        let reason = if failures.is_empty() { why.clone() } else { format!("{why}; {}", failures.join("; ")) };
        match try_open(&spec, profile, backend, video) {
            Ok(Opened { encoder: enc, options, upload, pix }) => {
                on_event(Event::Encoder { output: label.into(), encoder: name.into(), reason: reason.clone() });
                // One frame at the nominal rate, in the encoder time base.
                let default_duration = (f64::from(tb).recip() / f64::from(frame_rate)).round().max(1.0) as i64;
                return Ok(VideoSink {
                    label: label.clone(),
                    width,
                    height,
                    encoder: enc,
                    report: EncoderReport {
                        name: name.into(),
                        backend,
                        reason,
                        options: options.into_iter().map(|(name, value)| EncoderOption { name, value }).collect(),
                    },
                    tb,
                    outputs: vec![],
                    durations: HashMap::new(),
                    default_duration,
                    keyframing,
                    next_forced: 0,
                    grid_origin: None,
                    upload,
                    pix,
                    peak_kbps,
                    bit_depth,
                });
            }
            Err(e) => {
                if backend == Backend::Software {
                    return Err(EngineError::Encode {
                        path: PathBuf::from(&spec.label),
                        cause: format!("{name}: {e}"),
                    });
                }
                if pref != Preference::Auto {
                    return Err(EngineError::Usage(format!("{name} failed to open: {e}")));
                }
                let msg = format!("{name} failed to open ({e}), falling back");
                notices.push(msg.clone());
                on_event(Event::Notice { message: msg.clone() });
                failures.push(msg);
            }
        }
    }
    Err(EngineError::Internal(format!("no encoder could be opened: {}", failures.join("; "))))
}

/// An opened encoder with what was set on it.
struct Opened {
    encoder: ff::codec::encoder::video::Encoder,
    /// Every option set, for the report.
    options: Vec<(String, String)>,
    upload: Option<HwUpload>,
    /// The software pixel format it is fed.
    pix: ff::format::Pixel,
}

/// Builds the encoder options for `backend` from the profile and the
/// output's needs, and opens it. Returns the options as set (for the report).
fn try_open(
    spec: &SinkSpec,
    profile: &Profile,
    backend: Backend,
    video: &VideoStream,
) -> std::result::Result<Opened, String> {
    let &SinkSpec { codec, bit_depth, size: (width, height), tb, frame_rate, keyframing, peak_kbps, budget, .. } = spec;
    let name = backend.encoder_name(codec);
    let ffcodec = ff::encoder::find_by_name(name).ok_or_else(|| format!("{name} is not in this FFmpeg build"))?;
    let mut opts =
        profile.options_for(name).ok_or_else(|| format!("profile {} has no [encoders.{name}]", profile.id))?;
    let fps = f64::from(frame_rate);
    let (gop, scenecut, hls) = match keyframing {
        Keyframing::File { max_seconds, scenecut } => ((max_seconds * fps).round().max(1.0) as u32, scenecut, false),
        Keyframing::Hls { segment_seconds } => ((segment_seconds * fps).round().max(1.0) as u32, false, true),
    };
    let pix = backend.input_pixel(bit_depth);
    let mut ctx = ff::codec::context::Context::new_with_codec(ffcodec).encoder().video().map_err(|e| e.to_string())?;
    ctx.set_width(width);
    ctx.set_height(height);
    ctx.set_format(if backend.needs_upload() { ff::format::Pixel::VAAPI } else { pix });
    ctx.set_time_base(tb);
    ctx.set_frame_rate(Some(frame_rate));
    ctx.set_aspect_ratio(Rational::new(1, 1));
    ctx.set_gop(gop);
    // Add to the encoder's default flags (libx264's include +cgop: closed GOPs).
    ffutil::add_global_header(&mut ctx);
    // Color description: SDR outputs of HDR sources are BT.709; otherwise the source's.
    let tone_mapped = video.hdr.is_some() && bit_depth == 8;
    // What is set here is also reported, as `ffmpeg` options.
    let mut color_opts: Vec<(&str, String)> = Vec::new();
    if tone_mapped {
        color_opts.extend(["color_primaries", "color_trc", "colorspace"].map(|k| (k, "bt709".to_string())));
        ctx.set_color_primaries(ff::color::Primaries::BT709);
        ctx.set_color_transfer_characteristic(ff::color::TransferCharacteristic::BT709);
        ctx.set_colorspace(ff::color::Space::BT709);
    } else {
        if let Some((name, p)) = video.color_primaries.as_deref().and_then(|n| Some((n, primaries(n)?))) {
            ctx.set_color_primaries(p);
            color_opts.push(("color_primaries", name.to_string()));
        }
        if let Some((name, t)) = video.color_transfer.as_deref().and_then(|n| Some((n, transfer(n)?))) {
            ctx.set_color_transfer_characteristic(t);
            color_opts.push(("color_trc", name.to_string()));
        }
        if let Some((name, m)) = video.color_matrix.as_deref().and_then(|n| Some((n, matrix(n)?))) {
            ctx.set_colorspace(m);
            color_opts.push(("colorspace", name.to_string()));
        }
    }
    color_opts.push(("color_range", "tv".to_string()));
    ctx.set_color_range(ff::color::Range::MPEG);
    let mut x_params: Vec<String> = Vec::new();
    match name {
        "libx265" => {
            x_params.push("log-level=error".into());
            x_params.push(format!("keyint={gop}"));
            if hls {
                x_params.extend([format!("min-keyint={gop}"), "scenecut=0".into(), "open-gop=0".into()]);
                opts.push(("forced-idr".into(), "1".into()));
            } else if !scenecut {
                x_params.push("scenecut=0".into());
            }
            if bit_depth == 10 && video.hdr.is_some() {
                if let Some(md) = &video.mastering_display {
                    // x265 units: chromaticity 0.00002, luminance 0.0001 cd/m² (SMPTE ST 2086 as in HEVC SEI D.2.28).
                    let c = |v: f64| (v / 0.00002).round() as u32;
                    let l = |v: f64| (v / 0.0001).round() as u64;
                    x_params.push(format!(
                        "master-display=G({},{})B({},{})R({},{})WP({},{})L({},{})",
                        c(md.green.0),
                        c(md.green.1),
                        c(md.blue.0),
                        c(md.blue.1),
                        c(md.red.0),
                        c(md.red.1),
                        c(md.white_point.0),
                        c(md.white_point.1),
                        l(md.max_luminance),
                        l(md.min_luminance)
                    ));
                }
                if let Some(cll) = &video.content_light_level {
                    x_params.push(format!("max-cll={},{}", cll.max_cll, cll.max_fall));
                }
                if video.hdr.as_deref() == Some("pq") {
                    x_params.push("hdr10=1".into());
                }
                x_params.push("repeat-headers=1".into());
            }
        }
        "libx264" => {
            if hls {
                x_params.extend([format!("keyint={gop}"), format!("min-keyint={gop}"), "scenecut=0".into()]);
                opts.push(("forced-idr".into(), "1".into()));
            } else if !scenecut {
                x_params.push("scenecut=0".into());
            }
        }
        n if n.ends_with("_qsv") && hls => {
            opts.push(("forced_idr".into(), "1".into()));
        }
        n if n.ends_with("_nvenc") && hls => {
            opts.push(("forced-idr".into(), "1".into()));
            opts.push(("no-scenecut".into(), "1".into()));
        }
        _ => {}
    }
    // Frames in flight per encoder (see `budget`): after the profile's, so they win.
    x_params.extend(crate::budget::x_params(name, &opts, budget));
    if !x_params.is_empty() {
        let key = if name == "libx265" { "x265-params" } else { "x264-params" };
        if let Some(existing) = opts.iter_mut().find(|(k, _)| k == key) {
            existing.1 = format!("{}:{}", existing.1, x_params.join(":"));
        } else {
            opts.push((key.into(), x_params.join(":")));
        }
    }
    if let Some(k) = peak_kbps {
        opts.push(("maxrate".into(), format!("{k}k")));
        opts.push(("bufsize".into(), format!("{}k", k * 2)));
    }
    let upload = if backend.needs_upload() {
        let kind = backend.device_type().expect("hardware backend has a device type");
        let device = HwDevice::open(kind)?;
        let up = HwUpload::new(device, pix, ffi::AVPixelFormat::AV_PIX_FMT_VAAPI, width, height)?;
        // SAFETY: the encoder takes its own reference to the frames context.
        unsafe { (*ctx.as_mut_ptr()).hw_frames_ctx = ffi::av_buffer_ref(up.frames) };
        Some(up)
    } else {
        None
    };
    let enc = ffutil::open_video_encoder(ctx, ffcodec, &opts)?;
    let mut report = opts;
    report.insert(0, ("pix_fmt".into(), pixel_name(pix)));
    report.insert(1, ("g".into(), gop.to_string()));
    if let Keyframing::Hls { segment_seconds } = keyframing {
        report.insert(2, ("force_key_frames".into(), format!("expr:gte(t,n_forced*{segment_seconds})")));
    }
    report.extend(color_opts.into_iter().map(|(k, v)| (k.to_string(), v)));
    Ok(Opened { encoder: enc, options: report, upload, pix })
}

fn primaries(n: &str) -> Option<ff::color::Primaries> {
    use ff::color::Primaries as P;
    Some(match n {
        "bt709" => P::BT709,
        "bt2020" => P::BT2020,
        "bt470bg" => P::BT470BG,
        "smpte170m" => P::SMPTE170M,
        "smpte432" => P::SMPTE432,
        _ => return None,
    })
}

fn transfer(n: &str) -> Option<ff::color::TransferCharacteristic> {
    use ff::color::TransferCharacteristic as T;
    Some(match n {
        "bt709" => T::BT709,
        "smpte2084" => T::SMPTE2084,
        "arib-std-b67" => T::ARIB_STD_B67,
        "smpte170m" => T::SMPTE170M,
        "bt2020-10" => T::BT2020_10,
        "iec61966-2-1" => T::IEC61966_2_1,
        _ => return None,
    })
}

fn matrix(n: &str) -> Option<ff::color::Space> {
    use ff::color::Space as S;
    Some(match n {
        "bt709" => S::BT709,
        "bt2020nc" => S::BT2020NCL,
        "bt470bg" => S::BT470BG,
        "smpte170m" => S::SMPTE170M,
        _ => return None,
    })
}

/// Progress accounting and throttled events (~10 per second).
struct Progress {
    started: Instant,
    last_emit: Option<Instant>,
    total_seconds: f64,
    frames_total: Option<u64>,
    frames: u64,
}

impl Progress {
    fn new(total_seconds: f64, frames_total: Option<u64>) -> Self {
        Self { started: Instant::now(), last_emit: None, total_seconds, frames_total, frames: 0 }
    }

    fn frame(&mut self, t: f64, on_event: &mut dyn FnMut(Event)) {
        self.frames += 1;
        let now = Instant::now();
        if self.last_emit.is_some_and(|l| now.duration_since(l).as_millis() < 100) {
            return;
        }
        self.last_emit = Some(now);
        let elapsed = now.duration_since(self.started).as_secs_f64();
        let percent = if self.total_seconds > 0.0 { (t / self.total_seconds * 100.0).clamp(0.0, 100.0) } else { 0.0 };
        let fps = if elapsed > 0.0 { self.frames as f64 / elapsed } else { 0.0 };
        let eta = (percent > 1.0 && elapsed > 0.5).then(|| (elapsed * (100.0 - percent) / percent).round() as u64);
        on_event(Event::Progress {
            stage: Stage::Encoding,
            percent: (percent * 10.0).round() / 10.0,
            fps: (fps * 10.0).round() / 10.0,
            eta_seconds: eta,
            frames_done: self.frames,
            frames_total: self.frames_total,
        });
    }
}

/// Mutable state of the main loop, so that pushing a frame through filters,
/// encoders and muxers is one method call.
struct LoopCtx<'a> {
    input: &'a Path,
    /// Time base of decoded frames (and of their `pkt_duration`).
    in_tb: Rational,
    muxes: &'a mut Vec<Mux>,
    sinks: &'a mut Vec<VideoSink>,
    graph: &'a mut ff::filter::Graph,
    /// Time of the first encoded video frame, µs on the source's clock; the
    /// HLS audio rendition starts there.
    video_start_us: Option<i64>,
    /// Size and pixel format of the first frame given to the video graph.
    video_in: Option<(u32, u32, ff::format::Pixel)>,
}

impl LoopCtx<'_> {
    fn push_video(&mut self, frame: &ff::frame::Video, filtered: &mut ff::frame::Video) -> Result<()> {
        // The video graph is built once. Most of it follows pictures that
        // change size or format mid-stream (a broadcast capture across a
        // programme change), but not every filter does (the deinterlacers
        // fail with EPERM): such a failure is told in words, not as a
        // generic filter error.
        let now = (frame.width(), frame.height(), frame.format());
        let first = *self.video_in.get_or_insert(now);
        let pushed = self.graph.get("in").expect("source").source().add(frame).map_err(fferr(self.input, "filter"));
        let done = pushed.and_then(|()| self.drain_filters(filtered));
        match done {
            Err(EngineError::Encode { .. }) if now != first => {
                let show = |(w, h, p): (u32, u32, ff::format::Pixel)| format!("{w}x{h} {}", pixel_name(p));
                Err(EngineError::InputUnsupported {
                    path: self.input.into(),
                    cause: format!(
                        "the video changes size or format mid-stream ({} → {}), which Crema does not handle yet",
                        show(first),
                        show(now)
                    ),
                })
            }
            other => other,
        }
    }

    fn drain_filters(&mut self, filtered: &mut ff::frame::Video) -> Result<()> {
        for i in 0..self.sinks.len() {
            loop {
                let got = self.graph.get(&format!("out{i}")).expect("sink").sink().frame(filtered);
                match got {
                    Ok(()) => {}
                    Err(ff::Error::Eof) => break,
                    Err(ff::Error::Other { errno }) if errno == libc::EAGAIN => break,
                    Err(e) => return Err(EngineError::from_ffmpeg(self.input, None, "filter", e)),
                }
                self.encode_frame(i, filtered)?;
            }
        }
        Ok(())
    }

    fn encode_frame(&mut self, i: usize, frame: &mut ff::frame::Video) -> Result<()> {
        let sink = &mut self.sinks[i];
        let Some(pts) = frame.pts() else {
            return Ok(());
        };
        // pkt_duration is not rescaled by the filters: it is still in the input time base.
        let dur = frame.packet().duration.rescale(self.in_tb, sink.tb);
        sink.durations.insert(pts, if dur > 0 { dur } else { sink.default_duration });
        // Never pass the decoder's picture types on (the source's I-frames would
        // become keyframes); force IDRs only where HLS segments must start.
        frame.set_kind(ff::picture::Type::None);
        if let Keyframing::Hls { segment_seconds } = sink.keyframing {
            // The grid starts at this output's first frame, in its own time
            // base: the HLS muxer measures segment durations from its first
            // packet, and the graph's time base may differ from the input's
            // (bwdif halves it).
            let first = *sink.grid_origin.get_or_insert(pts);
            let t = (pts - first) as f64 * f64::from(sink.tb);
            if t + 1e-6 >= sink.next_forced as f64 * segment_seconds {
                frame.set_kind(ff::picture::Type::I);
                while t + 1e-6 >= sink.next_forced as f64 * segment_seconds {
                    sink.next_forced += 1;
                }
            }
        }
        let sent = match &sink.upload {
            Some(up) => {
                let hw = up.upload(frame).map_err(fferr(self.input, "hardware upload"))?;
                sink.encoder.send_frame(&hw)
            }
            None => sink.encoder.send_frame(frame),
        };
        sent.map_err(fferr(self.input, "encode"))?;
        self.drain_encoder(i)
    }

    fn drain_encoder(&mut self, i: usize) -> Result<()> {
        let mut pkt = ff::Packet::empty();
        loop {
            let sink = &mut self.sinks[i];
            match sink.encoder.receive_packet(&mut pkt) {
                Ok(()) => {}
                Err(ff::Error::Eof) => return Ok(()),
                Err(ff::Error::Other { errno }) if errno == libc::EAGAIN => return Ok(()),
                Err(e) => return Err(EngineError::from_ffmpeg(self.input, None, "encode", e)),
            }
            if pkt.duration() <= 0 {
                let d = pkt.pts().and_then(|p| sink.durations.remove(&p)).unwrap_or(sink.default_duration);
                pkt.set_duration(d);
            } else if let Some(p) = pkt.pts() {
                sink.durations.remove(&p);
            }
            let tb = sink.tb;
            let outs = sink.outputs.clone();
            write_to(self.muxes, &outs, &pkt, tb, self.input)?;
        }
    }

    fn push_audio(&mut self, path: &mut AudioPath, packet: &ff::Packet) -> Result<()> {
        if path.hls {
            // The HLS audio rendition starts with the video (broadcast captures
            // often carry audio from well before the first decodable picture,
            // which would make the rendition longer than every video rung).
            // Until the first video frame is known, packets wait here.
            let Some(start) = self.video_start_us else {
                path.pending.push(packet.clone());
                trim_waiting_audio(&mut path.pending, path.source_tb);
                return Ok(());
            };
            let tb = path.source_tb;
            let us = |t: i64| t.rescale(tb, Rational::new(1, 1_000_000));
            for p in std::mem::take(&mut path.pending).iter().chain(std::iter::once(packet)) {
                let ends_before = p.pts().is_some_and(|pts| us(pts + p.duration().max(0)) <= start);
                if !ends_before {
                    self.decode_audio(path, p)?;
                }
            }
            return Ok(());
        }
        self.decode_audio(path, packet)
    }

    fn decode_audio(&mut self, path: &mut AudioPath, packet: &ff::Packet) -> Result<()> {
        match &mut path.work {
            AudioWork::Copy => write_to(self.muxes, &path.outputs, packet, path.source_tb, self.input),
            AudioWork::Transcode { decoder, .. } => {
                if decoder.send_packet(packet).is_err() {
                    return Ok(()); // a damaged audio packet is skipped, as ffmpeg does
                }
                self.drain_audio(path)
            }
        }
    }

    fn drain_audio(&mut self, path: &mut AudioPath) -> Result<()> {
        let mut frame = ff::frame::Audio::empty();
        loop {
            let AudioWork::Transcode { decoder, graph_in, .. } = &mut path.work else {
                return Ok(());
            };
            if decoder.receive_frame(&mut frame).is_err() {
                break;
            }
            let ts = frame.timestamp().or(frame.pts());
            frame.set_pts(ts);
            let now = AudioInput::of_frame(&frame);
            if now != *graph_in {
                self.rebuild_audio_graph(path, now)?;
            }
            let AudioWork::Transcode { graph, .. } = &mut path.work else {
                return Ok(());
            };
            graph.get("in").expect("abuffer").source().add(&frame).map_err(fferr(self.input, "audio filter"))?;
        }
        self.drain_audio_graph(path)
    }

    /// The decoded audio changed format, rate or layout mid-stream (as
    /// ffmpeg does): ends the current graph, sending what it still holds to
    /// the encoder, and continues with a graph for the new input. The
    /// encoder side is unchanged, and the pts stay the source's, so the
    /// output timeline runs on.
    fn rebuild_audio_graph(&mut self, path: &mut AudioPath, now: AudioInput) -> Result<()> {
        if let AudioWork::Transcode { graph, .. } = &mut path.work {
            graph.get("in").expect("abuffer").source().flush().map_err(fferr(self.input, "audio filter flush"))?;
        }
        self.drain_audio_graph(path)?;
        let tb = path.source_tb;
        if let AudioWork::Transcode { graph, graph_in, graph_out, .. } = &mut path.work {
            *graph = audio_graph(self.input, tb, now, *graph_out)?;
            *graph_in = now;
        }
        Ok(())
    }

    fn drain_audio_graph(&mut self, path: &mut AudioPath) -> Result<()> {
        let AudioWork::Transcode { graph, encoder, next_pts, .. } = &mut path.work else {
            return Ok(());
        };
        let mut out = ff::frame::Audio::empty();
        let mut pkt = ff::Packet::empty();
        loop {
            let mut sink = graph.get("out").expect("abuffersink");
            let sink_tb = sink.sink().time_base();
            match sink.sink().frame(&mut out) {
                Ok(()) => {}
                Err(_) => break,
            }
            if let Some(p) = out.pts() {
                // Never backwards: source audio that overlaps itself (a
                // splice, the first frames of a rebuilt graph after the old
                // one's tail) would give the muxers non-increasing DTS.
                let p = p.rescale(sink_tb, encoder.time_base());
                let p = next_pts.map_or(p, |n| p.max(n));
                out.set_pts(Some(p));
                // The encoder's time base is 1/rate: one tick per sample.
                *next_pts = Some(p + out.samples() as i64);
            }
            encoder.send_frame(&out).map_err(fferr(self.input, "audio encode"))?;
            while encoder.receive_packet(&mut pkt).is_ok() {
                write_to(self.muxes, &path.outputs, &pkt, encoder.time_base(), self.input)?;
            }
        }
        Ok(())
    }

    fn flush_audio(&mut self, path: &mut AudioPath) -> Result<()> {
        for p in std::mem::take(&mut path.pending) {
            self.decode_audio(path, &p)?;
        }
        if let AudioWork::Transcode { decoder, .. } = &mut path.work {
            let _ = decoder.send_eof();
        } else {
            return Ok(());
        }
        self.drain_audio(path)?;
        if let AudioWork::Transcode { graph, .. } = &mut path.work {
            let _ = graph.get("in").expect("abuffer").source().flush();
        }
        self.drain_audio_graph(path)?;
        if let AudioWork::Transcode { encoder, .. } = &mut path.work {
            let _ = encoder.send_eof();
            let mut pkt = ff::Packet::empty();
            let tb = encoder.time_base();
            while encoder.receive_packet(&mut pkt).is_ok() {
                write_to(self.muxes, &path.outputs, &pkt, tb, self.input)?;
            }
        }
        Ok(())
    }
}

/// How much audio waits for the first picture, seconds of source time.
const WAITING_AUDIO_SECONDS: f64 = 10.0;

/// Drops waiting audio packets (time base `tb`) that end more than
/// [`WAITING_AUDIO_SECONDS`] before the newest: demuxers interleave streams
/// within about a second, so no first picture still to come starts that
/// early, and a source whose video never decodes cannot fill memory here.
fn trim_waiting_audio(pending: &mut Vec<ff::Packet>, tb: Rational) {
    let Some(newest) = pending.last().and_then(|p| p.pts()) else { return };
    let keep_from = newest - (WAITING_AUDIO_SECONDS / f64::from(tb)).round() as i64;
    let old = pending.iter().take_while(|p| p.pts().is_some_and(|t| t + p.duration().max(0) < keep_from)).count();
    pending.drain(..old);
}

/// Writes one packet (time base `tb`) to every (mux, stream) in `outs`,
/// cloning for all but the last, shifting timestamps to the output origin.
fn write_to(muxes: &mut [Mux], outs: &[(usize, usize)], pkt: &ff::Packet, tb: Rational, input: &Path) -> Result<()> {
    for &(mi, si) in outs {
        let m = &mut muxes[mi];
        let mut p = pkt.clone();
        p.set_stream(si);
        p.set_position(-1);
        p.rescale_ts(tb, m.stream_tbs[si]);
        let o = m.origins[si];
        if let Some(v) = p.pts() {
            p.set_pts(Some(v - o));
        }
        if let Some(v) = p.dts() {
            p.set_dts(Some(v - o));
        }
        p.write_interleaved(&mut m.ctx)
            .map_err(|e| EngineError::from_ffmpeg(input, Some(&m.report_path), "write", e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audio_waiting_for_the_first_picture_is_bounded_to_ten_seconds() {
        let tb = Rational::new(1, 90_000);
        let mut pending = Vec::new();
        // One hour of 24 ms audio packets and no picture: at most ~10 s wait.
        for i in 0..150_000i64 {
            let mut p = ff::Packet::empty();
            p.set_pts(Some(i * 2160));
            p.set_duration(2160);
            pending.push(p);
            trim_waiting_audio(&mut pending, tb);
        }
        let span = (pending.last().unwrap().pts().unwrap() - pending[0].pts().unwrap()) as f64 / 90_000.0;
        assert!(pending.len() <= 420 && (9.9..=10.1).contains(&span), "{} packets over {span} s", pending.len());
    }
}
