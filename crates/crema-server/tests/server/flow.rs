//! The whole flow over real HTTP on loopback, with real encodes:
//! chunked upload (parallel, out of order, one part re-sent, resumed after a
//! server restart) → job → progress over SSE → download through the 302 with
//! a Range request → webhook delivered to a loopback receiver whose HMAC and
//! timestamp checks pass; then an HLS job played from the signed folder URL
//! by libavformat (the `ffmpeg` command line).

use crate::common;

use axum::body::Bytes;
use axum::http::HeaderMap;
use common::contract as c;
use common::{TestServer, fixture};
use futures_util::StreamExt as _;
use hmac::{Hmac, Mac};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::sync::{Arc, Mutex};
use std::time::Duration;

type Received = Arc<Mutex<Vec<(HeaderMap, Bytes)>>>;

/// A webhook receiver on 127.0.0.1:0 that records every request and answers 200.
async fn receiver() -> (String, Received) {
    let got: Received = Arc::default();
    let store = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let store = store.clone();
            async move {
                store.lock().expect("lock").push((headers, body));
                StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await.expect("receiver") });
    (url, got)
}

const CHUNK: u64 = 128 * 1024;

fn configure(cfg: &mut crema_service::Config) {
    cfg.upload_chunk_size_override = Some(CHUNK);
    cfg.webhooks.allow = vec!["127.0.0.1/32".parse().expect("cidr")];
    cfg.webhooks.backoff_base = Duration::from_millis(50);
}

async fn put(s: &TestServer, id: &str, n: usize, bytes: Vec<u8>) {
    let r = s
        .client()
        .put(s.url(&format!("/v1/uploads/{id}/parts/{n}")))
        .header("Content-Type", "application/octet-stream")
        .body(bytes)
        .send()
        .await
        .expect("PUT");
    assert_eq!(r.status(), StatusCode::OK, "part {n}: {}", r.text().await.unwrap_or_default());
}

