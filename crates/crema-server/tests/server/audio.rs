//! Audio-only sources and `output.waveform` over loopback HTTP: an audio
//! job and an audio-only HLS ladder complete; `GET /v1/jobs/{id}/waveform`
//! redirects to a signed download of BBC audiowaveform data; a watch folder
//! encodes an audio file and places its waveform beside it.

use crate::common;

use common::contract as c;
use common::{TestServer, fixture};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// Follows a `302` from `path` and returns (content type, body).
async fn follow(s: &TestServer, path: &str) -> (String, Vec<u8>) {
    let r = s.client().get(s.url(path)).send().await.expect("get");
    assert_eq!(r.status(), StatusCode::FOUND, "{path}");
    let location = r.headers()["location"].to_str().expect("location").to_string();
    assert!(location.starts_with("/v1/downloads/"), "{location}");
    // The token is the credential: no API key needed.
    let r = s.anonymous().get(s.url(&location)).send().await.expect("download");
    assert_eq!(r.status(), StatusCode::OK, "{location}");
    let ct = r.headers()[reqwest::header::CONTENT_TYPE].to_str().expect("content type").to_string();
    (ct, r.bytes().await.expect("body").to_vec())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_audio_job_completes_and_serves_its_waveform() {
    let s = TestServer::start(1, |_| {}).await;
    // Out of bounds: refused at submission, naming the field.
    let bad = json!({"source": {"type": "path", "path": fixture("audio_cover.flac")}, "profile": "sophon-cortado",
                     "output": {"waveform": {"pixels_per_second": 5000}}});
    let (st, e) = s.post("/v1/jobs", &bad).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{e}");
    c::check_error(&e, "validation_error");
    assert!(e["error"]["message"].as_str().unwrap_or("").contains("output.waveform.pixels_per_second"), "{e}");

    let body = json!({"source": {"type": "path", "path": fixture("audio_cover.flac")}, "profile": "sophon-cortado",
                      "output": {"waveform": {"pixels_per_second": 20, "bits": 8, "format": "json"}}});
    let (st, job) = s.post("/v1/jobs", &body).await;
    assert_eq!(st, StatusCode::CREATED, "{job}");
    let id = job["id"].as_str().expect("id").to_string();
    // Not finished yet (or just finished): the route answers 409 or 302, never 5xx.
    let early = s.client().get(s.url(&format!("/v1/jobs/{id}/waveform"))).send().await.expect("get");
    assert!(matches!(early.status(), StatusCode::CONFLICT | StatusCode::FOUND), "{}", early.status());
    let job = s.wait_terminal(&id, 120).await;
    c::check(&job, &c::JOB);
    assert_eq!(job["status"], "completed", "{job:#}");
    assert_eq!(job["output"]["audio"], true, "{job:#}");
    let warnings = job["output"]["warnings"].as_array().expect("warnings");
    assert!(warnings.iter().any(|w| w.as_str().unwrap_or("").contains("video settings")), "{job:#}");
    let w = &job["output"]["waveform"];
    assert_eq!((w["format"].as_str(), w["sample_rate"].as_u64()), (Some("json"), Some(48000)), "{job:#}");
    assert_eq!(w["samples_per_pixel"], 2400, "48000 / 20 pixels per second");
    assert!(w["path"].is_null(), "no server path over the network: {w}");

    let (ct, bytes) = follow(&s, &format!("/v1/jobs/{id}/output")).await;
    assert_eq!(ct, "audio/mp4");
    assert!(bytes.len() > 10_000);
    let (ct, bytes) = follow(&s, &format!("/v1/jobs/{id}/waveform")).await;
    assert_eq!(ct, "application/json");
    let data: Value = serde_json::from_slice(&bytes).expect("waveform JSON");
    assert_eq!((data["version"].as_u64(), data["channels"].as_u64()), (Some(2), Some(1)), "{data}");
    assert_eq!((data["sample_rate"].as_u64(), data["samples_per_pixel"].as_u64()), (Some(48000), Some(2400)));
    assert_eq!(data["bits"], 8);
    let length = data["length"].as_u64().expect("length");
    assert_eq!(length, 60, "3 s at 20 pixels per second");
    assert_eq!(data["data"].as_array().map(Vec::len), Some(2 * length as usize));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_audio_only_hls_ladder_completes_and_a_job_without_a_waveform_says_so() {
    let s = TestServer::start(1, |_| {}).await;
    let body = json!({"source": {"type": "path", "path": fixture("audio_only.m4a")}, "profile": "sophon-cortado",
                      "output": {"hls": {"segment_seconds": 1}}});
    let (st, job) = s.post("/v1/jobs", &body).await;
    assert_eq!(st, StatusCode::CREATED, "{job}");
    let id = job["id"].as_str().expect("id").to_string();
    let job = s.wait_terminal(&id, 120).await;
    c::check(&job, &c::JOB);
    assert_eq!(job["status"], "completed", "{job:#}");
    assert_eq!(job["output"]["container"], "hls");
    let r = s.client().get(s.url(&format!("/v1/jobs/{id}/output"))).send().await.expect("get");
    assert_eq!(r.status(), StatusCode::FOUND);
    let location = r.headers()["location"].to_str().expect("location").to_string();
    let master = s.anonymous().get(s.url(&location)).send().await.expect("master").text().await.expect("text");
    assert_eq!(master.matches("CODECS=\"mp4a.40.2\"").count(), 3, "{master}");
    let first = master.lines().find(|l| l.ends_with("index.m3u8")).expect("a variant");
    let media_url = location.replace("master.m3u8", first);
    let media = s.anonymous().get(s.url(&media_url)).send().await.expect("media");
    assert_eq!(media.status(), StatusCode::OK, "{media_url}");
    // No waveform was asked for: 404 saying so.
    let (st, e) = s.get(&format!("/v1/jobs/{id}/waveform")).await;
    assert_eq!(st, StatusCode::NOT_FOUND, "{e}");
    assert!(e["error"]["message"].as_str().unwrap_or("").contains("output.waveform"), "{e}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_folder_encodes_an_audio_file_and_places_its_waveform() {
    let root = tempfile::tempdir().expect("tempdir");
    let root_path = root.path().canonicalize().expect("canonical");
    let input = root_path.join("in");
    std::fs::create_dir_all(&input).expect("mkdir");
    let roots = root_path.clone();
    let s = TestServer::start(1, move |c| {
        c.source_roots.push(roots);
        c.watch.tick = Duration::from_millis(100);
    })
    .await;
    let body = json!({"folder": input, "profile": "sophon-cortado", "settle_seconds": 0.5,
                      "output": {"waveform": true}});
    let (st, rule) = s.post("/v1/watch-folders", &body).await;
    assert_eq!(st, StatusCode::CREATED, "{rule}");
    let id = rule["id"].as_str().expect("id").to_string();
    let tmp = input.join("song.flac.part");
    std::fs::copy(fixture("audio_cover.flac"), &tmp).expect("copy");
    std::fs::rename(&tmp, input.join("song.flac")).expect("rename");
    let deadline = Instant::now() + Duration::from_secs(120);
    let rule = loop {
        let (_, r) = s.get(&format!("/v1/watch-folders/{id}")).await;
        if r["counts"]["done"] == 1 || r["counts"]["failed"] == 1 {
            break r;
        }
        assert!(Instant::now() < deadline, "not done in 120 s: {r}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let (_, files) = s.get(&format!("/v1/watch-folders/{id}/files")).await;
    assert_eq!(rule["counts"]["done"], 1, "{rule} {files}");
    let out = input.join("crema-encoded/song.sophon-cortado.m4a");
    let dat = input.join("crema-encoded/song.sophon-cortado.dat");
    assert!(out.is_file(), "{:?}", std::fs::read_dir(input.join("crema-encoded")).map(|d| d.count()));
    let bytes = std::fs::read(&dat).expect("the waveform beside the output");
    assert_eq!(i32::from_le_bytes(bytes[0..4].try_into().unwrap()), 1, ".dat version 1");
    assert_eq!(i32::from_le_bytes(bytes[8..12].try_into().unwrap()), 48000, "sample rate");
    // The job's waveform route serves the placed file.
    let job_id = files["files"][0]["job_id"].as_str().map(str::to_string);
    let job_id = match job_id {
        Some(j) => j,
        None => {
            let (_, ev) = s.get(&format!("/v1/watch-folders/{id}/events?limit=1")).await;
            ev["events"][0]["job_id"].as_str().expect("job id").to_string()
        }
    };
    let (ct, served) = follow(&s, &format!("/v1/jobs/{job_id}/waveform")).await;
    assert_eq!((ct.as_str(), served), ("application/octet-stream", bytes));
    s.stop().await;
}
