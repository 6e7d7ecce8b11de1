//! What every subsystem shares, below all of them: the database pool, the
//! configuration and the folders and profiles it names, the event channel,
//! the draining and free-space flags, IDs and file hashes. Imports nothing
//! but the low modules (config, error, types).

use crate::config::Config;
use crate::store::Pool;
use crate::types::ServiceEvent;
use crema_engine::profile::ProfileSet;
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::{Notify, broadcast};

/// State every subsystem handle holds a share of.
pub(crate) struct Core {
    pub pool: Pool,
    /// The bucket outputs go to (`config.object_store`), `None` on local disk only.
    pub objects: Option<crate::objects::Objects>,
    pub config: Config,
    pub output_dir: PathBuf,
    /// Canonical source roots.
    pub source_roots: Vec<PathBuf>,
    pub profiles: Arc<ProfileSet>,
    pub events: broadcast::Sender<ServiceEvent>,
    /// The service is shutting down.
    pub draining: AtomicBool,
    /// Free disk space is under `config.disk_min_free_bytes` (see [`check_disk`]).
    pub disk_critical: AtomicBool,
    /// Notified when free space came back above the floor.
    pub disk_recovered: Notify,
}

impl Core {
    /// Sends an event to every subscriber (none is fine).
    pub(crate) fn emit(&self, ev: ServiceEvent) {
        let _ = self.events.send(ev);
    }

    /// Takes or keeps the farm-wide duty `duty` for this node (see
    /// [`crate::duty::hold_duty`]); true while this node holds it. On a
    /// database that is not shared it is always true. A database error
    /// answers false (the duty waits rather than running twice).
    pub(crate) async fn hold_duty(&self, duty: &str) -> bool {
        if !self.config.resolved_database().is_shared() {
            return true;
        }
        let ttl_ms = self.config.lease.as_millis() as i64;
        match crate::duty::hold_duty(&self.pool, duty, &self.config.node_name, ttl_ms).await {
            Ok(held) => held,
            Err(e) => {
                tracing::warn!("cannot claim the {duty} duty: {e}");
                false
            }
        }
    }

    /// Whether the service is shutting down.
    pub(crate) fn is_draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }

    /// Whether free disk space is under the floor (last measurement).
    pub(crate) fn is_disk_critical(&self) -> bool {
        self.disk_critical.load(Ordering::SeqCst)
    }
}

/// `prefix_` + 128 random bits in lower-case hex.
pub(crate) fn new_id(prefix: &str) -> String {
    let mut bytes = [0u8; 16];
    if getrandom::fill(&mut bytes).is_err() {
        // No OS randomness is a broken machine; still never reuse an ID.
        let nanos = time::OffsetDateTime::now_utc().unix_timestamp_nanos();
        bytes = nanos.to_le_bytes();
    }
    format!("{prefix}_{}", hex::encode(bytes))
}

/// Lower-case hex SHA-256 of a file, read in 1 MiB blocks.
pub(crate) fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// What one free-space measurement found.
pub(crate) struct DiskCheck {
    /// Free bytes on the fullest file system measured; `None` when none could be read.
    pub free_bytes: Option<u64>,
    /// The folders under the floor.
    pub low: Vec<PathBuf>,
}

/// The folders Crema writes to, one per file system: the data folder
/// (database, uploads, job sources) and the output folder unless it is on
/// the same file system.
fn written_dirs(core: &Core) -> Vec<(&'static str, &Path)> {
    let mut dirs = vec![("data folder", core.config.data_dir.as_path())];
    if !same_file_system(&core.config.data_dir, &core.output_dir) {
        dirs.push(("output folder", core.output_dir.as_path()));
    }
    dirs
}

#[cfg(unix)]
fn same_file_system(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev(),
        _ => a == b,
    }
}

#[cfg(not(unix))]
fn same_file_system(a: &Path, b: &Path) -> bool {
    a == b
}

/// Measures free space on every file system Crema writes to and updates
/// `disk_critical` (any of them under `Config::disk_min_free_bytes`); logs
/// which folder is low when that starts, and when space is back (then
/// notifies `disk_recovered`).
pub(crate) fn check_disk(core: &Core) -> DiskCheck {
    let floor = core.config.disk_min_free_bytes;
    let mut free_bytes: Option<u64> = None;
    let mut low = Vec::new();
    let mut lines = Vec::new();
    for (name, dir) in written_dirs(core) {
        match fs4::available_space(dir) {
            Ok(free) => {
                free_bytes = Some(free_bytes.map_or(free, |f| f.min(free)));
                if free < floor {
                    lines.push(format!("only {free} bytes free on the {name} ({})", dir.display()));
                    low.push(dir.to_path_buf());
                }
            }
            Err(e) => tracing::warn!("{name} {}: cannot read free space: {e}", dir.display()),
        }
    }
    if free_bytes.is_none() {
        // Nothing measured: keep the last verdict.
        return DiskCheck { free_bytes, low };
    }
    let critical = !low.is_empty();
    let was = core.disk_critical.swap(critical, Ordering::SeqCst);
    if critical && !was {
        tracing::warn!("{}: no new encodes or uploads until more than {floor} bytes are free there", lines.join("; "));
    } else if was && !critical {
        tracing::info!(
            "disk space recovered ({} bytes free): taking encodes and uploads again",
            free_bytes.unwrap_or_default()
        );
        core.disk_recovered.notify_waiters();
    }
    DiskCheck { free_bytes, low }
}
/// Lexical normalization: drops `.`, resolves `..` against earlier parts.
pub(crate) fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}
