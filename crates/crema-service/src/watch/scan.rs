//! What a rule looks at: which names are candidates, walking the folder,
//! file identity (size, modification time, content hash) and settling.

use super::model::WatchRuleSpec;
use super::rules::Filter;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Instant, UNIX_EPOCH};

/// Extensions of files still being written by browsers, downloaders and copy tools.
const PARTIAL_EXTENSIONS: &[&str] = &["part", "partial", "crdownload", "download", "tmp", "temp"];

/// Why a path is not a candidate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Skip {
    /// A temporary or partial name: ignored until renamed (logged once).
    Temporary(&'static str),
    /// Matches an exclude glob (logged once).
    Excluded,
    /// Does not match the include globs (logged once).
    NotIncluded,
    /// Not below the folder at the watched depth, or one of the rule's own
    /// folders, or the service's: not logged.
    Outside,
}

impl Skip {
    /// The reason in words, for the decision log; `None` when not logged.
    pub(crate) fn reason(self) -> Option<String> {
        match self {
            Skip::Temporary(why) => Some(format!("{why}; ignored until it is renamed")),
            Skip::Excluded => Some("matches an exclude pattern".into()),
            Skip::NotIncluded => Some("does not match the include patterns".into()),
            Skip::Outside => None,
        }
    }
}

/// The paths a rule must never look into: its own output/done/failed
/// folders and the service's data and output folders.
pub(crate) fn own_dirs(spec: &WatchRuleSpec, reserved: &[PathBuf]) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = reserved.to_vec();
    dirs.extend(spec.output_dir.clone());
    if let super::model::SuccessAction::Move { dir: Some(d) } = &spec.on_success {
        dirs.push(d.clone());
    }
    if let super::model::FailureAction::Move { dir: Some(d) } = &spec.on_failure {
        dirs.push(d.clone());
    }
    dirs
}

/// A name's temporary-file verdict.
fn temporary(name: &str) -> Option<&'static str> {
    if name.starts_with('.') {
        return Some("hidden file");
    }
    if name.ends_with('~') || name.starts_with('~') {
        return Some("temporary or lock file (~)");
    }
    let ext = Path::new(name).extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    if let Some(ext) = ext
        && PARTIAL_EXTENSIONS.contains(&ext.as_str())
    {
        return Some("partial or temporary name (.part, .crdownload, .tmp)");
    }
    None
}

/// Whether a file path is a candidate of the rule, and if not, why.
pub(crate) fn classify(path: &Path, spec: &WatchRuleSpec, filter: &Filter, own: &[PathBuf]) -> Result<(), Skip> {
    let Ok(rel) = path.strip_prefix(&spec.folder) else { return Err(Skip::Outside) };
    if own.iter().any(|d| path.starts_with(d)) {
        return Err(Skip::Outside);
    }
    let parts: Vec<&str> = rel.iter().filter_map(|c| c.to_str()).collect();
    if parts.is_empty() || (!spec.recursive && parts.len() > 1) {
        return Err(Skip::Outside);
    }
    for (i, part) in parts.iter().enumerate() {
        if let Some(why) = temporary(part) {
            let why = if i + 1 < parts.len() { "inside a hidden or temporary folder" } else { why };
            return Err(Skip::Temporary(why));
        }
    }
    if filter.excluded(rel) {
        return Err(Skip::Excluded);
    }
    if !filter.included(rel) {
        return Err(Skip::NotIncluded);
    }
    Ok(())
}

/// Whether the walk should descend into a folder.
pub(crate) fn descend(dir: &Path, spec: &WatchRuleSpec, filter: &Filter, own: &[PathBuf]) -> bool {
    let Ok(rel) = dir.strip_prefix(&spec.folder) else { return false };
    if own.iter().any(|d| dir.starts_with(d)) {
        return false;
    }
    if rel.iter().any(|c| c.to_str().is_none_or(|s| temporary(s).is_some())) {
        return false;
    }
    !filter.excluded(rel)
}

/// Size and modification time (nanoseconds since the epoch) of a regular
/// file; `None` when it is missing or not a regular file.
pub(crate) fn stat(path: &Path) -> Option<(u64, i64)> {
    let m = std::fs::metadata(path).ok()?;
    if !m.is_file() {
        return None;
    }
    let mtime = m.modified().ok()?;
    let ns = match mtime.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_nanos() as i64,
        Err(e) => -(e.duration().as_nanos() as i64),
    };
    Some((m.len(), ns))
}

