//! The thread plan of one job: how many threads each software encoder
//! gets, from the machine's logical CPUs and each output's share of the
//! job's pixels.
//!
//! One job decodes once and feeds every encoder from one loop, so its
//! encoders run side by side. Left alone, each sizes its threads as if it
//! had the machine to itself: x264 takes `1.5 × cores` frame threads per
//! encoder, x265 a worker pool of every core per encoder. A 4-rung ladder on
//! 16 cores then asks for 4 × 24 x264 threads, and the 1080p rung, which does
//! about 55% of the ladder's encoder work (issue 15's profile of the 4-rung
//! H.264 ladder), gets the same threads as the 360p rung that does 6%.
//!
//! The plan gives each output at least the share of the machine that its
//! pixels are of the job's, rounded up (a rung given fewer threads than its
//! share of the work becomes the one every other encoder waits for; one
//! given a few more only lets the OS share the cores). The share is
//! `output samples / job samples` in luma samples per frame, which the
//! encoders' work follows to first order:
//!
//! | setting | rule | source of the machine figure |
//! |---|---|---|
//! | x264 `threads` (frame threads) | `⌈1.5 × cores × share⌉`, in [`MIN_X264_THREADS`]..=[`MAX_X264_THREADS`] | x264's own default, `1.5 × cores` (x264 `encoder.c`, `X264_THREADS_AUTO`) |
//! | x265 `pools` (worker threads) | `⌈cores × share⌉`, in 1..=cores; left at x265's default (every core, all NUMA nodes) when that is all of them and the process may use every online CPU | x265's default pool, one thread per online CPU |
//! | x265 `frame-threads` | x265's own rule on the output's pool (1 below 4 threads, 2 from 4, 3 from 8, 4 from 16, 5 from 32), at most [`MAX_X265_FRAME_THREADS`] | x265 `encoder.cpp`, frame threads from the pool size (x265 2.5+) |
//!
//! x264's lookahead threads stay at x264's default, `threads / 6` or so
//! (about one per 8 macroblock rows at most), which follows the plan.
//!
//! `cores` is what this process may run on (`available_parallelism`: CPU
//! affinity and cgroup quotas). x265's default pool counts every online CPU
//! instead (`sysconf(_SC_NPROCESSORS_ONLN)`), so in a container limited to 4
//! CPUs of a 64-CPU host it would start 64 workers: there the plan sets
//! `pools` on every output. A number in `pools` puts the pool on the first
//! NUMA node (x265 `threadpool.cpp`), so on a multi-socket machine the
//! smaller rungs share node 0; a profile that wants another layout sets
//! `pools` (or `numa-pools`) in its `x265-params`, which the plan keeps.
//!
//! **Why fewer threads on small rungs.** x264 frame threads each encode a
//! different frame; a frame may only reference rows its reference's thread has
//! already finished, so x264 limits vertical motion vectors to about
//! `((height + 24) / threads − 24) / 2` pixels, rounded to whole macroblock
//! rows (x264 `encoder.c`, `mv_range_thread`): 3 threads on a 360p rung
//! leave about ±56 pixels, 2 about ±88. Threads beyond what a rung's work needs cost compression and memory
//! (each holds a frame) and buy no speed, because the loop that feeds every
//! encoder waits for the slowest one, which is the largest rung.
//!
//! **Why at least 2 x264 threads.** With `threads=1` x264 encodes inside
//! `avcodec_send_frame`, on the loop that decodes and feeds every other
//! encoder, which then waits for it; from 2 the encode runs on x264's own
//! threads.
//!
//! What this gives (logical CPUs × the 4-rung 1080/720/480/360 ladder,
//! shares 0.57/0.25/0.11/0.06; a single 1080p output on `cores` gets x264
//! `⌈1.5 × cores⌉` up to the cap and x265's default pool):
//!
//! | cores | x264 threads per rung (before: every rung) | x265 pools per rung (before: every rung) |
//! |---|---|---|
//! | 2 | 2/2/2/2 (3) | 2/1/1/1 (2) |
//! | 8 | 7/4/2/2 (6) | 5/3/1/1 (8) |
//! | 16 | 14/7/3/2 (6) | 10/5/2/2 (16) |
//! | 32 | 16/13/6/4 (6) | 19/9/4/3 (32) |
//!
//! Measured on 2 cores: docs/benchmarks.md, "Thread plan (issue 15, item 2)".

