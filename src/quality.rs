//! `crema quality REFERENCE DISTORTED`: VMAF, VMAF NEG, PSNR and SSIM of an
//! encode against its source, measured in process (libvmaf inside Crema),
//! with the distorted video scaled to the reference size and frames paired
//! by timestamp (see `crema_engine::quality`).

use crate::{EngineError, error_line, exit, exit_code, format_eta, print_json_line};
use clap::Args;
use crema_engine::progress::{CancelFlag, Event};
use crema_engine::quality::{self, FrameScore, Model, Pooled, QualityOptions, QualityReport};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// `crema quality` options.
#[derive(Args)]
pub struct QualityArgs {
    /// The reference: the source the encode was made from.
    reference: PathBuf,
    /// The distorted video: the encode (any size; scaled to the reference's).
    distorted: PathBuf,
    /// Progress and the report as JSON lines on stdout (the last line is `"event": "result"`).
    #[arg(long)]
    json: bool,
    /// Also write every scored frame's scores to this CSV file.
    #[arg(long, value_name = "FILE.csv")]
    per_frame: Option<PathBuf>,
    /// VMAF model: auto picks vmaf_4k_v0.6.1 for references larger than 2560x1440.
    #[arg(long, default_value = "auto", value_parser = ["auto", "vmaf_v0.6.1", "vmaf_4k_v0.6.1"])]
    model: String,
    /// Score every Nth frame only (odd: 1, 3, 5...; even steps alias with encoder GOP patterns).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=99))]
    subsample: u32,
    /// Skip VMAF NEG (about halves the VMAF work).
    #[arg(long)]
    no_neg: bool,
    /// libvmaf worker threads (default: one per core; 0 = on the decoding thread).
    #[arg(long, value_parser = clap::value_parser!(u16).range(0..=64))]
    threads: Option<u16>,
}

/// Runs `crema quality`; returns the exit code.
pub fn run(args: QualityArgs) -> u8 {
    let fail = |e: EngineError| {
        if args.json {
            print_json_line(&error_line(Some(&args.distorted), &e));
        }
        eprintln!("crema: {e}");
        exit_code(&e)
    };
    if args.subsample.is_multiple_of(2) {
        return fail(EngineError::Usage(format!(
            "--subsample {}: must be odd (an even step aliases with the encoder's mini-GOP pattern)",
            args.subsample
        )));
    }
    let mut options = QualityOptions {
        model: Model::parse(&args.model).expect("clap restricts the values"),
        neg: !args.no_neg,
        subsample: args.subsample,
        ..QualityOptions::default()
    };
    if let Some(t) = args.threads {
        options.threads = usize::from(t);
    }
    // Fail on an unwritable CSV before minutes of scoring, not after.
    let csv = match &args.per_frame {
        Some(path) => match std::fs::File::create(path) {
            Ok(f) => Some((path.clone(), f)),
            Err(e) => {
                return fail(EngineError::OutputNotWritable { path: path.clone(), cause: e.to_string() });
            }
        },
        None => None,
    };
    let result = measure(&args, &options);
    let report = match result {
        Ok(r) => r,
        Err(e) => {
            if let Some((path, _)) = &csv {
                let _ = std::fs::remove_file(path);
            }
            return fail(e);
        }
    };
    if let Some((path, file)) = csv
        && let Err(e) = write_csv(file, &report.frames)
    {
        let _ = std::fs::remove_file(&path);
        return fail(EngineError::OutputNotWritable { path, cause: e.to_string() });
    }
    if args.json {
        let mut v = serde_json::to_value(&report).unwrap_or_default();
        v["event"] = "result".into();
        v["reference"] = serde_json::json!(args.reference);
        v["distorted"] = serde_json::json!(args.distorted);
        v["libvmaf"] = quality::libvmaf_version().into();
        print_json_line(&v);
    } else {
        print_report(&args.reference, &args.distorted, &report);
    }
    exit::OK
}

