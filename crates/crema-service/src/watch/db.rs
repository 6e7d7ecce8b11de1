//! Queries on `watch_rules`, `watch_files` and `watch_events`.

use super::model::{WatchCounts, WatchDecision, WatchEvent, WatchFile, WatchRule, WatchRuleSpec};
use crate::error::{Result, ServiceError};
use crate::store::{DbRow, Pool};
use crate::store::{now, ts};
use sqlx::Row;
use std::path::{Path, PathBuf};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// A rule as stored.
#[derive(Clone, Debug)]
pub(crate) struct RuleRow {
    pub id: String,
    pub spec: WatchRuleSpec,
    pub paused: bool,
    pub removed: bool,
    pub baseline_done: bool,
    pub revision: i64,
    created_at: OffsetDateTime,
    updated_at: OffsetDateTime,
}

/// A file identity as stored.
#[derive(Clone, Debug)]
pub(crate) struct FileRow {
    pub id: i64,
    pub path: PathBuf,
    pub size: u64,
    pub mtime_ns: i64,
    pub sha256: Option<String>,
    pub state: String,
    pub job_id: Option<String>,
    pub output_path: Option<String>,
}

fn parse_ts(s: &str) -> Result<OffsetDateTime> {
    OffsetDateTime::parse(s, &Rfc3339).map_err(|e| ServiceError::Internal(format!("stored time {s}: {e}")))
}

fn not_found(id: &str) -> ServiceError {
    ServiceError::NotFound { kind: "watch_folder", id: id.to_string() }
}

fn row_to_rule(row: &DbRow) -> Result<RuleRow> {
    Ok(RuleRow {
        id: row.try_get("id")?,
        spec: serde_json::from_str(&row.try_get::<String, _>("spec_json")?)?,
        paused: row.try_get::<i64, _>("paused")? != 0,
        removed: row.try_get::<i64, _>("removed")? != 0,
        baseline_done: row.try_get::<i64, _>("baseline_done")? != 0,
        revision: row.try_get("revision")?,
        created_at: parse_ts(&row.try_get::<String, _>("created_at")?)?,
        updated_at: parse_ts(&row.try_get::<String, _>("updated_at")?)?,
    })
}

fn row_to_file(row: &DbRow) -> Result<FileRow> {
    Ok(FileRow {
        id: row.try_get("id")?,
        path: PathBuf::from(row.try_get::<String, _>("path")?),
        size: row.try_get::<i64, _>("size")? as u64,
        mtime_ns: row.try_get("mtime_ns")?,
        sha256: row.try_get("sha256")?,
        state: row.try_get("state")?,
        job_id: row.try_get("job_id")?,
        output_path: row.try_get("output_path")?,
    })
}

pub(crate) async fn insert_rule(pool: &Pool, id: &str, spec: &WatchRuleSpec) -> Result<()> {
    let at = ts(now());
    sqlx::query("INSERT INTO watch_rules (id, spec_json, created_at, updated_at) VALUES ($1, $2, $3, $4)")
        .bind(id)
        .bind(serde_json::to_string(spec)?)
        .bind(&at)
        .bind(&at)
        .execute(pool)
        .await?;
    Ok(())
}

/// Every rule, removed ones included (the manager cleans those up).
pub(crate) async fn all_rules(pool: &Pool) -> Result<Vec<RuleRow>> {
    let rows = sqlx::query("SELECT * FROM watch_rules ORDER BY seq").fetch_all(pool).await?;
    rows.iter().map(row_to_rule).collect()
}

async fn counts(pool: &Pool, id: &str) -> Result<WatchCounts> {
    let rows = sqlx::query("SELECT state, COUNT(*) AS n FROM watch_files WHERE rule_id = $1 GROUP BY state")
        .bind(id)
        .fetch_all(pool)
        .await?;
    let mut c = WatchCounts::default();
    for row in rows {
        let n = row.try_get::<i64, _>("n")? as u64;
        match row.try_get::<String, _>("state")?.as_str() {
            "pending" => c.pending += n,
            "queued" | "placing" => c.queued += n,
            "done" => c.done += n,
            "failed" => c.failed += n,
            "duplicate" => c.duplicate += n,
            _ => {}
        }
    }
    Ok(c)
}

