//! `cargo xtask bench`: Crema against the `ffmpeg` command line, in one session.
//!
//! Six cases on the same source clip (video only, no audio anywhere):
//!
//! 1. Crema's HLS ladder (1080/720/480/360, 6 s segments; H.264, or HEVC
//!    with `--ladder-codec hevc`), one `crema encode`;
//! 2. the same ladder by one `ffmpeg` process that decodes once and `split`s,
//!    with Crema's cascaded scaling (one conversion at the top rung, every
//!    other rung scaled from it): the best `ffmpeg` command for the work;
//! 3. the same ladder by one `ffmpeg` process per rung (times summed, peak memory the max);
//! 4. one HEVC MP4 by Crema;
//! 5. the same HEVC MP4 by `ffmpeg`;
//! 6. case 2 with every rung scaled from the source (direct scaling: the
//!    `split` graph people write by hand, and Crema's graph before cascading);
//! 7. case 4 encoded in chunks side by side (`--chunk-workers`, default 2:
//!    chunk-parallel encoding, issue 15 item 3), against case 4 and case 5.
//!
//! `--vmaf` then scores every rung of cases 1, 2 and 6 against the source
//! (`crema quality`), so cascaded scaling's quality is read beside its speed.
//!
//! Every case runs as a child process and is measured the same way, by
//! `wait4(2)`: wall time around the child, CPU time as user + system time
//! of the child, peak memory as its maximum resident set size.
//!
//! The `ffmpeg` command lines are built from what Crema reports it did: the
//! encoder options of its `--json` result (`outputs[].encoder.options`, per
//! rung for HLS) become `-KEY VALUE` pairs, and the filter graph is the
//! engine's own ([`plan::graph_spec`]) with `[in]` bound to `[0:v]`. So both
//! sides decode once per process, scale with the same filters and run
//! x264/x265 with identical settings, thread counts included (Crema's
//! thread plan writes them into `x264-params`/`x265-params`). The `ffmpeg`
//! ladders are written as fMP4 HLS with the same muxer options as Crema.

use clap::Args;
use crema_engine::plan::{self, VideoFilters};
use crema_engine::probe::{self, VideoStream};
use crema_engine::profile::{self, ProfileSet};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

mod cases;
mod measure;
mod vmaf;

use cases::{crema_file, crema_ladder, ffmpeg_file, ffmpeg_per_rung, ffmpeg_split};
use measure::{Machine, shell_line, warm_page_cache};
pub(crate) use measure::{Usage, fresh_dir, run_measured};

/// The clip `fixtures/prepare.sh --bench` makes (17.6 s of 1080p25 ProRes 422 HQ).
const DEFAULT_INPUT: &str = "fixtures/cache/prores_hq_1080p25_10bit_long.mov";
/// Rungs of the ladder, as `crema encode --renditions` takes them.
const RUNGS: &str = "1080,720,480,360";
/// HLS target segment duration, seconds (Crema's and `ffmpeg`'s `hls_time`).
const SEGMENT_SECONDS: u32 = 6;

/// Options of `cargo xtask bench`.
#[derive(Args)]
pub struct BenchArgs {
    /// Source clip (1080p ProRes 422 HQ; made by `fixtures/prepare.sh --bench`).
    #[arg(long, default_value = DEFAULT_INPUT)]
    input: PathBuf,
    /// Profile whose libx264/libx265 settings every case uses.
    #[arg(long, short = 'p', default_value = "sophon-cortado")]
    profile: String,
    /// Codec of the ladder cases (1, 2, 3, 6): `h264` (libx264, target 1/2
    /// ≤ 0.92) or `hevc` (libx265, target 1/2 ≤ 0.88; issue 15).
    #[arg(long, default_value = "h264", value_parser = ["h264", "hevc"])]
    ladder_codec: String,
    /// Runs of every case; the table shows medians (peak memory: the maximum).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=20))]
    runs: u32,
    /// Workers of case 7 (`crema encode --chunk-workers`).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(2..=64))]
    chunk_workers: u32,
    /// Only these cases, comma separated (1-7). Cases 2, 3, 5 and 6 still need
    /// Crema's options: without 1 (or 4) an unmeasured Crema run learns them first.
    #[arg(long, value_delimiter = ',', value_parser = clap::value_parser!(u8).range(1..=7))]
    only: Vec<u8>,
    /// After the runs, score every rung of the ladder cases (1, 2, 6) against
    /// the source with `crema quality` (a few minutes more).
    #[arg(long)]
    vmaf: bool,
    /// The `ffmpeg` program to compare with.
    #[arg(long, default_value = "ffmpeg")]
    ffmpeg: PathBuf,
    /// The `ffprobe` program (frame counts of the outputs).
    #[arg(long, default_value = "ffprobe")]
    ffprobe: PathBuf,
    /// Keep the outputs in this folder (created; default: a temporary folder, removed).
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// One JSON object on stdout instead of the table.
    #[arg(long)]
    json: bool,
    /// The `crema` binary to measure (default: `cargo build --release -p
    /// crema` first, then the workspace's `target/release/crema`).
    #[arg(long)]
    crema: Option<PathBuf>,
}

