//! Watch folders on the real file system with the real watcher (inotify
//! through `notify`) and real encodes of tiny generated clips.
//!
//! The clips: one 0.3 s 160x90 H.264 clip made with the `ffmpeg` CLI; copies
//! get a distinct MP4 `free` box appended, so each has its own content hash
//! (the watch recognises identical content as the same file).

use crate::common;

use crema_service::{
    Config, FailureAction, Job, Origin, Service, ServiceError, SuccessAction, WatchDecision, WatchEvent, WatchRule,
    WatchRuleSpec,
};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const PROFILE: &str = "sophon-espresso";

/// The tiny clip's bytes (generated once per test process).
fn clip() -> &'static [u8] {
    static CLIP: OnceLock<Vec<u8>> = OnceLock::new();
    CLIP.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = dir.path().join("tiny.mp4");
        let status = std::process::Command::new("ffmpeg")
            .args(["-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=160x90:rate=25", "-t", "0.3"])
            .args(["-c:v", "libx264", "-pix_fmt", "yuv420p", "-preset", "ultrafast"])
            .arg(&out)
            .status()
            .expect("the ffmpeg CLI is needed to make the test clip (fixtures/prepare.sh installs it)");
        assert!(status.success(), "ffmpeg failed to make the test clip");
        std::fs::read(&out).expect("read clip")
    })
}

/// The clip with an MP4 `free` box carrying `n`: same video, different bytes.
fn variant(n: u32) -> Vec<u8> {
    let mut bytes = clip().to_vec();
    let payload = format!("crema watch test copy {n:08}");
    bytes.extend_from_slice(&((8 + payload.len()) as u32).to_be_bytes());
    bytes.extend_from_slice(b"free");
    bytes.extend_from_slice(payload.as_bytes());
    bytes
}

fn config(data_dir: &Path, workers: usize) -> Config {
    let mut c = Config::new(data_dir);
    c.workers = workers;
    c.disk_min_free_bytes = 0;
    c.watch.rescan_interval = Duration::from_secs(5);
    c.watch.reload_interval = Duration::from_millis(500);
    c.watch.tick = Duration::from_millis(100);
    c
}

fn spec(folder: &Path) -> WatchRuleSpec {
    WatchRuleSpec {
        folder: folder.to_path_buf(),
        recursive: false,
        include: Vec::new(),
        exclude: Vec::new(),
        profile: PROFILE.into(),
        output: Default::default(),
        output_dir: None,
        on_success: SuccessAction::Leave,
        on_failure: FailureAction::Leave,
        settle_seconds: Some(0.5),
        poll_seconds: None,
        take_existing: true,
    }
}

/// A temp folder with `data/` and `in/`.
struct Setup {
    tmp: tempfile::TempDir,
}

impl Setup {
    fn new() -> Self {
        let tmp = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(tmp.path().join("in")).expect("in");
        Self { tmp }
    }
    fn data(&self) -> PathBuf {
        self.tmp.path().join("data")
    }
    fn dir(&self, name: &str) -> PathBuf {
        let d = self.tmp.path().join(name);
        std::fs::create_dir_all(&d).expect("mkdir");
        d.canonicalize().expect("canonical")
    }
    fn input(&self) -> PathBuf {
        self.dir("in")
    }
}

async fn rule_of(svc: &Service, id: &str) -> WatchRule {
    svc.watch_rule(id).await.expect("rule")
}

async fn wait_rule(svc: &Service, id: &str, secs: u64, what: &str, pred: impl Fn(&WatchRule) -> bool) -> WatchRule {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let r = rule_of(svc, id).await;
        if pred(&r) {
            return r;
        }
        if Instant::now() > deadline {
            let events = svc.watch_events(id, Some(50), None).await;
            panic!("{what}: not reached in {secs} s; rule {:?}; last decisions: {events:#?}", r.counts);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn events(svc: &Service, id: &str) -> Vec<WatchEvent> {
    svc.watch_events(id, Some(1000), None).await.expect("events")
}

async fn decisions_for(svc: &Service, id: &str, path: &Path, d: WatchDecision) -> Vec<WatchEvent> {
    let p = path.display().to_string();
    events(svc, id).await.into_iter().filter(|e| e.path == p && e.decision == d).collect()
}

/// Every job in the store (all pages).
async fn all_jobs(svc: &Service) -> Vec<Job> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = svc.list(None, Some(100), cursor.as_deref()).await.expect("list");
        out.extend(page.jobs);
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => return out,
        }
    }
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| rd.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    v.retain(|n| !n.starts_with('.'));
    v.sort();
    v
}

