//! `crema bench`: Crema against the `ffmpeg` command line, in one session.
//!
//! Five cases on the same source clip (video only, no audio anywhere):
//!
//! 1. Crema's H.264 HLS ladder (1080/720/480/360, 6 s segments), one `crema encode`;
//! 2. the same ladder by one `ffmpeg` process that decodes once and `split`s;
//! 3. the same ladder by one `ffmpeg` process per rung (times summed, peak memory the max);
//! 4. one HEVC MP4 by Crema;
//! 5. the same HEVC MP4 by `ffmpeg`.
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
//! x264/x265 with identical settings and default thread counts. The `ffmpeg`
//! ladders are written as fMP4 HLS with the same muxer options as Crema.

use clap::Args;
use crema_engine::plan::{self, VideoFilters};
use crema_engine::probe::{self, VideoStream};
use crema_engine::profile::{self, ProfileSet};
use serde_json::{Value, json};
use std::fmt::Write as _;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

/// The clip `fixtures/prepare.sh --bench` makes (17.6 s of 1080p25 ProRes 422 HQ).
const DEFAULT_INPUT: &str = "fixtures/cache/prores_hq_1080p25_10bit_long.mov";
/// Rungs of the ladder, as `crema encode --renditions` takes them.
const RUNGS: &str = "1080,720,480,360";
/// HLS target segment duration, seconds (Crema's and `ffmpeg`'s `hls_time`).
const SEGMENT_SECONDS: u32 = 6;

/// Options of `crema bench`.
#[derive(Args)]
pub struct BenchArgs {
    /// Source clip (1080p ProRes 422 HQ; made by `fixtures/prepare.sh --bench`).
    #[arg(long, default_value = DEFAULT_INPUT)]
    input: PathBuf,
    /// Profile whose libx264/libx265 settings every case uses.
    #[arg(long, short = 'p', default_value = "sophon-cortado")]
    profile: String,
    /// Runs of every case; the table shows medians (peak memory: the maximum).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=20))]
    runs: u32,
    /// Only these cases, comma separated (1-5). Cases 2, 3 and 5 still need
    /// Crema's options: without 1 (or 4) an unmeasured Crema run learns them first.
    #[arg(long, value_delimiter = ',', value_parser = clap::value_parser!(u8).range(1..=5))]
    only: Vec<u8>,
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
}

/// Resource use of one child process (or of several, combined).
#[derive(Clone, Copy, Debug, Default)]
struct Usage {
    /// Wall-clock seconds from spawn to reaping.
    wall: f64,
    /// User CPU seconds.
    user: f64,
    /// System CPU seconds.
    sys: f64,
    /// Peak resident set size, KiB.
    peak_kib: u64,
}

impl Usage {
    fn cpu(&self) -> f64 {
        self.user + self.sys
    }

    /// Sequential processes: times add up, memory is the highest peak.
    fn then(self, o: Usage) -> Usage {
        Usage {
            wall: self.wall + o.wall,
            user: self.user + o.user,
            sys: self.sys + o.sys,
            peak_kib: self.peak_kib.max(o.peak_kib),
        }
    }

    fn json(&self) -> Value {
        json!({
            "wall_s": round3(self.wall),
            "cpu_s": round3(self.cpu()),
            "user_s": round3(self.user),
            "sys_s": round3(self.sys),
            "peak_rss_kib": self.peak_kib,
        })
    }
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
        let med = |f: &dyn Fn(&Usage) -> f64| {
            let mut v: Vec<f64> = self.runs.iter().map(f).collect();
            v.sort_by(f64::total_cmp);
            let n = v.len();
            if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 }
        };
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

const LABELS: [&str; 5] = [
    "Crema H.264 ladder (4 rungs, 1 process)",
    "ffmpeg ladder, 1 process with split",
    "ffmpeg ladder, 1 process per rung (4)",
    "Crema HEVC file",
    "ffmpeg HEVC file",
];

/// A failed step, with the exit code to return.
#[derive(Debug)]
struct Failure {
    code: u8,
    message: String,
}

fn fail(code: u8, message: impl Into<String>) -> Failure {
    Failure { code, message: message.into() }
}

/// Runs the benchmark; returns the process exit code (0 done, 1 a case
/// failed, 2 usage: missing clip, unknown profile).
pub fn run(args: BenchArgs) -> u8 {
    match bench(&args) {
        Ok(()) => 0,
        Err(f) => {
            eprintln!("crema bench: {}", f.message);
            f.code
        }
    }
}

