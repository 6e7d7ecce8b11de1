//! `cargo xtask quality`: `sophon-auto`'s verified encodes on a corpus of
//! real clips, checked from outside and against fixed-CRF `sophon-cortado`.
//!
//! Per clip (its first `--seconds`, stream-copied by `ffmpeg` into the work
//! folder, video only; a clip taller than `--max-height` is scaled down to
//! it first, x264 CRF 8 `veryfast`, so a 2-core machine gets through the
//! corpus):
//!
//! 1. `crema encode -p sophon-auto --target-vmaf T` for each of `--targets`
//!    (default 90, 93, 95): bytes, CPU time, the in-loop title VMAF, whether
//!    it was best effort;
//! 2. an independent full run, `crema quality SOURCE OUTPUT` (every frame,
//!    `vmaf_v0.6.1`), of every delivered file: does it reach the target, and
//!    how far is the in-loop score from it;
//! 3. one plain encode at the settings `sophon-auto` chose (its concrete
//!    profile, at that profile's CRF): the CPU reference;
//! 4. fixed `sophon-cortado` at CRF 20, 24, 28 and 32 (profiles written to a
//!    `CREMA_PROFILE_DIR`), each scored the same way;
//! 5. the CPU cost: `--cost-pairs` (default 3) pairs of the plain encode
//!    and the target-93 encode run back to back, the median of their CPU
//!    ratios (a shared machine's CPU seconds drift too much between encodes
//!    minutes apart for steps 1 and 3 to give it);
//! 6. the BD-rate of the `sophon-auto` points against the fixed curve:
//!    log-bytes interpolated linearly in VMAF over the span both cover,
//!    averaged (the Bjøntegaard delta with piecewise-linear instead of cubic
//!    interpolation: three points do not fit a cubic); negative = fewer
//!    bytes at equal VMAF.
//!
//! Prints a table per clip and the medians (BD-rate, CPU cost of the target
//! 93 run over the plain encode, |in-loop − full|), and `--json` one object.
//! Exit codes: 0 done, 1 a step failed, 2 usage, 4 the work folder.

use crate::bench::{Failure, Usage, build_crema, fail, fresh_dir, run_measured};
use clap::Args;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

/// The default corpus: fixtures (`fixtures/prepare.sh`) and
/// `../shared/media` clips that the verified path scores (progressive,
/// SDR, upright). Missing files are skipped with a note.
const CORPUS: &[&str] = &[
    "fixtures/cache/bikes.mp4",
    "fixtures/cache/bigbuckbunny.mp4",
    "fixtures/cache/h264_720p_2s.mp4",
    "fixtures/cache/sd_480p_2s.mp4",
    "fixtures/cache/vfr_phone.mp4",
    "fixtures/cache/timecode.mov",
    "fixtures/cache/multi_audio.mkv",
    "fixtures/cache/q_ref_360p.mp4",
    "fixtures/cache/dnxhr_hqx_1080p25.mov",
    "fixtures/cache/prores_hq_1080p25_10bit.mov",
    "fixtures/cache/shared/street_432p12_h264_aac_30s.mp4",
    "fixtures/cache/shared/gopro_karma_480p_tmcd_gpmf.mp4",
    "fixtures/cache/shared/cam_1080p50_h264_pcm-sowt.mov",
    "fixtures/cache/shared/dashcam_1440p30_h264.ts",
    "fixtures/cache/uhd_2160p25_2s.mp4",
];

/// Fixed CRFs of the reference curve.
const FIXED_CRFS: [u32; 4] = [20, 24, 28, 32];

