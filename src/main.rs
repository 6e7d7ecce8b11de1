//! `crema`: the command-line transport over Crema's engine.
//!
//! Parses arguments, runs the engine on a dedicated thread per input,
//! renders its progress events (a progress bar on a terminal, JSON lines
//! with `--json`) and maps engine errors to the documented exit codes:
//! 0 success, 1 encode failed, 2 usage error, 3 input unsupported or
//! corrupt, 4 output not writable or disk full, 130 canceled.

use clap::{Args, Parser, Subcommand, ValueEnum};
use crema_engine::EngineError;
use crema_engine::encoder::{self, Preference};
use crema_engine::hw_decode::{self, DecodePreference};
use crema_engine::probe;
use crema_engine::profile::{self, ProfileSet, VideoCodec};
use crema_engine::progress::{CancelFlag, Event, Stage};
use crema_engine::request::{Container, EncodeRequest, EncodeResult, FileRequest, FinalArtifact, HlsRequest};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

mod quality;
mod serve;
mod watch;
mod waveform;

/// Exit codes (documented in the README).
mod exit {
    pub const OK: u8 = 0;
    pub const FAILED: u8 = 1;
    pub const USAGE: u8 = 2;
    pub const INPUT: u8 = 3;
    pub const OUTPUT: u8 = 4;
    pub const CANCELED: u8 = 130;
}

#[derive(Parser)]
#[command(name = "crema", version, about = "Encode camera files and masters to HEVC files and HLS ladders")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Encode one or more files with a profile, to a file and/or an HLS ladder.
    Encode(EncodeArgs),
    /// Show what a file is: streams, color, HDR, rotation, timecode.
    Probe {
        /// Files to probe.
        #[arg(required = true)]
        inputs: Vec<PathBuf>,
        /// One JSON object per input per line.
        #[arg(long)]
        json: bool,
    },
    /// List the profiles (built-in and from the user profile folder).
    Profiles {
        /// JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// List encoder back-ends and whether each works on this machine.
    Encoders {
        /// JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// HLS package tools.
    Hls {
        #[command(subcommand)]
        command: HlsCommand,
    },
    /// Serve the SOPHON-compatible /v1 API and the job queue (headless mode).
    Serve(Box<serve::ServeArgs>),
    /// Manage API keys for `crema serve`.
    Keys {
        #[command(subcommand)]
        command: serve::KeysCommand,
    },
    /// Manage watch folders: files dropped in a folder are encoded once their copy finished.
    Watch {
        #[command(subcommand)]
        command: watch::WatchCommand,
    },
    /// Waveform data for an audio track, as BBC audiowaveform writes it (.dat or .json, for peaks.js).
    Waveform(waveform::WaveformArgs),
    /// Measure an encode against its source: VMAF, VMAF NEG, PSNR, SSIM (per frame and pooled).
    Quality(quality::QualityArgs),
}

#[derive(Subcommand)]
enum HlsCommand {
    /// Re-read a package and report every HLS rule it breaks (exit 1 if any).
    Check {
        /// Package folder (holding master.m3u8).
        dir: PathBuf,
        /// JSON report.
        #[arg(long)]
        json: bool,
    },
}

/// `--container` of `crema encode` and `crema watch add`.
#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum ContainerArg {
    Mp4,
    Mkv,
}

/// `--hls-codec` of `crema encode` and `crema watch add`.
#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum HlsCodecArg {
    H264,
    Hevc,
}

