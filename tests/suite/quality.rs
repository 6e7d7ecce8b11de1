//! `crema quality` and `crema_engine::quality`: VMAF from libvmaf inside
//! Crema against libvmaf's own expected scores, PSNR/SSIM against FFmpeg's
//! `psnr`/`ssim` filters, timestamp pairing with a dropped frame, a
//! doubled frame rate and a VFR source against a CFR encode, a 720p
//! rendition scored at its 1080p reference's size, the CSV and JSON outputs
//! and the errors.
//!
//! Media: `fixtures/prepare.sh` (the `q_*` files) and `tests/quality_data/`
//! (libvmaf's akiyo test vector, see its README).

use crate::common::*;
use crema_engine::quality::{self, QualityOptions, QualityReport};
use crema_engine::{CancelFlag, EngineError};
use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join("quality_data").join(name)
}

/// `crema quality REF DIST --json EXTRA...`, asserting success; the result line.
fn quality_json(reference: &Path, distorted: &Path, extra: &[&str]) -> Value {
    let mut a = args!["quality", reference, distorted, "--json"];
    a.extend(extra.iter().map(std::ffi::OsString::from));
    crema(&a).ok()
}

fn frames(v: &Value) -> &Vec<Value> {
    v["frames"].as_array().expect("frames array")
}

