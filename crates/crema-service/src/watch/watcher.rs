//! The running part: a manager task that follows the rules in the database,
//! and one task per rule that watches (notify events, rescans, polling),
//! settles, identifies, queues, and finishes files.

use super::db::{self, FileRow, NewFile, RuleRow};
use super::finish::Finisher;
use super::model::{Watch, WatchDecision, WatchRuleSpec};
use super::rules::Filter;
use super::scan::{self, Settle, Settler};
use crate::error::ServiceError;
use crate::types::{JobSpec, ServiceEvent, SourceSpec};
use notify::Watcher as _;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{broadcast, mpsc, watch};
use tokio::task::{JoinHandle, JoinSet};

/// Files hashed at once per rule.
const IDENTIFY_CONCURRENCY: usize = 2;
/// How often a rule looks for finished jobs even without an event.
const FINISH_POLL: Duration = Duration::from_secs(2);
/// How long a stopping rule waits for file work under way.
const STOP_GRACE: Duration = Duration::from_secs(10);
/// How often the decision logs are pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(600);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Ctl {
    paused: bool,
    stop: bool,
}

struct Running {
    ctl: watch::Sender<Ctl>,
    task: JoinHandle<()>,
    revision: i64,
}

async fn stop(r: Running) {
    let _ = r.ctl.send(Ctl { paused: true, stop: true });
    if tokio::time::timeout(STOP_GRACE + Duration::from_secs(2), r.task).await.is_err() {
        tracing::warn!("watch: a rule task did not stop in time");
    }
}

/// Follows the rules table: starts a task per active rule, tells tasks when
/// their rule is paused or resumed, stops and cleans up removed rules. Re-reads
/// the table every `reload_interval` and whenever the service changes a rule.
/// Ends when the service drains.
pub(crate) async fn manager(inner: Arc<Watch>) {
    let mut running: HashMap<String, Running> = HashMap::new();
    let mut last_prune: Option<Instant> = None;
    loop {
        if inner.core.is_draining() {
            break;
        }
        if !inner.core.hold_duty("watch").await {
            // Another node of the farm runs the watch folders.
            for (_, r) in running.drain() {
                stop(r).await;
            }
            tokio::select! {
                _ = inner.wake.notified() => {}
                _ = tokio::time::sleep(inner.core.config.watch.reload_interval) => {}
            }
            continue;
        }
        match db::all_rules(&inner.core.pool).await {
            Ok(rules) => {
                let mut live = HashSet::new();
                for rule in rules {
                    if rule.removed {
                        if let Some(r) = running.remove(&rule.id) {
                            stop(r).await;
                        }
                        cleanup_removed(&inner, &rule.id).await;
                        continue;
                    }
                    live.insert(rule.id.clone());
                    let restart = running.get(&rule.id).is_some_and(|r| r.task.is_finished());
                    if restart {
                        tracing::warn!("watch {}: the rule's task ended; restarting it", rule.id);
                        running.remove(&rule.id);
                    }
                    match running.get_mut(&rule.id) {
                        Some(r) => {
                            if r.revision != rule.revision {
                                r.revision = rule.revision;
                                let _ = r.ctl.send(Ctl { paused: rule.paused, stop: false });
                            }
                        }
                        None => {
                            let (tx, rx) = watch::channel(Ctl { paused: rule.paused, stop: false });
                            let revision = rule.revision;
                            let id = rule.id.clone();
                            let task = tokio::spawn(run_rule(inner.clone(), rule, rx));
                            running.insert(id, Running { ctl: tx, task, revision });
                        }
                    }
                }
                let gone: Vec<String> = running.keys().filter(|k| !live.contains(*k)).cloned().collect();
                for id in gone {
                    if let Some(r) = running.remove(&id) {
                        stop(r).await;
                    }
                }
                if last_prune.is_none_or(|t| t.elapsed() >= PRUNE_EVERY) {
                    last_prune = Some(Instant::now());
                    for id in &live {
                        if let Err(e) = db::prune_events(&inner.core.pool, id).await {
                            tracing::warn!("watch {id}: cannot prune the decision log: {e}");
                        }
                    }
                }
            }
            Err(e) => tracing::warn!("watch: cannot read the rules: {e}"),
        }
        tokio::select! {
            _ = inner.wake.notified() => {}
            _ = tokio::time::sleep(inner.core.config.watch.reload_interval) => {}
        }
    }
    let all: Vec<Running> = running.into_values().collect();
    for r in &all {
        let _ = r.ctl.send(Ctl { paused: true, stop: true });
    }
    for r in all {
        stop(r).await;
    }
}