#[derive(Args)]
struct EncodeArgs {
    /// Source files.
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// Profile ID (see `crema profiles`).
    #[arg(long, short = 'p')]
    profile: String,
    /// Output file (one input only). With --hls, the package goes beside it as NAME.hls/.
    #[arg(long, short = 'o', conflicts_with = "output_dir")]
    output: Option<PathBuf>,
    /// Folder for outputs (default: beside each input). Names are INPUT.PROFILE.EXT.
    #[arg(long)]
    output_dir: Option<PathBuf>,
    /// Container of the single file (default: from the -o extension, else mp4).
    #[arg(long, value_enum)]
    container: Option<ContainerArg>,
    /// Keep audio: every track in files (MKV as-is; MP4 converts what it cannot hold to AAC),
    /// one AAC rendition in HLS.
    #[arg(long)]
    audio: bool,
    /// Scale the single file down to this height in pixels (never up; 144..4320).
    #[arg(long)]
    target_height: Option<u32>,
    /// Make an HLS ladder (instead of the single file, unless --file or -o is given too).
    #[arg(long)]
    hls: bool,
    /// With --hls: also write the single file.
    #[arg(long, requires = "hls")]
    file: bool,
    /// Rung heights in pixels (144..4320, at most 8 distinct), comma separated; rungs taller than
    /// the source are dropped.
    #[arg(long, value_delimiter = ',', default_value = "1080,720,480,360", requires = "hls")]
    renditions: Vec<u32>,
    /// Video codec of the ladder: h264 plays everywhere, hevc on Apple devices and newer TVs.
    #[arg(long, value_enum, default_value = "h264", requires = "hls")]
    hls_codec: HlsCodecArg,
    /// Target segment duration in seconds (1..=20).
    #[arg(long, default_value_t = 6.0, requires = "hls")]
    segment_seconds: f64,
    /// Also write a progressive MP4 of the rung of this height.
    #[arg(long, requires = "hls")]
    keep_mp4: Option<u32>,
    /// Encoder back-end: auto tries hardware first and falls back to software.
    #[arg(long, default_value = "auto", value_parser = ["auto", "software", "nvenc", "qsv", "vaapi", "videotoolbox", "amf"])]
    encoder: String,
    /// Video decoder: software (default), or a hardware decoder (auto: the platform's in order,
    /// software when none opens); how it went is each output's `decoder` in the result.
    #[arg(long, default_value = "software", value_parser = ["software", "auto", "nvdec", "vaapi", "videotoolbox", "d3d11va"])]
    decoder: String,
    /// Replace existing outputs.
    #[arg(long)]
    overwrite: bool,
    /// Also write the audio's waveform (BBC audiowaveform .dat: 256 samples per pixel, 8-bit,
    /// mono mix) beside the output as NAME.dat, from the audio the encode decodes anyway.
    #[arg(long)]
    waveform: bool,
    /// Afterwards, score the output against the source (VMAF, PSNR, SSIM of every frame; for
    /// --hls the top rung): a second decode of both, reported as `quality`.
    #[arg(long)]
    measure: bool,
    /// With sophon-auto: the VMAF (50..99) the delivered file's mean must reach, every
    /// chunk within 3 of it (default 93); each chunk is scored as it is encoded.
    #[arg(long, value_name = "VMAF")]
    target_vmaf: Option<f64>,
    /// Encode the single file in chunks on N workers side by side, joined without re-encoding
    /// (1: in one piece). Default: decided from the cores and the output's size (one piece
    /// below 16 cores at 1080p). Not for HLS, hardware encoders or sophon-auto's verified path.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=64))]
    chunk_workers: Option<u32>,
    /// Progress and result as JSON lines on stdout (format in the README).
    #[arg(long)]
    json: bool,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        // `--version`/`-V`: the commit and the linked FFmpeg, x264 and x265 too.
        Err(e) if e.kind() == clap::error::ErrorKind::DisplayVersion => {
            let commit = env!("CREMA_GIT_COMMIT");
            print!("{}", crema_engine::versions::report("crema", env!("CARGO_PKG_VERSION"), commit));
            return ExitCode::from(exit::OK);
        }
        Err(e) => {
            let code = if e.use_stderr() { exit::USAGE } else { exit::OK };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    // A server logs what it does by default; the CLI stays quiet unless asked.
    let default_filter = if matches!(cli.command, Command::Serve(_)) { "info,sqlx=warn" } else { "error" };
    let filter = tracing_subscriber::EnvFilter::try_from_env("CREMA_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    if let Err(e) = crema_engine::init() {
        eprintln!("crema: {e}");
        return ExitCode::from(exit::FAILED);
    }
    let code = match cli.command {
        Command::Encode(args) => encode(args),
        Command::Probe { inputs, json } => probe_cmd(&inputs, json),
        Command::Profiles { json } => profiles_cmd(json),
        Command::Encoders { json } => encoders_cmd(json),
        Command::Hls { command: HlsCommand::Check { dir, json } } => hls_check(&dir, json),
        Command::Serve(args) => serve::serve(*args),
        Command::Keys { command } => serve::keys(command),
        Command::Watch { command } => watch::run(command),
        Command::Waveform(args) => waveform::run(args),
        Command::Quality(args) => quality::run(args),
    };
    ExitCode::from(code)
}

/// The exit code for an engine error.
fn exit_code(e: &EngineError) -> u8 {
    match e {
        EngineError::InputUnreadable { .. }
        | EngineError::InputUnsupported { .. }
        | EngineError::PictureTooLarge { .. } => exit::INPUT,
        EngineError::OutputNotWritable { .. } | EngineError::DiskFull { .. } => exit::OUTPUT,
        EngineError::Profile(_) | EngineError::Usage(_) => exit::USAGE,
        EngineError::Canceled => exit::CANCELED,
        EngineError::Encode { .. }
        | EngineError::Decode { .. }
        | EngineError::Internal(_)
        | EngineError::VmafUnavailable(_)
        | EngineError::Quality(_) => exit::FAILED,
    }
}

fn load_profiles() -> Result<ProfileSet, EngineError> {
    ProfileSet::load(profile::user_profile_dir().as_deref())
}

fn print_json_line(v: &serde_json::Value) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{v}");
    let _ = out.flush();
}

