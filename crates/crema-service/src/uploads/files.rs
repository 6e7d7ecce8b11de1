//! The file work of uploads, blocking unless async: part files, assembly,
//! open-time folder recovery and job-source links (the layout and the crash
//! rules are in the parent module's docs).

use crate::error::{Result, ServiceError};
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

/// Read/write block size for parts and assembly.
const IO_BUFFER: usize = 1 << 20;

/// Name of the file being assembled.
const ASSEMBLING: &str = "assembling";

/// Name of the assembled file.
pub(super) const SOURCE: &str = "source";

/// Prefix of part files not yet acknowledged.
pub(super) const TMP_PREFIX: &str = ".tmp-";

pub(super) fn part_name(n: u64) -> String {
    format!("part-{n:06}")
}

fn parse_part_name(name: &str) -> Option<u64> {
    let digits = name.strip_prefix("part-")?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Whether an I/O error means the file system is full (`ENOSPC`) or the
/// user's quota is spent (`EDQUOT`).
pub(super) fn is_disk_full(e: &std::io::Error) -> bool {
    matches!(e.kind(), std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded)
}

pub(super) fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

pub(super) fn remove_path(path: &Path) -> std::io::Result<()> {
    let r = match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(path),
        Ok(_) => std::fs::remove_file(path),
        Err(e) => Err(e),
    };
    match r {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

/// Reads one part from `body` into `tmp` (created new), checking its size, then
/// fsyncs it. File faults go through `fault` (a full disk is `CapacityExceeded`).
pub(super) async fn write_part<R: AsyncRead + Unpin + Send>(
    tmp: &Path,
    body: R,
    expected: u64,
    part_number: u64,
    fault: &impl Fn(&dyn std::fmt::Display, std::io::Error) -> ServiceError,
) -> Result<()> {
    let mut file = tokio::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(tmp)
        .await
        .map_err(|e| fault(&tmp.display(), e))?;
    let mut body = body.take(expected + 1);
    let mut buf = vec![0u8; IO_BUFFER.min(expected as usize + 1)];
    let mut total = 0u64;
    loop {
        let mut filled = 0;
        while filled < buf.len() {
            let n = body
                .read(&mut buf[filled..])
                .await
                .map_err(|e| ServiceError::validation("body", format!("reading part {part_number} failed: {e}")))?;
            if n == 0 {
                break;
            }
            filled += n;
        }
        total += filled as u64;
        if total > expected {
            return Err(ServiceError::PayloadTooLarge(format!(
                "part {part_number} must be exactly {expected} bytes; more were sent"
            )));
        }
        if filled > 0 {
            file.write_all(&buf[..filled]).await.map_err(|e| fault(&tmp.display(), e))?;
        }
        if filled < buf.len() {
            break;
        }
    }
    if total < expected {
        return Err(ServiceError::validation(
            "body",
            format!("part {part_number} must be exactly {expected} bytes, got {total}"),
        ));
    }
    file.flush().await.map_err(|e| fault(&tmp.display(), e))?;
    file.sync_all().await.map_err(|e| fault(&tmp.display(), e))?;
    Ok(())
}

/// Hashes everything read from `src`, copying it to `dst` when given; returns the byte count.
fn copy_hashing(
    src: &mut impl Read,
    mut dst: Option<&mut File>,
    hasher: &mut Sha256,
    buf: &mut [u8],
) -> std::io::Result<u64> {
    let mut total = 0u64;
    loop {
        let n = match src.read(buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
        if let Some(d) = dst.as_deref_mut() {
            d.write_all(&buf[..n])?;
        }
        total += n as u64;
    }
}

/// The SHA-256 of the file at `path`, as lowercase hex (blocking, one read).
pub(super) fn hash_file(path: &Path) -> std::io::Result<String> {
    let mut hasher = Sha256::new();
    copy_hashing(&mut File::open(path)?, None, &mut hasher, &mut vec![0u8; IO_BUFFER])?;
    Ok(hex::encode(hasher.finalize()))
}

/// Assembles `part-*` in `dir` into `source` and returns its SHA-256 (blocking).
/// Part 0 is renamed to `assembling` and hashed in place; the other parts are
/// appended and hashed in the same pass. On any failure part 0 is restored, so
/// the upload is as before.
pub(super) fn assemble(dir: &Path, total: u64, part0_len: u64, file_size: u64) -> std::io::Result<String> {
    let assembling = dir.join(ASSEMBLING);
    std::fs::rename(dir.join(part_name(0)), &assembling)?;
    // The rename is durable before anything is appended: after a crash, part 0
    // is either intact under its name or recoverable from `assembling`.
    let result =
        sync_dir(dir).and_then(|()| append_parts(dir, &assembling, total, part0_len, file_size)).and_then(|sha| {
            std::fs::rename(&assembling, dir.join(SOURCE))?;
            sync_dir(dir)?;
            Ok(sha)
        });
    if result.is_err()
        && let Err(e) = restore_part0(dir, part0_len)
    {
        tracing::error!("{}: cannot restore part 0 after a failed assembly: {e}", dir.display());
    }
    result
}

fn append_parts(dir: &Path, assembling: &Path, total: u64, part0_len: u64, file_size: u64) -> std::io::Result<String> {
    let invalid = |m: String| std::io::Error::new(std::io::ErrorKind::InvalidData, m);
    let mut out = OpenOptions::new().read(true).write(true).open(assembling)?;
    let len = out.metadata()?.len();
    if len < part0_len {
        return Err(invalid(format!("part 0 holds {len} bytes, expected {part0_len}")));
    }
    if len > part0_len {
        out.set_len(part0_len)?;
    }
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; IO_BUFFER];
    let mut done = copy_hashing(&mut (&mut out).take(part0_len), None, &mut hasher, &mut buf)?;
    out.seek(SeekFrom::Start(part0_len))?;
    for n in 1..total {
        let mut part = File::open(dir.join(part_name(n)))?;
        done += copy_hashing(&mut part, Some(&mut out), &mut hasher, &mut buf)?;
    }
    if done != file_size {
        return Err(invalid(format!("assembled {done} bytes, expected {file_size}")));
    }
    out.sync_all()?;
    Ok(hex::encode(hasher.finalize()))
}

/// Gives part 0 back from an interrupted or failed assembly: `assembling` (or
/// `source`) truncated to part 0's length and renamed to `part-000000`.
/// Leftovers are removed when part 0 is there already or they are too short.
fn restore_part0(dir: &Path, part0_len: u64) -> std::io::Result<()> {
    let part0 = dir.join(part_name(0));
    for name in [ASSEMBLING, SOURCE] {
        let path = dir.join(name);
        let Ok(meta) = std::fs::symlink_metadata(&path) else { continue };
        if part0.exists() || !meta.is_file() || meta.len() < part0_len {
            remove_path(&path)?;
            continue;
        }
        let f = OpenOptions::new().write(true).open(&path)?;
        f.set_len(part0_len)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&path, &part0)?;
        sync_dir(dir)?;
    }
    Ok(())
}

/// What open-time recovery must know about one upload with files.
pub(super) struct DirPlan {
    pub id: String,
    pub open: bool,
    pub part0_len: u64,
    /// Acknowledged part number → its size.
    pub parts: HashMap<u64, u64>,
}

/// Open-time recovery of upload folders (blocking); returns the part rows to drop.
pub(super) fn recover_dirs(root: &Path, plans: &[DirPlan]) -> std::io::Result<Vec<(String, u64)>> {
    let known: HashSet<&str> = plans.iter().map(|p| p.id.as_str()).collect();
    for entry in std::fs::read_dir(root)? {
        let entry = entry?;
        let name = entry.file_name();
        if !known.contains(name.to_string_lossy().as_ref()) {
            remove_path(&entry.path())?;
        }
    }
    let mut drop_rows = Vec::new();
    for plan in plans {
        let dir = root.join(&plan.id);
        if !dir.is_dir() {
            drop_rows.extend(plan.parts.keys().map(|&n| (plan.id.clone(), n)));
            continue;
        }
        if plan.open {
            if plan.parts.contains_key(&0) {
                restore_part0(&dir, plan.part0_len)?;
            } else {
                remove_path(&dir.join(ASSEMBLING))?;
                remove_path(&dir.join(SOURCE))?;
            }
        } else {
            remove_path(&dir.join(ASSEMBLING))?;
        }
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let stray = name.starts_with(TMP_PREFIX)
                || parse_part_name(&name).is_some_and(|n| !plan.open || !plan.parts.contains_key(&n));
            if stray {
                remove_path(&entry.path())?;
            }
        }
        if !plan.open {
            continue;
        }
        for (&n, &size) in &plan.parts {
            let path = dir.join(part_name(n));
            match std::fs::metadata(&path) {
                Ok(m) if m.len() == size => {}
                Ok(m) if m.len() > size => {
                    let f = OpenOptions::new().write(true).open(&path)?;
                    f.set_len(size)?;
                    f.sync_all()?;
                }
                _ => {
                    remove_path(&path)?;
                    drop_rows.push((plan.id.clone(), n));
                }
            }
        }
    }
    Ok(drop_rows)
}

/// Hard-links `src` to `dest` (creating `dest_dir`), copying when linking
/// fails (another file system); a missing `src` is `NotFound`.
pub(super) fn link_or_copy(src: &Path, dest_dir: &Path, dest: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dest_dir)?;
    match std::fs::hard_link(src, dest) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(e),
        Err(e) => {
            tracing::debug!("{}: cannot hard-link ({e}); copying", src.display());
            let tmp = dest_dir.join(format!("{TMP_PREFIX}copy"));
            std::fs::copy(src, &tmp)?;
            File::open(&tmp)?.sync_all()?;
            std::fs::rename(&tmp, dest)?;
        }
    }
    sync_dir(dest_dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_names_round_trip() {
        assert_eq!(part_name(42), "part-000042");
        assert_eq!(parse_part_name("part-000042"), Some(42));
        assert_eq!(parse_part_name("part-1234567"), Some(1_234_567));
        assert_eq!(parse_part_name(".tmp-part-000001-ab"), None);
        assert_eq!(parse_part_name("part-"), None);
    }
}
