//! Watch folders: files dropped in a folder are encoded once, only after
//! their copy has finished, across restarts.
//!
//! A [`WatchRule`] names a folder, which files in it to take (recursive or
//! not, include/exclude globs), the profile and output options of the jobs,
//! where verified outputs go, and what happens to the source afterwards.
//! Rules live in the job store (migration `0006_watch.sql`) and run inside
//! every [`Service`] (desktop and headless modes alike):
//!
//! - `watcher.rs`: one task per active rule. File-system events from
//!   `notify` (or, for network shares, polling) find candidates; a periodic
//!   rescan is the safety net. A candidate is taken once its size and
//!   modification time have not changed for the rule's settle period and it
//!   opens for reading; it is then hashed and identified (`scan.rs`), queued
//!   through the normal job queue (at most
//!   [`WatchConfig::max_outstanding_per_rule`] jobs per rule at once, the
//!   rest wait as `pending` rows), and when its job ends the output is
//!   verified, placed and the source post-action runs (`verify.rs`).
//! - `rules.rs`: validation of a [`WatchRuleSpec`] (folders, globs, profile,
//!   output options, post-actions).
//! - `db.rs`: the rule, file and decision-log queries.
//!
//! A running service re-reads the rules every
//! [`WatchConfig::reload_interval`] (2 s by default), so `crema watch
//! add|remove|pause|resume`, which write the database through [`Admin`],
//! take effect in a running `crema serve` within a few seconds; changes made
//! through the service itself take effect at once.

mod db;
mod rules;
mod scan;
mod watcher;

use crate::auth::Admin;
use crate::error::{Result, ServiceError};
pub use crate::config::WatchConfig;
use crate::jobs::Jobs;
use crate::shared::{Core, new_id};
use crate::types::OutputSpec;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use time::OffsetDateTime;
use tokio::sync::Notify;
use utoipa::ToSchema;

pub(crate) use watcher::manager;

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
/// `crema watch add`). [`Service::add_watch_rule`] stores it with defaults
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

fn check_limit(limit: Option<u32>) -> Result<u32> {
    let limit = limit.unwrap_or(100);
    if !(1..=MAX_LIST_LIMIT).contains(&limit) {
        return Err(ServiceError::validation("limit", format!("must be 1..{MAX_LIST_LIMIT}, got {limit}")));
    }
    Ok(limit)
}

/// What rule validation needs to know about the service.
pub(crate) struct ValidationContext {
    pub profiles: Arc<crema_engine::profile::ProfileSet>,
    /// Canonical data folder and output folder of the service (never watched).
    pub reserved: Vec<PathBuf>,
    /// For network callers: the canonical source roots every folder of the rule must be under.
    pub roots: Option<Vec<PathBuf>>,
}

async fn add_rule(pool: &sqlx::SqlitePool, spec: WatchRuleSpec, ctx: ValidationContext) -> Result<WatchRule> {
    let spec = tokio::task::spawn_blocking(move || rules::validate(spec, &ctx))
        .await
        .map_err(|e| ServiceError::Internal(format!("validating the rule: {e}")))??;
    let id = new_id("wf");
    db::insert_rule(pool, &id, &spec).await?;
    db::must_get_rule(pool, &id).await
}

/// The watch-folders handle of a running service: the rules API, the
/// manager's wake-up and the narrow part of the queue the rules use.
pub(crate) struct Watch {
    pub(crate) core: Arc<Core>,
    /// Submits, cancels and reads the rules' jobs.
    pub(crate) jobs: Jobs,
    /// Wakes the manager (a rule was added, removed, paused or resumed).
    pub(crate) wake: Notify,
}

impl Watch {
    /// A handle over the shared state and the queue.
    pub(crate) fn new(core: Arc<Core>, jobs: Jobs) -> Watch {
        Watch { core, jobs, wake: Notify::new() }
    }