fn error_line(input: Option<&Path>, e: &EngineError) -> serde_json::Value {
    serde_json::json!({
        "event": "error",
        "input": input,
        "code": e.code(),
        "message": e.to_string(),
        "exit_code": exit_code(e),
    })
}

/// Output paths for one input, from the flags.
fn build_request(args: &EncodeArgs, input: &Path, preference: Preference) -> EncodeRequest {
    let stem = input.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "output".into());
    let dir = args
        .output_dir
        .clone()
        .or_else(|| input.parent().map(Path::to_path_buf))
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or_else(|| PathBuf::from("."));
    let container = container_of(args);
    // An audio source gets an audio file's name: .m4a (MP4 audio) or .mka.
    let audio_source = args.output.is_none()
        && probe::probe_facts(input, &CancelFlag::new()).is_ok_and(|i| i.video.is_none() && !i.audio.is_empty());
    let ext = match (audio_source, container) {
        (true, Container::Mp4) => "m4a",
        (true, Container::Mkv) => "mka",
        (false, c) => c.extension(),
    };
    let file_path = args.output.clone().unwrap_or_else(|| dir.join(format!("{stem}.{}.{ext}", args.profile)));
    let want_file = !args.hls || args.file || args.output.is_some();
    let hls = args.hls.then(|| {
        let hls_base = match &args.output {
            Some(o) => o.with_extension(""),
            None => dir.join(format!("{stem}.{}", args.profile)),
        };
        let name = hls_base.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        HlsRequest {
            dir: hls_base.with_file_name(format!("{name}.hls")),
            renditions: args.renditions.clone(),
            codec: match args.hls_codec {
                HlsCodecArg::H264 => VideoCodec::H264,
                HlsCodecArg::Hevc => VideoCodec::Hevc,
            },
            segment_seconds: args.segment_seconds,
            keep_mp4: args.keep_mp4.map(|h| (h, hls_base.with_file_name(format!("{name}.{h}p.mp4")))),
        }
    });
    let waveform = args.waveform.then(|| {
        let path = match (&hls, want_file) {
            // NAME.hls → NAME.dat
            (Some(h), false) => {
                let name = h.dir.file_stem().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                h.dir.with_file_name(format!("{name}.dat"))
            }
            _ => file_path.with_extension("dat"),
        };
        crema_engine::waveform::WaveformOutput {
            path,
            format: crema_engine::waveform::DataFormat::Dat,
            options: Default::default(),
            track: None,
        }
    });
    EncodeRequest {
        input: input.to_path_buf(),
        profile: args.profile.clone(),
        file: want_file.then_some(FileRequest { path: file_path, container }),
        hls,
        waveform,
        audio: args.audio,
        target_height: args.target_height,
        encoder: preference,
        decoder: DecodePreference::parse(&args.decoder).expect("clap restricts the values"),
        overwrite: args.overwrite,
        measure: args.measure,
        target_vmaf: args.target_vmaf,
        chunk_workers: args.chunk_workers,
    }
}

