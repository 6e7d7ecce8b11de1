//! `cargo xtask cancel`: how long `crema encode` takes to stop after Ctrl-C.
//!
//! For each profile, `runs` times: `crema encode INPUT -p PROFILE --json`
//! runs until its progress reports `--after` frames encoded, then gets
//! SIGINT; measured is the wall time from the signal to the process being
//! reaped (it must exit 130 and leave nothing in its output folder). The
//! reference, in the same run, is the encode's own pace: the seconds per
//! frame between its first and last progress event before the signal, so
//! the table says how many frames' worth of encoding a cancel costs (what a
//! worker waits before it can take its next job). Median and minimum are
//! printed; the process runs alone (nothing else of this task beside it).

use crate::bench::median;
use clap::Args;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

/// Options of `cargo xtask cancel`.
#[derive(Args)]
pub struct CancelArgs {
    /// Source clip (a long one, so the encode is well under way at the signal).
    #[arg(long, default_value = "fixtures/cache/prores_hq_1080p25_10bit_long.mov")]
    input: PathBuf,
    /// Profiles to cancel, comma separated.
    #[arg(long, value_delimiter = ',', default_value = "sophon-espresso,sophon-americano")]
    profiles: Vec<String>,
    /// Frames encoded before the signal.
    #[arg(long, default_value_t = 50)]
    after: u64,
    /// Runs per profile.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=20))]
    runs: u32,
    /// The `crema` binary (default: the workspace's `target/release/crema`).
    #[arg(long, default_value = "target/release/crema")]
    crema: PathBuf,
}

/// One canceled encode.
struct Sample {
    /// Seconds from SIGINT to the process being reaped.
    stop_s: f64,
    /// Seconds per frame of the encode before the signal.
    frame_s: f64,
}

fn one(args: &CancelArgs, profile: &str, work: &Path) -> Result<Sample, String> {
    let mut child = Command::new(&args.crema)
        .args(["encode"])
        .arg(&args.input)
        .args(["-p", profile, "--json", "--output-dir"])
        .arg(work)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", args.crema.display()))?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut first: Option<(Instant, u64)> = None;
    let mut last: Option<(Instant, u64)> = None;
    for line in BufReader::new(stdout).lines() {
        let line = line.map_err(|e| e.to_string())?;
        let Ok(v) = serde_json::from_str::<Value>(&line) else { continue };
        if v["event"] == "error" || v["event"] == "result" {
            let _ = child.wait();
            return Err(format!("the encode ended before {} frames: {line}", args.after));
        }
        let Some(done) = v["frames_done"].as_u64().filter(|_| v["event"] == "progress") else { continue };
        let now = Instant::now();
        first.get_or_insert((now, done));
        last = Some((now, done));
        if done >= args.after {
            break;
        }
    }
    let (Some((t0, f0)), Some((t1, f1))) = (first, last) else { return Err("no progress events".into()) };
    let pid = libc::pid_t::try_from(child.id()).map_err(|_| "pid out of range")?;
    let signaled = Instant::now();
    // SAFETY: kill(2) on our own child, which has not been reaped yet.
    if unsafe { libc::kill(pid, libc::SIGINT) } != 0 {
        return Err(format!("kill: {}", std::io::Error::last_os_error()));
    }
    let status = child.wait().map_err(|e| e.to_string())?;
    let stop_s = signaled.elapsed().as_secs_f64();
    if status.code() != Some(130) {
        return Err(format!("exit status {status} after SIGINT, expected 130"));
    }
    let left = std::fs::read_dir(work).map(|d| d.count()).unwrap_or(0);
    if left != 0 {
        return Err(format!("{left} file(s) left in {}", work.display()));
    }
    let frame_s = (t1 - t0).as_secs_f64() / (f1.saturating_sub(f0)).max(1) as f64;
    Ok(Sample { stop_s, frame_s })
}

/// Runs the measurement; returns the exit code (0 done, 1 a run failed, 2 usage).
pub fn run(args: CancelArgs) -> u8 {
    if !args.input.is_file() || !args.crema.is_file() {
        eprintln!(
            "xtask cancel: needs {} (fixtures/prepare.sh --bench) and {} (cargo build --release -p crema)",
            args.input.display(),
            args.crema.display()
        );
        return 2;
    }
    let work = std::env::temp_dir().join(format!("crema-cancel-{}", std::process::id()));
    println!("profile            runs  stop after SIGINT (median / min)  frame time  stop in frame times");
    let mut code = 0;
    for profile in &args.profiles {
        let mut samples = Vec::new();
        for _ in 0..args.runs {
            let _ = std::fs::remove_dir_all(&work);
            if let Err(e) = std::fs::create_dir_all(&work) {
                eprintln!("xtask cancel: {}: {e}", work.display());
                return 1;
            }
            match one(&args, profile, &work) {
                Ok(s) => samples.push(s),
                Err(e) => {
                    eprintln!("xtask cancel: {profile}: {e}");
                    code = 1;
                }
            }
        }
        if samples.is_empty() {
            continue;
        }
        let stops: Vec<f64> = samples.iter().map(|s| s.stop_s).collect();
        let min = stops.iter().copied().fold(f64::INFINITY, f64::min);
        let stop = median(stops);
        let frame = median(samples.iter().map(|s| s.frame_s).collect());
        println!(
            "{profile:<18} {:>4}  {stop:>8.3} s / {min:.3} s             {frame:>7.3} s  {:>6.1}x",
            samples.len(),
            stop / frame
        );
    }
    let _ = std::fs::remove_dir_all(&work);
    code
}