    /// Adds a watch-folder rule; it starts at once (taking the files already
    /// in the folder unless `take_existing` is false).
    ///
    /// Errors: [`ServiceError::Validation`] naming the field: `folder`
    /// (relative, missing, not a folder, unreadable, or holding the service's
    /// own data or output folder), `profile` (unknown), `output.*` (as for
    /// jobs), `output_dir` / `on_success.dir` / `on_failure.dir` (relative,
    /// not creatable or writable, the watched folder itself, or inside the
    /// watched tree without an `exclude` glob covering it), `include[i]` /
    /// `exclude[i]` (bad glob), `settle_seconds` (outside 0.1..=3600),
    /// `poll_seconds` (outside 0.2..=3600); [`ServiceError::Internal`] for the database.
    pub(crate) async fn add_watch_rule(&self, spec: WatchRuleSpec) -> Result<WatchRule> {
        self.add_rule_with(spec, None).await
    }

    /// [`Service::add_watch_rule`] for network callers (the `/v1` API): the
    /// watched folder and every folder the rule writes into must be under the
    /// service's source roots, as for `{"type": "path"}` job sources, since a
    /// rule reads, moves and may delete files there. With no source roots
    /// configured, no rule can be added this way.
    ///
    /// Errors: as [`Service::add_watch_rule`]; [`ServiceError::Forbidden`]
    /// for a folder outside the source roots (checked before anything is created).
    pub(crate) async fn add_watch_rule_within_roots(&self, spec: WatchRuleSpec) -> Result<WatchRule> {
        self.add_rule_with(spec, Some(self.core.source_roots.clone())).await
    }

    async fn add_rule_with(&self, spec: WatchRuleSpec, roots: Option<Vec<PathBuf>>) -> Result<WatchRule> {
        let ctx = ValidationContext { profiles: self.core.profiles.clone(), reserved: reserved(&self.core), roots };
        let rule = add_rule(&self.core.pool, spec, ctx).await?;
        self.wake.notify_one();
        Ok(rule)
    }

    /// Every rule (not removed), oldest first, with counts.
    /// Errors: [`ServiceError::Internal`].
    pub(crate) async fn list_watch_rules(&self) -> Result<Vec<WatchRule>> {
        db::list_rules(&self.core.pool).await
    }

    /// One rule. Errors: [`ServiceError::NotFound`] (kind `watch_folder`).
    pub(crate) async fn watch_rule(&self, id: &str) -> Result<WatchRule> {
        db::must_get_rule(&self.core.pool, id).await
    }

    /// Removes a rule: it stops watching, its unfinished jobs are canceled
    /// (sources are left alone), and its file records and log are deleted.
    /// Outputs already placed stay. Returns the rule as it was.
    ///
    /// Errors: [`ServiceError::NotFound`]; [`ServiceError::Internal`].
    pub(crate) async fn remove_watch_rule(&self, id: &str) -> Result<WatchRule> {
        let rule = db::must_get_rule(&self.core.pool, id).await?;
        db::mark_removed(&self.core.pool, id).await?;
        self.wake.notify_one();
        Ok(rule)
    }

    /// Pauses a rule: nothing new is taken; jobs already queued finish and
    /// their outputs are placed. Idempotent.
    ///
    /// Errors: [`ServiceError::NotFound`]; [`ServiceError::Internal`].
    pub(crate) async fn pause_watch_rule(&self, id: &str) -> Result<WatchRule> {
        let rule = db::set_paused(&self.core.pool, id, true).await?;
        self.wake.notify_one();
        Ok(rule)
    }

    /// Resumes a paused rule (a full rescan follows). Idempotent.
    ///
    /// Errors: [`ServiceError::NotFound`]; [`ServiceError::Internal`].
    pub(crate) async fn resume_watch_rule(&self, id: &str) -> Result<WatchRule> {
        let rule = db::set_paused(&self.core.pool, id, false).await?;
        self.wake.notify_one();
        Ok(rule)
    }

