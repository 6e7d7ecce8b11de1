//! Chunked uploads kept in the bucket (farm mode, issue 11 "Sources"):
//! several nodes on one database and one real S3 server (s3s-fs), each node
//! with its own data folder. Parts go to whichever node, any node completes
//! the upload, any node runs a job from it, and the object stays while a
//! job that may still run names the upload.

use crate::common::{config, fixture, is, postgres, wait_until};
use crate::support::s3s::S3sFs;
use crema_service::{
    Config, Database, JobSpec, JobStatus, Service, ServiceError, SourceSpec, UploadSpec, UploadStatus,
};
use sha2::{Digest, Sha256};
use std::path::Path;
use std::time::Duration;

const MIB: u64 = 1024 * 1024;

/// A node `name` with its own data folder `dir`, sharing `shared`'s
/// database (SQLite file or PostgreSQL database of the matrix) and the bucket.
fn node(s3: &S3sFs, shared: &Path, dir: &Path, name: &str, workers: usize) -> Config {
    let mut c = config(dir, workers);
    c.database = Some(if postgres::enabled() {
        postgres::database_for(shared).parse().unwrap()
    } else {
        Database::Sqlite(shared.join("crema.db"))
    });
    let creds = dir.join("credentials");
    std::fs::write(
        &creds,
        format!("[default]\naws_access_key_id = {}\naws_secret_access_key = {}\n", s3.access_key, s3.secret_key),
    )
    .unwrap();
    c.object_store = Some(
        format!(
            "s3://{}/farm?endpoint={}&credentials_file={}",
            crate::support::s3s::BUCKET,
            s3.endpoint(),
            creds.display()
        )
        .parse()
        .unwrap(),
    );
    c.node_name = name.into();
    // 5 MiB test parts: at most 10 000 of them per upload.
    c.max_upload_bytes = 1 << 30;
    c
}

fn bytes(len: u64, seed: u64) -> Vec<u8> {
    crate::common::pseudo_random(len as usize, seed)
}

fn files_under(dir: &Path) -> Vec<String> {
    walk(dir).into_iter().map(|p| p.display().to_string()).collect()
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    entries.flatten().flat_map(|e| if e.path().is_dir() { walk(&e.path()) } else { vec![e.path()] }).collect()
}

/// Parts of one upload sent to two nodes, out of order and one twice, are
/// joined by the bucket when both nodes complete it at once: the object has the
/// file's bytes and SHA-256, every node sees the upload completed, no node
/// keeps a copy, a node restarting meanwhile drops none of the parts, and
/// deleting the upload deletes the object.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parts_sent_to_any_node_are_joined_by_the_bucket() {
    let s3 = S3sFs::start();
    let (shared, a_dir, b_dir) =
        (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut ca = node(&s3, shared.path(), a_dir.path(), "node-a", 0);
    ca.upload_chunk_size_override = Some(5 * MIB);
    let mut cb = node(&s3, shared.path(), b_dir.path(), "node-b", 0);
    cb.upload_chunk_size_override = Some(5 * MIB);
    let a = Service::open(ca).await.unwrap();
    let b = Service::open(cb.clone()).await.unwrap();
    let data = bytes(12 * MIB + 3, 7);
    let spec = UploadSpec { file_name: "take 1.mov".into(), file_size: data.len() as u64, mime_type: None };
    let up = a.create_upload(spec).await.unwrap();
    assert_eq!(up.total_chunks, 3);
    let part = |n: u64| &data[(n * 5 * MIB) as usize..(((n + 1) * 5 * MIB) as usize).min(data.len())];
    b.put_part(&up.id, 2, part(2)).await.unwrap();
    a.put_part(&up.id, 0, &bytes(5 * MIB, 99)[..]).await.unwrap(); // wrong bytes, sent again below
    b.put_part(&up.id, 1, part(1)).await.unwrap();
    a.put_part(&up.id, 0, part(0)).await.unwrap();
    // A node that restarts now must not drop parts another node received.
    drop(b);
    let b = Service::open(cb).await.unwrap();
    assert_eq!(a.get_upload(&up.id).await.unwrap().received_chunks, vec![0, 1, 2]);
    assert!(files_under(&a_dir.path().join("uploads")).is_empty(), "{:?}", files_under(a_dir.path()));

    // Two nodes complete it at once: one joins the parts; the other gets the
    // same result or a conflict, never an internal error.
    let (on_a, on_b) = tokio::join!(a.complete_upload(&up.id), b.complete_upload(&up.id));
    for r in [&on_a, &on_b] {
        assert!(matches!(r, Ok(_) | Err(ServiceError::InvalidTransition(_))), "{r:?}");
    }
    let done = on_b.or(on_a).expect("one completion succeeded");
    assert_eq!(done.sha256, hex::encode(Sha256::digest(&data)));
    assert_eq!(b.complete_upload(&up.id).await.unwrap(), done, "completing again gives the same result");
    assert_eq!(done.bytes, data.len() as u64);
    let object = s3.stored_file(&format!("farm/uploads/{}/source", up.id));
    assert!(std::fs::read(&object).unwrap() == data, "the bucket's object is the file");
    let seen = a.get_upload(&up.id).await.unwrap();
    assert_eq!((seen.status, seen.sha256.as_deref()), (UploadStatus::Completed, Some(done.sha256.as_str())));
    for dir in [a_dir.path(), b_dir.path()] {
        assert!(files_under(&dir.join("uploads")).is_empty(), "a node kept a copy: {:?}", files_under(dir));
    }
    // Completed: no more parts, from any node.
    let e = a.put_part(&up.id, 0, part(0)).await.unwrap_err();
    assert!(matches!(e, ServiceError::InvalidTransition(_)), "{e:?}");

    let deleted = a.delete_upload(&up.id).await.unwrap();
    assert_eq!(deleted.status, UploadStatus::Canceled);
    assert!(!object.exists(), "deleting the upload deletes its object");
    assert_eq!(b.get_upload(&up.id).await.unwrap().status, UploadStatus::Canceled);
    a.shutdown(Duration::ZERO).await;
    b.shutdown(Duration::ZERO).await;
}

