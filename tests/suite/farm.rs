//! Farm mode with the real binary: `crema serve` nodes with data folders of
//! their own sharing one PostgreSQL database (a throwaway cluster started
//! here). Jobs submitted through either node run exactly once; a node killed
//! with SIGKILL mid-encode loses its job to another node once the lease runs
//! out (attempt + 1, one output); a node restarted while another encodes does
//! not requeue that node's job.

use crate::common::fixture;
use crate::common::serve::{Api, Server, create_key_in};
use crate::common::tempdir;
use crema_testkit::postgres;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::path::Path;
use std::time::{Duration, Instant};

/// Lease of the nodes in these tests, in seconds (short, so a takeover is quick).
const LEASE_S: u32 = 3;

fn api(server: &Server, key: &str, first_idempotency_n: u32) -> Api {
    let _ = rustls::crypto::ring::default_provider().install_default();
    Api {
        http: reqwest::Client::new(),
        base: server.base.clone(),
        key: key.to_string(),
        n: std::cell::Cell::new(first_idempotency_n),
    }
}

async fn submit(api: &Api, clip: &str, height: u32) -> String {
    submit_with(api, clip, height, json!([])).await
}

async fn submit_with(api: &Api, clip: &str, height: u32, webhook_ids: Value) -> String {
    let body = json!({"source": {"type": "path", "path": fixture(clip)}, "profile": "sophon-espresso",
                      "output": {"target_height": height}, "webhook_ids": webhook_ids});
    let (st, job) = api.post("/v1/jobs", body).await;
    assert_eq!(st, StatusCode::CREATED, "{job}");
    job["id"].as_str().expect("id").to_string()
}

