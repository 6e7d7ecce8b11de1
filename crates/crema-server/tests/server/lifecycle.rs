//! Job lifecycle over HTTP with real encodes: cancel of a running job, retry
//! limits, broken sources refused (`source_invalid`) and unencodable ones failing (`source_unsupported`), output
//! retention, `disk_critical`, a full disk, and the profile list.

use crate::common;

use common::contract as c;
use common::{TestServer, fixture};
use reqwest::StatusCode;
use serde_json::json;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_stops_a_running_encode_and_removes_its_outputs() {
    let s = TestServer::start(1, |_| {}).await;
    let body = json!({"source": {"type": "path", "path": fixture("bigbuckbunny.mp4")}, "profile": "sophon-americano"});
    let (st, job) = s.post("/v1/jobs", &body).await;
    assert_eq!(st, StatusCode::CREATED, "{job}");
    let id = job["id"].as_str().expect("id").to_string();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, job) = s.get(&format!("/v1/jobs/{id}")).await;
        if job["status"] == "encoding" {
            break;
        }
        assert!(Instant::now() < deadline, "never encoding: {job}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let asked = Instant::now();
    let (st, canceled) = s.delete(&format!("/v1/jobs/{id}")).await;
    let took = asked.elapsed();
    assert_eq!(st, StatusCode::OK, "{canceled}");
    c::check(&canceled, &c::JOB);
    assert_eq!(canceled["status"], "canceled");
    assert_eq!(canceled["output"]["state"], "pending");
    // Bounds against a hang, not speed targets (the benchmarks time cancels).
    eprintln!("cancel answered after {took:?}");
    assert!(took < Duration::from_secs(20), "cancel answered after {took:?}");
    // The engine stopped and removed its partial outputs.
    let job_dir = s.data_dir.join("outputs").join(&id);
    let deadline = Instant::now() + Duration::from_secs(20);
    while job_dir.exists() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!job_dir.exists(), "{} still exists", job_dir.display());
    // The worker is free again: the next job runs to completion. The bound is
    // only against a hang (a worker still held by the canceled encode); how
    // fast a cancel frees the worker is the benchmarks' business, not a test's
    // (a busy 2-core CI machine took over 50 s here for a 2 s espresso job).
    let next = json!({"source": {"type": "path", "path": fixture("h264_720p_2s.mp4")}, "profile": "sophon-espresso"});
    let (st, job) = s.post("/v1/jobs", &next).await;
    assert_eq!(st, StatusCode::CREATED, "{job}");
    let next_id = job["id"].as_str().expect("id").to_string();
    let started = Instant::now();
    let job = s.wait_terminal(&next_id, 300).await;
    assert_eq!(job["status"], "completed", "{job}");
    eprintln!("next job done {:?} after the cancel", started.elapsed());
    let (_, again) = s.get(&format!("/v1/jobs/{id}")).await;
    assert_eq!(again["status"], "canceled", "the canceled job stays canceled: {again}");
    assert!(!job_dir.exists(), "the canceled job's outputs did not come back");
    let (st, e) = s.post(&format!("/v1/jobs/{id}/retry"), &json!({})).await;
    assert_eq!(st, StatusCode::CONFLICT, "a canceled job is not retried: {e}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_sources_are_refused_and_unencodable_ones_fail_with_bounded_retries() {
    let s = TestServer::start(1, |cfg| cfg.max_attempts = 2).await;
    // A file the upload's probe already knows is not media: refused at POST
    // /v1/jobs (422 source_invalid), nothing queued.
    let bytes = std::fs::read(fixture("text.mov")).expect("fixture");
    let upl = s.upload("notes.mov", &bytes).await;
    let (_, up) = s.get(&format!("/v1/uploads/{upl}")).await;
    c::check(&up, &c::UPLOAD);
    assert_eq!(up["status"], "completed");
    assert!(up["source_width"].is_null(), "a text file has no video: {up}");
    let (st, e) =
        s.post("/v1/jobs", &json!({"source": {"type": "upload", "upload_id": upl}, "profile": "sophon-cortado"})).await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    c::check_error(&e, "source_invalid");
    let msg = e["error"]["message"].as_str().expect("message");
    assert!(msg.starts_with("notes.mov:") && !msg.contains('/'), "the file by name, no server path: {msg}");
    let (_, page) = s.get("/v1/jobs").await;
    assert_eq!(page["jobs"].as_array().expect("jobs").len(), 0, "nothing was queued: {page}");
    // A path source that is not media: the same.
    let (st, e) = s
        .post(
            "/v1/jobs",
            &json!({"source": {"type": "path", "path": fixture("truncated.mp4")}, "profile": "sophon-cortado"}),
        )
        .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    c::check_error(&e, "source_invalid");
    // Pictures beyond what the encoder's level 6.2 allows (8192x8192 is
    // 67 MP; both codecs stop at 35.6 MP) or the source limit (a declared
    // 15000x15000): refused now, naming the size, instead of encoded at a
    // size no decoder supports or failing later with "Invalid argument".
    for name in ["still_8192.mp4", "declared_15000.mkv"] {
        let (st, e) = s
            .post("/v1/jobs", &json!({"source": {"type": "path", "path": fixture(name)}, "profile": "sophon-cortado"}))
            .await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{name}: {e}");
        c::check_error(&e, "source_unsupported");
        let msg = e["error"]["message"].as_str().expect("message");
        assert!(msg.contains("8192") || msg.contains("15000"), "{name}: the message names the size: {msg}");
        assert!(!msg.contains('/'), "no server path: {msg}");
    }
    // A ladder of more than 8 rungs is refused before anything runs (289
    // distinct heights once took the server to 3.2 GB in 12 s).
    let many: Vec<u32> = (0..289).map(|i| 144 + i).collect();
    let (st, e) = s
        .post(
            "/v1/jobs",
            &json!({"source": {"type": "path", "path": fixture("h264_720p_2s.mp4")}, "profile": "sophon-cortado",
                    "output": {"hls": {"renditions": many}}}),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{e}");
    c::check_error(&e, "validation_error");
    assert!(e["error"]["message"].as_str().expect("message").contains("output.hls.renditions"), "{e}");
    let (_, page) = s.get("/v1/jobs").await;
    assert_eq!(page["jobs"].as_array().expect("jobs").len(), 0, "nothing was queued: {page}");

    // Media Crema cannot encode (an audio-only MPEG-TS whose one AAC stream
    // never carries a readable frame: nothing to encode): accepted, fails as
    // source_unsupported. (Audio-only sources with readable audio are encoded.)
    let (st, job) = s
        .post(
            "/v1/jobs",
            &json!({"source": {"type": "path", "path": fixture("audio_unreadable.ts")}, "profile": "sophon-cortado"}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{job}");
    let id = job["id"].as_str().expect("id").to_string();
    let job = s.wait_terminal(&id, 60).await;
    c::check(&job, &c::JOB);
    assert_eq!(job["status"], "failed", "{job:#}");
    assert_eq!(job["status_reason"], "source_unsupported");
    let error = job["error"].as_str().expect("error");
    assert!(!error.is_empty() && !error.contains("Error {") && !error.contains('/'), "no debug text or path: {error}");
    assert_eq!((job["attempt"].as_u64(), job["retryable"].as_bool()), (Some(1), Some(true)));

    let (st, again) = s.post(&format!("/v1/jobs/{id}/retry"), &json!({})).await;
    assert_eq!(st, StatusCode::OK, "{again}");
    c::check(&again, &c::JOB);
    assert_eq!((again["status"].as_str(), again["attempt"].as_u64()), (Some("queued"), Some(2)));
    let job = s.wait_terminal(&id, 60).await;
    assert_eq!(job["status"], "failed");
    assert_eq!((job["attempt"].as_u64(), job["retryable"].as_bool()), (Some(2), Some(false)), "{job:#}");
    let (st, e) = s.post(&format!("/v1/jobs/{id}/retry"), &json!({})).await;
    assert_eq!(st, StatusCode::CONFLICT);
    c::check_error_reason(&e, "conflict", "invalid_transition");
    assert!(e["error"]["message"].as_str().expect("msg").contains("attempts"), "{e}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outputs_expire_after_their_retention() {
    let s = TestServer::start(1, |cfg| cfg.output_retention = Some(Duration::from_secs(1))).await;
    let body = json!({"source": {"type": "path", "path": fixture("h264_720p_2s.mp4")}, "profile": "sophon-espresso",
                      "output": {"target_height": 240}});
    let (st, job) = s.post("/v1/jobs", &body).await;
    assert_eq!(st, StatusCode::CREATED, "{job}");
    let id = job["id"].as_str().expect("id").to_string();
    let job = s.wait_terminal(&id, 60).await;
    assert_eq!(job["status"], "completed", "{job:#}");
    let expires = time::OffsetDateTime::parse(
        job["output"]["retention_expires_at"].as_str().expect("retention"),
        &time::format_description::well_known::Rfc3339,
    )
    .expect("RFC 3339");
    let completed = time::OffsetDateTime::parse(
        job["completed_at"].as_str().expect("completed_at"),
        &time::format_description::well_known::Rfc3339,
    )
    .expect("RFC 3339");
    assert!((expires - completed).abs() < time::Duration::seconds(3), "{expires} vs {completed}");
    let r = s.client().get(s.url(&format!("/v1/jobs/{id}/output"))).send().await.expect("output");
    assert_eq!(r.status(), StatusCode::FOUND);
    let url = s.url(r.headers()["location"].to_str().expect("location"));
    assert!(job["output"].get("path").is_none(), "no server path for network clients: {job}");
    let path = s.service.get(&id).await.expect("job").output.path.expect("path");
    assert!(std::path::Path::new(&path).is_file());

    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(s.service.expire_outputs().await.expect("cleanup"), 1);
    assert!(!std::path::Path::new(&path).exists(), "the file is deleted");
    let (_, job) = s.get(&format!("/v1/jobs/{id}")).await;
    c::check(&job, &c::JOB);
    // The state stays the SDK's `available` (what the job produced); the
    // extension flag says retention removed it, and the output is 404.
    assert_eq!(job["output"]["state"], "available");
    assert_eq!(job["output"]["expired"], true);
    assert_eq!(job["status"], "completed", "the job record stays");
    let r = s.anonymous().get(&url).send().await.expect("download");
    assert_eq!(r.status(), StatusCode::NOT_FOUND, "an old link to an expired output is a clean 404");
    let (st, e) = s.get(&format!("/v1/jobs/{id}/output")).await;
    assert_eq!(st, StatusCode::NOT_FOUND, "{e}");
    c::check_error_reason(&e, "not_found", "output_expired");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nearly_full_disk_makes_the_server_unready_and_refuses_encodes() {
    let s = TestServer::start(1, |cfg| cfg.disk_min_free_bytes = u64::MAX).await;
    let r = s.anonymous().get(s.url("/readyz")).send().await.expect("readyz");
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: serde_json::Value = r.json().await.expect("json");
    assert_eq!(body, json!({"ready": false, "checks_failed": ["disk_critical"]}));
    let body = json!({"source": {"type": "path", "path": fixture("h264_720p_2s.mp4")}, "profile": "sophon-espresso"});
    let (st, e) = s.post("/v1/jobs", &body).await;
    assert_eq!(st, StatusCode::TOO_MANY_REQUESTS, "{e}");
    c::check_error(&e, "capacity_exceeded");
    assert_eq!(e["error"]["retryable"], true);
    // Nor uploads (issue 9, defect 4): 503 with Retry-After, not accepted into a full disk.
    let r = s
        .client()
        .post(s.url("/v1/uploads"))
        .header("Idempotency-Key", common::idem())
        .json(&json!({"file_name": "a.mov", "file_size": 10, "mime_type": "video/quicktime"}))
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(r.headers().contains_key("retry-after"));
    c::check_error(&r.json().await.expect("envelope"), "capacity_exceeded");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn profiles_lists_every_contract_id_with_its_group() {
    let s = TestServer::start(0, |_| {}).await;
    let (st, body) = s.get("/v1/profiles").await;
    assert_eq!(st, StatusCode::OK);
    let profiles = body["profiles"].as_array().expect("profiles");
    let ids: Vec<&str> = profiles.iter().filter_map(|p| p["id"].as_str()).collect();
    for tier in ["espresso", "cortado", "americano"] {
        for suffix in ["", "-hq", "-10bit", "-hq-10bit"] {
            let id = format!("sophon-{tier}{suffix}");
            assert!(ids.contains(&id.as_str()), "{id} missing from {ids:?}");
        }
    }
    assert!(ids.contains(&"sophon-auto"));
    let auto = profiles.iter().find(|p| p["id"] == "sophon-auto").expect("auto");
    assert_eq!(auto["group"], "auto");
    assert!(auto["speed"].is_null());
    let hq10 = profiles.iter().find(|p| p["id"] == "sophon-cortado-hq-10bit").expect("hq10");
    assert_eq!(
        (hq10["group"].as_str(), hq10["bit_depth"].as_u64(), hq10["speed"].as_str()),
        (Some("hq-10bit"), Some(10), Some("medium"))
    );
    assert!(profiles.iter().all(|p| p["description"].as_str().is_some_and(|d| d.len() > 10)));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_can_be_reordered_and_finished_jobs_removed() {
    let s = TestServer::start(0, |_| {}).await;
    let mut ids = Vec::new();
    for _ in 0..4 {
        let body =
            json!({"source": {"type": "path", "path": fixture("h264_720p_2s.mp4")}, "profile": "sophon-espresso"});
        let (st, job) = s.post("/v1/jobs", &body).await;
        assert_eq!(st, StatusCode::CREATED, "{job}");
        ids.push(job["id"].as_str().expect("id").to_string());
    }
    let (a, b, c2, d) = (&ids[0], &ids[1], &ids[2], &ids[3]);
    let (st, moved) = s.post(&format!("/v1/jobs/{d}/move"), &json!({"position": "top"})).await;
    assert_eq!(st, StatusCode::OK, "{moved}");
    c::check(&moved, &c::JOB);
    let (st, _) = s.post(&format!("/v1/jobs/{a}/move"), &json!({"position": "bottom"})).await;
    assert_eq!(st, StatusCode::OK);
    let (st, _) = s.post(&format!("/v1/jobs/{c2}/move"), &json!({"before": b})).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(s.service.queue_order().await.expect("order"), vec![d.clone(), c2.clone(), b.clone(), a.clone()]);
    // Listing order (newest first) does not change with the run order.
    let (_, page) = s.get("/v1/jobs").await;
    let listed: Vec<&str> = page["jobs"].as_array().expect("jobs").iter().filter_map(|j| j["id"].as_str()).collect();
    assert_eq!(listed, vec![d.as_str(), c2.as_str(), b.as_str(), a.as_str()]);
    let (st, e) = s.post(&format!("/v1/jobs/{a}/move"), &json!({"position": "sideways"})).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{e}");

    // Remove: refused while queued, allowed once terminal; the record is gone.
    let r = s.client().delete(s.url(&format!("/v1/jobs/{a}/record"))).send().await.expect("DELETE");
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let (st, _) = s.delete(&format!("/v1/jobs/{a}")).await;
    assert_eq!(st, StatusCode::OK);
    let (st, e) = s.post(&format!("/v1/jobs/{a}/move"), &json!({"position": "top"})).await;
    assert_eq!(st, StatusCode::CONFLICT, "a canceled job cannot move: {e}");
    let r = s.client().delete(s.url(&format!("/v1/jobs/{a}/record"))).send().await.expect("DELETE");
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let (st, _) = s.get(&format!("/v1/jobs/{a}")).await;
    assert_eq!(st, StatusCode::NOT_FOUND);

    // Thumbnails: a JPEG of the source, upright, within 320×180.
    let r = s.client().get(s.url(&format!("/v1/jobs/{b}/thumbnail"))).send().await.expect("thumbnail");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "image/jpeg");
    let jpeg = r.bytes().await.expect("bytes");
    assert_eq!(&jpeg[..3], &[0xFF, 0xD8, 0xFF], "JPEG magic");
    let dir = tempfile::tempdir().expect("tmp");
    let file = dir.path().join("t.jpg");
    std::fs::write(&file, &jpeg).expect("write");
    let out = std::process::Command::new("ffprobe")
        .args(["-v", "error", "-show_entries", "stream=width,height", "-of", "csv=p=0"])
        .arg(&file)
        .output()
        .expect("ffprobe");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "320,180", "16:9 source fits the 320×180 box");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn phone_clip_thumbnail_is_upright_and_upload_thumbnails_work() {
    let s = TestServer::start(0, |_| {}).await;
    // rotated_90.mp4 is stored landscape with a 90° display rotation: the poster is portrait.
    let jpeg = s.service.thumbnail_jpeg(&fixture("rotated_90.mp4")).await.expect("thumbnail");
    let dir = tempfile::tempdir().expect("tmp");
    let file = dir.path().join("r.jpg");
    std::fs::write(&file, &jpeg).expect("write");
    let out = std::process::Command::new("ffprobe")
        .args(["-v", "error", "-show_entries", "stream=width,height", "-of", "csv=p=0"])
        .arg(&file)
        .output()
        .expect("ffprobe");
    let dims: Vec<u32> =
        String::from_utf8_lossy(&out.stdout).trim().split(',').filter_map(|v| v.parse().ok()).collect();
    assert_eq!(dims.len(), 2, "{dims:?}");
    assert!(dims[1] > dims[0], "portrait poster for a rotated phone clip: {dims:?}");
    assert!(dims[1] <= 180, "{dims:?}");

    let upl = s.upload("clip.mp4", &std::fs::read(fixture("h264_720p_2s.mp4")).expect("fixture")).await;
    let r = s.client().get(s.url(&format!("/v1/uploads/{upl}/thumbnail"))).send().await.expect("thumbnail");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "image/jpeg");
    let text = s.upload("notes.mov", &std::fs::read(fixture("text.mov")).expect("fixture")).await;
    let r = s.client().get(s.url(&format!("/v1/uploads/{text}/thumbnail"))).send().await.expect("thumbnail");
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    c::check_error(&r.json().await.expect("json"), "source_invalid");
    let facts = s.service.probe_facts(&fixture("h264_720p_2s.mp4")).await.expect("facts");
    assert_eq!(
        (facts.resolution.as_deref(), facts.codec.as_deref(), facts.bit_depth),
        (Some("1280x720"), Some("h264"), Some(8))
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_jobs_place_their_output_in_the_chosen_folder_and_network_ones_may_not() {
    let s = TestServer::start(1, |_| {}).await;
    let out = tempfile::tempdir().expect("tmp");
    let mut spec = crema_service::JobSpec::path(fixture("h264_720p_2s.mp4"), "sophon-espresso");
    spec.output.target_height = Some(240);
    spec.output.dir = Some(out.path().to_path_buf());
    // Twice: the second output must not replace the first.
    let a = s.service.submit(spec.clone(), crema_service::Origin::Local).await.expect("submit");
    let b = s.service.submit(spec.clone(), crema_service::Origin::Local).await.expect("submit");
    let a = s.wait_terminal(&a.id, 60).await;
    let b = s.wait_terminal(&b.id, 60).await;
    let first = out.path().join("h264_720p_2s.sophon-espresso.mp4");
    let second = out.path().join("h264_720p_2s.sophon-espresso-2.mp4");
    let mut paths = Vec::new();
    for j in [&a, &b] {
        let id = j["id"].as_str().expect("id");
        paths.extend(s.service.get(id).await.expect("job").output.path);
    }
    let paths: Vec<&str> = paths.iter().map(String::as_str).collect();
    assert!(
        paths.contains(&first.to_str().expect("utf8")) && paths.contains(&second.to_str().expect("utf8")),
        "{paths:?}"
    );
    assert!(first.is_file() && second.is_file());
    assert!(a["output"]["retention_expires_at"].is_null(), "a placed output is the user's file: {a}");
    // The download link serves the placed file.
    let r = s
        .client()
        .get(s.url(&format!("/v1/jobs/{}/output", a["id"].as_str().expect("id"))))
        .send()
        .await
        .expect("output");
    let url = s.url(r.headers()["location"].to_str().expect("location"));
    let bytes = s.anonymous().get(&url).send().await.expect("GET").bytes().await.expect("bytes");
    assert_eq!(bytes.len() as u64, a["output"]["bytes"].as_u64().expect("bytes"));

    let body = json!({"source": {"type": "path", "path": fixture("h264_720p_2s.mp4")}, "profile": "sophon-espresso",
                      "output": {"dir": out.path()}});
    let (st, e) = s.post("/v1/jobs", &body).await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{e}");
    c::check_error(&e, "forbidden");
    s.stop().await;
}

/// A tmpfs of `bytes` mounted on a temp folder, unmounted on drop; `None`
/// (reason printed) where mounting is refused.
struct SmallDisk(tempfile::TempDir);

impl SmallDisk {
    fn mount(bytes: u64) -> Option<SmallDisk> {
        let dir = tempfile::tempdir().expect("tempdir");
        let size = format!("size={bytes}");
        match std::process::Command::new("mount").args(["-t", "tmpfs", "-o", &size, "tmpfs"]).arg(dir.path()).output() {
            Ok(o) if o.status.success() => Some(SmallDisk(dir)),
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

    /// Free bytes, as `df` reports them.
    fn free(&self) -> u64 {
        let out = std::process::Command::new("df").args(["-B1", "--output=avail"]).arg(self.0.path()).output();
        let text = String::from_utf8(out.expect("df").stdout).expect("utf-8");
        text.lines().nth(1).and_then(|l| l.trim().parse().ok()).expect("df avail")
    }

    /// Writes `name` until the file system refuses even one byte.
    fn fill(&self, name: &str) {
        use std::io::Write;
        let mut f = std::fs::File::create(self.0.path().join(name)).expect("filler");
        for block in [1 << 16, 4096, 1] {
            let buf = vec![0u8; block];
            while let Ok(n) = f.write(&buf) {
                assert!(n > 0);
            }
        }
        assert_eq!(self.free(), 0, "the disk is not full");
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg("-l").arg(self.0.path()).status();
    }
}

/// Issue 9, defect 4, over HTTP on a real 8 MiB file system: a part written
/// into a full disk is `503 capacity_exceeded` with `Retry-After` (not a
/// retryable `500`), the acknowledged parts stay, and at 0 bytes free
/// `DELETE /v1/uploads/{id}` still answers `204` and frees the space.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_is_503_capacity_exceeded_and_delete_still_answers_204() {
    const MIB: usize = 1 << 20;
    let Some(disk) = SmallDisk::mount(8 * MIB as u64) else { return };
    let data_dir = disk.0.path().join("data");
    let s = TestServer::start_in(&data_dir, 0, |cfg| cfg.upload_chunk_size_override = Some(MIB as u64)).await;
    let body = json!({"file_name": "big.mov", "file_size": 16 * MIB, "mime_type": "video/quicktime"});
    let (st, created) = s.post("/v1/uploads", &body).await;
    assert_eq!(st, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().expect("id").to_string();
    let part = vec![7u8; MIB];
    let mut acked = Vec::new();
    let refused = loop {
        let n = acked.len();
        assert!(n < 16, "16 MiB fitted on an 8 MiB disk");
        let r = s
            .client()
            .put(s.url(&format!("/v1/uploads/{id}/parts/{n}")))
            .header("Content-Type", "application/octet-stream")
            .body(part.clone())
            .send()
            .await
            .expect("PUT");
        if r.status() != StatusCode::OK {
            break r;
        }
        acked.push(n);
    };
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    let retry_after = refused.headers().get("retry-after").expect("Retry-After").to_str().expect("ascii");
    assert!(retry_after.parse::<u64>().is_ok_and(|s| s > 0), "{retry_after}");
    let e: serde_json::Value = refused.json().await.expect("envelope");
    c::check_error(&e, "capacity_exceeded");
    assert_eq!(e["error"]["retryable"], true);
    let msg = e["error"]["message"].as_str().expect("message");
    assert!(msg.contains("disk is full"), "{msg}");
    assert!(!msg.contains(data_dir.to_str().expect("utf-8")), "a server path in the message: {msg}");
    assert!(acked.len() >= 3, "only {} parts fitted", acked.len());
    let (_, up) = s.get(&format!("/v1/uploads/{id}")).await;
    assert_eq!(up["received_chunks"], json!(acked), "{up}");

    disk.fill("filler");
    let r = s.client().delete(s.url(&format!("/v1/uploads/{id}"))).send().await.expect("DELETE");
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert!(r.bytes().await.expect("body").is_empty());
    // The parts' space is back (less what the database wrote meanwhile).
    assert!(disk.free() >= ((acked.len() - 1) * MIB) as u64, "nothing freed: {}", disk.free());
    let (st, up) = s.get(&format!("/v1/uploads/{id}")).await;
    assert_eq!((st, up["status"].as_str()), (StatusCode::OK, Some("canceled")), "{up}");
    s.stop().await;
}
