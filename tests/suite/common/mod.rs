//! Shared helpers for Crema's integration tests.
//!
//! Every test runs the real `crema` binary on real media and checks what it
//! wrote with FFmpeg's own tools (`ffprobe -of json`, `ffmpeg -lavfi ssim/psnr`).
//! Test media comes from `fixtures/prepare.sh` (cache in `fixtures/cache`, or
//! `$CREMA_FIXTURES`) and the real camera/phone/HDR/broadcast clips in
//! `../shared/media` (read in place, never copied into the repository).
#![allow(dead_code)]

use serde_json::Value;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub mod serve;

// Re-exports for the suite's modules; `tests/speed_tiers.rs` includes this
// module too and uses only part of it.
#[allow(unused_imports)]
pub use crema_testkit::{fixture, fixtures_dir, shared_media, tempdir};
pub use serde_json;
#[allow(unused_imports)]
pub use tempfile::TempDir;

/// The `crema` binary under test.
pub fn crema_bin() -> &'static str {
    env!("CARGO_BIN_EXE_crema")
}

/// A folder shared by the tests of one test binary for derived clips
/// (cargo's per-target scratch folder; rebuilt on demand).
pub fn scratch_dir() -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("crema-tests");
    std::fs::create_dir_all(&d).expect("create the scratch folder");
    d
}

// ---------------------------------------------------------------------------
// Running processes
// ---------------------------------------------------------------------------

/// What one child process did.
#[derive(Debug)]
pub struct Run {
    /// Exit code (`-signal` when killed by a signal).
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    /// User + system CPU time of the child and all its threads (from wait4).
    pub cpu: Duration,
    /// Wall time.
    pub wall: Duration,
    /// The command line, for messages.
    pub cmdline: String,
    /// Process id the child had.
    pub pid: u32,
}

impl Run {
    /// Every stdout line that parses as a JSON object.
    pub fn json_lines(&self) -> Vec<Value> {
        self.stdout
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                serde_json::from_str::<Value>(l)
                    .unwrap_or_else(|e| panic!("stdout line is not JSON ({e}): {l}\n{}", self.describe()))
            })
            .collect()
    }

    /// The lines whose `event` is `kind`.
    pub fn events(&self, kind: &str) -> Vec<Value> {
        self.json_lines().into_iter().filter(|v| v["event"] == kind).collect()
    }

    /// The one `result` line (panics with the run's output otherwise).
    pub fn result(&self) -> Value {
        let mut r = self.events("result");
        assert_eq!(r.len(), 1, "expected exactly one result line\n{}", self.describe());
        r.remove(0)
    }

    /// The one `error` line.
    pub fn error(&self) -> Value {
        let mut r = self.events("error");
        assert_eq!(r.len(), 1, "expected exactly one error line\n{}", self.describe());
        r.remove(0)
    }

    /// Asserts exit code 0 and returns the result line.
    pub fn ok(&self) -> Value {
        assert_eq!(self.code, 0, "crema failed\n{}", self.describe());
        self.result()
    }

    /// Everything about the run, for assertion messages.
    pub fn describe(&self) -> String {
        let tail = |s: &str| {
            let s = s.trim_end();
            if s.len() > 4000 {
                let mut cut = s.len() - 4000;
                while !s.is_char_boundary(cut) {
                    cut += 1;
                }
                format!("...{}", &s[cut..])
            } else {
                s.to_string()
            }
        };
        format!(
            "$ {}\nexit code: {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.cmdline,
            self.code,
            tail(&self.stdout),
            tail(&self.stderr)
        )
    }
}

fn quote(a: &str) -> String {
    if a.chars().all(|c| c.is_ascii_alphanumeric() || "-_./,:=+%".contains(c)) {
        a.to_string()
    } else {
        format!("'{a}'")
    }
}

/// Waits for `pid` with wait4: (exit code or -signal, CPU time of the child).
pub fn wait4(pid: u32) -> (i32, Duration) {
    let mut status: libc::c_int = 0;
    // SAFETY: an all-zero rusage is a valid value; wait4 fills it.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: plain syscall on our own child's pid with valid out-pointers.
        let r = unsafe { libc::wait4(pid as libc::pid_t, &mut status, 0, &mut ru) };
        if r == pid as libc::pid_t {
            break;
        }
        let err = std::io::Error::last_os_error();
        assert_eq!(err.raw_os_error(), Some(libc::EINTR), "wait4({pid}) failed: {err}");
    }
    let tv = |t: libc::timeval| Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64);
    let cpu = tv(ru.ru_utime) + tv(ru.ru_stime);
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else if libc::WIFSIGNALED(status) {
        -libc::WTERMSIG(status)
    } else {
        -1000
    };
    (code, cpu)
}

