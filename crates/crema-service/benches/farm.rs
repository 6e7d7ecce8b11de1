//! Farm scheduling benchmark: `cargo bench -p crema-service --bench farm`.
//!
//! Jobs per hour of one shared PostgreSQL queue served by 1, 2 and 3 nodes
//! (each a [`Service`] with one worker and a data folder of its own, as
//! `crema serve --database postgres://…` runs them), against one node on the
//! embedded SQLite default, in one run. The nodes share this machine's cores,
//! so more nodes do not add encoding capacity here: what the figures show is
//! the queue's overhead. Every job is a real encode (the 2 s 720p H.264
//! fixture to 360p with `sophon-espresso`), all submitted at once to the first
//! node.
//!
//! Per configuration it prints: jobs per hour over the whole run (first
//! submit to last completion); the **claim gap** of each job, the time from
//! the moment it could have started (submitted, and a worker free) to
//! `started_at`, with median, p99 and max; and the workers' **idle share**
//! (1 − busy time / (workers × run time)). Which worker was free is
//! reconstructed from the jobs' own timestamps by list scheduling: each job,
//! in start order, goes to the worker that became free first. A claim gap
//! near the poll interval would mean a node learns of work by polling; the
//! `NOTIFY` wake-up should keep it near zero.
//!
//! Environment: `CREMA_BENCH_FARM_JOBS` (jobs per configuration, default 16),
//! `CREMA_BENCH_FARM_NODES` (largest PostgreSQL farm, default 3),
//! `CREMA_BENCH_FARM_ROUNDS` (rounds of every configuration, interleaved;
//! default 2; the ratios use the total over all rounds). A discarded warm-up
//! run comes first.
//! Needs Debian's `postgresql` (a throwaway cluster is started in a temp
//! folder, as the tests do) and `fixtures/prepare.sh`.

use crema_service::{Config, Database, Job, JobSpec, JobStatus, Origin, Principal, Service};
use crema_testkit::{fixture, fixtures_dir, postgres};
use std::time::{Duration, Instant};
use time::OffsetDateTime;

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime starts");
    rt.block_on(run());
}

fn env_usize(name: &str, default: usize) -> usize {
    match std::env::var(name) {
        Ok(v) => v.trim().parse().unwrap_or_else(|_| panic!("{name}={v:?} is not a whole number")),
        Err(_) => default,
    }
}

async fn run() {
    let jobs = env_usize("CREMA_BENCH_FARM_JOBS", 16).max(1);
    let max_nodes = env_usize("CREMA_BENCH_FARM_NODES", 3).max(1);
    let rounds = env_usize("CREMA_BENCH_FARM_ROUNDS", 2).max(1);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "farm bench: {jobs} jobs per configuration (h264_720p_2s.mp4 -> 360p, sophon-espresso), {rounds} round(s), {cores} cores"
    );
    // Not reported: fills the page cache and starts the PostgreSQL cluster,
    // so the first configuration measured does not pay for either.
    bench(1, true, 2).await;
    let mut configs = vec![(1, false)];
    configs.extend((1..=max_nodes).map(|n| (n, true)));
    let label = |&(n, pg): &(usize, bool)| {
        format!("{}, {n} node{}", if pg { "postgres" } else { "sqlite" }, if n == 1 { "" } else { "s" })
    };
    println!(
        "{:<7} {:<18} {:>7} {:>10} {:>11} {:>11} {:>11} {:>7}",
        "round", "queue", "run s", "jobs/hour", "gap med ms", "gap p99 ms", "gap max ms", "idle %"
    );
    // Total run seconds per configuration over all rounds.
    let mut total = vec![0.0; configs.len()];
    for round in 1..=rounds {
        for (i, c) in configs.iter().enumerate() {
            let r = bench(c.0, c.1, jobs).await;
            total[i] += r.run_s;
            println!(
                "{round:<7} {:<18} {:>7.2} {:>10.0} {:>11.1} {:>11.1} {:>11.1} {:>7.1}",
                label(c),
                r.run_s,
                r.jobs_per_hour,
                r.gap_ms[0],
                r.gap_ms[1],
                r.gap_ms[2],
                r.idle * 100.0
            );
        }
    }
    let per_hour = |i: usize| (jobs * rounds) as f64 / total[i] * 3600.0;
    for (i, c) in configs.iter().enumerate().skip(2) {
        println!("{}: {:.3} x the jobs/hour of one postgres node", label(c), per_hour(i) / per_hour(1));
    }
    println!("postgres 1 node / sqlite 1 node: {:.3} x the jobs/hour", per_hour(1) / per_hour(0));
}

