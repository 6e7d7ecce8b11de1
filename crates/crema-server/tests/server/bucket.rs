//! Farm mode's object storage through the HTTP API, against a real,
//! signature-checking S3 server (s3s-fs on loopback): a job's output is
//! stored in the bucket before the job completes, `GET /v1/jobs/{id}/output`
//! answers `302` to a presigned URL of it (as the SOPHON service does), the
//! scratch copy is gone, removing the job deletes its objects; a bucket that
//! refuses the upload fails the job with `output_persistence_failed` and the
//! encoded file stays on disk.

use crate::common;
use crema_testkit::s3s;

use common::{TestServer, fixture};
use crema_service::objects::{Credentials, ObjectStoreUrl, Objects};
use reqwest::StatusCode;
use serde_json::json;
use sha2::{Digest, Sha256};
use std::path::Path;

/// The store URL for `s3` with a credentials file (AWS format) in `dir`.
fn store_url(s3: &s3s::S3sFs, dir: &Path, secret: &str) -> ObjectStoreUrl {
    let creds = dir.join("credentials");
    std::fs::write(
        &creds,
        format!("[default]\naws_access_key_id = {}\naws_secret_access_key = {secret}\n", s3.access_key),
    )
    .unwrap();
    format!("s3://{}/farm?endpoint={}&credentials_file={}", s3s::BUCKET, s3.endpoint(), creds.display())
        .parse()
        .expect("store URL")
}

