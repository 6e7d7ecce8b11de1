//! Placing a finished output next to the user's files: atomically, without
//! overwriting anything (a taken name gets `-2`, `-3`…), and the source's
//! post-actions (move, error file). Used by the worker for a job's
//! destination and by watch folders. Blocking file work: call it off the
//! async runtime.

use std::io;
use std::path::{Path, PathBuf};

/// `dir/stem.ext`, else `dir/stem-2.ext`, `-3`… : the first name not taken.
fn numbered(dir: &Path, stem: &str, ext: &str, n: u32) -> PathBuf {
    let dot = if ext.is_empty() { "" } else { "." };
    if n <= 1 { dir.join(format!("{stem}{dot}{ext}")) } else { dir.join(format!("{stem}-{n}{dot}{ext}")) }
}

fn is_cross_device(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::CrossesDevices
}

fn copy_tree(src: &Path, dst: &Path) -> io::Result<()> {
    if src.is_dir() {
        std::fs::create_dir_all(dst)?;
        for entry in std::fs::read_dir(src)? {
            let entry = entry?;
            copy_tree(&entry.path(), &dst.join(entry.file_name()))?;
        }
        Ok(())
    } else {
        std::fs::copy(src, dst).map(|_| ())
    }
}

fn remove_any(p: &Path) -> io::Result<()> {
    if p.is_dir() { std::fs::remove_dir_all(p) } else { std::fs::remove_file(p) }
}

/// Moves `src` (file or folder) to `tmp` (same folder as the final name),
/// copying across file systems.
fn to_tmp(src: &Path, tmp: &Path) -> io::Result<()> {
    if tmp.exists() {
        remove_any(tmp)?;
    }
    match std::fs::rename(src, tmp) {
        Ok(()) => Ok(()),
        Err(e) if is_cross_device(&e) => {
            if let Err(e) = copy_tree(src, tmp) {
                let _ = remove_any(tmp);
                return Err(e);
            }
            remove_any(src)
        }
        Err(e) => Err(e),
    }
}

