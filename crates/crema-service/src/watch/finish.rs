//! Finishing a file whose job ended: verify and place the output, apply the
//! rule's success or failure action, record the outcome. Each finish runs in
//! its own task.

use super::db::{self, FileRow};
use super::model::{FailureAction, SuccessAction, Watch, WatchDecision, WatchRuleSpec};
use super::scan;
use crate::place::{self, Placement};
use crate::store;
use crate::types::JobStatus;
use crema_engine::verify;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What finishing a file needs (owned: runs in its own task).
pub(super) struct Finisher {
    inner: Arc<Watch>,
    pub(super) rule_id: String,
    spec: Arc<WatchRuleSpec>,
    /// The rule's first look after it started: a `queued` row without its job
    /// is a crash between recording the job ID and creating the job.
    pub(super) recovering: bool,
}

impl Finisher {
    /// A finisher for the rule `rule_id`; `recovering`: the rule's first
    /// look after it started.
    pub(super) fn new(inner: Arc<Watch>, rule_id: String, spec: Arc<WatchRuleSpec>, recovering: bool) -> Self {
        Self { inner, rule_id, spec, recovering }
    }

    fn rel_dir(&self, source: &Path) -> PathBuf {
        source.strip_prefix(&self.spec.folder).ok().and_then(Path::parent).map(Path::to_path_buf).unwrap_or_default()
    }

    async fn log(&self, d: WatchDecision, path: &Path, reason: Option<&str>, job: Option<&str>, out: Option<&str>) {
        db::log(&self.inner.core.pool, &self.rule_id, d, path, reason, job, out).await;
    }

    /// A file whose job ended (or whose output was being placed).
    pub(super) async fn finish(&self, row: FileRow) -> crate::error::Result<()> {
        let pool = &self.inner.core.pool;
        let Some(job_id) = row.job_id.clone() else {
            db::set_state(pool, row.id, "pending", None).await?;
            return Ok(());
        };
        let Some(job) = self.inner.jobs.find(&job_id).await? else {
            if self.recovering && row.state == "queued" {
                // A crash between recording the job ID and creating the job: queue it again.
                sqlx::query(
                    "UPDATE watch_files SET state = 'pending', job_id = NULL WHERE id = $1 AND state = 'queued'",
                )
                .bind(row.id)
                .execute(pool)
                .await?;
            } else {
                // Someone removed the finished job (and its output) before it was placed.
                self.fail(&row, Some(&job_id), "its job was removed before the output was placed").await;
            }
            return Ok(());
        };
        match job.status {
            JobStatus::Completed => self.completed(&row, &job).await,
            JobStatus::Failed | JobStatus::Canceled => {
                let why = match (&job.error, &job.status_reason) {
                    (Some(e), _) => format!("the encode failed: {e}"),
                    (None, Some(r)) => format!("the job was {}: {r}", job.status),
                    (None, None) => format!("the job was {}", job.status),
                };
                self.fail(&row, Some(&job.id), &why).await;
                Ok(())
            }
            _ => Ok(()),
        }
    }

