//! Crash safety of `crema serve` with the real binary: kill -9 in the middle
//! of an encode and in the middle of a chunked upload, restart on the same
//! data folder, and see every job finish and every acknowledged part kept.
//! Also checks the graceful stop (SIGTERM → `draining`, running job requeued),
//! and a watch folder killed in the middle of a batch (each file once).

use crate::common::serve::{Api, Server, create_key};
use crate::common::{crema, crema_bin, ffmpeg, fixture, tempdir};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_encode_and_mid_upload_loses_nothing() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let data = tempdir();
    let key = create_key(data.path());
    let server = Server::start(data.path());
    let api = Api { http: reqwest::Client::new(), base: server.base.clone(), key, n: Default::default() };
    api.wait_up().await;

    // Three jobs; the first is encoding when the process dies.
    let mut ids = Vec::new();
    for _ in 0..3 {
        let body = json!({"source": {"type": "path", "path": fixture("bigbuckbunny.mp4")}, "profile": "sophon-espresso",
                          "output": {"target_height": 480}});
        let (st, job) = api.post("/v1/jobs", body).await;
        assert_eq!(st, StatusCode::CREATED, "{job}");
        ids.push(job["id"].as_str().expect("id").to_string());
    }
    // A multi-part upload (over 64 MiB, so 8 MiB parts): half the parts acknowledged.
    let size: usize = 64 * 1024 * 1024 + 3 * 1024 * 1024;
    let source: Vec<u8> = (0..size).map(|i| (i * 31 % 251) as u8).collect();
    let (st, up) = api
        .post(
            "/v1/uploads",
            json!({"file_name": "big.bin", "file_size": size, "mime_type": "application/octet-stream"}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{up}");
    let upl = up["id"].as_str().expect("id").to_string();
    let chunk = up["chunk_size"].as_u64().expect("chunk") as usize;
    let parts: Vec<&[u8]> = source.chunks(chunk).collect();
    assert!(parts.len() >= 3, "{up}");
    let acked: Vec<usize> = (0..parts.len()).step_by(2).collect();
    for &n in &acked {
        assert_eq!(api.put(&format!("/v1/uploads/{upl}/parts/{n}"), parts[n].to_vec()).await, StatusCode::OK);
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, job) = api.get(&format!("/v1/jobs/{}", ids[0])).await;
        if job["status"] == "encoding" && job["progress"]["percent"].as_f64().unwrap_or(0.0) > 1.0 {
            break;
        }
        assert!(Instant::now() < deadline, "job never got to encoding: {job}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server.kill9();

    // Restart on the same data folder.
    let server = Server::start(data.path());
    let api = Api { base: server.base.clone(), ..api };
    api.wait_up().await;
    let (st, state) = api.get(&format!("/v1/uploads/{upl}")).await;
    assert_eq!(st, StatusCode::OK, "{state}");
    let kept: Vec<usize> =
        state["received_chunks"].as_array().expect("list").iter().map(|v| v.as_u64().expect("n") as usize).collect();
    assert_eq!(kept, acked, "every acknowledged part survives kill -9");
    for n in (0..parts.len()).filter(|n| !acked.contains(n)) {
        assert_eq!(api.put(&format!("/v1/uploads/{upl}/parts/{n}"), parts[n].to_vec()).await, StatusCode::OK);
    }
    let (st, done) = api.post(&format!("/v1/uploads/{upl}/complete"), json!({})).await;
    assert_eq!(st, StatusCode::OK, "{done}");
    assert_eq!(done["sha256"], hex::encode(Sha256::digest(&source)));

    // Every job finishes; the interrupted one ran again as attempt 2.
    let deadline = Instant::now() + Duration::from_secs(300);
    for (i, id) in ids.iter().enumerate() {
        let job = loop {
            let (_, job) = api.get(&format!("/v1/jobs/{id}")).await;
            if matches!(job["status"].as_str(), Some("completed" | "failed" | "canceled")) {
                break job;
            }
            assert!(Instant::now() < deadline, "job {id} did not finish: {job}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        assert_eq!(job["status"], "completed", "{job:#}");
        assert_eq!(job["attempt"], if i == 0 { 2 } else { 1 }, "{job:#}");
        assert_eq!(job["output"]["state"], "available", "{job:#}");
        // Network clients never see server paths (issue 9): look on disk.
        let out = data.path().join("outputs").join(id).join("output.mp4");
        assert!(out.is_file(), "{}", out.display());
    }
    // No partial outputs or stray part files are left behind.
    let leftovers: Vec<String> =
        walk(data.path()).into_iter().filter(|p| p.contains("crema-partial") || p.ends_with(".tmp")).collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    drop(server);
}

fn walk(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p.display().to_string());
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_and_requeues_the_running_job() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let data = tempdir();
    let key = create_key(data.path());
    let mut server = Server::start(data.path());
    let api = Api { http: reqwest::Client::new(), base: server.base.clone(), key, n: Default::default() };
    api.wait_up().await;
    let body = json!({"source": {"type": "path", "path": fixture("bigbuckbunny.mp4")}, "profile": "sophon-americano"});
    let (st, job) = api.post("/v1/jobs", body).await;
    assert_eq!(st, StatusCode::CREATED, "{job}");
    let id = job["id"].as_str().expect("id").to_string();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, job) = api.get(&format!("/v1/jobs/{id}")).await;
        if job["status"] == "encoding" {
            break;
        }
        assert!(Instant::now() < deadline, "{job}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let pid = server.child.id() as libc::pid_t;
    // SAFETY: sending a signal to our own child process.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    // While draining, /readyz says so (the grace period is 2 s).
    let deadline = Instant::now() + Duration::from_secs(2);
    let body = loop {
        let r = api.http.get(format!("{}/readyz", api.base)).send().await.expect("readyz");
        if r.status() == StatusCode::SERVICE_UNAVAILABLE {
            break r.json::<Value>().await.expect("json");
        }
        assert!(Instant::now() < deadline, "/readyz never reported draining");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(body["checks_failed"].as_array().expect("list").contains(&json!("draining")), "{body}");
    let started = Instant::now();
    let status = server.child.wait().expect("wait");
    assert!(status.success(), "{status}");
    // Only a hang bound: 2 s of grace plus the workers' stop timeout (30 s), with room.
    assert!(started.elapsed() < Duration::from_secs(60), "stopped within the grace period plus cleanup");
    // The job went back to the queue with the same attempt, nothing left running.
    let server = Server::start(data.path());
    let api = Api { base: server.base.clone(), ..api };
    api.wait_up().await;
    let (_, job) = api.get(&format!("/v1/jobs/{id}")).await;
    assert_eq!(job["attempt"], 1, "a graceful stop does not use up an attempt: {job}");
    assert!(matches!(job["status"].as_str(), Some("queued" | "probing" | "encoding")), "{job}");
    let (_, canceled) = {
        let r =
            api.http.delete(format!("{}/v1/jobs/{id}", api.base)).bearer_auth(&api.key).send().await.expect("DELETE");
        (r.status(), r.json::<Value>().await.expect("json"))
    };
    assert_eq!(canceled["status"], "canceled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_https_with_the_given_certificate() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let data = tempdir();
    let (cert, key) = (data.path().join("cert.pem"), data.path().join("key.pem"));
    let out = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1"])
        .args(["-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
        .args(["-addext", "basicConstraints=critical,CA:FALSE", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl (scripts/setup.sh installs it)");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let api_key = create_key(data.path());
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("port").local_addr().expect("addr").port();
    let child = Command::new(crema_bin())
        .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--workers", "0"])
        .arg("--data-dir")
        .arg(data.path())
        .arg("--tls-cert")
        .arg(&cert)
        .arg("--tls-key")
        .arg(&key)
        .stdout(Stdio::null())
        .spawn()
        .expect("crema serve starts");
    let _server = Server { child, base: format!("https://localhost:{port}") };
    let ca = reqwest::Certificate::from_pem(&std::fs::read(&cert).expect("cert")).expect("pem");
    let http = reqwest::Client::builder()
        .add_root_certificate(ca)
        .resolve("localhost", ([127, 0, 0, 1], port).into())
        .build()
        .expect("client");
    let api = Api { http, base: format!("https://localhost:{port}"), key: api_key, n: Default::default() };
    api.wait_up().await;
    let (st, page) = api.get("/v1/jobs").await;
    assert_eq!(st, StatusCode::OK, "{page}");
    assert_eq!(page["jobs"], json!([]));
    // The session cookie is Secure over TLS.
    let r = api
        .http
        .post(format!("{}/auth/login", api.base))
        .json(&json!({"api_key": api.key}))
        .send()
        .await
        .expect("login");
    assert_eq!(r.status(), StatusCode::OK);
    let cookie = r.headers()["set-cookie"].to_str().expect("cookie").to_string();
    assert!(cookie.contains("Secure"), "{cookie}");
    // Plain HTTP on the TLS port gets nothing useful.
    let plain = reqwest::Client::new().get(format!("http://127.0.0.1:{port}/healthz")).send().await;
    assert!(plain.map(|r| !r.status().is_success()).unwrap_or(true));
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| rd.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_in_the_middle_of_a_watch_batch_encodes_each_file_once() {
    const N: usize = 30;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let tmp = tempdir();
    let (data, input, out) = (tmp.path().join("data"), tmp.path().join("in"), tmp.path().join("out"));
    std::fs::create_dir_all(&input).expect("mkdir");
    let clip = tmp.path().join("tiny.mp4");
    ffmpeg(&args![
        "-v",
        "error",
        "-f",
        "lavfi",
        "-i",
        "testsrc=size=160x90:rate=25",
        "-t",
        "0.3",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
        &clip
    ]);
    let bytes = std::fs::read(&clip).expect("clip");
    // The rule, through the CLI (store only), before the server runs.
    let add = crema(&args![
        "watch",
        "add",
        &input,
        "-p",
        "sophon-espresso",
        "--settle-seconds",
        "0.3",
        "--output-dir",
        &out,
        "--on-success",
        "move",
        "--data-dir",
        &data
    ]);
    assert_eq!(add.code, 0, "{}", add.describe());
    let key = create_key(&data);
    let server = Server::start(&data);
    let api = Api { http: reqwest::Client::new(), base: server.base.clone(), key, n: Default::default() };
    api.wait_up().await;
    for n in 0..N {
        // Same video, distinct bytes (an MP4 `free` box): distinct content hashes.
        let mut b = bytes.clone();
        let payload = format!("copy {n:04}");
        b.extend_from_slice(&((8 + payload.len()) as u32).to_be_bytes());
        b.extend_from_slice(b"free");
        b.extend_from_slice(payload.as_bytes());
        std::fs::write(input.join(format!("w{n:02}.mp4")), b).expect("write");
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while names(&out).len() < 3 {
        assert!(Instant::now() < deadline, "no outputs in 60 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.kill9();
    let before = names(&out).len();
    assert!(before < N, "the batch finished before the kill");

    let server = Server::start(&data);
    let api = Api { base: server.base.clone(), ..api };
    api.wait_up().await;
    let deadline = Instant::now() + Duration::from_secs(120);
    let rule = loop {
        let (st, list) = api.get("/v1/watch-folders").await;
        assert_eq!(st, StatusCode::OK, "{list}");
        let rule = list["watch_folders"][0].clone();
        let c = &rule["counts"];
        let settled = ["done", "failed", "duplicate"].iter().map(|k| c[k].as_u64().unwrap_or(0)).sum::<u64>();
        if settled == N as u64 {
            break rule;
        }
        assert!(Instant::now() < deadline, "not all done after the restart: {rule}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    if rule["counts"]["done"] != json!(N) {
        // Say why: each file's state and reason, and the jobs behind them.
        let (_, files) = api.get(&format!("/v1/watch-folders/{}/files", rule["id"].as_str().unwrap_or(""))).await;
        let (_, jobs) = api.get("/v1/jobs?limit=100").await;
        panic!("not every file done after the restart: {rule}\nfiles: {files:#}\njobs: {jobs:#}");
    }
    let outputs = names(&out);
    assert_eq!(outputs.len(), N, "one output per file, nothing twice: {outputs:?}");
    assert!(outputs.iter().all(|o| o.ends_with(".sophon-espresso.mp4") && !o.contains("-2.")), "{outputs:?}");
    let done = names(&input.join("crema-done"));
    assert_eq!(done.len(), N, "{done:?}");
    assert_eq!(names(&input), vec!["crema-done"], "every source moved after its verified output");
    let (_, jobs) = api.get("/v1/jobs?limit=100").await;
    let jobs = jobs["jobs"].as_array().expect("jobs");
    assert_eq!(jobs.len(), N, "one job per file across the kill");
    assert!(jobs.iter().all(|j| j["status"] == "completed"), "{jobs:?}");
    eprintln!("watch kill -9: {before} of {N} outputs before the kill, all {N} once after the restart");
}