/// One encoder setup as Crema reported it.
#[derive(Clone, Debug)]
struct EncoderSetup {
    /// FFmpeg encoder name (`libx264`).
    name: String,
    /// `-KEY VALUE` pairs, in Crema's order.
    options: Vec<(String, String)>,
}

/// One video output Crema wrote: size, pixel format and encoder.
#[derive(Clone, Debug)]
struct Rendition {
    width: u32,
    height: u32,
    encoder: EncoderSetup,
}

impl Rendition {
    fn pix_fmt(&self) -> &str {
        self.encoder.options.iter().find(|(k, _)| k == "pix_fmt").map_or("yuv420p", |(_, v)| v.as_str())
    }
}

/// What one case produced.
#[derive(Clone, Debug, Default)]
struct Outcome {
    /// Bytes written (an HLS ladder: every file of it).
    bytes: u64,
    /// Video frames per output (per rung for ladders), by `ffprobe -count_packets`.
    frames: Vec<u64>,
    /// The command lines run.
    commands: Vec<Vec<String>>,
    /// Media playlist of every rung (height in pixels, path); empty for files.
    playlists: Vec<(u32, PathBuf)>,
}

/// Measurements of one case over all runs.
struct CaseResult {
    id: u8,
    label: &'static str,
    runs: Vec<Usage>,
    outcome: Outcome,
}

impl CaseResult {
    /// Medians of wall and CPU time, the maximum of peak memory.
    fn summary(&self) -> Usage {
        let med = |f: &dyn Fn(&Usage) -> f64| median(self.runs.iter().map(f).collect());
        let cpu = med(&|u| u.cpu());
        let user = med(&|u| u.user);
        Usage {
            wall: med(&|u| u.wall),
            user,
            sys: (cpu - user).max(0.0),
            peak_kib: self.runs.iter().map(|u| u.peak_kib).max().unwrap_or(0),
        }
    }
}

const LABELS: [&str; 7] = [
    "Crema ladder (4 rungs, 1 process)",
    "ffmpeg ladder, 1 process, split, cascaded",
    "ffmpeg ladder, 1 process per rung (4)",
    "Crema HEVC file",
    "ffmpeg HEVC file",
    "ffmpeg ladder, 1 process, split, direct",
    "Crema HEVC file in chunks, side by side",
];

/// A failed step, with the exit code to return.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) code: u8,
    pub(crate) message: String,
}

pub(crate) fn fail(code: u8, message: impl Into<String>) -> Failure {
    Failure { code, message: message.into() }
}

/// Runs the benchmark; returns the process exit code (0 done, 1 a case
/// failed, 2 usage: missing clip, unknown profile).
pub fn run(args: BenchArgs) -> u8 {
    let exe = match args.crema.clone().map_or_else(build_crema, Ok) {
        Ok(exe) => exe,
        Err(f) => {
            eprintln!("xtask bench: {}", f.message);
            return f.code;
        }
    };
    match bench(&args, &exe) {
        Ok(()) => 0,
        Err(f) => {
            eprintln!("xtask bench: {}", f.message);
            f.code
        }
    }
}

/// Builds the release `crema` with the cargo that runs this xtask and
/// returns its path (`CARGO_TARGET_DIR` respected).
pub(crate) fn build_crema() -> Result<PathBuf, Failure> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask sits in the workspace root").to_path_buf();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let ok = std::process::Command::new(cargo)
        .args(["build", "--release", "--locked", "-p", "crema"])
        .current_dir(&root)
        .status()
        .map_err(|e| fail(1, format!("cannot run cargo: {e}")))?;
    if !ok.success() {
        return Err(fail(1, "cargo build --release -p crema failed"));
    }
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    Ok(target.join("release/crema"))
}