/// `cargo xtask quality` options.
#[derive(Args, Debug)]
pub struct QualityArgs {
    /// Clips to run (default: the built-in corpus of 15).
    clips: Vec<PathBuf>,
    /// Seconds of each clip used (from its start).
    #[arg(long, default_value_t = 8.0)]
    seconds: f64,
    /// VMAF targets for `sophon-auto`.
    #[arg(long, value_delimiter = ',', default_values_t = [90.0, 93.0, 95.0])]
    targets: Vec<f64>,
    /// Clips taller than this many pixels are scaled down to it first (0: never).
    #[arg(long, default_value_t = 720)]
    max_height: u32,
    /// Work folder (emptied first).
    #[arg(long, default_value = "target/xtask-quality")]
    dir: PathBuf,
    /// The `crema` binary (default: `cargo build --release -p crema` first).
    #[arg(long)]
    crema: Option<PathBuf>,
    /// Pairs of (plain, sophon-auto 93) encodes run back to back per clip
    /// for the CPU cost, the median of their ratios: on a shared machine one
    /// clip's ratio moved by up to ±15% between corpus runs, so the cost is only
    /// read from encodes run side by side in time (0: from the single
    /// plain and target-93 encodes above, minutes apart).
    #[arg(long, default_value_t = 3)]
    cost_pairs: u32,
    /// Print one JSON object instead of the tables.
    #[arg(long)]
    json: bool,
}

/// One encode and its independent score.
#[derive(Clone, Debug)]
struct Point {
    label: String,
    bytes: u64,
    usage: Usage,
    full_vmaf: f64,
    in_loop: Option<f64>,
    best_effort: bool,
    target: Option<f64>,
    effective: String,
}

/// Runs the corpus; returns the exit code.
pub fn run(args: QualityArgs) -> u8 {
    let exe = match args.crema.clone().map_or_else(build_crema, Ok) {
        Ok(e) => e,
        Err(f) => {
            eprintln!("xtask quality: {}", f.message);
            return f.code;
        }
    };
    match corpus(&args, &exe) {
        Ok(()) => 0,
        Err(f) => {
            eprintln!("xtask quality: {}", f.message);
            f.code
        }
    }
}

fn corpus(args: &QualityArgs, exe: &Path) -> Result<(), Failure> {
    fresh_dir(&args.dir)?;
    let profiles = args.dir.join("profiles");
    write_fixed_profiles(&profiles)?;
    let clips: Vec<PathBuf> =
        if args.clips.is_empty() { CORPUS.iter().map(PathBuf::from).collect() } else { args.clips.clone() };
    let mut rows = Vec::new();
    for (i, clip) in clips.iter().enumerate() {
        if !clip.is_file() {
            eprintln!("skipped (missing): {}", clip.display());
            continue;
        }
        let dir = args.dir.join(format!("clip{i:02}"));
        fresh_dir(&dir)?;
        let src = dir.join(format!("source.{}", clip.extension().and_then(|e| e.to_str()).unwrap_or("mp4")));
        trim(clip, args.seconds, args.max_height, &src)?;
        let row = one_clip(args, exe, &profiles, &src, &dir)?;
        let name = clip.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if !args.json {
            print_clip(&name, &row);
        }
        rows.push((name, row));
    }
    summary(args, &rows);
    Ok(())
}

struct ClipResult {
    auto: Vec<Point>,
    fixed: Vec<Point>,
    plain: Usage,
    bd_rate: Option<f64>,
    /// CPU of sophon-auto at 93 over one plain encode (see `--cost-pairs`).
    cost: Option<f64>,
}

fn one_clip(args: &QualityArgs, exe: &Path, profiles: &Path, src: &Path, dir: &Path) -> Result<ClipResult, Failure> {
    let mut auto = Vec::new();
    for &t in &args.targets {
        let out = dir.join(format!("auto{t}.mp4"));
        let extra = vec!["--target-vmaf".to_string(), format!("{t}")];
        auto.push(encode(exe, profiles, src, "sophon-auto", &out, &extra, dir, &format!("auto {t}"))?);
    }
    let effective = auto.iter().find(|p| p.target == Some(93.0)).unwrap_or(&auto[0]).effective.clone();
    let plain = encode(exe, profiles, src, &effective, &dir.join("plain.mp4"), &[], dir, "plain")?;
    let mut fixed = Vec::new();
    for crf in FIXED_CRFS {
        let out = dir.join(format!("crf{crf}.mp4"));
        fixed.push(encode(
            exe,
            profiles,
            src,
            &format!("bench-cortado-crf{crf}"),
            &out,
            &[],
            dir,
            &format!("CRF {crf}"),
        )?);
    }
    let curve =
        |pts: &[Point]| pts.iter().filter(|p| p.bytes > 0).map(|p| (p.full_vmaf, p.bytes as f64)).collect::<Vec<_>>();
    let bd_rate = bd_rate(&curve(&fixed), &curve(&auto));
    let single = auto.iter().find(|p| p.target == Some(93.0)).map(|p| p.usage.cpu() / plain.usage.cpu().max(1e-9));
    let mut ratios = Vec::new();
    for i in 0..args.cost_pairs {
        let out = dir.join("cost.mp4");
        let plain_cmd = encode_cmd(exe, profiles, src, &effective, &out, &[]);
        let auto_cmd = encode_cmd(exe, profiles, src, "sophon-auto", &out, &["--target-vmaf".into(), "93".into()]);
        let p = run_measured(&plain_cmd, dir, &format!("cost{i}_plain"))?.cpu();
        let a = run_measured(&auto_cmd, dir, &format!("cost{i}_auto"))?.cpu();
        ratios.push(a / p.max(1e-9));
    }
    let cost = if args.cost_pairs == 0 { single } else { median(ratios) };
    Ok(ClipResult { auto, fixed, plain: plain.usage, bd_rate, cost })
}

