//! Watch folders: files dropped in a folder are encoded once, only after
//! their copy has finished, across restarts.
//!
//! A [`WatchRule`] names a folder, which files in it to take (recursive or
//! not, include/exclude globs), the profile and output options of the jobs,
//! where verified outputs go, and what happens to the source afterwards.
//! Rules live in the job store (migration `0006_watch.sql`) and run inside
//! every [`crate::Service`] (desktop and headless modes alike):
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
mod finish;
mod model;
mod rules;
mod scan;
mod watcher;

use crate::auth::Admin;
pub use crate::config::WatchConfig;
use crate::error::{Result, ServiceError};
use crate::origin::Origin;
use crate::shared::new_id;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub(crate) use model::Watch;
pub use model::{
    DEFAULT_INCLUDE, DEFAULT_SETTLE_SECONDS, FailureAction, MAX_EVENTS_PER_RULE, MAX_LIST_LIMIT, SuccessAction,
    WatchCounts, WatchDecision, WatchEvent, WatchFile, WatchRule, WatchRuleSpec,
};
use model::{ValidationContext, reserved};
pub(crate) use watcher::manager;

fn check_limit(limit: Option<u32>) -> Result<u32> {
    let limit = limit.unwrap_or(100);
    if !(1..=MAX_LIST_LIMIT).contains(&limit) {
        return Err(ServiceError::validation("limit", format!("must be 1..{MAX_LIST_LIMIT}, got {limit}")));
    }
    Ok(limit)
}

async fn add_rule(pool: &crate::store::Pool, spec: WatchRuleSpec, ctx: ValidationContext) -> Result<WatchRule> {
    let spec = tokio::task::spawn_blocking(move || rules::validate(spec, &ctx))
        .await
        .map_err(|e| ServiceError::Internal(format!("validating the rule: {e}")))??;
    let id = new_id("wf");
    db::insert_rule(pool, &id, &spec).await?;
    db::must_get_rule(pool, &id).await
}

impl Watch {
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
    pub(crate) async fn add_watch_rule(&self, spec: WatchRuleSpec, origin: &Origin) -> Result<WatchRule> {
        let roots = match origin {
            Origin::Local => None,
            Origin::Network(_) => Some(self.core.source_roots.clone()),
        };
        self.add_rule_with(spec, roots).await
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

impl Admin {
    /// Adds a rule from another process (`crema watch add`); a running
    /// service starts it within [`WatchConfig::reload_interval`]. Profiles
    /// are the built-ins plus `profile_dir`.
    ///
    /// Errors: as [`crate::Service::add_watch_rule`]; [`ServiceError::Internal`]
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

    /// Pauses a rule (see [`crate::Service::pause_watch_rule`]).
    /// Errors: [`ServiceError::NotFound`], [`ServiceError::Internal`].
    pub async fn pause_watch_rule(&self, id: &str) -> Result<WatchRule> {
        db::set_paused(&self.pool, id, true).await
    }

    /// Resumes a rule (see [`crate::Service::resume_watch_rule`]).
    /// Errors: [`ServiceError::NotFound`], [`ServiceError::Internal`].
    pub async fn resume_watch_rule(&self, id: &str) -> Result<WatchRule> {
        db::set_paused(&self.pool, id, false).await
    }
}