fn bench(args: &BenchArgs, exe: &Path) -> Result<(), Failure> {
    if !args.input.is_file() {
        let mut msg = format!("{}: no such file.", args.input.display());
        if args.input == Path::new(DEFAULT_INPUT) {
            msg.push_str(
                " Make it with `fixtures/prepare.sh --bench` (from the repository root), then run `cargo xtask bench` there.",
            );
        }
        return Err(fail(2, msg));
    }
    let profiles = ProfileSet::load(profile::user_profile_dir().as_deref()).map_err(|e| fail(2, e.to_string()))?;
    let prof = profiles.get(&args.profile).map_err(|e| fail(2, e.to_string()))?;
    if prof.is_auto() {
        return Err(fail(2, format!("{} is an auto profile; bench a concrete one (e.g. sophon-cortado)", prof.id)));
    }
    let info = probe::probe(&args.input).map_err(|e| fail(2, e.to_string()))?;
    let video = info.video.clone().ok_or_else(|| fail(2, format!("{}: no video stream", args.input.display())))?;
    let selected: Vec<u8> = if args.only.is_empty() { vec![1, 2, 3, 4, 5, 6, 7] } else { args.only.clone() };
    let want = |c: u8| selected.contains(&c);

    let (work, temporary) = match &args.work_dir {
        Some(d) => (d.clone(), false),
        None => (std::env::temp_dir().join(format!("crema-bench-{}", std::process::id())), true),
    };
    std::fs::create_dir_all(&work).map_err(|e| fail(4, format!("{}: {e}", work.display())))?;
    let result = bench_in(args, exe, prof, &info, &video, &work, &want);
    if temporary {
        let _ = std::fs::remove_dir_all(&work);
    }
    result
}