/// Every regular file under `root` (only its own entries unless the rule
/// is recursive), with size and modification time. Folders that cannot be
/// read are skipped with a warning. Blocking.
pub(crate) fn walk(
    root: &Path,
    spec: &WatchRuleSpec,
    filter: &Filter,
    own: &[PathBuf],
) -> Vec<(PathBuf, Option<(u64, i64)>)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!("watch: {}: cannot read: {e}", dir.display());
                continue;
            }
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(ft) = entry.file_type() else { continue };
            if ft.is_dir() {
                if spec.recursive && descend(&path, spec, filter, own) {
                    stack.push(path);
                }
            } else {
                // Regular files and symlinks to them.
                out.push((path.clone(), stat(&path)));
            }
        }
    }
    out
}

/// A file seen but not yet taken.
#[derive(Clone, Debug)]
pub(crate) struct Candidate {
    pub size: u64,
    pub mtime_ns: i64,
    /// When size or modification time last changed (or the file was first seen).
    pub changed_at: Instant,
}

/// Settle tracking of a rule's candidates.
#[derive(Default)]
pub(crate) struct Settler {
    pub candidates: HashMap<PathBuf, Candidate>,
}

/// What a settle check found for one candidate.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Settle {
    /// Still changing or not settled long enough.
    Waiting,
    /// Unchanged for the settle period.
    Ready { size: u64, mtime_ns: i64 },
    /// The file disappeared before it was taken.
    Gone,
}

impl Settler {
    /// Records a sighting (from an event or a scan).
    pub(crate) fn saw(&mut self, path: PathBuf, size: u64, mtime_ns: i64, now: Instant) {
        let c = self.candidates.entry(path).or_insert(Candidate { size, mtime_ns, changed_at: now });
        if c.size != size || c.mtime_ns != mtime_ns {
            *c = Candidate { size, mtime_ns, changed_at: now };
        }
    }

    /// Applies a fresh `stat` of a candidate and says whether it settled.
    pub(crate) fn check(&mut self, path: &Path, now_stat: Option<(u64, i64)>, settle: f64, now: Instant) -> Settle {
        let Some((size, mtime_ns)) = now_stat else {
            self.candidates.remove(path);
            return Settle::Gone;
        };
        let Some(c) = self.candidates.get_mut(path) else { return Settle::Waiting };
        if c.size != size || c.mtime_ns != mtime_ns {
            *c = Candidate { size, mtime_ns, changed_at: now };
            return Settle::Waiting;
        }
        if now.duration_since(c.changed_at).as_secs_f64() >= settle {
            Settle::Ready { size, mtime_ns }
        } else {
            Settle::Waiting
        }
    }
}

/// Opens the file for reading (a file still locked by a writer on some
/// systems fails here), hashes it and checks its size and modification time
/// did not change meanwhile. Blocking.
pub(crate) fn identify(path: &Path, size: u64, mtime_ns: i64) -> Result<String, String> {
    std::fs::File::open(path).map_err(|e| format!("cannot be opened for reading yet: {e}"))?;
    let sha = crate::shared::sha256_file(path).map_err(|e| format!("cannot be read: {e}"))?;
    match stat(path) {
        Some((s, m)) if s == size && m == mtime_ns => Ok(sha),
        Some(_) => Err("changed while it was being read".into()),
        None => Err("disappeared while it was being read".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporary_names() {
        for n in [".hidden.mov", "clip.mov.part", "a.CRDOWNLOAD", "x.tmp", "clip.mov~", "~lock.mov"] {
            assert!(temporary(n).is_some(), "{n}");
        }
        for n in ["clip.mov", "C0001.MP4", "a.b.mp4"] {
            assert!(temporary(n).is_none(), "{n}");
        }
    }

    #[test]
    fn settling_needs_an_unchanged_period() {
        let mut s = Settler::default();
        let t0 = Instant::now();
        let p = PathBuf::from("/x/a.mov");
        s.saw(p.clone(), 10, 1, t0);
        assert_eq!(s.check(&p, Some((10, 1)), 1.0, t0 + std::time::Duration::from_millis(500)), Settle::Waiting);
        // Grew: the clock restarts.
        assert_eq!(s.check(&p, Some((20, 2)), 1.0, t0 + std::time::Duration::from_millis(900)), Settle::Waiting);
        assert_eq!(s.check(&p, Some((20, 2)), 1.0, t0 + std::time::Duration::from_millis(1500)), Settle::Waiting);
        assert_eq!(
            s.check(&p, Some((20, 2)), 1.0, t0 + std::time::Duration::from_millis(1950)),
            Settle::Ready { size: 20, mtime_ns: 2 }
        );
        assert_eq!(s.check(&p, None, 1.0, t0), Settle::Gone);
        assert!(s.candidates.is_empty());
    }
}
