//! `/v1/watch-folders` over loopback: create (through auth and
//! Idempotency-Key), list, get, pause/resume, the decision log, delete, the
//! source-root rule and validation errors, and a real file taken end to end.

use crate::common;

use common::{TestServer, idem};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_folders_over_http() {
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

    // Validation names the field; a folder outside the source roots is forbidden.
    let (st, body) = s.post("/v1/watch-folders", &json!({"folder": input, "profile": "nope"})).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["code"], "validation_error");
    assert!(body["error"]["message"].as_str().unwrap_or("").starts_with("profile:"), "{body}");
    let outside = tempfile::tempdir().expect("tempdir");
    let (st, body) =
        s.post("/v1/watch-folders", &json!({"folder": outside.path(), "profile": "sophon-espresso"})).await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{body}");
    let (st, body) = s.post("/v1/watch-folders", &json!({"folder": input, "profile": "sophon-espresso", "x": 1})).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "unknown fields are refused: {body}");
    // Without an Idempotency-Key: refused like every POST.
    let r = s
        .client()
        .post(s.url("/v1/watch-folders"))
        .json(&json!({"folder": input, "profile": "sophon-espresso"}))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    // Without a key: 401.
    let r = s.anonymous().get(s.url("/v1/watch-folders")).send().await.expect("get");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    // Create, replaying the same Idempotency-Key: one rule.
    let body = json!({"folder": input, "profile": "sophon-espresso", "settle_seconds": 0.5,
                      "on_success": {"action": "move"}});
    let key = idem();
    let mut created = Vec::new();
    for _ in 0..2 {
        let r = s
            .client()
            .post(s.url("/v1/watch-folders"))
            .header("Idempotency-Key", &key)
            .json(&body)
            .send()
            .await
            .expect("post");
        assert_eq!(r.status(), StatusCode::CREATED);
        created.push(r.json::<Value>().await.expect("json"));
    }
    assert_eq!(created[0], created[1]);
    let rule = &created[0];
    let id = rule["id"].as_str().expect("id").to_string();
    assert!(id.starts_with("wf_"));
    assert_eq!(rule["spec"]["output_dir"], input.join("crema-encoded").display().to_string());
    assert_eq!(rule["spec"]["on_success"]["dir"], input.join("crema-done").display().to_string());
    assert_eq!(rule["paused"], false);
    let (st, list) = s.get("/v1/watch-folders").await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(list["watch_folders"].as_array().map(Vec::len), Some(1), "{list}");

    // Pause and resume.
    let (st, paused) = s.post(&format!("/v1/watch-folders/{id}/pause"), &json!({})).await;
    assert_eq!((st, &paused["paused"]), (StatusCode::OK, &json!(true)), "{paused}");
    let (st, resumed) = s.post(&format!("/v1/watch-folders/{id}/resume"), &json!({})).await;
    assert_eq!((st, &resumed["paused"]), (StatusCode::OK, &json!(false)), "{resumed}");

    // A real file: taken, encoded, verified, placed, source moved.
    let clip = common::fixture("h264_720p_2s.mp4");
    let tmp = input.join("clip.mp4.part");
    std::fs::copy(&clip, &tmp).expect("copy");
    std::fs::rename(&tmp, input.join("clip.mp4")).expect("rename");
    let deadline = Instant::now() + Duration::from_secs(120);
    let rule = loop {
        let (st, r) = s.get(&format!("/v1/watch-folders/{id}")).await;
        assert_eq!(st, StatusCode::OK, "{r}");
        if r["counts"]["done"] == 1 || r["counts"]["failed"] == 1 {
            break r;
        }
        assert!(Instant::now() < deadline, "not done in 120 s: {r}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(rule["counts"]["done"], 1, "{rule}");
    assert!(input.join("crema-encoded/clip.sophon-espresso.mp4").is_file());
    assert!(input.join("crema-done/clip.mp4").is_file());

    // The decision log, newest first, with a limit.
    let (st, ev) = s.get(&format!("/v1/watch-folders/{id}/events?limit=2")).await;
    assert_eq!(st, StatusCode::OK, "{ev}");
    let events = ev["events"].as_array().expect("events");
    assert_eq!(events.len(), 2, "{ev}");
    assert_eq!(events[0]["decision"], "done", "{ev}");
    assert_eq!(events[1]["decision"], "taken", "{ev}");
    assert!(events[0]["seq"].as_i64() > events[1]["seq"].as_i64());
    let job_id = events[0]["job_id"].as_str().expect("job id");
    let (st, job) = s.get(&format!("/v1/jobs/{job_id}")).await;
    assert_eq!((st, &job["status"]), (StatusCode::OK, &json!("completed")), "{job}");
    assert_eq!(job["metadata"]["watch_rule"], id);
    // Paging back from the oldest entry shown.
    let before = events[1]["seq"].as_i64().expect("seq");
    let (_, older) = s.get(&format!("/v1/watch-folders/{id}/events?before={before}")).await;
    assert!(older["events"].as_array().expect("events").iter().all(|e| e["seq"].as_i64() < Some(before)));
    let (st, bad) = s.get(&format!("/v1/watch-folders/{id}/events?limit=0")).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{bad}");
    let (st, files) = s.get(&format!("/v1/watch-folders/{id}/files")).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(files["files"][0]["state"], "done", "{files}");

    // In the OpenAPI document.
    let (_, doc) = s.get("/v1/openapi.json").await;
    for path in [
        "/v1/watch-folders",
        "/v1/watch-folders/{id}",
        "/v1/watch-folders/{id}/pause",
        "/v1/watch-folders/{id}/resume",
        "/v1/watch-folders/{id}/events",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} missing from the OpenAPI document");
    }
    assert!(doc["components"]["schemas"]["WatchRuleSpec"].is_object());

    // Delete: gone from the API.
    let (st, _) = s.delete(&format!("/v1/watch-folders/{id}")).await;
    assert_eq!(st, StatusCode::OK);
    let (st, body) = s.get(&format!("/v1/watch-folders/{id}")).await;
    assert_eq!(st, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["error"]["code"], "not_found");
    s.stop().await;
}