/// Fewest x264 frame threads an encoder is given (see the module docs: one
/// thread would encode on the job's feeding loop).
pub const MIN_X264_THREADS: u32 = 2;
/// Most x264 frame threads per encoder. x264 allows 128; past about 16 at
/// 1080p each further frame thread buys little speed (issue 15) and costs a
/// frame of memory and motion range.
pub const MAX_X264_THREADS: u32 = 16;
/// Most x265 frame threads per encoder (x265's own rule reaches 6 on 32
/// cores at 2160p; each frame encoder holds its own reconstructed frame and
/// analysis buffers, see `budget`).
pub const MAX_X265_FRAME_THREADS: u32 = 3;

/// The threads one encoder is given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EncoderThreads {
    /// x264 `threads` (frame threads).
    pub x264_threads: u32,
    /// x265 `pools`: worker threads of this encoder's pool; `None` keeps
    /// x265's default (one per core over every NUMA node).
    pub x265_pool: Option<u32>,
    /// x265 `frame-threads`.
    pub x265_frame_threads: u32,
}

/// The thread plan of one job.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ThreadPlan {
    /// Logical CPUs this process may use (at least 1).
    pub cores: u32,
    /// Luma samples per frame over all the job's outputs (at least 1).
    pub job_samples: u64,
    /// Whether the machine has more online CPUs than `cores` (a cgroup
    /// quota or CPU affinity), so x265's default pool would be too large.
    pub limited: bool,
}

impl ThreadPlan {
    /// The plan for a job whose outputs add up to `job_samples` luma samples
    /// per frame on `cores` logical CPUs, with as many online as this
    /// machine has (`sysconf(_SC_NPROCESSORS_ONLN)`).
    pub fn new(job_samples: u64, cores: usize) -> Self {
        // SAFETY: sysconf reads a system constant; -1 (unknown) counts as no limit.
        let online = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
        Self::with_online(job_samples, cores, usize::try_from(online).unwrap_or(0))
    }

    /// [`ThreadPlan::new`] with the online CPU count given (`online` ≤
    /// `cores` means no limit).
    pub fn with_online(job_samples: u64, cores: usize, online: usize) -> Self {
        ThreadPlan {
            cores: u32::try_from(cores.max(1)).unwrap_or(u32::MAX),
            job_samples: job_samples.max(1),
            limited: online > cores.max(1),
        }
    }

    /// The threads of the output whose pictures are `samples` luma samples
    /// (width × height); an output larger than the job counts as all of it.
    pub fn for_output(&self, samples: u64) -> EncoderThreads {
        let share = (samples as f64 / self.job_samples as f64).clamp(0.0, 1.0);
        let cores = f64::from(self.cores);
        let x264 = (1.5 * cores * share).ceil() as u32;
        let pool = ((cores * share).ceil() as u32).clamp(1, self.cores);
        EncoderThreads {
            x264_threads: x264.clamp(MIN_X264_THREADS, MAX_X264_THREADS),
            x265_pool: (pool < self.cores || self.limited).then_some(pool),
            x265_frame_threads: x265_frame_threads(pool).min(MAX_X265_FRAME_THREADS),
        }
    }
}

