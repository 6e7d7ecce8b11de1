//! The `crema` command line: exit codes and one-line errors for bad input
//! and unwritable outputs, no partial outputs, Ctrl-C, encoder back-ends,
//! the `--json` format, default output names, `crema probe --json`,
//! `crema profiles --json`, and reproducing a run with the `ffmpeg` CLI.

use crate::common::*;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------

/// The non-empty lines of stderr.
fn stderr_lines(r: &Run) -> Vec<&str> {
    r.stderr.lines().filter(|l| !l.trim().is_empty()).collect()
}

/// Runs an encode of `input` into a fresh output folder that must fail with
/// `code`, a one-line message naming the file, a JSON error line, and
/// nothing left in the output folder.
fn expect_failure(input: &Path, code: i32, extra: &[&str]) -> Run {
    let dir = tempdir();
    let mut a = args!["encode", input, "-p", "sophon-espresso", "--output-dir", dir.path(), "--json"];
    a.extend(extra.iter().map(std::ffi::OsString::from));
    let r = crema(&a);
    assert_eq!(r.code, code, "{}", r.describe());
    let lines = stderr_lines(&r);
    assert_eq!(lines.len(), 1, "expected a one-line error\n{}", r.describe());
    let name = input.file_name().unwrap().to_string_lossy();
    assert!(lines[0].contains(&*name), "the message does not name {name}: {}", lines[0]);
    let e = r.error();
    assert_eq!(e["exit_code"].as_i64(), Some(i64::from(code)), "{e}");
    assert!(s(&e["message"]).contains(&*name), "{e}");
    assert!(list_dir(dir.path()).is_empty(), "left in the output folder: {:?}", list_dir(dir.path()));
    r
}

// ---------------------------------------------------------------------------
// bad input: exit 3
// ---------------------------------------------------------------------------

#[test]
fn zero_byte_file_exits_3() {
    let r = expect_failure(&fixture("zero.mov"), 3, &[]);
    assert!(r.stderr.to_lowercase().contains("empty") || r.stderr.contains("0 bytes"), "{}", r.stderr);
}

#[test]
fn text_file_named_mov_exits_3() {
    expect_failure(&fixture("text.mov"), 3, &[]);
}

#[test]
fn truncated_mp4_without_moov_exits_3() {
    let r = expect_failure(&fixture("truncated.mp4"), 3, &[]);
    assert!(r.stderr.contains("truncated") || r.stderr.contains("damaged"), "{}", r.stderr);
}

#[test]
fn truncated_mp4_with_moov_in_front_exits_3() {
    let r = expect_failure(&fixture("truncated_moov_front.mp4"), 3, &[]);
    assert!(r.stderr.contains("truncated") || r.stderr.contains("damaged"), "{}", r.stderr);
}

#[test]
fn jpeg_image_exits_3() {
    let r = expect_failure(&fixture("image.jpg"), 3, &[]);
    assert!(r.stderr.contains("image"), "{}", r.stderr);
}

#[test]
fn audio_only_files_without_readable_audio_exit_3_saying_so() {
    // Audio-only sources are encoded (tests/audio_only.rs); one whose only
    // audio cannot be read leaves nothing to encode.
    let r = expect_failure(&fixture("audio_unreadable.ts"), 3, &[]);
    assert!(r.stderr.contains("nothing to encode"), "{}", r.stderr);
}

#[test]
fn missing_input_exits_3() {
    let dir = tempdir();
    expect_failure(&dir.path().join("no-such-clip.mov"), 3, &[]);
}

// ---------------------------------------------------------------------------
// usage errors: exit 2
// ---------------------------------------------------------------------------

#[test]
fn unknown_profile_exits_2() {
    let dir = tempdir();
    let r = crema(&args!["encode", fixture("h264_720p_2s.mp4"), "-p", "sophon-ristretto", "--output-dir", dir.path()]);
    assert_eq!(r.code, 2, "{}", r.describe());
    assert!(r.stderr.contains("sophon-ristretto"), "{}", r.stderr);
    assert!(list_dir(dir.path()).is_empty());
}

#[test]
fn output_file_with_two_inputs_exits_2() {
    let dir = tempdir();
    let out = dir.path().join("one.mp4");
    let r = crema(&args![
        "encode",
        fixture("h264_720p_2s.mp4"),
        fixture("sd_480p_2s.mp4"),
        "-p",
        "sophon-espresso",
        "-o",
        &out
    ]);
    assert_eq!(r.code, 2, "{}", r.describe());
    assert_eq!(stderr_lines(&r).len(), 1, "{}", r.describe());
    assert!(list_dir(dir.path()).is_empty());
}

#[test]
fn bad_ladder_options_exit_2_and_leave_nothing() {
    let src = fixture("h264_720p_2s.mp4");
    for extra in [
        vec!["--hls", "--segment-seconds", "0.5"],
        vec!["--hls", "--renditions", "720,100"],
        vec!["--hls", "--renditions", "720,360", "--keep-mp4", "1000"],
    ] {
        let dir = tempdir();
        let mut a = args!["encode", &src, "-p", "sophon-espresso", "--output-dir", dir.path(), "--json"];
        a.extend(extra.iter().map(std::ffi::OsString::from));
        let r = crema(&a);
        assert_eq!(r.code, 2, "{extra:?}\n{}", r.describe());
        assert_eq!(stderr_lines(&r).len(), 1, "{}", r.describe());
        assert!(list_dir(dir.path()).is_empty(), "{extra:?}: left {:?}", walk(dir.path()));
    }
}