/// Video duration of a file by the ffprobe CLI (an independent check of the outputs).
fn ffprobe_frames(path: &Path) -> u64 {
    let out = std::process::Command::new("ffprobe")
        .args(["-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries", "stream=nb_read_frames"])
        .args(["-of", "csv=p=0"])
        .arg(path)
        .output()
        .expect("ffprobe");
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_chunked_write_is_not_taken_before_the_last_chunk_and_the_settle_period() {
    let s = Setup::new();
    let svc = Service::open(config(&s.data(), 1)).await.expect("open");
    let mut sp = spec(&s.input());
    sp.settle_seconds = Some(1.5);
    let rule = svc.add_watch_rule(sp, Origin::Local).await.expect("add");
    let path = s.input().join("slow.mp4");
    let bytes = variant(1);
    let chunk = bytes.len().div_ceil(4);
    let mut f = std::fs::File::create(&path).expect("create");
    let mut last_write = time::OffsetDateTime::now_utc();
    for (i, part) in bytes.chunks(chunk).enumerate() {
        use std::io::Write;
        f.write_all(part).expect("write");
        f.sync_all().expect("sync");
        last_write = time::OffsetDateTime::now_utc();
        if i + 1 < bytes.len().div_ceil(chunk) {
            // Pauses shorter than the settle period: the file must still not be taken.
            tokio::time::sleep(Duration::from_millis(900)).await;
            assert!(all_jobs(&svc).await.is_empty(), "taken before the last chunk was written");
            assert!(decisions_for(&svc, &rule.id, &path, WatchDecision::Taken).await.is_empty());
        }
    }
    drop(f);
    let r = wait_rule(&svc, &rule.id, 60, "slow file done", |r| r.counts.done == 1).await;
    assert_eq!(r.counts.failed, 0);
    let taken = decisions_for(&svc, &rule.id, &path, WatchDecision::Taken).await;
    assert_eq!(taken.len(), 1, "{taken:#?}");
    let waited = (taken[0].at - last_write).as_seconds_f64();
    // The log's clock keeps milliseconds.
    assert!(waited >= 1.5 - 0.002, "taken {waited:.3} s after the last chunk; the settle period is 1.5 s");
    let jobs = all_jobs(&svc).await;
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].source.sha256, hex_sha(&bytes), "the job encoded the whole file");
    let out = s.input().join("crema-encoded/slow.sophon-espresso.mp4");
    assert!(out.is_file(), "output placed at {}", out.display());
    assert_eq!(ffprobe_frames(&out), 8, "the output has every frame of the 0.3 s (8 frame) clip");
    svc.shutdown(Duration::from_secs(1)).await;
}

