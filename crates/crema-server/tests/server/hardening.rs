//! Connection hardening over real TCP on loopback (issue 9, defects 2, 5, 6):
//! silent and half-sent connections are shed at the connection cap and
//! timed out while `/healthz` keeps answering; keep-alive connections close
//! when idle; a stalled body is `400 validation_error`, not `413`; rate limits
//! answer `429 rate_limited` with `Retry-After`; and what hyper answers for
//! requests it cannot parse.

use crema_server::rate_limit::RateLimitOptions;
use crema_server::{AppState, ServeOptions};
use crema_service::{Config, Service};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;

/// A server on 127.0.0.1 with `options`, its service and an API key.
struct Server {
    addr: SocketAddr,
    key: String,
    service: Arc<Service>,
    stop: watch::Sender<bool>,
    _tmp: tempfile::TempDir,
}

impl Server {
    async fn start(options: ServeOptions) -> Self {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let tmp = tempfile::tempdir().expect("tempdir");
        let mut config = Config::new(tmp.path());
        config.workers = 0;
        config.disk_min_free_bytes = 0;
        let service = Arc::new(Service::open(config).await.expect("service opens"));
        let key = service.create_key("tests").await.expect("key").key;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let app = crema_server::router(AppState { service: service.clone(), tls: false, ui_dir: None });
        let (stop, mut rx) = watch::channel(false);
        tokio::spawn(async move {
            let shutdown = async move {
                let _ = rx.wait_for(|s| *s).await;
            };
            crema_server::serve_with(listener, app, None, shutdown, Duration::from_secs(1), options)
                .await
                .expect("serve");
        });
        Self { addr, key, service, stop, _tmp: tmp }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    async fn stop(self) {
        let _ = self.stop.send(true);
        self.service.shutdown(Duration::from_secs(1)).await;
    }
}

/// A raw answer: status, lower-cased head, body, and whether the server closed the connection.
struct Raw {
    status: u16,
    head: String,
    body: Vec<u8>,
    closed: bool,
}

/// Reads one response (head, then `content-length` bytes) and then waits up
/// to `close_within` for the server to close the connection.
async fn read_response(stream: &mut TcpStream, close_within: Duration) -> Raw {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match tokio::time::timeout_at(deadline, stream.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                panic!("connection closed before a response head: {:?}", String::from_utf8_lossy(&buf))
            }
            Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
            Err(_) => panic!("no response head in 30 s"),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_lowercase();
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("status code");
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .map(|v| v.trim().parse().expect("content-length"))
        .unwrap_or(0);
    let mut body = buf[head_end..].to_vec();
    while body.len() < len {
        let n = tokio::time::timeout_at(deadline, stream.read(&mut chunk)).await.expect("body").expect("body");
        assert!(n > 0, "closed mid-body");
        body.extend_from_slice(&chunk[..n]);
    }
    let closed = matches!(tokio::time::timeout(close_within, stream.read(&mut chunk)).await, Ok(Ok(0)) | Ok(Err(_)));
    Raw { status, head, body, closed }
}

/// Waits until `stream` is closed by the server (EOF or reset) and records when.
fn watch_close(mut stream: TcpStream, closed: Arc<Mutex<Vec<Instant>>>) {
    tokio::spawn(async move {
        let mut buf = [0u8; 1024];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
        closed.lock().unwrap().push(Instant::now());
    });
}

fn count(closed: &Arc<Mutex<Vec<Instant>>>) -> usize {
    closed.lock().unwrap().len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_connections_over_the_cap_are_shed_and_healthz_still_answers() {
    const CAP: usize = 64;
    const SILENT: usize = 200;
    const HALF: usize = 20;
    let timeout = Duration::from_secs(8);
    let s = Server::start(ServeOptions {
        max_connections: Some(CAP),
        first_byte_timeout: timeout,
        idle_timeout: timeout,
        ..ServeOptions::default()
    })
    .await;
    let closed = Arc::new(Mutex::new(Vec::new()));
    let opened = Instant::now();
    for _ in 0..SILENT {
        watch_close(TcpStream::connect(s.addr).await.expect("connect"), closed.clone());
    }
    for _ in 0..HALF {
        let mut c = TcpStream::connect(s.addr).await.expect("connect");
        c.write_all(b"GET /healthz HTTP/1.1\r\nHost: crema\r\n").await.expect("half a head");
        watch_close(c, closed.clone());
    }

    // The probe is answered at once, not after the silent ones time out.
    let probe = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().expect("client");
    let r =
        probe.get(s.url("/healthz")).send().await.expect("/healthz answers within 5 s with 220 idle connections open");
    assert_eq!(r.status(), 200);
    let answered = opened.elapsed();
    assert!(answered < timeout, "the probe waited for the timeouts ({answered:?})");

    // Only CAP connections are ever kept: the others were closed to make room,
    // well before any timeout.
    let total = SILENT + HALF + 1;
    let shed = total - CAP;
    while count(&closed) < shed && opened.elapsed() < timeout - Duration::from_secs(1) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(count(&closed) >= shed, "{} of {total} closed before the timeouts; want at least {shed}", count(&closed));

    // The rest are closed by the first-byte / idle timeout.
    let all = SILENT + HALF;
    while count(&closed) < all && opened.elapsed() < timeout + Duration::from_secs(15) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(count(&closed), all, "every silent or half-sent connection is closed by the server");

    // And the server still serves.
    assert_eq!(probe.get(s.url("/healthz")).send().await.expect("GET").status(), 200);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_alive_connections_close_when_idle() {
    let idle = Duration::from_secs(2);
    let s = Server::start(ServeOptions { idle_timeout: idle, ..ServeOptions::default() }).await;
    let mut c = TcpStream::connect(s.addr).await.expect("connect");
    c.write_all(b"GET /healthz HTTP/1.1\r\nHost: crema\r\n\r\n").await.expect("request");
    let r = read_response(&mut c, Duration::from_millis(500)).await;
    assert_eq!(r.status, 200);
    assert!(!r.closed, "a keep-alive connection stays open while it is not idle for long");
    // A second request on the same connection works, then silence closes it.
    c.write_all(b"GET /healthz HTTP/1.1\r\nHost: crema\r\n\r\n").await.expect("request");
    let r = read_response(&mut c, idle + Duration::from_secs(10)).await;
    assert_eq!(r.status, 200);
    assert!(r.closed, "the server closes a keep-alive connection idle for {idle:?}");
    // HTTP/2 (prior knowledge) goes through the same connection loop.
    let h2 = reqwest::Client::builder().http2_prior_knowledge().build().expect("client");
    let r = h2.get(s.url("/healthz")).send().await.expect("GET over HTTP/2");
    assert_eq!((r.status().as_u16(), r.version()), (200, reqwest::Version::HTTP_2));
    s.stop().await;
}

async fn stalled(s: &Server, head: &str, first_bytes: &[u8]) -> Raw {
    let mut c = TcpStream::connect(s.addr).await.expect("connect");
    c.write_all(head.as_bytes()).await.expect("head");
    c.write_all(first_bytes).await.expect("part of the body");
    read_response(&mut c, Duration::from_secs(5)).await
}

fn check_stall(r: &Raw, what: &str) {
    assert_eq!(r.status, 400, "{what}: {} {}", r.head, String::from_utf8_lossy(&r.body));
    let body: Value = serde_json::from_slice(&r.body).expect("JSON envelope");
    assert_eq!(body["error"]["code"], "validation_error", "{what}: {body}");
    assert_eq!(body["error"]["retryable"], false, "{what}: {body}");
    assert!(body["error"]["message"].as_str().unwrap_or("").contains("stalled"), "{what}: {body}");
    assert!(r.closed, "{what}: the connection of a stalled body is closed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_body_is_400_validation_error_not_413() {
    let s = Server::start(ServeOptions { body_idle_timeout: Duration::from_secs(1), ..ServeOptions::default() }).await;
    let auth = format!("Authorization: Bearer {}\r\n", s.key);

    // A JSON POST under /v1 (read by the Idempotency-Key layer).
    let head = format!(
        "POST /v1/uploads HTTP/1.1\r\nHost: crema\r\n{auth}Idempotency-Key: stall-1\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n"
    );
    check_stall(&stalled(&s, &head, b"{\"file_name\": ").await, "POST /v1/uploads");

    // An upload part (streamed to disk by the service).
    let client = reqwest::Client::new();
    let up: Value = client
        .post(s.url("/v1/uploads"))
        .bearer_auth(&s.key)
        .header("Idempotency-Key", "stall-2")
        .json(&json!({"file_name": "a.mov", "file_size": 1000, "mime_type": "video/quicktime"}))
        .send()
        .await
        .expect("create upload")
        .json()
        .await
        .expect("json");
    let id = up["id"].as_str().expect("upload id");
    let head = format!(
        "PUT /v1/uploads/{id}/parts/0 HTTP/1.1\r\nHost: crema\r\n{auth}\
         Content-Type: application/octet-stream\r\nContent-Length: 1000\r\n\r\n"
    );
    check_stall(&stalled(&s, &head, &[7u8; 10]).await, "PUT part");
    let got: Value = client
        .get(s.url(&format!("/v1/uploads/{id}")))
        .bearer_auth(&s.key)
        .send()
        .await
        .expect("GET")
        .json()
        .await
        .expect("json");
    assert_eq!(got["received_chunks"], json!([]), "a stalled part is not stored: {got}");

    // A JSON body read by axum's extractor.
    let head =
        "POST /auth/login HTTP/1.1\r\nHost: crema\r\nContent-Type: application/json\r\nContent-Length: 80\r\n\r\n";
    check_stall(&stalled(&s, head, b"{\"api_key\": ").await, "POST /auth/login");
    s.stop().await;
}

fn limited(per_second: u32, burst: u32, limit_loopback: bool) -> ServeOptions {
    ServeOptions { rate_limit: RateLimitOptions { per_second, burst, limit_loopback }, ..ServeOptions::default() }
}

/// Sends `GET path` with `key` up to `n` times; returns the statuses and the first 429.
async fn hammer(s: &Server, path: &str, key: Option<&str>, n: usize) -> (Vec<u16>, Option<reqwest::Response>) {
    let client = reqwest::Client::new();
    let mut statuses = Vec::new();
    for _ in 0..n {
        let mut req = if path == "/auth/login" {
            client.post(s.url(path)).json(&json!({"api_key": "crema_sk_wrong"}))
        } else {
            client.get(s.url(path))
        };
        if let Some(k) = key {
            req = req.bearer_auth(k);
        }
        let r = req.send().await.expect("request");
        statuses.push(r.status().as_u16());
        if r.status() == 429 {
            return (statuses, Some(r));
        }
    }
    (statuses, None)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_over_its_rate_gets_429_with_retry_after_and_other_keys_do_not() {
    let s = Server::start(limited(1, 2, true)).await;
    let other = s.service.create_key("other").await.expect("key").key;

    let (statuses, limited) = hammer(&s, "/v1/profiles", Some(&s.key), 12).await;
    assert_eq!(statuses[..2], [200, 200], "the burst passes: {statuses:?}");
    let r = limited.unwrap_or_else(|| panic!("no 429 in {statuses:?}"));
    let retry: u64 = r.headers()["retry-after"].to_str().expect("ascii").parse().expect("whole seconds");
    assert!(retry >= 1, "Retry-After {retry}");
    assert!(r.headers().contains_key("x-request-id"));
    let body: Value = r.json().await.expect("JSON envelope");
    assert_eq!(body["error"]["code"], "rate_limited", "{body}");
    assert_eq!(body["error"]["retryable"], true, "{body}");
    assert!(body["error"]["request_id"].as_str().is_some_and(|id| id.starts_with("req_")), "{body}");

    // Another key has its own bucket; a SOPHON route without 429 in its
    // contract list is never limited.
    let client = reqwest::Client::new();
    let r = client.get(s.url("/v1/profiles")).bearer_auth(&other).send().await.expect("GET");
    assert_eq!(r.status(), 200, "another key is not affected");
    let r = client.get(s.url("/v1/jobs")).bearer_auth(&s.key).send().await.expect("GET");
    assert_eq!(r.status(), 200, "GET /v1/jobs may not answer 429 (contract)");

    // Without a credential the address is counted (e.g. key guessing through the login).
    let (statuses, limited) = hammer(&s, "/auth/login", None, 12).await;
    assert_eq!(statuses[0], 401, "{statuses:?}");
    let r = limited.unwrap_or_else(|| panic!("no 429 in {statuses:?}"));
    let body: Value = r.json().await.expect("JSON envelope");
    assert_eq!(body["error"]["code"], "rate_limited", "{body}");
    // Health probes are never limited.
    let (statuses, limited) = hammer(&s, "/healthz", None, 6).await;
    assert!(limited.is_none(), "{statuses:?}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loopback_peers_are_exempt_by_default() {
    let s = Server::start(limited(1, 1, false)).await;
    let (statuses, limited) = hammer(&s, "/v1/profiles", Some(&s.key), 10).await;
    assert!(limited.is_none(), "loopback was limited: {statuses:?}");
    assert!(statuses.iter().all(|&st| st == 200), "{statuses:?}");
    let (statuses, limited) = hammer(&s, "/auth/login", None, 10).await;
    assert!(limited.is_none(), "loopback was limited: {statuses:?}");
    s.stop().await;
}

/// Sends `request` (writing in the background, as the server may stop
/// reading) and reads hyper's own answer.
async fn reject(s: &Server, request: Vec<u8>) -> Raw {
    let c = TcpStream::connect(s.addr).await.expect("connect");
    let (mut rd, mut wr) = c.into_split();
    tokio::spawn(async move {
        let _ = wr.write_all(&request).await;
        let _ = wr.flush().await;
        // Keep the write half open until the server closes.
        tokio::time::sleep(Duration::from_secs(10)).await;
    });
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), rd.read_to_end(&mut buf)).await.expect("closed within 10 s");
    let text = String::from_utf8_lossy(&buf).to_lowercase();
    let head_end = text.find("\r\n\r\n").map(|i| i + 4).unwrap_or(text.len());
    let status = text.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    Raw { status, head: text[..head_end].to_string(), body: buf[head_end..].to_vec(), closed: true }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protocol_level_rejections_have_a_status_no_body_and_close() {
    let s = Server::start(ServeOptions::default()).await;
    let huge_header = format!("GET /healthz HTTP/1.1\r\nHost: crema\r\nX-Big: {}\r\n\r\n", "a".repeat(100_000));
    let long_url = format!("GET /{} HTTP/1.1\r\nHost: crema\r\n\r\n", "a".repeat(64 * 1024));
    let many: String = (0..101).map(|i| format!("X-H{i}: v\r\n")).collect();
    let many_headers = format!("GET /healthz HTTP/1.1\r\nHost: crema\r\n{many}\r\n");
    let cases: [(&str, String, u16); 6] = [
        ("bad request line", "NOT A REQUEST\r\n\r\n".into(), 400),
        ("bad method", "G(T /healthz HTTP/1.1\r\nHost: crema\r\n\r\n".into(), 400),
        (
            "duplicate Content-Length",
            "POST /auth/login HTTP/1.1\r\nHost: crema\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello".into(),
            400,
        ),
        ("100 KB header", huge_header, 431),
        ("64 KiB URL", long_url, 431),
        ("101 headers", many_headers, 431),
    ];
    for (what, request, want) in cases {
        let r = reject(&s, request.into_bytes()).await;
        eprintln!("{what}: {:?}", r.head);
        assert_eq!(r.status, want, "{what}: {}", r.head);
        assert!(r.body.is_empty(), "{what}: hyper sends no body");
        assert!(r.head.contains("content-length: 0") && r.head.contains("connection: close"), "{what}: {}", r.head);
        assert!(!r.head.contains("x-request-id"), "{what}: no service ran");
        assert!(r.closed, "{what}");
    }
    // Identical duplicate Content-Length values are accepted (RFC 9110 §8.6): the request reaches the API.
    let r = reject(
        &s,
        b"POST /auth/login HTTP/1.1\r\nHost: crema\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n{}".to_vec(),
    )
    .await;
    assert!(r.head.contains("x-request-id"), "{}", r.head);
    s.stop().await;
}