/// Several inputs: each is encoded; a bad one is reported and does not stop
/// the others; the exit code is the failure's.
#[test]
fn several_inputs_one_bad_encodes_the_others_and_exits_3() {
    let dir = tempdir();
    let r = crema(&args![
        "encode",
        fixture("sd_480p_2s.mp4"),
        fixture("zero.mov"),
        fixture("h264_720p_2s.mp4"),
        "-p",
        "sophon-espresso",
        "--output-dir",
        dir.path(),
        "--target-height",
        "144",
        "--json"
    ]);
    assert_eq!(r.code, 3, "{}", r.describe());
    assert_eq!(r.events("result").len(), 2, "{}", r.describe());
    assert_eq!(r.events("error").len(), 1, "{}", r.describe());
    assert_eq!(list_dir(dir.path()), vec!["h264_720p_2s.sophon-espresso.mp4", "sd_480p_2s.sophon-espresso.mp4"]);
    for f in list_dir(dir.path()) {
        assert_hevc(&dir.path().join(f), "Main", "yuv420p");
    }
}

#[test]
fn output_that_would_replace_the_input_exits_4() {
    let dir = tempdir();
    let src = dir.path().join("same.mp4");
    std::fs::copy(fixture("sd_480p_2s.mp4"), &src).unwrap();
    let before = std::fs::read(&src).unwrap();
    let r = crema(&args!["encode", &src, "-p", "sophon-espresso", "-o", &src, "--overwrite", "--json"]);
    assert_eq!(r.code, 4, "{}", r.describe());
    assert_eq!(stderr_lines(&r).len(), 1, "{}", r.describe());
    assert_eq!(std::fs::read(&src).unwrap(), before, "the input was changed");
    assert_eq!(list_dir(dir.path()), vec!["same.mp4"]);
}

/// The same guard when the output names the input another way (`sub/..`, a
/// symlink). Fails today: the paths are compared as spelled, so with
/// `--overwrite` the source is replaced by its own encode (the original is lost).
#[test]
fn output_that_names_the_input_another_way_exits_4_and_keeps_the_input() {
    let dir = tempdir();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    let src = dir.path().join("same.mp4");
    std::fs::copy(fixture("sd_480p_2s.mp4"), &src).unwrap();
    std::os::unix::fs::symlink("same.mp4", dir.path().join("link.mp4")).unwrap();
    let before = std::fs::read(&src).unwrap();
    let spellings = [dir.path().join("sub").join("..").join("same.mp4"), dir.path().join("link.mp4")];
    for input in &spellings {
        let r = crema(&args![
            "encode",
            input,
            "-p",
            "sophon-espresso",
            "-o",
            &src,
            "--overwrite",
            "--target-height",
            "144",
            "--json"
        ]);
        let same = std::fs::read(&src).unwrap() == before;
        assert!(
            r.code == 4 && same,
            "input {} with -o {}: exit {}, source intact: {same}\n{}",
            input.display(),
            src.display(),
            r.code,
            r.describe()
        );
    }
}

// ---------------------------------------------------------------------------
// outputs: exit 4
// ---------------------------------------------------------------------------

#[test]
fn existing_output_is_not_overwritten_without_flag() {
    let dir = tempdir();
    let out = dir.path().join("taken.mp4");
    let before = b"an existing file that must survive".to_vec();
    std::fs::write(&out, &before).unwrap();
    let src = fixture("h264_720p_2s.mp4");
    let r = crema(&args!["encode", &src, "-p", "sophon-espresso", "-o", &out, "--target-height", "144", "--json"]);
    assert_eq!(r.code, 4, "{}", r.describe());
    assert_eq!(stderr_lines(&r).len(), 1, "{}", r.describe());
    assert!(r.stderr.contains("taken.mp4") && r.stderr.contains("--overwrite"), "{}", r.stderr);
    assert_eq!(std::fs::read(&out).unwrap(), before, "the existing file was changed");
    assert_eq!(list_dir(dir.path()), vec!["taken.mp4"]);
    // With --overwrite it is replaced by a real encode.
    let r = crema(&args![
        "encode",
        &src,
        "-p",
        "sophon-espresso",
        "-o",
        &out,
        "--target-height",
        "144",
        "--json",
        "--overwrite"
    ]);
    r.ok();
    assert_hevc(&out, "Main", "yuv420p");
    assert_eq!(list_dir(dir.path()), vec!["taken.mp4"]);
}

#[test]
fn output_dir_that_is_a_regular_file_exits_4() {
    let dir = tempdir();
    let file = dir.path().join("not-a-folder");
    std::fs::write(&file, b"x").unwrap();
    let r =
        crema(&args!["encode", fixture("h264_720p_2s.mp4"), "-p", "sophon-espresso", "--output-dir", &file, "--json"]);
    assert_eq!(r.code, 4, "{}", r.describe());
    assert_eq!(stderr_lines(&r).len(), 1, "{}", r.describe());
    assert!(r.stderr.contains("not-a-folder"), "{}", r.stderr);
    assert_eq!(std::fs::read(&file).unwrap(), b"x");
    assert_eq!(list_dir(dir.path()), vec!["not-a-folder"]);
}