/// Runs the comparison on a worker thread, rendering its events here.
fn measure(args: &QualityArgs, options: &QualityOptions) -> Result<QualityReport, EngineError> {
    let cancel = CancelFlag::new();
    {
        let cancel = cancel.clone();
        let _ = ctrlc::set_handler(move || cancel.cancel());
    }
    let (tx, rx) = std::sync::mpsc::channel::<Event>();
    let worker = {
        let (r, d, o, c) = (args.reference.clone(), args.distorted.clone(), options.clone(), cancel.clone());
        std::thread::Builder::new()
            .name("crema-quality".into())
            .spawn(move || quality::compare(&r, &d, &o, &c, &mut |e| drop(tx.send(e))))
            .map_err(|e| EngineError::Internal(format!("cannot start the measuring thread: {e}")))?
    };
    let bar = (!args.json).then(|| {
        let bar = ProgressBar::new(1000);
        bar.set_style(
            ProgressStyle::with_template("{prefix:.bold} [{bar:30.cyan/blue}] {percent:>3}% {msg}")
                .expect("valid template")
                .progress_chars("=> "),
        );
        bar.set_prefix("quality");
        bar.enable_steady_tick(Duration::from_millis(200));
        bar
    });
    for event in rx {
        if let Event::Canceled = event {
            if let Some(bar) = &bar {
                bar.finish_and_clear();
            }
            if args.json {
                print_json_line(&error_line(Some(&args.distorted), &EngineError::Canceled));
            }
            eprintln!("crema: canceled");
            std::process::exit(i32::from(exit::CANCELED));
        }
        if args.json {
            print_json_line(&serde_json::to_value(&event).unwrap_or_default());
        } else if let (Some(bar), Event::Progress { percent, fps, eta_seconds, .. }) = (&bar, &event) {
            bar.set_position((percent * 10.0) as u64);
            let eta = eta_seconds.map_or(String::new(), |s| format!(" ETA {}", format_eta(s)));
            bar.set_message(format!("{fps:.1} fps{eta}"));
        }
    }
    let result = worker.join().unwrap_or_else(|_| Err(EngineError::Internal("the measuring thread panicked".into())));
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    result
}

/// One row per scored frame; every field is a number, so no quoting is needed.
fn write_csv(file: std::fs::File, frames: &[FrameScore]) -> std::io::Result<()> {
    let mut w = std::io::BufWriter::new(file);
    writeln!(w, "frame,reference_seconds,distorted_seconds,vmaf,vmaf_neg,psnr_y,psnr_cb,psnr_cr,psnr,ssim_y,ssim")?;
    for f in frames {
        let neg = f.vmaf_neg.map_or(String::new(), |v| format!("{v:.6}"));
        writeln!(
            w,
            "{},{:.6},{:.6},{:.6},{neg},{:.6},{:.6},{:.6},{:.6},{:.6},{:.6}",
            f.index,
            f.reference_seconds,
            f.distorted_seconds,
            f.vmaf,
            f.psnr_y,
            f.psnr_cb,
            f.psnr_cr,
            f.psnr,
            f.ssim_y,
            f.ssim
        )?;
    }
    w.flush()
}

fn print_report(reference: &Path, distorted: &Path, r: &QualityReport) {
    let name = |p: &Path| p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    println!("{} against {}", name(distorted), name(reference));
    println!(
        "  {} of {} frame pairs scored at {}x{} {} ({}-bit), model {}",
        r.frames_scored, r.frames_compared, r.width, r.height, r.pixel_format, r.bit_depth, r.model
    );
    if let Some(p) = &r.pairing {
        println!(
            "  paired by timestamp: {} pairs, {} reference frames without a match (dropped), {} extra distorted frames",
            p.paired, p.unmatched_reference, p.unmatched_distorted
        );
    }
    println!();
    println!("  {:<10} {:>9} {:>9} {:>9} {:>9}", "metric", "mean", "harmonic", "p1", "min");
    let row = |label: &str, p: &Pooled, digits: usize| {
        println!(
            "  {label:<10} {:>9.digits$} {:>9.digits$} {:>9.digits$} {:>9.digits$}",
            p.mean, p.harmonic_mean, p.p1, p.min
        );
    };
    row("VMAF", &r.vmaf, 3);
    if let Some(neg) = &r.vmaf_neg {
        row("VMAF NEG", neg, 3);
    }
    row("PSNR Y", &r.psnr_y, 3);
    row("PSNR", &r.psnr, 3);
    row("SSIM Y", &r.ssim_y, 5);
    row("SSIM", &r.ssim, 5);
}