/// A removed rule: cancel its unfinished jobs, then delete it with its rows.
async fn cleanup_removed(inner: &Arc<Watch>, id: &str) {
    match db::unfinished_jobs(&inner.core.pool, id).await {
        Ok(jobs) => {
            for job in jobs {
                match inner.jobs.cancel(&job).await {
                    Ok(_) | Err(ServiceError::JobNotCancelable(_)) | Err(ServiceError::NotFound { .. }) => {}
                    Err(e) => tracing::warn!("watch {id}: cannot cancel job {job}: {e}"),
                }
            }
        }
        Err(e) => {
            tracing::warn!("watch {id}: cannot list the removed rule's jobs: {e}");
            return;
        }
    }
    match db::delete_rule(&inner.core.pool, id).await {
        Ok(()) => tracing::info!("watch {id}: rule removed"),
        Err(e) => tracing::warn!("watch {id}: cannot delete the removed rule: {e}"),
    }
}

fn start_watcher(
    spec: &WatchRuleSpec,
    tx: mpsc::UnboundedSender<notify::Result<notify::Event>>,
) -> notify::Result<notify::RecommendedWatcher> {
    let mut w = notify::recommended_watcher(move |res| {
        let _ = tx.send(res);
    })?;
    let mode = if spec.recursive { notify::RecursiveMode::Recursive } else { notify::RecursiveMode::NonRecursive };
    w.watch(&spec.folder, mode)?;
    Ok(w)
}

/// What one rule's task keeps.
struct Rule {
    inner: Arc<Watch>,
    id: String,
    spec: Arc<WatchRuleSpec>,
    filter: Arc<Filter>,
    own: Arc<Vec<PathBuf>>,
    settle: f64,
    /// Live rows' identities: a file seen again unchanged is skipped without reading it.
    known: HashMap<PathBuf, (u64, i64)>,
    settler: Settler,
    /// Ignore decisions already logged by this task (path, reason): logged once.
    logged: HashSet<(PathBuf, String)>,
    identifying: HashSet<PathBuf>,
    /// Settled files waiting for an identification slot (also in `identifying`).
    ready: std::collections::VecDeque<(PathBuf, u64, i64)>,
    finishing: HashSet<i64>,
    /// A file changed while its job ran: look again once jobs finish.
    rescan_after_finish: bool,
    /// Finished jobs were looked for at least once since the task started.
    looked: bool,
}

type Identified = (PathBuf, u64, i64, Result<String, String>);