#[test]
fn output_dir_proc_exits_4() {
    let r = crema(&args![
        "encode",
        fixture("h264_720p_2s.mp4"),
        "-p",
        "sophon-espresso",
        "--output-dir",
        "/proc",
        "--json"
    ]);
    assert_eq!(r.code, 4, "{}", r.describe());
    assert_eq!(stderr_lines(&r).len(), 1, "{}", r.describe());
    assert!(r.stderr.contains("/proc"), "{}", r.stderr);
    assert!(!Path::new("/proc/h264_720p_2s.sophon-espresso.mp4").exists());
}

/// Unmounts on drop.
struct Mount(PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn disk_full_exits_4_and_leaves_nothing() {
    let dir = tempdir();
    let mnt = dir.path().join("small");
    std::fs::create_dir(&mnt).unwrap();
    let m = run_program("mount", &args!["-t", "tmpfs", "-o", "size=300k", "tmpfs", &mnt]);
    if m.code != 0 {
        eprintln!("SKIPPED disk_full_exits_4_and_leaves_nothing: cannot mount a 300k tmpfs here: {}", m.stderr.trim());
        return;
    }
    let _guard = Mount(mnt.clone());
    // ~500 kB of HEVC + AAC: does not fit in 300 kB.
    let r = crema(&args![
        "encode",
        fixture("h264_720p_2s.mp4"),
        "-p",
        "sophon-espresso-hq",
        "--output-dir",
        &mnt,
        "--audio",
        "--json"
    ]);
    assert_eq!(r.code, 4, "{}", r.describe());
    let lines = stderr_lines(&r);
    assert_eq!(lines.len(), 1, "{}", r.describe());
    let e = r.error();
    assert_eq!(e["code"], "disk_full", "{e}");
    assert!(lines[0].contains("h264_720p_2s.sophon-espresso-hq.mp4"), "{}", lines[0]);
    assert_no_partials(&mnt);
    assert!(list_dir(&mnt).is_empty(), "left on the full disk: {:?}", list_dir(&mnt));
}

// ---------------------------------------------------------------------------
// Ctrl-C
// ---------------------------------------------------------------------------

/// Starts `crema ARGS` with stdout piped, waits for its first progress line,
/// lets it encode 1.5 s more, sends SIGINT, and returns (exit code, seconds
/// from the signal to the exit, stdout lines).
///
/// The latency is wall time, so these tests run one at a time and the child
/// runs at a raised priority (nice -10, inherited by its encoder threads): on
/// this shared 2-core machine other jobs' load (load average ~8) otherwise
/// stretches the ~0.2 s the engine needs to about 1.2 s.
fn interrupt(args: &[std::ffi::OsString]) -> (i32, f64, Vec<Value>) {
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let mut cmd = Command::new(crema_bin());
    // SAFETY: nice(2) is async-signal-safe; a failure (no privilege) is ignored.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut cmd, || {
            let _ = libc::nice(-10);
            Ok(())
        });
    }
    let mut child = cmd
        .args(args)
        .env("CREMA_PROFILE_DIR", empty_profile_dir())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start crema");
    let pid = child.id();
    let mut err = child.stderr.take().unwrap();
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut err, &mut s);
        s
    });
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let out = child.stdout.take().unwrap();
    let out_reader = std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut lines = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let l =
            rx.recv_timeout(deadline.saturating_duration_since(Instant::now())).expect("no progress line from crema");
        let v: Value = serde_json::from_str(&l).unwrap();
        let is_progress = v["event"] == "progress";
        lines.push(v);
        if is_progress {
            break;
        }
    }
    std::thread::sleep(Duration::from_millis(1500));
    // SAFETY: signalling our own child.
    assert_eq!(unsafe { libc::kill(pid as libc::pid_t, libc::SIGINT) }, 0);
    let sent = Instant::now();
    // Only a guard against a hang: the time to exit is printed, never
    // asserted (a busy 2-core machine measured 1.3-2.2 s; issue 9).
    let exited = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watchdog = {
        let exited = exited.clone();
        std::thread::spawn(move || {
            let until = Instant::now() + HANG_BOUND;
            while Instant::now() < until {
                if exited.load(std::sync::atomic::Ordering::SeqCst) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            // SAFETY: signalling our own child, not yet reaped.
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
        })
    };
    let (code, _) = wait4(pid);
    exited.store(true, std::sync::atomic::Ordering::SeqCst);
    watchdog.join().unwrap();
    let took = sent.elapsed().as_secs_f64();
    eprintln!("SIGINT to exit: {took:.3} s");
    assert!(took < HANG_BOUND.as_secs_f64(), "crema did not exit within {HANG_BOUND:?} of SIGINT (killed)");
    std::mem::forget(child);
    out_reader.join().unwrap();
    lines.extend(rx.try_iter().filter_map(|l| serde_json::from_str(&l).ok()));
    let stderr = err_reader.join().unwrap();
    assert!(
        !lines.iter().any(|l| l["event"] == "result"),
        "the encode finished before the signal; use a longer source\n{stderr}"
    );
    (code, took, lines)
}