fn hex_sha(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_200_files_is_taken_each_exactly_once_with_the_queue_bounded() {
    const N: u32 = 200;
    let s = Setup::new();
    let mut c = config(&s.data(), 2);
    c.watch.max_outstanding_per_rule = 4;
    let svc = Service::open(c).await.expect("open");
    let out_dir = s.dir("out");
    let mut sp = spec(&s.input());
    sp.output_dir = Some(out_dir.clone());
    let rule = svc.add_watch_rule(sp, Origin::Local).await.expect("add");
    let start = Instant::now();
    for n in 0..N {
        std::fs::write(s.input().join(format!("clip{n:03}.mp4")), variant(n)).expect("write");
    }
    let written = start.elapsed();
    let mut max_outstanding = 0usize;
    let mut slowest_call = Duration::ZERO;
    let deadline = Instant::now() + Duration::from_secs(240);
    loop {
        let t = Instant::now();
        let r = rule_of(&svc, &rule.id).await;
        let page = svc.list(None, Some(100), None).await.expect("list");
        slowest_call = slowest_call.max(t.elapsed());
        let outstanding = page.jobs.iter().filter(|j| !j.status.is_terminal()).count();
        max_outstanding = max_outstanding.max(outstanding);
        if r.counts.done + r.counts.failed == u64::from(N) {
            break;
        }
        assert!(Instant::now() < deadline, "burst not finished in 240 s: {:?}", r.counts);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let elapsed = start.elapsed();
    eprintln!(
        "burst: {N} files written in {:.2} s, all encoded, verified and placed {:.1} s after the first write \
         ({:.0} ms per file); most jobs outstanding at once {max_outstanding}; slowest API call {:.0} ms",
        written.as_secs_f64(),
        elapsed.as_secs_f64(),
        elapsed.as_secs_f64() * 1000.0 / f64::from(N),
        slowest_call.as_secs_f64() * 1000.0
    );
    let r = rule_of(&svc, &rule.id).await;
    assert_eq!(r.counts.done, u64::from(N), "{:?}", r.counts);
    assert!(max_outstanding <= 4, "the queue held {max_outstanding} of this rule's jobs; the bound is 4");
    // A bound against a blocked runtime, not a speed target (printed above).
    assert!(slowest_call < Duration::from_secs(15), "an API call took {slowest_call:?} during the burst");
    let jobs = all_jobs(&svc).await;
    assert_eq!(jobs.len(), N as usize, "one job per file");
    let mut sources: Vec<&str> = jobs.iter().map(|j| j.source.sha256.as_str()).collect();
    sources.sort();
    sources.dedup();
    assert_eq!(sources.len(), N as usize, "every file encoded once");
    assert!(jobs.iter().all(|j| j.status == crema_service::JobStatus::Completed));
    let outputs = files_in(&out_dir);
    assert_eq!(outputs.len(), N as usize, "{outputs:?}");
    assert!(outputs.iter().all(|o| o.ends_with(".sophon-espresso.mp4") && !o.contains("-2.")), "{outputs:?}");
    let taken = events(&svc, &rule.id).await.into_iter().filter(|e| e.decision == WatchDecision::Taken).count();
    assert_eq!(taken, N as usize);
    // A full rescan later takes nothing again.
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(all_jobs(&svc).await.len(), N as usize);
    svc.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_in_the_middle_of_a_batch_loses_nothing_and_encodes_nothing_twice() {
    const N: u32 = 40;
    let s = Setup::new();
    let out_dir = s.dir("out");
    let slow = |workers| {
        // One job at a time, so the restart surely lands in the middle of the batch.
        let mut c = config(&s.data(), workers);
        c.watch.max_outstanding_per_rule = 1;
        c
    };
    let svc = Service::open(slow(1)).await.expect("open");
    let mut sp = spec(&s.input());
    sp.output_dir = Some(out_dir.clone());
    let rule = svc.add_watch_rule(sp, Origin::Local).await.expect("add");
    for n in 0..N {
        std::fs::write(s.input().join(format!("r{n:02}.mp4")), variant(1000 + n)).expect("write");
    }
    let before = wait_rule(&svc, &rule.id, 60, "some done", |r| r.counts.done >= 3).await;
    svc.shutdown(Duration::ZERO).await;
    drop(svc);
    assert!(before.counts.done < u64::from(N), "the batch finished before the restart: {:?}", before.counts);
    eprintln!("restart: {} of {N} files done before the restart", before.counts.done);
    // Again: the rest is finished, nothing twice.
    let svc = Service::open(slow(1)).await.expect("reopen");
    let r = wait_rule(&svc, &rule.id, 90, "all done after restart", |r| r.counts.done == u64::from(N)).await;
    assert_eq!(r.counts.failed, 0);
    let jobs = all_jobs(&svc).await;
    assert_eq!(jobs.len(), N as usize, "one job per file across the restart");
    assert!(jobs.iter().all(|j| j.status == crema_service::JobStatus::Completed));
    let outputs = files_in(&out_dir);
    assert_eq!(outputs.len(), N as usize, "{outputs:?}");
    assert!(outputs.iter().all(|o| !o.contains("-2.")), "an output was placed twice: {outputs:?}");
    svc.shutdown(Duration::from_secs(1)).await;
    drop(svc);
    // A second restart with everything done: nothing is taken again.
    let svc = Service::open(config(&s.data(), 1)).await.expect("reopen");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(all_jobs(&svc).await.len(), N as usize, "finished files were encoded again after a restart");
    assert_eq!(files_in(&out_dir).len(), N as usize);
    svc.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renames_partial_names_deletions_and_replacements() {
    let s = Setup::new();
    let svc = Service::open(config(&s.data(), 1)).await.expect("open");
    let input = s.input();
    let outside = s.dir("elsewhere");
    let out = input.join("crema-encoded");
    let rule = svc.add_watch_rule(spec(&input), Origin::Local).await.expect("add");

    // Rename into the folder: written elsewhere on the same file system, then moved in.
    std::fs::write(outside.join("a.mp4"), variant(1)).expect("write");
    let a = input.join("a.mp4");
    std::fs::rename(outside.join("a.mp4"), &a).expect("rename in");
    wait_rule(&svc, &rule.id, 60, "a done", |r| r.counts.done == 1).await;
    assert!(out.join("a.sophon-espresso.mp4").is_file());

    // `.part` then rename: ignored while partial, taken once renamed.
    let part = input.join("b.mp4.part");
    std::fs::write(&part, variant(2)).expect("write");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(all_jobs(&svc).await.len(), 1, "a .part file was taken");
    let ignored = decisions_for(&svc, &rule.id, &part, WatchDecision::Ignored).await;
    assert_eq!(ignored.len(), 1, "{ignored:#?}");
    assert!(ignored[0].reason.as_deref().unwrap_or("").contains("partial"), "{ignored:#?}");
    let b = input.join("b.mp4");
    std::fs::rename(&part, &b).expect("rename");
    wait_rule(&svc, &rule.id, 60, "b done", |r| r.counts.done == 2).await;
    assert_eq!(decisions_for(&svc, &rule.id, &b, WatchDecision::Taken).await.len(), 1);

    // Deleted before it settled: never taken, and the log says why.
    let c = input.join("c.mp4");
    std::fs::write(&c, variant(3)).expect("write");
    tokio::time::sleep(Duration::from_millis(150)).await;
    std::fs::remove_file(&c).expect("delete");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(all_jobs(&svc).await.len(), 2, "a deleted file was taken");
    let gone = decisions_for(&svc, &rule.id, &c, WatchDecision::Ignored).await;
    assert!(gone.iter().any(|e| e.reason.as_deref().unwrap_or("").contains("deleted")), "{gone:#?}");

    // A finished file renamed inside the folder is recognised by its content.
    let b2 = input.join("b-renamed.mp4");
    std::fs::rename(&b, &b2).expect("rename");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let ev = decisions_for(&svc, &rule.id, &b2, WatchDecision::Ignored).await;
        if ev.iter().any(|e| e.reason.as_deref().unwrap_or("").contains("renamed from")) {
            break;
        }
        assert!(Instant::now() < deadline, "the rename was not recognised: {:#?}", events(&svc, &rule.id).await);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(all_jobs(&svc).await.len(), 2, "a renamed finished file was encoded again");

    // Replaced with new content: encoded again, the first output kept.
    let tmp = input.join(".a.mp4.tmp");
    std::fs::write(&tmp, variant(4)).expect("write");
    std::fs::rename(&tmp, &a).expect("replace");
    let deadline = Instant::now() + Duration::from_secs(60);
    while decisions_for(&svc, &rule.id, &a, WatchDecision::Done).await.len() < 2 {
        assert!(Instant::now() < deadline, "the replacement was not encoded: {:#?}", events(&svc, &rule.id).await);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The first identity of a.mp4 is superseded; the live rows are b (renamed) and the new a.
    let r = rule_of(&svc, &rule.id).await;
    assert_eq!((r.counts.done, r.counts.failed), (2, 0), "{:?}", r.counts);
    let outputs = files_in(&out);
    assert_eq!(outputs, vec!["a.sophon-espresso-2.mp4", "a.sophon-espresso.mp4", "b.sophon-espresso.mp4"]);
    let jobs = all_jobs(&svc).await;
    assert_eq!(jobs.len(), 3);
    let files = svc.watch_files(&rule.id, None).await.expect("files");
    assert!(files.iter().any(|f| f.path == b2.display().to_string() && f.state == "done"), "{files:#?}");
    assert!(files.iter().any(|f| f.path == a.display().to_string() && f.state == "superseded"), "{files:#?}");
    svc.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn post_actions_move_on_success_and_failure_and_delete() {
    let s = Setup::new();
    let svc = Service::open(config(&s.data(), 1)).await.expect("open");
    let input = s.input();
    let mut sp = spec(&input);
    sp.on_success = SuccessAction::Move { dir: None };
    sp.on_failure = FailureAction::Move { dir: None };
    let rule = svc.add_watch_rule(sp, Origin::Local).await.expect("add");
    assert_eq!(
        rule.spec.on_failure,
        FailureAction::Move { dir: Some(input.join("crema-failed")) },
        "the default failed folder is filled in"
    );
    std::fs::write(input.join("good.mp4"), variant(10)).expect("write");
    std::fs::copy(common::fixture("text.mov"), input.join("bad.mov")).expect("copy");
    let r = wait_rule(&svc, &rule.id, 60, "both finished", |r| r.counts.done + r.counts.failed == 2).await;
    assert_eq!((r.counts.done, r.counts.failed), (1, 1));
    // Success: output placed, source moved to done.
    assert!(input.join("crema-encoded/good.sophon-espresso.mp4").is_file());
    assert!(!input.join("good.mp4").exists());
    assert_eq!(std::fs::read(input.join("crema-done/good.mp4")).expect("moved"), variant(10));
    // Failure: source moved to failed with its error file; no output.
    assert!(!input.join("bad.mov").exists());
    assert!(input.join("crema-failed/bad.mov").is_file());
    let why = std::fs::read_to_string(input.join("crema-failed/bad.mov.error.txt")).expect("error file");
    assert!(why.contains("Why:") && why.contains("bad.mov"), "{why}");
    assert!(!files_in(&input.join("crema-encoded")).iter().any(|f| f.starts_with("bad")));
    let failed = decisions_for(&svc, &rule.id, &input.join("bad.mov"), WatchDecision::Failed).await;
    assert_eq!(failed.len(), 1);
    assert!(failed[0].reason.as_deref().unwrap_or("").contains("error.txt"), "{failed:#?}");
    // The moved files are in the rule's own folders: never taken.
    tokio::time::sleep(Duration::from_secs(2)).await;
    // One job: the non-media file was refused at submission, no job made.
    assert_eq!(all_jobs(&svc).await.len(), 1);

    // Delete on success, in another folder.
    let other = s.dir("other");
    let mut sp = spec(&other);
    sp.on_success = SuccessAction::Delete;
    let rule2 = svc.add_watch_rule(sp, Origin::Local).await.expect("add");
    std::fs::write(other.join("d.mp4"), variant(11)).expect("write");
    wait_rule(&svc, &rule2.id, 60, "deleted after success", |r| r.counts.done == 1).await;
    assert!(!other.join("d.mp4").exists(), "the source was not deleted");
    let placed = other.join("crema-encoded/d.sophon-espresso.mp4");
    assert_eq!(ffprobe_frames(&placed), 8);
    // The job points at the placed file, not at the job folder.
    let done = decisions_for(&svc, &rule2.id, &other.join("d.mp4"), WatchDecision::Done).await;
    let job = svc.get(done[0].job_id.as_deref().expect("job id")).await.expect("job");
    assert_eq!(job.output.path.as_deref(), Some(placed.display().to_string().as_str()));
    assert_eq!(done[0].output_path.as_deref(), job.output.path.as_deref());
    svc.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polling_mode_takes_files_where_events_are_switched_off() {
    let s = Setup::new();
    let mut c = config(&s.data(), 1);
    c.watch.events = false;
    c.watch.rescan_interval = Duration::from_secs(3600);
    let svc = Service::open(c).await.expect("open");
    let polled = s.dir("polled");
    let evented = s.dir("evented");
    let mut sp = spec(&polled);
    sp.poll_seconds = Some(0.5);
    let poll_rule = svc.add_watch_rule(sp, Origin::Local).await.expect("add");
    let event_rule = svc.add_watch_rule(spec(&evented), Origin::Local).await.expect("add");
    // Let both rules make their first scan of the (empty) folders.
    tokio::time::sleep(Duration::from_millis(800)).await;
    std::fs::write(polled.join("p.mp4"), variant(20)).expect("write");
    std::fs::write(evented.join("e.mp4"), variant(21)).expect("write");
    wait_rule(&svc, &poll_rule.id, 60, "polled file done", |r| r.counts.done == 1).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    // Without events and with the rescan an hour away, the other rule saw nothing:
    // the polling is what took the first file.
    let r = rule_of(&svc, &event_rule.id).await;
    assert_eq!(r.counts, Default::default(), "events were not switched off");
    assert!(events(&svc, &event_rule.id).await.is_empty());
    assert_eq!(all_jobs(&svc).await.len(), 1);
    svc.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_resume_remove_and_existing_files() {
    let s = Setup::new();
    let svc = Service::open(config(&s.data(), 1)).await.expect("open");
    let input = s.input();
    // A file already there when a rule with take_existing = false starts is not taken.
    std::fs::write(input.join("old.mp4"), variant(30)).expect("write");
    let mut sp = spec(&input);
    sp.take_existing = false;
    let rule = svc.add_watch_rule(sp, Origin::Local).await.expect("add");
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let paused = svc.pause_watch_rule(&rule.id).await.expect("pause");
    assert!(paused.paused);
    assert_eq!(all_jobs(&svc).await.len(), 0, "an existing file was taken");
    std::fs::write(input.join("new.mp4"), variant(31)).expect("write");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(all_jobs(&svc).await.len(), 0, "a paused rule took a file");
    svc.resume_watch_rule(&rule.id).await.expect("resume");
    wait_rule(&svc, &rule.id, 60, "new file done after resume", |r| r.counts.done == 1).await;
    assert_eq!(all_jobs(&svc).await.len(), 1);
    let old = decisions_for(&svc, &rule.id, &input.join("old.mp4"), WatchDecision::Ignored).await;
    assert!(old[0].reason.as_deref().unwrap_or("").contains("take_existing"), "{old:#?}");
    let removed = svc.remove_watch_rule(&rule.id).await.expect("remove");
    assert_eq!(removed.id, rule.id);
    assert!(matches!(svc.watch_rule(&rule.id).await, Err(ServiceError::NotFound { .. })));
    assert!(svc.list_watch_rules().await.expect("list").is_empty());
    std::fs::write(input.join("after.mp4"), variant(32)).expect("write");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(all_jobs(&svc).await.len(), 1, "a removed rule took a file");
    svc.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_are_validated_naming_the_field() {
    let s = Setup::new();
    let svc = Service::open(config(&s.data(), 0)).await.expect("open");
    let input = s.input();
    let field = |r: Result<WatchRule, ServiceError>| match r {
        Err(ServiceError::Validation { field, .. }) => field,
        other => panic!("expected a validation error, got {other:?}"),
    };
    let mut sp = spec(&s.tmp.path().join("missing"));
    assert_eq!(field(svc.add_watch_rule(sp.clone(), Origin::Local).await), "folder");
    sp = spec(Path::new("relative/folder"));
    assert_eq!(field(svc.add_watch_rule(sp, Origin::Local).await), "folder");
    sp = spec(&input);
    sp.profile = "no-such-profile".into();
    assert_eq!(field(svc.add_watch_rule(sp, Origin::Local).await), "profile");
    sp = spec(&input);
    sp.include = vec!["*.mov".into(), "a[".into()];
    assert_eq!(field(svc.add_watch_rule(sp, Origin::Local).await), "include[1]");
    sp = spec(&input);
    sp.settle_seconds = Some(0.0);
    assert_eq!(field(svc.add_watch_rule(sp, Origin::Local).await), "settle_seconds");
    sp = spec(&input);
    sp.output.target_height = Some(10);
    assert_eq!(field(svc.add_watch_rule(sp, Origin::Local).await), "output.target_height");
    // An output folder inside a recursive watched tree needs an exclude glob.
    sp = spec(&input);
    sp.recursive = true;
    sp.output_dir = Some(input.join("out"));
    assert_eq!(field(svc.add_watch_rule(sp.clone(), Origin::Local).await), "output_dir");
    sp.exclude = vec!["out/**".into()];
    let ok = svc.add_watch_rule(sp, Origin::Local).await.expect("excluded output folder is fine");
    assert_eq!(ok.spec.output_dir, Some(input.join("out")));
    sp = spec(&input);
    sp.output_dir = Some(input.clone());
    assert_eq!(field(svc.add_watch_rule(sp, Origin::Local).await), "output_dir");
    // Unwritable output folder.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let ro = s.dir("readonly");
        std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o555)).expect("chmod");
        if std::fs::write(ro.join("probe"), b"").is_err() {
            sp = spec(&input);
            sp.output_dir = Some(ro.clone());
            assert_eq!(field(svc.add_watch_rule(sp, Origin::Local).await), "output_dir");
        }
        std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    // The service's own data folder is never watched.
    sp = spec(&s.data());
    assert_eq!(field(svc.add_watch_rule(sp, Origin::Local).await), "folder");
    // Recursive with the default folders: their excludes are added.
    sp = spec(&input);
    sp.recursive = true;
    sp.on_success = SuccessAction::Move { dir: None };
    let r = svc.add_watch_rule(sp, Origin::Local).await.expect("defaults");
    assert!(r.spec.exclude.contains(&"crema-encoded/**".to_string()), "{:?}", r.spec.exclude);
    assert!(r.spec.exclude.contains(&"crema-done/**".to_string()), "{:?}", r.spec.exclude);
    svc.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn camera_card_folders_are_found_by_the_recursive_scan() {
    let s = Setup::new();
    let svc = Service::open(config(&s.data(), 1)).await.expect("open");
    let input = s.input();
    let mut sp = spec(&input);
    sp.recursive = true;
    let rule = svc.add_watch_rule(sp, Origin::Local).await.expect("add");
    // A whole card copied elsewhere, then moved in at once (no events for its files).
    let card = s.dir("staging").join("CARD01");
    std::fs::create_dir_all(card.join("PRIVATE/M4ROOT/CLIP")).expect("mkdir");
    std::fs::write(card.join("PRIVATE/M4ROOT/CLIP/C0001.MP4"), variant(40)).expect("write");
    std::fs::write(card.join("PRIVATE/M4ROOT/CLIP/C0001M01.XML"), b"<xml/>").expect("write");
    std::fs::rename(&card, input.join("CARD01")).expect("move card in");
    wait_rule(&svc, &rule.id, 60, "card clip done", |r| r.counts.done == 1).await;
    let out = input.join("crema-encoded/CARD01/PRIVATE/M4ROOT/CLIP/C0001.sophon-espresso.mp4");
    assert!(out.is_file(), "output mirrors the card's folders: {}", out.display());
    let xml = input.join("CARD01/PRIVATE/M4ROOT/CLIP/C0001M01.XML");
    let ignored = decisions_for(&svc, &rule.id, &xml, WatchDecision::Ignored).await;
    assert!(ignored[0].reason.as_deref().unwrap_or("").contains("include"), "{ignored:#?}");
    assert_eq!(all_jobs(&svc).await.len(), 1);
    svc.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hls_ladders_and_mkv_files_are_verified_and_placed() {
    let s = Setup::new();
    let svc = Service::open(config(&s.data(), 1)).await.expect("open");
    let input = s.input();
    let mut sp = spec(&input);
    sp.output.hls = Some(crema_service::HlsSpec {
        renditions: vec![144],
        codec: crema_service::HlsCodec::H264,
        segment_seconds: 1.0,
        keep_mp4: Some(144),
    });
    let rule = svc.add_watch_rule(sp, Origin::Local).await.expect("add");
    std::fs::copy(common::fixture("h264_720p_2s.mp4"), input.join("ladder.mp4")).expect("copy");
    let r = wait_rule(&svc, &rule.id, 120, "ladder done", |r| r.counts.done + r.counts.failed == 1).await;
    assert_eq!(r.counts.done, 1, "{:#?}", events(&svc, &rule.id).await);
    let pkg = input.join("crema-encoded/ladder.sophon-espresso.hls");
    assert!(pkg.join("master.m3u8").is_file(), "{}", pkg.display());
    assert!(input.join("crema-encoded/ladder.sophon-espresso.144p.mp4").is_file());
    let done = decisions_for(&svc, &rule.id, &input.join("ladder.mp4"), WatchDecision::Done).await;
    let job = svc.get(done[0].job_id.as_deref().expect("job")).await.expect("job");
    let master = pkg.join("master.m3u8").display().to_string();
    assert_eq!(job.output.hls.as_ref().map(|h| h.master_playlist.as_str()), Some(master.as_str()));

    let other = s.dir("mkv");
    let mut sp = spec(&other);
    sp.output.container = crema_service::ContainerSpec::Mkv;
    sp.output.target_height = Some(144);
    let rule = svc.add_watch_rule(sp, Origin::Local).await.expect("add");
    std::fs::copy(common::fixture("sd_480p_2s.mp4"), other.join("sd.mp4")).expect("copy");
    let r = wait_rule(&svc, &rule.id, 120, "mkv done", |r| r.counts.done + r.counts.failed == 1).await;
    assert_eq!(r.counts.done, 1, "{:#?}", events(&svc, &rule.id).await);
    assert!(other.join("crema-encoded/sd.sophon-espresso.mkv").is_file());
    svc.shutdown(Duration::from_secs(1)).await;
}