    async fn completed(&self, row: &FileRow, job: &crate::types::Job) -> crate::error::Result<()> {
        let pool = &self.inner.core.pool;
        let source = row.path.clone();
        let job_dir = self.inner.core.output_dir.join(&job.id);
        let stem_src = source.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "output".into());
        let stem = format!("{stem_src}.{}", self.spec.profile);
        let dest_dir = self.spec.output_dir.clone().unwrap_or_default().join(self.rel_dir(&source));
        let Some(out_path) = job.output.path.clone().map(PathBuf::from) else {
            // sophon-auto kept the original: nothing was written.
            let note = "the encode would not have saved space, so nothing was written (final_artifact: original)";
            let action = if matches!(self.spec.on_success, SuccessAction::Delete) {
                // Never delete a source that has no output beside it.
                SuccessAction::Leave
            } else {
                self.spec.on_success.clone()
            };
            let done = self.source_action(row, &action).await;
            db::set_state(pool, row.id, "done", Some(&format!("{note}; {done}"))).await?;
            self.log(WatchDecision::Done, &source, Some(&format!("{note}; {done}")), Some(&job.id), None).await;
            return Ok(());
        };
        let hls = job.output.hls.is_some();
        let main = if hls {
            Placement {
                src: job_dir.join("hls"),
                dir: dest_dir.clone(),
                stem: stem.clone(),
                ext: "hls".into(),
                tmp_name: format!(".crema-placing-{}-main.hls", row.id),
            }
        } else {
            let ext = out_path.extension().map(|e| e.to_string_lossy().into_owned()).unwrap_or_else(|| "mp4".into());
            Placement {
                src: out_path.clone(),
                dir: dest_dir.clone(),
                stem: stem.clone(),
                tmp_name: format!(".crema-placing-{}-main.{ext}", row.id),
                ext,
            }
        };
        let keep = self.spec.output.hls.as_ref().and_then(|h| h.keep_mp4).map(|k| Placement {
            src: job_dir.join(format!("{k}p.mp4")),
            dir: dest_dir.clone(),
            stem: format!("{stem}.{k}p"),
            ext: "mp4".into(),
            tmp_name: format!(".crema-placing-{}-keep.mp4", row.id),
        });
        if main.src.exists() {
            // Verify before anything is moved: the output decodes and lasts as long as the source.
            let (src, out) = (source.clone(), main.src.clone());
            let verdict = tokio::task::spawn_blocking(move || {
                if hls { verify::verify_hls(&out.join("master.m3u8"), &src) } else { verify::verify_file(&out, &src) }
            })
            .await
            .map_err(|e| format!("the check failed: {e}"))
            .and_then(|r| r.map_err(|e| e.to_string()));
            if let Err(why) = verdict {
                let why = format!(
                    "the output did not verify ({why}); it was kept in {} and the source was not touched by a success action",
                    job_dir.display()
                );
                self.fail(row, Some(&job.id), &why).await;
                return Ok(());
            }
            if row.state != "placing" {
                sqlx::query(
                    "UPDATE watch_files SET state = 'placing', output_path = NULL, updated_at = $1 WHERE id = $2",
                )
                .bind(store::ts(store::now()))
                .bind(row.id)
                .execute(pool)
                .await?;
            }
        }
        if let Some(k) = keep {
            let placed = tokio::task::spawn_blocking(move || place::place_unrecorded(&k)).await;
            if let Ok(Err(e)) = placed {
                tracing::warn!("watch {}: cannot place the kept MP4: {e}", self.rule_id);
            }
        }
        // The waveform (output.waveform) goes beside the output as STEM.dat / STEM.json.
        let mut waveform_placed = None;
        if let Some(src) = job.output.waveform.as_ref().and_then(|w| w.path.clone()).map(PathBuf::from) {
            let ext = src.extension().map(|e| e.to_string_lossy().into_owned()).unwrap_or_else(|| "dat".into());
            let w = Placement {
                src,
                dir: dest_dir.clone(),
                stem: stem.clone(),
                tmp_name: format!(".crema-placing-{}-waveform.{ext}", row.id),
                ext,
            };
            match tokio::task::spawn_blocking(move || place::place_unrecorded(&w)).await {
                Ok(Ok(p)) => waveform_placed = p,
                Ok(Err(e)) => tracing::warn!("watch {}: cannot place the waveform: {e}", self.rule_id),
                Err(e) => tracing::warn!("watch {}: cannot place the waveform: {e}", self.rule_id),
            }
        }
        let previous = row.output_path.clone().map(PathBuf::from);
        let placed = match self.place_recorded(row.id, main, previous).await {
            Ok(p) => p,
            Err(e) => {
                self.fail(row, Some(&job.id), &format!("the verified output could not be placed: {e}")).await;
                return Ok(());
            }
        };
        db::set_placing(pool, row.id, &placed).await?;
        let mut output = job.output.clone();
        let main_file = if hls { placed.join("master.m3u8") } else { placed.clone() };
        output.path = Some(main_file.display().to_string());
        if let Some(h) = output.hls.as_mut() {
            h.master_playlist = main_file.display().to_string();
        }
        output.retention_expires_at = None;
        if let Some(w) = output.waveform.as_mut() {
            w.path = waveform_placed.map(|p| p.display().to_string());
        }
        self.inner.jobs.set_output(&job.id, &output).await?;
        let dir = job_dir.clone();
        let _ = tokio::task::spawn_blocking(move || std::fs::remove_dir_all(dir)).await;
        let done = self.source_action(row, &self.spec.on_success).await;
        let placed_text = placed.display().to_string();
        sqlx::query(
            "UPDATE watch_files SET state = 'done', reason = $1, output_path = $2, updated_at = $3 WHERE id = $4",
        )
        .bind(&done)
        .bind(&placed_text)
        .bind(store::ts(store::now()))
        .bind(row.id)
        .execute(pool)
        .await?;
        self.log(WatchDecision::Done, &source, Some(&done), Some(&job.id), Some(&placed_text)).await;
        Ok(())
    }

    /// Places the main output exactly once: staged at its temp name, then
    /// published under a name that is recorded BEFORE it is used, so a crash
    /// at any point resumes with the same name (never a second copy).
    async fn place_recorded(&self, row_id: i64, p: Placement, previous: Option<PathBuf>) -> Result<PathBuf, String> {
        let p = Arc::new(p);
        let blocking = |f: Box<dyn FnOnce() -> std::io::Result<Option<PathBuf>> + Send>| async move {
            tokio::task::spawn_blocking(f).await.map_err(|e| e.to_string())?.map_err(|e| e.to_string())
        };
        let q = p.clone();
        let staged = blocking(Box::new(move || Ok(q.stage()?.then(PathBuf::new)))).await?.is_some();
        if !staged {
            // Nothing at the temp name: a previous run published it, or the output is gone.
            let prev = previous.clone();
            return blocking(Box::new(move || Ok(prev.filter(|p| p.symlink_metadata().is_ok()))))
                .await?
                .ok_or_else(|| format!("{}: the output is missing", p.src.display()));
        }
        let mut name = previous;
        for _ in 0..1000 {
            let dest = match name.take() {
                Some(d) => d,
                None => {
                    let q = p.clone();
                    let d = blocking(Box::new(move || place::free_name(&q.dir, &q.stem, &q.ext).map(Some)))
                        .await?
                        .ok_or("no free name")?;
                    db::set_placing(&self.inner.core.pool, row_id, &d).await.map_err(|e| e.to_string())?;
                    d
                }
            };
            let (q, d) = (p.clone(), dest.clone());
            let done = blocking(Box::new(move || Ok(place::publish_exact(&q.tmp(), &d)?.then(PathBuf::new)))).await?;
            if done.is_some() {
                return Ok(dest);
            }
        }
        Err("no free name in the output folder".into())
    }

    /// The success post-action, only on the very file that was encoded.
    async fn source_action(&self, row: &FileRow, action: &SuccessAction) -> String {
        let source = row.path.clone();
        let (size, mtime) = (row.size, row.mtime_ns);
        let action = action.clone();
        let dest = match &action {
            SuccessAction::Move { dir: Some(d) } => Some(d.join(self.rel_dir(&source))),
            _ => None,
        };
        tokio::task::spawn_blocking(move || match scan::stat(&source) {
            None => "the source is no longer there".to_string(),
            Some(st) if st != (size, mtime) => {
                "the source changed during the encode, so it was left in place (its new content is taken separately)"
                    .to_string()
            }
            Some(_) => match (action, dest) {
                (SuccessAction::Leave, _) => "source left in place".to_string(),
                (SuccessAction::Move { .. }, Some(dest)) => match place::move_source(&source, &dest) {
                    Ok(to) => format!("source moved to {}", to.display()),
                    Err(e) => format!("the source could not be moved ({e}); it was left in place"),
                },
                (SuccessAction::Move { .. }, None) => "source left in place (no done folder)".to_string(),
                (SuccessAction::Delete, _) => match std::fs::remove_file(&source) {
                    Ok(()) => "source deleted".to_string(),
                    Err(e) => format!("the source could not be deleted ({e}); it was left in place"),
                },
            },
        })
        .await
        .unwrap_or_else(|e| format!("the post-action failed: {e}"))
    }

    /// Records a failure and runs the failure post-action.
    pub(super) async fn fail(&self, row: &FileRow, job_id: Option<&str>, why: &str) {
        let source = row.path.clone();
        let (size, mtime) = (row.size, row.mtime_ns);
        let dest = match &self.spec.on_failure {
            FailureAction::Move { dir: Some(d) } => Some(d.join(self.rel_dir(&source))),
            _ => None,
        };
        let text = format!(
            "Crema could not encode this file.\n\nFile:  {}\nRule:  {}\nJob:   {}\nWhen:  {}\nWhy:   {}\n",
            source.display(),
            self.rule_id,
            job_id.unwrap_or("-"),
            store::ts(store::now()),
            why
        );
        let note = tokio::task::spawn_blocking(move || {
            let dest = dest?;
            Some(match scan::stat(&source) {
                None => "the source is no longer there".to_string(),
                Some(st) if st != (size, mtime) => "the source changed meanwhile, so it was left in place".to_string(),
                Some(_) => match place::move_source(&source, &dest) {
                    Ok(to) => match place::write_error_file(&to, &text) {
                        Ok(err) => format!("source moved to {} (why: {})", to.display(), err.display()),
                        Err(e) => format!("source moved to {}; the error file could not be written: {e}", to.display()),
                    },
                    Err(e) => format!("the source could not be moved ({e}); it was left in place"),
                },
            })
        })
        .await
        .unwrap_or(None);
        let reason = match note {
            Some(n) => format!("{why}; {n}"),
            None => why.to_string(),
        };
        if let Err(e) = db::set_state(&self.inner.core.pool, row.id, "failed", Some(&reason)).await {
            tracing::warn!("watch {}: cannot record a failure: {e}", self.rule_id);
        }
        self.log(WatchDecision::Failed, &row.path, Some(&reason), job_id, None).await;
    }
}
