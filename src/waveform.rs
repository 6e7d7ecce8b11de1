//! `crema waveform`: BBC audiowaveform-compatible waveform data (`.dat` or
//! JSON) for one audio track of a file, computed in process by the engine.

use crate::{error_line, exit, exit_code, print_json_line};
use clap::Args;
use crema_engine::EngineError;
use crema_engine::progress::CancelFlag;
use crema_engine::waveform::{self, Bits, DataFormat, Resolution, WaveformOptions, WaveformRequest};
use indicatif::{ProgressBar, ProgressStyle};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// `crema waveform` options (audiowaveform's names where it has them).
#[derive(Args)]
pub struct WaveformArgs {
    /// Source file: any audio FFmpeg reads, or a video file with audio.
    input: PathBuf,
    /// Output file, `.dat` (binary) or `.json` (default: INPUT's name with `.dat`, beside it).
    #[arg(long, short = 'o')]
    output: Option<PathBuf>,
    /// Audio track: the stream number `crema probe` lists as `audio #N` (default: the best audio track).
    #[arg(long)]
    track: Option<usize>,
    /// Waveform points per second of audio (samples per pixel = sample rate / N).
    #[arg(long, conflicts_with = "samples_per_pixel", value_parser = clap::value_parser!(u32).range(1..))]
    pixels_per_second: Option<u32>,
    /// Audio samples per waveform point, 2 or more [default: 256].
    #[arg(long, value_parser = clap::value_parser!(u32).range(2..=i64::from(i32::MAX)))]
    samples_per_pixel: Option<u32>,
    /// Bits per value: 8 (what peaks.js reads) or 16.
    #[arg(long, default_value_t = 8, value_parser = parse_bits)]
    bits: u8,
    /// One waveform per audio channel instead of a mono mix (`.dat` version 2).
    #[arg(long)]
    split_channels: bool,
    /// Replace an existing output file.
    #[arg(long)]
    overwrite: bool,
    /// Progress and result as JSON lines on stdout.
    #[arg(long)]
    json: bool,
}

fn parse_bits(s: &str) -> Result<u8, String> {
    match s {
        "8" => Ok(8),
        "16" => Ok(16),
        _ => Err("must be 8 or 16".into()),
    }
}

/// Runs `crema waveform`; returns the exit code.
pub fn run(args: WaveformArgs) -> u8 {
    let fail = |e: EngineError| {
        if args.json {
            print_json_line(&error_line(Some(&args.input), &e));
        }
        eprintln!("crema: {e}");
        exit_code(&e)
    };
    let output = match output_path(&args) {
        Ok(o) => o,
        Err(e) => return fail(e),
    };
    let format = DataFormat::from_path(&output).expect("output_path checked the extension");
    if let Err(e) = check_output(&args.input, &output, args.overwrite) {
        return fail(e);
    }
    let resolution = match (args.pixels_per_second, args.samples_per_pixel) {
        (Some(pps), _) => Resolution::PixelsPerSecond(pps),
        (None, Some(spp)) => Resolution::SamplesPerPixel(spp),
        (None, None) => Resolution::default(),
    };
    let options = WaveformOptions {
        resolution,
        bits: Bits::from_value(args.bits).expect("clap allows 8 and 16"),
        split_channels: args.split_channels,
    };
    let req = WaveformRequest { input: args.input.clone(), track: args.track, options };
    let cancel = CancelFlag::new();
    {
        let cancel = cancel.clone();
        let _ = ctrlc::set_handler(move || cancel.cancel());
    }
    let name = args.input.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let bar = (!args.json).then(|| {
        let bar = ProgressBar::new(1000);
        bar.set_style(
            ProgressStyle::with_template("{prefix:.bold} [{bar:30.cyan/blue}] {percent:>3}% {msg}")
                .expect("valid template")
                .progress_chars("=> "),
        );
        bar.set_prefix(name.clone());
        bar.set_message("waveform");
        bar
    });
    let started = Instant::now();
    let result = waveform::generate(&req, &cancel, &mut |p| {
        if args.json {
            let mut v = serde_json::to_value(p).unwrap_or_default();
            v["event"] = "progress".into();
            v["input"] = serde_json::json!(args.input);
            print_json_line(&v);
        } else if let (Some(bar), Some(pct)) = (&bar, p.percent) {
            bar.set_position((pct * 10.0) as u64);
        }
    });
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let generated = match result {
        Ok(g) => g,
        Err(EngineError::Canceled) => {
            if args.json {
                print_json_line(&error_line(Some(&args.input), &EngineError::Canceled));
            }
            eprintln!("crema: {name}: canceled, nothing written");
            return exit::CANCELED;
        }
        Err(e) => return fail(e),
    };
    let w = &generated.waveform;
    let bytes = match w.save(&output, format, args.overwrite) {
        Ok(b) => b,
        Err(e) => return fail(e),
    };
    let elapsed = started.elapsed().as_secs_f64();
    if args.json {
        print_json_line(&serde_json::json!({
            "event": "result",
            "input": args.input,
            "output": output,
            "format": format.extension(),
            "version": if format == DataFormat::Json { 2 } else { w.dat_version() },
            "track": generated.track,
            "codec": generated.codec,
            "source_channels": generated.source_channels,
            "channels": w.channels(),
            "sample_rate": w.sample_rate(),
            "samples_per_pixel": w.samples_per_pixel(),
            "bits": w.bits().value(),
            "length": w.length(),
            "duration_seconds": w.duration_seconds(),
            "bytes": bytes,
            "skipped_packets": generated.skipped_packets,
            "elapsed_seconds": elapsed,
        }));
    } else {
        println!(
            "{name}: track {} ({}, {} ch) → {} ({} point{} × {} channel{}, {} samples/point at {} Hz, {}-bit, {bytes} bytes) in {elapsed:.2} s",
            generated.track,
            generated.codec,
            generated.source_channels,
            output.display(),
            w.length(),
            if w.length() == 1 { "" } else { "s" },
            w.channels(),
            if w.channels() == 1 { "" } else { "s" },
            w.samples_per_pixel(),
            w.sample_rate(),
            w.bits().value(),
        );
        if generated.skipped_packets > 0 {
            println!("  {} damaged packet(s) skipped", generated.skipped_packets);
        }
    }
    exit::OK
}

/// `-o`, else INPUT's stem + `.dat` beside the input; the extension picks the form.
fn output_path(args: &WaveformArgs) -> Result<PathBuf, EngineError> {
    let out = match &args.output {
        Some(o) => o.clone(),
        None => {
            let stem =
                args.input.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "waveform".into());
            args.input.with_file_name(format!("{stem}.dat"))
        }
    };
    if DataFormat::from_path(&out).is_none() {
        return Err(EngineError::Usage(format!("{}: the output name must end in .dat or .json", out.display())));
    }
    Ok(out)
}

/// Fails before any decoding when the output cannot be written.
fn check_output(input: &Path, output: &Path, overwrite: bool) -> Result<(), EngineError> {
    if let (Ok(a), Ok(b)) = (input.canonicalize(), output.canonicalize())
        && a == b
    {
        return Err(EngineError::OutputNotWritable {
            path: output.into(),
            cause: "output would replace the input".into(),
        });
    }
    if output.exists() && !overwrite {
        return Err(EngineError::OutputNotWritable {
            path: output.into(),
            cause: "already exists (use --overwrite to replace it)".into(),
        });
    }
    let parent = output.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    if !parent.is_dir() {
        return Err(EngineError::OutputNotWritable { path: output.into(), cause: "folder does not exist".into() });
    }
    Ok(())
}