struct Figures {
    run_s: f64,
    jobs_per_hour: f64,
    /// Claim gap median, p99, max, milliseconds.
    gap_ms: [f64; 3],
    /// Share of worker time spent idle, 0..1.
    idle: f64,
}

async fn bench(nodes: usize, on_postgres: bool, jobs: usize) -> Figures {
    let root = tempfile::tempdir().expect("temp dir");
    let url = on_postgres.then(|| postgres::database_for(root.path()));
    let mut services = Vec::new();
    for i in 0..nodes {
        let dir = root.path().join(format!("node{i}"));
        let mut c = Config::new(&dir);
        c.database = url.as_deref().map(|u| u.parse::<Database>().expect("database URL"));
        c.workers = 1;
        c.node_name = format!("bench-node-{i}");
        c.source_roots = vec![fixtures_dir()];
        services.push(Service::open(c).await.expect("open node"));
    }
    let origin = Origin::Network(Principal { key_id: "key_bench".into() });
    let started = Instant::now();
    let mut ids = Vec::new();
    for _ in 0..jobs {
        let mut spec = JobSpec::path(fixture("h264_720p_2s.mp4"), "sophon-espresso");
        spec.output.target_height = Some(360);
        ids.push(services[0].submit(spec, origin.clone()).await.expect("submit").id);
    }
    let mut done = Vec::new();
    for id in &ids {
        loop {
            let job = services[0].get(id).await.expect("get");
            if job.status.is_terminal() {
                assert!(
                    job.completed_at.is_some() && job.started_at.is_some(),
                    "job {id} ended without running: {job:?}"
                );
                done.push(job);
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(600), "job {id} did not finish in 10 minutes");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    for s in &services {
        s.shutdown(Duration::from_secs(10)).await;
    }
    for j in &done {
        assert_eq!(j.status, JobStatus::Completed, "every bench job must succeed: {j:?}");
    }
    figures(&done, nodes)
}

fn figures(jobs: &[Job], workers: usize) -> Figures {
    let secs = |t: OffsetDateTime, from: OffsetDateTime| (t - from).as_seconds_f64();
    let first = jobs.iter().map(|j| j.created_at).min().expect("jobs");
    let last = jobs.iter().filter_map(|j| j.completed_at).max().expect("completed");
    let run_s = secs(last, first);
    let mut by_start: Vec<_> = jobs.iter().collect();
    by_start.sort_by_key(|j| j.started_at);
    // Each worker's free-from time; a job goes to the one free first.
    let mut free = vec![first; workers];
    let mut gaps = Vec::new();
    let mut busy = 0.0;
    for j in by_start {
        let (start, end) = (j.started_at.expect("started"), j.completed_at.expect("completed"));
        let w = (0..workers).min_by_key(|&w| free[w]).expect("a worker");
        let ready = free[w].max(j.created_at);
        gaps.push(secs(start, ready).max(0.0) * 1000.0);
        busy += secs(end, start);
        free[w] = end;
    }
    gaps.sort_by(f64::total_cmp);
    let pick = |q: f64| gaps[((gaps.len() - 1) as f64 * q).round() as usize];
    Figures {
        run_s,
        jobs_per_hour: jobs.len() as f64 / run_s * 3600.0,
        gap_ms: [pick(0.5), pick(0.99), pick(1.0)],
        idle: (1.0 - busy / (workers as f64 * run_s)).max(0.0),
    }
}