async fn run_rule(inner: Arc<Watch>, rule: RuleRow, mut ctl: watch::Receiver<Ctl>) {
    let filter = match Filter::new(&rule.spec) {
        Ok(f) => Arc::new(f),
        Err(e) => {
            tracing::error!("watch {}: the stored rule does not compile: {e}", rule.id);
            let _ = ctl.wait_for(|c| c.stop).await;
            return;
        }
    };
    let reserved = super::model::reserved(&inner.core);
    let own = Arc::new(scan::own_dirs(&rule.spec, &reserved));
    let settle = rule.spec.settle_seconds.unwrap_or(super::model::DEFAULT_SETTLE_SECONDS);
    let mut r = Rule {
        inner: inner.clone(),
        id: rule.id.clone(),
        spec: Arc::new(rule.spec.clone()),
        filter,
        own,
        settle,
        known: HashMap::new(),
        settler: Settler::default(),
        logged: HashSet::new(),
        identifying: HashSet::new(),
        ready: Default::default(),
        finishing: HashSet::new(),
        rescan_after_finish: false,
        looked: false,
    };
    match db::known(&inner.core.pool, &r.id).await {
        Ok(rows) => r.known = rows.into_iter().map(|(p, s, m)| (p, (s, m))).collect(),
        Err(e) => tracing::warn!("watch {}: cannot load known files: {e}", r.id),
    }
    let config = inner.core.config.watch.clone();
    let polling = rule.spec.poll_seconds;
    let use_events = config.events && polling.is_none();
    let scan_every = polling.map(Duration::from_secs_f64).unwrap_or(config.rescan_interval);
    let mut baseline = !rule.spec.take_existing && !rule.baseline_done;
    let mut baseline_recorded = rule.baseline_done;
    let mut job_events = inner.core.events.subscribe();
    let (fs_tx, mut fs_rx) = mpsc::unbounded_channel();
    let mut watcher: Option<notify::RecommendedWatcher> = None;
    let mut watcher_failed = false;
    let mut identify: JoinSet<Identified> = JoinSet::new();
    let mut finish: JoinSet<i64> = JoinSet::new();
    let mut tick = tokio::time::interval(config.tick);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut next_scan = Instant::now();
    let mut last_finish_poll = Instant::now();
    let (mut finish_due, mut dispatch_due) = (true, true);
    tracing::info!(
        "watch {}: watching {} ({}{})",
        r.id,
        r.spec.folder.display(),
        if rule.spec.recursive { "recursive, " } else { "" },
        match polling {
            Some(p) => format!("polling every {p} s"),
            None if use_events => "events".into(),
            None => format!("events off, rescan every {} s", scan_every.as_secs_f64()),
        }
    );
    loop {
        let c = *ctl.borrow();
        if c.stop || inner.core.is_draining() {
            break;
        }
        if c.paused {
            watcher = None;
            r.settler.candidates.clear();
            for (p, _, _) in std::mem::take(&mut r.ready) {
                r.identifying.remove(&p);
            }
        } else if use_events && watcher.is_none() && !watcher_failed {
            match start_watcher(&r.spec, fs_tx.clone()) {
                Ok(w) => watcher = Some(w),
                Err(e) => {
                    // Fall back to the periodic rescan; say so once.
                    watcher_failed = true;
                    tracing::warn!(
                        "watch {}: no file-system events for {} ({e}); relying on the rescan every {} s",
                        r.id,
                        r.spec.folder.display(),
                        scan_every.as_secs_f64()
                    );
                }
            }
            // Anything that arrived before the watch started is found by a scan.
            next_scan = Instant::now();
        }
        if !c.paused && Instant::now() >= next_scan {
            if baseline {
                r.record_baseline().await;
                baseline = false;
            } else {
                r.scan(r.spec.folder.clone()).await;
            }
            if !baseline_recorded {
                baseline_recorded = true;
                if let Err(e) = db::set_baseline_done(&inner.core.pool, &r.id).await {
                    tracing::warn!("watch {}: {e}", r.id);
                }
            }
            next_scan = Instant::now() + scan_every;
        }
        if finish_due {
            finish_due = false;
            last_finish_poll = Instant::now();
            r.start_finishing(&mut finish).await;
        }
        if dispatch_due && !c.paused {
            dispatch_due = false;
            r.dispatch().await;
        }
        tokio::select! {
            Some(first) = fs_rx.recv() => {
                let mut batch = vec![first];
                while let Ok(more) = fs_rx.try_recv() {
                    batch.push(more);
                }
                if !c.paused && r.on_fs_events(batch).await {
                    next_scan = Instant::now();
                }
            }
            ev = job_events.recv() => match ev {
                Ok(ServiceEvent::JobStateChanged { job })
                    if job.status.is_terminal()
                        && job.metadata.get("watch_rule").and_then(|v| v.as_str()) == Some(r.id.as_str()) =>
                {
                    finish_due = true;
                }
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(_)) => finish_due = true,
                Err(broadcast::error::RecvError::Closed) => break,
            },
            Some(done) = identify.join_next() => {
                if let Ok((path, size, mtime, res)) = done {
                    r.identified(path, size, mtime, res).await;
                }
                r.fill_identify(&mut identify);
                dispatch_due = true;
            }
            Some(done) = finish.join_next() => {
                if let Ok(id) = done {
                    r.finishing.remove(&id);
                }
                if std::mem::take(&mut r.rescan_after_finish) {
                    next_scan = Instant::now();
                }
                dispatch_due = true;
            }
            _ = tick.tick() => {
                if !c.paused {
                    r.settle_tick(&mut identify).await;
                }
                dispatch_due = true;
                if last_finish_poll.elapsed() >= FINISH_POLL {
                    finish_due = true;
                }
            }
            changed = ctl.changed() => {
                if changed.is_err() {
                    break;
                }
                // Resumed (or paused): look at the whole folder again.
                next_scan = Instant::now();
            }
        }
    }
    drop(watcher);
    identify.abort_all();
    // Let outputs being verified or placed finish, so no step is left half-done.
    let _ = tokio::time::timeout(STOP_GRACE, async { while finish.join_next().await.is_some() {} }).await;
    tracing::info!("watch {}: stopped", r.id);
}