async fn to_rule(pool: &Pool, r: RuleRow) -> Result<WatchRule> {
    let counts = counts(pool, &r.id).await?;
    Ok(WatchRule {
        id: r.id,
        spec: r.spec,
        paused: r.paused,
        created_at: r.created_at,
        updated_at: r.updated_at,
        counts,
    })
}

pub(crate) async fn get_rule_row(pool: &Pool, id: &str) -> Result<Option<RuleRow>> {
    let row =
        sqlx::query("SELECT * FROM watch_rules WHERE id = $1 AND removed = 0").bind(id).fetch_optional(pool).await?;
    row.as_ref().map(row_to_rule).transpose()
}

pub(crate) async fn must_get_rule(pool: &Pool, id: &str) -> Result<WatchRule> {
    let r = get_rule_row(pool, id).await?.ok_or_else(|| not_found(id))?;
    to_rule(pool, r).await
}

pub(crate) async fn list_rules(pool: &Pool) -> Result<Vec<WatchRule>> {
    let mut out = Vec::new();
    for r in all_rules(pool).await?.into_iter().filter(|r| !r.removed) {
        out.push(to_rule(pool, r).await?);
    }
    Ok(out)
}

pub(crate) async fn set_paused(pool: &Pool, id: &str, paused: bool) -> Result<WatchRule> {
    let r = sqlx::query(
        "UPDATE watch_rules SET paused = $1, revision = revision + 1, updated_at = $2 WHERE id = $3 AND removed = 0",
    )
    .bind(paused as i64)
    .bind(ts(now()))
    .bind(id)
    .execute(pool)
    .await?;
    if r.rows_affected() == 0 {
        return Err(not_found(id));
    }
    must_get_rule(pool, id).await
}

pub(crate) async fn mark_removed(pool: &Pool, id: &str) -> Result<()> {
    sqlx::query("UPDATE watch_rules SET removed = 1, revision = revision + 1, updated_at = $1 WHERE id = $2")
        .bind(ts(now()))
        .bind(id)
        .execute(pool)
        .await?;
    Ok(())
}

pub(crate) async fn set_baseline_done(pool: &Pool, id: &str) -> Result<()> {
    sqlx::query("UPDATE watch_rules SET baseline_done = 1 WHERE id = $1").bind(id).execute(pool).await?;
    Ok(())
}

/// Job IDs of a rule's unfinished files.
pub(crate) async fn unfinished_jobs(pool: &Pool, rule_id: &str) -> Result<Vec<String>> {
    let rows = sqlx::query(
        "SELECT job_id FROM watch_files WHERE rule_id = $1 AND state IN ('queued', 'placing') AND job_id IS NOT NULL",
    )
    .bind(rule_id)
    .fetch_all(pool)
    .await?;
    rows.iter().map(|r| r.try_get::<String, _>("job_id").map_err(Into::into)).collect()
}

/// Deletes a rule with its files and log (cascade).
pub(crate) async fn delete_rule(pool: &Pool, id: &str) -> Result<()> {
    sqlx::query("DELETE FROM watch_rules WHERE id = $1").bind(id).execute(pool).await?;
    Ok(())
}

/// Keeps the newest [`super::model::MAX_EVENTS_PER_RULE`] log entries of a rule.
pub(crate) async fn prune_events(pool: &Pool, rule_id: &str) -> Result<()> {
    sqlx::query(
        "DELETE FROM watch_events WHERE rule_id = $1 AND seq < (
             SELECT seq FROM watch_events WHERE rule_id = $1 ORDER BY seq DESC LIMIT 1 OFFSET $2)",
    )
    .bind(rule_id)
    .bind(super::model::MAX_EVENTS_PER_RULE - 1)
    .execute(pool)
    .await?;
    Ok(())
}

