//! Upload upkeep: open-time recovery, the expiry pass and its task, freeing
//! an upload's files (also on a full disk) and the space reserve.

use super::bucket;
use super::files::{DirPlan, recover_dirs, remove_path};
use super::model::{Stored, UploadStatus};
use super::state::{
    UploadRow, Uploads, blocking, internal_io, is_database_full, load, u64_col, unix_ms, upload_dir, uploads_root,
};
use crate::error::{Result, ServiceError};
use crate::store::{Backend, backend, begin_immediate, now};
use sqlx::Row;
use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// How often the cleanup task looks for expired uploads.
const CLEANUP_INTERVAL: Duration = Duration::from_secs(60);

/// The space reserve's file name in the data folder.
const SPACE_RESERVE: &str = "space-reserve";

/// Bytes held back in `<data_dir>/space-reserve` and given up when the
/// database cannot record a delete for want of space, so that deleting an
/// upload works at 0 bytes free even when its files free nothing. A delete
/// changes a handful of database pages; 1 MiB holds the WAL frames (one page,
/// 4 KiB, plus a 24-byte header each: SQLite, "WAL-mode file format") of
/// about 250. Made again at the next upload once space allows.
const SPACE_RESERVE_BYTES: usize = 1 << 20;

/// Removes the upload's folder, then marks it `status` (canceled or expired)
/// with no files and drops its part rows. Caller holds the upload's lock
/// exclusively.
///
/// Files first: on a full disk SQLite cannot append the WAL frames of the
/// change (`SQLITE_FULL`) until the removed files have given space back. A
/// crash in between leaves a row whose files are gone: open-time recovery
/// drops its part rows, and deleting again finishes the job. A folder that
/// cannot be removed now is removed at the next open. When the removal freed
/// too little (no parts yet, an assembled file a job still links), the space
/// reserve is given up and the change tried again.
pub(super) async fn free_files(inner: &Uploads, up: &UploadRow, status: Stored) -> Result<()> {
    let dir = upload_dir(inner, &up.id);
    let _ = blocking("removing upload files", move || remove_path(&dir)).await;
    if up.multipart_id.is_some() {
        return free_objects(inner, up, status).await;
    }
    match mark_freed(inner, &up.id, status).await {
        Err(e) if is_database_full(&e) && release_reserve(inner).await => {
            tracing::warn!("upload {}: the disk is full; the space reserve was given up to record the delete", up.id);
            Ok(mark_freed(inner, &up.id, status).await?)
        }
        other => Ok(other?),
    }
}