/// The `crema encode` command line of one encode (software encoder, JSON lines).
fn encode_cmd(exe: &Path, profiles: &Path, src: &Path, profile: &str, out: &Path, extra: &[String]) -> Vec<String> {
    let s = |p: &Path| p.to_string_lossy().into_owned();
    let mut cmd = vec!["env".into(), format!("CREMA_PROFILE_DIR={}", s(profiles)), s(exe), "encode".into(), s(src)];
    cmd.extend(["--profile".into(), profile.into(), "-o".into(), s(out), "--overwrite".into(), "--json".into()]);
    cmd.extend(["--encoder".into(), "software".into()]);
    cmd.extend(extra.iter().cloned());
    cmd
}

/// `crema encode`, then `crema quality` of what it wrote.
#[allow(clippy::too_many_arguments)]
fn encode(
    exe: &Path,
    profiles: &Path,
    src: &Path,
    profile: &str,
    out: &Path,
    extra: &[String],
    dir: &Path,
    label: &str,
) -> Result<Point, Failure> {
    let cmd = encode_cmd(exe, profiles, src, profile, out, extra);
    let name = label.replace(' ', "_");
    let usage = run_measured(&cmd, dir, &name)?;
    let stdout = std::fs::read_to_string(dir.join(format!("{name}.stdout"))).unwrap_or_default();
    let result = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["event"] == "result")
        .ok_or_else(|| {
            fail(1, format!("{label}: crema printed no result line (see {}/{name}.stderr)", dir.display()))
        })?;
    let effective = result["effective_profile_id"].as_str().unwrap_or(profile).to_string();
    let verified = &result["quality"]["verified"];
    let target = verified["target_vmaf"].as_f64();
    let in_loop = target.and(result["quality"]["vmaf"]["mean"].as_f64());
    let kept_original = result["final_artifact"] == "original";
    let (bytes, full_vmaf) = if kept_original {
        (0, f64::NAN)
    } else {
        let bytes = std::fs::metadata(out).map(|m| m.len()).unwrap_or(0);
        (bytes, full_score(exe, src, out, dir, &name)?)
    };
    Ok(Point {
        label: label.into(),
        bytes,
        usage,
        full_vmaf,
        in_loop,
        best_effort: verified["best_effort"].as_bool().unwrap_or(false),
        target: target.or_else(|| label.strip_prefix("auto ").and_then(|t| t.parse().ok())),
        effective,
    })
}

/// `crema quality --json --no-neg`: the title mean VMAF, every frame.
fn full_score(exe: &Path, src: &Path, out: &Path, dir: &Path, name: &str) -> Result<f64, Failure> {
    let s = |p: &Path| p.to_string_lossy().into_owned();
    let cmd = vec![s(exe), "quality".into(), s(src), s(out), "--json".into(), "--no-neg".into()];
    run_measured(&cmd, dir, &format!("{name}.quality"))?;
    let text = std::fs::read_to_string(dir.join(format!("{name}.quality.stdout"))).unwrap_or_default();
    text.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find_map(|v| v["vmaf"]["mean"].as_f64())
        .ok_or_else(|| fail(1, format!("{name}: crema quality printed no score")))
}