/// The single file's container: `--container`, else the `-o` extension, else MP4.
fn container_of(args: &EncodeArgs) -> Container {
    match (args.container, output_extension_container(args)) {
        (Some(ContainerArg::Mkv), _) | (None, Some(Container::Mkv)) => Container::Mkv,
        _ => Container::Mp4,
    }
}

fn output_extension_container(args: &EncodeArgs) -> Option<Container> {
    let ext = args.output.as_ref()?.extension()?.to_string_lossy().to_ascii_lowercase();
    match ext.as_str() {
        "mkv" | "mka" => Some(Container::Mkv),
        "mp4" | "m4v" | "m4a" | "mov" => Some(Container::Mp4),
        _ => None,
    }
}

fn encode(args: EncodeArgs) -> u8 {
    let usage = |msg: String| {
        if args.json {
            print_json_line(&error_line(None, &EngineError::Usage(msg.clone())));
        }
        eprintln!("crema: {msg}");
        exit::USAGE
    };
    if args.output.is_some() && args.inputs.len() > 1 {
        return usage("-o/--output takes one input; use --output-dir for several".into());
    }
    if let (Some(asked), Some(by_name)) = (args.container, output_extension_container(&args)) {
        let asked = match asked {
            ContainerArg::Mp4 => Container::Mp4,
            ContainerArg::Mkv => Container::Mkv,
        };
        if asked != by_name {
            return usage(format!(
                "--container {} contradicts the output name {}",
                asked.extension(),
                args.output.as_ref().map(|o| o.display().to_string()).unwrap_or_default()
            ));
        }
    }
    let hls_shape = args.hls.then_some(crema_engine::request::HlsShape {
        renditions: &args.renditions,
        segment_seconds: args.segment_seconds,
    });
    if let Err(e) = crema_engine::request::check_output(args.target_height, hls_shape) {
        return usage(e.to_string());
    }
    if let Some(dir) = args.output_dir.as_ref().filter(|d| !d.is_dir()) {
        let cause = if dir.exists() { "not a folder" } else { "folder does not exist" };
        let e = EngineError::OutputNotWritable { path: dir.clone(), cause: cause.into() };
        eprintln!("crema: {e}");
        if args.json {
            print_json_line(&error_line(None, &e));
        }
        return exit::OUTPUT;
    }
    let preference = Preference::parse(&args.encoder).expect("clap restricts the values");
    let profiles = match load_profiles() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("crema: {e}");
            return exit_code(&e);
        }
    };
    if let Err(e) = profiles.get(&args.profile) {
        return usage(e.to_string());
    }
    let cancel = CancelFlag::new();
    {
        let cancel = cancel.clone();
        let _ = ctrlc::set_handler(move || cancel.cancel());
    }
    let mut first_failure = None;
    for input in &args.inputs {
        if cancel.is_canceled() {
            break;
        }
        let req = build_request(&args, input, preference);
        let code = encode_one(&req, &profiles, &cancel, args.json);
        if code != exit::OK && first_failure.is_none() {
            first_failure = Some(code);
        }
        if code == exit::CANCELED {
            break;
        }
    }
    if cancel.is_canceled() {
        return exit::CANCELED;
    }
    first_failure.unwrap_or(exit::OK)
}

