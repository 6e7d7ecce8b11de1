//! `crema bench` (being written).
use clap::Args;

/// Benchmark options.
#[derive(Args)]
pub struct BenchArgs {}

/// Runs the benchmark.
pub fn run(_args: BenchArgs) -> u8 {
    eprintln!("crema bench: not available in this build");
    2
}