impl Rule {
    async fn log(&self, d: WatchDecision, path: &Path, reason: Option<&str>, job: Option<&str>, out: Option<&str>) {
        db::log(&self.inner.core.pool, &self.id, d, path, reason, job, out).await;
    }

    /// Logs an `ignored` decision once per path and reason for this task.
    async fn ignore_once(&mut self, path: &Path, reason: String) {
        if self.logged.insert((path.to_path_buf(), reason.clone())) {
            self.log(WatchDecision::Ignored, path, Some(&reason), None, None).await;
        }
    }

    /// A file seen by an event or a scan (`stat` is `None` when it is gone).
    async fn consider(&mut self, path: PathBuf, stat: Option<(u64, i64)>) {
        if let Err(skip) = scan::classify(&path, &self.spec, &self.filter, &self.own) {
            if let Some(reason) = skip.reason()
                && stat.is_some()
            {
                self.ignore_once(&path, reason).await;
            }
            return;
        }
        let Some((size, mtime)) = stat else {
            if self.settler.candidates.remove(&path).is_some() {
                self.log(
                    WatchDecision::Ignored,
                    &path,
                    Some("deleted or renamed away before it was taken"),
                    None,
                    None,
                )
                .await;
            }
            return;
        };
        if size == 0 {
            // Copy tools create the file first; wait for content (seen again on its next change).
            self.settler.candidates.remove(&path);
            self.ignore_once(&path, "empty file; waiting for content".into()).await;
            return;
        }
        if self.known.get(&path) == Some(&(size, mtime)) || self.identifying.contains(&path) {
            return;
        }
        self.settler.saw(path, size, mtime, Instant::now());
    }

