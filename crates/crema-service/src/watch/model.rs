//! The watch folders' data: the API's types and limits, the rule
//! validation context, and the [`Watch`] handle's state, shared by the rules
//! API (`mod.rs`), the database (`db.rs`), validation (`rules.rs`), scanning
//! (`scan.rs`) and the running rules (`watcher.rs`).

use crate::jobs::RuleJobs;
use crate::shared::Core;
use crate::types::OutputSpec;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::Arc;
use time::OffsetDateTime;
use tokio::sync::Notify;
use utoipa::ToSchema;

/// Default settle period: a file is taken once its size and modification
/// time have not changed for this many seconds.
pub const DEFAULT_SETTLE_SECONDS: f64 = 3.0;

/// Most decisions kept per rule in the log; older ones are pruned.
pub const MAX_EVENTS_PER_RULE: i64 = 10_000;

/// What happens to a source after its output was verified and placed.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(tag = "action", rename_all = "lowercase", deny_unknown_fields)]
pub enum SuccessAction {
    /// Leave the source where it is (the default). It is not encoded again
    /// while its path, size and modification time stay the same.
    #[default]
    Leave,
    /// Move it into `dir` (default `<folder>/crema-done`), keeping its path
    /// relative to the watched folder; an existing file is never overwritten
    /// (a numbered name is used).
    Move {
        /// Absolute folder; `null` for the default.
        #[serde(default)]
        #[schema(value_type = Option<String>)]
        dir: Option<PathBuf>,
    },
    /// Delete the source.
    Delete,
}

/// What happens to a source whose job failed or whose output did not verify.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(tag = "action", rename_all = "lowercase", deny_unknown_fields)]
pub enum FailureAction {
    /// Leave the source where it is (the default); it is not tried again
    /// until its content changes.
    #[default]
    Leave,
    /// Move it into `dir` (default `<folder>/crema-failed`), keeping its
    /// relative path, with `<name>.error.txt` beside it saying why.
    Move {
        /// Absolute folder; `null` for the default.
        #[serde(default)]
        #[schema(value_type = Option<String>)]
        dir: Option<PathBuf>,
    },
}

/// A watch-folder rule as submitted (`POST /v1/watch-folders`,
/// `crema watch add`). [`crate::Service::add_watch_rule`] stores it with defaults
/// filled in and folders made absolute and canonical.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WatchRuleSpec {
    /// The folder to watch: absolute, existing, readable.
    #[schema(value_type = String)]
    pub folder: PathBuf,
    /// Also watch subfolders (camera card structures are found this way). Default false.
    #[serde(default)]
    pub recursive: bool,
    /// Globs (relative to the folder, `*` also crosses `/`, case-insensitive)
    /// a file must match to be taken; empty: common video extensions
    /// ([`DEFAULT_INCLUDE`]).
    #[serde(default)]
    pub include: Vec<String>,
    /// Globs of files and folders never taken (checked before `include`).
    /// Default output/done/failed folders inside the watched folder are added
    /// automatically.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Profile ID of the jobs.
    pub profile: String,
    /// Output options of the jobs (container, audio, target height, HLS ladder).
    #[serde(default)]
    pub output: OutputSpec,
    /// Where verified outputs are placed, mirroring the source's relative
    /// folder, as `<stem>.<profile>.<mp4|mkv>` (HLS: a `<stem>.<profile>.hls/`
    /// folder). Default `<folder>/crema-encoded`. Must be writable, and
    /// outside the watched tree unless an `exclude` glob covers it.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub output_dir: Option<PathBuf>,
    /// Post-action on the source after a verified success.
    #[serde(default)]
    pub on_success: SuccessAction,
    /// Post-action on the source after a failure.
    #[serde(default)]
    pub on_failure: FailureAction,
    /// Seconds a file's size and modification time must stay unchanged
    /// before it is taken (0.1..=3600; default [`DEFAULT_SETTLE_SECONDS`]).
    #[serde(default)]
    pub settle_seconds: Option<f64>,
    /// Polling mode, for network shares where file-system events do not
    /// arrive: rescan every this many seconds (0.2..=3600) instead of
    /// listening for events. `null`: events plus a periodic rescan.
    #[serde(default)]
    pub poll_seconds: Option<f64>,
    /// Take the files already in the folder when the rule first starts
    /// (default true). False records them as present and takes only files
    /// that appear (or change) later.
    #[serde(default = "yes")]
    pub take_existing: bool,
}

fn yes() -> bool {
    true
}

/// Globs used when a rule has no `include`: common video and audio file extensions.
pub const DEFAULT_INCLUDE: &[&str] = &[
    "*.mov", "*.mp4", "*.m4v", "*.mkv", "*.mxf", "*.avi", "*.mts", "*.m2ts", "*.ts", "*.webm", "*.mpg", "*.mpeg",
    "*.3gp", "*.wmv", "*.flv", "*.dv", "*.y4m",
    // Audio-only sources (encoded to AAC .m4a or an audio-only HLS ladder).
    "*.wav", "*.flac", "*.mp3", "*.m4a", "*.aac", "*.ogg", "*.oga", "*.opus", "*.aif", "*.aiff", "*.mka", "*.ac3",
    "*.eac3", "*.dts", "*.thd", "*.wma",
];