fn encode_one(req: &EncodeRequest, profiles: &ProfileSet, cancel: &CancelFlag, json: bool) -> u8 {
    let (tx, rx) = std::sync::mpsc::channel::<Event>();
    let worker = {
        let (req, profiles, cancel) = (req.clone(), profiles.clone(), cancel.clone());
        std::thread::Builder::new()
            .name("crema-encode".into())
            .spawn(move || crema_engine::encode::run(&req, &profiles, &cancel, &mut |e| drop(tx.send(e))))
            .expect("spawn encode thread")
    };
    let name = req.input.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let bar = (!json).then(|| {
        let bar = ProgressBar::new(1000);
        bar.set_style(
            ProgressStyle::with_template("{prefix:.bold} [{bar:30.cyan/blue}] {percent:>3}% {msg}")
                .expect("valid template")
                .progress_chars("=> "),
        );
        bar.set_prefix(name.clone());
        bar.enable_steady_tick(Duration::from_millis(200));
        bar
    });
    for event in rx {
        if let Event::Canceled = event {
            // Partial outputs are gone already; the engine is only releasing
            // FFmpeg resources now, which can take a moment with x265. Ctrl-C
            // must end the process within a second, so exit here.
            if let Some(bar) = &bar {
                bar.finish_and_clear();
            }
            if json {
                print_json_line(&error_line(Some(&req.input), &EngineError::Canceled));
            }
            eprintln!("crema: {name}: canceled, partial outputs removed");
            std::process::exit(i32::from(exit::CANCELED));
        }
        if json {
            let mut v = serde_json::to_value(&event).unwrap_or_default();
            v["input"] = serde_json::json!(req.input);
            print_json_line(&v);
            continue;
        }
        let Some(bar) = &bar else { continue };
        match event {
            Event::Stage { stage } => bar.set_message(stage_name(stage).to_string()),
            Event::Progress { stage, percent, fps, eta_seconds, .. } => {
                bar.set_position((percent * 10.0) as u64);
                let eta = eta_seconds.map_or(String::new(), |s| format!(" ETA {}", format_eta(s)));
                bar.set_message(format!("{} {fps:.1} fps{eta}", stage_name(stage)));
            }
            Event::Encoder { output, encoder, reason } => {
                bar.println(format!("  {name}: {output}: {encoder} ({reason})"))
            }
            Event::Notice { message } => bar.println(format!("  {name}: {message}")),
            Event::Warning { message } => bar.println(format!("  {name}: warning: {message}")),
            Event::Canceled => {}
        }
    }
    let result = worker.join().unwrap_or_else(|_| Err(EngineError::Internal("the encode thread panicked".into())));
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    match result {
        Ok(res) => {
            if json {
                let mut v = serde_json::to_value(&res).unwrap_or_default();
                v["event"] = "result".into();
                v["input"] = serde_json::json!(req.input);
                print_json_line(&v);
            } else {
                print_result(&name, &res);
            }
            exit::OK
        }
        Err(e) => {
            if json {
                print_json_line(&error_line(Some(&req.input), &e));
            }
            if matches!(e, EngineError::Canceled) {
                eprintln!("crema: {name}: canceled, partial outputs removed");
            } else {
                eprintln!("crema: {e}");
            }
            exit_code(&e)
        }
    }
}

fn stage_name(s: Stage) -> &'static str {
    match s {
        Stage::Probing => "probing",
        Stage::Analyzing => "analyzing",
        Stage::Encoding => "encoding",
        Stage::Muxing => "muxing",
        Stage::Measuring => "measuring",
    }
}

