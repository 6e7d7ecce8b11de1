//! Outputs written under temporary names beside their final place
//! (`.NAME.crema-partial…`) and renamed only when everything succeeded
//! ([`Staging`]), so a failed or canceled run leaves nothing behind and
//! never replaces an existing file with a broken one.

use std::path::{Path, PathBuf};

use crate::error::{EngineError, Result};
use crate::progress::Event;

/// Temporary outputs that become final only on [`Staging::commit`];
/// dropped uncommitted, they are removed.
pub(crate) struct Staging {
    pub(crate) entries: Vec<(PathBuf, PathBuf, bool)>,
    committed: bool,
}

impl Staging {
    pub(crate) fn new() -> Self {
        Self { entries: Vec::new(), committed: false }
    }

    /// A temporary path beside `final_path` (same folder, so rename is atomic).
    pub(crate) fn add(&mut self, final_path: &Path, is_dir: bool) -> Result<PathBuf> {
        let name = final_path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        // Unique per process and call, so concurrent jobs writing the same
        // output never touch each other's temporary files.
        let tag = unique_tag();
        let tmp_name = match final_path.extension() {
            Some(ext) if !is_dir => format!(".{name}.crema-partial-{tag}.{}", ext.to_string_lossy()),
            _ => format!(".{name}.crema-partial-{tag}"),
        };
        let tmp = final_path.with_file_name(tmp_name);
        if is_dir {
            std::fs::create_dir(&tmp).map_err(|e| io_out_err(final_path, e))?;
        } else {
            std::fs::File::create(&tmp).map_err(|e| io_out_err(final_path, e))?;
        }
        self.entries.push((tmp.clone(), final_path.to_path_buf(), is_dir));
        Ok(tmp)
    }

    /// Removes every temporary output now (files still open in a muxer are
    /// unlinked; the muxer's later writes go nowhere).
    pub(crate) fn discard(&mut self) {
        for (tmp, _, is_dir) in &self.entries {
            let _ = if *is_dir { std::fs::remove_dir_all(tmp) } else { std::fs::remove_file(tmp) };
        }
    }

    /// Moves every temporary output to its final place. A file replaces an
    /// existing one atomically (`rename`); an existing folder is first moved
    /// aside and removed only once the new one is in place, so a failure
    /// never leaves neither.
    pub(crate) fn commit(mut self) -> Result<()> {
        for (tmp, fin, is_dir) in &self.entries {
            if *is_dir && fin.exists() {
                let name = fin.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                let old = fin.with_file_name(format!(".{name}.crema-old-{}", unique_tag()));
                std::fs::rename(fin, &old).map_err(|e| io_out_err(fin, e))?;
                if let Err(e) = std::fs::rename(tmp, fin) {
                    let _ = std::fs::rename(&old, fin);
                    return Err(io_out_err(fin, e));
                }
                let _ = std::fs::remove_dir_all(&old);
            } else {
                std::fs::rename(tmp, fin).map_err(|e| io_out_err(fin, e))?;
            }
        }
        self.committed = true;
        Ok(())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.committed {
            self.discard();
        }
    }
}

/// Cancellation: partial outputs go first, before encoders are closed (x265
/// may take a while to drain its frame threads), then callers are told.
pub(crate) fn canceled(staging: &mut Staging, on_event: &mut dyn FnMut(Event)) -> EngineError {
    staging.discard();
    on_event(Event::Canceled);
    EngineError::Canceled
}

/// `PID-N`, unique within this machine's running processes.
fn unique_tag() -> String {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    format!("{}-{}", std::process::id(), COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
}

pub(crate) fn io_out_err(path: &Path, e: std::io::Error) -> EngineError {
    if e.raw_os_error() == Some(libc::ENOSPC) {
        EngineError::DiskFull { path: path.into() }
    } else {
        EngineError::OutputNotWritable { path: path.into(), cause: e.to_string() }
    }
}

/// Bytes of every file under `dir`, recursively (0 for what cannot be read).
pub(crate) fn dir_size(dir: &Path) -> u64 {
    let mut total = 0;
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            total += if p.is_dir() { dir_size(&p) } else { e.metadata().map(|m| m.len()).unwrap_or(0) };
        }
    }
    total
}
