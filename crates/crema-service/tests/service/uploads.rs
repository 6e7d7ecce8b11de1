//! Chunked, resumable uploads on a real SQLite file and real files in a temp
//! dir: tiers, parts in any order and at once, re-sent parts, size errors,
//! assembly and its hash, probing, resume after a restart, expiry, and jobs
//! whose source is an upload.

use crate::common;

use common::*;
use crema_service::{
    Config, JobSpec, JobStatus, MIB, Service, ServiceError, SourceSpec, UploadSpec, UploadStatus, chunk_size_for,
};
use futures_util::future::join_all;
use sha2::Digest;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(bytes))
}

/// A config with workers and a fixed part size (the tiers need files of 64 MiB and more).
fn upload_config(dir: &Path, workers: usize, chunk: Option<u64>) -> Config {
    let mut c = config(dir, workers);
    c.upload_chunk_size_override = chunk;
    c
}

async fn open_with(c: Config) -> Service {
    Service::open(c).await.expect("open service")
}

fn spec(name: &str, size: usize) -> UploadSpec {
    UploadSpec { file_name: name.into(), file_size: size as u64, mime_type: Some("video/mp4".into()) }
}

fn chunks(data: &[u8], chunk: u64) -> Vec<(u64, &[u8])> {
    data.chunks(chunk as usize).enumerate().map(|(i, c)| (i as u64, c)).collect()
}

/// Creates an upload of `data` and sends every part at once (in reverse order).
async fn upload_all(svc: &Service, name: &str, data: &[u8]) -> String {
    let created = svc.create_upload(spec(name, data.len())).await.expect("create upload");
    let parts = chunks(data, created.chunk_size);
    assert_eq!(parts.len() as u64, created.total_chunks);
    let puts = parts.iter().rev().map(|&(n, bytes)| svc.put_part(&created.id, n, bytes));
    for r in join_all(puts).await {
        assert!(r.expect("put part").received);
    }
    created.id
}

fn upload_dir(data_dir: &Path, id: &str) -> PathBuf {
    data_dir.join("uploads").join(id)
}

fn file_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| rd.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    names.sort();
    names
}

/// Moves an upload's expiry into the past.
async fn expire_now(data_dir: &Path, id: &str) {
    let pool = db(data_dir).await;
    let past = time::OffsetDateTime::now_utc() - time::Duration::seconds(5);
    let text = past.format(&time::format_description::well_known::Rfc3339).unwrap();
    let ms = (past.unix_timestamp_nanos() / 1_000_000) as i64;
    let r = sqlx::query("UPDATE uploads SET expires_at = $1, expires_ms = $2 WHERE id = $3")
        .bind(text)
        .bind(ms)
        .bind(id)
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(r.rows_affected(), 1);
    pool.close().await;
}