async fn submit(s: &TestServer) -> String {
    let body = json!({"source": {"type": "path", "path": fixture("h264_720p_2s.mp4")}, "profile": "sophon-espresso",
                      "output": {"target_height": 144}});
    let (st, job) = s.post("/v1/jobs", &body).await;
    assert_eq!(st, StatusCode::CREATED, "{job}");
    job["id"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_output_is_stored_in_the_bucket_and_handed_out_presigned() {
    let s3 = s3s::S3sFs::start();
    let creds_dir = tempfile::tempdir().unwrap();
    let url = store_url(&s3, creds_dir.path(), &s3.secret_key);
    let s = TestServer::start(1, |c| c.object_store = Some(url)).await;
    let id = submit(&s).await;
    let job = s.wait_terminal(&id, 120).await;
    assert_eq!(job["status"], "completed", "{job}");
    let key = job["output"]["object_key"].as_str().expect("object_key").to_string();
    assert!(key.starts_with(&format!("jobs/{id}/")), "{key}");
    assert!(job["output"]["path"].is_null(), "the scratch copy is gone: {job}");
    assert!(!s.data_dir.join("outputs").join(&id).exists(), "scratch folder removed");
    let stored = s3.stored_file(&format!("farm/{key}"));
    assert!(stored.is_file(), "{} in the bucket", stored.display());

    let r = s.client().get(s.url(&format!("/v1/jobs/{id}/output"))).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FOUND);
    let location = r.headers()["location"].to_str().unwrap().to_string();
    assert!(location.starts_with(&s3.endpoint()) && location.contains("X-Amz-Signature="), "{location}");
    assert!(location.contains("X-Amz-Expires=86400"), "24 h presigned URL: {location}");
    let bytes = reqwest::get(&location).await.unwrap().error_for_status().unwrap().bytes().await.unwrap();
    assert_eq!(hex::encode(Sha256::digest(&bytes)), job["output"]["sha256"].as_str().unwrap());
    assert_eq!(bytes.len() as u64, job["output"]["bytes"].as_u64().unwrap());

    let (st, _) = s.delete(&format!("/v1/jobs/{id}/record")).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    assert!(!stored.exists(), "removing the job deletes its objects");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bucket_that_refuses_fails_the_job_and_keeps_the_file() {
    let s3 = s3s::S3sFs::start();
    let creds_dir = tempfile::tempdir().unwrap();
    let url = store_url(&s3, creds_dir.path(), "0000000000wrong-secret");
    let s = TestServer::start(1, |c| c.object_store = Some(url)).await;
    let id = submit(&s).await;
    let job = s.wait_terminal(&id, 120).await;
    assert_eq!(job["status"], "failed", "{job}");
    assert_eq!(job["status_reason"], "output_persistence_failed", "{job}");
    let error = job["error"].as_str().unwrap_or_default();
    assert!(error.contains("could not be stored") && !error.contains("wrong-secret"), "{error}");
    let kept = std::fs::read_dir(s.data_dir.join("outputs").join(&id)).map(|d| d.count()).unwrap_or(0);
    assert!(kept > 0, "the encoded file stays on this node until a retry or removal");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_already_in_the_bucket_is_encoded_and_keys_outside_the_prefix_are_refused() {
    let s3 = s3s::S3sFs::start();
    let objects = Objects::open_with(
        &s3s::S3sFs::url_at(&s3.endpoint(), "farm").parse().expect("store URL"),
        Credentials::new(&s3.access_key, &s3.secret_key).expect("credentials"),
        Default::default(),
    )
    .expect("open the store");
    let master = objects.resolve_user_key("farm/masters/clip.mp4").unwrap();
    objects.put_file(&fixture("h264_720p_2s.mp4"), &master).await.unwrap();
    let creds_dir = tempfile::tempdir().unwrap();
    let url = store_url(&s3, creds_dir.path(), &s3.secret_key);
    let s = TestServer::start(1, |c| c.object_store = Some(url)).await;

    let body = |key: &str| json!({"source": {"type": "s3", "key": key}, "profile": "sophon-espresso", "output": {"target_height": 144}});
    let (st, job) = s.post("/v1/jobs", &body("farm/masters/clip.mp4")).await;
    assert_eq!(st, StatusCode::CREATED, "{job}");
    assert_eq!(job["source"]["type"], "s3");
    assert_eq!(job["source"]["object_key"], "masters/clip.mp4");
    assert_eq!(job["source"]["name"], "clip.mp4");
    let id = job["id"].as_str().unwrap();
    let done = s.wait_terminal(id, 120).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert!(!s.data_dir.join("sources").join(id).exists(), "the downloaded copy was scratch");

    for (key, status) in
        [("elsewhere/clip.mp4", 403), ("farm/../elsewhere/clip.mp4", 403), ("farm/masters/none.mp4", 400)]
    {
        let (st, e) = s.post("/v1/jobs", &body(key)).await;
        assert_eq!(st.as_u16(), status, "{key}: {e}");
        common::contract::check_error(&e, if status == 403 { "forbidden" } else { "validation_error" });
    }
    s.stop().await;
}

/// The URIs of a playlist: its non-tag lines and `URI="…"` attributes.
fn playlist_uris(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if let Some(rest) = line.split_once("URI=\"").map(|(_, r)| r) {
            out.push(rest.split('"').next().unwrap().to_string());
        } else if !line.starts_with('#') {
            out.push(line.to_string());
        }
    }
    out
}

/// Issue 11, "Object storage", HLS: a package kept in the bucket is served
/// through the node's folder token, and the encoding node keeps no copy of
/// it (so it is served as any other node serves it): the master playlist from the bucket,
/// each media playlist with presigned URLs of its segments and init section
/// that the bucket serves byte for byte, any other file a `302` to its
/// presigned URL, and nothing outside the package.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_hls_package_in_the_bucket_is_served_with_presigned_segments() {
    let s3 = s3s::S3sFs::start();
    let creds_dir = tempfile::tempdir().unwrap();
    let url = store_url(&s3, creds_dir.path(), &s3.secret_key);
    let s = TestServer::start(1, |c| c.object_store = Some(url)).await;
    let body = json!({"source": {"type": "path", "path": fixture("h264_720p_2s.mp4")}, "profile": "sophon-espresso",
                      "output": {"hls": {"renditions": [240], "codec": "h264", "segment_seconds": 1}}});
    let (st, job) = s.post("/v1/jobs", &body).await;
    assert_eq!(st, StatusCode::CREATED, "{job}");
    let id = job["id"].as_str().unwrap().to_string();
    let job = s.wait_terminal(&id, 120).await;
    assert_eq!(job["status"], "completed", "{job}");
    let master_key = job["output"]["object_key"].as_str().expect("object_key").to_string();
    let package = master_key.rsplit_once('/').unwrap().0.to_string();
    // The scratch copy is gone once the bucket has the package: every
    // request below is served from the bucket, as on any other node.
    assert!(!s.data_dir.join("outputs").join(&id).exists(), "the package's scratch folder was removed");

    let r = s.client().get(s.url(&format!("/v1/jobs/{id}/output"))).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FOUND);
    let master_url = s.url(r.headers()["location"].to_str().unwrap());
    assert!(master_url.ends_with("/master.m3u8"), "{master_url}");
    let r = s.client().get(&master_url).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "application/vnd.apple.mpegurl");
    let master = r.text().await.unwrap();
    assert_eq!(master.as_bytes(), std::fs::read(s3.stored_file(&format!("farm/{master_key}"))).unwrap());
    let variant = playlist_uris(&master).into_iter().find(|u| u.ends_with(".m3u8")).expect("a variant");

    let base = master_url.trim_end_matches("master.m3u8");
    let media = s.client().get(format!("{base}{variant}")).send().await.unwrap().text().await.unwrap();
    let stored_media = std::fs::read_to_string(s3.stored_file(&format!("farm/{package}/{variant}"))).unwrap();
    let (signed, relative) = (playlist_uris(&media), playlist_uris(&stored_media));
    assert_eq!(signed.len(), relative.len(), "{media}");
    assert!(relative.len() >= 3, "init and at least two 1 s segments: {stored_media}");
    let variant_dir = variant.rsplit_once('/').map_or(String::new(), |(d, _)| format!("{d}/"));
    for (url, rel) in signed.iter().zip(&relative) {
        assert!(url.starts_with(&s3.endpoint()) && url.contains("X-Amz-Signature="), "{url}");
        let bytes = reqwest::get(url).await.unwrap().error_for_status().unwrap().bytes().await.unwrap();
        let stored = std::fs::read(s3.stored_file(&format!("farm/{package}/{variant_dir}{rel}"))).unwrap();
        assert!(bytes == stored, "{rel} differs from the bucket's object");
    }
    let r = s.client().get(format!("{base}{variant_dir}{}", relative[1])).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FOUND, "a segment asked for by its relative path");
    assert!(r.headers()["location"].to_str().unwrap().contains("X-Amz-Signature="));
    for outside in ["nope/index.m3u8", "a//b.m3u8", "source/h264_720p_2s.mp4", "waveform.dat"] {
        let r = s.client().get(format!("{base}{outside}")).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{outside}");
    }
    s.stop().await;
}