fn num(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

/// The engine API on two files, with `options`.
fn compare(reference: &Path, distorted: &Path, options: &QualityOptions) -> QualityReport {
    quality::compare(reference, distorted, options, &CancelFlag::new(), &mut |_| {})
        .unwrap_or_else(|e| panic!("compare {}: {e}", distorted.display()))
}

// ---------------------------------------------------------------------------
// VMAF itself
// ---------------------------------------------------------------------------

/// libvmaf 2.3.1's own expectations for its akiyo vector (one contrast-boosted
/// CIF frame): VMAF 132.732952 without clipping, NEG 88.030463 (see
/// tests/quality_data/README.md). Crema must reproduce them within 1e-3
/// through its whole path: FFmpeg decode, frame copy into libvmaf, models.
#[test]
fn reproduces_libvmafs_own_expected_scores() {
    let (r, d) = (data("akiyo_cif_f0_ref.mkv"), data("akiyo_cif_f0_dis.mkv"));
    let raw = compare(&r, &d, &QualityOptions { clip: false, ..QualityOptions::default() });
    assert_eq!(raw.frames_scored, 1);
    assert_eq!((raw.width, raw.height, raw.pixel_format.as_str()), (352, 288, "yuv420p"));
    let f = &raw.frames[0];
    assert!((f.vmaf - 132.732952).abs() < 1e-3, "VMAF {} (libvmaf's test: 132.732952)", f.vmaf);
    let neg = f.vmaf_neg.expect("NEG computed by default");
    eprintln!("akiyo: VMAF {:.6} (expected 132.732952), NEG {neg:.6} (expected 88.030463)", f.vmaf);
    assert!((neg - 88.030463).abs() < 1e-3, "VMAF NEG {neg} (libvmaf's test: 88.030463)");
    // Clipped (the default): VMAF cannot exceed 100; NEG, below 100, is unchanged.
    let clipped = compare(&r, &d, &QualityOptions::default());
    assert_eq!(clipped.frames[0].vmaf, 100.0);
    assert!((clipped.frames[0].vmaf_neg.unwrap() - neg).abs() < 1e-9);
}

#[test]
fn identical_input_gets_the_top_scores() {
    let r = fixture("q_ref_360p.mp4");
    let v = quality_json(&r, &r, &[]);
    assert_eq!(v["model"], "vmaf_v0.6.1");
    assert_eq!(v["frames_scored"], 30);
    // vmaf_v0.6.1 gives identical frames ~97-100, lower where motion is low
    // (the first frame has motion 0 by definition).
    assert!(num(&v["vmaf"]["mean"]) > 99.0, "{}", v["vmaf"]);
    assert!(num(&v["vmaf"]["min"]) > 97.0, "{}", v["vmaf"]);
    for f in frames(&v) {
        // libvmaf's PSNR convention: capped at 6·8+12 = 60 dB for 8-bit, not infinite.
        assert_eq!((num(&f["psnr_y"]), num(&f["psnr"])), (60.0, 60.0), "{f}");
        assert!((num(&f["ssim"]) - 1.0).abs() < 1e-12, "{f}");
    }
}

#[test]
fn the_higher_crf_scores_lower() {
    let r = fixture("q_ref_360p.mp4");
    let good = quality_json(&r, &fixture("q_crf22.mp4"), &[]);
    let bad = quality_json(&r, &fixture("q_crf40.mp4"), &[]);
    for metric in ["vmaf", "vmaf_neg", "psnr_y", "psnr", "ssim_y", "ssim"] {
        for pool in ["mean", "harmonic_mean", "p1", "min"] {
            let (g, b) = (num(&good[metric][pool]), num(&bad[metric][pool]));
            assert!(g > b, "{metric} {pool}: crf 22 {g} vs crf 40 {b}");
        }
    }
    let (g, b) = (num(&good["vmaf"]["mean"]), num(&bad["vmaf"]["mean"]));
    assert!(g > 85.0 && b < 60.0, "crf 22 should look good and crf 40 bad: {g} vs {b}");
    // The harmonic mean never exceeds the mean; p1 and min sit below both.
    let p = &bad["vmaf"];
    assert!(num(&p["harmonic_mean"]) <= num(&p["mean"]) && num(&p["min"]) <= num(&p["p1"]));
}

// ---------------------------------------------------------------------------
// PSNR and SSIM against FFmpeg's own filters
// ---------------------------------------------------------------------------

/// Per-frame `lavfi.psnr.*` and `lavfi.ssim.*` values printed by FFmpeg's
/// `psnr` and `ssim` filters for `distorted` against `reference`, after
/// `prep_ref` / `prep_dist` filters (may be empty).
fn ffmpeg_metrics(reference: &Path, distorted: &Path, prep_ref: &str, prep_dist: &str) -> Vec<HashMap<String, f64>> {
    let dir = tempdir();
    let out = dir.path().join("meta.txt");
    let chain = |f: &str| if f.is_empty() { "null".to_string() } else { f.to_string() };
    let graph = format!(
        "[1:v]{},split[r1][r2];[0:v]{}[d];[d][r1]psnr[p];[p][r2]ssim,metadata=mode=print:file={}",
        chain(prep_ref),
        chain(prep_dist),
        out.display()
    );
    let r = ffmpeg(&args![
        "-hide_banner",
        "-nostdin",
        "-i",
        distorted,
        "-i",
        reference,
        "-lavfi",
        &graph,
        "-f",
        "null",
        "-"
    ]);
    assert_eq!(r.code, 0, "{}", r.describe());
    let text = std::fs::read_to_string(&out).expect("metadata file");
    let mut frames: Vec<HashMap<String, f64>> = Vec::new();
    for line in text.lines() {
        if line.starts_with("frame:") {
            frames.push(HashMap::new());
        } else if let Some((k, v)) = line.split_once('=')
            && let (Some(f), Ok(v)) = (frames.last_mut(), v.trim().parse::<f64>())
        {
            f.insert(k.trim().to_string(), v);
        }
    }
    frames
}

/// Tolerances. PSNR: both sides sum the same integer squared errors; FFmpeg
/// then passes the value through a `float` (24-bit mantissa: 3e-6 dB at
/// 50 dB) and prints 6 decimals, so 1e-5 dB covers it. SSIM: the same
/// integer window sums, but FFmpeg's x86 `ssim_end_line` (SSE) evaluates the
/// per-window single-precision formula in a different order than the C code
/// Crema follows, a few float ulps (1e-7) per window before averaging, then
/// a `float` and 6 printed decimals; 2e-6 covers that with room.
const PSNR_TOL: f64 = 1e-5;
const SSIM_TOL: f64 = 2e-6;

fn assert_agrees_with_ffmpeg(report: &QualityReport, ff: &[HashMap<String, f64>], psnr_tol: f64, ssim_tol: f64) {
    assert_eq!(report.frames.len(), ff.len(), "frame counts");
    let (mut worst_psnr, mut worst_ssim) = (0.0f64, 0.0f64);
    for (c, m) in report.frames.iter().zip(ff) {
        let get = |k: &str| *m.get(k).unwrap_or_else(|| panic!("FFmpeg printed no {k}: {m:?}"));
        let checks = [
            ("psnr_y", c.psnr_y, get("lavfi.psnr.psnr.y"), psnr_tol),
            ("psnr_cb", c.psnr_cb, get("lavfi.psnr.psnr.u"), psnr_tol),
            ("psnr_cr", c.psnr_cr, get("lavfi.psnr.psnr.v"), psnr_tol),
            ("psnr", c.psnr, get("lavfi.psnr.psnr_avg"), psnr_tol),
            ("ssim_y", c.ssim_y, get("lavfi.ssim.Y"), ssim_tol),
            ("ssim", c.ssim, get("lavfi.ssim.All"), ssim_tol),
        ];
        for (name, crema, ffmpeg, tol) in checks {
            assert!((crema - ffmpeg).abs() <= tol, "frame {}: {name} Crema {crema} vs FFmpeg {ffmpeg}", c.index);
            let worst = if name.starts_with("psnr") { &mut worst_psnr } else { &mut worst_ssim };
            *worst = worst.max((crema - ffmpeg).abs());
        }
    }
    eprintln!(
        "Crema vs FFmpeg over {} frames: max |ΔPSNR| {worst_psnr:.2e} dB, max |ΔSSIM| {worst_ssim:.2e}",
        ff.len()
    );
}

#[test]
fn psnr_and_ssim_agree_with_ffmpegs_filters() {
    let r = fixture("q_ref_360p.mp4");
    for d in ["q_crf22.mp4", "q_crf40.mp4"] {
        let d = fixture(d);
        let report = compare(&r, &d, &QualityOptions { neg: false, ..QualityOptions::default() });
        assert_agrees_with_ffmpeg(&report, &ffmpeg_metrics(&r, &d, "", ""), PSNR_TOL, SSIM_TOL);
    }
}

/// A 720p 8-bit 4:2:0 rendition of a 1080p 10-bit 4:2:2 master is scored at
/// 1920x1080 in 10-bit 4:2:0: upscaled with swscale's bicubic filter, the
/// master's chroma halved vertically. FFmpeg's `scale=...:flags=bicubic` and
/// `format` before its filters do the same conversions.
#[test]
fn a_scaled_rendition_is_scored_at_the_reference_size() {
    let (r, d) = (fixture("q_ref_1080p_10bit.mp4"), fixture("q_720p.mp4"));
    let report = compare(&r, &d, &QualityOptions { neg: false, ..QualityOptions::default() });
    assert_eq!((report.width, report.height), (1920, 1080));
    assert_eq!((report.pixel_format.as_str(), report.bit_depth), ("yuv420p10le", 10));
    assert_eq!(report.frames_scored, 10);
    assert!(report.vmaf.mean > 75.0, "a crf 22 720p rendition of clean 1080p: {:?}", report.vmaf);
    assert!(report.psnr_y.min > 30.0, "{:?}", report.psnr_y);
    let ff = ffmpeg_metrics(&r, &d, "format=yuv420p10le", "scale=1920:1080:flags=bicubic,format=yuv420p10le");
    assert_agrees_with_ffmpeg(&report, &ff, PSNR_TOL, SSIM_TOL);
}

// ---------------------------------------------------------------------------
// Timestamp pairing
// ---------------------------------------------------------------------------

#[test]
fn a_dropped_frame_is_left_out_not_shifted_into_every_later_pair() {
    let r = fixture("q_ref_360p.mp4");
    let v = quality_json(&r, &fixture("q_dropped.mp4"), &["--no-neg"]);
    assert_eq!(v["pairing"]["paired"], 29, "{}", v["pairing"]);
    assert_eq!(v["pairing"]["unmatched_reference"], 1);
    assert_eq!(v["pairing"]["unmatched_distorted"], 0);
    let fs = frames(&v);
    assert!(fs.iter().all(|f| (num(&f["reference_seconds"]) - 0.48).abs() > 0.01), "0.48 s has no pair");
    for f in fs {
        assert!((num(&f["reference_seconds"]) - num(&f["distorted_seconds"])).abs() < 1e-6, "{f}");
    }
    // Pairs one frame apart would collapse PSNR after 0.48 s; the crf 22
    // encode's frames all stay above 35 dB.
    let low = |fs: &[Value]| fs.iter().map(|f| num(&f["psnr_y"])).fold(f64::INFINITY, f64::min);
    assert!(low(fs) > 35.0, "lowest PSNR Y {}", low(fs));
    assert!(num(&v["vmaf"]["min"]) > 80.0, "{}", v["vmaf"]);
    // What index pairing does: the same frames re-timed back to back
    // (frame 13 now claims 0.48 s) are scored one frame apart from 0.48 s on.
    let dir = tempdir();
    let shifted = dir.path().join("shifted.mp4");
    let made = ffmpeg(&args![
        "-v",
        "error",
        "-i",
        fixture("q_dropped.mp4"),
        "-vf",
        "setpts=N/25/TB",
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-crf",
        "12",
        &shifted
    ]);
    assert_eq!(made.code, 0, "{}", made.describe());
    let s = quality_json(&r, &shifted, &["--no-neg"]);
    assert!(low(frames(&s)) < 30.0, "misaligned pairs must show as a PSNR collapse: {}", low(frames(&s)));
}

#[test]
fn a_doubled_frame_rate_pairs_each_reference_frame_with_the_one_shown_at_its_time() {
    let r = fixture("q_ref_360p.mp4");
    let v = quality_json(&r, &fixture("q_50fps.mp4"), &["--no-neg"]);
    assert_eq!(v["pairing"]["paired"], 30, "{}", v["pairing"]);
    assert_eq!(v["pairing"]["unmatched_reference"], 0);
    assert_eq!(v["pairing"]["unmatched_distorted"], 30);
    for f in frames(&v) {
        assert!((num(&f["reference_seconds"]) - num(&f["distorted_seconds"])).abs() < 1e-6, "{f}");
    }
    assert!(num(&v["vmaf"]["min"]) > 80.0, "{}", v["vmaf"]);
}

/// A variable-frame-rate phone clip (30, 15, then 30 fps, with jitter)
/// against a constant 30 fps encode of it, which repeats each 15 fps frame:
/// every reference frame pairs with the frame shown at its time and the
/// 15 repeats are extra. Subsampled (every 7th frame) to stay quick.
#[test]
fn a_variable_rate_source_pairs_with_a_constant_rate_encode() {
    let r = fixture("vfr_phone.mp4");
    let d = derived("q_vfr_phone_cfr30.mp4", |out| {
        let made = ffmpeg(&args![
            "-v",
            "error",
            "-i",
            &r,
            "-an",
            "-vf",
            "fps=30",
            "-c:v",
            "libx264",
            "-threads",
            "1",
            "-preset",
            "ultrafast",
            "-crf",
            "24",
            out
        ]);
        assert_eq!(made.code, 0, "{}", made.describe());
    });
    let v = quality_json(&r, &d, &["--no-neg", "--subsample", "7"]);
    assert_eq!(v["pairing"]["paired"], 105, "{}", v["pairing"]);
    assert_eq!(v["pairing"]["unmatched_reference"], 0);
    assert_eq!(v["pairing"]["unmatched_distorted"], 15);
    for f in frames(&v) {
        // The phone's timestamps jitter by up to 2 ms; the CFR encode's do not.
        assert!((num(&f["reference_seconds"]) - num(&f["distorted_seconds"])).abs() < 0.003, "{f}");
    }
    assert!(num(&v["psnr_y"]["min"]) > 33.0, "{}", v["psnr_y"]);
}

// ---------------------------------------------------------------------------
// Outputs, subsampling, errors
// ---------------------------------------------------------------------------

#[test]
fn per_frame_csv_and_odd_subsampling() {
    let dir = tempdir();
    let csv = dir.path().join("frames.csv");
    let r = fixture("q_ref_360p.mp4");
    let v = quality_json(&r, &fixture("q_crf22.mp4"), &["--subsample", "3", "--per-frame", csv.to_str().unwrap()]);
    assert_eq!((v["subsample"].as_u64(), v["frames_compared"].as_u64()), (Some(3), Some(30)));
    let idx: Vec<u64> = frames(&v).iter().map(|f| f["index"].as_u64().unwrap()).collect();
    assert_eq!(idx, (0..30).step_by(3).collect::<Vec<_>>());
    let text = std::fs::read_to_string(&csv).expect("csv written");
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("frame,reference_seconds,distorted_seconds,vmaf,vmaf_neg,psnr_y,psnr_cb,psnr_cr,psnr,ssim_y,ssim")
    );
    let rows: Vec<Vec<f64>> = lines.map(|l| l.split(',').map(|x| x.parse().expect("a number")).collect()).collect();
    assert_eq!(rows.len(), 10);
    for (row, f) in rows.iter().zip(frames(&v)) {
        assert_eq!(row.len(), 11);
        assert!((row[3] - num(&f["vmaf"])).abs() < 1e-5 && (row[8] - num(&f["psnr"])).abs() < 1e-5);
    }
    // The subsampled frames score as they do in a full run.
    let full = quality_json(&r, &fixture("q_crf22.mp4"), &[]);
    for f in frames(&v) {
        let i = f["index"].as_u64().unwrap() as usize;
        assert!((num(&f["vmaf"]) - num(&frames(&full)[i]["vmaf"])).abs() < 1e-9, "frame {i}");
    }
}