/// Runs a program to completion, capturing stdout/stderr, its exit code and its CPU time.
pub fn run_program<S: AsRef<std::ffi::OsStr>>(program: &str, args: &[S]) -> Run {
    run_program_env(program, args, &[])
}

/// [`run_program`] with extra environment variables.
pub fn run_program_env<S: AsRef<std::ffi::OsStr>>(program: &str, args: &[S], envs: &[(&str, &std::ffi::OsStr)]) -> Run {
    let cmdline = std::iter::once(program.to_string())
        .chain(args.iter().map(|a| quote(&a.as_ref().to_string_lossy())))
        .collect::<Vec<_>>()
        .join(" ");
    let started = Instant::now();
    let mut child = Command::new(program)
        .args(args)
        .envs(envs.iter().map(|(k, v)| (*k, *v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {program}: {e}"));
    let mut err_pipe = child.stderr.take().expect("stderr pipe");
    let err_reader = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = err_pipe.read_to_end(&mut s);
        String::from_utf8_lossy(&s).into_owned()
    });
    let mut out = Vec::new();
    child.stdout.take().expect("stdout pipe").read_to_end(&mut out).expect("read stdout");
    let stderr = err_reader.join().expect("stderr reader");
    let pid = child.id();
    let (code, cpu) = wait4(pid);
    // The child is reaped: make sure std never waits for it again.
    std::mem::forget(child);
    Run { code, stdout: String::from_utf8_lossy(&out).into_owned(), stderr, cpu, wall: started.elapsed(), cmdline, pid }
}

/// Runs `crema ARGS...`.
/// Runs `crema ARGS...` with an empty user profile folder, so that profiles
/// in the tester's own config folder cannot change what is tested.
pub fn crema<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Run {
    crema_with_profiles(args, &empty_profile_dir())
}

/// Runs `crema ARGS...` with `CREMA_PROFILE_DIR=dir`.
pub fn crema_with_profiles<S: AsRef<std::ffi::OsStr>>(args: &[S], dir: &Path) -> Run {
    run_program_env(crema_bin(), args, &[("CREMA_PROFILE_DIR", dir.as_os_str())])
}

/// An empty folder used as the user profile folder.
pub fn empty_profile_dir() -> PathBuf {
    let d = scratch_dir().join("no-user-profiles");
    std::fs::create_dir_all(&d).expect("create the empty profile folder");
    d
}

/// Builds an argument vector from anything path- or string-like.
#[macro_export]
macro_rules! args {
    ($($a:expr),* $(,)?) => {{
        let v: Vec<std::ffi::OsString> = vec![$(std::ffi::OsString::from($a)),*];
        v
    }};
}

/// `crema encode INPUT -p PROFILE -o OUT --json EXTRA...`, asserting success;
/// returns the result line.
pub fn encode_ok(input: &Path, profile: &str, out: &Path, extra: &[&str]) -> Value {
    let mut a = args!["encode", input, "-p", profile, "-o", out, "--json"];
    a.extend(extra.iter().map(std::ffi::OsString::from));
    let run = crema(&a);
    let res = run.ok();
    assert!(out.is_file(), "crema reported success but {} is missing\n{}", out.display(), run.describe());
    res
}

/// Runs ffmpeg (with `-hide_banner -nostdin -y`) and asserts it succeeded.
pub fn ffmpeg<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Run {
    let mut a: Vec<std::ffi::OsString> = args!["-hide_banner", "-nostdin", "-y"];
    a.extend(args.iter().map(|s| s.as_ref().to_os_string()));
    let r = run_program("ffmpeg", &a);
    assert_eq!(r.code, 0, "ffmpeg failed\n{}", r.describe());
    r
}

/// Stream-copies the first `seconds` of `src` (every stream) into `dst`:
/// a short clip of a real fixture, made in well under a second.
pub fn trim_copy(src: &Path, seconds: f64, dst: &Path) {
    ffmpeg(&args!["-v", "error", "-i", src, "-t", format!("{seconds}"), "-map", "0", "-c", "copy", dst]);
}

/// A derived clip shared by the tests of one binary: made once per process
/// by `make` into the scratch folder, under a lock so parallel tests wait for it.
pub fn derived(name: &str, make: impl FnOnce(&Path)) -> PathBuf {
    static MADE: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let mut made = MADE.lock().unwrap_or_else(|e| e.into_inner());
    let p = scratch_dir().join(name);
    if !made.iter().any(|m| m == name) {
        let _ = std::fs::remove_file(&p);
        make(&p);
        assert!(p.is_file(), "derived clip {} was not made", p.display());
        made.push(name.to_string());
    }
    p
}

// ---------------------------------------------------------------------------
// ffprobe
// ---------------------------------------------------------------------------

/// `ffprobe -v error -of json ARGS... FILE` parsed.
pub fn ffprobe_json<S: AsRef<std::ffi::OsStr>>(file: &Path, args: &[S]) -> Value {
    let mut a: Vec<std::ffi::OsString> = args!["-v", "error", "-of", "json"];
    a.extend(args.iter().map(|s| s.as_ref().to_os_string()));
    a.push(file.into());
    let r = run_program("ffprobe", &a);
    assert_eq!(r.code, 0, "ffprobe failed\n{}", r.describe());
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("ffprobe JSON: {e}\n{}", r.describe()))
}