/// x265's frame threads for a pool of `pool` worker threads (x265
/// `encoder.cpp`, `Encoder::configure`, when `frame-threads` is 0).
fn x265_frame_threads(pool: u32) -> u32 {
    match pool {
        32.. => 5,
        16.. => 4,
        8.. => 3,
        4.. => 2,
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The 4-rung ladder of the module docs' table.
    const LADDER: [u64; 4] = [1920 * 1080, 1280 * 720, 854 * 480, 640 * 360];

    fn rungs(cores: usize) -> Vec<EncoderThreads> {
        let plan = ThreadPlan::with_online(LADDER.iter().sum(), cores, cores);
        LADDER.iter().map(|s| plan.for_output(*s)).collect()
    }

    #[test]
    fn the_ladder_shares_the_machine_by_pixels() {
        let x264 = |c| rungs(c).iter().map(|t| t.x264_threads).collect::<Vec<_>>();
        let pools = |c| rungs(c).iter().map(|t| t.x265_pool.unwrap_or(c as u32)).collect::<Vec<_>>();
        assert_eq!(x264(2), [2, 2, 2, 2]);
        assert_eq!(x264(8), [7, 4, 2, 2]);
        assert_eq!(x264(16), [14, 7, 3, 2]);
        assert_eq!(x264(32), [16, 13, 6, 4]);
        assert_eq!(pools(2), [2, 1, 1, 1]);
        assert_eq!(pools(8), [5, 3, 1, 1]);
        assert_eq!(pools(16), [10, 5, 2, 2]);
        assert_eq!(pools(32), [19, 9, 4, 3]);
        // The top rung on 2 cores has the whole machine: x265's default pool.
        assert_eq!(rungs(2)[0].x265_pool, None);
        assert_eq!(rungs(16).iter().map(|t| t.x265_frame_threads).collect::<Vec<_>>(), [3, 2, 1, 1]);
    }

    #[test]
    fn a_single_output_gets_the_encoders_own_defaults_up_to_the_caps() {
        let p1080 = 1920 * 1080;
        let one = |cores| ThreadPlan::with_online(p1080, cores, cores).for_output(p1080);
        assert_eq!(one(2), EncoderThreads { x264_threads: 3, x265_pool: None, x265_frame_threads: 1 });
        assert_eq!(one(4).x264_threads, 6);
        assert_eq!(one(8).x265_frame_threads, 3);
        assert_eq!(one(64).x264_threads, MAX_X264_THREADS);
        assert_eq!(one(64).x265_frame_threads, MAX_X265_FRAME_THREADS);
        assert_eq!(one(1).x264_threads, MIN_X264_THREADS, "x264 needs 2+ threads to run beside the feeding loop");
        assert_eq!(one(1).x265_pool, None);
    }

    #[test]
    fn degenerate_inputs_stay_in_range() {
        let plan = ThreadPlan::with_online(0, 0, 0);
        assert_eq!(plan, ThreadPlan { cores: 1, job_samples: 1, limited: false });
        let t = plan.for_output(u64::MAX);
        assert_eq!((t.x264_threads, t.x265_pool, t.x265_frame_threads), (2, None, 1));
        let tiny = ThreadPlan::with_online(u64::MAX, 16, 16).for_output(0);
        assert_eq!((tiny.x264_threads, tiny.x265_pool), (MIN_X264_THREADS, Some(1)));
    }

    #[test]
    fn a_cpu_quota_pins_every_pool() {
        // 4 CPUs of a 64-CPU host: x265's default would start 64 workers.
        let p1080 = 1920 * 1080;
        let quota = ThreadPlan::with_online(p1080, 4, 64);
        assert!(quota.limited);
        assert_eq!(quota.for_output(p1080).x265_pool, Some(4));
        assert_eq!(ThreadPlan::with_online(p1080, 4, 4).for_output(p1080).x265_pool, None);
    }

    #[test]
    fn the_eight_rung_ladder_on_16_cores_holds_what_the_flat_cap_did() {
        let ladder: [u64; 8] =
            [1920 * 1080, 1600 * 900, 1280 * 720, 1024 * 576, 854 * 480, 640 * 360, 426 * 240, 256 * 144];
        let plan = ThreadPlan::with_online(ladder.iter().sum(), 16, 16);
        let t: Vec<u32> = ladder.iter().map(|s| plan.for_output(*s).x264_threads).collect();
        assert_eq!(t, [9, 6, 4, 3, 2, 2, 2, 2]);
        let held: u64 = ladder.iter().zip(&t).map(|(s, t)| s * u64::from(*t)).sum();
        let flat: u64 = ladder.iter().map(|s| s * 6).sum();
        assert!(held <= flat, "threads x samples {held} against the flat cap's {flat}");
    }
}
