//! Webhook tests: registration and the SSRF policy, signed deliveries to a
//! real HTTP receiver on loopback, retries, crash safety. Real SQLite files,
//! real encodes of short clips.

use crate::common;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use common::*;
use crema_service::{Config, DeliveryState, JobStatus, Service, WebhookDelivery, WebhookSpec};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// What the receiver does with one request.
#[derive(Clone, Copy, Debug)]
enum Reply {
    Status(u16),
    /// Answer nothing for a minute.
    Hang,
    /// Answer 200 once the test opens the gate ([`Receiver::open_gate`]).
    Gated,
}

/// One request as received.
#[derive(Clone, Debug)]
struct Received {
    headers: HeaderMap,
    body: Vec<u8>,
    at: Instant,
}

/// A real HTTP receiver on 127.0.0.1: records requests, replies as scripted (then 200).
#[derive(Clone, Default)]
struct Receiver {
    got: Arc<Mutex<Vec<Received>>>,
    script: Arc<Mutex<VecDeque<Reply>>>,
    gate: Arc<tokio::sync::Notify>,
}

impl Receiver {
    /// Starts one on the current runtime; returns it and its base URL.
    async fn start() -> (Receiver, String) {
        let r = Receiver::default();
        let app = axum::Router::new().route("/hook", axum::routing::post(receive)).with_state(r.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (r, format!("http://{addr}/hook"))
    }

    fn script(&self, replies: &[Reply]) {
        self.script.lock().unwrap().extend(replies.iter().copied());
    }

    /// Lets one [`Reply::Gated`] request be answered.
    fn open_gate(&self) {
        self.gate.notify_one();
    }

    fn received(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }

    /// Waits until at least `n` requests arrived; returns them all.
    fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Received> {
        let start = Instant::now();
        loop {
            let got = self.received();
            if got.len() >= n {
                return got;
            }
            assert!(start.elapsed() < timeout, "only {} of {n} webhook requests in {timeout:?}", got.len());
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

async fn receive(State(r): State<Receiver>, headers: HeaderMap, body: axum::body::Bytes) -> StatusCode {
    r.got.lock().unwrap().push(Received { headers, body: body.to_vec(), at: Instant::now() });
    let reply = r.script.lock().unwrap().pop_front().unwrap_or(Reply::Status(200));
    match reply {
        Reply::Status(s) => StatusCode::from_u16(s).unwrap(),
        Reply::Hang => {
            tokio::time::sleep(Duration::from_secs(60)).await;
            StatusCode::OK
        }
        Reply::Gated => {
            r.gate.notified().await;
            StatusCode::OK
        }
    }
}

/// Checks a request the way a consumer would: the 5-minute timestamp rule,
/// then the HMAC-SHA256 of "{timestamp}.{raw body}" keyed with the secret.
/// Returns the parsed body.
fn verify_as_consumer(secret: &str, r: &Received) -> Value {
    let h = |name: &str| r.headers.get(name).unwrap_or_else(|| panic!("no {name} header")).to_str().unwrap();
    assert_eq!(h("content-type"), "application/json");
    let stamp = h("x-turbo-timestamp");
    let signed_at = OffsetDateTime::parse(stamp, &Rfc3339).expect("X-Turbo-Timestamp is RFC 3339");
    let skew = (OffsetDateTime::now_utc() - signed_at).abs();
    assert!(skew < time::Duration::minutes(5), "timestamp {stamp} is {skew} off");
    assert!(stamp.ends_with('Z'), "not UTC: {stamp}");
    let sig = h("x-turbo-signature-256").strip_prefix("sha256=").expect("sha256= prefix");
    let sig = hex::decode(sig).expect("hex signature");
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(stamp.as_bytes());
    mac.update(b".");
    mac.update(&r.body);
    mac.verify_slice(&sig).expect("signature verifies with the secret from create");
    // A consumer with another secret, or a tampered body, must fail.
    let mut wrong = Hmac::<sha2::Sha256>::new_from_slice(b"0000").unwrap();
    wrong.update(stamp.as_bytes());
    wrong.update(b".");
    wrong.update(&r.body);
    assert!(wrong.verify_slice(&sig).is_err());
    let body: Value = serde_json::from_slice(&r.body).expect("JSON body");
    assert_eq!(h("x-turbo-event-id"), body["event_id"].as_str().unwrap());
    body
}

/// A config that allows the loopback receiver, with a tiny backoff.
fn loopback_config(dir: &Path, workers: usize) -> Config {
    let mut c = config(dir, workers);
    c.webhooks.allow = vec!["127.0.0.1/32".parse().unwrap()];
    c.webhooks.backoff_base = Duration::from_millis(20);
    c
}

fn spec(url: &str) -> WebhookSpec {
    WebhookSpec { url: url.to_string(), name: None }
}

/// Polls the delivery log until `pred` holds.
async fn wait_deliveries(
    svc: &Service,
    webhook: &str,
    timeout: Duration,
    pred: impl Fn(&[WebhookDelivery]) -> bool,
) -> Vec<WebhookDelivery> {
    let start = Instant::now();
    loop {
        let d = svc.webhook_deliveries(webhook).await.unwrap();
        if pred(&d) {
            return d;
        }
        assert!(start.elapsed() < timeout, "deliveries of {webhook} not as expected in {timeout:?}: {d:#?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_validation_policy_and_delete() {
    let dir = tempfile::tempdir().unwrap();
    let svc = open(dir.path(), 0).await;

    let created = svc
        .create_webhook(WebhookSpec { url: "https://hooks.example.com/x?y=1".into(), name: Some(" ci ".into()) })
        .await;
    let created = created.unwrap();
    assert!(created.id.starts_with("wh_") && created.id.len() == 3 + 32, "{}", created.id);
    assert_eq!(created.secret.len(), 64);
    assert!(created.secret.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
    assert!(created.active);
    assert_eq!(created.url, "https://hooks.example.com/x?y=1");
    assert_eq!(created.name.as_deref(), Some("ci"));
    let v = serde_json::to_value(&created).unwrap();
    for key in ["id", "url", "secret", "active", "created_at"] {
        assert!(v.get(key).is_some(), "missing {key} in {v}");
    }
    assert!(v["created_at"].as_str().unwrap().ends_with('Z'));
    let other = svc.create_webhook(spec("http://203.0.113.7:8080/")).await.unwrap();
    assert_ne!(other.secret, created.secret);

    let listed = svc.list_webhooks().await.unwrap();
    assert_eq!(listed.iter().map(|w| w.id.as_str()).collect::<Vec<_>>(), [created.id.as_str(), other.id.as_str()]);
    let lv = serde_json::to_value(&listed).unwrap();
    assert!(!lv.to_string().contains(&created.secret), "the secret leaked into the list: {lv}");

    // URL validation.
    for bad in [
        "ftp://example.com/",
        "not a url",
        "http://",
        "https://user:pw@example.com/",
        "https://user@example.com/",
        "/relative",
    ] {
        let e = svc.create_webhook(spec(bad)).await.unwrap_err();
        assert_eq!(e.code().as_str(), "validation_error", "{bad}: {e}");
        assert!(e.to_string().starts_with("url:"), "{bad}: {e}");
    }
    let long = format!("https://example.com/{}", "a".repeat(3000));
    assert_eq!(svc.create_webhook(spec(&long)).await.unwrap_err().code().as_str(), "validation_error");
    let e = svc.create_webhook(WebhookSpec { url: "https://example.com/".into(), name: Some("n".repeat(201)) }).await;
    assert!(e.unwrap_err().to_string().starts_with("name:"));

    // Policy on IP literals at create time: forbidden.
    for refused in [
        "http://127.0.0.1/",
        "http://127.1.2.3:9000/",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://2130706433/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[fe80::1]/",
        "http://10.0.0.5/",
        "http://192.168.1.10/",
        "http://172.20.0.1/",
        "http://100.64.1.1/",
        "http://[fd00::1]/",
        "http://224.0.0.1/",
        "http://0.0.0.0/",
        "http://255.255.255.255/",
        "http://100.100.100.200/",
        "http://[fd00:ec2::254]/",
    ] {
        let e = svc.create_webhook(spec(refused)).await.unwrap_err();
        assert_eq!(e.code().as_str(), "forbidden", "{refused} was not refused: {e}");
    }
    svc.shutdown(Duration::from_secs(1)).await;

    // An operator allow-list opens private ranges, never the metadata address.
    let mut c = config(dir.path(), 0);
    c.webhooks.allow = vec!["10.0.0.0/8".parse().unwrap(), "169.254.0.0/16".parse().unwrap()];
    let svc = Service::open(c).await.unwrap();
    svc.create_webhook(spec("http://10.0.0.5:8000/hook")).await.unwrap();
    svc.create_webhook(spec("http://169.254.10.1/")).await.unwrap();
    for refused in
        ["http://169.254.169.254/", "http://[::ffff:169.254.169.254]/", "http://127.0.0.1/", "http://192.168.1.1/"]
    {
        let e = svc.create_webhook(spec(refused)).await.unwrap_err();
        assert_eq!(e.code().as_str(), "forbidden", "{refused}: {e}");
    }

    // Unknown and deleted webhooks in a job.
    let mut job = quick_spec();
    job.webhook_ids = vec!["wh_nope".into()];
    let e = svc.submit(job.clone(), common::network()).await.unwrap_err();
    assert_eq!(e.code().as_str(), "validation_error");
    assert!(e.to_string().starts_with("webhook_ids:"), "{e}");
    let deleted = svc.delete_webhook(&other.id).await.unwrap();
    assert_eq!((deleted.id.as_str(), deleted.active), (other.id.as_str(), false));
    assert!(!svc.list_webhooks().await.unwrap().iter().any(|w| w.id == other.id));
    assert_eq!(svc.delete_webhook(&other.id).await.unwrap_err().code().as_str(), "not_found");
    assert_eq!(svc.delete_webhook("wh_nope").await.unwrap_err().code().as_str(), "not_found");
    assert_eq!(svc.webhook_deliveries("wh_nope").await.unwrap_err().code().as_str(), "not_found");
    assert!(svc.webhook_deliveries(&other.id).await.unwrap().is_empty());
    job.webhook_ids = vec![created.id.clone(), other.id.clone()];
    let e = svc.submit(job.clone(), common::network()).await.unwrap_err();
    assert!(e.to_string().contains(&other.id), "{e}");
    job.webhook_ids = vec![created.id.clone(), created.id.clone()];
    svc.submit(job, common::network()).await.expect("a live webhook (named twice) is accepted");
    svc.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canceled_queued_job_sends_one_signed_delivery() {
    let dir = tempfile::tempdir().unwrap();
    let (rx, url) = Receiver::start().await;
    let svc = Service::open(loopback_config(dir.path(), 0)).await.unwrap();
    let hook = svc.create_webhook(spec(&url)).await.unwrap();
    let bystander = svc.create_webhook(spec(&format!("{url}?other"))).await.unwrap();
    let mut job = quick_spec();
    job.webhook_ids = vec![hook.id.clone()];
    job.metadata = Some(json!({"order": 42, "tags": ["a", "b"], "nested": {"k": null}}));
    let job = svc.submit(job, common::network()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(rx.received().is_empty(), "a delivery before the job ended");

    let canceled = svc.cancel(&job.id).await.unwrap();
    let got = tokio::task::block_in_place(|| rx.wait_for(1, Duration::from_secs(10)));
    let body = verify_as_consumer(&hook.secret, &got[0]);
    let keys: Vec<&str> = body.as_object().unwrap().keys().map(String::as_str).collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(sorted, ["event_id", "job_id", "metadata", "status", "timestamp", "type"], "{body}");
    let raw = String::from_utf8(got[0].body.clone()).unwrap();
    assert!(raw.starts_with("{\"event_id\":\"evt_"), "field order: {raw}");
    assert_eq!(body["type"], "job.canceled");
    assert_eq!(body["status"], "canceled");
    assert_eq!(body["job_id"], job.id.as_str());
    assert_eq!(body["metadata"], json!({"order": 42, "tags": ["a", "b"], "nested": {"k": null}}));
    let event_id = body["event_id"].as_str().unwrap();
    assert!(event_id.starts_with("evt_") && event_id.len() == 4 + 32, "{event_id}");
    let stamp = OffsetDateTime::parse(body["timestamp"].as_str().unwrap(), &Rfc3339).unwrap();
    assert_eq!(Some(stamp), canceled.completed_at, "the event time is when the job ended");

    // Exactly one delivery, recorded; the webhook the job did not name got nothing.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(rx.received().len(), 1);
    let log = wait_deliveries(&svc, &hook.id, Duration::from_secs(5), |d| !d.is_empty()).await;
    assert_eq!(log.len(), 1, "{log:#?}");
    let d = &log[0];
    assert_eq!((d.event_id.as_str(), d.job_id.as_str(), d.kind.as_str()), (event_id, job.id.as_str(), "job.canceled"));
    assert_eq!((d.attempt, d.status_code, d.state), (1, Some(200), DeliveryState::Delivered));
    assert!(d.error.is_none() && d.next_attempt_at.is_none());
    assert!(svc.webhook_deliveries(&bystander.id).await.unwrap().is_empty());
    let v = serde_json::to_value(d).unwrap();
    assert_eq!(v["type"], "job.canceled");
    assert_eq!(v["state"], "delivered");
    svc.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completed_encode_sends_job_completed() {
    let dir = tempfile::tempdir().unwrap();
    let (rx, url) = Receiver::start().await;
    let svc = Service::open(loopback_config(dir.path(), 1)).await.unwrap();
    let hook = svc.create_webhook(spec(&url)).await.unwrap();
    let mut job = quick_spec();
    job.webhook_ids = vec![hook.id.clone()];
    let job = svc.submit(job, common::network()).await.unwrap();
    let done = wait_terminal(&svc, &job.id).await;
    assert_eq!(done.status, JobStatus::Completed, "{done:#?}");
    let got = tokio::task::block_in_place(|| rx.wait_for(1, Duration::from_secs(10)));
    let body = verify_as_consumer(&hook.secret, &got[0]);
    assert_eq!(body["type"], "job.completed");
    assert_eq!(body["status"], "completed");
    assert_eq!(body["job_id"], job.id.as_str());
    assert_eq!(body["metadata"], json!({}));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(rx.received().len(), 1, "exactly one delivery for one terminal state");
    svc.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_then_retried_job_gets_an_event_per_ending() {
    let dir = tempfile::tempdir().unwrap();
    let (rx, url) = Receiver::start().await;
    let setup = Service::open(loopback_config(dir.path(), 0)).await.unwrap();
    let hook = setup.create_webhook(spec(&url)).await.unwrap();
    setup.shutdown(Duration::ZERO).await;
    let mut job = crema_service::JobSpec::path(fixture("h264_720p_2s.mp4"), "sophon-espresso");
    job.webhook_ids = vec![hook.id.clone()];
    let scratch = tempfile::tempdir().unwrap();
    let (svc, id) =
        common::job_with_source_broken_after_submit(loopback_config(dir.path(), 1), scratch.path(), job).await;
    let job = svc.get(&id).await.unwrap();
    assert_eq!(wait_terminal(&svc, &job.id).await.status, JobStatus::Failed);
    let first = tokio::task::block_in_place(|| rx.wait_for(1, Duration::from_secs(10)));
    svc.retry(&job.id).await.unwrap();
    wait_until(&svc, &job.id, Duration::from_secs(60), |j| j.status == JobStatus::Failed && j.attempt == 2).await;
    let got = tokio::task::block_in_place(|| rx.wait_for(2, Duration::from_secs(10)));
    assert_eq!(got.len(), 2);
    let a = verify_as_consumer(&hook.secret, &first[0]);
    let b = verify_as_consumer(&hook.secret, &got[1]);
    for body in [&a, &b] {
        assert_eq!((body["type"].as_str(), body["status"].as_str()), (Some("job.failed"), Some("failed")));
    }
    assert_ne!(a["event_id"], b["event_id"], "two endings are two events");
    svc.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_2xx_is_retried_with_backoff_and_every_attempt_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let (rx, url) = Receiver::start().await;
    rx.script(&[Reply::Status(500), Reply::Status(503)]);
    let svc = Service::open(loopback_config(dir.path(), 0)).await.unwrap();
    let hook = svc.create_webhook(spec(&url)).await.unwrap();
    let mut job = quick_spec();
    job.webhook_ids = vec![hook.id.clone()];
    let job = svc.submit(job, common::network()).await.unwrap();
    svc.cancel(&job.id).await.unwrap();
    let got = tokio::task::block_in_place(|| rx.wait_for(3, Duration::from_secs(10)));
    let log = wait_deliveries(&svc, &hook.id, Duration::from_secs(5), |d| d.len() == 3).await;
    let bodies: Vec<Value> = got.iter().map(|r| verify_as_consumer(&hook.secret, r)).collect();
    assert!(bodies.iter().all(|b| b["event_id"] == bodies[0]["event_id"]), "retries keep the event_id");
    assert_eq!(bodies[0], bodies[2], "the body is the same on every attempt");
    // Backoff: base 20 ms, equal jitter: >= 10 ms, then >= 20 ms.
    assert!(got[1].at - got[0].at >= Duration::from_millis(10));
    assert!(got[2].at - got[1].at >= Duration::from_millis(20));

    let summary: Vec<_> = log.iter().map(|d| (d.attempt, d.status_code, d.state)).collect();
    assert_eq!(
        summary,
        [
            (3, Some(200), DeliveryState::Delivered),
            (2, Some(503), DeliveryState::Pending),
            (1, Some(500), DeliveryState::Pending)
        ],
        "newest first: {log:#?}"
    );
    assert!(log[1].error.as_deref().unwrap().contains("503"), "{:?}", log[1].error);
    let next = log[2].next_attempt_at.expect("a pending attempt says when the next is due");
    assert!(next >= log[2].attempted_at + time::Duration::milliseconds(10));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(rx.received().len(), 3, "no attempt after a 2xx");
    svc.shutdown(Duration::from_secs(1)).await;

    // Attempts are bounded: max 2, the receiver never says yes.
    let dir = tempfile::tempdir().unwrap();
    let (rx, url) = Receiver::start().await;
    rx.script(&[Reply::Status(500); 10]);
    let mut c = loopback_config(dir.path(), 0);
    c.webhooks.max_attempts = 2;
    let svc = Service::open(c).await.unwrap();
    let hook = svc.create_webhook(spec(&url)).await.unwrap();
    let mut job = quick_spec();
    job.webhook_ids = vec![hook.id.clone()];
    let job = svc.submit(job, common::network()).await.unwrap();
    svc.cancel(&job.id).await.unwrap();
    let log = wait_deliveries(&svc, &hook.id, Duration::from_secs(10), |d| {
        d.first().is_some_and(|d| d.state == DeliveryState::Failed)
    })
    .await;
    assert_eq!(log.len(), 2, "{log:#?}");
    assert!(log[0].error.as_deref().unwrap().contains("gave up after 2 attempts"), "{:?}", log[0].error);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(rx.received().len(), 2);
    svc.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_names_are_checked_at_delivery() {
    let dir = tempfile::tempdir().unwrap();
    let (rx, url) = Receiver::start().await;
    // Default policy: no allow-list. A name passes registration but is
    // resolved and refused at delivery, at once and for good.
    let mut c = config(dir.path(), 0);
    c.webhooks.backoff_base = Duration::from_millis(20);
    let svc = Service::open(c).await.unwrap();
    let by_name = url.replace("127.0.0.1", "localhost");
    let hook = svc.create_webhook(spec(&by_name)).await.unwrap();
    let mut job = quick_spec();
    job.webhook_ids = vec![hook.id.clone()];
    let job = svc.submit(job, common::network()).await.unwrap();
    svc.cancel(&job.id).await.unwrap();
    let log = wait_deliveries(&svc, &hook.id, Duration::from_secs(10), |d| !d.is_empty()).await;
    assert_eq!(log.len(), 1, "a policy refusal is final: {log:#?}");
    let d = &log[0];
    assert_eq!((d.attempt, d.status_code, d.state), (1, None, DeliveryState::Failed));
    let error = d.error.as_deref().unwrap();
    assert!(error.contains("policy") && error.contains("localhost") && error.contains("loopback"), "{error}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(rx.received().is_empty(), "a refused target was contacted");
    svc.shutdown(Duration::from_secs(1)).await;
}

/// A name whose addresses all pass the policy is delivered to, through the
/// addresses that were checked (the client's own resolution is overridden),
/// on the URL's port.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allowed_host_name_is_delivered_on_its_port() {
    let dir = tempfile::tempdir().unwrap();
    let (rx, url) = Receiver::start().await;
    let mut c = loopback_config(dir.path(), 0);
    c.webhooks.allow.push("::1/128".parse().unwrap());
    let svc = Service::open(c).await.unwrap();
    let hook = svc.create_webhook(spec(&url.replace("127.0.0.1", "localhost"))).await.unwrap();
    let mut job = quick_spec();
    job.webhook_ids = vec![hook.id.clone()];
    let job = svc.submit(job, common::network()).await.unwrap();
    svc.cancel(&job.id).await.unwrap();
    let got = tokio::task::block_in_place(|| rx.wait_for(1, Duration::from_secs(10)));
    let body = verify_as_consumer(&hook.secret, &got[0]);
    assert_eq!(body["job_id"], job.id.as_str());
    let log = wait_deliveries(&svc, &hook.id, Duration::from_secs(5), |d| !d.is_empty()).await;
    assert_eq!((log[0].status_code, log[0].state), (Some(200), DeliveryState::Delivered), "{log:#?}");
    svc.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_webhook_drops_its_pending_deliveries() {
    let dir = tempfile::tempdir().unwrap();
    let (rx, url) = Receiver::start().await;
    rx.script(&[Reply::Status(500)]);
    let mut c = loopback_config(dir.path(), 0);
    c.webhooks.backoff_base = Duration::from_secs(30);
    let svc = Service::open(c).await.unwrap();
    let hook = svc.create_webhook(spec(&url)).await.unwrap();
    let mut job = quick_spec();
    job.webhook_ids = vec![hook.id.clone()];
    let job = svc.submit(job, common::network()).await.unwrap();
    svc.cancel(&job.id).await.unwrap();
    wait_deliveries(&svc, &hook.id, Duration::from_secs(10), |d| d.len() == 1).await;
    svc.delete_webhook(&hook.id).await.unwrap();
    let log = svc.webhook_deliveries(&hook.id).await.unwrap();
    let summary: Vec<_> = log.iter().map(|d| (d.attempt, d.state)).collect();
    assert_eq!(summary, [(0, DeliveryState::Failed), (1, DeliveryState::Pending)], "{log:#?}");
    assert!(log[0].error.as_deref().unwrap().contains("webhook deleted"));
    assert_eq!(rx.received().len(), 1);
    svc.shutdown(Duration::from_secs(1)).await;
}

/// A delivery under way when the process dies (its runtime dropped, as
/// kill -9 would leave the database) is sent again after re-open.
#[test]
fn owed_delivery_is_sent_after_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let receiver_rt = tokio::runtime::Runtime::new().unwrap();
    let (rx, url) = receiver_rt.block_on(Receiver::start());
    rx.script(&[Reply::Hang]);

    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let (hook, job_id) = rt.block_on(async {
        let svc = Service::open(loopback_config(dir.path(), 0)).await.unwrap();
        let hook = svc.create_webhook(spec(&url)).await.unwrap();
        let mut job = quick_spec();
        job.webhook_ids = vec![hook.id.clone()];
        let job = svc.submit(job, common::network()).await.unwrap();
        svc.cancel(&job.id).await.unwrap();
        // Dropped without shutdown: its tasks go on until the runtime dies.
        drop(svc);
        (hook, job.id)
    });
    rx.wait_for(1, Duration::from_secs(10));
    // The "crash": every task of that process stops where it is.
    rt.shutdown_background();

    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        let svc = Service::open(loopback_config(dir.path(), 0)).await.unwrap();
        let got = tokio::task::block_in_place(|| rx.wait_for(2, Duration::from_secs(10)));
        let a = verify_as_consumer(&hook.secret, &got[0]);
        let b = verify_as_consumer(&hook.secret, &got[1]);
        assert_eq!(a["event_id"], b["event_id"], "the same event, sent again");
        assert_eq!(b["job_id"], job_id.as_str());
        let log = wait_deliveries(&svc, &hook.id, Duration::from_secs(5), |d| d.len() == 2).await;
        let summary: Vec<_> = log.iter().map(|d| (d.attempt, d.status_code, d.state)).collect();
        assert_eq!(summary, [(2, Some(200), DeliveryState::Delivered), (1, None, DeliveryState::Pending)], "{log:#?}");
        assert!(log[1].error.as_deref().unwrap().contains("interrupted"), "{:?}", log[1].error);
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(rx.received().len(), 2);
        svc.shutdown(Duration::from_secs(1)).await;
    });
}

/// Issue 9, defect 3: while another connection commits to the same database
/// in a loop, every request the receiver got is in the delivery log and no
/// delivery is left in flight. (A deferred transaction that read before
/// writing failed at once with SQLITE_BUSY_SNAPSHOT, 517, whenever a commit
/// landed between its read and its write: the attempt went unrecorded.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_attempt_is_recorded_while_another_connection_writes() {
    const JOBS: usize = 25;
    const HOOKS: usize = 4;
    let dir = tempfile::tempdir().unwrap();
    let (rx, url) = Receiver::start().await;
    let svc = Service::open(loopback_config(dir.path(), 0)).await.unwrap();
    let mut hooks = Vec::new();
    for n in 0..HOOKS {
        hooks.push(svc.create_webhook(spec(&format!("{url}?n={n}"))).await.unwrap().id);
    }
    // A webhook no job names: the other writer's target row.
    let noise = svc.create_webhook(spec(&format!("{url}?noise"))).await.unwrap().id;
    let other = db(dir.path()).await;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (other, stop, noise) = (other.clone(), stop.clone(), noise.clone());
        tokio::spawn(async move {
            let mut commits = 0u64;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                sqlx::query("UPDATE webhooks SET name = $1 WHERE id = $2")
                    .bind(format!("noise {commits}"))
                    .bind(&noise)
                    .execute(&other)
                    .await
                    .expect("the other connection's write");
                commits += 1;
            }
            commits
        })
    };
    let mut ids = Vec::new();
    for _ in 0..JOBS {
        let mut job = quick_spec();
        job.webhook_ids = hooks.clone();
        let job = svc.submit(job, common::network()).await.unwrap();
        svc.cancel(&job.id).await.unwrap();
        ids.push(job.id);
    }
    let want = JOBS * HOOKS;
    tokio::task::block_in_place(|| rx.wait_for(want, Duration::from_secs(60)));
    // Every attempt ends with its record; give the last ones a moment.
    let start = Instant::now();
    let (recorded, in_flight) = loop {
        let mut recorded = 0;
        for h in &hooks {
            recorded += svc.webhook_deliveries(h).await.unwrap().len();
        }
        let in_flight: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM webhook_deliveries WHERE in_flight = 1")
            .fetch_one(&other)
            .await
            .unwrap();
        if (recorded >= want && in_flight == 0) || start.elapsed() > Duration::from_secs(15) {
            break (recorded, in_flight);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let commits = writer.await.unwrap();
    let received = rx.received().len();
    eprintln!("{received} requests received, {recorded} attempts recorded, {commits} commits by the other connection");
    assert!(commits > 0, "the other connection never wrote");
    assert_eq!((recorded, in_flight), (want, 0), "attempts unrecorded or left in flight ({received} received)");
    assert_eq!(received, want, "a delivery was sent twice");
    for h in &hooks {
        for d in svc.webhook_deliveries(h).await.unwrap() {
            assert_eq!((d.attempt, d.status_code, d.state), (1, Some(200), DeliveryState::Delivered), "{d:#?}");
        }
    }
    other.close().await;
    svc.shutdown(Duration::from_secs(1)).await;
}

/// Issue 9, defect 3: an attempt whose record meets a database fault (here
/// the write lock held by another connection past the 5 s busy timeout) is
/// recorded once the database answers again; it is not left in flight to be
/// sent a second time at the next open.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attempt_whose_record_fails_once_is_recorded_later() {
    let dir = tempfile::tempdir().unwrap();
    let (rx, url) = Receiver::start().await;
    rx.script(&[Reply::Gated]);
    let svc = Service::open(loopback_config(dir.path(), 0)).await.unwrap();
    let hook = svc.create_webhook(spec(&url)).await.unwrap();
    let mut job = quick_spec();
    job.webhook_ids = vec![hook.id.clone()];
    let job = svc.submit(job, common::network()).await.unwrap();
    svc.cancel(&job.id).await.unwrap();
    tokio::task::block_in_place(|| rx.wait_for(1, Duration::from_secs(10)));
    // The request is under way: another connection takes the write lock and
    // keeps it longer than the service's busy timeout, then the receiver answers.
    let other = db(dir.path()).await;
    // SQLite's write lock, or on PostgreSQL the advisory lock every write transaction takes.
    let begin = if common::postgres::enabled() {
        "BEGIN; SELECT pg_advisory_xact_lock(427121012065)"
    } else {
        "BEGIN IMMEDIATE"
    };
    let mut lock = other.begin_with(begin).await.unwrap();
    rx.open_gate();
    tokio::time::sleep(Duration::from_secs(7)).await;
    assert!(svc.webhook_deliveries(&hook.id).await.unwrap().is_empty(), "recorded through another's write lock");
    sqlx::query("UPDATE webhooks SET name = 'held' WHERE id = $1").bind(&hook.id).execute(&mut *lock).await.unwrap();
    lock.commit().await.unwrap();
    let log = wait_deliveries(&svc, &hook.id, Duration::from_secs(15), |d| !d.is_empty()).await;
    let summary: Vec<_> = log.iter().map(|d| (d.attempt, d.status_code, d.state)).collect();
    assert_eq!(summary, [(1, Some(200), DeliveryState::Delivered)], "{log:#?}");
    let in_flight: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM webhook_deliveries WHERE in_flight = 1")
        .fetch_one(&other)
        .await
        .unwrap();
    assert_eq!(in_flight, 0);
    other.close().await;
    svc.shutdown(Duration::from_secs(1)).await;
    // Nothing owed after a restart: the delivery is not sent again.
    let svc = Service::open(loopback_config(dir.path(), 0)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(rx.received().len(), 1, "sent again after a restart");
    assert_eq!(svc.webhook_deliveries(&hook.id).await.unwrap().len(), 1);
    svc.shutdown(Duration::from_secs(1)).await;
}