#[test]
fn the_text_report_names_metrics_and_pooling() {
    let r = fixture("q_ref_360p.mp4");
    let run = crema(&args!["quality", &r, fixture("q_crf40.mp4"), "--no-neg", "--threads", "1"]);
    assert_eq!(run.code, 0, "{}", run.describe());
    for word in ["VMAF", "PSNR Y", "SSIM", "mean", "harmonic", "p1", "min", "640x360", "vmaf_v0.6.1"] {
        assert!(run.stdout.contains(word), "missing {word}:\n{}", run.stdout);
    }
    assert!(!run.stdout.contains("VMAF NEG"), "--no-neg");
}

#[test]
fn bad_requests_fail_with_clear_errors() {
    let r = fixture("q_ref_360p.mp4");
    // Even subsampling aliases with encoder GOP patterns: refused (usage, 2).
    let even = crema(&args!["quality", &r, &r, "--subsample", "2"]);
    assert_eq!(even.code, 2, "{}", even.describe());
    assert!(even.stderr.contains("odd"), "{}", even.stderr);
    // No video in the distorted file: exit 3 naming it.
    let audio = crema(&args!["quality", &r, fixture("audio_only.m4a"), "--json"]);
    assert_eq!(audio.code, 3, "{}", audio.describe());
    assert!(audio.stderr.contains("audio_only.m4a"), "{}", audio.stderr);
    assert_eq!(audio.error()["code"], "unsupported_media");
    // An unwritable CSV is refused before any scoring: exit 4, nothing left behind.
    let csv = crema(&args!["quality", &r, &r, "--per-frame", "/nonexistent/folder/frames.csv"]);
    assert_eq!(csv.code, 4, "{}", csv.describe());
    assert!(csv.stderr.contains("frames.csv"), "{}", csv.stderr);
    // A missing reference: exit 3.
    let missing = crema(&args!["quality", "/nonexistent/ref.mov", &r]);
    assert_eq!(missing.code, 3, "{}", missing.describe());
    // Frames that never meet in time (video 30 s after the file's start,
    // which an audio track holds at 0): the distorted file is refused.
    let dir = tempdir();
    let late = dir.path().join("late.mkv");
    let made = ffmpeg(&args![
        "-v",
        "error",
        "-itsoffset",
        "30",
        "-i",
        &r,
        "-f",
        "lavfi",
        "-i",
        "anullsrc=r=48000:cl=stereo",
        "-map",
        "0:v",
        "-map",
        "1:a",
        "-c:v",
        "copy",
        "-c:a",
        "aac",
        "-t",
        "31.2",
        &late
    ]);
    assert_eq!(made.code, 0, "{}", made.describe());
    match quality::compare(&r, &late, &QualityOptions::default(), &CancelFlag::new(), &mut |_| {}) {
        Err(EngineError::InputUnsupported { path, cause }) => {
            assert_eq!(path, late);
            assert!(cause.contains("timestamp") && cause.contains("30."), "{cause}");
        }
        other => panic!("expected InputUnsupported, got {other:?}"),
    }
}