/// How long after SIGINT a run may take before the test calls it a hang.
const HANG_BOUND: Duration = Duration::from_secs(60);

#[test]
fn ctrl_c_cancels_and_removes_partial_outputs() {
    let dir = tempdir();
    let (code, _took, lines) = interrupt(&args![
        "encode",
        fixture("prores_hq_1080p25_10bit.mov"),
        "-p",
        "sophon-espresso",
        "--output-dir",
        dir.path(),
        "--audio",
        "--json"
    ]);
    assert_eq!(code, 130, "exit code after SIGINT; lines: {lines:?}");
    let e = lines.iter().find(|l| l["event"] == "error").expect("an error line");
    assert_eq!(e["exit_code"], 130, "{e}");
    assert_no_partials(dir.path());
    assert!(list_dir(dir.path()).is_empty(), "left behind: {:?}", list_dir(dir.path()));
}

#[test]
fn ctrl_c_during_hls_ladder_removes_the_package() {
    let dir = tempdir();
    let (code, _took, lines) = interrupt(&args![
        "encode",
        fixture("prores_hq_1080p25_10bit.mov"),
        "-p",
        "sophon-espresso",
        "--output-dir",
        dir.path(),
        "--hls",
        "--renditions",
        "720,360",
        "--keep-mp4",
        "360",
        "--file",
        "--audio",
        "--json"
    ]);
    assert_eq!(code, 130, "exit code after SIGINT; lines: {lines:?}");
    assert_no_partials(dir.path());
    assert!(list_dir(dir.path()).is_empty(), "left behind: {:?}", walk(dir.path()));
}

// ---------------------------------------------------------------------------
// encoder back-ends
// ---------------------------------------------------------------------------

#[test]
fn explicit_hardware_encoders_fail_cleanly_or_work() {
    for backend in ["nvenc", "qsv", "vaapi", "videotoolbox", "amf"] {
        let dir = tempdir();
        let out = dir.path().join("hw.mp4");
        let r = crema(&args![
            "encode",
            fixture("h264_720p_2s.mp4"),
            "-p",
            "sophon-espresso",
            "-o",
            &out,
            "--encoder",
            backend,
            "--target-height",
            "144",
            "--json"
        ]);
        match r.code {
            0 => {
                let res = r.result();
                let name = s(&res["outputs"][0]["encoder"]["name"]);
                assert!(name.contains(backend), "--encoder {backend} used {name}");
                assert!(out.is_file());
            }
            2 => {
                let lines = stderr_lines(&r);
                assert_eq!(lines.len(), 1, "{}", r.describe());
                assert!(lines[0].contains("not available on this machine"), "{}", r.describe());
                assert!(lines[0].to_lowercase().contains(backend), "message does not name {backend}: {}", lines[0]);
                assert!(list_dir(dir.path()).is_empty(), "{:?}", list_dir(dir.path()));
            }
            _ => panic!("--encoder {backend}: neither success nor a clean usage error\n{}", r.describe()),
        }
    }
}

#[test]
fn encoder_auto_falls_back_to_libx265_and_says_why() {
    let dir = tempdir();
    let out = dir.path().join("auto.mp4");
    let r = crema(&args![
        "encode",
        fixture("h264_720p_2s.mp4"),
        "-p",
        "sophon-espresso",
        "-o",
        &out,
        "--encoder",
        "auto",
        "--target-height",
        "144",
        "--json"
    ]);
    let res = r.ok();
    let enc = &res["outputs"][0]["encoder"];
    let detected = crema(&["encoders", "--json"]);
    let list: Value = serde_json::from_str(&detected.stdout).unwrap();
    let hw_available = list.as_array().unwrap().iter().any(|d| d["backend"] != "software" && d["available"] == true);
    if hw_available {
        eprintln!("hardware encoder present: {enc}");
        return;
    }
    assert_eq!(enc["name"], "libx265", "{enc}");
    assert_eq!(enc["backend"], "software", "{enc}");
    let reason = s(&enc["reason"]).to_lowercase();
    assert!(
        reason.contains("fallback") || reason.contains("falling back") || reason.contains("no usable hardware"),
        "the reason does not explain the fallback: {reason}"
    );
    let ev = r.events("encoder");
    assert_eq!(ev.len(), 1, "{}", r.describe());
    assert_eq!(ev[0]["encoder"], "libx265");
    assert_eq!(ev[0]["reason"], enc["reason"]);
}

// ---------------------------------------------------------------------------
// --json format and output names
// ---------------------------------------------------------------------------

