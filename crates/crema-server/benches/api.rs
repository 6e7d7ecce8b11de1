//! `/v1` API benchmark over loopback: `cargo bench -p crema-server --bench api`.
//!
//! Starts the real service and router (`crema_server::serve` on 127.0.0.1:0,
//! as `crema serve` does) and prints a small report:
//!
//! 1. **Upload throughput.** 8 MiB parts of a pseudo-random file through
//!    `POST /v1/uploads` + `PUT …/parts/{n}` (one part at a time, then 4 in
//!    flight), against raw disk writes of the same data in the same folder in
//!    8 MiB writes with an fsync after each (the service fsyncs every part
//!    before acknowledging it). `POST …/complete` (assembly + SHA-256) is timed
//!    apart. After one discarded warm-up write, the three runs are repeated in
//!    interleaved rounds and their medians compared. Target: upload ≥ 70 % of disk.
//! 2. **Polling latency.** 200 concurrent pollers, each on its own connection,
//!    loop `GET /v1/jobs/{id}` while an encode runs (one worker; a new job is
//!    submitted whenever the previous one ends). Target: p99 < 20 ms.
//!
//! The server runs on its own tokio runtime (as in production, where it is a
//! separate process); the clients run on another one. Both share the machine's
//! cores with the encode, so the latencies are measured as a client sees them.
//!
//! Environment:
//! - `CREMA_BENCH_DIR`: folder for the data dir and the disk reference file
//!   (default: the system temp dir); put it on the disk production uses.
//! - `CREMA_BENCH_SECONDS`: length of the polling window (default 10).
//! - `CREMA_BENCH_UPLOAD_MIB`: upload size in MiB (default 512; the contract
//!   tier gives 8 MiB parts from 64 MB to 1 GB).
//! - `CREMA_BENCH_POLLERS`: number of concurrent pollers (default 200).
//! - `CREMA_BENCH_POLL_INTERVAL_MS`: how often each paced poller asks
//!   (default 100 ms: ten times an SDK that polls once a second).
//! - `CREMA_BENCH_ROUNDS`: rounds of (disk, upload x1, upload x4); medians are
//!   reported (default 3; a VM disk's fsync speed drifts a lot between runs).

use bytes::Bytes;
use crema_server::AppState;
use crema_service::{Config, Service};
use futures_util::StreamExt;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// Bytes in a decimal megabyte: every MB/s in the report is 10^6 bytes per second.
const MB: f64 = 1_000_000.0;
/// Part size the contract gives uploads between 64 MB and 1 GB.
const EXPECTED_CHUNK: u64 = 8 * 1024 * 1024;
/// Write size (and fsync interval) of the disk reference.
const DISK_WRITE: usize = 8 * 1024 * 1024;
/// Parts in flight in the concurrent upload run.
const IN_FLIGHT: usize = 4;
/// Polling latency target, p99.
const P99_TARGET: Duration = Duration::from_millis(20);
/// Upload throughput target, as a fraction of the disk reference.
const UPLOAD_TARGET: f64 = 0.70;
/// Clip encoded during the polling run, relative to the repository root.
const CLIP: &str = "fixtures/cache/bigbuckbunny.mp4";
/// Profile of that encode.
const PROFILE: &str = "sophon-cortado";
/// How often the job driver looks at the running job (not counted in the latencies).
const DRIVER_PERIOD: Duration = Duration::from_millis(200);

fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .thread_name("server")
        .enable_all()
        .build()
        .expect("server runtime starts");
    let client_rt = tokio::runtime::Builder::new_multi_thread()
        .thread_name("client")
        .enable_all()
        .build()
        .expect("client runtime starts");
    client_rt.block_on(run(server_rt.handle().clone()));
    server_rt.shutdown_timeout(Duration::from_secs(5));
}

/// A whole-number environment variable, or `default` when unset; panics on garbage.
fn env_u64(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => v.trim().parse().unwrap_or_else(|_| panic!("{name}={v:?} is not a whole number")),
        Err(_) => default,
    }
}

/// Repository root (two levels above this crate).
fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("repository root exists")
}