fn bench_in(
    args: &BenchArgs,
    exe: &Path,
    prof: &profile::Profile,
    info: &probe::MediaInfo,
    video: &VideoStream,
    work: &Path,
    want: &dyn Fn(u8) -> bool,
) -> Result<(), Failure> {
    let machine = Machine::detect(&args.ffmpeg, exe);
    let common = VideoFilters::for_source(video).chain();
    let src_frames = video.frames.unwrap_or(0);
    let header = format!(
        "xtask bench: {} ({}x{} {} {}, {} fps, {:.2} s, {} frames, {:.0} MiB), profile {}, video only (no audio), {} run(s)",
        info.name,
        video.width,
        video.height,
        video.codec,
        video.profile.as_deref().unwrap_or(""),
        info.frame_rate.as_deref().unwrap_or("?"),
        info.duration_seconds,
        src_frames,
        info.bytes as f64 / 1048576.0,
        prof.id,
        args.runs
    ) + &format!(
        ", ladder {}",
        if args.ladder_codec == "hevc" { "HEVC (libx265)" } else { "H.264 (libx264)" }
    );
    if !args.json {
        println!("{header}");
        print!("{}", machine.describe());
        for enc in ["libx264", "libx265"] {
            if let Some(o) = prof.options_for(enc) {
                println!(
                    "profile [encoders.{enc}]: {}",
                    o.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" ")
                );
            }
        }
        println!();
    }
    if video.height != 1080 {
        eprintln!("xtask bench: note: the source is {}p, not 1080p; the targets are for 1080p", video.height);
    }
    // Every case reads the source from the page cache, none from the disk.
    warm_page_cache(&args.input);

    let ladder_dir = |c: u8| work.join(format!("case{c}"));
    let mut ladder: Option<Vec<Rendition>> = None;
    let mut file_setup: Option<Rendition> = None;
    let mut results: Vec<CaseResult> = Vec::new();
    let note = |s: String| {
        if !args.json {
            eprintln!("{s}");
        }
    };

    // Cases 2, 3 and 5 need Crema's options: learn them first when 1 or 4 is not run.
    if (want(2) || want(3) || want(6)) && !want(1) {
        note("learning the ladder's encoder options (unmeasured Crema run)...".into());
        let (_, _, rungs) = crema_ladder(exe, args, &ladder_dir(1))?;
        ladder = Some(rungs);
    }
    if (want(5) || want(7)) && !want(4) {
        note("learning the HEVC file's encoder options (unmeasured Crema run)...".into());
        let (_, _, setup) = crema_file(exe, args, &ladder_dir(4), None)?;
        file_setup = Some(setup);
    }

    for run in 1..=args.runs {
        for case in 1..=7u8 {
            if !want(case) {
                continue;
            }
            note(format!("run {run}/{}: case {case}: {}...", args.runs, LABELS[usize::from(case - 1)]));
            let dir = ladder_dir(case);
            let (usage, outcome) = match case {
                1 => {
                    let (u, o, rungs) = crema_ladder(exe, args, &dir)?;
                    ladder = Some(rungs);
                    (u, o)
                }
                2 | 6 => {
                    let scaling = if case == 2 { plan::Scaling::Cascaded } else { plan::Scaling::Direct };
                    ffmpeg_split(args, &common, ladder.as_deref().expect("learned above"), &dir, scaling)?
                }
                3 => ffmpeg_per_rung(args, &common, ladder.as_deref().expect("learned above"), &dir)?,
                4 => {
                    let (u, o, setup) = crema_file(exe, args, &dir, None)?;
                    file_setup = Some(setup);
                    (u, o)
                }
                5 => ffmpeg_file(args, &common, file_setup.as_ref().expect("learned above"), &dir)?,
                _ => {
                    let (u, o, _) = crema_file(exe, args, &dir, Some(args.chunk_workers))?;
                    (u, o)
                }
            };
            note(format!(
                "  {:.1} s wall, {:.1} s CPU, {:.0} MiB peak",
                usage.wall,
                usage.cpu(),
                usage.peak_kib as f64 / 1024.0
            ));
            record(&mut results, case, usage, outcome);
        }
    }

    let get = |id: u8| results.iter().find(|r| r.id == id).map(CaseResult::summary);
    // Issue 15's targets against the best `ffmpeg`: 0.92 for the H.264 ladder, 0.88 for HEVC;
    // chunks side by side: 0.6 of it on a 16-core machine (on fewer cores, 1.0 of one piece).
    let best = if args.ladder_codec == "hevc" { 0.88 } else { 0.92 };
    let ratios: Vec<Ratio> = [(1u8, 2u8, best), (1, 6, 1.0), (1, 3, 0.80), (4, 5, 1.02), (7, 4, 1.0), (7, 5, 0.6)]
        .into_iter()
        .filter_map(|(a, b, target)| Some(Ratio { a, b, target, num: get(a)?, den: get(b)? }))
        .collect();

    let checks = comparability(&results, src_frames);
    let scores = if args.vmaf { vmaf::score_ladders(exe, &args.input, &results)? } else { Vec::new() };
    if args.json {
        let v = json!({
            "input": args.input,
            "source": { "name": info.name, "width": video.width, "height": video.height, "codec": video.codec,
                        "profile": video.profile, "frame_rate": info.frame_rate, "duration_seconds": info.duration_seconds,
                        "frames": video.frames, "bytes": info.bytes },
            "profile": prof.id,
            "ladder_codec": args.ladder_codec,
            "audio": false,
            "runs": args.runs,
            "machine": machine.json(),
            "cases": results.iter().map(|r| {
                let s = r.summary();
                json!({
                    "case": r.id,
                    "label": r.label,
                    "median": s.json(),
                    "runs": r.runs.iter().map(Usage::json).collect::<Vec<_>>(),
                    "output_bytes": r.outcome.bytes,
                    "frames": r.outcome.frames,
                    "commands": r.outcome.commands,
                })
            }).collect::<Vec<_>>(),
            "ratios": ratios.iter().map(Ratio::json).collect::<Vec<_>>(),
            "checks": checks,
            "vmaf": scores,
        });
        println!("{v}");
        return Ok(());
    }

    println!(
        "{:<44} {:>8} {:>8} {:>8} {:>7} {:>9} {:>10}  frames",
        "case", "wall s", "CPU s", "user s", "sys s", "peak MiB", "output MiB"
    );
    for r in &results {
        let s = r.summary();
        println!(
            "{:<44} {:>8.2} {:>8.2} {:>8.2} {:>7.2} {:>9.1} {:>10.2}  {}",
            format!("{} {}", r.id, r.label),
            s.wall,
            s.cpu(),
            s.user,
            s.sys,
            s.peak_kib as f64 / 1024.0,
            r.outcome.bytes as f64 / 1048576.0,
            r.outcome.frames.iter().map(u64::to_string).collect::<Vec<_>>().join("/")
        );
    }
    if !ratios.is_empty() {
        println!();
        println!(
            "{:<6} {:>7} {:>7} {:>6}   {:>7} {:>6}   {:>9} {:>6}",
            "ratio", "wall", "target", "", "CPU", "", "peak mem", ""
        );
        for r in &ratios {
            let (w, c, m) = r.values();
            println!(
                "{:<6} {:>7.3} {:>7} {:>6}   {:>7.3} {:>6}   {:>9.3} {:>6}",
                format!("{}/{}", r.a, r.b),
                w,
                format!("<={:.2}", r.target),
                pass(w <= r.target),
                c,
                pass(c <= r.target),
                m,
                if r.b == 3 { "(info)".to_string() } else { pass(m <= 1.0).to_string() }
            );
        }
        println!("(wall and CPU: PASS when <= target; peak memory: PASS when Crema's peak <= ffmpeg's)");
    }
    if let Some(list) = checks.as_array().filter(|l| !l.is_empty()) {
        println!();
        for c in list {
            println!("{}", c["text"].as_str().unwrap_or_default());
        }
    }
    if !scores.is_empty() {
        println!();
        vmaf::print(&scores);
    }
    println!();
    println!("commands (last run):");
    for r in &results {
        for c in &r.outcome.commands {
            println!("  [{}] {}", r.id, shell_line(c));
        }
    }
    Ok(())
}