pub(crate) async fn log(
    pool: &Pool,
    rule_id: &str,
    decision: WatchDecision,
    path: &Path,
    reason: Option<&str>,
    job_id: Option<&str>,
    output_path: Option<&str>,
) {
    let r = sqlx::query(
        "INSERT INTO watch_events (rule_id, at, kind, path, reason, job_id, output_path) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(rule_id)
    .bind(ts(now()))
    .bind(decision.as_str())
    .bind(path.display().to_string())
    .bind(reason)
    .bind(job_id)
    .bind(output_path)
    .execute(pool)
    .await;
    match r {
        Ok(_) => tracing::info!(
            "watch {rule_id}: {} {}{}",
            decision.as_str(),
            path.display(),
            reason.map(|r| format!(": {r}")).unwrap_or_default()
        ),
        Err(e) => tracing::warn!("watch {rule_id}: cannot log a decision on {}: {e}", path.display()),
    }
}

pub(crate) async fn list_events(
    pool: &Pool,
    rule_id: &str,
    limit: u32,
    before: Option<i64>,
) -> Result<Vec<WatchEvent>> {
    let rows = sqlx::query(
        "SELECT * FROM watch_events WHERE rule_id = $1 AND ($2 IS NULL OR seq < $2) ORDER BY seq DESC LIMIT $3",
    )
    .bind(rule_id)
    .bind(before)
    .bind(limit as i64)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|row| {
            let kind: String = row.try_get("kind")?;
            Ok(WatchEvent {
                seq: row.try_get("seq")?,
                rule_id: row.try_get("rule_id")?,
                at: parse_ts(&row.try_get::<String, _>("at")?)?,
                decision: WatchDecision::parse(&kind)
                    .ok_or_else(|| ServiceError::Internal(format!("stored decision {kind}")))?,
                path: row.try_get("path")?,
                reason: row.try_get("reason")?,
                job_id: row.try_get("job_id")?,
                output_path: row.try_get("output_path")?,
            })
        })
        .collect()
}

pub(crate) async fn list_files(pool: &Pool, rule_id: &str, limit: u32) -> Result<Vec<WatchFile>> {
    let rows = sqlx::query("SELECT * FROM watch_files WHERE rule_id = $1 ORDER BY updated_at DESC, id DESC LIMIT $2")
        .bind(rule_id)
        .bind(limit as i64)
        .fetch_all(pool)
        .await?;
    rows.iter()
        .map(|row| {
            let f = row_to_file(row)?;
            let modified_at =
                OffsetDateTime::from_unix_timestamp_nanos(f.mtime_ns as i128).unwrap_or(OffsetDateTime::UNIX_EPOCH);
            Ok(WatchFile {
                path: f.path.display().to_string(),
                bytes: f.size,
                modified_at,
                sha256: f.sha256,
                state: f.state,
                job_id: f.job_id,
                reason: row.try_get("reason")?,
                output_path: f.output_path,
                updated_at: parse_ts(&row.try_get::<String, _>("updated_at")?)?,
            })
        })
        .collect()
}

/// Every live row's identity (path, size, mtime): files the rule knows.
pub(crate) async fn known(pool: &Pool, rule_id: &str) -> Result<Vec<(PathBuf, u64, i64)>> {
    let rows = sqlx::query(
        "SELECT path, size, mtime_ns FROM watch_files WHERE rule_id = $1 AND state NOT IN ('superseded', 'gone')",
    )
    .bind(rule_id)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok((
                PathBuf::from(r.try_get::<String, _>("path")?),
                r.try_get::<i64, _>("size")? as u64,
                r.try_get::<i64, _>("mtime_ns")?,
            ))
        })
        .collect()
}

pub(crate) async fn live_by_path(pool: &Pool, rule_id: &str, path: &Path) -> Result<Option<FileRow>> {
    let row = sqlx::query(
        "SELECT * FROM watch_files WHERE rule_id = $1 AND path = $2 AND state NOT IN ('superseded', 'gone')",
    )
    .bind(rule_id)
    .bind(path.display().to_string())
    .fetch_optional(pool)
    .await?;
    row.as_ref().map(row_to_file).transpose()
}

/// Live rows with this content that count as "already handled" (oldest first).
pub(crate) async fn live_by_hash(pool: &Pool, rule_id: &str, sha256: &str) -> Result<Vec<FileRow>> {
    let rows = sqlx::query(
        "SELECT * FROM watch_files WHERE rule_id = $1 AND sha256 = $2
           AND state IN ('pending', 'queued', 'placing', 'done', 'failed', 'duplicate') ORDER BY id",
    )
    .bind(rule_id)
    .bind(sha256)
    .fetch_all(pool)
    .await?;
    rows.iter().map(row_to_file).collect()
}

/// A new live row.
pub(crate) struct NewFile<'a> {
    pub path: &'a Path,
    pub size: u64,
    pub mtime_ns: i64,
    pub sha256: Option<&'a str>,
    pub state: &'a str,
    pub reason: Option<&'a str>,
}