/// The whole benchmark, on the client runtime; `server` is the server runtime.
async fn run(server: tokio::runtime::Handle) {
    let upload_mib = env_u64("CREMA_BENCH_UPLOAD_MIB", 512);
    let seconds = env_u64("CREMA_BENCH_SECONDS", 10);
    let pollers = env_u64("CREMA_BENCH_POLLERS", 200) as usize;
    let interval = Duration::from_millis(env_u64("CREMA_BENCH_POLL_INTERVAL_MS", 100).max(1));
    let rounds = env_u64("CREMA_BENCH_ROUNDS", 3).max(1) as usize;
    let base_dir = std::env::var_os("CREMA_BENCH_DIR").map(PathBuf::from).unwrap_or_else(std::env::temp_dir);
    std::fs::create_dir_all(&base_dir).expect("CREMA_BENCH_DIR can be created");
    let tmp = tempfile::Builder::new().prefix("crema-bench-").tempdir_in(&base_dir).expect("bench dir can be created");

    println!("== Crema /v1 API benchmark ==");
    println!(
        "cores: {}   build: {}   data dir: {}",
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        if cfg!(debug_assertions) { "debug (numbers are not representative)" } else { "release" },
        tmp.path().display()
    );
    if let Ok(load) = std::fs::read_to_string("/proc/loadavg") {
        let load: Vec<&str> = load.split_whitespace().take(3).collect();
        println!(
            "load average at start (1/5/15 min): {} (other work on the machine skews every number)",
            load.join(" ")
        );
    }
    println!("MB = 10^6 bytes; server and clients on separate tokio runtimes in this one process");
    println!();

    let srv = Server::start(&server, tmp.path().join("data")).await;
    upload_section(&srv, tmp.path(), upload_mib, rounds).await;
    println!();
    polling_section(&srv, seconds, pollers, interval).await;
    srv.stop(&server).await;
}

// ---------------------------------------------------------------------------
// Server
// ---------------------------------------------------------------------------

/// The real service and router on loopback.
struct Server {
    /// `http://127.0.0.1:PORT`.
    base: String,
    /// An API key.
    key: String,
    /// The service (to shut it down at the end).
    service: Arc<Service>,
    /// Set to `true` to stop the HTTP server.
    stop: watch::Sender<bool>,
    /// The HTTP server task.
    task: tokio::task::JoinHandle<()>,
}

impl Server {
    /// Opens a service on `data_dir` (one worker, the fixtures as source
    /// root, no free-space floor) and serves it on the `rt` runtime.
    async fn start(rt: &tokio::runtime::Handle, data_dir: PathBuf) -> Self {
        let mut config = Config::new(data_dir);
        config.workers = 1;
        config.source_roots = vec![repo_root().join("fixtures")];
        config.disk_min_free_bytes = 0;
        let (service, key) = rt
            .spawn(async move {
                let service = Arc::new(Service::open(config).await.expect("service opens"));
                let key = service.create_key("bench").await.expect("API key is created").key;
                (service, key)
            })
            .await
            .expect("service start task completes");
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("loopback port can be bound");
        let base = format!("http://{}", listener.local_addr().expect("bound listener has an address"));
        let app = crema_server::router(AppState { service: service.clone(), tls: false, ui_dir: None });
        let (stop, mut rx) = watch::channel(false);
        let task = rt.spawn(async move {
            let shutdown = async move {
                let _ = rx.wait_for(|s| *s).await;
            };
            crema_server::serve(listener, app, None, shutdown, Duration::from_secs(1)).await.expect("server runs");
        });
        Self { base, key, service, stop, task }
    }

    /// Stops the service (running encodes are interrupted) and the HTTP server.
    async fn stop(self, rt: &tokio::runtime::Handle) {
        let service = self.service.clone();
        let _ = rt.spawn(async move { service.shutdown(Duration::from_secs(1)).await }).await;
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }

