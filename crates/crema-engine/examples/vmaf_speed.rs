//! Speed of in-process quality measurement (`quality::compare`: decode both
//! files, convert, PSNR/SSIM, VMAF) with 0, 1 and 2 libvmaf threads, with and
//! without VMAF NEG.
//!
//! ```sh
//! cargo run --release -p crema-engine --example vmaf_speed -- REFERENCE DISTORTED
//! ```
//!
//! Prints frames per second of wall time and per CPU-second (the second is
//! what to compare on a machine shared with other work), and the load average.

use crema_engine::CancelFlag;
use crema_engine::quality::{QualityOptions, compare};
use std::path::Path;
use std::time::Instant;

/// User + system CPU seconds of this process so far.
fn cpu_seconds() -> f64 {
    // SAFETY: getrusage fills the zeroed struct it is given.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let t = |v: libc::timeval| v.tv_sec as f64 + v.tv_usec as f64 / 1e6;
    t(u.ru_utime) + t(u.ru_stime)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, reference, distorted] = args.as_slice() else {
        eprintln!("usage: vmaf_speed REFERENCE DISTORTED");
        std::process::exit(2);
    };
    let (reference, distorted) = (Path::new(reference), Path::new(distorted));
    let load = || std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("load average before: {}", load().trim());
    for neg in [false, true] {
        for threads in [0usize, 1, 2] {
            let options = QualityOptions { neg, threads, ..QualityOptions::default() };
            let (t0, c0) = (Instant::now(), cpu_seconds());
            let report = match compare(reference, distorted, &options, &CancelFlag::new(), &mut |_| {}) {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("vmaf_speed: {e}");
                    std::process::exit(1);
                }
            };
            let (wall, cpu) = (t0.elapsed().as_secs_f64(), cpu_seconds() - c0);
            let n = report.frames_scored as f64;
            println!(
                "{}x{} {} neg={neg} threads={threads}: {} frames, {wall:.2} s wall = {:.2} fps, {cpu:.2} CPU-s = {:.2} frames/CPU-s, VMAF {:.3}",
                report.width,
                report.height,
                report.pixel_format,
                report.frames_scored,
                n / wall,
                n / cpu,
                report.vmaf.mean
            );
        }
    }
    println!("load average after: {}", load().trim());
}