#[test]
fn json_progress_and_result_lines_have_the_documented_fields() {
    let dir = tempdir();
    let src = fixture("h264_720p_2s.mp4");
    let out = dir.path().join("j.mp4");
    let r = crema(&args![
        "encode",
        &src,
        "-p",
        "sophon-espresso",
        "-o",
        &out,
        "--target-height",
        "360",
        "--audio",
        "--json"
    ]);
    let res = r.ok();
    let lines = r.json_lines();
    assert_eq!(lines.last().unwrap()["event"], "result", "the result is not the last line");
    let stages: Vec<&str> = lines.iter().filter(|l| l["event"] == "stage").map(|l| s(&l["stage"])).collect();
    assert_eq!(stages, vec!["probing", "encoding", "muxing"], "{}", r.describe());
    let progress = r.events("progress");
    assert!(!progress.is_empty(), "no progress lines\n{}", r.describe());
    let mut last_frames = 0;
    for p in &progress {
        for k in ["stage", "percent", "fps", "eta_seconds", "frames_done", "frames_total"] {
            assert!(p.get(k).is_some(), "progress line lacks {k}: {p}");
        }
        let pct = p["percent"].as_f64().unwrap();
        assert!((0.0..=100.0).contains(&pct), "{p}");
        assert!(p["fps"].as_f64().unwrap() >= 0.0, "{p}");
        assert!(p["eta_seconds"].is_null() || p["eta_seconds"].as_u64().is_some(), "{p}");
        assert_eq!(p["frames_total"].as_u64(), Some(50), "{p}");
        let f = p["frames_done"].as_u64().unwrap();
        assert!(f >= last_frames && f <= 50, "{p}");
        last_frames = f;
        assert_eq!(p["stage"], "encoding");
    }
    let outs = res["outputs"].as_array().unwrap();
    assert_eq!(outs.len(), 1);
    let o = &outs[0];
    assert_eq!(Path::new(s(&o["path"])), out.as_path());
    assert_eq!(o["bytes"].as_u64(), Some(std::fs::metadata(&out).unwrap().len()));
    let d = num(&o["duration_seconds"]).unwrap();
    assert!((d - format_duration(&out)).abs() < 0.01, "duration_seconds {d} vs ffprobe {}", format_duration(&out));
    let enc = &o["encoder"];
    assert_eq!(enc["name"], "libx265");
    assert!(!s(&enc["reason"]).is_empty());
    let names: Vec<&str> = enc["options"].as_array().unwrap().iter().map(|o| s(&o["name"])).collect();
    for k in ["preset", "crf", "x265-params"] {
        assert!(names.contains(&k), "options lack {k}: {names:?}");
    }
    assert!(enc["options"].as_array().unwrap().iter().all(|o| o["value"].is_string()), "{enc}");
    assert_eq!(res["final_artifact"], "encoded");
    assert_eq!(res["effective_profile_id"], "sophon-espresso");
    let saved = num(&res["saved_percent"]).unwrap();
    assert!(saved > 0.0 && saved < 100.0, "{saved}");
    assert_eq!(res["source"]["sha256"].as_str().map(str::len), Some(64));
}

#[test]
fn default_output_names_are_input_stem_dot_profile() {
    let dir = tempdir();
    let src = dir.path().join("clip.mp4");
    std::fs::copy(fixture("sd_480p_2s.mp4"), &src).unwrap();
    let elsewhere = tempdir();
    // Beside the input, whatever the working directory.
    let r = Command::new(crema_bin())
        .env("CREMA_PROFILE_DIR", empty_profile_dir())
        .args(args!["encode", &src, "-p", "sophon-espresso", "--target-height", "144", "--json"])
        .current_dir(elsewhere.path())
        .output()
        .unwrap();
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    assert_eq!(list_dir(dir.path()), vec!["clip.mp4", "clip.sophon-espresso.mp4"]);
    assert!(list_dir(elsewhere.path()).is_empty());
    // In --output-dir, MKV.
    let outdir = tempdir();
    let r = crema(&args![
        "encode",
        &src,
        "-p",
        "sophon-espresso",
        "--output-dir",
        outdir.path(),
        "--container",
        "mkv",
        "--target-height",
        "144",
        "--json"
    ]);
    let res = r.ok();
    assert_eq!(list_dir(outdir.path()), vec!["clip.sophon-espresso.mkv"]);
    assert_eq!(Path::new(s(&res["outputs"][0]["path"])), outdir.path().join("clip.sophon-espresso.mkv").as_path());
    assert!(s(&probe(&outdir.path().join("clip.sophon-espresso.mkv"))["format"]["format_name"]).contains("matroska"));
}

// ---------------------------------------------------------------------------
// crema probe / profiles
// ---------------------------------------------------------------------------

fn sha256sum(file: &Path) -> String {
    let r = run_program("sha256sum", &args![file]);
    r.stdout.split_whitespace().next().unwrap().to_string()
}

fn probe_one(file: &Path) -> Value {
    let r = crema(&args!["probe", "--json", file]);
    assert_eq!(r.code, 0, "{}", r.describe());
    let lines = r.json_lines();
    assert_eq!(lines.len(), 1, "{}", r.describe());
    lines.into_iter().next().unwrap()
}