    /// A rule's decision log, newest first: at most `limit` entries
    /// (1..=1000, default 100) with `seq` below `before` (all when `None`).
    ///
    /// Errors: [`ServiceError::NotFound`]; [`ServiceError::Validation`]
    /// (`limit`); [`ServiceError::Internal`].
    pub(crate) async fn watch_events(
        &self,
        id: &str,
        limit: Option<u32>,
        before: Option<i64>,
    ) -> Result<Vec<WatchEvent>> {
        let limit = check_limit(limit)?;
        db::must_get_rule(&self.core.pool, id).await?;
        db::list_events(&self.core.pool, id, limit, before).await
    }

    /// The files a rule has seen, most recently changed first, at most
    /// `limit` (1..=1000, default 100).
    ///
    /// Errors: [`ServiceError::NotFound`]; [`ServiceError::Validation`]
    /// (`limit`); [`ServiceError::Internal`].
    pub(crate) async fn watch_files(&self, id: &str, limit: Option<u32>) -> Result<Vec<WatchFile>> {
        let limit = check_limit(limit)?;
        db::must_get_rule(&self.core.pool, id).await?;
        db::list_files(&self.core.pool, id, limit).await
    }
}

fn reserved(inner: &Core) -> Vec<PathBuf> {
    [&inner.config.data_dir, &inner.output_dir]
        .into_iter()
        .map(|p| std::fs::canonicalize(p).unwrap_or_else(|_| p.clone()))
        .collect()
}

impl Admin {
    /// Adds a rule from another process (`crema watch add`); a running
    /// service starts it within [`WatchConfig::reload_interval`]. Profiles
    /// are the built-ins plus `profile_dir`.
    ///
    /// Errors: as [`Service::add_watch_rule`]; [`ServiceError::Internal`]
    /// when the profiles cannot be loaded.
    pub async fn add_watch_rule(&self, spec: WatchRuleSpec, profile_dir: Option<&Path>) -> Result<WatchRule> {
        let dir = profile_dir.map(Path::to_path_buf);
        let profiles = tokio::task::spawn_blocking(move || crema_engine::profile::ProfileSet::load(dir.as_deref()))
            .await
            .map_err(|e| ServiceError::Internal(format!("loading profiles: {e}")))?
            .map_err(|e| ServiceError::Internal(format!("loading profiles: {e}")))?;
        let data_dir = std::fs::canonicalize(&self.data_dir).unwrap_or_else(|_| self.data_dir.clone());
        let ctx = ValidationContext { profiles: Arc::new(profiles), reserved: vec![data_dir], roots: None };
        add_rule(&self.pool, spec, ctx).await
    }

    /// Every rule (not removed), oldest first. Errors: [`ServiceError::Internal`].
    pub async fn list_watch_rules(&self) -> Result<Vec<WatchRule>> {
        db::list_rules(&self.pool).await
    }

    /// Marks a rule removed; a running service stops it, cancels its
    /// unfinished jobs and deletes its records within a few seconds (or the
    /// next service to open does). Errors: [`ServiceError::NotFound`], [`ServiceError::Internal`].
    pub async fn remove_watch_rule(&self, id: &str) -> Result<WatchRule> {
        let rule = db::must_get_rule(&self.pool, id).await?;
        db::mark_removed(&self.pool, id).await?;
        Ok(rule)
    }

    /// Pauses a rule (see [`Service::pause_watch_rule`]).
    /// Errors: [`ServiceError::NotFound`], [`ServiceError::Internal`].
    pub async fn pause_watch_rule(&self, id: &str) -> Result<WatchRule> {
        db::set_paused(&self.pool, id, true).await
    }

    /// Resumes a rule (see [`Service::resume_watch_rule`]).
    /// Errors: [`ServiceError::NotFound`], [`ServiceError::Internal`].
    pub async fn resume_watch_rule(&self, id: &str) -> Result<WatchRule> {
        db::set_paused(&self.pool, id, false).await
    }
}