    /// Handles a batch of notify events; returns true when a full rescan is needed.
    async fn on_fs_events(&mut self, batch: Vec<notify::Result<notify::Event>>) -> bool {
        let mut rescan = false;
        let mut paths = Vec::new();
        for ev in batch {
            match ev {
                Ok(ev) if ev.need_rescan() => rescan = true,
                Ok(ev) => {
                    if !matches!(ev.kind, notify::EventKind::Access(notify::event::AccessKind::Open(_))) {
                        paths.extend(ev.paths);
                    }
                }
                Err(e) => {
                    tracing::warn!("watch {}: file-system event error: {e}; rescanning", self.id);
                    rescan = true;
                }
            }
        }
        paths.sort();
        paths.dedup();
        if paths.is_empty() {
            return rescan;
        }
        let (spec, filter, own) = (self.spec.clone(), self.filter.clone(), self.own.clone());
        // A folder moved in (a camera card) brings files that sent no events of their own.
        let found = tokio::task::spawn_blocking(move || {
            let mut out = Vec::new();
            for p in paths {
                match std::fs::symlink_metadata(&p) {
                    Ok(m) if m.is_dir() => {
                        if spec.recursive && scan::descend(&p, &spec, &filter, &own) {
                            out.extend(scan::walk(&p, &spec, &filter, &own));
                        }
                    }
                    _ => {
                        let st = scan::stat(&p);
                        out.push((p, st));
                    }
                }
            }
            out
        })
        .await
        .unwrap_or_default();
        for (p, st) in found {
            self.consider(p, st).await;
        }
        rescan
    }

    async fn scan(&mut self, root: PathBuf) {
        let (spec, filter, own) = (self.spec.clone(), self.filter.clone(), self.own.clone());
        let found = tokio::task::spawn_blocking(move || scan::walk(&root, &spec, &filter, &own)).await;
        for (p, st) in found.unwrap_or_default() {
            self.consider(p, st).await;
        }
    }

    /// First start with `take_existing: false`: record what is there, take nothing.
    async fn record_baseline(&mut self) {
        let (spec, filter, own) = (self.spec.clone(), self.filter.clone(), self.own.clone());
        let root = spec.folder.clone();
        let found = tokio::task::spawn_blocking(move || scan::walk(&root, &spec, &filter, &own)).await;
        for (p, st) in found.unwrap_or_default() {
            let Some((size, mtime)) = st else { continue };
            if scan::classify(&p, &self.spec, &self.filter, &self.own).is_err() || self.known.contains_key(&p) {
                continue;
            }
            let reason = "present when the rule started; existing files are not taken (take_existing: false)";
            let row =
                NewFile { path: &p, size, mtime_ns: mtime, sha256: None, state: "baseline", reason: Some(reason) };
            match db::insert_file(&self.inner.core.pool, &self.id, &row).await {
                Ok(_) => {
                    self.known.insert(p.clone(), (size, mtime));
                    self.log(WatchDecision::Ignored, &p, Some(reason), None, None).await;
                }
                Err(e) => tracing::warn!("watch {}: {}: {e}", self.id, p.display()),
            }
        }
    }

    /// Re-checks candidates; settled ones are identified (hashed) off the runtime.
    async fn settle_tick(&mut self, identify: &mut JoinSet<Identified>) {
        if self.settler.candidates.is_empty() {
            return;
        }
        let paths: Vec<PathBuf> = self.settler.candidates.keys().cloned().collect();
        let stats = tokio::task::spawn_blocking(move || {
            paths.into_iter().map(|p| (scan::stat(&p), p)).collect::<Vec<(Option<(u64, i64)>, PathBuf)>>()
        })
        .await
        .unwrap_or_default();
        let now = Instant::now();
        for (st, path) in stats {
            match self.settler.check(&path, st, self.settle, now) {
                Settle::Waiting => {}
                Settle::Gone => {
                    self.log(
                        WatchDecision::Ignored,
                        &path,
                        Some("deleted or renamed away before it was taken"),
                        None,
                        None,
                    )
                    .await;
                }
                Settle::Ready { size, mtime_ns } => {
                    self.settler.candidates.remove(&path);
                    self.identifying.insert(path.clone());
                    self.ready.push_back((path, size, mtime_ns));
                }
            }
        }
        self.fill_identify(identify);
    }

    /// Starts identifying settled files, [`IDENTIFY_CONCURRENCY`] at a time.
    fn fill_identify(&mut self, identify: &mut JoinSet<Identified>) {
        while identify.len() < IDENTIFY_CONCURRENCY {
            let Some((path, size, mtime_ns)) = self.ready.pop_front() else { return };
            identify.spawn(async move {
                let p = path.clone();
                let res = tokio::task::spawn_blocking(move || scan::identify(&p, size, mtime_ns))
                    .await
                    .unwrap_or_else(|e| Err(format!("reading failed: {e}")));
                (path, size, mtime_ns, res)
            });
        }
    }