/// A job submitted on one node from an upload another node completed names
/// the upload's object (no second copy) and runs on a third node that never
/// saw the file. Deleting the upload while the job is queued keeps the
/// object for it; the expiry pass deletes it once the job is done.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_from_a_bucket_upload_runs_on_any_node_and_keeps_its_object() {
    let s3 = S3sFs::start();
    let dirs: Vec<_> = (0..4).map(|_| tempfile::tempdir().unwrap()).collect();
    let shared = dirs[0].path();
    let ttl = Duration::from_secs(4);
    let open = |dir: &Path, name: &str, workers| {
        let mut c = node(&s3, shared, dir, name, workers);
        c.upload_ttl = ttl;
        Service::open(c)
    };
    let a = open(dirs[1].path(), "node-a", 0).await.unwrap();
    let b = open(dirs[2].path(), "node-b", 0).await.unwrap();
    let clip = std::fs::read(fixture("h264_720p_2s.mp4")).unwrap();
    let spec = UploadSpec { file_name: "clip.mp4".into(), file_size: clip.len() as u64, mime_type: None };
    let up = a.create_upload(spec).await.unwrap();
    a.put_part(&up.id, 0, &clip[..]).await.unwrap();
    let done = b.complete_upload(&up.id).await.unwrap();
    assert_eq!(a.get_upload(&up.id).await.unwrap().source_width, Some(1280), "probed at completion");

    let mut spec = JobSpec::path("unused", "sophon-espresso");
    spec.source = SourceSpec::Upload { upload_id: up.id.clone() };
    spec.output.target_height = Some(144);
    let job = a.submit(spec, crate::common::network()).await.unwrap();
    let key = format!("uploads/{}/source", up.id);
    assert_eq!(job.source.object_key.as_deref(), Some(key.as_str()), "the job names the upload's object");
    assert_eq!(job.source.sha256, done.sha256);
    assert!(!s3.stored_file(&format!("farm/jobs/{}/source", job.id)).exists(), "no second copy in the bucket");
    b.delete_upload(&up.id).await.unwrap();
    let object = s3.stored_file(&format!("farm/{key}"));
    assert!(object.is_file(), "a queued job keeps the upload's object");

    let c = open(dirs[3].path(), "node-c", 1).await.unwrap();
    let ran = wait_until(&c, &job.id, Duration::from_secs(120), |j| j.status.is_terminal()).await;
    assert!(is(JobStatus::Completed)(&ran), "{ran:?}");
    assert!(object.is_file(), "kept until the expiry pass");
    tokio::time::sleep(ttl).await;
    assert_eq!(c.cleanup_uploads().await.unwrap(), 1);
    assert!(!object.exists(), "the expiry pass deletes it once no job needs it");
    for s in [a, b, c] {
        s.shutdown(Duration::ZERO).await;
    }
}

