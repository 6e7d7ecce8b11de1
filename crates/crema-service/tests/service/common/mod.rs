//! Shared helpers for the service tests: fixtures, a service in a temp dir, waiting.

#![allow(dead_code)]

use crema_service::{Config, Job, JobSpec, JobStatus, Origin, Principal, Service};
use std::path::Path;
use std::time::{Duration, Instant};

pub use crema_testkit::{fixture, fixtures_dir, postgres};

/// The origin of a network client (an API key), as the HTTP transport passes it:
/// only the source roots, no `output.dir`.
pub fn network() -> Origin {
    Origin::Network(Principal { key_id: "key_test".into() })
}

/// The database of `data_dir` in this run of the matrix: `None` (SQLite in
/// the folder) unless `CREMA_TEST_DATABASE=postgres`.
pub fn database(data_dir: &Path) -> Option<crema_service::Database> {
    postgres::enabled().then(|| postgres::database_for(data_dir).parse().expect("database URL"))
}

/// A config around `data_dir` with the fixtures folder as the only source
/// root, on the matrix's database ([`database`]).
pub fn config(data_dir: &Path, workers: usize) -> Config {
    let mut c = Config::new(data_dir);
    c.database = database(data_dir);
    c.workers = workers;
    c.source_roots = vec![fixtures_dir()];
    c
}

/// Opens a service on `data_dir`.
pub async fn open(data_dir: &Path, workers: usize) -> Service {
    Service::open(config(data_dir, workers)).await.expect("open service")
}

/// The short H.264 clip scaled to 360p with sophon-espresso.
pub fn quick_spec() -> JobSpec {
    let mut spec = JobSpec::path(fixture("h264_720p_2s.mp4"), "sophon-espresso");
    spec.output.target_height = Some(360);
    spec
}

/// Polls until the job satisfies `pred`, panicking after `timeout`.
pub async fn wait_until(svc: &Service, id: &str, timeout: Duration, pred: impl Fn(&Job) -> bool) -> Job {
    let start = Instant::now();
    loop {
        let job = svc.get(id).await.expect("get");
        if pred(&job) {
            return job;
        }
        assert!(start.elapsed() < timeout, "job {id} did not reach the expected state in {timeout:?}: {job:#?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits for a terminal status.
pub async fn wait_terminal(svc: &Service, id: &str) -> Job {
    wait_until(svc, id, Duration::from_secs(180), |j| j.status.is_terminal()).await
}

/// Whether a folder holds any file (recursively); false when it does not exist.
pub fn has_files(dir: &Path) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else { return false };
    entries.flatten().any(|e| {
        let p = e.path();
        if p.is_dir() { has_files(&p) } else { true }
    })
}

/// Status shortcut.
pub fn is(status: JobStatus) -> impl Fn(&Job) -> bool {
    move |j| j.status == status
}

/// A pool of its own on the service's database (another connection, as
/// another process or node would have): for tests that change rows directly.
/// SQLite or PostgreSQL as the matrix says ([`database`]); SQL in `$N` form.
pub async fn db(data_dir: &Path) -> sqlx::AnyPool {
    sqlx::any::install_default_drivers();
    let url = match database(data_dir) {
        Some(crema_service::Database::Postgres(url)) => url,
        _ => format!("sqlite://{}", data_dir.join("crema.db").display()),
    };
    sqlx::any::AnyPoolOptions::new()
        .max_connections(1)
        .after_connect(|conn, _| {
            Box::pin(async move {
                use sqlx::Executor;
                if conn.backend_name() == "SQLite" {
                    conn.execute("PRAGMA busy_timeout = 10000").await?;
                }
                Ok(())
            })
        })
        .connect(&url)
        .await
        .expect("open db")
}

/// A real, small file system (tmpfs) mounted on a temp folder, unmounted on drop.
pub struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    /// Mounts a tmpfs of `bytes` bytes; `None` (with the reason printed) where
    /// mounting is refused (not root, no `CAP_SYS_ADMIN`, no `mount`).
    pub fn mount(bytes: u64) -> Option<SmallDisk> {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={bytes}"), "tmpfs"])
            .arg(dir.path())
            .output();
        match out {
            Ok(o) if o.status.success() => Some(SmallDisk { dir }),
            Ok(o) => {
                eprintln!("SKIPPED: cannot mount a tmpfs here: {}", String::from_utf8_lossy(&o.stderr).trim());
                None
            }
            Err(e) => {
                eprintln!("SKIPPED: cannot run mount: {e}");
                None
            }
        }
    }

    /// The mount point.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Free bytes on it (what an unprivileged writer may use).
    pub fn free(&self) -> u64 {
        fs4::available_space(self.path()).expect("statvfs")
    }

    /// Writes `path` until the file system is full (ENOSPC): 0 bytes free afterwards.
    pub fn fill(&self, path: &Path) {
        use std::io::Write;
        let mut f = std::fs::File::create(path).expect("filler");
        for block in [1 << 16, 4096, 1] {
            let buf = vec![0u8; block];
            loop {
                match f.write(&buf) {
                    Ok(0) => break,
                    Ok(_) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::StorageFull => break,
                    Err(e) => panic!("filling {}: {e}", path.display()),
                }
            }
        }
        drop(f);
        assert_eq!(self.free(), 0, "the disk is not full");
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        match std::process::Command::new("umount").arg("-l").arg(self.dir.path()).status() {
            Ok(s) if s.success() => {}
            other => eprintln!("umount {}: {other:?}", self.dir.path().display()),
        }
    }
}

/// A queued job whose source broke after it was accepted: a copy of the short
/// clip in `scratch`, submitted by a service without workers, then
/// truncated to 4 KiB, and the service reopened on `config` (with its
/// workers). Broken files are refused at submission (issue 9), so this is
/// how a worker meets a `source_invalid` failure (a source replaced or
/// damaged on disk between submission and encode). `config` must use the
/// same data folder; returns the reopened service and the job's ID.
pub async fn job_with_source_broken_after_submit(
    config: Config,
    scratch: &Path,
    mut spec: JobSpec,
) -> (Service, String) {
    let src = scratch.join("breaks-later.mp4");
    std::fs::copy(fixture("h264_720p_2s.mp4"), &src).expect("copy the clip");
    spec.source = crema_service::SourceSpec::Path { path: src.clone() };
    let mut idle = config.clone();
    idle.workers = 0;
    let svc = Service::open(idle).await.expect("open service");
    let job = svc.submit(spec, Origin::Local).await.expect("a readable source is accepted");
    svc.shutdown(Duration::ZERO).await;
    let bytes = std::fs::read(&src).expect("read the copy");
    std::fs::write(&src, &bytes[..4096]).expect("truncate the copy");
    (Service::open(config).await.expect("reopen service"), job.id)
}

/// Deterministic non-repeating test bytes.
pub fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}
