//! The object-storage layer (`crema_service::objects`) against a real S3
//! server: `s3s-fs` on loopback, checking SigV4 signatures, presigned URLs
//! and multipart uploads (tests/service/support/s3s.rs), with a TCP proxy in front
//! where a test needs to see or disturb the traffic (tests/service/support/proxy.rs).

use crate::support::proxy;

use crate::support::s3s;

use crema_service::objects::{
    Credentials, DEFAULT_PRESIGN_TTL, MIN_PART_SIZE, ObjectKey, Objects, ObjectsError, ObjectsOptions, RetryOptions,
};
use md5::{Digest, Md5};
use proxy::Proxy;
use s3s::{S3sFs, S3sFsExt};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::Duration;

fn key(s: &str) -> ObjectKey {
    ObjectKey::new(s).unwrap()
}

/// `len` bytes that differ from part to part (xorshift), so that part
/// boundaries show in the multipart ETag.
fn data(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Options with the smallest part size S3 allows (5 MiB), quick retries.
fn small_parts() -> ObjectsOptions {
    ObjectsOptions {
        part_size: MIN_PART_SIZE,
        retry: RetryOptions {
            max_retries: 3,
            initial_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(50),
            retry_timeout: Duration::from_secs(10),
        },
        ..Default::default()
    }
}

/// No retries: a failure shows at once.
fn no_retries() -> ObjectsOptions {
    ObjectsOptions { retry: RetryOptions { max_retries: 0, ..small_parts().retry }, ..small_parts() }
}

/// S3's multipart ETag for `bytes` cut into `part`-byte parts: hex(md5(md5(p1)‖md5(p2)‖…))-N.
fn multipart_etag(bytes: &[u8], part: usize) -> String {
    let mut all = Md5::new();
    let chunks: Vec<&[u8]> = bytes.chunks(part).collect();
    for c in &chunks {
        all.update(Md5::digest(c));
    }
    format!("\"{}-{}\"", hex::encode(all.finalize()), chunks.len())
}

async fn fetch(url: &str) -> reqwest::Response {
    reqwest::get(url).await.unwrap()
}

fn write(path: &Path, bytes: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multipart_upload_has_equal_parts_and_round_trips() {
    let s3 = S3sFs::start();
    let objects = s3.objects("farm", small_parts());
    let tmp = tempfile::tempdir().unwrap();
    let part = MIN_PART_SIZE as usize;
    let bytes = data(2 * part + part / 2 + 3, 7);
    let local = tmp.path().join("out.mp4");
    write(&local, &bytes);

    let k = key("jobs/job_1/out.mp4");
    assert_eq!(objects.put_file(&local, &k).await.unwrap(), bytes.len() as u64);
    assert_eq!(objects.head(&k).await.unwrap(), Some(bytes.len() as u64));
    // What the server stored is the file, byte for byte.
    assert_eq!(std::fs::read(s3.stored_file("farm/jobs/job_1/out.mp4")).unwrap(), bytes);
    // The ETag is the multipart one of exactly 5 MiB + 5 MiB + the rest:
    // every part but the last had the same size.
    let url = objects.presigned_get(&k, DEFAULT_PRESIGN_TTL).await.unwrap();
    let resp = fetch(url.as_str()).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["etag"].to_str().unwrap(), multipart_etag(&bytes, part));
    assert_eq!(resp.headers()["content-type"], "video/mp4");

    let back = tmp.path().join("back.mp4");
    assert_eq!(objects.get_to_file(&k, &back).await.unwrap(), bytes.len() as u64);
    assert_eq!(std::fs::read(&back).unwrap(), bytes);
    assert!(!tmp.path().join("back.mp4.partial").exists() && !tmp.path().join("back.mp4.partial.etag").exists());

    // A file no larger than a part goes in one PUT: a plain MD5 ETag.
    let small = data(1000, 3);
    write(&local, &small);
    objects.put_file(&local, &k).await.unwrap();
    let resp = fetch(objects.presigned_get(&k, DEFAULT_PRESIGN_TTL).await.unwrap().as_str()).await;
    assert_eq!(resp.headers()["etag"].to_str().unwrap(), format!("\"{}\"", hex::encode(Md5::digest(&small))));
    assert_eq!(resp.bytes().await.unwrap(), small);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_checksum_headers_go_over_the_wire() {
    let s3 = S3sFs::start();
    let proxy = Proxy::start(s3.port).await;
    let objects = Objects::open_with(&s3s::url_at(&proxy.endpoint, "farm"), s3.credentials(), small_parts()).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let local = tmp.path().join("a.mp4");
    write(&local, &data(MIN_PART_SIZE as usize + 10, 1));
    objects.put_file(&local, &key("a.mp4")).await.unwrap();
    write(&local, b"small");
    objects.put_file(&local, &key("b.mp4")).await.unwrap();
    let sent = proxy.sent_lowercase();
    assert!(sent.contains("post /crema-test/farm/a.mp4?uploads"), "multipart was used");
    assert!(sent.contains("x-amz-content-sha256"), "the capture holds the headers");
    for h in ["x-amz-checksum", "x-amz-sdk-checksum-algorithm", "x-amz-trailer"] {
        assert!(!sent.contains(h), "{h} was sent");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_secret_is_refused_and_never_shown() {
    let s3 = S3sFs::start();
    let secret = "wrong-secret-0123456789";
    let url = s3s::url_at(&s3.endpoint(), "farm");
    let bad = Objects::open_with(&url, Credentials::new(&s3.access_key, secret).unwrap(), no_retries()).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let local = tmp.path().join("a.bin");
    write(&local, b"hello");
    let e = bad.put_file(&local, &key("a.bin")).await.unwrap_err();
    assert!(matches!(e, ObjectsError::Refused { .. }), "{e:?}");
    assert!(!e.is_transient());
    assert!(e.to_string().contains("403"), "{e}");
    for shown in [e.to_string(), format!("{e:?}"), format!("{bad:?}")] {
        assert!(!shown.contains(secret), "secret shown: {shown}");
    }
    assert!(matches!(bad.head(&key("a.bin")).await.unwrap_err(), ObjectsError::Refused { .. }));
    // Nothing was stored.
    assert_eq!(s3.objects("farm", no_retries()).head(&key("a.bin")).await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presigned_get_serves_the_object_and_tampering_is_refused() {
    let s3 = S3sFs::start();
    let objects = s3.objects("farm", small_parts());
    let tmp = tempfile::tempdir().unwrap();
    let local = tmp.path().join("out.mp4");
    let bytes = data(100_000, 5);
    write(&local, &bytes);
    let k = key("jobs/job_2/out.mp4");
    objects.put_file(&local, &k).await.unwrap();

    let url = objects.presigned_get(&k, DEFAULT_PRESIGN_TTL).await.unwrap();
    let q: Vec<(String, String)> = url.query_pairs().map(|(a, b)| (a.into(), b.into())).collect();
    assert!(q.iter().any(|(k, v)| k == "X-Amz-Expires" && v == "86400"), "{q:?}");
    assert!(!url.as_str().contains(&s3.secret_key));
    let resp = fetch(url.as_str()).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.bytes().await.unwrap(), bytes);

    // Change one character of the signature: refused.
    let mut tampered = url.clone();
    let pairs: Vec<(String, String)> = q
        .iter()
        .map(|(k, v)| {
            let v = if k == "X-Amz-Signature" {
                let flip = if v.ends_with('0') { '1' } else { '0' };
                format!("{}{flip}", &v[..v.len() - 1])
            } else {
                v.clone()
            };
            (k.clone(), v)
        })
        .collect();
    tampered.query_pairs_mut().clear().extend_pairs(pairs);
    assert_eq!(fetch(tampered.as_str()).await.status(), 403);
    // A signed URL for another key does not open this one.
    let other = objects.presigned_get(&key("jobs/job_2/other.mp4"), DEFAULT_PRESIGN_TTL).await.unwrap();
    let mut moved = other.clone();
    moved.set_path(url.path());
    assert_eq!(fetch(moved.as_str()).await.status(), 403);
    // Expired URLs are refused.
    let short = objects.presigned_get(&k, Duration::from_secs(1)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(fetch(short.as_str()).await.status(), 403);
    // Lifetimes SigV4 cannot sign are refused up front.
    for ttl in [Duration::ZERO, Duration::from_secs(8 * 24 * 3600)] {
        assert!(matches!(objects.presigned_get(&k, ttl).await.unwrap_err(), ObjectsError::InvalidOption { .. }));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_download_resumes_where_it_stopped() {
    let s3 = S3sFs::start();
    let tmp = tempfile::tempdir().unwrap();
    let bytes = data(12 * 1024 * 1024, 11);
    let src = tmp.path().join("src.mov");
    write(&src, &bytes);
    let k = key("sources/src.mov");
    s3.objects("farm", small_parts()).put_file(&src, &k).await.unwrap();

    let proxy = Proxy::start(s3.port).await;
    let url = s3s::url_at(&proxy.endpoint, "farm");
    let opts = ObjectsOptions { download_chunk: 4 * 1024 * 1024, ..no_retries() };
    let objects = Objects::open_with(&url, s3.credentials(), opts).unwrap();
    // The connection is cut after about 5 MiB: the call fails, the partial file stays.
    proxy.state.budget.store(5 * 1024 * 1024, Ordering::SeqCst);
    let local = tmp.path().join("scratch/src.mov");
    std::fs::create_dir_all(local.parent().unwrap()).unwrap();
    let e = objects.get_to_file(&k, &local).await.unwrap_err();
    assert!(e.is_transient(), "{e:?}");
    let partial = tmp.path().join("scratch/src.mov.partial");
    let got = std::fs::metadata(&partial).unwrap().len();
    assert!(got > 4 * 1024 * 1024 && got < bytes.len() as u64, "partial has {got} bytes");
    assert!(!local.exists());
    assert_eq!(std::fs::read(&partial).unwrap(), bytes[..got as usize]);

    // The second call fetches only the rest (plus a few KB of HTTP heads).
    proxy.state.down_bytes.store(0, Ordering::SeqCst);
    proxy.state.budget.store(u64::MAX, Ordering::SeqCst);
    assert_eq!(objects.get_to_file(&k, &local).await.unwrap(), bytes.len() as u64);
    let fetched = proxy.state.down_bytes.load(Ordering::SeqCst);
    let rest = bytes.len() as u64 - got;
    assert!(fetched >= rest && fetched < rest + 16 * 1024, "fetched {fetched} bytes for the {rest} missing");
    assert_eq!(std::fs::read(&local).unwrap(), bytes);
    assert!(!partial.exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partial_of_a_replaced_object_is_not_reused() {
    let s3 = S3sFs::start();
    let objects = s3.objects("farm", small_parts());
    let proxy = Proxy::start(s3.port).await;
    let via_proxy = Objects::open_with(
        &s3s::url_at(&proxy.endpoint, "farm"),
        s3.credentials(),
        ObjectsOptions { download_chunk: 1024 * 1024, ..no_retries() },
    )
    .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src.mov");
    let k = key("sources/src.mov");
    write(&src, &data(3 * 1024 * 1024, 1));
    objects.put_file(&src, &k).await.unwrap();
    proxy.state.budget.store(1024 * 1024 + 512 * 1024, Ordering::SeqCst);
    let local = tmp.path().join("dl.mov");
    via_proxy.get_to_file(&k, &local).await.unwrap_err();
    assert!(tmp.path().join("dl.mov.partial").exists());

    // The object is replaced (same size, other bytes): the download starts over.
    let new = data(3 * 1024 * 1024, 2);
    write(&src, &new);
    objects.put_file(&src, &k).await.unwrap();
    assert_eq!(objects.get_to_file(&k, &local).await.unwrap(), new.len() as u64);
    assert_eq!(std::fs::read(&local).unwrap(), new);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_dir_uploads_a_package_with_its_layout_and_types() {
    let s3 = S3sFs::start();
    let objects = s3.objects("farm", small_parts());
    let tmp = tempfile::tempdir().unwrap();
    let pkg = tmp.path().join("pkg.hls");
    let files: [(&str, Vec<u8>); 5] = [
        ("master.m3u8", b"#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\n720p/index.m3u8\n".to_vec()),
        ("720p/index.m3u8", b"#EXTM3U\n".to_vec()),
        ("720p/init.mp4", data(2000, 1)),
        ("720p/seg_000.m4s", data(50_000, 2)),
        ("audio/seg_000.ts", data(3000, 3)),
    ];
    for (rel, b) in &files {
        write(&pkg.join(rel), b);
    }
    std::fs::create_dir_all(pkg.join("empty")).unwrap();
    let prefix = key("jobs/job_3/hls");
    let up = objects.put_dir(&pkg, &prefix).await.unwrap();
    assert_eq!(up.files, 5);
    assert_eq!(up.bytes, files.iter().map(|(_, b)| b.len() as u64).sum::<u64>());
    let types = [
        "application/vnd.apple.mpegurl",
        "application/vnd.apple.mpegurl",
        "video/mp4",
        "video/iso.segment",
        "video/mp2t",
    ];
    for ((rel, b), ty) in files.iter().zip(types) {
        let k = prefix.join(rel).unwrap();
        assert_eq!(std::fs::read(s3.stored_file(&format!("farm/jobs/job_3/hls/{rel}"))).unwrap(), *b);
        let resp = fetch(objects.presigned_get(&k, DEFAULT_PRESIGN_TTL).await.unwrap().as_str()).await;
        assert_eq!(resp.headers()["content-type"], ty, "{rel}");
    }
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink("/etc/passwd", pkg.join("leak")).unwrap();
        assert!(matches!(objects.put_dir(&pkg, &prefix).await.unwrap_err(), ObjectsError::Io { .. }));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_keys_must_stay_inside_the_prefix() {
    let s3 = S3sFs::start();
    let objects = s3.objects("farm/in", small_parts());
    let tmp = tempfile::tempdir().unwrap();
    let local = tmp.path().join("a.mov");
    write(&local, b"source");
    objects.put_file(&local, &key("cam/a.mov")).await.unwrap();

    let k = objects.resolve_user_key("farm/in/cam/a.mov").unwrap();
    assert_eq!(k.as_str(), "cam/a.mov");
    assert_eq!(objects.full_key(&k), "farm/in/cam/a.mov");
    assert_eq!(objects.get_to_file(&k, &tmp.path().join("b.mov")).await.unwrap(), 6);

    for outside in
        ["farm/other/a.mov", "farm/in-private/a.mov", "farm/in", "/farm/in/cam/a.mov", "farm/in/../x.mov", "x.mov"]
    {
        let e = objects.resolve_user_key(outside).unwrap_err();
        assert!(matches!(e, ObjectsError::OutsidePrefix { .. }), "{outside}: {e:?}");
    }
    for bad in ["", "farm/in//a.mov", "farm/in/./a.mov", "farm/in/a\u{0}.mov", "farm/in/a\\..\\b"] {
        let e = objects.resolve_user_key(bad).unwrap_err();
        assert!(matches!(e, ObjectsError::InvalidKey { .. }), "{bad:?}: {e:?}");
    }
    let long = format!("farm/in/{}", "a".repeat(1020));
    assert!(matches!(objects.resolve_user_key(&long).unwrap_err(), ObjectsError::InvalidKey { .. }));
    // A missing object is NotFound, not an empty file.
    let missing = objects.resolve_user_key("farm/in/cam/none.mov").unwrap();
    assert_eq!(objects.head(&missing).await.unwrap(), None);
    let e = objects.get_to_file(&missing, &tmp.path().join("none.mov")).await.unwrap_err();
    assert!(matches!(e, ObjectsError::NotFound { .. }), "{e:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_prefix_removes_that_prefix_only() {
    let s3 = S3sFs::start();
    let objects = s3.objects("farm", small_parts());
    let tmp = tempfile::tempdir().unwrap();
    let local = tmp.path().join("x");
    write(&local, b"x");
    // (s3s-fs stores objects as files, so `jobs/job_1` cannot be both an
    // object and a folder there: the exact-key case is `jobs/job_2`.)
    for k in
        ["jobs/job_1/out.mp4", "jobs/job_1/hls/a/seg.m4s", "jobs/job_10/out.mp4", "jobs/job_1b/out.mp4", "jobs/job_2"]
    {
        objects.put_file(&local, &key(k)).await.unwrap();
    }
    assert_eq!(objects.delete_prefix(&key("jobs/job_1")).await.unwrap(), 2);
    assert_eq!(objects.delete_prefix(&key("jobs/job_2")).await.unwrap(), 1);
    for gone in ["jobs/job_2", "jobs/job_1/out.mp4", "jobs/job_1/hls/a/seg.m4s"] {
        assert_eq!(objects.head(&key(gone)).await.unwrap(), None, "{gone}");
    }
    for kept in ["jobs/job_10/out.mp4", "jobs/job_1b/out.mp4"] {
        assert_eq!(objects.head(&key(kept)).await.unwrap(), Some(1), "{kept}");
    }
    assert_eq!(objects.delete_prefix(&key("jobs/job_1")).await.unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_failures_are_retried_then_reported() {
    let s3 = S3sFs::start();
    let proxy = Proxy::start(s3.port).await;
    let objects = Objects::open_with(&s3s::url_at(&proxy.endpoint, "farm"), s3.credentials(), small_parts()).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let local = tmp.path().join("a.mp4");
    let bytes = data(MIN_PART_SIZE as usize + 100, 9);
    write(&local, &bytes);

    // Two 503s, then the store answers: the multipart upload succeeds.
    proxy.state.fail_next.store(2, Ordering::SeqCst);
    assert_eq!(objects.put_file(&local, &key("a.mp4")).await.unwrap(), bytes.len() as u64);
    assert_eq!(proxy.state.fail_next.load(Ordering::SeqCst), 0);
    assert_eq!(std::fs::read(s3.stored_file("farm/a.mp4")).unwrap(), bytes);

    // 503 every time: Unavailable (transient) after the retries. (A fresh
    // client: the proxy fails new connections, not the pooled ones.)
    proxy.state.fail_next.store(usize::MAX, Ordering::SeqCst);
    let before = proxy.state.connections.load(Ordering::SeqCst);
    let objects = Objects::open_with(&s3s::url_at(&proxy.endpoint, "farm"), s3.credentials(), small_parts()).unwrap();
    let e = objects.put_file(&local, &key("b.mp4")).await.unwrap_err();
    assert!(matches!(e, ObjectsError::Unavailable { .. }) && e.is_transient(), "{e:?}");
    assert!(e.to_string().contains("503"), "{e}");
    assert_eq!(proxy.state.connections.load(Ordering::SeqCst) - before, 4, "one try and 3 retries");

    // Nothing listening at all: Unavailable too.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = s3s::url_at(&format!("http://127.0.0.1:{port}"), "farm");
    let down = Objects::open_with(&url, s3.credentials(), small_parts()).unwrap();
    let e = down.head(&key("a.mp4")).await.unwrap_err();
    assert!(e.is_transient(), "{e:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_come_from_a_shared_credentials_file() {
    let s3 = S3sFs::start();
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("credentials");
    let text = format!(
        "[default]\naws_access_key_id = nope\naws_secret_access_key = nope\n\n[farm]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
        s3.access_key, s3.secret_key
    );
    std::fs::write(&file, text).unwrap();
    let url = format!(
        "s3://{}/farm?endpoint={}&region=auto&credentials_file={}&profile=farm",
        s3s::BUCKET,
        s3.endpoint(),
        file.display()
    );
    let objects = Objects::open(&url.parse().unwrap()).unwrap();
    let local = tmp.path().join("a.txt");
    write(&local, b"hi");
    assert_eq!(objects.put_file(&local, &key("a.txt")).await.unwrap(), 2);
    assert!(!format!("{objects:?}").contains(&s3.secret_key));
}

/// A measurement, not a check: upload throughput of a 200 MB file to
/// s3s-fs against writing the same bytes to the same disk with
/// `dd conv=fsync`. Run with
/// `cargo test -p crema-service --test objects -- --ignored --nocapture measure`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn measure_upload_throughput() {
    let s3 = S3sFs::start();
    let objects = s3.objects("farm", ObjectsOptions::default());
    let tmp = tempfile::tempdir().unwrap();
    let local = tmp.path().join("big.bin");
    let size = 200 * 1000 * 1000;
    write(&local, &data(size, 42));
    let t = std::time::Instant::now();
    objects.put_file(&local, &key("big.bin")).await.unwrap();
    let up = t.elapsed().as_secs_f64();
    let out = tmp.path().join("dd.bin");
    let t = std::time::Instant::now();
    let st = std::process::Command::new("dd")
        .arg(format!("if={}", local.display()))
        .arg(format!("of={}", out.display()))
        .args(["bs=16M", "conv=fsync", "status=none"])
        .status()
        .unwrap();
    assert!(st.success());
    let dd = t.elapsed().as_secs_f64();
    let mb = size as f64 / 1e6;
    println!("upload to s3s-fs: {:.1} MB/s ({up:.2} s); dd conv=fsync: {:.1} MB/s ({dd:.2} s)", mb / up, mb / dd);
}