/// Reads `text/event-stream` events (name, data) until `done` says stop or 120 s pass.
async fn collect_events(resp: reqwest::Response, mut done: impl FnMut(&str, &Value) -> bool) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    let mut buf = String::new();
    let mut stream = resp.bytes_stream();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while let Ok(Some(chunk)) = tokio::time::timeout_at(deadline, stream.next()).await {
        buf.push_str(&String::from_utf8_lossy(&chunk.expect("chunk")));
        while let Some(end) = buf.find("\n\n") {
            let block: String = buf.drain(..end + 2).collect();
            let mut name = String::new();
            let mut data = String::new();
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("event:") {
                    name = v.trim().to_string();
                } else if let Some(v) = line.strip_prefix("data:") {
                    data.push_str(v.trim_start());
                }
            }
            if name.is_empty() {
                continue; // keep-alive comment
            }
            let value: Value = serde_json::from_str(&data).expect("event data is JSON");
            let stop = done(&name, &value);
            out.push((name, value));
            if stop {
                return out;
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_encode_events_download_and_webhook() {
    let source = std::fs::read(fixture("bigbuckbunny.mp4")).expect("fixture");
    let tmp = tempfile::tempdir().expect("tmp");
    let s = TestServer::start_in(tmp.path(), 1, configure).await;
    let (hook_url, received) = receiver().await;
    let (st, wh) = s.post("/v1/webhooks", &json!({"url": hook_url})).await;
    assert_eq!(st, StatusCode::CREATED, "{wh}");
    let secret = wh["secret"].as_str().expect("secret").to_string();

    // Upload: create, send the second half in parallel and in reverse order,
    // one part first with wrong bytes and then again.
    let (st, up) = s
        .post("/v1/uploads", &json!({"file_name": "bbb.mp4", "file_size": source.len(), "mime_type": "video/mp4"}))
        .await;
    assert_eq!(st, StatusCode::CREATED, "{up}");
    let upl = up["id"].as_str().expect("id").to_string();
    let parts: Vec<Vec<u8>> = source.chunks(CHUNK as usize).map(<[u8]>::to_vec).collect();
    assert_eq!(up["total_chunks"], parts.len());
    assert!(parts.len() >= 6, "the fixture must make several parts");
    let half = parts.len() / 2;
    let sends = (half..parts.len()).rev().map(|n| put(&s, &upl, n, parts[n].clone()));
    futures_util::future::join_all(sends).await;
    put(&s, &upl, half, vec![0xAB; parts[half].len()]).await; // wrong bytes, same size
    put(&s, &upl, half, parts[half].clone()).await; // the re-send replaces them

    // Restart the server in the middle of the upload: acknowledged parts are kept.
    let _ = s.stop().await;
    let s = TestServer::start_in(tmp.path(), 1, configure).await;
    let (st, state) = s.get(&format!("/v1/uploads/{upl}")).await;
    assert_eq!(st, StatusCode::OK, "{state}");
    c::check(&state, &c::UPLOAD);
    assert_eq!(state["status"], "uploading");
    let received_parts: Vec<u64> =
        state["received_chunks"].as_array().expect("list").iter().map(|v| v.as_u64().expect("n")).collect();
    assert_eq!(received_parts, (half as u64..parts.len() as u64).collect::<Vec<_>>(), "kept across the restart");
    let sends = (0..half).map(|n| put(&s, &upl, n, parts[n].clone()));
    futures_util::future::join_all(sends).await;
    let (st, done) = s.post(&format!("/v1/uploads/{upl}/complete"), &json!({})).await;
    assert_eq!(st, StatusCode::OK, "{done}");
    assert_eq!(done["sha256"], hex::encode(Sha256::digest(&source)), "assembled file is the source, byte for byte");

    // Subscribe to events, then submit.
    let events = s.client().get(s.url("/v1/events")).send().await.expect("events");
    assert_eq!(events.status(), StatusCode::OK);
    assert!(events.headers()["content-type"].to_str().expect("ct").starts_with("text/event-stream"));
    let body = json!({
        "source": {"type": "upload", "upload_id": upl},
        "profile": "sophon-espresso",
        "output": {"container": "mp4", "audio": true, "target_height": 360},
        "webhook_ids": [wh["id"]],
        "metadata": {"order": 42}
    });
    let (st, job) = s.post("/v1/jobs", &body).await;
    assert_eq!(st, StatusCode::CREATED, "{job}");
    let id = job["id"].as_str().expect("id").to_string();
    let id2 = id.clone();
    let seen = collect_events(events, move |name, v| {
        name == "job.updated" && v["id"] == id2.as_str() && v["status"] == "completed"
    })
    .await;
    let mine: Vec<&(String, Value)> =
        seen.iter().filter(|(_, v)| v["id"] == id.as_str() || v["job_id"] == id.as_str()).collect();
    let statuses: Vec<&str> =
        mine.iter().filter(|(n, _)| n == "job.updated").filter_map(|(_, v)| v["status"].as_str()).collect();
    assert!(statuses.contains(&"encoding") && statuses.last() == Some(&"completed"), "{statuses:?}");
    let percents: Vec<f64> = mine
        .iter()
        .filter(|(n, _)| n == "job.progress")
        .filter_map(|(_, v)| v["progress"]["percent"].as_f64())
        .collect();
    assert!(!percents.is_empty(), "progress events arrive: {seen:?}");
    assert!(percents.windows(2).all(|w| w[0] <= w[1]), "percent never decreases: {percents:?}");
    for (name, v) in &mine {
        if name == "job.updated" {
            c::check(v, &c::JOB);
        }
    }

    // Download through the 302, with a Range request and a HEAD.
    let job = s.wait_terminal(&id, 10).await;
    assert_eq!(job["status"], "completed", "{job:#}");
    let r = s.client().get(s.url(&format!("/v1/jobs/{id}/output"))).send().await.expect("output");
    assert_eq!(r.status(), StatusCode::FOUND);
    let url = s.url(r.headers()["location"].to_str().expect("location"));
    let full = s.anonymous().get(&url).send().await.expect("GET").bytes().await.expect("bytes");
    assert_eq!(hex::encode(Sha256::digest(&full)), job["output"]["sha256"].as_str().expect("sha"));
    let r = s.anonymous().get(&url).header("Range", "bytes=100-1123").send().await.expect("range");
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(r.headers()["content-range"].to_str().expect("cr"), format!("bytes 100-1123/{}", full.len()));
    assert_eq!(&r.bytes().await.expect("bytes")[..], &full[100..1124]);
    let r = s.anonymous().head(&url).send().await.expect("HEAD");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-length"].to_str().expect("len"), full.len().to_string());
    assert_eq!(r.headers()["content-type"], "video/mp4");
    // A tampered token is refused.
    let mut bad = url.clone();
    let last = bad.pop().expect("char");
    bad.push(if last == 'A' { 'B' } else { 'A' });
    let r = s.anonymous().get(&bad).send().await.expect("GET");
    assert!(matches!(r.status(), StatusCode::FORBIDDEN | StatusCode::NOT_FOUND), "{}", r.status());

    // The webhook: one delivery, signed as the contract says.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while received.lock().expect("lock").is_empty() {
        assert!(std::time::Instant::now() < deadline, "no webhook delivery");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let got = received.lock().expect("lock").clone();
    assert_eq!(got.len(), 1, "exactly one delivery for one terminal state");
    let (headers, raw) = &got[0];
    let event: Value = serde_json::from_slice(raw).expect("JSON body");
    c::check(&event, &c::WEBHOOK_EVENT);
    assert_eq!(event["type"], "job.completed");
    assert_eq!(event["job_id"], id.as_str());
    assert_eq!(event["status"], "completed");
    assert_eq!(event["metadata"], json!({"order": 42}));
    assert_eq!(headers["x-turbo-event-id"].to_str().expect("id"), event["event_id"].as_str().expect("id"));
    let timestamp = headers["x-turbo-timestamp"].to_str().expect("ts");
    let signed_at =
        time::OffsetDateTime::parse(timestamp, &time::format_description::well_known::Rfc3339).expect("RFC 3339");
    assert!((time::OffsetDateTime::now_utc() - signed_at).abs() < time::Duration::minutes(5), "within 5 minutes");
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("key");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(raw);
    let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    assert_eq!(
        headers["x-turbo-signature-256"].to_str().expect("sig"),
        expected,
        "HMAC over \"{{timestamp}}.{{body}}\""
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hls_package_streams_from_the_signed_folder_url() {
    let s = TestServer::start(1, |_| {}).await;
    let body = json!({
        "source": {"type": "path", "path": fixture("h264_720p_2s.mp4")},
        "profile": "sophon-espresso",
        "output": {"audio": true, "hls": {"renditions": [360, 240], "codec": "h264", "segment_seconds": 1}}
    });
    let (st, job) = s.post("/v1/jobs", &body).await;
    assert_eq!(st, StatusCode::CREATED, "{job}");
    let id = job["id"].as_str().expect("id").to_string();
    let job = s.wait_terminal(&id, 120).await;
    assert_eq!(job["status"], "completed", "{job:#}");
    assert_eq!(job["output"]["hls"]["renditions"].as_array().map(Vec::len), Some(2), "{job:#}");
    let r = s.client().get(s.url(&format!("/v1/jobs/{id}/output"))).send().await.expect("output");
    assert_eq!(r.status(), StatusCode::FOUND);
    let location = r.headers()["location"].to_str().expect("location").to_string();
    assert!(location.ends_with("/master.m3u8"), "{location}");
    let master_url = s.url(&location);
    let r = s.anonymous().get(&master_url).send().await.expect("master");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "application/vnd.apple.mpegurl");
    let master = r.text().await.expect("text");
    assert!(master.starts_with("#EXTM3U") && master.contains("#EXT-X-STREAM-INF"), "{master}");
    // Paths outside the package are not served.
    let escape = master_url.replace("master.m3u8", "../../crema.db");
    let r = s.anonymous().get(&escape).send().await.expect("GET");
    assert!(r.status().is_client_error(), "{escape}: {}", r.status());

    // libavformat plays the whole package over HTTP from the folder token.
    let out = tokio::process::Command::new("ffmpeg")
        .args(["-v", "error", "-nostdin", "-i", &master_url, "-map", "0:v:0", "-map", "0:a:0?", "-f", "null", "-"])
        .output()
        .await
        .expect("ffmpeg runs");
    assert!(out.status.success(), "ffmpeg could not play {master_url}: {}", String::from_utf8_lossy(&out.stderr));
    let probe = tokio::process::Command::new("ffprobe")
        .args(["-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", &master_url])
        .output()
        .await
        .expect("ffprobe runs");
    let duration: f64 = String::from_utf8_lossy(&probe.stdout).trim().parse().unwrap_or(0.0);
    assert!((duration - 2.0).abs() < 0.3, "the package plays its 2 s: {duration}");
    s.stop().await;
}