#[test]
fn probe_json_gives_source_fields() {
    // Several inputs: one line each.
    let files = [fixture("h264_720p_2s.mp4"), shared_media("gopro_karma_480p_tmcd_gpmf.mp4")];
    let r = crema(&args!["probe", "--json", &files[0], &files[1]]);
    assert_eq!(r.code, 0, "{}", r.describe());
    assert_eq!(r.json_lines().len(), 2);

    for f in &files {
        let p = probe_one(f);
        let ff = probe(f);
        assert_eq!(s(&p["name"]), f.file_name().unwrap().to_string_lossy());
        assert_eq!(p["bytes"].as_u64(), Some(std::fs::metadata(f).unwrap().len()));
        assert_eq!(s(&p["sha256"]), sha256sum(f));
        let d = num(&p["duration_seconds"]).unwrap();
        assert!((d - num(&ff["format"]["duration"]).unwrap()).abs() < 0.01, "{d}");
        let v = &streams_of(&ff, "video")[0];
        assert_eq!(s(&p["resolution"]), format!("{}x{}", v["width"], v["height"]));
        assert!(
            (ratio(s(&p["frame_rate"])) - ratio(s(&v["r_frame_rate"]))).abs() < 0.01,
            "{} vs {}",
            p["frame_rate"],
            v["r_frame_rate"]
        );
        let pv = &p["video"];
        assert_eq!(pv["codec"], v["codec_name"]);
        assert_eq!(pv["profile"], v["profile"]);
        assert_eq!(pv["pix_fmt"], v["pix_fmt"]);
        assert_eq!(pv["bit_depth"], 8);
        assert_eq!(pv["color_primaries"], "bt709");
        assert_eq!(pv["color_transfer"], "bt709");
        assert_eq!(pv["color_matrix"], "bt709");
        assert!(pv["color_range"].is_string(), "{pv}");
        assert_eq!(pv["rotation"], 0);
        assert_eq!(pv["field_order"], "progressive");
        let audio = p["audio"].as_array().unwrap();
        assert_eq!(audio.len(), 1);
        assert_eq!(audio[0]["codec"], "aac");
        assert_eq!(audio[0]["channels"], 2);
        assert!(audio[0].get("layout").is_some() && audio[0].get("language").is_some(), "{}", audio[0]);
    }
    let gopro = probe_one(&files[1]);
    let data: Vec<&str> = gopro["data"].as_array().unwrap().iter().map(|d| s(&d["codec"])).collect();
    assert!(data.contains(&"tmcd"), "{data:?}");
    assert_eq!(gopro["timecode"], "19:26:48:04");
    assert_eq!(gopro["audio"][0]["language"], "eng");
    assert!(probe_one(&files[0])["timecode"].is_null());
}

#[test]
fn probe_json_reports_hdr_rotation_and_field_order() {
    let pq = probe_one(&shared_media("hdr10plus_1080p30_hevc-main10_pq_mdcv_cll.mp4"));
    let v = &pq["video"];
    assert_eq!(v["codec"], "hevc");
    assert_eq!(v["profile"], "Main 10");
    assert_eq!(v["bit_depth"], 10);
    assert_eq!(v["pix_fmt"], "yuv420p10le");
    assert_eq!(v["color_transfer"], "smpte2084");
    assert_eq!(v["color_primaries"], "bt2020");
    assert_eq!(v["hdr"], "pq");
    assert_eq!(v["content_light_level"]["max_cll"], 1000, "{v}");
    assert_eq!(v["content_light_level"]["max_fall"], 200, "{v}");
    // As ffprobe reads this file's SEI: max 1000/10000, min 50/10000 cd/m²
    // (an odd master, but that is what the file says).
    let md = &v["mastering_display"];
    assert!((num(&md["max_luminance"]).unwrap() - 0.1).abs() < 1e-6, "{md}");
    assert!((num(&md["min_luminance"]).unwrap() - 0.005).abs() < 1e-6, "{md}");
    assert!((num(&md["red"][0]).unwrap() - 0.15).abs() < 1e-6, "{md}");

    let hlg = probe_one(&shared_media("hlg_1080p_hevc-main10_videoonly.mp4"));
    assert_eq!(hlg["video"]["hdr"], "hlg");
    assert_eq!(hlg["audio"].as_array().map(Vec::len), Some(0));

    let phone = probe_one(&shared_media("phone_720p30_h264_rot90_5s.mp4"));
    let rot = phone["video"]["rotation"].as_i64().unwrap();
    assert!(rot.rem_euclid(360) == 90 || rot.rem_euclid(360) == 270, "rotation {rot}");
    let r90 = probe_one(&fixture("rotated_90.mp4"))["video"]["rotation"].as_i64().unwrap();
    let r270 = probe_one(&fixture("rotated_270.mp4"))["video"]["rotation"].as_i64().unwrap();
    assert_ne!(r90.rem_euclid(360), r270.rem_euclid(360), "90 and 270 read the same");
    assert!([90, 270].contains(&r90.rem_euclid(360)) && [90, 270].contains(&r270.rem_euclid(360)), "{r90} {r270}");

    let dvb = probe_one(&shared_media("dvb_576i25_mpeg2_mp2.ts"));
    assert_eq!(dvb["video"]["field_order"], "tt");
    assert_eq!(dvb["audio"][0]["codec"], "mp2");

    let ma = probe_one(&fixture("multi_audio.mkv"));
    let langs: Vec<&str> = ma["audio"].as_array().unwrap().iter().map(|a| s(&a["language"])).collect();
    assert_eq!(langs, vec!["eng", "fra", "deu"]);
    let tc = probe_one(&fixture("timecode.mov"));
    assert_eq!(tc["timecode"], "01:00:00:00");

    // A bad file: exit 3 with a JSON error line.
    let r = crema(&args!["probe", "--json", fixture("text.mov")]);
    assert_eq!(r.code, 3, "{}", r.describe());
    assert_eq!(r.error()["exit_code"], 3);
}