    /// Absolute URL of `path`.
    fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// A client that sends the API key, keeping at most `idle` idle connections.
    fn client(&self, idle: usize) -> reqwest::Client {
        let mut headers = reqwest::header::HeaderMap::new();
        let auth = format!("Bearer {}", self.key).parse().expect("API key is a valid header value");
        headers.insert(reqwest::header::AUTHORIZATION, auth);
        reqwest::Client::builder()
            .default_headers(headers)
            .pool_max_idle_per_host(idle)
            .timeout(Duration::from_secs(120))
            .build()
            .expect("HTTP client builds")
    }

    /// POST JSON with a fresh `Idempotency-Key` → (status, JSON body).
    async fn post(&self, client: &reqwest::Client, path: &str, body: &Value) -> (StatusCode, Value) {
        static N: AtomicU64 = AtomicU64::new(0);
        let idem = format!("bench-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed));
        let r = client
            .post(self.url(path))
            .header("Idempotency-Key", idem)
            .json(body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {path}: {e}"));
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// GET → (status, JSON body).
    async fn get(&self, client: &reqwest::Client, path: &str) -> (StatusCode, Value) {
        let r = client.get(self.url(path)).send().await.unwrap_or_else(|e| panic!("GET {path}: {e}"));
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    }
}

// ---------------------------------------------------------------------------
// 1. Upload throughput
// ---------------------------------------------------------------------------

/// `len` deterministic pseudo-random bytes (xorshift64*), incompressible enough
/// that no layer can cheat.
fn pseudo_random(len: usize) -> Bytes {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        out.extend_from_slice(&state.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    out.truncate(len);
    Bytes::from(out)
}

/// Writes `data` to `path` in [`DISK_WRITE`] writes, each followed by an
/// fsync; returns the seconds taken (the file is removed afterwards).
fn disk_reference(path: &Path, data: &[u8]) -> f64 {
    let start = Instant::now();
    let mut f = std::fs::File::create(path).expect("reference file can be created");
    for chunk in data.chunks(DISK_WRITE) {
        f.write_all(chunk).expect("reference write succeeds");
        f.sync_all().expect("reference fsync succeeds");
    }
    drop(f);
    let secs = start.elapsed().as_secs_f64();
    std::fs::remove_file(path).expect("reference file can be removed");
    secs
}

/// Timings of one upload through the API.
struct UploadRun {
    /// Part size the server gave.
    chunk_size: u64,
    /// Parts sent.
    total_chunks: u64,
    /// Seconds from the first `PUT` to the last part's response.
    parts_secs: f64,
    /// Seconds of `POST …/complete` (assembly + SHA-256).
    complete_secs: f64,
    /// Whether the server's SHA-256 and size match the data.
    verified: bool,
}

/// Uploads `data` through the API with `in_flight` parts at once, completes
/// it, checks the digest, then deletes the session to free the disk.
async fn upload_once(srv: &Server, data: &Bytes, in_flight: usize, sha256: &str) -> UploadRun {
    let client = srv.client(in_flight);
    let body = json!({"file_name": "bench.bin", "file_size": data.len(), "mime_type": "application/octet-stream"});
    let (st, created) = srv.post(&client, "/v1/uploads", &body).await;
    assert_eq!(st, StatusCode::CREATED, "POST /v1/uploads: {created}");
    let id = created["id"].as_str().expect("upload response has an id").to_string();
    let chunk_size = created["chunk_size"].as_u64().expect("upload response has chunk_size");
    let total_chunks = created["total_chunks"].as_u64().expect("upload response has total_chunks");

    let start = Instant::now();
    let chunk = usize::try_from(chunk_size).expect("chunk size fits in memory");
    let parts = (0..data.len().div_ceil(chunk)).map(|n| {
        let part = data.slice(n * chunk..((n + 1) * chunk).min(data.len()));
        let req = client
            .put(srv.url(&format!("/v1/uploads/{id}/parts/{n}")))
            .header("Content-Type", "application/octet-stream")
            .body(part);
        async move {
            let r = req.send().await.unwrap_or_else(|e| panic!("PUT part {n}: {e}"));
            let status = r.status();
            assert_eq!(status, StatusCode::OK, "PUT part {n}: {}", r.text().await.unwrap_or_default());
        }
    });
    futures_util::stream::iter(parts).buffer_unordered(in_flight).collect::<Vec<()>>().await;
    let parts_secs = start.elapsed().as_secs_f64();

    let start = Instant::now();
    let (st, done) = srv.post(&client, &format!("/v1/uploads/{id}/complete"), &json!({})).await;
    let complete_secs = start.elapsed().as_secs_f64();
    assert_eq!(st, StatusCode::OK, "POST /v1/uploads/{id}/complete: {done}");
    let verified = done["sha256"].as_str() == Some(sha256) && done["bytes"].as_u64() == Some(data.len() as u64);

    let r = client.delete(srv.url(&format!("/v1/uploads/{id}"))).send().await.expect("DELETE upload is answered");
    assert!(r.status().is_success(), "DELETE /v1/uploads/{id}: {}", r.status());
    UploadRun { chunk_size, total_chunks, parts_secs, complete_secs, verified }
}

/// Median of `v` (upper middle for even lengths); 0 when empty.
fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

/// Section 1: one discarded disk write (warm-up), then `rounds` rounds of
/// disk reference, sequential upload and concurrent upload, interleaved so
/// that drifts of the disk's speed hit all three alike; medians are compared.
async fn upload_section(srv: &Server, dir: &Path, mib: u64, rounds: usize) {
    let len = usize::try_from(mib * 1024 * 1024).expect("upload size fits in memory");
    println!("-- 1. Upload throughput ({mib} MiB of pseudo-random data, loopback HTTP/1.1, {rounds} rounds) --");
    let gen_start = Instant::now();
    let data = pseudo_random(len);
    let sha256 = hex::encode(Sha256::digest(&data));
    println!("data generated and hashed in {:.2} s", gen_start.elapsed().as_secs_f64());

    let mbps = |secs: f64| len as f64 / MB / secs;
    let disk_once = || {
        let (path, data) = (dir.join("disk-reference.bin"), data.clone());
        async move { tokio::task::spawn_blocking(move || disk_reference(&path, &data)).await.expect("disk reference runs") }
    };
    let warm = disk_once().await;
    println!("warm-up disk write (not counted): {:.1} MB/s", mbps(warm));
    let (mut disk, mut seq, mut par) = (Vec::new(), Vec::new(), Vec::new());
    println!("round   disk+fsync   upload x1   upload x4   complete x1   complete x4   (MB/s)");
    for round in 1..=rounds {
        let d = mbps(disk_once().await);
        let s = upload_once(srv, &data, 1, &sha256).await;
        let p = upload_once(srv, &data, IN_FLIGHT, &sha256).await;
        for r in [&s, &p] {
            assert_eq!(r.chunk_size, EXPECTED_CHUNK, "chunk_size for a {mib} MiB upload (contract tier: 8 MiB)");
            assert!(r.verified, "POST /complete reported a SHA-256 or size that does not match the data");
        }
        println!(
            "{round:>5}   {d:>10.1}   {:>9.1}   {:>9.1}   {:>11.1}   {:>11.1}",
            mbps(s.parts_secs),
            mbps(p.parts_secs),
            mbps(s.complete_secs),
            mbps(p.complete_secs)
        );
        disk.push(d);
        seq.push(s);
        par.push(p);
    }
    let disk = median(&disk);
    let parts = |v: &[UploadRun]| median(&v.iter().map(|r| mbps(r.parts_secs)).collect::<Vec<_>>());
    let complete = |v: &[UploadRun]| median(&v.iter().map(|r| r.complete_secs).collect::<Vec<_>>());
    let (seq_mbps, par_mbps) = (parts(&seq), parts(&par));
    println!(
        "chunk_size from POST /v1/uploads: {EXPECTED_CHUNK} (8 MiB, as the contract tier says), total_chunks: {}; \
         every digest from POST /complete matched",
        seq.first().map_or(0, |r| r.total_chunks)
    );
    println!("median disk reference (8 MiB writes, fsync after each): {disk:>7.1} MB/s");
    println!("median upload, 1 part in flight:  {seq_mbps:>7.1} MB/s   upload/disk {:.2}", seq_mbps / disk);
    println!("median upload, 4 parts in flight: {par_mbps:>7.1} MB/s   upload/disk {:.2}", par_mbps / disk);
    println!(
        "median POST /complete (assemble + SHA-256 of {mib} MiB): {:.2} s = {:.1} MB/s (after x1), {:.2} s (after x4)",
        complete(&seq),
        mbps(complete(&seq)),
        complete(&par)
    );
    let met = |ratio: f64| if ratio >= UPLOAD_TARGET { "met" } else { "not met" };
    println!(
        "target upload >= {UPLOAD_TARGET:.2} x disk: 1 in flight {} ({:.2}), 4 in flight {} ({:.2})",
        met(seq_mbps / disk),
        seq_mbps / disk,
        met(par_mbps / disk),
        par_mbps / disk
    );
}

// ---------------------------------------------------------------------------
// 2. Polling latency during an encode
// ---------------------------------------------------------------------------

/// Submits one encode of [`CLIP`] with [`PROFILE`]; returns the job ID.
async fn submit(srv: &Server, client: &reqwest::Client) -> String {
    let path = repo_root().join(CLIP);
    assert!(path.is_file(), "{} missing: run fixtures/prepare.sh", path.display());
    let body = json!({"source": {"type": "path", "path": path}, "profile": PROFILE});
    let (st, job) = srv.post(client, "/v1/jobs", &body).await;
    assert_eq!(st, StatusCode::CREATED, "POST /v1/jobs: {job}");
    job["id"].as_str().expect("job response has an id").to_string()
}

/// Whether a job status is terminal.
fn terminal(status: &str) -> bool {
    matches!(status, "completed" | "failed" | "canceled")
}

/// What the job driver saw.
#[derive(Default)]
struct DriverReport {
    /// Jobs that were running (or started) while the driver ran.
    encodes: usize,
    /// Jobs that ended while the driver ran.
    finished: usize,
    /// Jobs that ended in anything but `completed`.
    not_completed: usize,
    /// `progress.fps` samples taken while a job was `encoding`.
    fps: Vec<f64>,
}

/// Keeps an encode running until `stop` turns true: watches the current job
/// every [`DRIVER_PERIOD`], samples its fps, and submits the next job as soon
/// as one ends; publishes the current job's ID on `current`. With
/// `resubmit = false` it returns when the first job ends.
async fn drive(
    srv: &Server,
    first: String,
    current: watch::Sender<String>,
    mut stop: watch::Receiver<bool>,
    resubmit: bool,
) -> DriverReport {
    let client = srv.client(1);
    let mut report = DriverReport { encodes: 1, ..DriverReport::default() };
    let mut id = first;
    loop {
        if *stop.borrow() {
            return report;
        }
        let (st, job) = srv.get(&client, &format!("/v1/jobs/{id}")).await;
        assert_eq!(st, StatusCode::OK, "GET /v1/jobs/{id}: {job}");
        let status = job["status"].as_str().unwrap_or("");
        if status == "encoding"
            && let Some(fps) = job["progress"]["fps"].as_f64()
        {
            report.fps.push(fps);
        }
        if terminal(status) {
            report.finished += 1;
            if status != "completed" {
                report.not_completed += 1;
                eprintln!("job {id} ended {status}: {}", job["error"]);
            }
            if !resubmit {
                return report;
            }
            id = submit(srv, &client).await;
            report.encodes += 1;
            let _ = current.send(id.clone());
        }
        tokio::select! {
            _ = tokio::time::sleep(DRIVER_PERIOD) => {}
            _ = stop.changed() => {}
        }
    }
}

/// Waits until job `id` has left `queued` (its encode started).
async fn wait_started(srv: &Server, id: &str) {
    let client = srv.client(1);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, job) = srv.get(&client, &format!("/v1/jobs/{id}")).await;
        if job["status"].as_str().is_some_and(|s| s != "queued") {
            return;
        }
        assert!(Instant::now() < deadline, "job {id} still queued after 60 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// One poller: its own client (so its own connection), one warm-up request
/// (connection setup, not recorded), then `GET /v1/jobs/{current}` in a loop
/// until `stop`. Returns (latencies, errors).
async fn poll(
    srv_base: String,
    key: String,
    current: watch::Receiver<String>,
    stop: watch::Receiver<bool>,
    pace: Option<(Duration, Duration)>,
) -> (Vec<Duration>, u64) {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {key}").parse().expect("API key is a valid header value"),
    );
    let client = reqwest::Client::builder()
        .default_headers(headers)
        .pool_max_idle_per_host(1)
        .timeout(Duration::from_secs(30))
        .build()
        .expect("HTTP client builds");
    let get = |id: String| {
        let req = client.get(format!("{srv_base}/v1/jobs/{id}"));
        async move {
            match req.send().await {
                Ok(r) if r.status() == StatusCode::OK => r.bytes().await.is_ok(),
                _ => false,
            }
        }
    };
    let mut latencies = Vec::with_capacity(4096);
    let mut errors = 0;
    let first = current.borrow().clone();
    let _ = get(first).await;
    // Paced pollers ask once per interval (staggered start), like SDK clients
    // polling a job; unpaced ones ask back to back (a saturation test).
    let mut ticker = pace.map(|(interval, offset)| {
        let mut t = tokio::time::interval_at(tokio::time::Instant::now() + offset, interval);
        t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        t
    });
    while !*stop.borrow() {
        if let Some(t) = ticker.as_mut() {
            t.tick().await;
            if *stop.borrow() {
                break;
            }
        }
        let id = current.borrow().clone();
        let start = Instant::now();
        let ok = get(id).await;
        let took = start.elapsed();
        if ok {
            latencies.push(took);
        } else {
            errors += 1;
        }
    }
    (latencies, errors)
}

/// The `p`-th percentile of sorted `v` (nearest rank).
fn percentile(v: &[Duration], p: f64) -> Duration {
    if v.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
    v[rank.clamp(1, v.len()) - 1]
}

/// Mean of `v`, or `None` when empty.
fn mean(v: &[f64]) -> Option<f64> {
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

/// Milliseconds with two decimals.
fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

/// What one polling window measured.
struct Window {
    /// Latencies of the successful requests, sorted.
    latencies: Vec<Duration>,
    /// Failed requests (transport error or non-200).
    errors: u64,
    /// Length of the window in seconds.
    secs: f64,
}

impl Window {
    /// Prints throughput and latency percentiles.
    fn print(&self, pollers: usize, paced: bool) {
        let l = &self.latencies;
        let rate = l.len() as f64 / self.secs;
        if paced {
            println!("  {:.1} s, {} ok, {} failed, {rate:.0} req/s", self.secs, l.len(), self.errors);
        } else {
            println!(
                "  {:.1} s, {} ok, {} failed, {rate:.0} req/s (closed loop: mean latency = pollers / rate = {:.1} ms)",
                self.secs,
                l.len(),
                self.errors,
                pollers as f64 / rate * 1000.0
            );
        }
        println!(
            "  latency p50 {}   p90 {}   p99 {}   p99.9 {}   max {}",
            ms(percentile(l, 50.0)),
            ms(percentile(l, 90.0)),
            ms(percentile(l, 99.0)),
            ms(percentile(l, 99.9)),
            ms(l.last().copied().unwrap_or_default())
        );
    }
}

/// Runs `pollers` pollers on the job `current` names for `seconds`, while
/// `during` (given the stop signal) runs beside them; returns what the
/// pollers measured and what `during` returned.
async fn poll_window<F: std::future::Future>(
    srv: &Server,
    pollers: usize,
    seconds: u64,
    interval: Option<Duration>,
    current: watch::Receiver<String>,
    during: impl FnOnce(watch::Receiver<bool>) -> F,
) -> (Window, F::Output) {
    let (stop_tx, stop_rx) = watch::channel(false);
    let tasks: Vec<_> = (0..pollers)
        .map(|i| {
            let pace = interval.map(|iv| (iv, iv.mul_f64(i as f64 / pollers.max(1) as f64)));
            tokio::spawn(poll(srv.base.clone(), srv.key.clone(), current.clone(), stop_rx.clone(), pace))
        })
        .collect();
    let start = Instant::now();
    let stopper = async {
        tokio::time::sleep(Duration::from_secs(seconds)).await;
        let _ = stop_tx.send(true);
    };
    let (out, ()) = tokio::join!(during(stop_rx.clone()), stopper);
    let mut latencies = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (l, e) = t.await.expect("poller task completes");
        latencies.extend(l);
        errors += e;
    }
    let secs = start.elapsed().as_secs_f64();
    latencies.sort_unstable();
    (Window { latencies, errors, secs }, out)
}

/// Section 2: one encode with no pollers (fps baseline), a control window of
/// pollers with no encode, then the measured window: pollers during encodes.
async fn polling_section(srv: &Server, seconds: u64, pollers: usize, interval: Duration) {
    println!("-- 2. GET /v1/jobs/{{id}} under {pollers} concurrent pollers during an encode --");
    println!("encode: {CLIP}, profile {PROFILE}, 1 worker");
    println!(
        "each poller: its own reqwest::Client (pool_max_idle_per_host 1) = its own HTTP/1.1 connection; \
         one warm-up request per connection is not counted"
    );
    println!(
        "paced: each poller asks every {} ms (staggered) = {:.0} req/s offered, {}x an SDK polling once a second; \
         saturation: back to back",
        interval.as_millis(),
        pollers as f64 / interval.as_secs_f64(),
        (1000 / interval.as_millis().max(1))
    );
    let client = srv.client(1);

    // Baseline: one whole encode with only the driver looking at it.
    let id = submit(srv, &client).await;
    let (current, _) = watch::channel(id.clone());
    let (_keep, stop_rx) = watch::channel(false);
    let start = Instant::now();
    let base = drive(srv, id.clone(), current, stop_rx, false).await;
    let base_secs = start.elapsed().as_secs_f64();

    // Control: saturating pollers on the (finished) baseline job, no encode running.
    let control_secs = seconds.div_ceil(2);
    let (_keep, current_rx) = watch::channel(id);
    let (control, ()) = poll_window(srv, pollers, control_secs, None, current_rx, |_| async {}).await;

    // The target window: an encode always running, paced pollers.
    let id = submit(srv, &client).await;
    wait_started(srv, &id).await;
    let (current, current_rx) = watch::channel(id.clone());
    let (window, report) =
        poll_window(srv, pollers, seconds, Some(interval), current_rx, |stop| drive(srv, id, current, stop, true))
            .await;

    // Saturation during an encode (not the target: a stress figure).
    let id = submit(srv, &client).await;
    wait_started(srv, &id).await;
    let (current, current_rx) = watch::channel(id.clone());
    let (saturated, sat_report) =
        poll_window(srv, pollers, control_secs, None, current_rx, |stop| drive(srv, id, current, stop, true)).await;

    println!("saturation, no encode running ({control_secs} s):");
    control.print(pollers, false);
    println!("paced pollers, encode running ({seconds} s) -- the target measurement:");
    window.print(pollers, true);
    println!(
        "  encodes during the window: {} ({} finished{})",
        report.encodes,
        report.finished,
        if report.not_completed > 0 { format!(", {} NOT completed", report.not_completed) } else { String::new() }
    );
    println!("saturation, encode running ({control_secs} s):");
    saturated.print(pollers, false);
    let fps = |v: &[f64]| mean(v).map_or_else(|| "n/a".to_string(), |f| format!("{f:.1}"));
    println!(
        "  encode fps (mean of progress.fps, sampled every {} ms): no pollers {} (that whole encode took {:.1} s), \
         paced pollers {}, saturating pollers {}",
        DRIVER_PERIOD.as_millis(),
        fps(&base.fps),
        base_secs,
        fps(&report.fps),
        fps(&sat_report.fps)
    );
    let p99 = percentile(&window.latencies, 99.0);
    println!(
        "target p99 < {} ms (paced pollers, encode running): {} (p99 {})",
        P99_TARGET.as_millis(),
        if p99 < P99_TARGET && window.errors == 0 { "met" } else { "not met" },
        ms(p99)
    );
}
