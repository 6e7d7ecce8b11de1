//! Measuring child processes (`wait4(2)`: wall time, user + system CPU
//! time, peak resident set size) and describing the machine.

use super::{Failure, fail, round3};
use serde_json::{Value, json};
use std::fmt::Write as _;
use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

/// Resource use of one child process (or of several, combined).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Usage {
    /// Wall-clock seconds from spawn to reaping.
    pub(crate) wall: f64,
    /// User CPU seconds.
    pub(super) user: f64,
    /// System CPU seconds.
    pub(super) sys: f64,
    /// Peak resident set size, KiB.
    pub(super) peak_kib: u64,
}

impl Usage {
    pub(crate) fn cpu(&self) -> f64 {
        self.user + self.sys
    }

    /// Sequential processes: times add up, memory is the highest peak.
    pub(super) fn then(self, o: Usage) -> Usage {
        Usage {
            wall: self.wall + o.wall,
            user: self.user + o.user,
            sys: self.sys + o.sys,
            peak_kib: self.peak_kib.max(o.peak_kib),
        }
    }

    pub(super) fn json(&self) -> Value {
        json!({
            "wall_s": round3(self.wall),
            "cpu_s": round3(self.cpu()),
            "user_s": round3(self.user),
            "sys_s": round3(self.sys),
            "peak_rss_kib": self.peak_kib,
        })
    }
}

/// Runs `cmd` as a child (stdout and stderr to `dir/NAME.stdout`/`.stderr`)
/// and measures it with `wait4`.
pub(crate) fn run_measured(cmd: &[String], dir: &Path, name: &str) -> Result<Usage, Failure> {
    let out_path = dir.join(format!("{name}.stdout"));
    let err_path = dir.join(format!("{name}.stderr"));
    let create = |p: &Path| File::create(p).map_err(|e| fail(4, format!("{}: {e}", p.display())));
    let mut command = Command::new(&cmd[0]);
    command.args(&cmd[1..]).stdin(Stdio::null()).stdout(create(&out_path)?).stderr(create(&err_path)?);
    let started = Instant::now();
    let child = command.spawn().map_err(|e| fail(1, format!("cannot run {}: {e}", cmd[0])))?;
    let pid = libc::pid_t::try_from(child.id()).map_err(|_| fail(1, "child pid out of range"))?;
    let (status, ru) = wait4(pid).map_err(|e| fail(1, format!("wait4: {e}")))?;
    let wall = started.elapsed().as_secs_f64();
    // Reaped by wait4 above: the handle has nothing left to wait for.
    drop(child);
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    let usage = Usage {
        wall,
        user: secs(ru.ru_utime),
        sys: secs(ru.ru_stime),
        peak_kib: u64::try_from(ru.ru_maxrss).unwrap_or(0),
    };
    if !(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0) {
        let how = if libc::WIFEXITED(status) {
            format!("exit code {}", libc::WEXITSTATUS(status))
        } else {
            format!("signal {}", libc::WTERMSIG(status))
        };
        let tail: String = {
            let err = std::fs::read_to_string(&err_path).unwrap_or_default();
            let lines: Vec<&str> = err.lines().collect();
            lines[lines.len().saturating_sub(10)..].join("\n")
        };
        return Err(fail(1, format!("`{}` failed ({how}):\n{tail}", shell_line(cmd))));
    }
    Ok(usage)
}

/// Reaps child `pid`, returning its wait status and resource use.
fn wait4(pid: libc::pid_t) -> std::io::Result<(libc::c_int, libc::rusage)> {
    let mut status: libc::c_int = 0;
    // SAFETY: `rusage` is plain old data, for which all-zero bytes are valid.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: `pid` is our own child, not yet reaped; both pointers are
        // valid for writes for the duration of the call.
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
        if r == pid {
            return Ok((status, ru));
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// Empties (or creates) `dir`.
pub(crate) fn fresh_dir(dir: &Path) -> Result<(), Failure> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(|e| fail(4, format!("{}: {e}", dir.display())))?;
    }
    std::fs::create_dir_all(dir).map_err(|e| fail(4, format!("{}: {e}", dir.display())))
}

/// Bytes of every media file under `dir` (the logs the bench writes there excluded).
pub(super) fn tree_size(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| {
            let p = e.path();
            match e.file_type() {
                Ok(t) if t.is_dir() => tree_size(&p),
                Ok(_) if matches!(p.extension().and_then(|x| x.to_str()), Some("stdout" | "stderr")) => 0,
                Ok(_) => e.metadata().map(|m| m.len()).unwrap_or(0),
                Err(_) => 0,
            }
        })
        .sum()
}

