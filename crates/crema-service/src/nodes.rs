//! The nodes sharing this database (farm mode): each registers itself at
//! start, beats every third of its lease, and is listed by
//! [`crate::Service::nodes`] (`GET /v1/nodes`). Duties that must run once per
//! farm (webhook delivery, retention, upload expiry, watch folders) go to the
//! node holding the duty's claim ([`crate::duty::hold_duty`]).

use crate::error::Result;
use crate::store::{Pool, now, now_ms, parse_ts, ts};
use serde::Serialize;
use sqlx::Row;
use time::OffsetDateTime;
use utoipa::ToSchema;

/// One node as the database knows it.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct NodeInfo {
    /// `--node-name` (default the host name).
    pub name: String,
    /// Crema's version on that node.
    pub version: String,
    /// Encode slots (`--workers`).
    pub workers: u32,
    /// Jobs it runs now.
    pub running_jobs: u32,
    /// Video encoders it found (FFmpeg names, software and hardware).
    pub encoders: Vec<String>,
    /// When its process started.
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    /// Its last heartbeat.
    #[serde(with = "time::serde::rfc3339")]
    pub last_heartbeat_at: OffsetDateTime,
    /// `online` (beat within its lease), `stopped` (shut down cleanly) or
    /// `lost` (no heartbeat for longer than a lease: its jobs are requeued).
    pub state: String,
}

/// Registers (or re-registers after a restart) node `name`.
pub(crate) async fn register(pool: &Pool, name: &str, workers: usize, encoders: &[String]) -> Result<()> {
    let at = ts(now());
    let instance = crate::shared::new_id("run_");
    sqlx::query(
        "INSERT INTO nodes (name, instance, version, workers, encoders_json, started_at, heartbeat_at, heartbeat_ms, stopped)
         VALUES ($1, $2, $3, $4, $5, $6, $6, $7, 0)
         ON CONFLICT (name) DO UPDATE SET instance = $2, version = $3, workers = $4, encoders_json = $5,
                                          started_at = $6, heartbeat_at = $6, heartbeat_ms = $7, stopped = 0",
    )
    .bind(name)
    .bind(instance)
    .bind(env!("CARGO_PKG_VERSION"))
    .bind(workers as i64)
    .bind(serde_json::to_string(encoders)?)
    .bind(at)
    .bind(now_ms())
    .execute(pool)
    .await?;
    Ok(())
}

/// Records a heartbeat of node `name`.
pub(crate) async fn beat(pool: &Pool, name: &str) -> Result<()> {
    sqlx::query("UPDATE nodes SET heartbeat_at = $1, heartbeat_ms = $2, stopped = 0 WHERE name = $3")
        .bind(ts(now()))
        .bind(now_ms())
        .bind(name)
        .execute(pool)
        .await?;
    Ok(())
}

/// Marks node `name` as stopped cleanly and gives up its duties.
pub(crate) async fn stopped(pool: &Pool, name: &str) -> Result<()> {
    sqlx::query("UPDATE nodes SET stopped = 1 WHERE name = $1").bind(name).execute(pool).await?;
    sqlx::query("DELETE FROM duties WHERE holder = $1").bind(name).execute(pool).await?;
    Ok(())
}

/// Every node, by name; a node is `lost` after `lease_ms` without a heartbeat.
pub(crate) async fn list(pool: &Pool, lease_ms: i64) -> Result<Vec<NodeInfo>> {
    let rows = sqlx::query(
        "SELECT n.*, (SELECT COUNT(*) FROM jobs j WHERE j.node = n.name
                        AND j.status IN ('probing', 'encoding', 'muxing', 'uploading_output')) AS running
         FROM nodes n ORDER BY n.name",
    )
    .fetch_all(pool)
    .await?;
    let now_ms = now_ms();
    rows.iter()
        .map(|r| {
            let beat_ms: i64 = r.try_get("heartbeat_ms")?;
            let state = if r.try_get::<i64, _>("stopped")? == 1 {
                "stopped"
            } else if now_ms - beat_ms > lease_ms {
                "lost"
            } else {
                "online"
            };
            Ok(NodeInfo {
                name: r.try_get("name")?,
                version: r.try_get("version")?,
                workers: r.try_get::<i64, _>("workers")? as u32,
                running_jobs: r.try_get::<i64, _>("running")? as u32,
                encoders: serde_json::from_str(&r.try_get::<String, _>("encoders_json")?)?,
                started_at: parse_ts(Some(r.try_get("started_at")?))?.unwrap_or_else(now),
                last_heartbeat_at: parse_ts(Some(r.try_get("heartbeat_at")?))?.unwrap_or_else(now),
                state: state.to_string(),
            })
        })
        .collect()
}