/// Adds one run of case `id` (its outcome replaces the previous run's).
fn record(results: &mut Vec<CaseResult>, id: u8, usage: Usage, outcome: Outcome) {
    if let Some(r) = results.iter_mut().find(|r| r.id == id) {
        r.runs.push(usage);
        r.outcome = outcome;
    } else {
        results.push(CaseResult { id, label: LABELS[usize::from(id - 1)], runs: vec![usage], outcome });
    }
}

fn pass(ok: bool) -> &'static str {
    if ok { "PASS" } else { "MISS" }
}

/// Case `a` over case `b`.
struct Ratio {
    a: u8,
    b: u8,
    target: f64,
    num: Usage,
    den: Usage,
}

impl Ratio {
    /// (wall, CPU, peak memory) ratios.
    fn values(&self) -> (f64, f64, f64) {
        let div = |x: f64, y: f64| if y > 0.0 { x / y } else { f64::NAN };
        (
            div(self.num.wall, self.den.wall),
            div(self.num.cpu(), self.den.cpu()),
            div(self.num.peak_kib as f64, self.den.peak_kib as f64),
        )
    }

    fn json(&self) -> Value {
        let (w, c, m) = self.values();
        json!({
            "ratio": format!("{}/{}", self.a, self.b),
            "target": self.target,
            "wall": round3(w),
            "wall_pass": w <= self.target,
            "cpu": round3(c),
            "cpu_pass": c <= self.target,
            "peak_memory": round3(m),
            "peak_memory_pass": (self.b != 3).then_some(m <= 1.0),
        })
    }
}

/// Output sizes and frame counts, Crema against `ffmpeg`.
fn comparability(results: &[CaseResult], src_frames: u64) -> Value {
    let mut out = Vec::new();
    let find = |id: u8| results.iter().find(|r| r.id == id);
    for (a, b) in [(1u8, 2u8), (1, 6), (1, 3), (4, 5), (7, 4)] {
        let (Some(x), Some(y)) = (find(a), find(b)) else {
            continue;
        };
        let diff = if y.outcome.bytes > 0 {
            (x.outcome.bytes as f64 / y.outcome.bytes as f64 - 1.0) * 100.0
        } else {
            f64::NAN
        };
        let same_frames = x.outcome.frames == y.outcome.frames;
        out.push(json!({
            "cases": format!("{a} vs {b}"),
            "size_diff_percent": round3(diff),
            "same_frames": same_frames,
            "text": format!(
                "output {a} vs {b}: size {diff:+.1} % ({:.2} vs {:.2} MiB), frames {} ({} vs {})",
                x.outcome.bytes as f64 / 1048576.0,
                y.outcome.bytes as f64 / 1048576.0,
                if same_frames { "equal" } else { "DIFFER" },
                join(&x.outcome.frames),
                join(&y.outcome.frames)
            ),
        }));
    }
    if src_frames > 0 {
        let short: Vec<String> = results
            .iter()
            .filter(|r| r.outcome.frames.iter().any(|&f| f != src_frames))
            .map(|r| format!("case {} ({})", r.id, join(&r.outcome.frames)))
            .collect();
        let text = if short.is_empty() {
            format!("every output has the source's {src_frames} frames")
        } else {
            format!("frame counts differ from the source's {src_frames}: {}", short.join(", "))
        };
        out.push(json!({ "cases": "all vs source", "same_frames": short.is_empty(), "text": text }));
    }
    Value::Array(out)
}

fn join(v: &[u64]) -> String {
    v.iter().map(u64::to_string).collect::<Vec<_>>().join("/")
}

/// The median of `v` (the mean of the middle two for an even count); 0 for none.
pub(crate) fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    match n {
        0 => 0.0,
        _ if n % 2 == 1 => v[n / 2],
        _ => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::median;

    #[test]
    fn median_of_odd_even_and_no_runs() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 3.0, 2.0]), 2.5);
        assert_eq!(median(vec![]), 0.0);
    }
}