/// `-show_format -show_streams`.
pub fn probe(file: &Path) -> Value {
    ffprobe_json(file, &["-show_format", "-show_streams"])
}

/// Every stream of `codec_type` (video/audio/data/subtitle).
pub fn streams_of(info: &Value, codec_type: &str) -> Vec<Value> {
    info["streams"]
        .as_array()
        .map(|a| a.iter().filter(|s| s["codec_type"] == codec_type).cloned().collect())
        .unwrap_or_default()
}

/// The first video stream (panics when none).
pub fn video_stream(file: &Path) -> Value {
    let info = probe(file);
    streams_of(&info, "video")
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("{} has no video stream: {info:#}", file.display()))
}

/// A JSON value that ffprobe writes as a string or number, as f64.
pub fn num(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// A string field ("" when absent).
pub fn s(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

/// `num/den` (or a plain number) as f64.
pub fn ratio(v: &str) -> f64 {
    match v.split_once('/') {
        Some((n, d)) => {
            let (n, d): (f64, f64) = (n.parse().unwrap_or(0.0), d.parse().unwrap_or(0.0));
            if d == 0.0 { 0.0 } else { n / d }
        }
        None => v.parse().unwrap_or(0.0),
    }
}

/// Format duration in seconds.
pub fn format_duration(file: &Path) -> f64 {
    num(&probe(file)["format"]["duration"]).unwrap_or_else(|| panic!("{} has no duration", file.display()))
}

/// Presentation times (seconds, sorted) of every packet of stream `spec` (e.g. `v:0`).
pub fn packet_times(file: &Path, spec: &str) -> Vec<f64> {
    let v = ffprobe_json(file, &["-select_streams", spec, "-show_entries", "packet=pts_time"]);
    let mut t: Vec<f64> = v["packets"].as_array().into_iter().flatten().filter_map(|p| num(&p["pts_time"])).collect();
    t.sort_by(|a, b| a.partial_cmp(b).unwrap());
    t
}

/// (pts seconds, is keyframe) of every video packet, sorted by pts.
pub fn video_packets(file: &Path) -> Vec<(f64, bool)> {
    let v = ffprobe_json(file, &["-select_streams", "v:0", "-show_entries", "packet=pts_time,flags"]);
    let mut t: Vec<(f64, bool)> = v["packets"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| Some((num(&p["pts_time"])?, s(&p["flags"]).contains('K'))))
        .collect();
    t.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap());
    t
}

/// The first decoded frame of stream `spec`, with its side data.
pub fn first_frame(file: &Path, spec: &str) -> Value {
    let v = ffprobe_json(file, &["-select_streams", spec, "-show_frames", "-read_intervals", "%+#1"]);
    v["frames"]
        .as_array()
        .and_then(|a| a.first())
        .cloned()
        .unwrap_or_else(|| panic!("{}: no frame in {spec}", file.display()))
}

/// Timestamp (seconds) of the first frame of `spec` that decodes.
pub fn first_decoded_time(file: &Path, spec: &str) -> f64 {
    let v = ffprobe_json(file, &["-select_streams", spec, "-show_entries", "frame=best_effort_timestamp_time"]);
    v["frames"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| num(&f["best_effort_timestamp_time"]))
        .fold(f64::INFINITY, f64::min)
}

/// Side data entries of a frame, by `side_data_type`.
pub fn side_data<'a>(frame: &'a Value, kind: &str) -> Option<&'a Value> {
    frame["side_data_list"].as_array()?.iter().find(|d| d["side_data_type"] == kind)
}