/// Whether two paths are the same file (a hard link left by an interrupted publish).
fn same_file(a: &Path, b: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        match (std::fs::metadata(a), std::fs::metadata(b)) {
            (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
            _ => false,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = (a, b);
        false
    }
}

/// Gives `tmp` exactly the name `dest`, never replacing an existing file:
/// files by hard link (which fails when the name exists) then unlinking the
/// temp name; folders by rename after checking the name is free. Returns
/// false when `dest` is taken by something else. A `dest` that already is
/// `tmp` (a publish interrupted between link and unlink) is finished.
pub(crate) fn publish_exact(tmp: &Path, dest: &Path) -> io::Result<bool> {
    if tmp.is_dir() {
        if dest.symlink_metadata().is_ok() {
            return Ok(false);
        }
        std::fs::rename(tmp, dest)?;
        return Ok(true);
    }
    match std::fs::hard_link(tmp, dest) {
        Ok(()) => {
            std::fs::remove_file(tmp)?;
            Ok(true)
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            if same_file(tmp, dest) {
                std::fs::remove_file(tmp)?;
                return Ok(true);
            }
            Ok(false)
        }
        Err(_) => {
            // No hard links here (some network shares): check, then rename.
            if dest.symlink_metadata().is_ok() {
                return Ok(false);
            }
            std::fs::rename(tmp, dest)?;
            Ok(true)
        }
    }
}

/// The first name `dir/stem[-n].ext` not taken.
pub(crate) fn free_name(dir: &Path, stem: &str, ext: &str) -> io::Result<PathBuf> {
    (1..10_000)
        .map(|n| numbered(dir, stem, ext, n))
        .find(|p| p.symlink_metadata().is_err())
        .ok_or_else(|| io::Error::other(format!("no free name for {stem}.{ext} in {}", dir.display())))
}

/// One thing to place: the job's file or folder and the wanted final name.
pub(crate) struct Placement {
    /// The job's output (`<output_dir>/<job id>/output.mp4`, `…/hls`).
    pub src: PathBuf,
    /// Folder of the final name (created when missing).
    pub dir: PathBuf,
    /// Final name without extension (`clip.sophon-espresso`).
    pub stem: String,
    /// Extension without the dot (`mp4`, `hls`).
    pub ext: String,
    /// Temp name inside `dir`, unique to the file record (`.crema-placing-42-main.mp4`).
    pub tmp_name: String,
}

impl Placement {
    /// The temp name inside the destination folder.
    pub(crate) fn tmp(&self) -> PathBuf {
        self.dir.join(&self.tmp_name)
    }

    /// Moves the job's output to the temp name in the destination folder
    /// (copying across file systems). Safe to repeat after a crash: an output
    /// already moved stays at its temp name. Returns whether the temp name
    /// now holds the output.
    pub(crate) fn stage(&self) -> io::Result<bool> {
        std::fs::create_dir_all(&self.dir)?;
        let tmp = self.tmp();
        if self.src.exists() {
            to_tmp(&self.src, &tmp)?;
        }
        Ok(tmp.symlink_metadata().is_ok())
    }
}

/// Places an output whose final name is not recorded anywhere (the kept
/// MP4 of an HLS ladder): stage, then the first free name.
pub(crate) fn place_unrecorded(p: &Placement) -> io::Result<Option<PathBuf>> {
    if !p.stage()? {
        return Ok(None);
    }
    loop {
        let dest = free_name(&p.dir, &p.stem, &p.ext)?;
        if publish_exact(&p.tmp(), &dest)? {
            return Ok(Some(dest));
        }
    }
}

/// Moves a source into `dest_dir` under its own name (numbered if taken),
/// never replacing anything; returns where it went.
pub(crate) fn move_source(src: &Path, dest_dir: &Path) -> io::Result<PathBuf> {
    std::fs::create_dir_all(dest_dir)?;
    let name = src.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "source".into());
    let (stem, ext) = match name.rsplit_once('.') {
        Some((s, e)) if !s.is_empty() => (s.to_string(), e.to_string()),
        _ => (name.clone(), String::new()),
    };
    // Same file system: a hard link then unlink is an atomic, non-replacing move.
    for n in 1..10_000 {
        let dest = numbered(dest_dir, &stem, &ext, n);
        match std::fs::hard_link(src, &dest) {
            Ok(()) => {
                std::fs::remove_file(src)?;
                return Ok(dest);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(_) => break,
        }
    }
    // Across file systems (or without hard links): copy to a temp name, publish, remove.
    let tmp = dest_dir.join(format!(".crema-moving-{name}"));
    std::fs::copy(src, &tmp)?;
    loop {
        let dest = free_name(dest_dir, &stem, &ext)?;
        if publish_exact(&tmp, &dest)? {
            std::fs::remove_file(src)?;
            return Ok(dest);
        }
    }
}

/// Writes `<file>.error.txt` beside `file`, saying why it failed.
pub(crate) fn write_error_file(file: &Path, text: &str) -> io::Result<PathBuf> {
    let mut name = file.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".error.txt");
    let path = file.with_file_name(name);
    std::fs::write(&path, text)?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> =
            std::fs::read_dir(dir).unwrap().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
        v.sort();
        v
    }

    #[test]
    fn placing_never_overwrites() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("out");
        std::fs::create_dir_all(&out).unwrap();
        std::fs::write(out.join("clip.p.mp4"), b"existing").unwrap();
        let src = tmp.path().join("job/output.mp4");
        std::fs::create_dir_all(src.parent().unwrap()).unwrap();
        std::fs::write(&src, b"new").unwrap();
        let p = Placement {
            src: src.clone(),
            dir: out.clone(),
            stem: "clip.p".into(),
            ext: "mp4".into(),
            tmp_name: ".crema-placing-1-main.mp4".into(),
        };
        assert!(p.stage().unwrap());
        assert!(!src.exists());
        // The name in use is refused, the next free one is taken.
        assert!(!publish_exact(&p.tmp(), &out.join("clip.p.mp4")).unwrap());
        let dest = free_name(&out, "clip.p", "mp4").unwrap();
        assert_eq!(dest, out.join("clip.p-2.mp4"));
        // A publish interrupted between link and unlink is finished, not repeated.
        std::fs::hard_link(p.tmp(), &dest).unwrap();
        assert!(publish_exact(&p.tmp(), &dest).unwrap());
        assert_eq!(std::fs::read(out.join("clip.p.mp4")).unwrap(), b"existing");
        assert_eq!(std::fs::read(&dest).unwrap(), b"new");
        assert!(!p.tmp().exists());
        assert_eq!(files(&out), vec!["clip.p-2.mp4", "clip.p.mp4"]);
        // Staging again after the fact finds nothing to do.
        assert!(!p.stage().unwrap());
    }

    #[test]
    fn moving_a_source_keeps_both() {
        let tmp = tempfile::tempdir().unwrap();
        let done = tmp.path().join("done");
        std::fs::create_dir_all(&done).unwrap();
        std::fs::write(done.join("a.mov"), b"old").unwrap();
        let src = tmp.path().join("a.mov");
        std::fs::write(&src, b"new").unwrap();
        let moved = move_source(&src, &done).unwrap();
        assert_eq!(moved, done.join("a-2.mov"));
        assert_eq!(std::fs::read(done.join("a.mov")).unwrap(), b"old");
        assert!(!src.exists());
        let err = write_error_file(&moved, "why").unwrap();
        assert_eq!(err, done.join("a-2.mov.error.txt"));
    }
}
