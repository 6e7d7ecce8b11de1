//! The service's data types: job status, the submission ([`JobSpec`]) and
//! the job as the `/v1` contract's JobResponse ([`Job`]).

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::PathBuf;
use time::OffsetDateTime;
use utoipa::ToSchema;

/// A job's state, exactly the contract's JobStatus values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    /// Waiting for a worker.
    Queued,
    /// Reading the source (and, for `sophon-auto`, measuring a sample).
    Probing,
    /// Decoding, filtering and encoding.
    Encoding,
    /// Finishing outputs.
    Muxing,
    /// Sending the output elsewhere (unused by Crema so far: outputs stay local).
    UploadingOutput,
    /// Done; the output is ready (terminal).
    Completed,
    /// Stopped by an error; see `error` and `status_reason` (terminal).
    Failed,
    /// Canceled by a caller (terminal).
    Canceled,
}

impl JobStatus {
    /// Every status, in lifecycle order.
    pub const ALL: [JobStatus; 8] = [
        Self::Queued,
        Self::Probing,
        Self::Encoding,
        Self::Muxing,
        Self::UploadingOutput,
        Self::Completed,
        Self::Failed,
        Self::Canceled,
    ];

    /// The wire name (`"uploading_output"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Probing => "probing",
            Self::Encoding => "encoding",
            Self::Muxing => "muxing",
            Self::UploadingOutput => "uploading_output",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Canceled => "canceled",
        }
    }

    /// Parses a wire name; `None` for anything else.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// Completed, failed or canceled: nothing more will happen to the job.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Completed | Self::Failed | Self::Canceled)
    }

    /// A worker holds the job (probing, encoding, muxing, uploading_output).
    pub fn is_running(self) -> bool {
        !self.is_terminal() && self != Self::Queued
    }
}

impl std::fmt::Display for JobStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a job's source comes from (`source` of `POST /v1/jobs`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SourceSpec {
    /// Extension: a file on the server's own disk, allowed only under the
    /// configured source roots.
    Path {
        /// Absolute path of the file.
        #[schema(value_type = String)]
        path: PathBuf,
    },
    /// A completed chunked upload (the SOPHON contract's source, `/v1`
    /// "Uploads"). The job gets its own hard link (or copy) of the assembled
    /// file, so it keeps its source after the upload session expires.
    Upload {
        /// The upload's ID (`upl_…`).
        upload_id: String,
    },
    /// Extension (farm mode, `--object-store`): an object already in the
    /// configured bucket, below its prefix.
    S3 {
        /// The object's full key in the bucket (`PREFIX/masters/a.mov`); keys
        /// not below the configured prefix (whole segments) are refused (403).
        key: String,
    },
}

/// Single-file container (`output.container`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ContainerSpec {
    /// MP4 (the default).
    #[default]
    Mp4,
    /// Matroska.
    Mkv,
}

/// HLS rendition codec (`output.hls.codec`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum HlsCodec {
    /// H.264 (the default: plays everywhere).
    #[default]
    H264,
    /// HEVC in fMP4 segments.
    Hevc,
}

/// Extension `output.hls`: an HLS ladder instead of the single file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct HlsSpec {
    /// Rung heights in pixels (each 144..=4320); default 1080, 720, 480, 360.
    #[serde(default = "default_renditions", deserialize_with = "crate::wire::vec_u32_int")]
    pub renditions: Vec<u32>,
    /// Video codec of the rungs.
    #[serde(default)]
    pub codec: HlsCodec,
    /// Target segment duration in seconds (1..=60, default 6).
    #[serde(default = "default_segment_seconds")]
    pub segment_seconds: f64,
    /// Also write a progressive MP4 of this rung height (one of `renditions`).
    #[serde(default, deserialize_with = "crate::wire::opt_u32_int")]
    pub keep_mp4: Option<u32>,
}

fn default_renditions() -> Vec<u32> {
    vec![1080, 720, 480, 360]
}

fn default_segment_seconds() -> f64 {
    6.0
}

