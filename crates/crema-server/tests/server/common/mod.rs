//! A real server on loopback for the HTTP tests: a `Service` on a temp data
//! dir, the real router, `crema_server::serve` on 127.0.0.1:0, and an API key.
#![allow(dead_code)]

pub mod contract;

use crema_server::AppState;
use crema_service::{Config, Service};
use reqwest::StatusCode;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::watch;

pub use crema_testkit::{fixture, root};

/// A running server.
pub struct TestServer {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// A valid API key.
    pub key: String,
    /// The service behind the server.
    pub service: Arc<Service>,
    /// The data folder (kept until the server is dropped, unless `keep` took it).
    pub data_dir: PathBuf,
    tmp: Option<tempfile::TempDir>,
    stop: watch::Sender<bool>,
    task: Option<tokio::task::JoinHandle<()>>,
}

static IDEM: AtomicU64 = AtomicU64::new(0);

/// A fresh Idempotency-Key.
pub fn idem() -> String {
    format!("test-{}-{}", std::process::id(), IDEM.fetch_add(1, Ordering::SeqCst))
}

impl TestServer {
    /// Starts a server on a fresh temp data dir with `workers` workers and the
    /// fixtures folder as a source root; `configure` adjusts the config.
    pub async fn start(workers: usize, configure: impl FnOnce(&mut Config)) -> Self {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().to_path_buf();
        let mut s = Self::start_in(&dir, workers, configure).await;
        s.tmp = Some(tmp);
        s
    }

    /// Starts a server on `data_dir` (which may hold a previous server's data).
    pub async fn start_in(data_dir: &Path, workers: usize, configure: impl FnOnce(&mut Config)) -> Self {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut config = Config::new(data_dir);
        config.workers = workers;
        config.source_roots = vec![root().join("fixtures")];
        config.disk_min_free_bytes = 0;
        configure(&mut config);
        let service = Arc::new(Service::open(config).await.expect("service opens"));
        let key = service.create_key("tests").await.expect("key").key;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let app = crema_server::router(AppState { service: service.clone(), tls: false, ui_dir: None });
        let (stop, mut rx) = watch::channel(false);
        let task = tokio::spawn(async move {
            let shutdown = async move {
                let _ = rx.wait_for(|s| *s).await;
            };
            crema_server::serve(listener, app, None, shutdown, Duration::from_secs(1)).await.expect("serve");
        });
        Self { base, key, service, data_dir: data_dir.to_path_buf(), tmp: None, stop, task: Some(task) }
    }

    /// Stops the HTTP server and the service (graceful, 1 s grace); keeps the data dir.
    pub async fn stop(mut self) -> Option<tempfile::TempDir> {
        self.service.shutdown(Duration::from_secs(1)).await;
        let _ = self.stop.send(true);
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
        self.tmp.take()
    }

    /// Absolute URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// A client that sends the API key.
    pub fn client(&self) -> reqwest::Client {
        let mut h = reqwest::header::HeaderMap::new();
        h.insert(reqwest::header::AUTHORIZATION, format!("Bearer {}", self.key).parse().expect("header"));
        reqwest::Client::builder()
            .default_headers(h)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client")
    }

    /// A client without credentials.
    pub fn anonymous(&self) -> reqwest::Client {
        reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client")
    }

    /// GET → (status, JSON body).
    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        let r = self.client().get(self.url(path)).send().await.expect("GET");
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// POST JSON with a fresh Idempotency-Key → (status, JSON body).
    pub async fn post(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        let r =
            self.client().post(self.url(path)).header("Idempotency-Key", idem()).json(body).send().await.expect("POST");
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// DELETE → (status, JSON body).
    pub async fn delete(&self, path: &str) -> (StatusCode, Value) {
        let r = self.client().delete(self.url(path)).send().await.expect("DELETE");
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// Uploads `bytes` as `name` in the session's chunk size, in order; returns the upload ID.
    pub async fn upload(&self, name: &str, bytes: &[u8]) -> String {
        let (st, created) = self
            .post(
                "/v1/uploads",
                &serde_json::json!({"file_name": name, "file_size": bytes.len(), "mime_type": "video/mp4"}),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "{created}");
        let id = created["id"].as_str().expect("id").to_string();
        let chunk = created["chunk_size"].as_u64().expect("chunk_size") as usize;
        for (n, part) in bytes.chunks(chunk).enumerate() {
            let r = self
                .client()
                .put(self.url(&format!("/v1/uploads/{id}/parts/{n}")))
                .header("Content-Type", "application/octet-stream")
                .body(part.to_vec())
                .send()
                .await
                .expect("PUT");
            assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap_or_default());
        }
        let (st, done) = self.post(&format!("/v1/uploads/{id}/complete"), &serde_json::json!({})).await;
        assert_eq!(st, StatusCode::OK, "{done}");
        id
    }

    /// Polls a job until it is terminal (at most `secs` seconds); returns it.
    pub async fn wait_terminal(&self, id: &str, secs: u64) -> Value {
        let deadline = std::time::Instant::now() + Duration::from_secs(secs);
        loop {
            let (st, job) = self.get(&format!("/v1/jobs/{id}")).await;
            assert_eq!(st, StatusCode::OK, "{job}");
            if matches!(job["status"].as_str(), Some("completed" | "failed" | "canceled")) {
                return job;
            }
            assert!(std::time::Instant::now() < deadline, "job {id} not terminal after {secs} s: {job}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}