/// Counts of a rule's files by state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct WatchCounts {
    /// Complete, waiting for a queue slot.
    pub pending: u64,
    /// A job is queued or running for it (or its output is being placed).
    pub queued: u64,
    /// Encoded, verified and placed.
    pub done: u64,
    /// Failed (the job failed or the output did not verify).
    pub failed: u64,
    /// Recognised as the same content as another file and not encoded again.
    pub duplicate: u64,
}

/// A stored rule (`GET /v1/watch-folders/{id}`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct WatchRule {
    /// `wf_` + 128 random bits in hex.
    pub id: String,
    /// The rule with defaults filled in and folders absolute.
    pub spec: WatchRuleSpec,
    /// Paused: nothing new is taken (jobs already queued still finish and are placed).
    pub paused: bool,
    /// When the rule was created (RFC 3339 UTC).
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Last change (pause, resume) (RFC 3339 UTC).
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// The rule's files by state.
    pub counts: WatchCounts,
}

/// Kinds of entries in a rule's decision log.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum WatchDecision {
    /// The file was complete and a job was queued for it.
    Taken,
    /// The file was not taken; `reason` says why (temporary name, excluded,
    /// same content as another file, deleted before it was taken, …).
    Ignored,
    /// The output was verified and placed (`output_path`); the post-action ran.
    Done,
    /// The job failed or its output did not verify; `reason` says why.
    Failed,
}

impl WatchDecision {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Taken => "taken",
            Self::Ignored => "ignored",
            Self::Done => "done",
            Self::Failed => "failed",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Self> {
        [Self::Taken, Self::Ignored, Self::Done, Self::Failed].into_iter().find(|d| d.as_str() == s)
    }
}

/// One entry of a rule's decision log (`GET /v1/watch-folders/{id}/events`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct WatchEvent {
    /// Position in the log (increasing); pass as `before` to page back.
    pub seq: i64,
    /// The rule.
    pub rule_id: String,
    /// When the decision was made (RFC 3339 UTC).
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// What was decided.
    pub decision: WatchDecision,
    /// The file (absolute path).
    pub path: String,
    /// Why, in words; `null` when nothing more to say.
    #[schema(required = true)]
    pub reason: Option<String>,
    /// The job, for `taken`, `done` and `failed`.
    #[schema(required = true)]
    pub job_id: Option<String>,
    /// Where the output was placed, for `done`.
    #[schema(required = true)]
    pub output_path: Option<String>,
}

/// One file a rule has seen (`Service::watch_files`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct WatchFile {
    /// Absolute path (where the file was last seen).
    pub path: String,
    /// Size in bytes when identified.
    pub bytes: u64,
    /// Modification time when identified (RFC 3339 UTC, nanoseconds kept).
    #[serde(with = "time::serde::rfc3339")]
    pub modified_at: OffsetDateTime,
    /// Lower-case hex SHA-256 of the content; `null` for files recorded
    /// without being read (present when a rule with `take_existing: false` started).
    #[schema(required = true)]
    pub sha256: Option<String>,
    /// `pending`, `queued`, `placing`, `done`, `failed`, `duplicate`,
    /// `baseline`, `superseded` or `gone` (see the migration `0006_watch.sql`).
    pub state: String,
    /// The job, once queued.
    #[schema(required = true)]
    pub job_id: Option<String>,
    /// Why the file is in its state.
    #[schema(required = true)]
    pub reason: Option<String>,
    /// Where the verified output was placed.
    #[schema(required = true)]
    pub output_path: Option<String>,
    /// Last change of this record (RFC 3339 UTC).
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// Largest `limit` of the decision-log and file listings.
pub const MAX_LIST_LIMIT: u32 = 1000;

/// What rule validation needs to know about the service.
pub(crate) struct ValidationContext {
    pub profiles: Arc<crema_engine::profile::ProfileSet>,
    /// Canonical data folder and output folder of the service (never watched).
    pub reserved: Vec<PathBuf>,
    /// For network callers: the canonical source roots every folder of the rule must be under.
    pub roots: Option<Vec<PathBuf>>,
}

/// The watch-folders handle of a running service: the rules API, the
/// manager's wake-up and the narrow part of the queue the rules use.
pub(crate) struct Watch {
    pub(crate) core: Arc<Core>,
    /// Submits, cancels and reads the rules' jobs.
    pub(crate) jobs: RuleJobs,
    /// Wakes the manager (a rule was added, removed, paused or resumed).
    pub(crate) wake: Notify,
}

impl Watch {
    /// A handle over the shared state and the queue.
    pub(crate) fn new(core: Arc<Core>, jobs: RuleJobs) -> Watch {
        Watch { core, jobs, wake: Notify::new() }
    }
}

/// The service's own folders (data, output), canonical: never watched or written by a rule.
pub(crate) fn reserved(inner: &Core) -> Vec<PathBuf> {
    [&inner.config.data_dir, &inner.output_dir]
        .into_iter()
        .map(|p| std::fs::canonicalize(p).unwrap_or_else(|_| p.clone()))
        .collect()
}