/// The `output` object of `POST /v1/jobs`.
#[derive(Clone, Debug, PartialEq, Default, Serialize, Deserialize, ToSchema)]
pub struct OutputSpec {
    /// Single-file container (default MP4).
    #[serde(default)]
    pub container: ContainerSpec,
    /// Include audio (default false).
    #[serde(default)]
    pub audio: bool,
    /// Scale down to this height in pixels (144..=4320), never up; `None` keeps the source height.
    #[serde(default, deserialize_with = "crate::wire::opt_u32_int")]
    #[schema(minimum = 144, maximum = 4320)]
    pub target_height: Option<u32>,
    /// Extension: an HLS ladder instead of the single file.
    #[serde(default)]
    pub hls: Option<HlsSpec>,
    /// Extension for local callers (the desktop app, [`crate::Service::submit`] with [`crate::Origin::Local`]):
    /// also place the finished output in this folder as
    /// `<source stem>.<profile>.<ext>` (never replacing a file; `-2`… when the
    /// name is taken), and point `output.path` there. Refused from the network.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub dir: Option<PathBuf>,
    /// Extension: also make the waveform of the source's main audio track
    /// (BBC audiowaveform data, for peaks.js), in the same pass as the
    /// encode: `true` for the defaults (256 samples per pixel, 8-bit,
    /// `dat`) or `{"pixels_per_second": 20, "bits": 8, "format": "dat"}`.
    /// Served by `GET /v1/jobs/{id}/waveform`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waveform: Option<crate::waveform::WaveformRequest>,
    /// Extension: once written, score the output against the source (VMAF,
    /// PSNR, SSIM of every frame; an HLS ladder through its top rung) and
    /// report it as `output.quality`. Costs a second decode of the source
    /// and the output plus the metrics (roughly the encode's time again at
    /// fast presets). A measurement that fails leaves the job completed,
    /// with the reason in `output.warnings`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub measure: bool,
    /// Extension, `sophon-auto` only: the VMAF (`vmaf_v0.6.1`, 50..99) the
    /// delivered file's title mean must reach, every chunk within 3 of it;
    /// default 93. Other profiles ignore it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quality_target: Option<f64>,
}

/// A job submission: the body of `POST /v1/jobs`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct JobSpec {
    /// Where the source is.
    pub source: SourceSpec,
    /// Profile ID (validated against the loaded profile set).
    pub profile: String,
    /// What to write.
    #[serde(default)]
    pub output: OutputSpec,
    /// Webhooks (`wh_…` IDs, at most 16, duplicates ignored) to POST an event to
    /// when the job reaches completed, failed or canceled; each must be registered
    /// and not deleted (else a validation error on `webhook_ids`).
    #[serde(default)]
    pub webhook_ids: Vec<String>,
    /// Caller's JSON object, at most 16 KiB serialized; `None`/`null` is `{}`.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Value>,
}

impl JobSpec {
    /// A spec for a file on the server's disk with default output settings.
    pub fn path(path: impl Into<PathBuf>, profile: impl Into<String>) -> Self {
        Self {
            source: SourceSpec::Path { path: path.into() },
            profile: profile.into(),
            output: OutputSpec::default(),
            webhook_ids: Vec::new(),
            metadata: None,
        }
    }
}

/// The job's `source` object.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SourceInfo {
    /// Extension: how the source was given (`"path"`, `"upload"` or `"s3"`).
    #[serde(rename = "type")]
    pub kind: String,
    /// Extension: the upload's ID (`upl_…`), for `upload` sources.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upload_id: Option<String>,
    /// Extension: the server-side path (for `upload` sources the job's own link of the assembled file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Extension (farm mode): the bucket key (below the configured prefix)
    /// any node fetches the source from when it is not on its own disk: the
    /// `s3` source's key less the prefix, or `jobs/<id>/source/<name>` for an upload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_key: Option<String>,
    /// File name without folders.
    pub name: String,
    /// File size in bytes.
    pub bytes: u64,
    /// Lower-case hex SHA-256 of the whole file.
    pub sha256: String,
    /// Duration in seconds; `null` until probed (or when it cannot be).
    #[schema(required = true)]
    pub duration_seconds: Option<f64>,
    /// `"1920x1080"` after rotation; `null` until probed.
    #[schema(required = true)]
    pub resolution: Option<String>,
    /// `"25"` or `"24000/1001"`; `null` until probed.
    #[schema(required = true)]
    pub frame_rate: Option<String>,
    /// Extension: video codec (`h264`, `hevc`, `prores`…), once probed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub codec: Option<String>,
    /// Extension: bits per luma sample (8, 10, 12), once probed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bit_depth: Option<u8>,
    /// Extension: `pq` or `hlg` for HDR sources, absent for SDR or before the probe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hdr: Option<String>,
    /// Extension: number of audio streams, once probed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio_tracks: Option<u32>,
}