/// The top-level box types of an MP4 file, in order.
pub fn mp4_top_boxes(file: &Path) -> Vec<String> {
    let data = std::fs::read(file).expect("read mp4");
    let mut pos = 0usize;
    let mut out = Vec::new();
    while pos + 8 <= data.len() {
        let size32 = u32::from_be_bytes(data[pos..pos + 4].try_into().unwrap()) as u64;
        let kind = String::from_utf8_lossy(&data[pos + 4..pos + 8]).into_owned();
        let size = match size32 {
            1 if pos + 16 <= data.len() => u64::from_be_bytes(data[pos + 8..pos + 16].try_into().unwrap()),
            0 => (data.len() - pos) as u64,
            n => n,
        };
        out.push(kind);
        if size < 8 {
            break;
        }
        pos += size as usize;
    }
    out
}

/// Whether `needle` occurs in the bytes of `file`.
pub fn file_contains(file: &Path, needle: &[u8]) -> bool {
    let data = std::fs::read(file).expect("read file");
    data.windows(needle.len()).any(|w| w == needle)
}

// ---------------------------------------------------------------------------
// Quality metrics
// ---------------------------------------------------------------------------

/// The filter that brings a reference to an output's size and format.
fn metric_graph(metric: &str, w: u64, h: u64, pix: &str, pre: &str) -> String {
    format!(
        "[0:v]settb=AVTB,setpts=PTS-STARTPTS,format={pix}[d];\
         [1:v]{pre}scale={w}:{h}:flags=bicubic,setsar=1,format={pix},settb=AVTB,setpts=PTS-STARTPTS[r];\
         [d][r]{metric}"
    )
}

fn run_metric(metric: &str, distorted: &Path, reference: &Path) -> String {
    run_metric_pre(metric, distorted, reference, "")
}

fn run_metric_pre(metric: &str, distorted: &Path, reference: &Path, pre: &str) -> String {
    let v = video_stream(distorted);
    let (w, h) = (v["width"].as_u64().unwrap(), v["height"].as_u64().unwrap());
    let pix = if s(&v["pix_fmt"]).contains("10") { "yuv420p10le" } else { "yuv420p" };
    let r = ffmpeg(&args![
        "-i",
        distorted,
        "-i",
        reference,
        "-lavfi",
        metric_graph(metric, w, h, pix, pre),
        "-f",
        "null",
        "-"
    ]);
    r.stderr
}

/// SSIM (All) of `distorted` against `reference` scaled to the same size.
pub fn ssim(distorted: &Path, reference: &Path) -> f64 {
    let log = run_metric("ssim", distorted, reference);
    let line = log
        .lines()
        .rev()
        .find(|l| l.contains("SSIM") && l.contains("All:"))
        .unwrap_or_else(|| panic!("no SSIM in:\n{log}"));
    let v = line.split("All:").nth(1).unwrap().split_whitespace().next().unwrap();
    v.parse().unwrap_or_else(|_| panic!("bad SSIM line: {line}"))
}

/// SSIM (All) of `distorted` against `reference` passed through the filters
/// `pre` (e.g. a tone-mapping chain, ending in `,`) and scaled to the same size.
pub fn ssim_pre(distorted: &Path, reference: &Path, pre: &str) -> f64 {
    let log = run_metric_pre("ssim", distorted, reference, pre);
    let line = log
        .lines()
        .rev()
        .find(|l| l.contains("SSIM") && l.contains("All:"))
        .unwrap_or_else(|| panic!("no SSIM in:\n{log}"));
    let v = line.split("All:").nth(1).unwrap().split_whitespace().next().unwrap();
    v.parse().unwrap_or_else(|_| panic!("bad SSIM line: {line}"))
}