fn bench(args: &BenchArgs) -> Result<(), Failure> {
    if !args.input.is_file() {
        let mut msg = format!("{}: no such file.", args.input.display());
        if args.input == Path::new(DEFAULT_INPUT) {
            msg.push_str(
                " Make it with `fixtures/prepare.sh --bench` (from the repository root), then run `crema bench` there.",
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
    let selected: Vec<u8> = if args.only.is_empty() { vec![1, 2, 3, 4, 5] } else { args.only.clone() };
    let want = |c: u8| selected.contains(&c);

    let (work, temporary) = match &args.work_dir {
        Some(d) => (d.clone(), false),
        None => (std::env::temp_dir().join(format!("crema-bench-{}", std::process::id())), true),
    };
    std::fs::create_dir_all(&work).map_err(|e| fail(4, format!("{}: {e}", work.display())))?;
    let result = bench_in(args, prof, &info, &video, &work, &want);
    if temporary {
        let _ = std::fs::remove_dir_all(&work);
    }
    result
}

fn bench_in(
    args: &BenchArgs,
    prof: &profile::Profile,
    info: &probe::MediaInfo,
    video: &VideoStream,
    work: &Path,
    want: &dyn Fn(u8) -> bool,
) -> Result<(), Failure> {
    let machine = Machine::detect(&args.ffmpeg);
    let common = VideoFilters::for_source(video).chain();
    let src_frames = video.frames.unwrap_or(0);
    let header = format!(
        "crema bench: {} ({}x{} {} {}, {} fps, {:.2} s, {} frames, {:.0} MiB), profile {}, video only (no audio), {} run(s)",
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
        eprintln!("crema bench: note: the source is {}p, not 1080p; the targets are for 1080p", video.height);
    }
    // Every case reads the source from the page cache, none from the disk.
    warm_page_cache(&args.input);

    let exe = std::env::current_exe().map_err(|e| fail(1, format!("cannot find the crema executable: {e}")))?;
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
    if (want(2) || want(3)) && !want(1) {
        note("learning the ladder's encoder options (unmeasured Crema run)...".into());
        let (_, _, rungs) = crema_ladder(&exe, args, &ladder_dir(1))?;
        ladder = Some(rungs);
    }
    if want(5) && !want(4) {
        note("learning the HEVC file's encoder options (unmeasured Crema run)...".into());
        let (_, _, setup) = crema_file(&exe, args, &ladder_dir(4))?;
        file_setup = Some(setup);
    }

    for run in 1..=args.runs {
        for case in 1..=5u8 {
            if !want(case) {
                continue;
            }
            note(format!("run {run}/{}: case {case}: {}...", args.runs, LABELS[usize::from(case - 1)]));
            let dir = ladder_dir(case);
            let (usage, outcome) = match case {
                1 => {
                    let (u, o, rungs) = crema_ladder(&exe, args, &dir)?;
                    ladder = Some(rungs);
                    (u, o)
                }
                2 => ffmpeg_split(args, &common, ladder.as_deref().expect("learned above"), &dir)?,
                3 => ffmpeg_per_rung(args, &common, ladder.as_deref().expect("learned above"), &dir)?,
                4 => {
                    let (u, o, setup) = crema_file(&exe, args, &dir)?;
                    file_setup = Some(setup);
                    (u, o)
                }
                _ => ffmpeg_file(args, &common, file_setup.as_ref().expect("learned above"), &dir)?,
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
    let ratios: Vec<Ratio> = [(1u8, 2u8, 1.05), (1, 3, 0.80), (4, 5, 1.02)]
        .into_iter()
        .filter_map(|(a, b, target)| Some(Ratio { a, b, target, num: get(a)?, den: get(b)? }))
        .collect();

    let checks = comparability(&results, src_frames);
    if args.json {
        let v = json!({
            "input": args.input,
            "source": { "name": info.name, "width": video.width, "height": video.height, "codec": video.codec,
                        "profile": video.profile, "frame_rate": info.frame_rate, "duration_seconds": info.duration_seconds,
                        "frames": video.frames, "bytes": info.bytes },
            "profile": prof.id,
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
    for (a, b) in [(1u8, 2u8), (1, 3), (4, 5)] {
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

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

// ---------------------------------------------------------------------------
// The cases
// ---------------------------------------------------------------------------

/// Case 1: `crema encode --hls`. Returns the usage, outcome and rungs as reported.
fn crema_ladder(exe: &Path, args: &BenchArgs, dir: &Path) -> Result<(Usage, Outcome, Vec<Rendition>), Failure> {
    fresh_dir(dir)?;
    let seg = SEGMENT_SECONDS.to_string();
    let extra = ["--hls", "--renditions", RUNGS, "--hls-codec", "h264", "--segment-seconds", seg.as_str()];
    let (usage, result, cmd) = run_crema(exe, args, dir, &extra)?;
    let hls = outputs(&result)
        .into_iter()
        .find(|o| o["kind"] == "hls")
        .ok_or_else(|| fail(1, "Crema's result has no hls output"))?;
    let mut rungs = Vec::new();
    let mut frames = Vec::new();
    for r in hls["renditions"].as_array().into_iter().flatten() {
        let rendition = rendition_of(r, &r["encoder"])?;
        expect_software(&rendition.encoder, "libx264")?;
        frames.push(count_frames(&args.ffprobe, Path::new(r["playlist"].as_str().unwrap_or_default())));
        rungs.push(rendition);
    }
    if rungs.is_empty() {
        return Err(fail(1, "Crema's HLS result lists no renditions"));
    }
    Ok((usage, Outcome { bytes: tree_size(dir), frames, commands: vec![cmd] }, rungs))
}

/// Case 4: `crema encode` to one MP4.
fn crema_file(exe: &Path, args: &BenchArgs, dir: &Path) -> Result<(Usage, Outcome, Rendition), Failure> {
    fresh_dir(dir)?;
    let (usage, result, cmd) = run_crema(exe, args, dir, &["--container", "mp4"])?;
    let file = outputs(&result)
        .into_iter()
        .find(|o| o["kind"] == "file")
        .ok_or_else(|| fail(1, "Crema's result has no file output"))?;
    let setup = rendition_of(&file, &file["encoder"])?;
    expect_software(&setup.encoder, "libx26")?;
    let frames = vec![count_frames(&args.ffprobe, Path::new(file["path"].as_str().unwrap_or_default()))];
    Ok((usage, Outcome { bytes: tree_size(dir), frames, commands: vec![cmd] }, setup))
}

/// Case 2: one `ffmpeg`, one decode, `split` to every rung.
fn ffmpeg_split(
    args: &BenchArgs,
    common: &[String],
    rungs: &[Rendition],
    dir: &Path,
) -> Result<(Usage, Outcome), Failure> {
    fresh_dir(dir)?;
    let sinks: Vec<(u32, u32, &str)> = rungs.iter().map(|r| (r.width, r.height, r.pix_fmt())).collect();
    let mut cmd = ffmpeg_head(args);
    cmd.extend(["-filter_complex".into(), ffmpeg_graph(common, &sinks)]);
    for (i, r) in rungs.iter().enumerate() {
        cmd.extend(["-map".into(), format!("[out{i}]")]);
        cmd.extend(encoder_args(&r.encoder));
        cmd.extend(hls_args(&dir.join(format!("{}p", r.height)))?);
    }
    let usage = run_measured(&cmd, dir, "ffmpeg")?;
    let frames =
        rungs.iter().map(|r| count_frames(&args.ffprobe, &dir.join(format!("{}p/index.m3u8", r.height)))).collect();
    Ok((usage, Outcome { bytes: tree_size(dir), frames, commands: vec![cmd] }))
}

/// Case 3: one `ffmpeg` per rung, one after the other.
fn ffmpeg_per_rung(
    args: &BenchArgs,
    common: &[String],
    rungs: &[Rendition],
    dir: &Path,
) -> Result<(Usage, Outcome), Failure> {
    fresh_dir(dir)?;
    let mut total = Usage::default();
    let mut commands = Vec::new();
    let mut frames = Vec::new();
    for r in rungs {
        let mut cmd = ffmpeg_head(args);
        cmd.extend(["-filter_complex".into(), ffmpeg_graph(common, &[(r.width, r.height, r.pix_fmt())])]);
        cmd.extend(["-map".into(), "[out0]".into()]);
        cmd.extend(encoder_args(&r.encoder));
        let rung_dir = dir.join(format!("{}p", r.height));
        cmd.extend(hls_args(&rung_dir)?);
        total = total.then(run_measured(&cmd, dir, "ffmpeg")?);
        frames.push(count_frames(&args.ffprobe, &rung_dir.join("index.m3u8")));
        commands.push(cmd);
    }
    Ok((total, Outcome { bytes: tree_size(dir), frames, commands }))
}

/// Case 5: one `ffmpeg` to one MP4.
fn ffmpeg_file(
    args: &BenchArgs,
    common: &[String],
    setup: &Rendition,
    dir: &Path,
) -> Result<(Usage, Outcome), Failure> {
    fresh_dir(dir)?;
    let out = dir.join("ffmpeg.mp4");
    let mut cmd = ffmpeg_head(args);
    cmd.extend(["-filter_complex".into(), ffmpeg_graph(common, &[(setup.width, setup.height, setup.pix_fmt())])]);
    cmd.extend(["-map".into(), "[out0]".into()]);
    cmd.extend(encoder_args(&setup.encoder));
    // Crema writes its MP4s with the index in front, as here.
    cmd.extend(["-movflags".into(), "+faststart".into(), "-f".into(), "mp4".into(), path_arg(&out)]);
    let usage = run_measured(&cmd, dir, "ffmpeg")?;
    let frames = vec![count_frames(&args.ffprobe, &out)];
    Ok((usage, Outcome { bytes: tree_size(dir), frames, commands: vec![cmd] }))
}

// ---------------------------------------------------------------------------
// Command lines
// ---------------------------------------------------------------------------

/// Runs `crema encode` with `extra` into `dir`; returns its usage and `--json` result line.
fn run_crema(exe: &Path, args: &BenchArgs, dir: &Path, extra: &[&str]) -> Result<(Usage, Value, Vec<String>), Failure> {
    let mut cmd: Vec<String> =
        vec![path_arg(exe), "encode".into(), path_arg(&args.input), "--profile".into(), args.profile.clone()];
    cmd.extend(["--encoder", "software", "--json", "--overwrite", "--output-dir"].map(String::from));
    cmd.push(path_arg(dir));
    cmd.extend(extra.iter().map(|s| s.to_string()));
    let usage = run_measured(&cmd, dir, "crema")?;
    let stdout = std::fs::read_to_string(dir.join("crema.stdout")).unwrap_or_default();
    let result = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["event"] == "result")
        .ok_or_else(|| fail(1, format!("`{}` printed no result line", shell_line(&cmd))))?;
    Ok((usage, result, cmd))
}

fn outputs(result: &Value) -> Vec<Value> {
    result["outputs"].as_array().cloned().unwrap_or_default()
}

/// A rendition (or file) and its encoder from a result's JSON.
fn rendition_of(out: &Value, encoder: &Value) -> Result<Rendition, Failure> {
    let dim = |k: &str| {
        out[k].as_u64().and_then(|v| u32::try_from(v).ok()).ok_or_else(|| fail(1, format!("result output without {k}")))
    };
    let name = encoder["name"].as_str().ok_or_else(|| fail(1, "result output without encoder name"))?.to_string();
    let options = encoder["options"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|o| Some((o["name"].as_str()?.to_string(), o["value"].as_str()?.to_string())))
        .collect();
    Ok(Rendition { width: dim("width")?, height: dim("height")?, encoder: EncoderSetup { name, options } })
}

fn expect_software(enc: &EncoderSetup, prefix: &str) -> Result<(), Failure> {
    if enc.name.starts_with(prefix) {
        Ok(())
    } else {
        Err(fail(1, format!("Crema used {}, not the software encoder the comparison needs", enc.name)))
    }
}

fn ffmpeg_head(args: &BenchArgs) -> Vec<String> {
    let mut v = vec![path_arg(&args.ffmpeg)];
    v.extend(["-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-i"].map(String::from));
    v.push(path_arg(&args.input));
    v
}

/// Crema's filter graph for these sinks, on the first input's video.
fn ffmpeg_graph(common: &[String], sinks: &[(u32, u32, &str)]) -> String {
    // The bench source is SDR: no branch is tone-mapped.
    let filters: Vec<plan::SinkFilter> = sinks
        .iter()
        .map(|&(width, height, pix_fmt)| plan::SinkFilter { width, height, pix_fmt, tone_map: false })
        .collect();
    let spec = plan::graph_spec(common, &filters);
    match spec.strip_prefix("[in]") {
        Some(rest) => format!("[0:v]{rest}"),
        None => spec,
    }
}

/// `-c:v NAME -KEY VALUE...` exactly as Crema set the encoder up.
fn encoder_args(enc: &EncoderSetup) -> Vec<String> {
    let mut v = vec!["-c:v".to_string(), enc.name.clone()];
    for (k, val) in &enc.options {
        v.push(format!("-{k}"));
        v.push(val.clone());
    }
    v
}

/// fMP4 HLS output with Crema's muxer options, into `dir`.
fn hls_args(dir: &Path) -> Result<Vec<String>, Failure> {
    std::fs::create_dir_all(dir).map_err(|e| fail(4, format!("{}: {e}", dir.display())))?;
    let mut v: Vec<String> = vec!["-f".into(), "hls".into(), "-hls_time".into(), SEGMENT_SECONDS.to_string()];
    v.extend(
        ["-hls_playlist_type", "vod", "-hls_segment_type", "fmp4", "-hls_fmp4_init_filename", "init.mp4"]
            .map(String::from),
    );
    v.extend(["-hls_flags".into(), "independent_segments".into(), "-hls_segment_filename".into()]);
    v.push(path_arg(&dir.join("seg_%05d.m4s")));
    v.push(path_arg(&dir.join("index.m3u8")));
    Ok(v)
}

fn path_arg(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

/// `cmd` as one line a POSIX shell would take.
fn shell_line(cmd: &[String]) -> String {
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

// ---------------------------------------------------------------------------
// Processes and files
// ---------------------------------------------------------------------------

/// Runs `cmd` as a child (stdout and stderr to `dir/NAME.stdout`/`.stderr`)
/// and measures it with `wait4`.
fn run_measured(cmd: &[String], dir: &Path, name: &str) -> Result<Usage, Failure> {
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
fn fresh_dir(dir: &Path) -> Result<(), Failure> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(|e| fail(4, format!("{}: {e}", dir.display())))?;
    }
    std::fs::create_dir_all(dir).map_err(|e| fail(4, format!("{}: {e}", dir.display())))
}

/// Bytes of every media file under `dir` (the logs the bench writes there excluded).
fn tree_size(dir: &Path) -> u64 {
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
fn count_frames(ffprobe: &Path, path: &Path) -> u64 {
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
fn warm_page_cache(path: &Path) {
    if let Ok(mut f) = File::open(path) {
        let mut buf = vec![0u8; 1 << 20];
        while matches!(f.read(&mut buf), Ok(n) if n > 0) {}
    }
}

// ---------------------------------------------------------------------------
// The machine
// ---------------------------------------------------------------------------

/// What the numbers were measured on.
struct Machine {
    cpus: usize,
    cpu_model: String,
    load_average: String,
    ffmpeg_version: String,
    /// FFmpeg/x264/x265 shared libraries this process (Crema) has loaded.
    crema_libs: Vec<String>,
}

impl Machine {
    fn detect(ffmpeg: &Path) -> Self {
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
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap_or_default();
        let mut crema_libs: Vec<String> = maps
            .lines()
            .filter_map(|l| l.split_whitespace().nth(5))
            .filter_map(|p| Path::new(p).file_name().and_then(|n| n.to_str()).map(str::to_string))
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
            crema_libs,
        }
    }

    fn describe(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "machine: {} CPUs ({}), load average at start {}",
            self.cpus, self.cpu_model, self.load_average
        );
        let _ = writeln!(s, "ffmpeg: {}", self.ffmpeg_version);
        let _ = writeln!(
            s,
            "crema: {} {}, linked to {}",
            env!("CARGO_PKG_NAME"),
            env!("CARGO_PKG_VERSION"),
            if self.crema_libs.is_empty() { "?".to_string() } else { self.crema_libs.join(", ") }
        );
        s
    }

    fn json(&self) -> Value {
        json!({
            "cpus": self.cpus,
            "cpu_model": self.cpu_model,
            "load_average": self.load_average,
            "ffmpeg_version": self.ffmpeg_version,
            "crema_libraries": self.crema_libs,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graph_binds_the_first_input() {
        let g = ffmpeg_graph(&[], &[(1920, 1080, "yuv420p"), (1280, 720, "yuv420p")]);
        assert!(g.starts_with(
            "[0:v]null,split=2[s0][s1];[s0]scale=1920:1080:flags=bicubic:out_range=tv,setsar=1,format=yuv420p[out0]"
        ));
        assert_eq!(
            ffmpeg_graph(&[], &[(640, 360, "yuv420p")]),
            "[0:v]null,scale=640:360:flags=bicubic:out_range=tv,setsar=1,format=yuv420p[out0]"
        );
    }

    #[test]
    fn encoder_args_keep_crema_order() {
        let enc = EncoderSetup {
            name: "libx264".into(),
            options: vec![("pix_fmt".into(), "yuv420p".into()), ("crf".into(), "23".into())],
        };
        assert_eq!(encoder_args(&enc), ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-crf", "23"]);
    }

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