/// The job's `progress` object.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Progress {
    /// The engine's stage (`probing`, `analyzing`, `encoding`, `muxing`); `null` before the run.
    #[schema(required = true)]
    pub stage: Option<String>,
    /// The job status this report belongs to.
    pub phase: JobStatus,
    /// Whole-job progress, 0..=100, never decreasing within an attempt.
    pub percent: f64,
    /// Progress of the current stage, 0..=100; `null` when not measured.
    #[schema(required = true)]
    pub phase_percent: Option<f64>,
    /// Source frames decoded per second of wall time.
    #[schema(required = true)]
    pub fps: Option<f64>,
    /// Estimated seconds left.
    #[schema(required = true)]
    pub eta_seconds: Option<u64>,
    /// Source frames decoded so far.
    #[schema(required = true)]
    pub frames_done: Option<u64>,
    /// Source frames expected.
    #[schema(required = true)]
    pub frames_total: Option<u64>,
    /// Extension: the encoder each output uses and why (hardware or software,
    /// the fallback reason); empty until the encoders are open.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub encoders: Vec<EncoderUse>,
}

/// Extension: one encoder in use (`progress.encoders`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EncoderUse {
    /// Which output it feeds (`file`, `hls 720p`).
    pub output: String,
    /// FFmpeg encoder name (`libx265`, `hevc_nvenc`, `h264_vaapi`…).
    pub encoder: String,
    /// Whether it is a hardware encoder (anything but libx264/libx265).
    pub hardware: bool,
    /// Why this encoder: the choice, or the reason a fallback was taken.
    pub reason: String,
}

impl Progress {
    /// The empty report of a job that has not started.
    pub fn queued() -> Self {
        Self {
            stage: None,
            phase: JobStatus::Queued,
            percent: 0.0,
            phase_percent: None,
            fps: None,
            eta_seconds: None,
            frames_done: None,
            frames_total: None,
            encoders: Vec::new(),
        }
    }
}

/// Extension `output.hls`: where the package is.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct HlsOutputInfo {
    /// Server-side path of `master.m3u8`.
    pub master_playlist: String,
    /// Rungs actually written.
    pub renditions: Vec<HlsRendition>,
}

/// One written HLS rung.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct HlsRendition {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Measured peak bit rate in bits per second.
    pub bandwidth: u64,
    /// RFC 6381 codec string.
    pub codecs: String,
}

/// `output.state`: exactly the SDKs' enum (contract, "Jobs": `pending` |
/// `available`, nothing else).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OutputState {
    /// No output to hand out: not written yet, or never will be (the job
    /// failed or was canceled, or `sophon-auto` kept the original).
    Pending,
    /// The output was written and `GET /v1/jobs/{id}/output` redirects to
    /// it. After retention deleted it the state stays `available` (that is
    /// what the job produced), `expired` is true, `retention_expires_at` is in
    /// the past and the output route answers `404 not_found` (contract,
    /// "Errors": "has expired, e.g. after retention").
    Available,
}

impl OutputState {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Available => "available",
        }
    }
}

impl std::fmt::Display for OutputState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The job's `output` object.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct OutputInfo {
    /// `pending` (nothing to hand out) or `available` (written); see [`OutputState`].
    pub state: OutputState,
    /// Extension: the retention cleanup deleted the output (`state` stays
    /// `available`; the output route answers `404`).
    #[serde(default)]
    pub expired: bool,
    /// `mp4` or `mkv` as requested (`hls` for an HLS package).
    pub container: String,
    /// Whether the written output really has audio.
    pub audio: bool,
    /// The requested height in pixels, `null` when none was asked.
    #[schema(required = true)]
    pub target_height: Option<u32>,
    /// Width of the written video in pixels.
    #[schema(required = true)]
    pub width: Option<u32>,
    /// Height of the written video in pixels.
    #[schema(required = true)]
    pub height: Option<u32>,
    /// Size in bytes (the whole folder for HLS).
    #[schema(required = true)]
    pub bytes: Option<u64>,
    /// Lower-case hex SHA-256 of the file (of `master.m3u8` for HLS).
    #[schema(required = true)]
    pub sha256: Option<String>,
    /// When the output will be (or was) deleted by the retention cleanup (then
    /// `expired` becomes true); `null`: kept until someone deletes it.
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(required = true)]
    pub retention_expires_at: Option<OffsetDateTime>,
    /// Extension: server-side path of the file (or master playlist), for transports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Extension: the HLS package, when one was asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hls: Option<HlsOutputInfo>,
    /// Extension (farm mode, `--object-store`): the bucket key, below the
    /// configured prefix, of the file (or master playlist) once stored there;
    /// `GET /v1/jobs/{id}/output` then redirects to a presigned URL of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_key: Option<String>,
    /// Extension: what of the source the encode left out, in words (an
    /// audio stream whose parameters cannot be read, a second program);
    /// absent when nothing was.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// Extension: the waveform written (`output.waveform` was asked and the
    /// source has audio); `GET /v1/jobs/{id}/waveform` serves it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waveform: Option<crate::waveform::WaveformInfo>,
    /// Extension: the output's measured quality (`output.measure` was asked
    /// and the measurement worked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quality: Option<crate::measured::QualityInfo>,
}