/// The first `seconds` of `clip`'s video, stream-copied (cut at a
/// keyframe), or scaled to `max_height` when taller.
fn trim(clip: &Path, seconds: f64, max_height: u32, out: &Path) -> Result<(), Failure> {
    let height = std::process::Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-show_entries", "stream=height", "-of", "csv=p=0"])
        .arg(clip)
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse::<u32>().ok())
        .unwrap_or(0);
    let mut cmd = std::process::Command::new("ffmpeg");
    cmd.args(["-v", "error", "-y", "-i"]).arg(clip).args(["-t", &format!("{seconds}"), "-map", "0:v:0"]);
    if max_height > 0 && height > max_height {
        let scale = format!("scale=-2:{max_height}");
        cmd.args(["-vf", &scale, "-c:v", "libx264", "-preset", "veryfast", "-crf", "8", "-pix_fmt", "yuv420p"]);
    } else {
        cmd.args(["-c", "copy"]);
    }
    let ok = cmd.arg(out).status().map_err(|e| fail(2, format!("cannot run ffmpeg: {e}")))?;
    if !ok.success() {
        return Err(fail(1, format!("ffmpeg could not cut {}", clip.display())));
    }
    Ok(())
}

/// `bench-cortado-crfN.toml`: `sophon-cortado` with its x265 CRF fixed at N.
fn write_fixed_profiles(dir: &Path) -> Result<(), Failure> {
    std::fs::create_dir_all(dir).map_err(|e| fail(4, format!("{}: {e}", dir.display())))?;
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root");
    let base = std::fs::read_to_string(root.join("profiles/sophon-cortado.toml"))
        .map_err(|e| fail(2, format!("profiles/sophon-cortado.toml: {e}")))?;
    for crf in FIXED_CRFS {
        let text = base.replace("id = \"sophon-cortado\"", &format!("id = \"bench-cortado-crf{crf}\"")).replacen(
            "crf = \"24\"",
            &format!("crf = \"{crf}\""),
            1,
        );
        let path = dir.join(format!("bench-cortado-crf{crf}.toml"));
        std::fs::write(&path, text).map_err(|e| fail(4, format!("{}: {e}", path.display())))?;
    }
    Ok(())
}

/// Bjøntegaard delta rate of `test` against `reference` (points (VMAF,
/// bytes)), percent, with log-bytes interpolated linearly in VMAF; `None`
/// when the VMAF spans do not overlap.
fn bd_rate(reference: &[(f64, f64)], test: &[(f64, f64)]) -> Option<f64> {
    let prep = |pts: &[(f64, f64)]| {
        let mut v: Vec<(f64, f64)> = pts.iter().filter(|p| p.0.is_finite()).map(|&(q, b)| (q, b.ln())).collect();
        v.sort_by(|a, b| a.0.total_cmp(&b.0));
        v.dedup_by(|a, b| (a.0 - b.0).abs() < 1e-9);
        v
    };
    let (r, t) = (prep(reference), prep(test));
    if r.len() < 2 || t.len() < 2 {
        return None;
    }
    let lo = r[0].0.max(t[0].0);
    let hi = r[r.len() - 1].0.min(t[t.len() - 1].0);
    if hi - lo < 0.1 {
        return None;
    }
    let at = |v: &[(f64, f64)], q: f64| {
        let i = v.windows(2).position(|w| q <= w[1].0).unwrap_or(v.len() - 2);
        let (a, b) = (v[i], v[i + 1]);
        a.1 + (b.1 - a.1) * (q - a.0) / (b.0 - a.0)
    };
    let n = 200;
    let mean = |v: &[(f64, f64)]| {
        (0..=n).map(|k| at(v, lo + (hi - lo) * f64::from(k) / f64::from(n))).sum::<f64>() / f64::from(n + 1)
    };
    Some(((mean(&t) - mean(&r)).exp() - 1.0) * 100.0)
}