/// Video frames in `path` (a file or an HLS playlist), by `ffprobe -count_packets`; 0 when unknown.
pub(super) fn count_frames(ffprobe: &Path, path: &Path) -> u64 {
    let out = Command::new(ffprobe)
        .args([
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-count_packets",
            "-show_entries",
            "stream=nb_read_packets",
            "-of",
            "csv=p=0",
        ])
        .arg(path)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output();
    out.ok()
        .and_then(|o| {
            // An HLS playlist lists the stream twice (program and streams): take the first.
            String::from_utf8_lossy(&o.stdout).lines().find_map(|l| l.trim().trim_end_matches(',').parse().ok())
        })
        .unwrap_or(0)
}

/// Reads the whole source once so that no case pays for the disk.
pub(super) fn warm_page_cache(path: &Path) {
    if let Ok(mut f) = File::open(path) {
        let mut buf = vec![0u8; 1 << 20];
        while matches!(f.read(&mut buf), Ok(n) if n > 0) {}
    }
}

/// What the numbers were measured on.
pub(super) struct Machine {
    cpus: usize,
    cpu_model: String,
    load_average: String,
    ffmpeg_version: String,
    /// `crema --version`'s first line.
    crema_version: String,
    /// FFmpeg shared libraries the `crema` binary links (by `ldd`).
    crema_libs: Vec<String>,
}

impl Machine {
    pub(super) fn detect(ffmpeg: &Path, crema: &Path) -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu_model = cpuinfo
            .lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split_once(':'))
            .map_or_else(|| "unknown".to_string(), |(_, v)| v.trim().to_string());
        let load_average = std::fs::read_to_string("/proc/loadavg")
            .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
            .unwrap_or_default();
        let ffmpeg_version = Command::new(ffmpeg)
            .arg("-version")
            .stdin(Stdio::null())
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).lines().next().map(str::to_string))
            .unwrap_or_else(|| "not found".into());
        let first_line = |cmd: &mut Command| {
            cmd.stdin(Stdio::null()).output().ok().map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        };
        let crema_version = first_line(Command::new(crema).arg("--version"))
            .and_then(|s| s.lines().next().map(str::to_string))
            .unwrap_or_else(|| "not found".into());
        let ldd = first_line(Command::new("ldd").arg(crema)).unwrap_or_default();
        let mut crema_libs: Vec<String> = ldd
            .lines()
            .filter_map(|l| l.split_whitespace().next())
            .map(str::to_string)
            .filter(|n| {
                ["libavcodec.so", "libavformat.so", "libavfilter.so", "libswscale.so"].iter().any(|p| n.starts_with(p))
            })
            .collect();
        crema_libs.sort();
        crema_libs.dedup();
        Machine {
            cpus: std::thread::available_parallelism().map_or(0, usize::from),
            cpu_model,
            load_average,
            ffmpeg_version,
            crema_version,
            crema_libs,
        }
    }

    pub(super) fn describe(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "machine: {} CPUs ({}), load average at start {}",
            self.cpus, self.cpu_model, self.load_average
        );
        let _ = writeln!(s, "ffmpeg: {}", self.ffmpeg_version);
        let _ = writeln!(
            s,
            "crema: {}, linked to {}",
            self.crema_version,
            if self.crema_libs.is_empty() { "?".to_string() } else { self.crema_libs.join(", ") }
        );
        s
    }

    pub(super) fn json(&self) -> Value {
        json!({
            "cpus": self.cpus,
            "cpu_model": self.cpu_model,
            "load_average": self.load_average,
            "ffmpeg_version": self.ffmpeg_version,
            "crema_version": self.crema_version,
            "crema_libraries": self.crema_libs,
        })
    }
}

/// `cmd` as one line a POSIX shell would take.
pub(super) fn shell_line(cmd: &[String]) -> String {
    cmd.iter()
        .map(|a| {
            if !a.is_empty() && a.chars().all(|c| c.is_ascii_alphanumeric() || "-_./:=,+%@".contains(c)) {
                a.clone()
            } else {
                format!("'{}'", a.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_quotes_only_when_needed() {
        assert_eq!(
            shell_line(&["ffmpeg".into(), "-x".into(), "expr:gte(t,n_forced*6)".into()]),
            "ffmpeg -x 'expr:gte(t,n_forced*6)'"
        );
    }

    #[test]
    fn sequential_usage_adds_times_and_keeps_the_peak() {
        let a = Usage { wall: 1.0, user: 2.0, sys: 0.5, peak_kib: 100 };
        let b = Usage { wall: 2.0, user: 1.0, sys: 0.25, peak_kib: 300 };
        let c = a.then(b);
        assert_eq!((c.wall, c.cpu(), c.peak_kib), (3.0, 3.75, 300));
    }

    #[test]
    fn a_child_is_measured() {
        let dir = std::env::temp_dir().join(format!("crema-bench-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let u = run_measured(
            &["sh".into(), "-c".into(), "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done".into()],
            &dir,
            "t",
        )
        .unwrap();
        assert!(u.wall > 0.0 && u.cpu() > 0.0 && u.peak_kib > 0);
        assert!(run_measured(&["sh".into(), "-c".into(), "exit 3".into()], &dir, "t").is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
