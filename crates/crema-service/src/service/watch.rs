//! The watch-folders part of [`Service`]: the rules API.

use super::Service;
use crate::error::Result;
use crate::origin::Origin;
use crate::watch::{WatchEvent, WatchFile, WatchRule, WatchRuleSpec};

impl Service {
    /// Adds a watch-folder rule; it starts at once (taking the files already
    /// in the folder unless `take_existing` is false).
    ///
    /// For [`Origin::Network`] (the `/v1` API) the watched folder and every
    /// folder the rule writes into must be under the service's source roots,
    /// as for `{"type": "path"}` job sources, since a rule reads, moves and
    /// may delete files there; with no source roots configured, no rule can
    /// be added that way. [`Origin::Local`] (the desktop app) may name any folder.
    ///
    /// Errors: [`crate::ServiceError::Validation`] naming the field: `folder`
    /// (relative, missing, not a folder, unreadable, or holding the service's
    /// own data or output folder), `profile` (unknown), `output.*` (as for
    /// jobs), `output_dir` / `on_success.dir` / `on_failure.dir` (relative,
    /// not creatable or writable, the watched folder itself, or inside the
    /// watched tree without an `exclude` glob covering it), `include[i]` /
    /// `exclude[i]` (bad glob), `settle_seconds` (outside 0.1..=3600),
    /// `poll_seconds` (outside 0.2..=3600); for [`Origin::Network`],
    /// [`crate::ServiceError::Forbidden`] for a folder outside the source roots
    /// (checked before anything is created); [`crate::ServiceError::Internal`] for the database.
    pub async fn add_watch_rule(&self, spec: WatchRuleSpec, origin: Origin) -> Result<WatchRule> {
        self.watch.add_watch_rule(spec, &origin).await
    }

    /// Every rule (not removed), oldest first, with counts.
    /// Errors: [`crate::ServiceError::Internal`].
    pub async fn list_watch_rules(&self) -> Result<Vec<WatchRule>> {
        self.watch.list_watch_rules().await
    }

    /// One rule. Errors: [`crate::ServiceError::NotFound`] (kind `watch_folder`).
    pub async fn watch_rule(&self, id: &str) -> Result<WatchRule> {
        self.watch.watch_rule(id).await
    }

    /// Removes a rule: it stops watching, its unfinished jobs are canceled
    /// (sources are left alone), and its file records and log are deleted.
    /// Outputs already placed stay. Returns the rule as it was.
    ///
    /// Errors: [`crate::ServiceError::NotFound`]; [`crate::ServiceError::Internal`].
    pub async fn remove_watch_rule(&self, id: &str) -> Result<WatchRule> {
        self.watch.remove_watch_rule(id).await
    }

    /// Pauses a rule: nothing new is taken; jobs already queued finish and
    /// their outputs are placed. Idempotent.
    ///
    /// Errors: [`crate::ServiceError::NotFound`]; [`crate::ServiceError::Internal`].
    pub async fn pause_watch_rule(&self, id: &str) -> Result<WatchRule> {
        self.watch.pause_watch_rule(id).await
    }

    /// Resumes a paused rule (a full rescan follows). Idempotent.
    ///
    /// Errors: [`crate::ServiceError::NotFound`]; [`crate::ServiceError::Internal`].
    pub async fn resume_watch_rule(&self, id: &str) -> Result<WatchRule> {
        self.watch.resume_watch_rule(id).await
    }

    /// A rule's decision log, newest first: at most `limit` entries
    /// (1..=1000, default 100) with `seq` below `before` (all when `None`).
    ///
    /// Errors: [`crate::ServiceError::NotFound`]; [`crate::ServiceError::Validation`]
    /// (`limit`); [`crate::ServiceError::Internal`].
    pub async fn watch_events(&self, id: &str, limit: Option<u32>, before: Option<i64>) -> Result<Vec<WatchEvent>> {
        self.watch.watch_events(id, limit, before).await
    }

    /// The files a rule has seen, most recently changed first, at most
    /// `limit` (1..=1000, default 100).
    ///
    /// Errors: [`crate::ServiceError::NotFound`]; [`crate::ServiceError::Validation`]
    /// (`limit`); [`crate::ServiceError::Internal`].
    pub async fn watch_files(&self, id: &str, limit: Option<u32>) -> Result<Vec<WatchFile>> {
        self.watch.watch_files(id, limit).await
    }
}