/// Farm mode removes a file output's scratch folder once the bucket has it,
/// waveform data included: `GET /v1/jobs/{id}/waveform` then answers `302`
/// to the presigned URL of the waveform's object, as the output route does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_waveform_of_a_job_in_the_bucket_is_handed_out_presigned() {
    let s3 = s3s::S3sFs::start();
    let creds_dir = tempfile::tempdir().unwrap();
    let url = store_url(&s3, creds_dir.path(), &s3.secret_key);
    let s = TestServer::start(1, |c| c.object_store = Some(url)).await;
    let body = json!({"source": {"type": "path", "path": fixture("h264_720p_2s.mp4")}, "profile": "sophon-espresso",
                      "output": {"target_height": 144, "waveform": {"pixels_per_second": 20, "format": "json"}}});
    let (st, job) = s.post("/v1/jobs", &body).await;
    assert_eq!(st, StatusCode::CREATED, "{job}");
    let id = job["id"].as_str().unwrap().to_string();
    let job = s.wait_terminal(&id, 120).await;
    assert_eq!(job["status"], "completed", "{job}");
    assert!(!s.data_dir.join("outputs").join(&id).exists(), "scratch folder removed");
    let r = s.client().get(s.url(&format!("/v1/jobs/{id}/waveform"))).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FOUND);
    let location = r.headers()["location"].to_str().unwrap().to_string();
    assert!(location.starts_with(&s3.endpoint()) && location.contains("X-Amz-Signature="), "{location}");
    let data: serde_json::Value =
        reqwest::get(&location).await.unwrap().error_for_status().unwrap().json().await.unwrap();
    assert_eq!((data["version"].as_u64(), data["samples_per_pixel"].as_u64()), (Some(2), Some(2400)), "{data}");
    assert_eq!(data["length"].as_u64(), job["output"]["waveform"]["length"].as_u64());
    s.stop().await;
}
