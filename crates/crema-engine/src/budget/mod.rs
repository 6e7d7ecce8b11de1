//! The memory bound of one job (how many frames each software encoder may
//! hold at once) and its thread plan ([`ThreadPlan`], in `threads.rs`: how
//! many threads each encoder gets).
//!
//! One job decodes once and feeds every output's encoder (the single file,
//! each HLS rung) at the same time, so its memory is the sum over its
//! encoders of *frames in flight × bytes per frame*. What an encoder holds,
//! per output:
//!
//! | holder | frames | set by |
//! |---|---|---|
//! | lookahead (mbtree / cutree, B-frame decision) | `rc-lookahead` | [`lookahead_frames`] (at most the preset's) |
//! | B-frames waiting for their reference | `bframes` (x264 3, x265 4 at medium) | the profile |
//! | frames being encoded in parallel (T) | x264 `threads` ≤ [`MAX_X264_THREADS`], x265 `frame-threads` ≤ [`MAX_X265_FRAME_THREADS`] | the [`ThreadPlan`]: the output's share of the job's pixels |
//! | reference pictures | 3..5 (`ref`) + 1 | the profile |
//! | filter graph (scale, format) | ≤ 2 | the pipeline drains every sink after each frame |
//!
//! So each rung holds about **L + 9 + T frames** (L the lookahead below, T
//! its frame threads, plus at most 4 B-frames, 5 references and 2 filter
//! frames waiting), where a frame costs about 5 bytes per luma sample in x264 or
//! x265 (the picture, its half-resolution lookahead copy and analysis data;
//! measured with `/usr/bin/time -v` on 8-rung ladders, below). Before, x264 ran
//! medium's 40-frame lookahead on every rung and its default of
//! `1.5 × cores` frame threads (24 on 16 cores), so a ladder's memory grew
//! with the machine and with the rung count, which nothing capped.
//!
//! The lookahead of one job shares [`LOOKAHEAD_BUDGET_SAMPLES`]: a single
//! 1080p output keeps its preset's lookahead, an 8-rung 1080p ladder (5.8 M
//! luma samples per frame over all rungs) gets 20 frames, and no job goes
//! below [`MIN_LOOKAHEAD_FRAMES`]. Together with the caps on rungs
//! ([`crate::request::MAX_RUNGS`]) and on the pictures one job writes
//! ([`JOB_MAX_OUTPUT_SAMPLES`]), one job's encoders hold at most about
//! `5 B × (L + 9 + T) × Σ samples`: ≈ 1 GB for the 8-rung 1080p ladder on 2
//! cores (T = 2 on every rung there; 3 for a single output). The thread plan
//! gives the largest rungs the most frame threads, so on 16 cores the 8-rung
//! ladder's Σ T × samples (9, 6, 4, 3, 2, 2, 2, 2 threads from 1080p down:
//! 34 M) is what the earlier flat cap of 6 per rung gave (35 M). It grows on
//! bigger machines, bounded by the cap of 16 per encoder: 63 M on 32 cores
//! and 81 M on 64 (by the formula, 1.16 GB and 1.25 GB for the 8-rung
//! ladder instead of 1.01 GB), and a single 1080p output may now hold 10
//! more frames than the old cap let it.
//!
//! Measured peak RSS (`/usr/bin/time -v`) of `crema encode
//! prores_hq_1080p25_10bit.mov -p sophon-cortado --hls --renditions
//! 1080,900,720,576,480,360,240,144 --segment-seconds 2 --audio` (4 s of
//! 1080p25, 8 rungs) on 2 cores; "as on 16 cores" gives the old build the
//! thread counts the encoders pick there (x264 `threads=24`, x265
//! `frame-threads=4`), the new one what it allowed there (a flat 6 and 3
//! per encoder, before the thread plan; the plan's own figures are in
//! docs/benchmarks.md, "Thread plan"):
//!
//! | ladder | before | after |
//! |---|---|---|
//! | H.264 (x264 medium), 2 cores | 1409 MB | 1024 MB |
//! | H.264, thread counts as on 16 cores | 2823 MB | 1229 MB |
//! | HEVC (x265 medium: lookahead 20 already), 2 cores | 1345 MB | 1339 MB |
//! | HEVC, thread counts as on 16 cores | 1577 MB | 1496 MB |
//!
//! CPU time is unchanged (H.264 ladder 29.6 s before and 29.4–29.5 s after,
//! HEVC 48.4 s both, same machine, interleaved runs; wall time on the
//! shared 2-core machine varied with other load, 41–73 s for the same run).
//!
//! x265's share that does not depend on these settings (its thread pool
//! and per-frame-encoder buffers, ≈ 95 MB per encoder here) is the bulk of
//! the HEVC figure; the rung cap bounds it.