#[test]
fn profiles_json_lists_the_13_builtin_ids() {
    let r = crema(&["profiles", "--json"]);
    assert_eq!(r.code, 0, "{}", r.describe());
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    let mut ids: Vec<&str> = v.as_array().unwrap().iter().map(|p| s(&p["id"])).collect();
    ids.sort();
    let mut want = vec!["sophon-auto".to_string()];
    for t in ["espresso", "cortado", "americano"] {
        for sfx in ["", "-10bit", "-hq", "-hq-10bit"] {
            want.push(format!("sophon-{t}{sfx}"));
        }
    }
    want.sort();
    assert_eq!(ids, want);
    for p in v.as_array().unwrap() {
        let id = s(&p["id"]);
        let depth = p["bit_depth"].as_u64().unwrap();
        assert_eq!(depth, if id.ends_with("-10bit") { 10 } else { 8 }, "{id}");
        assert_eq!(p["codec"], "hevc", "{id}");
    }
}

/// A TOML file in the user profile folder: a copy of a built-in profile with
/// its `id` (equal to the file stem) and CRF changed.
fn write_profile(dir: &Path, base: &str, id: &str, edits: &[(&str, &str)]) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles").join(format!("{base}.toml"));
    let mut text = std::fs::read_to_string(&src).unwrap();
    text = text.replacen(&format!("id = \"{base}\""), &format!("id = \"{id}\""), 1);
    for (from, to) in edits {
        assert!(text.contains(from), "{from} not in {}", src.display());
        text = text.replacen(from, to, 1);
    }
    let p = dir.join(format!("{id}.toml"));
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn user_profile_folder_adds_and_overrides_profiles() {
    let dir = tempdir();
    write_profile(dir.path(), "sophon-espresso", "my-espresso", &[("crf = \"25\"", "crf = \"30\"")]);
    write_profile(dir.path(), "sophon-espresso", "sophon-espresso", &[("crf = \"25\"", "crf = \"31\"")]);
    let r = crema_with_profiles(&["profiles", "--json"], dir.path());
    assert_eq!(r.code, 0, "{}", r.describe());
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    let list = v.as_array().unwrap();
    assert_eq!(list.len(), 14, "13 built-in + 1 added");
    let crf = |id: &str| list.iter().find(|p| p["id"] == id).map(|p| s(&p["encoders"]["libx265"]["crf"]).to_string());
    assert_eq!(crf("my-espresso").as_deref(), Some("30"));
    assert_eq!(crf("sophon-espresso").as_deref(), Some("31"), "the user file overrides the built-in one");
    let out = dir.path().join("mine.mp4");
    let res = crema_with_profiles(
        &args![
            "encode",
            fixture("sd_480p_2s.mp4"),
            "-p",
            "my-espresso",
            "-o",
            &out,
            "--target-height",
            "144",
            "--json"
        ],
        dir.path(),
    )
    .ok();
    let opts = res["outputs"][0]["encoder"]["options"].as_array().unwrap().clone();
    assert!(opts.iter().any(|o| o["name"] == "crf" && o["value"] == "30"), "{opts:?}");
    assert_eq!(res["effective_profile_id"], "my-espresso");
}

#[test]
fn invalid_user_profiles_are_rejected_naming_file_field_and_allowed_values() {
    let cases: [(&str, &str, &str); 2] = [
        ("x265-params = \"aq-mode=2\"", "x265-params = \"aq-mode=2\"\nbogus-option = \"1\"", "bogus-option"),
        ("bit_depth = 8", "bit_depth = 12", "bit_depth"),
    ];
    for (from, to, field) in cases {
        let dir = tempdir();
        write_profile(dir.path(), "sophon-espresso", "broken", &[(from, to)]);
        for cmd in [
            args!["profiles"],
            args!["encode", fixture("sd_480p_2s.mp4"), "-p", "sophon-espresso", "--output-dir", dir.path()],
        ] {
            let r = crema_with_profiles(&cmd, dir.path());
            assert_eq!(r.code, 2, "{}", r.describe());
            let lines = stderr_lines(&r);
            assert_eq!(lines.len(), 1, "{}", r.describe());
            assert!(lines[0].contains("broken.toml") && lines[0].contains(field), "{}", lines[0]);
            if field == "bit_depth" {
                assert!(lines[0].contains('8') && lines[0].contains("10"), "allowed values not named: {}", lines[0]);
            }
            assert_eq!(list_dir(dir.path()), vec!["broken.toml"]);
        }
    }
}

// ---------------------------------------------------------------------------
// reproducibility
// ---------------------------------------------------------------------------