async fn wait_job(api: &Api, id: &str, secs: u64, pred: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let (_, job) = api.get(&format!("/v1/jobs/{id}")).await;
        if pred(&job) {
            return job;
        }
        assert!(Instant::now() < deadline, "job {id} did not get there in {secs} s: {job}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Whether `data`'s output folder holds job `id`'s output.
fn has_output(data: &Path, id: &str) -> bool {
    std::fs::read_dir(data.join("outputs").join(id)).is_ok_and(|mut d| d.next().is_some())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_share_one_queue_and_take_over_a_killed_nodes_job() {
    let db_dir = tempdir();
    let db = postgres::database_for(db_dir.path());
    let (a_dir, b_dir) = (tempdir(), tempdir());
    let key = create_key_in(a_dir.path(), Some(&db));
    let a = Server::start_node(a_dir.path(), &db, "node-a", LEASE_S);
    let b = Server::start_node(b_dir.path(), &db, "node-b", LEASE_S);
    let (api_a, api_b) = (api(&a, &key, 0), api(&b, &key, 10_000));
    api_a.wait_up().await;
    api_b.wait_up().await;

    // 1. Twenty short jobs through either node, each naming one webhook:
    // each runs once, on one node, and its event is delivered once.
    let (hook_url, deliveries) = receiver().await;
    let (st, hook) = api_a.post("/v1/webhooks", json!({"url": hook_url})).await;
    assert_eq!(st, StatusCode::CREATED, "{hook}");
    let mut ids = Vec::new();
    for i in 0..20 {
        let via = if i % 2 == 0 { &api_a } else { &api_b };
        ids.push(submit_with(via, "h264_720p_2s.mp4", 144, json!([hook["id"]])).await);
    }
    for id in &ids {
        let job = wait_job(&api_a, id, 300, |j| j["status"] == "completed" || j["status"] == "failed").await;
        assert_eq!(job["status"], "completed", "{job}");
        assert_eq!(job["attempt"], 1, "ran once: {job}");
        let places = [has_output(a_dir.path(), id), has_output(b_dir.path(), id)];
        assert_eq!(places.iter().filter(|p| **p).count(), 1, "job {id}: output on exactly one node ({places:?})");
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while deliveries.lock().unwrap().len() < 20 {
        assert!(Instant::now() < deadline, "webhook deliveries: {:?}", deliveries.lock().unwrap());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(2 * u64::from(LEASE_S))).await;
    let mut got = deliveries.lock().unwrap().clone();
    got.sort();
    let mut want: Vec<String> = ids.clone();
    want.sort();
    assert_eq!(got, want, "one job.completed delivery per job, not one per node");
    let ran_on_a = ids.iter().filter(|id| has_output(a_dir.path(), id)).count();
    eprintln!("farm: 20 jobs, {ran_on_a} on node-a, {} on node-b", 20 - ran_on_a);
    let (st, nodes) = api_b.get("/v1/nodes").await;
    assert_eq!(st, StatusCode::OK, "{nodes}");
    assert_eq!(nodes["this_node"], "node-b");
    let names: Vec<&str> = nodes["data"].as_array().expect("list").iter().filter_map(|n| n["name"].as_str()).collect();
    assert_eq!(names, ["node-a", "node-b"], "{nodes}");
    assert!(nodes["data"].as_array().unwrap().iter().all(|n| n["state"] == "online"), "{nodes}");

    // 2. A long job; kill -9 whichever node encodes it; the other takes it
    // over after the lease (attempt 2) and publishes the only output.
    let long = submit(&api_a, "bigbuckbunny.mp4", 480).await;
    let job = wait_job(&api_a, &long, 60, |j| {
        j["status"] == "encoding" && j["progress"]["percent"].as_f64().unwrap_or(0.0) > 1.0
    })
    .await;
    assert_eq!(job["attempt"], 1);
    let on_a = wait_running_on(&api_a, "node-a", "node-b").await;
    let (survivor_dir, survivor) = if on_a { (b_dir.path(), &api_b) } else { (a_dir.path(), &api_a) };
    if on_a {
        a.kill9()
    } else {
        b.kill9()
    };
    let started = Instant::now();
    let job = wait_job(survivor, &long, 600, |j| j["status"] == "completed" || j["status"] == "failed").await;
    assert_eq!(job["status"], "completed", "{job}");
    assert_eq!(job["attempt"], 2, "taken over as attempt 2: {job}");
    assert!(has_output(survivor_dir, &long), "the survivor published the output");
    let r = survivor.http.get(format!("{}/v1/jobs/{long}/output", survivor.base)).bearer_auth(&survivor.key).send();
    assert_eq!(r.await.expect("GET output").status(), StatusCode::OK, "the survivor serves the output");
    eprintln!(
        "farm: takeover after kill -9 completed {:.1} s later (lease {LEASE_S} s)",
        started.elapsed().as_secs_f64()
    );
    let (_, nodes) = survivor.get("/v1/nodes").await;
    let lost: Vec<&Value> = nodes["data"].as_array().unwrap().iter().filter(|n| n["state"] == "lost").collect();
    assert_eq!(lost.len(), 1, "the killed node shows as lost: {nodes}");
}

/// A webhook receiver on loopback: its URL and the job IDs of the
/// `job.completed` events it got (every delivery, duplicates included).
async fn receiver() -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use axum::routing::post;
    let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        post(move |axum::Json(body): axum::Json<Value>| {
            let seen = seen.clone();
            async move {
                if body["type"] == "job.completed" {
                    let id = body["job_id"].as_str().unwrap_or("?");
                    seen.lock().unwrap().push(id.to_string());
                }
                StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, got)
}

/// Which of the two nodes runs a job now (from `GET /v1/nodes`): true for `first`.
async fn wait_running_on(api: &Api, first: &str, second: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, nodes) = api.get("/v1/nodes").await;
        for n in nodes["data"].as_array().into_iter().flatten() {
            if n["running_jobs"].as_u64().unwrap_or(0) > 0 {
                if n["name"] == first {
                    return true;
                }
                if n["name"] == second {
                    return false;
                }
            }
        }
        assert!(Instant::now() < deadline, "no node shows a running job: {nodes}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_node_does_not_requeue_another_nodes_job() {
    let db_dir = tempdir();
    let db = postgres::database_for(db_dir.path());
    let (a_dir, b_dir) = (tempdir(), tempdir());
    let key = create_key_in(a_dir.path(), Some(&db));
    // Only node-a runs at first, so the job is surely its.
    let a = Server::start_node(a_dir.path(), &db, "node-a", LEASE_S);
    let api_a = api(&a, &key, 0);
    api_a.wait_up().await;
    let id = submit(&api_a, "bigbuckbunny.mp4", 360).await;
    wait_job(&api_a, &id, 60, |j| j["status"] == "encoding").await;
    // node-b starts, stops (SIGKILL), starts again while node-a encodes.
    let b = Server::start_node(b_dir.path(), &db, "node-b", LEASE_S);
    api(&b, &key, 10_000).wait_up().await;
    b.kill9();
    let b = Server::start_node(b_dir.path(), &db, "node-b", LEASE_S);
    let api_b = api(&b, &key, 20_000);
    api_b.wait_up().await;
    let job = wait_job(&api_b, &id, 600, |j| j["status"] == "completed" || j["status"] == "failed").await;
    assert_eq!(job["status"], "completed", "{job}");
    assert_eq!(job["attempt"], 1, "node-b's restarts left node-a's run alone: {job}");
    assert!(has_output(a_dir.path(), &id) && !has_output(b_dir.path(), &id));
}