mod threads;

use crate::ffutil::Options;
pub use crate::levels::JOB_MAX_OUTPUT_SAMPLES;
pub use threads::{EncoderThreads, MAX_X264_THREADS, MAX_X265_FRAME_THREADS, MIN_X264_THREADS, ThreadPlan};

/// Luma samples × frames that the lookaheads of one job's encoders may hold
/// together (about 600 MB at 5 bytes per sample).
pub const LOOKAHEAD_BUDGET_SAMPLES: u64 = 120_000_000;
/// The shortest lookahead a job is given, frames (x264's `veryfast`).
pub const MIN_LOOKAHEAD_FRAMES: u32 = 10;
/// What every software encoder of one job is allowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    /// Longest lookahead, frames.
    pub lookahead: u32,
    /// How the job's encoders share the machine's threads.
    pub threads: ThreadPlan,
}

impl Budget {
    /// The budget of a job whose outputs add up to `samples` luma samples
    /// per frame, on a machine with `cores` logical CPUs.
    pub fn for_job(samples: u64, cores: usize) -> Self {
        Budget { lookahead: lookahead_frames(samples), threads: ThreadPlan::new(samples, cores) }
    }
}

/// The lookahead every encoder of a job gets when its outputs add up to
/// `samples` luma samples per frame: [`LOOKAHEAD_BUDGET_SAMPLES`] shared,
/// never below [`MIN_LOOKAHEAD_FRAMES`] (an encoder keeps its preset's when
/// that is shorter).
pub fn lookahead_frames(samples: u64) -> u32 {
    let l = LOOKAHEAD_BUDGET_SAMPLES / samples.max(1);
    u32::try_from(l).unwrap_or(u32::MAX).clamp(MIN_LOOKAHEAD_FRAMES, 250)
}

/// `rc-lookahead` of an x264/x265 preset, frames: x264's `--fullhelp`
/// preset list and x265's preset table ("Preset options", x265 3.5 docs).
pub fn preset_lookahead(encoder: &str, preset: &str) -> Option<u32> {
    const PRESETS: [&str; 10] =
        ["ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow", "placebo"];
    const X264: [u32; 10] = [0, 0, 10, 20, 30, 40, 50, 60, 60, 60];
    const X265: [u32; 10] = [5, 10, 15, 15, 15, 20, 25, 40, 40, 60];
    let i = PRESETS.iter().position(|p| *p == preset)?;
    match encoder {
        "libx264" => Some(X264[i]),
        "libx265" => Some(X265[i]),
        _ => None,
    }
}

/// The value of `key` in an `x264-params`/`x265-params` string (`a=1:b=2`), last one winning.
fn param(params: &str, key: &str) -> Option<String> {
    params
        .split(':')
        .filter_map(|kv| kv.split_once('='))
        .filter(|(k, _)| *k == key)
        .map(|(_, v)| v.to_string())
        .next_back()
}