/// [`free_files`] for an upload kept in the bucket: its objects are deleted,
/// unless a job that may still run names it (see `bucket.rs`); then only
/// the status changes, and a later expiry pass deletes them.
///
/// The status is committed before the jobs are counted, and a submission
/// inserts its job before it looks at the upload again
/// ([`Uploads::confirm_source`]): of a delete and a submission that overlap,
/// on any nodes, at least one sees the other, so no queued job is left
/// naming a deleted object.
async fn free_objects(inner: &Uploads, up: &UploadRow, status: Stored) -> Result<()> {
    if up.status != status {
        let mut tx = begin_immediate(&inner.core.pool).await?;
        sqlx::query("UPDATE uploads SET status = $1 WHERE id = $2")
            .bind(status.as_str())
            .bind(&up.id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM upload_parts WHERE upload_id = $1").bind(&up.id).execute(&mut *tx).await?;
        tx.commit().await?;
    }
    if bucket::needed_by_a_job(inner, &up.id).await? {
        return Ok(());
    }
    let objects = inner.core.objects.as_ref().ok_or_else(|| {
        ServiceError::Internal(format!("upload {} is kept in the object store, which this server lacks", up.id))
    })?;
    bucket::discard(objects, up).await?;
    Ok(mark_freed(inner, &up.id, status).await?)
}

async fn mark_freed(inner: &Uploads, id: &str, status: Stored) -> Result<(), sqlx::Error> {
    let mut tx = begin_immediate(&inner.core.pool).await?;
    sqlx::query("UPDATE uploads SET status = $1, files_present = 0 WHERE id = $2")
        .bind(status.as_str())
        .bind(id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM upload_parts WHERE upload_id = $1").bind(id).execute(&mut *tx).await?;
    tx.commit().await
}

fn reserve_path(inner: &Uploads) -> PathBuf {
    inner.core.config.data_dir.join(SPACE_RESERVE)
}

/// Makes `<data_dir>/space-reserve` ([`SPACE_RESERVE_BYTES`] of real blocks)
/// unless it is there; a disk too full for it is logged, not an error.
pub(super) async fn keep_reserve(inner: &Uploads) {
    let path = reserve_path(inner);
    if tokio::fs::metadata(&path).await.is_ok_and(|m| m.len() == SPACE_RESERVE_BYTES as u64) {
        return;
    }
    let made = tokio::task::spawn_blocking(move || {
        let tmp = path.with_extension("tmp");
        let written = File::create(&tmp).and_then(|mut f| {
            f.write_all(&vec![0u8; SPACE_RESERVE_BYTES])?;
            f.sync_all()
        });
        match written.and_then(|()| std::fs::rename(&tmp, &path)) {
            Ok(()) => Ok(()),
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                Err(e)
            }
        }
    })
    .await;
    if let Ok(Err(e)) = made {
        tracing::debug!("no space reserve for now: {e}");
    }
}

/// Removes the space reserve; whether there was one.
async fn release_reserve(inner: &Uploads) -> bool {
    tokio::fs::remove_file(reserve_path(inner)).await.is_ok()
}

/// Whether a job that is not terminal names this upload as its source
/// (see [`bucket::jobs_naming`]).
async fn referenced_by_live_job(inner: &Uploads, id: &str) -> Result<bool> {
    bucket::jobs_naming(inner, id, bucket::Naming::Unfinished).await
}

/// One expiry pass (see [`crate::Service::cleanup_uploads`]).
pub(super) async fn cleanup(inner: &Uploads) -> Result<u64> {
    let at = now();
    // Local files only on the node that holds them; the bucket's from any node.
    let ids: Vec<String> = sqlx::query_scalar(
        "SELECT id FROM uploads WHERE files_present = 1 AND expires_ms <= $1
           AND (multipart_id IS NOT NULL OR CAST($2 AS TEXT) IS NULL OR node IS NULL OR node = $2) ORDER BY seq",
    )
    .bind(unix_ms(at))
    .bind(own_node(inner))
    .fetch_all(&inner.core.pool)
    .await?;
    let mut removed = 0;
    for id in ids {
        let lock = inner.locks.of(&id);
        let _exclusive = lock.write().await;
        let up = match load(inner, &id).await {
            Ok(up) => up,
            Err(ServiceError::NotFound { .. }) => continue,
            Err(e) => return Err(e),
        };
        if !up.files_present || up.expires_at > at {
            continue;
        }
        let status = match up.status {
            Stored::Shown(UploadStatus::Completed) if referenced_by_live_job(inner, &id).await? => continue,
            Stored::Shown(UploadStatus::Canceled) => Stored::Shown(UploadStatus::Canceled),
            _ => Stored::Expired,
        };
        free_files(inner, &up, status).await?;
        tracing::info!("upload {id}: expired; files removed");
        removed += 1;
    }
    inner.locks.prune();
    Ok(removed)
}

/// The node whose uploads recovery and expiry of local files look at: this
/// one on PostgreSQL, where several nodes share the rows; `None` (every row)
/// on SQLite, which only one box uses, so a renamed host still finds its own.
fn own_node(inner: &Uploads) -> Option<String> {
    (backend(&inner.core.pool) == Backend::Postgres).then(|| inner.core.config.node_name.clone())
}

/// Open-time recovery (see the module docs).
async fn recover(inner: &Uploads) -> Result<()> {
    let root = uploads_root(inner);
    tokio::fs::create_dir_all(&root).await.map_err(|e| internal_io(root.display(), e))?;
    // This node's local uploads: the bucket's need no recovery, and another
    // node's parts are on that node's disk.
    let rows = sqlx::query(
        "SELECT * FROM uploads WHERE files_present = 1 AND multipart_id IS NULL
           AND (CAST($1 AS TEXT) IS NULL OR node IS NULL OR node = $1)",
    )
    .bind(own_node(inner))
    .fetch_all(&inner.core.pool)
    .await?;
    let mut plans = Vec::with_capacity(rows.len());
    for row in &rows {
        let up = UploadRow::from_row(row)?;
        let parts = sqlx::query("SELECT part_number, bytes FROM upload_parts WHERE upload_id = $1")
            .bind(&up.id)
            .fetch_all(&inner.core.pool)
            .await?
            .iter()
            .map(|r| Ok((r.try_get::<i64, _>("part_number")?.max(0) as u64, u64_col(r, "bytes")?)))
            .collect::<Result<HashMap<u64, u64>>>()?;
        // An assembly the process did not finish is undone: the session is open again.
        let open = matches!(up.status, Stored::Shown(UploadStatus::Uploading | UploadStatus::Assembling));
        plans.push(DirPlan { part0_len: up.part_len(0), open, id: up.id, parts });
    }
    let drop_rows = blocking("recovering upload folders", move || recover_dirs(&root, &plans)).await?;
    for (id, n) in &drop_rows {
        tracing::warn!("upload {id}: part {n} was lost or damaged on disk; it must be sent again");
        sqlx::query("DELETE FROM upload_parts WHERE upload_id = $1 AND part_number = $2")
            .bind(id)
            .bind(*n as i64)
            .execute(&inner.core.pool)
            .await?;
    }
    // A completion this node did not finish (local or in the bucket).
    sqlx::query(
        "UPDATE uploads SET status = 'uploading'
         WHERE status = 'assembling' AND (CAST($1 AS TEXT) IS NULL OR node IS NULL OR node = $1)",
    )
    .bind(own_node(inner))
    .execute(&inner.core.pool)
    .await?;
    Ok(())
}

/// Upload recovery, a first expiry pass, then the cleanup task (every
/// minute until the service drains or is dropped). Called by [`crate::Service::open`].
pub(crate) async fn start(inner: &Arc<Uploads>) -> Result<()> {
    recover(inner).await?;
    keep_reserve(inner).await;
    cleanup(inner).await?;
    let weak = Arc::downgrade(inner);
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(CLEANUP_INTERVAL).await;
            let Some(inner) = weak.upgrade() else { break };
            if inner.core.is_draining() {
                break;
            }
            if let Err(e) = cleanup(&inner).await {
                tracing::warn!("upload cleanup: {e}");
            }
        }
    });
    Ok(())
}