#[test]
fn chunk_size_tiers_follow_the_contract_in_mib() {
    assert_eq!(chunk_size_for(1), 1);
    assert_eq!(chunk_size_for(5 * MIB), 5 * MIB, "under 64 MiB: one part");
    assert_eq!(chunk_size_for(64 * MIB - 1), 64 * MIB - 1);
    assert_eq!(chunk_size_for(64 * MIB), 8 * MIB);
    assert_eq!(chunk_size_for(1024 * MIB), 8 * MIB);
    assert_eq!(chunk_size_for(1024 * MIB + 1), 16 * MIB);
    assert_eq!(chunk_size_for(10 * 1024 * MIB), 16 * MIB);
    assert_eq!(chunk_size_for(10 * 1024 * MIB + 1), 32 * MIB);
    assert_eq!(chunk_size_for(150 * 1024 * MIB), 32 * MIB);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_uses_tiers_validates_and_expires_after_24_hours() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = upload_config(dir.path(), 0, None);
    c.max_upload_bytes = 20 * 1024 * MIB;
    let svc = open_with(c).await;

    let before = time::OffsetDateTime::now_utc();
    let small = svc.create_upload(spec("clip.mp4", 1000)).await.unwrap();
    assert!(small.id.starts_with("upl_") && small.id.len() == 4 + 32, "{}", small.id);
    assert_eq!((small.chunk_size, small.total_chunks), (1000, 1));
    let ttl = small.expires_at - before;
    assert!(ttl >= time::Duration::hours(24) - time::Duration::seconds(1), "{ttl}");
    assert!(ttl <= time::Duration::hours(24) + time::Duration::seconds(5), "{ttl}");

    let mid = svc.create_upload(spec("a.mov", (100 * MIB + 5) as usize)).await.unwrap();
    assert_eq!((mid.chunk_size, mid.total_chunks), (8 * MIB, 13));
    let big = svc.create_upload(spec("b.mov", (2 * 1024 * MIB) as usize)).await.unwrap();
    assert_eq!((big.chunk_size, big.total_chunks), (16 * MIB, 128));
    let huge = svc.create_upload(spec("c.mov", (11 * 1024 * MIB) as usize)).await.unwrap();
    assert_eq!((huge.chunk_size, huge.total_chunks), (32 * MIB, 352));

    let up = svc.get_upload(&mid.id).await.unwrap();
    assert_eq!(up.status, UploadStatus::Uploading, "a new session is uploading (the contract has no other open state)");
    assert!(up.received_chunks.is_empty());
    assert_eq!((up.file_size, up.chunk_size, up.total_chunks), (100 * MIB + 5, 8 * MIB, 13));
    assert_eq!(up.source_width, None);
    let wire = serde_json::to_value(&up).unwrap();
    for key in ["id", "status", "file_name", "total_chunks", "received_chunks", "expires_at"] {
        assert!(wire.get(key).is_some(), "{key} missing: {wire}");
    }
    assert_eq!(wire["status"], "uploading");
    assert!(wire["expires_at"].as_str().unwrap().ends_with('Z'), "{wire}");
    for key in ["source_width", "source_height", "source_duration_seconds"] {
        assert!(wire[key].is_null(), "{key} should be null before completion: {wire}");
    }

    let field = |e: ServiceError| match e {
        ServiceError::Validation { field, .. } => field,
        other => panic!("expected a validation error, got {other:?}"),
    };
    // `..` and `.` are names like any other (stored under a safe disk name).
    for bad in ["", "a/b.mp4", "x\\y", "a\nb"] {
        let e = svc.create_upload(spec(bad, 10)).await.unwrap_err();
        assert_eq!(field(e), "file_name", "{bad:?}");
    }
    let long = "x".repeat(256);
    assert_eq!(field(svc.create_upload(spec(&long, 10)).await.unwrap_err()), "file_name");
    assert_eq!(field(svc.create_upload(spec("ok.mp4", 0)).await.unwrap_err()), "file_size");
    let e = svc.create_upload(spec("too-big.mov", (20 * 1024 * MIB + 1) as usize)).await.unwrap_err();
    assert!(matches!(e, ServiceError::PayloadTooLarge(_)), "{e:?}");
    assert_eq!(e.reason(), Some("payload_too_large"));

    let e = svc.get_upload("upl_nope").await.unwrap_err();
    assert!(matches!(&e, ServiceError::NotFound { kind: "upload", .. }), "{e:?}");
    let e = svc.put_part("upl_nope", 0, &b"x"[..]).await.unwrap_err();
    assert!(matches!(&e, ServiceError::NotFound { kind: "upload", .. }), "{e:?}");
    svc.shutdown(Duration::ZERO).await;

    let mut bad = upload_config(dir.path(), 0, Some(0));
    bad.workers = 0;
    assert!(matches!(Service::open(bad).await, Err(ServiceError::Validation { .. })));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parts_in_any_order_and_concurrently_resent_parts_replace() {
    let dir = tempfile::tempdir().unwrap();
    let svc = Arc::new(open_with(upload_config(dir.path(), 0, Some(1000))).await);
    let data = pseudo_random(4500, 1);
    let created = svc.create_upload(spec("data.bin", data.len())).await.unwrap();
    assert_eq!((created.chunk_size, created.total_chunks), (1000, 5));
    let parts: Vec<Vec<u8>> = data.chunks(1000).map(<[u8]>::to_vec).collect();

    // Parts 4, 2, 0, 3 on separate tasks at once; part 1 first with wrong bytes.
    let mut tasks = Vec::new();
    for n in [4u64, 2, 0, 3] {
        let (svc, id, bytes) = (svc.clone(), created.id.clone(), parts[n as usize].clone());
        tasks.push(tokio::spawn(async move { svc.put_part(&id, n, &bytes[..]).await }));
    }
    let wrong = pseudo_random(1000, 99);
    let (a, b) = tokio::join!(svc.put_part(&created.id, 1, &wrong[..]), svc.put_part(&created.id, 3, &parts[3][..]));
    assert_eq!(a.unwrap(), crema_service::PartReceived { part_number: 1, received: true });
    b.unwrap();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let up = svc.get_upload(&created.id).await.unwrap();
    assert_eq!(up.status, UploadStatus::Uploading);
    assert_eq!(up.received_chunks, vec![0, 1, 2, 3, 4]);

    // Re-send part 1 with the right bytes: it replaces the first one.
    svc.put_part(&created.id, 1, &parts[1][..]).await.unwrap();
    let done = svc.complete_upload(&created.id).await.unwrap();
    assert_eq!(done.status, UploadStatus::Completed);
    assert_eq!(done.bytes, 4500);
    assert_eq!(done.sha256, sha256_hex(&data), "the re-sent part must replace the wrong one");
    let udir = upload_dir(dir.path(), &created.id);
    assert_eq!(file_names(&udir), vec!["source"], "parts are removed after assembly");
    assert_eq!(std::fs::read(udir.join("source")).unwrap(), data);

    // Completing again returns the same result; parts are refused now.
    assert_eq!(svc.complete_upload(&created.id).await.unwrap(), done);
    let e = svc.put_part(&created.id, 0, &parts[0][..]).await.unwrap_err();
    assert!(matches!(e, ServiceError::InvalidTransition(_)), "{e:?}");
    let up = svc.get_upload(&created.id).await.unwrap();
    assert_eq!(up.status, UploadStatus::Completed);
    assert_eq!(up.sha256.as_deref(), Some(done.sha256.as_str()));
    assert_eq!(up.bytes, Some(4500));
    assert!(up.completed_at.is_some());
    // Not media: the probe failed, the facts stay null.
    assert_eq!((up.source_width, up.source_height, up.source_duration_seconds), (None, None, None));
    svc.shutdown(Duration::ZERO).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_sizes_and_part_numbers_are_refused_and_leave_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let svc = open_with(upload_config(dir.path(), 0, Some(1000))).await;
    let data = pseudo_random(2300, 2);
    let created = svc.create_upload(spec("data.bin", data.len())).await.unwrap();
    assert_eq!(created.total_chunks, 3);

    let e = svc.put_part(&created.id, 3, &data[..300]).await.unwrap_err();
    match &e {
        ServiceError::Validation { field, message } => {
            assert_eq!(field, "part_number");
            assert!(message.contains("0..2"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    let e = svc.put_part(&created.id, 0, &data[..999]).await.unwrap_err();
    match &e {
        ServiceError::Validation { field, message } => {
            assert_eq!(field, "body");
            assert!(message.contains("1000 bytes") && message.contains("999"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    let e = svc.put_part(&created.id, 1, &data[..1001]).await.unwrap_err();
    assert!(matches!(e, ServiceError::PayloadTooLarge(_)), "{e:?}");
    // The last part is the remainder (300 bytes), not a full chunk.
    let e = svc.put_part(&created.id, 2, &data[..1000]).await.unwrap_err();
    assert!(matches!(e, ServiceError::PayloadTooLarge(_)), "{e:?}");
    let e = svc.put_part(&created.id, 2, &data[2000..2299]).await.unwrap_err();
    assert!(e.to_string().contains("300 bytes"), "{e}");

    let up = svc.get_upload(&created.id).await.unwrap();
    assert_eq!(up.status, UploadStatus::Uploading);
    assert!(up.received_chunks.is_empty());
    assert!(file_names(&upload_dir(dir.path(), &created.id)).is_empty(), "no temp file left behind");

    svc.put_part(&created.id, 2, &data[2000..]).await.unwrap();
    let e = svc.complete_upload(&created.id).await.unwrap_err();
    assert!(matches!(e, ServiceError::UploadIncomplete(_)), "{e:?}");
    assert_eq!(e.reason(), Some("upload_incomplete"));
    assert!(e.to_string().contains("missing 2 of 3 part(s): 0-1"), "{e}");
    svc.shutdown(Duration::ZERO).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn complete_lists_missing_parts_abbreviated() {
    let dir = tempfile::tempdir().unwrap();
    let svc = open_with(upload_config(dir.path(), 0, Some(10))).await;
    let data = pseudo_random(1000, 3);
    let created = svc.create_upload(spec("many.bin", data.len())).await.unwrap();
    assert_eq!(created.total_chunks, 100);
    // Every even part: 50 single missing parts.
    for (n, bytes) in chunks(&data, 10).into_iter().filter(|(n, _)| n % 2 == 0) {
        svc.put_part(&created.id, n, bytes).await.unwrap();
    }
    let text = svc.complete_upload(&created.id).await.unwrap_err().to_string();
    assert!(text.contains("missing 50 of 100 part(s): 1, 3, 5"), "{text}");
    assert!(text.ends_with("and 30 more"), "{text}");
    // The ID is random hex: look only at the list after it.
    let list = text.split_once("part(s): ").unwrap().1;
    assert!(list.ends_with("37, 39 and 30 more"), "long lists are abbreviated after 20 runs: {text}");
    assert!(!list.contains("41"), "{text}");
    svc.shutdown(Duration::ZERO).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assembled_video_has_the_original_hash_and_probe_facts() {
    let dir = tempfile::tempdir().unwrap();
    let svc = open_with(upload_config(dir.path(), 0, Some(64 * 1024))).await;
    let original = std::fs::read(fixture("bigbuckbunny.mp4")).unwrap();
    let id = upload_all(&svc, "bigbuckbunny.mp4", &original).await;
    let up = svc.get_upload(&id).await.unwrap();
    assert!(up.total_chunks > 10, "{}", up.total_chunks);
    assert_eq!(up.received_chunks, (0..up.total_chunks).collect::<Vec<_>>());

    let done = svc.complete_upload(&id).await.unwrap();
    assert_eq!(done.sha256, sha256_hex(&original));
    assert_eq!(done.bytes, original.len() as u64);
    let up = svc.get_upload(&id).await.unwrap();
    assert_eq!(up.status, UploadStatus::Completed);
    assert_eq!((up.source_width, up.source_height), (Some(1280), Some(720)));
    assert!(up.source_duration_seconds.unwrap() > 0.5, "{up:?}");
    assert!(up.source_frame_rate.is_some());
    assert_eq!(up.received_chunks.len() as u64, up.total_chunks, "received parts stay listed");

    // A non-media file completes too, with the probe facts null.
    let text = std::fs::read(fixture("text.mov")).unwrap();
    let tid = upload_all(&svc, "text.mov", &text).await;
    let tdone = svc.complete_upload(&tid).await.unwrap();
    assert_eq!(tdone.sha256, sha256_hex(&text));
    let tup = svc.get_upload(&tid).await.unwrap();
    assert_eq!(tup.status, UploadStatus::Completed);
    assert_eq!((tup.source_width, tup.source_height, tup.source_duration_seconds), (None, None, None));
    let wire = serde_json::to_value(&tup).unwrap();
    assert!(wire["source_width"].is_null() && wire["source_duration_seconds"].is_null(), "{wire}");
    svc.shutdown(Duration::ZERO).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_resume_after_a_restart_and_stray_files_are_removed() {
    let dir = tempfile::tempdir().unwrap();
    let data = pseudo_random(5000, 4);
    let parts: Vec<&[u8]> = data.chunks(1000).collect();
    let id = {
        let svc = open_with(upload_config(dir.path(), 0, Some(1000))).await;
        let created = svc.create_upload(spec("resume.bin", data.len())).await.unwrap();
        for n in [0u64, 3, 4] {
            svc.put_part(&created.id, n, parts[n as usize]).await.unwrap();
        }
        svc.shutdown(Duration::ZERO).await;
        created.id
    };
    let udir = upload_dir(dir.path(), &id);
    // What a crash can leave: a temp file of a part never acknowledged, a part
    // file renamed into place but never recorded, part 0 caught mid-assembly
    // (renamed and with later bytes appended), and a folder of no upload.
    std::fs::write(udir.join(".tmp-part-000001-deadbeef"), b"half a part").unwrap();
    std::fs::write(udir.join("part-000002"), parts[2]).unwrap();
    let mut assembling = std::fs::read(udir.join("part-000000")).unwrap();
    assembling.extend_from_slice(b"appended by an interrupted assembly");
    std::fs::write(udir.join("assembling"), &assembling).unwrap();
    std::fs::remove_file(udir.join("part-000000")).unwrap();
    std::fs::create_dir_all(dir.path().join("uploads").join("upl_orphan")).unwrap();

    let svc = open_with(upload_config(dir.path(), 0, Some(1000))).await;
    let up = svc.get_upload(&id).await.unwrap();
    assert_eq!(up.status, UploadStatus::Uploading);
    assert_eq!(up.received_chunks, vec![0, 3, 4], "acknowledged parts survive the restart");
    assert_eq!(file_names(&udir), vec!["part-000000", "part-000003", "part-000004"]);
    assert_eq!(std::fs::read(udir.join("part-000000")).unwrap(), parts[0], "part 0 restored from the assembly");
    assert!(!dir.path().join("uploads").join("upl_orphan").exists());

    for n in [1u64, 2] {
        svc.put_part(&id, n, parts[n as usize]).await.unwrap();
    }
    let done = svc.complete_upload(&id).await.unwrap();
    assert_eq!(done.sha256, sha256_hex(&data));
    svc.shutdown(Duration::ZERO).await;

    // A restart after completion keeps the upload as it was.
    let svc = open_with(upload_config(dir.path(), 0, Some(1000))).await;
    assert_eq!(svc.complete_upload(&id).await.unwrap(), done);
    assert_eq!(std::fs::read(udir.join("source")).unwrap(), data);
    svc.shutdown(Duration::ZERO).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_cancels_and_frees_the_parts() {
    let dir = tempfile::tempdir().unwrap();
    let svc = open_with(upload_config(dir.path(), 0, Some(100))).await;
    let data = pseudo_random(250, 5);
    let created = svc.create_upload(spec("gone.bin", data.len())).await.unwrap();
    svc.put_part(&created.id, 1, &data[100..200]).await.unwrap();
    let udir = upload_dir(dir.path(), &created.id);
    assert!(udir.join("part-000001").is_file());

    let up = svc.delete_upload(&created.id).await.unwrap();
    assert_eq!(up.status, UploadStatus::Canceled);
    assert!(up.received_chunks.is_empty());
    assert!(!udir.exists(), "parts freed");
    let e = svc.put_part(&created.id, 0, &data[..100]).await.unwrap_err();
    assert!(matches!(e, ServiceError::InvalidTransition(_)), "{e:?}");
    let e = svc.complete_upload(&created.id).await.unwrap_err();
    assert_eq!(e.code().as_str(), "conflict");
    // Deleting again is harmless.
    assert_eq!(svc.delete_upload(&created.id).await.unwrap().status, UploadStatus::Canceled);
    let e = svc.submit(upload_job(&created.id), common::network()).await.unwrap_err();
    assert!(matches!(e, ServiceError::UploadIncomplete(_)), "{e:?}");
    svc.shutdown(Duration::ZERO).await;
}

fn upload_job(upload_id: &str) -> JobSpec {
    let mut spec = quick_spec();
    spec.source = SourceSpec::Upload { upload_id: upload_id.into() };
    spec
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_sessions_are_cleaned_and_jobs_keep_their_source() {
    let dir = tempfile::tempdir().unwrap();
    let svc = open_with(upload_config(dir.path(), 0, Some(100))).await;

    // An unfinished session past its expiry.
    let data = pseudo_random(250, 6);
    let open = svc.create_upload(spec("late.bin", data.len())).await.unwrap();
    svc.put_part(&open.id, 0, &data[..100]).await.unwrap();
    expire_now(dir.path(), &open.id).await;
    // Expired is not a status: the session is gone for callers (contract, "Uploads").
    let not_found = |e: ServiceError| assert!(matches!(&e, ServiceError::NotFound { kind: "upload", .. }), "{e:?}");
    not_found(svc.get_upload(&open.id).await.unwrap_err());
    not_found(svc.put_part(&open.id, 1, &data[100..200]).await.unwrap_err());
    not_found(svc.complete_upload(&open.id).await.unwrap_err());

    // A completed upload with a queued job (no workers) that names it.
    let video = std::fs::read(fixture("h264_720p_2s.mp4")).unwrap();
    let done_id = upload_all(&svc, "clip.mp4", &video).await;
    svc.complete_upload(&done_id).await.unwrap();
    let job = svc.submit(upload_job(&done_id), common::network()).await.unwrap();
    let link = PathBuf::from(job.source.path.clone().unwrap());
    assert_eq!(link, dir.path().join("sources").join(&job.id).join("clip.mp4"));
    expire_now(dir.path(), &done_id).await;

    assert_eq!(svc.cleanup_uploads().await.unwrap(), 1, "only the unfinished session is cleaned");
    not_found(svc.get_upload(&open.id).await.unwrap_err());
    assert!(!upload_dir(dir.path(), &open.id).exists());
    assert!(upload_dir(dir.path(), &done_id).join("source").is_file(), "a queued job still names it");
    assert_eq!(svc.get_upload(&done_id).await.unwrap().status, UploadStatus::Completed);

    svc.cancel(&job.id).await.unwrap();
    assert_eq!(svc.cleanup_uploads().await.unwrap(), 1);
    not_found(svc.get_upload(&done_id).await.unwrap_err());
    not_found(svc.delete_upload(&done_id).await.unwrap_err());
    assert!(!upload_dir(dir.path(), &done_id).exists());
    assert_eq!(std::fs::read(&link).unwrap(), video, "the job keeps its own link of the source");
    let e = svc.submit(upload_job(&done_id), common::network()).await.unwrap_err();
    assert!(matches!(e, ServiceError::UploadIncomplete(_)), "{e:?}");
    assert!(e.to_string().contains("expired"), "{e}");
    assert_eq!(svc.cleanup_uploads().await.unwrap(), 0);
    svc.shutdown(Duration::ZERO).await;

    // The first pass at open cleans sessions that expired while the service was down.
    let svc = open_with(upload_config(dir.path(), 0, Some(100))).await;
    let late = svc.create_upload(spec("down.bin", 50)).await.unwrap();
    svc.put_part(&late.id, 0, &data[..50]).await.unwrap();
    svc.shutdown(Duration::ZERO).await;
    expire_now(dir.path(), &late.id).await;
    let svc = open_with(upload_config(dir.path(), 0, Some(100))).await;
    assert!(!upload_dir(dir.path(), &late.id).exists());
    not_found(svc.get_upload(&late.id).await.unwrap_err());
    svc.shutdown(Duration::ZERO).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_from_uploads_run_and_non_media_fails_as_unsupported() {
    let dir = tempfile::tempdir().unwrap();
    let svc = open_with(upload_config(dir.path(), 1, Some(200 * 1024))).await;

    // An unknown upload is a bad field of the job, not a missing route object (contract).
    let e = svc.submit(upload_job("upl_missing"), common::network()).await.unwrap_err();
    assert!(matches!(&e, ServiceError::Validation { field, .. } if field == "source.upload_id"), "{e:?}");
    let pending = svc.create_upload(spec("pending.mp4", 10)).await.unwrap();
    let e = svc.submit(upload_job(&pending.id), common::network()).await.unwrap_err();
    assert!(matches!(e, ServiceError::UploadIncomplete(_)), "{e:?}");

    let video = std::fs::read(fixture("h264_720p_2s.mp4")).unwrap();
    let id = upload_all(&svc, "my clip.mp4", &video).await;
    assert!(svc.get_upload(&id).await.unwrap().total_chunks >= 2);
    svc.complete_upload(&id).await.unwrap();
    let job = svc.submit(upload_job(&id), common::network()).await.unwrap();
    assert_eq!(job.status, JobStatus::Queued);
    assert_eq!(job.source.kind, "upload");
    assert_eq!(job.source.upload_id.as_deref(), Some(id.as_str()));
    assert_eq!(job.source.name, "my clip.mp4");
    assert_eq!(job.source.sha256, sha256_hex(&video));
    assert_eq!(job.source.bytes, video.len() as u64);
    assert_eq!(job.source.resolution.as_deref(), Some("1280x720"));
    let wire = serde_json::to_value(&job).unwrap();
    assert_eq!(wire["source"]["type"], "upload");
    assert_eq!(wire["source"]["upload_id"], id.as_str());

    let text = std::fs::read(fixture("text.mov")).unwrap();
    let tid = upload_all(&svc, "text.mov", &text).await;
    svc.complete_upload(&tid).await.unwrap();
    let e = svc.submit(upload_job(&tid), common::network()).await.unwrap_err();
    assert!(
        matches!(&e, ServiceError::SourceInvalid(m) if m.starts_with("text.mov:")),
        "a non-media upload is refused at submit: {e:?}"
    );

    let done = wait_terminal(&svc, &job.id).await;
    assert_eq!(done.status, JobStatus::Completed, "{done:#?}");
    assert_eq!(done.output.height, Some(360));
    assert_eq!(done.source.kind, "upload", "the source keeps its kind after the run");
    assert_eq!(done.source.upload_id.as_deref(), Some(id.as_str()));
    assert_eq!(done.source.sha256, sha256_hex(&video));
    assert!(PathBuf::from(done.output.path.unwrap()).is_file());
    svc.shutdown(Duration::from_secs(1)).await;
}

/// Issue 9: the upload status is exactly the contract's closed enum, in
/// serde and in the OpenAPI schema.
#[test]
fn upload_status_is_exactly_the_contracts_four() {
    use utoipa::PartialSchema;
    let all = [UploadStatus::Uploading, UploadStatus::Assembling, UploadStatus::Completed, UploadStatus::Canceled];
    let names: Vec<&str> = all.iter().map(|s| s.as_str()).collect();
    assert_eq!(names, ["uploading", "assembling", "completed", "canceled"]);
    let schema = serde_json::to_value(UploadStatus::schema()).unwrap();
    assert_eq!(schema["enum"], serde_json::json!(names), "{schema}");
    for s in all {
        assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        assert_eq!(UploadStatus::parse(s.as_str()), Some(s));
    }
    for gone in ["initiated", "expired"] {
        assert_eq!(UploadStatus::parse(gone), None);
        assert!(serde_json::from_value::<UploadStatus>(serde_json::json!(gone)).is_err());
    }
}

/// Issue 9: while `complete` assembles, a concurrent GET reads `assembling`.
/// Part 1 is swapped for a named pipe carrying the same bytes, so the
/// assembly waits (opening it) until the test has looked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_concurrent_get_reads_assembling_while_complete_runs() {
    let dir = tempfile::tempdir().unwrap();
    let svc = Arc::new(open_with(upload_config(dir.path(), 0, Some(1000))).await);
    let data = pseudo_random(3000, 7);
    let id = upload_all(&svc, "slow.bin", &data).await;
    let part1 = upload_dir(dir.path(), &id).join("part-000001");
    std::fs::remove_file(&part1).unwrap();
    let made = std::process::Command::new("mkfifo").arg(&part1).status().expect("mkfifo runs");
    assert!(made.success(), "mkfifo failed");
    let completing = {
        let (svc, id) = (svc.clone(), id.clone());
        tokio::spawn(async move { svc.complete_upload(&id).await })
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let seen = loop {
        let up = svc.get_upload(&id).await.unwrap();
        if up.status == UploadStatus::Assembling || std::time::Instant::now() > deadline {
            break serde_json::to_value(&up).unwrap();
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    // Feed the pipe in every case, so the assembly can end.
    let bytes = data[1000..2000].to_vec();
    let pipe = part1.clone();
    tokio::task::spawn_blocking(move || std::fs::write(pipe, bytes)).await.unwrap().unwrap();
    assert_eq!(seen["status"], "assembling", "{seen}");
    let done = completing.await.unwrap().unwrap();
    assert_eq!(done.sha256, sha256_hex(&data));
    assert_eq!(svc.get_upload(&id).await.unwrap().status, UploadStatus::Completed);
    svc.shutdown(Duration::ZERO).await;
}

/// Issue 9: a database written before the status change (version 7, with
/// `initiated` and `expired` rows) opens with every upload readable: open
/// sessions keep their parts and read `uploading`, expired ones are `404`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_older_store_keeps_its_uploads_under_the_contracts_statuses() {
    if common::postgres::enabled() {
        eprintln!(
            "SKIPPED on PostgreSQL: this checks SQLite's migration 0008 on a version-7 file; the PostgreSQL schema starts at the current tables"
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let opts = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(dir.path().join("crema.db"))
        .create_if_missing(true)
        .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
        .foreign_keys(true);
    let pool = sqlx::sqlite::SqlitePoolOptions::new().max_connections(1).connect_with(opts).await.unwrap();
    let migrations = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    sqlx::migrate::Migrator::new(migrations).await.unwrap().run_to(7, &pool).await.unwrap();
    let later = time::OffsetDateTime::now_utc() + time::Duration::hours(3);
    let earlier = time::OffsetDateTime::now_utc() - time::Duration::hours(3);
    let rows = [
        ("upl_initiated", "initiated", later, 1),
        ("upl_uploading", "uploading", later, 1),
        ("upl_expired", "expired", earlier, 0),
        ("upl_completed", "completed", later, 1),
        ("upl_canceled", "canceled", later, 0),
    ];
    for (id, status, expires, files) in rows {
        let text = expires.format(&time::format_description::well_known::Rfc3339).unwrap();
        sqlx::query(
            "INSERT INTO uploads (id, status, file_name, file_size, chunk_size, total_chunks, sha256, bytes,
                                  created_at, expires_at, expires_ms, files_present)
             VALUES ($1, $2, 'old.bin', 2000, 1000, 2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(id)
        .bind(status)
        .bind((status == "completed").then(|| "ab".repeat(32)))
        .bind((status == "completed").then_some(2000))
        .bind(&text)
        .bind(&text)
        .bind((expires.unix_timestamp_nanos() / 1_000_000) as i64)
        .bind(files)
        .execute(&pool)
        .await
        .unwrap();
    }
    let data = pseudo_random(2000, 8);
    sqlx::query("INSERT INTO upload_parts VALUES ('upl_uploading', 0, 1000, '2026-01-01T00:00:00Z')")
        .execute(&pool)
        .await
        .unwrap();
    std::fs::create_dir_all(upload_dir(dir.path(), "upl_uploading")).unwrap();
    std::fs::write(upload_dir(dir.path(), "upl_uploading").join("part-000000"), &data[..1000]).unwrap();
    std::fs::create_dir_all(upload_dir(dir.path(), "upl_completed")).unwrap();
    std::fs::write(upload_dir(dir.path(), "upl_completed").join("source"), &data).unwrap();
    pool.close().await;

    let svc = open_with(upload_config(dir.path(), 0, None)).await;
    let status = |id: &'static str| {
        let svc = &svc;
        async move { svc.get_upload(id).await.map(|u| (u.status, u.received_chunks)) }
    };
    assert_eq!(status("upl_initiated").await.unwrap(), (UploadStatus::Uploading, vec![]));
    assert_eq!(status("upl_uploading").await.unwrap(), (UploadStatus::Uploading, vec![0]));
    assert_eq!(status("upl_completed").await.unwrap().0, UploadStatus::Completed);
    assert_eq!(status("upl_canceled").await.unwrap().0, UploadStatus::Canceled);
    let e = status("upl_expired").await.unwrap_err();
    assert!(matches!(&e, ServiceError::NotFound { kind: "upload", .. }), "{e:?}");
    // The migrated session goes on where it was.
    svc.put_part("upl_uploading", 1, &data[1000..]).await.unwrap();
    assert_eq!(svc.complete_upload("upl_uploading").await.unwrap().sha256, sha256_hex(&data));
    // The parts still belong to their upload (foreign key to the rebuilt table).
    let other = db(dir.path()).await;
    let parent: String = sqlx::query_scalar("SELECT \"table\" FROM pragma_foreign_key_list('upload_parts')")
        .fetch_one(&other)
        .await
        .unwrap();
    assert_eq!(parent, "uploads");
    other.close().await;
    svc.shutdown(Duration::ZERO).await;
}

/// Issue 9, defect 4, on a real 8 MiB file system: a part that meets a full
/// disk is `capacity_exceeded` (retryable, 503) with a clear message, the
/// parts acknowledged before it stay, and at 0 bytes free the upload can
/// still be deleted, which frees its space.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_the_part_keeps_the_others_and_still_deletes() {
    let Some(disk) = SmallDisk::mount(8 * MIB) else { return };
    let data_dir = disk.path().join("data");
    let mut c = upload_config(&data_dir, 0, Some(MIB));
    c.disk_min_free_bytes = 0;
    let svc = open_with(c).await;
    let data = pseudo_random(16 * MIB as usize, 9);
    let empty = svc.create_upload(spec("empty.mov", 1000)).await.unwrap();
    let created = svc.create_upload(spec("big.mov", data.len())).await.unwrap();
    let mut acked = Vec::new();
    let refused = loop {
        let n = acked.len() as u64;
        assert!(n < created.total_chunks, "16 MiB fitted on an 8 MiB disk");
        match svc.put_part(&created.id, n, &data[(n * MIB) as usize..((n + 1) * MIB) as usize]).await {
            Ok(_) => acked.push(n),
            Err(e) => break e,
        }
    };
    assert!(acked.len() >= 3, "only {} parts fitted", acked.len());
    assert!(matches!(refused, ServiceError::CapacityExceeded(_)), "{refused:?}");
    assert!(refused.retryable());
    let msg = refused.to_string();
    assert!(msg.contains("disk is full") && msg.contains(&format!("part {}", acked.len())), "{msg}");
    assert!(!msg.contains(disk.path().to_str().unwrap()), "a server path in the message: {msg}");
    let up = svc.get_upload(&created.id).await.unwrap();
    assert_eq!(up.received_chunks, acked, "acknowledged parts stay");
    let udir = upload_dir(&data_dir, &created.id);
    for &n in &acked {
        let stored = std::fs::read(udir.join(format!("part-{n:06}"))).unwrap();
        assert!(stored == data[(n * MIB) as usize..((n + 1) * MIB) as usize], "part {n} damaged");
    }
    assert!(!file_names(&udir).iter().any(|f| f.starts_with(".tmp-")), "{:?}", file_names(&udir));

    // Nothing at all left: the delete must still work, and free the parts.
    disk.fill(&disk.path().join("filler"));
    // One with no files to free first: the database must still take the change.
    let deleted = svc.delete_upload(&empty.id).await.expect("delete of a session with no parts at 0 bytes free");
    assert_eq!(deleted.status, UploadStatus::Canceled);
    let deleted = svc.delete_upload(&created.id).await.expect("delete at 0 bytes free");
    assert_eq!(deleted.status, UploadStatus::Canceled);
    assert!(!udir.exists());
    assert!(disk.free() >= (acked.len() as u64 - 1) * MIB, "the parts' space was not freed: {}", disk.free());
    assert_eq!(svc.get_upload(&created.id).await.unwrap().status, UploadStatus::Canceled);
    svc.shutdown(Duration::ZERO).await;
    // Still readable after a restart.
    std::fs::remove_file(disk.path().join("filler")).unwrap();
    let svc = open_with(upload_config(&data_dir, 0, Some(MIB))).await;
    assert_eq!(svc.get_upload(&created.id).await.unwrap().status, UploadStatus::Canceled);
    svc.shutdown(Duration::ZERO).await;
}

/// Issue 9, defect 4: while `/readyz` says `disk_critical`, new uploads and
/// new parts are refused with `capacity_exceeded`; an upload under way can
/// still be read and deleted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_are_refused_while_the_disk_is_critical_and_still_deletable() {
    let dir = tempfile::tempdir().unwrap();
    let data = pseudo_random(2000, 10);
    let mut c = upload_config(dir.path(), 0, Some(1000));
    c.disk_min_free_bytes = 0;
    let svc = open_with(c.clone()).await;
    let created = svc.create_upload(spec("half.bin", data.len())).await.unwrap();
    svc.put_part(&created.id, 0, &data[..1000]).await.unwrap();
    svc.shutdown(Duration::ZERO).await;

    c.disk_min_free_bytes = u64::MAX;
    let svc = open_with(c).await;
    assert!(svc.readiness().await.disk_critical);
    let refused = |e: ServiceError| {
        assert!(matches!(&e, ServiceError::CapacityExceeded(m) if m.contains("almost full")), "{e:?}");
        assert!(e.retryable());
    };
    refused(svc.create_upload(spec("new.bin", 10)).await.unwrap_err());
    refused(svc.put_part(&created.id, 1, &data[1000..]).await.unwrap_err());
    assert_eq!(svc.get_upload(&created.id).await.unwrap().received_chunks, vec![0]);
    assert!(file_names(&upload_dir(dir.path(), &created.id)) == ["part-000000"], "a refused part left a file");
    assert_eq!(svc.delete_upload(&created.id).await.unwrap().status, UploadStatus::Canceled);
    assert!(!upload_dir(dir.path(), &created.id).exists());
    svc.shutdown(Duration::ZERO).await;
}

/// Issue 9, defect 4: readiness measures the output folder too when it is on
/// another file system (here an 8 MiB tmpfs under a 16 MiB floor), and says
/// which folder is low.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_watches_the_output_folder_on_its_own_file_system() {
    let Some(disk) = SmallDisk::mount(8 * MIB) else { return };
    let dir = tempfile::tempdir().unwrap();
    let mut c = upload_config(dir.path(), 0, None);
    c.disk_min_free_bytes = 16 * MIB;
    let svc = open_with(c.clone()).await;
    let r = svc.readiness().await;
    assert!(!r.disk_critical && r.low_on_space.is_empty(), "outputs in the data folder: {r:?}");
    svc.shutdown(Duration::ZERO).await;

    let out = disk.path().join("outputs");
    c.output_dir = Some(out.clone());
    let svc = open_with(c).await;
    let r = svc.readiness().await;
    assert!(r.disk_critical, "{r:?}");
    assert_eq!(r.failed(), ["disk_critical"]);
    assert_eq!(r.low_on_space, [out]);
    assert!(r.free_bytes.unwrap() <= 8 * MIB, "{r:?}");
    let e = svc.create_upload(spec("x.bin", 10)).await.unwrap_err();
    assert!(matches!(e, ServiceError::CapacityExceeded(_)), "{e:?}");
    svc.shutdown(Duration::ZERO).await;
}

/// Issue 9, defect 4: a `complete` that cannot fit the assembled file is
/// `capacity_exceeded` too; the parts are kept and it works once space is freed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn complete_on_a_full_disk_is_capacity_exceeded_and_keeps_the_parts() {
    let Some(disk) = SmallDisk::mount(16 * MIB) else { return };
    let data_dir = disk.path().join("data");
    let mut c = upload_config(&data_dir, 0, Some(MIB));
    c.disk_min_free_bytes = 0;
    let svc = open_with(c).await;
    let data = pseudo_random(5 * MIB as usize, 11);
    let id = upload_all(&svc, "five.bin", &data).await;
    // Leave less room than the four parts appended to part 0 need.
    let filler = disk.path().join("filler");
    std::fs::write(&filler, vec![0u8; disk.free().saturating_sub(MIB) as usize]).unwrap();
    assert!(disk.free() < 4 * MIB, "{} bytes free", disk.free());
    let e = svc.complete_upload(&id).await.unwrap_err();
    assert!(matches!(&e, ServiceError::CapacityExceeded(m) if m.contains("could not be assembled")), "{e:?}");
    let up = svc.get_upload(&id).await.unwrap();
    assert_eq!((up.status, up.received_chunks), (UploadStatus::Uploading, vec![0, 1, 2, 3, 4]));
    std::fs::remove_file(&filler).unwrap();
    assert_eq!(svc.complete_upload(&id).await.unwrap().sha256, sha256_hex(&data));
    svc.shutdown(Duration::ZERO).await;
}