/// The x-params entries that keep encoder `name` (libx264/libx265) of an
/// output of `samples` luma samples per frame (width × height) within
/// `budget`, given the options the profile set (`opts`, with `preset`,
/// `x264-params`/`x265-params`, `rc-lookahead`, `threads`). A lookahead or
/// frame-thread count the profile already set lower is kept, as is a
/// `pools` it set; nothing is returned for other encoders. Returned as
/// `key=value` strings for the `x264-params` / `x265-params` option, where
/// they come last and so win.
pub fn x_params(name: &str, opts: &Options, budget: Budget, samples: u64) -> Vec<String> {
    let get = |k: &str| opts.iter().rev().find(|(key, _)| key == k).map(|(_, v)| v.clone());
    let key = match name {
        "libx264" => "x264-params",
        "libx265" => "x265-params",
        _ => return vec![],
    };
    let params = get(key).unwrap_or_default();
    let preset = get("preset").unwrap_or_else(|| "medium".into());
    let asked_lookahead = param(&params, "rc-lookahead")
        .or_else(|| get("rc-lookahead"))
        .and_then(|v| v.parse::<u32>().ok())
        .or_else(|| preset_lookahead(name, &preset));
    let mut out = Vec::new();
    if asked_lookahead.is_some_and(|l| l > budget.lookahead) {
        out.push(format!("rc-lookahead={}", budget.lookahead));
    }
    let planned = budget.threads.for_output(samples);
    let (threads_key, cap) = if name == "libx264" {
        ("threads", planned.x264_threads)
    } else {
        ("frame-threads", planned.x265_frame_threads)
    };
    let asked_threads = param(&params, threads_key)
        .or_else(|| (name == "libx264").then(|| get("threads")).flatten())
        .and_then(|v| v.parse::<u32>().ok())
        .filter(|t| *t > 0);
    if asked_threads.is_none_or(|t| t > cap) {
        out.push(format!("{threads_key}={cap}"));
    }
    let profile_pools = param(&params, "pools").or_else(|| param(&params, "numa-pools"));
    if let Some(pool) = planned.x265_pool.filter(|_| name == "libx265" && profile_pools.is_none()) {
        out.push(format!("pools={pool}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::levels::HEVC_MAX_LUMA_PS;

    fn opts(pairs: &[(&str, &str)]) -> Options {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn lookahead_is_shared_by_the_outputs_of_a_job() {
        let p1080 = 1920 * 1080;
        assert!(lookahead_frames(p1080) >= 50, "one 1080p output keeps medium/slow lookahead");
        // The 8-rung 1080p ladder: 1080, 900, 720, 576, 480, 360, 240, 144.
        let ladder: u64 =
            [(1920, 1080), (1600, 900), (1280, 720), (1024, 576), (854, 480), (640, 360), (426, 240), (256, 144)]
                .iter()
                .map(|(w, h)| w * h)
                .sum();
        assert_eq!(lookahead_frames(ladder), 20);
        assert_eq!(lookahead_frames(3 * HEVC_MAX_LUMA_PS), MIN_LOOKAHEAD_FRAMES);
        assert_eq!(lookahead_frames(0), 250);
    }

    #[test]
    fn the_budget_plans_threads_for_the_jobs_pixels() {
        let b = Budget::for_job(1920 * 1080, 2);
        assert_eq!((b.threads.cores, b.threads.job_samples), (2, 1920 * 1080));
        assert_eq!(b.threads.for_output(1920 * 1080).x264_threads, 3, "x264's own 1.5 x cores");
    }

    #[test]
    fn x_params_lower_what_the_preset_would_hold_and_keep_lower_asked_values() {
        let p1080 = 1920 * 1080;
        // One 1080p output on 2 cores: x264 3 threads, x265 1 frame thread and its default pool.
        let b = Budget { lookahead: 20, threads: ThreadPlan::with_online(p1080, 2, 2) };
        let medium = opts(&[("preset", "medium"), ("crf", "23")]);
        assert_eq!(x_params("libx264", &medium, b, p1080), vec!["rc-lookahead=20", "threads=3"]);
        // x265 medium already looks 20 ahead: only the thread count is pinned.
        let x265 = opts(&[("preset", "medium"), ("x265-params", "aq-mode=2")]);
        assert_eq!(x_params("libx265", &x265, b, p1080), vec!["frame-threads=1"]);
        let slow = opts(&[("preset", "slow"), ("x265-params", "aq-mode=2")]);
        assert_eq!(x_params("libx265", &slow, b, p1080), vec!["rc-lookahead=20", "frame-threads=1"]);
        let faster = opts(&[("preset", "faster")]);
        assert_eq!(x_params("libx264", &faster, b, p1080), vec!["threads=3"]);
        let asked = opts(&[("preset", "slow"), ("x264-params", "rc-lookahead=12:threads=2")]);
        assert!(x_params("libx264", &asked, b, p1080).is_empty());
        let too_many = opts(&[("preset", "medium"), ("threads", "32"), ("rc-lookahead", "60")]);
        assert_eq!(x_params("libx264", &too_many, b, p1080), vec!["rc-lookahead=20", "threads=3"]);
        assert!(x_params("hevc_nvenc", &medium, b, p1080).is_empty());
    }

    #[test]
    fn x_params_give_a_small_rung_its_share_of_the_machine() {
        // The 360p rung of a 1080/720/480/360 ladder on 16 cores.
        let job = 1920 * 1080 + 1280 * 720 + 854 * 480 + 640 * 360;
        let b = Budget { lookahead: 30, threads: ThreadPlan::with_online(job, 16, 16) };
        let p360 = 640 * 360;
        let medium = opts(&[("preset", "medium")]);
        assert_eq!(x_params("libx264", &medium, b, p360), vec!["rc-lookahead=30", "threads=2"]);
        assert_eq!(x_params("libx265", &medium, b, p360), vec!["frame-threads=1", "pools=2"]);
        // The top rung keeps x265's default pool only when it has every core;
        // here it gets 10 of 16 and 3 frame threads.
        assert_eq!(x_params("libx265", &medium, b, 1920 * 1080), vec!["frame-threads=3", "pools=10"]);
        // A pool the profile set is the profile's.
        let pinned = opts(&[("preset", "medium"), ("x265-params", "pools=4")]);
        assert_eq!(x_params("libx265", &pinned, b, p360), vec!["frame-threads=1"]);
        let numa = opts(&[("preset", "medium"), ("x265-params", "numa-pools=4,4")]);
        assert_eq!(x_params("libx265", &numa, b, p360), vec!["frame-threads=1"]);
    }
}