/// PSNR (average, dB) of `distorted` against `reference` scaled to the same size.
pub fn psnr(distorted: &Path, reference: &Path) -> f64 {
    let log = run_metric("psnr", distorted, reference);
    let line = log
        .lines()
        .rev()
        .find(|l| l.contains("PSNR") && l.contains("average:"))
        .unwrap_or_else(|| panic!("no PSNR in:\n{log}"));
    let v = line.split("average:").nth(1).unwrap().split_whitespace().next().unwrap();
    if v == "inf" { 100.0 } else { v.parse().unwrap_or_else(|_| panic!("bad PSNR line: {line}")) }
}

// ---------------------------------------------------------------------------
// Output checks
// ---------------------------------------------------------------------------

/// Every path under `dir` (recursively).
pub fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            out.push(p.clone());
            if p.is_dir() && !p.is_symlink() {
                out.extend(walk(&p));
            }
        }
    }
    out
}

/// Asserts that nothing named `*.crema-partial*` is left under `dir`.
pub fn assert_no_partials(dir: &Path) {
    let left: Vec<_> = walk(dir).into_iter().filter(|p| p.to_string_lossy().contains(".crema-partial")).collect();
    assert!(left.is_empty(), "partial outputs left behind in {}: {left:?}", dir.display());
}

/// Names of the entries of `dir`, sorted.
pub fn list_dir(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| rd.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

/// `crema hls check --json DIR`: asserts exit 0 and no violations; returns the report.
pub fn hls_check_ok(dir: &Path) -> Value {
    let r = crema(&args!["hls", "check", "--json", dir]);
    let report: Value =
        serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("hls check --json output ({e})\n{}", r.describe()));
    assert_eq!(r.code, 0, "crema hls check reported violations on a package Crema made\n{}", r.describe());
    assert_eq!(report["violations"].as_array().map(Vec::len), Some(0), "{report:#}");
    assert_eq!(report["ok"], true, "{report:#}");
    report
}

/// `crema hls check --json DIR` on a package expected to be broken: the rule IDs reported.
pub fn hls_check_violations(dir: &Path) -> (i32, Vec<String>, Run) {
    let r = crema(&args!["hls", "check", "--json", dir]);
    let rules = serde_json::from_str::<Value>(&r.stdout)
        .ok()
        .and_then(|v| v["violations"].as_array().map(|a| a.iter().map(|x| s(&x["rule"]).to_string()).collect()))
        .unwrap_or_default();
    (r.code, rules, r)
}

/// Asserts a video stream is HEVC with the given profile and pixel format.
pub fn assert_hevc(file: &Path, profile: &str, pix_fmt: &str) -> Value {
    let v = video_stream(file);
    assert_eq!(s(&v["codec_name"]), "hevc", "{}: {v:#}", file.display());
    assert_eq!(s(&v["profile"]), profile, "{}: {v:#}", file.display());
    assert_eq!(s(&v["pix_fmt"]), pix_fmt, "{}: {v:#}", file.display());
    v
}

/// Duration of one frame of the first video stream (from r_frame_rate).
pub fn frame_seconds(file: &Path) -> f64 {
    let v = video_stream(file);
    let r = ratio(s(&v["avg_frame_rate"])).max(ratio(s(&v["r_frame_rate"])));
    if r > 0.0 { 1.0 / r } else { 0.04 }
}

/// Asserts the output's duration is within one source frame of `expected`.
pub fn assert_duration_close(out: &Path, expected: f64, frame: f64) {
    let d = format_duration(out);
    assert!(
        (d - expected).abs() <= frame + 1e-3,
        "{}: duration {d:.4} s, expected {expected:.4} s within one frame ({frame:.4} s)",
        out.display()
    );
}

/// A once-per-process lazily computed value shared by the tests of one binary.
pub struct Shared<T>(OnceLock<T>);

impl<T> Shared<T> {
    pub const fn new() -> Self {
        Self(OnceLock::new())
    }
    pub fn get(&self, make: impl FnOnce() -> T) -> &T {
        self.0.get_or_init(make)
    }
}