/// A job: the contract's JobResponse. Field names and nullability exactly as
/// the contract; extensions are marked.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Job {
    /// `job_` + 128 random bits in hex.
    pub id: String,
    /// Current state.
    pub status: JobStatus,
    /// Why the job is in this state, in words or as a code; `null` when nothing to say.
    #[schema(required = true)]
    pub status_reason: Option<String>,
    /// 1-based run number.
    pub attempt: u32,
    /// Extension: how many attempts the job may use.
    pub max_attempts: u32,
    /// Whether `retry` would be accepted now (failed and `attempt < max_attempts`).
    pub retryable: bool,
    /// Profile ID as submitted.
    pub profile: String,
    /// The concrete profile that ran (for `sophon-auto` the variant chosen).
    #[schema(required = true)]
    pub effective_profile_id: Option<String>,
    /// The source.
    pub source: SourceInfo,
    /// Last progress report.
    pub progress: Progress,
    /// The output.
    pub output: OutputInfo,
    /// As submitted; `{}` when none.
    #[schema(value_type = Object)]
    pub metadata: Value,
    /// When the job was submitted (RFC 3339 UTC).
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When the current attempt started.
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(required = true)]
    pub started_at: Option<OffsetDateTime>,
    /// When the job reached a terminal state.
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(required = true)]
    pub completed_at: Option<OffsetDateTime>,
    /// Human message of the failure; `null` unless failed.
    #[schema(required = true)]
    pub error: Option<String>,
    /// Extension: `"encoded"` or `"original"` once completed.
    #[schema(required = true)]
    pub final_artifact: Option<String>,
    /// Extension: percent saved against the source once completed.
    #[schema(required = true)]
    pub saved_percent: Option<f64>,
}

impl Job {
    /// The job as a network client may see it: no server-side paths
    /// (README, "crema serve": internal details go only to the log). Drops
    /// `output.path`, makes `output.hls.master_playlist` relative
    /// (`master.m3u8`), and drops `source.path` unless the client named that
    /// path itself (a `path` source). The desktop app, on the same machine as
    /// its files, uses the job as stored.
    pub fn network_view(mut self) -> Job {
        self.output.path = None;
        if let Some(w) = self.output.waveform.as_mut() {
            w.path = None;
        }
        if let Some(hls) = self.output.hls.as_mut() {
            hls.master_playlist = "master.m3u8".into();
        }
        if self.source.kind != "path" {
            self.source.path = None;
        }
        self
    }
}

impl ServiceEvent {
    /// [`Job::network_view`] of the job the event carries.
    pub fn network_view(self) -> ServiceEvent {
        match self {
            Self::JobCreated { job } => Self::JobCreated { job: Box::new(job.network_view()) },
            Self::JobStateChanged { job } => Self::JobStateChanged { job: Box::new(job.network_view()) },
            other => other,
        }
    }
}

impl Page {
    /// [`Job::network_view`] of every job on the page.
    pub fn network_view(mut self) -> Page {
        self.jobs = self.jobs.into_iter().map(Job::network_view).collect();
        self
    }
}

/// One page of [`crate::Service::list`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Page {
    /// Jobs, newest first.
    pub jobs: Vec<Job>,
    /// Pass to the next call for the following page; `null` on the last page.
    #[schema(required = true)]
    pub next_cursor: Option<String>,
    /// Whether more jobs follow.
    pub has_more: bool,
}

/// What the service announces on [`crate::Service::subscribe`].
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServiceEvent {
    /// A job was submitted.
    JobCreated {
        /// The job as stored.
        job: Box<Job>,
    },
    /// A job changed status (also after retry, cancel and requeue).
    JobStateChanged {
        /// The job after the change.
        job: Box<Job>,
    },
    /// Progress of a running job; at most 4 per second per job.
    JobProgress {
        /// The job's ID.
        job_id: String,
        /// The report.
        progress: Progress,
    },
}