/// The encoder options in the result, given to the `ffmpeg` command line,
/// give a stream with the same parameters (and about the same size).
#[test]
fn result_encoder_options_reproduce_the_run_with_ffmpeg() {
    let dir = tempdir();
    let src = fixture("sd_480p_2s.mp4");
    let out = dir.path().join("crema.mp4");
    let res = encode_ok(&src, "sophon-cortado-10bit", &out, &["--target-height", "360"]);
    let o = &res["outputs"][0];
    let enc = &o["encoder"];
    let (w, h) = (o["width"].as_u64().unwrap(), o["height"].as_u64().unwrap());
    let mut a: Vec<std::ffi::OsString> = args![
        "-v",
        "error",
        "-i",
        &src,
        "-map",
        "0:v:0",
        "-vf",
        format!("scale={w}:{h}:flags=bicubic,setsar=1"),
        "-c:v",
        s(&enc["name"])
    ];
    for opt in enc["options"].as_array().unwrap() {
        a.push(format!("-{}", s(&opt["name"])).into());
        a.push(s(&opt["value"]).into());
    }
    let again = dir.path().join("ffmpeg.mp4");
    a.push(again.clone().into());
    ffmpeg(&a);
    let (x, y) = (video_stream(&out), video_stream(&again));
    for k in ["codec_name", "profile", "pix_fmt", "width", "height", "level"] {
        assert_eq!(x[k], y[k], "{k} differs: crema {} vs ffmpeg {}", x[k], y[k]);
    }
    let (bx, by) = (std::fs::metadata(&out).unwrap().len() as f64, std::fs::metadata(&again).unwrap().len() as f64);
    assert!((bx / by - 1.0).abs() < 0.10, "sizes differ by more than 10%: crema {bx} B, ffmpeg {by} B");
    let frames = |f: &Path| video_packets(f).len();
    assert_eq!(frames(&out), frames(&again));
}

// ---------------------------------------------------------------------------
// one rule set for every surface
// ---------------------------------------------------------------------------

/// The engine's request rules (`crema_engine::request`) are the only ones:
/// the same invalid output asked of `crema encode`, `crema watch add` and
/// `POST /v1/jobs` is refused by each with the same words (the field named
/// in each surface's own spelling: `--renditions`, `output.hls.renditions`),
/// and nothing is encoded, watched or queued.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_request_is_refused_with_the_same_words_everywhere() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let input = fixture("h264_720p_2s.mp4");
    // (CLI flags, the API's `output`, the CLI field, the API field, the words)
    let cases: [(&[&str], serde_json::Value, &str, &str, &str); 4] = [
        (
            &["--hls", "--renditions", "720,5000"],
            serde_json::json!({"hls": {"renditions": [720, 5000]}}),
            "--renditions",
            "output.hls.renditions",
            "heights must be 144..4320 pixels, got 5000",
        ),
        (
            &["--hls", "--renditions", "720", "--segment-seconds", "30"],
            serde_json::json!({"hls": {"renditions": [720], "segment_seconds": 30}}),
            "--segment-seconds",
            "output.hls.segment_seconds",
            "must be 1..20 seconds, got 30",
        ),
        (
            &["--hls", "--renditions", "144,180,240,288,360,432,480,540,576"],
            serde_json::json!({"hls": {"renditions": [144, 180, 240, 288, 360, 432, 480, 540, 576]}}),
            "--renditions",
            "output.hls.renditions",
            "at most 8 distinct heights per ladder, got 9",
        ),
        (
            &["--target-height", "100"],
            serde_json::json!({"target_height": 100}),
            "--target-height",
            "output.target_height",
            "must be 144..4320 pixels, got 100",
        ),
    ];
    let data = tempdir();
    let key = crate::common::serve::create_key(data.path());
    let server = crate::common::serve::Server::start(data.path());
    let api = crate::common::serve::Api {
        http: reqwest::Client::new(),
        base: server.base.clone(),
        key,
        n: std::cell::Cell::new(0),
    };
    api.wait_up().await;
    let watched = tempdir();
    for (flags, output, flag, field, words) in cases {
        let out = tempdir();
        let mut a = args!["encode", &input, "-p", "sophon-cortado", "--output-dir", out.path()];
        a.extend(flags.iter().map(std::ffi::OsString::from));
        let r = crema(&a);
        assert_eq!(r.code, 2, "{}", r.describe());
        assert!(r.stderr.contains(&format!("{flag}: {words}")), "crema encode: {}", r.describe());
        assert!(list_dir(out.path()).is_empty(), "nothing encoded");

        let mut a = args!["watch", "add", watched.path(), "-p", "sophon-cortado", "--data-dir", data.path()];
        a.extend(flags.iter().map(std::ffi::OsString::from));
        let r = crema(&a);
        assert_ne!(r.code, 0, "{}", r.describe());
        assert!(r.stderr.contains(&format!("{flag}: {words}")), "crema watch add: {}", r.describe());

        let body = serde_json::json!({"source": {"type": "path", "path": input}, "profile": "sophon-cortado", "output": output});
        let (st, e) = api.post("/v1/jobs", body).await;
        assert_eq!(st, reqwest::StatusCode::BAD_REQUEST, "{e}");
        assert_eq!(e["error"]["code"], "validation_error", "{e}");
        let msg = e["error"]["message"].as_str().unwrap_or_default();
        assert!(msg.contains(field) && msg.contains(words), "POST /v1/jobs: {e}");
    }
    let (_, rules) = api.get("/v1/watch-folders").await;
    assert_eq!(rules["watch_folders"].as_array().map(Vec::len), Some(0), "no rule added: {rules}");
    let (_, jobs) = api.get("/v1/jobs").await;
    assert_eq!(jobs["jobs"].as_array().map(Vec::len), Some(0), "nothing queued: {jobs}");
}