fn format_eta(s: u64) -> String {
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

fn human_bytes(b: u64) -> String {
    let b = b as f64;
    if b >= 1e9 {
        format!("{:.2} GB", b / 1e9)
    } else if b >= 1e6 {
        format!("{:.1} MB", b / 1e6)
    } else {
        format!("{:.0} kB", b / 1e3)
    }
}

fn print_result(name: &str, res: &EncodeResult) {
    println!(
        "{name}: {} → {} in {:.1} s",
        res.profile,
        if res.effective_profile_id != res.profile { res.effective_profile_id.as_str() } else { "done" },
        res.elapsed_seconds
    );
    if let Some(r) = &res.profile_reason {
        println!("  profile: {r}");
    }
    if res.final_artifact == FinalArtifact::Original {
        println!("  kept the original ({}): encoding would not make it smaller", human_bytes(res.source.bytes));
        return;
    }
    for w in &res.warnings {
        println!("  warning: {w}");
    }
    for o in &res.outputs {
        let enc = o.encoder.as_ref().map_or(String::new(), |e| format!(", {}", e.name));
        println!(
            "  {}: {} ({}, {}x{}, {:.2} s{enc})",
            o.kind,
            o.path.display(),
            human_bytes(o.bytes),
            o.width,
            o.height,
            o.duration_seconds
        );
        for r in &o.renditions {
            println!(
                "    {}p: {}x{} {} kbit/s peak, {} kbit/s average, {}",
                r.height,
                r.width,
                r.height,
                r.bandwidth / 1000,
                r.average_bandwidth / 1000,
                r.codecs
            );
        }
    }
    if let Some(w) = &res.waveform {
        println!(
            "  waveform: {} ({}, {} px at {} samples/px, {} Hz)",
            w.path.display(),
            human_bytes(w.bytes),
            w.length,
            w.samples_per_pixel,
            w.sample_rate
        );
    }
    if let Some(q) = &res.quality {
        println!(
            "  quality ({}, {} frames at {}x{}): VMAF {:.2} (harmonic {:.2}, 1% low {:.2}, min {:.2}), \
             PSNR {:.2} dB, SSIM {:.4}",
            q.output,
            q.frames,
            q.width,
            q.height,
            q.vmaf.mean,
            q.vmaf.harmonic_mean,
            q.vmaf.p1,
            q.vmaf.min,
            q.psnr.mean,
            q.ssim.mean
        );
    }
    println!("  source {} → saved {:.1}%", human_bytes(res.source.bytes), res.saved_percent);
}

fn probe_cmd(inputs: &[PathBuf], json: bool) -> u8 {
    let mut code = exit::OK;
    for input in inputs {
        match probe::probe(input) {
            Ok(info) => {
                if json {
                    print_json_line(&serde_json::to_value(&info).unwrap_or_default());
                } else {
                    print_probe(&info);
                }
            }
            Err(e) => {
                if json {
                    print_json_line(&error_line(Some(input), &e));
                }
                eprintln!("crema: {e}");
                if code == exit::OK {
                    code = exit_code(&e);
                }
            }
        }
    }
    code
}

fn print_probe(i: &probe::MediaInfo) {
    println!("{}: {} ({}), {:.2} s, {}", i.name, i.container, human_bytes(i.bytes), i.duration_seconds, i.sha256);
    if let Some(v) = &i.video {
        println!(
            "  video #{}: {} {} {} {}-bit, {} @ {} fps{}{}, rotation {}°, field order {}",
            v.index,
            v.codec,
            v.profile.as_deref().unwrap_or(""),
            v.pix_fmt,
            v.bit_depth,
            i.resolution.as_deref().unwrap_or("?"),
            i.frame_rate.as_deref().unwrap_or("?"),
            if v.variable_frame_rate { " (variable)" } else { "" },
            v.hdr.as_deref().map_or(String::new(), |h| format!(", HDR {}", h.to_uppercase())),
            v.rotation,
            v.field_order
        );
        println!(
            "    color: primaries {}, transfer {}, matrix {}, range {}",
            v.color_primaries.as_deref().unwrap_or("unspecified"),
            v.color_transfer.as_deref().unwrap_or("unspecified"),
            v.color_matrix.as_deref().unwrap_or("unspecified"),
            v.color_range.as_deref().unwrap_or("unspecified")
        );
    } else {
        println!("  no video stream");
    }
    for a in &i.audio {
        println!(
            "  audio #{}: {} {} ch ({}) {} Hz{}",
            a.index,
            a.codec,
            a.channels,
            a.layout.as_deref().unwrap_or("?"),
            a.sample_rate,
            a.language.as_deref().map_or(String::new(), |l| format!(", {l}"))
        );
    }
    for s in i.subtitles.iter().chain(&i.data) {
        println!("  other #{}: {}", s.index, s.codec);
    }
    for p in &i.programs {
        let name = match (&p.service_name, &p.service_provider) {
            (Some(n), Some(by)) => format!(" \"{n}\" ({by})"),
            (Some(n), None) => format!(" \"{n}\""),
            (None, Some(by)) => format!(" ({by})"),
            (None, None) => String::new(),
        };
        let streams: Vec<String> = p.streams.iter().map(|s| format!("#{s}")).collect();
        let chosen = i.video.as_ref().is_some_and(|v| p.streams.contains(&v.index));
        println!("  program {}{name}: streams {}{}", p.id, streams.join(" "), if chosen { " (encoded)" } else { "" });
    }
    if let Some(tc) = &i.timecode {
        println!("  timecode {tc}");
    }
}

fn profiles_cmd(json: bool) -> u8 {
    let set = match load_profiles() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("crema: {e}");
            return exit_code(&e);
        }
    };
    if json {
        let list: Vec<_> = set.iter().collect();
        println!("{}", serde_json::to_string_pretty(&list).unwrap_or_default());
    } else {
        for p in set.iter() {
            println!(
                "{:<28} {:<9} {}",
                p.id,
                serde_json::to_value(p.group).unwrap_or_default().as_str().unwrap_or(""),
                p.description
            );
        }
    }
    exit::OK
}