    async fn identified(&mut self, path: PathBuf, size: u64, mtime: i64, res: Result<String, String>) {
        self.identifying.remove(&path);
        match res {
            Ok(sha) => {
                if let Err(e) = self.decide(&path, size, mtime, &sha).await {
                    tracing::warn!("watch {}: {}: {e}; will look again", self.id, path.display());
                    self.settler.saw(path, size, mtime, Instant::now());
                }
            }
            Err(why) => {
                // Not readable yet, or changed while read: settle again.
                tracing::debug!("watch {}: {}: {why}", self.id, path.display());
                self.settler.saw(path, size, mtime, Instant::now());
            }
        }
    }

    /// The exactly-once decision for a complete file with known content.
    async fn decide(&mut self, path: &Path, size: u64, mtime: i64, sha: &str) -> crate::error::Result<()> {
        let pool = self.inner.core.pool.clone();
        if let Some(row) = db::live_by_path(&pool, &self.id, path).await? {
            if row.sha256.as_deref() == Some(sha) {
                // Touched, or copied over with the same bytes: nothing new.
                db::set_identity(&pool, row.id, path, size, mtime).await?;
                self.known.insert(path.to_path_buf(), (size, mtime));
                return Ok(());
            }
            match row.state.as_str() {
                "pending" => {
                    db::set_content(&pool, row.id, size, mtime, sha).await?;
                    self.known.insert(path.to_path_buf(), (size, mtime));
                    return Ok(());
                }
                "queued" | "placing" => {
                    // Replaced while its job runs: look again once it is finished.
                    self.rescan_after_finish = true;
                    return Ok(());
                }
                _ => {
                    db::set_state(&pool, row.id, "superseded", Some("replaced by new content")).await?;
                }
            }
        }
        for other in db::live_by_hash(&pool, &self.id, sha).await? {
            let old = other.path.clone();
            if old == path {
                continue;
            }
            let old_exists = tokio::task::spawn_blocking(move || old.exists()).await.unwrap_or(true);
            if !old_exists && matches!(other.state.as_str(), "pending" | "done" | "failed" | "duplicate") {
                // The same content under a new name, the old name gone: a rename.
                db::set_identity(&pool, other.id, path, size, mtime).await?;
                self.known.remove(&other.path);
                self.known.insert(path.to_path_buf(), (size, mtime));
                if other.state != "pending" {
                    let reason = format!(
                        "renamed from {}; this content was already {} and is not encoded again",
                        other.path.display(),
                        if other.state == "failed" { "tried (it failed)" } else { "encoded" }
                    );
                    self.log(WatchDecision::Ignored, path, Some(&reason), other.job_id.as_deref(), None).await;
                }
                return Ok(());
            }
        }
        if let Some(first) = db::live_by_hash(&pool, &self.id, sha).await?.into_iter().find(|o| o.path != path) {
            let reason = format!("same content as {} ({}); not encoded again", first.path.display(), first.state);
            let row =
                NewFile { path, size, mtime_ns: mtime, sha256: Some(sha), state: "duplicate", reason: Some(&reason) };
            db::insert_file(&pool, &self.id, &row).await?;
            self.known.insert(path.to_path_buf(), (size, mtime));
            self.log(WatchDecision::Ignored, path, Some(&reason), None, None).await;
            return Ok(());
        }
        let row = NewFile { path, size, mtime_ns: mtime, sha256: Some(sha), state: "pending", reason: None };
        db::insert_file(&pool, &self.id, &row).await?;
        self.known.insert(path.to_path_buf(), (size, mtime));
        Ok(())
    }

