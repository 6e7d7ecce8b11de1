//! A throwaway PostgreSQL cluster for the test matrix: started once per test
//! binary in a temp folder (Debian's `postgresql`: `initdb` + `pg_ctl`, as the
//! `postgres` user when the tests run as root), one fresh database per data
//! folder, stopped when the binary exits.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

/// `CREMA_TEST_DATABASE=postgres` runs the service suite on PostgreSQL
/// (scripts/test.sh runs it both ways); anything else (or unset): SQLite.
pub fn enabled() -> bool {
    std::env::var("CREMA_TEST_DATABASE").is_ok_and(|v| v == "postgres")
}

struct Cluster {
    port: u16,
    bin: PathBuf,
    databases: Mutex<HashMap<PathBuf, String>>,
}

fn bin_dir() -> PathBuf {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| d.flatten().map(|e| e.path().join("bin")).filter(|p| p.join("initdb").is_file()).collect())
        .unwrap_or_default();
    versions.sort();
    versions.pop().unwrap_or_else(|| {
        panic!("PostgreSQL is not installed: run scripts/setup.sh (apt-get install -y postgresql) before these tests")
    })
}

fn as_owner(bin: &Path, tool: &str) -> Command {
    if unsafe_is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(bin.join(tool));
        c
    } else {
        Command::new(bin.join(tool))
    }
}

fn unsafe_is_root() -> bool {
    std::fs::metadata("/proc/self").map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0).unwrap_or(false)
}

fn run(mut c: Command, what: &str) {
    let out = c.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn cluster() -> &'static Cluster {
    static CLUSTER: OnceLock<Cluster> = OnceLock::new();
    CLUSTER.get_or_init(|| {
        let bin = bin_dir();
        let dir = std::env::temp_dir().join(format!("crema-pg-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let dir = dir.as_path();
        if unsafe_is_root() {
            run(
                {
                    let mut c = Command::new("chown");
                    c.arg("postgres:postgres").arg(dir);
                    c
                },
                "chown the cluster folder",
            );
        }
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let mut c = as_owner(&bin, "initdb");
        c.arg("-D").arg(dir.join("data")).args(["-U", "crema", "--auth=trust", "-E", "UTF8", "--no-sync"]);
        run(c, "initdb");
        let mut c = as_owner(&bin, "pg_ctl");
        c.arg("-D").arg(dir.join("data")).arg("-o").arg(format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300",
            dir.display()
        ));
        c.arg("-l").arg(dir.join("log")).args(["-w", "start"]);
        run(c, "pg_ctl start");
        stop_at_exit();
        Cluster { port, bin, databases: Mutex::new(HashMap::new()) }
    })
}

/// The database URL of data folder `data_dir` (created on first use, the
/// same one afterwards so a test can reopen its service).
pub fn database_for(data_dir: &Path) -> String {
    let c = cluster();
    let mut dbs = c.databases.lock().unwrap();
    if let Some(url) = dbs.get(data_dir) {
        return url.clone();
    }
    let name = format!("t{}", dbs.len());
    let mut cmd = as_owner(&c.bin, "createdb");
    cmd.args(["-h", "127.0.0.1", "-p", &c.port.to_string(), "-U", "crema", &name]);
    run(cmd, "createdb");
    let url = format!("postgres://crema@127.0.0.1:{}/{name}", c.port);
    dbs.insert(data_dir.to_path_buf(), url.clone());
    url
}

extern "C" fn stop_cluster() {
    if let Some(c) = CLUSTER_FOR_EXIT.get() {
        let mut cmd = as_owner(&c.0, "pg_ctl");
        cmd.arg("-D").arg(c.1.join("data")).args(["-m", "immediate", "stop"]);
        let _ = cmd.output();
        let _ = std::fs::remove_dir_all(&c.1);
    }
}

static CLUSTER_FOR_EXIT: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();

unsafe extern "C" {
    fn atexit(f: extern "C" fn()) -> i32;
}

fn stop_at_exit() {
    // Set just before the cluster is stored; atexit runs after main returns.
    let bin = bin_dir();
    let dir = std::env::temp_dir().join(format!("crema-pg-{}", std::process::id()));
    let _ = CLUSTER_FOR_EXIT.set((bin, dir));
    unsafe {
        atexit(stop_cluster);
    }
}
