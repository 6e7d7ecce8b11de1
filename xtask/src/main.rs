//! `cargo xtask …`: developer tasks that are not part of the product.
//!
//! - `cargo xtask bench [OPTIONS]`: Crema's H.264 HLS ladder and HEVC file
//!   against the `ffmpeg` command line on the same clip, in one session
//!   (see [`bench`]). Exit codes: 0 done, 1 a case failed, 2 usage (missing
//!   clip, unknown profile), 4 a work folder could not be written.
//! - `cargo xtask cancel [OPTIONS]`: seconds from Ctrl-C to exit of `crema
//!   encode`, against the encode's own time per frame (see [`cancel`]).
//! - `cargo xtask quality [CLIPS…]`: `sophon-auto`'s verified encodes on a
//!   corpus, scored from outside, with BD-rate against fixed-CRF
//!   `sophon-cortado` and the CPU cost (see [`quality`]).

use clap::{Parser, Subcommand};
use std::process::ExitCode;

mod bench;
mod cancel;
mod quality;

/// Crema's developer tasks.
#[derive(Parser)]
#[command(name = "cargo xtask", version, about)]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Crema against `ffmpeg` on one clip: HLS ladder and HEVC file, wall and
    /// CPU time, peak memory, and the ratios to the reference.
    Bench(bench::BenchArgs),
    /// Seconds from Ctrl-C to exit of `crema encode`, per profile, against
    /// the encode's own time per frame.
    Cancel(cancel::CancelArgs),
    /// `sophon-auto`'s verified encodes on a corpus: full VMAF of what was
    /// delivered, BD-rate against fixed-CRF `sophon-cortado`, CPU cost.
    Quality(quality::QualityArgs),
}

fn main() -> ExitCode {
    match Cli::parse().task {
        Task::Bench(args) => ExitCode::from(bench::run(args)),
        Task::Cancel(args) => ExitCode::from(cancel::run(args)),
        Task::Quality(args) => ExitCode::from(quality::run(args)),
    }
}