    /// Queues pending files while the rule has fewer than
    /// `max_outstanding_per_rule` jobs queued or running.
    async fn dispatch(&mut self) {
        let pool = self.inner.core.pool.clone();
        let max = self.inner.core.config.watch.max_outstanding_per_rule.max(1);
        let outstanding = match db::outstanding(&pool, &self.id).await {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!("watch {}: {e}", self.id);
                return;
            }
        };
        // Shutting down, or the disk is almost full: files wait as `pending` rows.
        if outstanding >= max || self.inner.core.is_draining() || self.inner.core.is_disk_critical() {
            return;
        }
        let rows = match db::pending(&pool, &self.id, max - outstanding).await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!("watch {}: {e}", self.id);
                return;
            }
        };
        for row in rows {
            if let Err(e) = self.queue(row).await {
                tracing::warn!("watch {}: {e}", self.id);
                return;
            }
        }
    }

    async fn queue(&mut self, row: FileRow) -> crate::error::Result<()> {
        let pool = self.inner.core.pool.clone();
        let p = row.path.clone();
        let now_stat = tokio::task::spawn_blocking(move || scan::stat(&p)).await.unwrap_or(None);
        match now_stat {
            None => {
                let why = "deleted before it was taken";
                db::set_state(&pool, row.id, "gone", Some(why)).await?;
                self.known.remove(&row.path);
                self.log(WatchDecision::Ignored, &row.path, Some(why), None, None).await;
                return Ok(());
            }
            Some((s, m)) if (s, m) != (row.size, row.mtime_ns) => {
                // Changed since it was identified: forget this identity and settle again.
                db::set_state(&pool, row.id, "superseded", Some("changed before it was taken")).await?;
                self.known.remove(&row.path);
                self.settler.saw(row.path.clone(), s, m, Instant::now());
                return Ok(());
            }
            Some(_) => {}
        }
        // The row points at the job before the job exists: a crash in between
        // leaves a `queued` row without a job, which is queued again (never twice).
        let job_id = crate::shared::new_id("job");
        db::set_queued(&pool, row.id, &job_id).await?;
        let spec = JobSpec {
            source: SourceSpec::Path { path: row.path.clone() },
            profile: self.spec.profile.clone(),
            output: self.spec.output.clone(),
            webhook_ids: Vec::new(),
            metadata: Some(serde_json::json!({
                "watch_rule": self.id,
                "watch_file": row.path.display().to_string(),
            })),
        };
        match self.inner.jobs.submit(spec, job_id.clone()).await {
            Ok(job) => {
                let reason = format!("complete (unchanged for {} s); job queued", self.settle);
                self.log(WatchDecision::Taken, &row.path, Some(&reason), Some(&job.id), None).await;
                Ok(())
            }
            Err(e @ ServiceError::CapacityExceeded(_)) => {
                // Shutting down or disk almost full: stay pending, try later.
                sqlx::query("UPDATE watch_files SET state = 'pending', job_id = NULL WHERE id = $1")
                    .bind(row.id)
                    .execute(&pool)
                    .await?;
                Err(e)
            }
            Err(e) => {
                let why = format!("cannot be queued: {e}");
                let f = Finisher::new(self.inner.clone(), self.id.clone(), self.spec.clone(), !self.looked);
                f.fail(&row, None, &why).await;
                Ok(())
            }
        }
    }

    async fn start_finishing(&mut self, set: &mut JoinSet<i64>) {
        let rows = match db::finishable(&self.inner.core.pool, &self.id).await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!("watch {}: {e}", self.id);
                return;
            }
        };
        let recovering = !self.looked;
        self.looked = true;
        for row in rows {
            if self.finishing.insert(row.id) {
                let mut f = Finisher::new(self.inner.clone(), self.id.clone(), self.spec.clone(), !self.looked);
                f.recovering = recovering;
                set.spawn(async move {
                    let id = row.id;
                    if let Err(e) = f.finish(row).await {
                        tracing::warn!("watch {}: finishing file {id}: {e}", f.rule_id);
                    }
                    id
                });
            }
        }
    }
}
