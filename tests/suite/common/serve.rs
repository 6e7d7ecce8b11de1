//! `crema serve` as a child process on a loopback port, and a small
//! client for its `/v1` API (bearer key, an `Idempotency-Key` per POST).

use super::{crema_bin, fixtures_dir};
use reqwest::StatusCode;
use serde_json::Value;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `crema serve` (one worker, 2 s grace, sources under the
/// fixture folder); killed when dropped.
pub struct Server {
    pub child: Child,
    pub base: String,
}

impl Server {
    pub fn start(data: &Path) -> Server {
        let port = std::net::TcpListener::bind("127.0.0.1:0").expect("port").local_addr().expect("addr").port();
        let child = Command::new(crema_bin())
            .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--workers", "1", "--grace-seconds", "2"])
            .arg("--data-dir")
            .arg(data)
            .arg("--source-root")
            .arg(fixtures_dir())
            .env("CREMA_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("crema serve starts");
        Server { child, base: format!("http://127.0.0.1:{port}") }
    }

    /// A farm node: `crema serve` on `data` (its scratch and outputs) with
    /// the shared `database`, node name `name` and a lease of `lease_s` seconds.
    pub fn start_node(data: &Path, database: &str, name: &str, lease_s: u32) -> Server {
        let port = std::net::TcpListener::bind("127.0.0.1:0").expect("port").local_addr().expect("addr").port();
        let child = Command::new(crema_bin())
            .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--workers", "1", "--grace-seconds", "2"])
            .args(["--database", database, "--node-name", name, "--lease-seconds", &lease_s.to_string()])
            .args(["--webhook-allow", "127.0.0.1/32"])
            .arg("--data-dir")
            .arg(data)
            .arg("--source-root")
            .arg(fixtures_dir())
            .env("CREMA_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("crema serve starts");
        Server { child, base: format!("http://127.0.0.1:{port}") }
    }

    pub fn kill9(mut self) {
        // SIGKILL: no cleanup, no graceful anything.
        self.child.kill().expect("kill -9");
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `crema keys create` on `data`: the new key.
pub fn create_key(data: &Path) -> String {
    create_key_in(data, None)
}

/// `crema keys create` on `data`, in `database` when given.
pub fn create_key_in(data: &Path, database: Option<&str>) -> String {
    let mut cmd = Command::new(crema_bin());
    cmd.args(["keys", "create", "crash-test", "--data-dir"]).arg(data);
    if let Some(db) = database {
        cmd.args(["--database", db]);
    }
    let out = cmd.output().expect("keys");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf8").trim().to_string()
}

/// A `/v1` client with one key.
pub struct Api {
    pub http: reqwest::Client,
    pub base: String,
    pub key: String,
    pub n: std::cell::Cell<u32>,
}

impl Api {
    pub async fn wait_up(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while let Err(e) = self.http.get(format!("{}/healthz", self.base)).send().await {
            assert!(Instant::now() < deadline, "server did not come up: {e:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        let r = self.http.get(format!("{}{path}", self.base)).bearer_auth(&self.key).send().await.expect("GET");
        (r.status(), r.json().await.unwrap_or(Value::Null))
    }
    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.n.set(self.n.get() + 1);
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.key)
            .header("Idempotency-Key", format!("crash-{}-{}", std::process::id(), self.n.get()))
            .json(&body)
            .send()
            .await
            .expect("POST");
        (r.status(), r.json().await.unwrap_or(Value::Null))
    }
    pub async fn put(&self, path: &str, bytes: Vec<u8>) -> StatusCode {
        let r =
            self.http.put(format!("{}{path}", self.base)).bearer_auth(&self.key).body(bytes).send().await.expect("PUT");
        r.status()
    }
}