#[test]
fn canceling_stops_the_measurement() {
    let r = fixture("q_ref_360p.mp4");
    let cancel = CancelFlag::new();
    cancel.cancel();
    let got = quality::compare(&r, &r, &QualityOptions::default(), &cancel, &mut |_| {});
    assert!(matches!(got, Err(EngineError::Canceled)), "{got:?}");
    // Progress events: the stage first.
    let mut events = Vec::new();
    let opts = QualityOptions { neg: false, ..QualityOptions::default() };
    quality::compare(&r, &r, &opts, &CancelFlag::new(), &mut |e| events.push(e)).expect("compare");
    assert!(matches!(events.first(), Some(crema_engine::Event::Stage { .. })), "{events:?}");
}

/// `crema encode --measure`: the result carries the output's quality against
/// the source, equal to what `crema quality` says of the same two files, and
/// the text summary prints it.
#[test]
fn encode_measure_reports_what_crema_quality_finds() {
    let dir = scratch_dir();
    let src = fixture("h264_720p_2s.mp4");
    let out = dir.join("measured.mp4");
    let res = encode_ok(&src, "sophon-espresso", &out, &["--target-height", "360", "--measure", "--overwrite"]);
    let q = &res["quality"];
    assert_eq!(
        (q["output"].as_str(), q["width"].as_u64(), q["frames"].as_u64()),
        (Some("file"), Some(1280), Some(50)),
        "{res}"
    );
    let direct = quality_json(&src, &out, &["--no-neg"]);
    assert!(num(&q["vmaf"]["mean"]) > 30.0 && num(&q["psnr"]["mean"]) > 20.0, "{q}");
    assert_eq!(q["vmaf"]["mean"], direct["vmaf"]["mean"], "{q} vs {direct}");
    assert_eq!(q["psnr"]["mean"], direct["psnr"]["mean"], "{q} vs {direct}");
    let text = crema(&args![
        "encode",
        &src,
        "-p",
        "sophon-espresso",
        "-o",
        dir.join("t.mp4"),
        "--target-height",
        "360",
        "--measure",
        "--overwrite"
    ]);
    assert_eq!(text.code, 0, "{}", text.describe());
    assert!(text.stdout.contains("quality (file, 50 frames at 1280x720): VMAF "), "{}", text.stdout);
}