/// A part the bucket does not take (here its multipart upload was aborted
/// behind the service's back, as when another node deleted the upload while
/// the part was on its way) is an error and is not acknowledged; the parts
/// before it stay. (S3 answers such a part 404 `NoSuchUpload`, which the
/// service reports as a conflict when the upload is no longer open; s3s-fs
/// answers 403, so only the refusal is checked here.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_part_the_bucket_refuses_is_not_acknowledged() {
    use crate::support::s3s::S3sFsExt;
    let s3 = S3sFs::start();
    let (shared, a_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut c = node(&s3, shared.path(), a_dir.path(), "node-a", 0);
    c.upload_chunk_size_override = Some(5 * MIB);
    let a = Service::open(c).await.unwrap();
    let data = bytes(6 * MIB, 3);
    let spec = UploadSpec { file_name: "late.mov".into(), file_size: data.len() as u64, mime_type: None };
    let up = a.create_upload(spec).await.unwrap();
    a.put_part(&up.id, 0, &data[..(5 * MIB) as usize]).await.unwrap();
    let pool = crate::common::db(shared.path()).await;
    let multipart: String = sqlx::query_scalar("SELECT multipart_id FROM uploads WHERE id = $1")
        .bind(&up.id)
        .fetch_one(&pool)
        .await
        .unwrap();
    pool.close().await;
    let objects = s3.objects("farm", crema_service::objects::ObjectsOptions::default());
    let key = crema_service::objects::ObjectKey::new(&format!("uploads/{}/source", up.id)).unwrap();
    objects.abort_multipart(&key, &multipart).await.unwrap();
    let e = a.put_part(&up.id, 1, &data[(5 * MIB) as usize..]).await.unwrap_err();
    assert!(matches!(e, ServiceError::Internal(_) | ServiceError::InvalidTransition(_)), "{e:?}");
    assert!(!e.to_string().contains(a_dir.path().to_str().unwrap()), "a server path in {e}");
    assert_eq!(a.get_upload(&up.id).await.unwrap().received_chunks, vec![0], "the refused part is not acknowledged");
    a.shutdown(Duration::ZERO).await;
}

/// A job is submitted from an upload kept in the bucket without reading the
/// object again: the facts probed at completion describe it and check its
/// pictures. Shown by deleting the object's bytes from the bucket before
/// submitting: the submission still succeeds with the source's codec and
/// audio tracks, and a source beyond the picture limits is still refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_submission_uses_the_facts_recorded_at_completion() {
    let s3 = S3sFs::start();
    let (shared, a_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = Service::open(node(&s3, shared.path(), a_dir.path(), "node-a", 0)).await.unwrap();
    let upload = |name: &'static str| {
        let a = &a;
        async move {
            let bytes = std::fs::read(fixture(name)).unwrap();
            let spec = UploadSpec { file_name: name.into(), file_size: bytes.len() as u64, mime_type: None };
            let up = a.create_upload(spec).await.unwrap();
            a.put_part(&up.id, 0, &bytes[..]).await.unwrap();
            a.complete_upload(&up.id).await.unwrap();
            up.id
        }
    };
    let submit = |id: String| {
        let a = &a;
        async move {
            let mut spec = JobSpec::path("unused", "sophon-espresso");
            spec.source = SourceSpec::Upload { upload_id: id };
            spec.output.target_height = Some(720);
            a.submit(spec, crate::common::network()).await
        }
    };
    let clip = upload("h264_720p_2s.mp4").await;
    std::fs::remove_file(s3.stored_file(&format!("farm/uploads/{clip}/source"))).unwrap();
    let job = submit(clip).await.expect("submitted without the object");
    assert_eq!((job.source.codec.as_deref(), job.source.audio_tracks), (Some("h264"), Some(1)), "{:?}", job.source);
    assert_eq!(job.source.resolution.as_deref(), Some("1280x720"));

    let huge = upload("declared_15000.mkv").await;
    std::fs::remove_file(s3.stored_file(&format!("farm/uploads/{huge}/source"))).unwrap();
    let e = submit(huge).await.unwrap_err();
    assert!(matches!(&e, ServiceError::SourceUnsupported(m) if m.contains("15000")), "{e:?}");
    a.shutdown(Duration::ZERO).await;
}