fn encoders_cmd(json: bool) -> u8 {
    let list = encoder::detect_all(VideoCodec::Hevc);
    if json {
        println!("{}", serde_json::to_string_pretty(&list).unwrap_or_default());
    } else {
        for d in &list {
            println!("{:<13} {:<4} {}", d.backend.cli_name(), if d.available { "yes" } else { "no" }, d.reason);
        }
        println!("hardware decoders (--decoder), for HEVC:");
        for (b, ok, reason) in hw_decode::detect_all(VideoCodec::Hevc) {
            println!("{:<13} {:<4} {}", b.cli_name(), if ok { "yes" } else { "no" }, reason);
        }
    }
    exit::OK
}

fn hls_check(dir: &Path, json: bool) -> u8 {
    match crema_engine::hls::check_package(dir) {
        Ok(report) => {
            if json {
                let violations: Vec<_> = report
                    .violations
                    .iter()
                    .map(|v| serde_json::json!({"rule": v.rule, "spec": v.spec, "location": v.location, "message": v.message}))
                    .collect();
                let v = serde_json::json!({
                    "ok": report.violations.is_empty(),
                    "variants": report.variants,
                    "audio_renditions": report.audio_renditions,
                    "segments": report.segments,
                    "violations": violations,
                });
                println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
            } else {
                print!("{report}");
            }
            if report.violations.is_empty() { exit::OK } else { exit::FAILED }
        }
        Err(e) => {
            eprintln!("crema: {e}");
            exit_code(&e)
        }
    }
}