fn print_clip(name: &str, row: &ClipResult) {
    println!("\n{name}");
    println!("  {:<10} {:>10} {:>8} {:>9} {:>9} {:>7}  notes", "encode", "bytes", "CPU s", "full VMAF", "in-loop", "Δ");
    for p in row.auto.iter().chain(&row.fixed) {
        let delta = p.in_loop.map_or(String::new(), |l| format!("{:+.2}", l - p.full_vmaf));
        let mut notes = String::new();
        if let Some(t) = p.target {
            notes = format!("{} {}", p.effective, if p.full_vmaf >= t { "reached" } else { "MISSED" });
            if p.best_effort {
                notes.push_str(", best effort");
            }
            if p.bytes == 0 {
                notes = "original kept".into();
            }
        }
        let il = p.in_loop.map_or("-".into(), |v| format!("{v:.2}"));
        println!(
            "  {:<10} {:>10} {:>8.1} {:>9.2} {:>9} {:>7}  {notes}",
            p.label,
            p.bytes,
            p.usage.cpu(),
            p.full_vmaf,
            il,
            delta
        );
    }
    let cost = row.cost;
    println!(
        "  plain encode {:.1} CPU s; sophon-auto 93 costs {}; BD-rate vs fixed cortado {}",
        row.plain.cpu(),
        cost.map_or("-".into(), |c| format!("{c:.2}×")),
        row.bd_rate.map_or("- (no overlap)".into(), |b| format!("{b:+.1}%"))
    );
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    v.retain(|x| x.is_finite());
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 })
}

fn summary(args: &QualityArgs, rows: &[(String, ClipResult)]) {
    let bd = median(rows.iter().filter_map(|r| r.1.bd_rate).collect());
    let cost = median(rows.iter().filter_map(|(_, r)| r.cost).collect());
    let autos: Vec<&Point> = rows.iter().flat_map(|r| r.1.auto.iter()).filter(|p| p.bytes > 0).collect();
    let deltas: Vec<f64> = autos.iter().filter_map(|p| p.in_loop.map(|l| (l - p.full_vmaf).abs())).collect();
    let worst_delta = deltas.iter().copied().fold(0.0, f64::max);
    let reached = autos.iter().filter(|p| p.target.is_some_and(|t| p.full_vmaf >= t)).count();
    let best_effort = autos.iter().filter(|p| p.best_effort).count();
    let fmt = |v: Option<f64>, unit: &str| v.map_or("-".into(), |v| format!("{v:+.1}{unit}"));
    if args.json {
        let clips: Vec<Value> = rows
            .iter()
            .map(|(name, r)| {
                let pts = |v: &[Point]| {
                    v.iter()
                        .map(|p| {
                            json!({"label": p.label, "bytes": p.bytes, "cpu_s": p.usage.cpu(), "full_vmaf": p.full_vmaf,
                                   "in_loop_vmaf": p.in_loop, "best_effort": p.best_effort, "profile": p.effective})
                        })
                        .collect::<Vec<_>>()
                };
                json!({"clip": name, "auto": pts(&r.auto), "fixed": pts(&r.fixed), "plain_cpu_s": r.plain.cpu(),
                       "cpu_cost": r.cost, "bd_rate_percent": r.bd_rate})
            })
            .collect();
        let v = json!({"clips": clips, "median_bd_rate_percent": bd, "median_cpu_cost": cost,
                       "worst_in_loop_delta": worst_delta, "reached": reached, "delivered": autos.len()});
        println!("{v}");
        return;
    }
    println!("\n{} clips, {} seconds each, targets {:?}", rows.len(), args.seconds, args.targets);
    println!("  median BD-rate, sophon-auto vs fixed cortado: {} (goal ≤ −4%)", fmt(bd, "%"));
    println!(
        "  median CPU, sophon-auto 93 over one plain encode: {} (goal ≤ 1.8×)",
        cost.map_or("-".into(), |c| format!("{c:.2}×"))
    );
    println!(
        "  full VMAF reached the target: {reached} of {} delivered ({best_effort} best effort); worst |in-loop − full| {worst_delta:.2} (goal ≤ 0.5)",
        autos.len()
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bd_rate_of_a_curve_with_half_the_bytes_is_minus_50_percent() {
        let r = [(90.0, 1000.0), (93.0, 2000.0), (96.0, 4000.0)];
        let t: Vec<(f64, f64)> = r.iter().map(|&(q, b)| (q, b / 2.0)).collect();
        assert!((bd_rate(&r, &t).unwrap() + 50.0).abs() < 1e-9);
        assert!(bd_rate(&r, &r).unwrap().abs() < 1e-9);
        // No overlap in quality: no figure.
        assert_eq!(bd_rate(&r, &[(97.0, 1.0), (99.0, 2.0)]), None);
    }
}