pub(crate) async fn insert_file(pool: &Pool, rule_id: &str, f: &NewFile<'_>) -> Result<i64> {
    let at = ts(now());
    let row = sqlx::query(
        "INSERT INTO watch_files (rule_id, path, size, mtime_ns, sha256, state, reason, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
    )
    .bind(rule_id)
    .bind(f.path.display().to_string())
    .bind(f.size as i64)
    .bind(f.mtime_ns)
    .bind(f.sha256)
    .bind(f.state)
    .bind(f.reason)
    .bind(&at)
    .bind(&at)
    .fetch_one(pool)
    .await?;
    Ok(row.try_get("id")?)
}

/// New path and identity of a row (a rename, or the same content touched).
pub(crate) async fn set_identity(pool: &Pool, id: i64, path: &Path, size: u64, mtime_ns: i64) -> Result<()> {
    sqlx::query("UPDATE watch_files SET path = $1, size = $2, mtime_ns = $3, updated_at = $4 WHERE id = $5")
        .bind(path.display().to_string())
        .bind(size as i64)
        .bind(mtime_ns)
        .bind(ts(now()))
        .bind(id)
        .execute(pool)
        .await?;
    Ok(())
}

/// New content for a pending row.
pub(crate) async fn set_content(pool: &Pool, id: i64, size: u64, mtime_ns: i64, sha256: &str) -> Result<()> {
    sqlx::query("UPDATE watch_files SET size = $1, mtime_ns = $2, sha256 = $3, updated_at = $4 WHERE id = $5")
        .bind(size as i64)
        .bind(mtime_ns)
        .bind(sha256)
        .bind(ts(now()))
        .bind(id)
        .execute(pool)
        .await?;
    Ok(())
}

pub(crate) async fn set_state(pool: &Pool, id: i64, state: &str, reason: Option<&str>) -> Result<()> {
    sqlx::query("UPDATE watch_files SET state = $1, reason = $2, updated_at = $3 WHERE id = $4")
        .bind(state)
        .bind(reason)
        .bind(ts(now()))
        .bind(id)
        .execute(pool)
        .await?;
    Ok(())
}

pub(crate) async fn set_queued(pool: &Pool, id: i64, job_id: &str) -> Result<()> {
    sqlx::query("UPDATE watch_files SET state = 'queued', job_id = $1, reason = NULL, updated_at = $2 WHERE id = $3")
        .bind(job_id)
        .bind(ts(now()))
        .bind(id)
        .execute(pool)
        .await?;
    Ok(())
}

pub(crate) async fn set_placing(pool: &Pool, id: i64, output_path: &Path) -> Result<()> {
    sqlx::query("UPDATE watch_files SET state = 'placing', output_path = $1, updated_at = $2 WHERE id = $3")
        .bind(output_path.display().to_string())
        .bind(ts(now()))
        .bind(id)
        .execute(pool)
        .await?;
    Ok(())
}

/// Rows waiting for a queue slot, oldest first.
pub(crate) async fn pending(pool: &Pool, rule_id: &str, limit: usize) -> Result<Vec<FileRow>> {
    let rows = sqlx::query("SELECT * FROM watch_files WHERE rule_id = $1 AND state = 'pending' ORDER BY id LIMIT $2")
        .bind(rule_id)
        .bind(limit as i64)
        .fetch_all(pool)
        .await?;
    rows.iter().map(row_to_file).collect()
}

pub(crate) async fn outstanding(pool: &Pool, rule_id: &str) -> Result<usize> {
    let n: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM watch_files WHERE rule_id = $1 AND state IN ('queued', 'placing')")
            .bind(rule_id)
            .fetch_one(pool)
            .await?;
    Ok(n as usize)
}

/// Rows whose job ended (or whose output was being placed): ready to finish.
pub(crate) async fn finishable(pool: &Pool, rule_id: &str) -> Result<Vec<FileRow>> {
    let rows = sqlx::query(
        "SELECT f.* FROM watch_files f LEFT JOIN jobs j ON j.id = f.job_id
          WHERE f.rule_id = $1 AND (f.state = 'placing'
                OR (f.state = 'queued' AND (j.id IS NULL OR j.status IN ('completed', 'failed', 'canceled'))))
          ORDER BY f.id",
    )
    .bind(rule_id)
    .fetch_all(pool)
    .await?;
    rows.iter().map(row_to_file).collect()
}
