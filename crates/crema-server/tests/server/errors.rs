//! Every error code of the contract over real HTTP, auth failures,
//! idempotency (replay, reuse, in flight), pagination under concurrent
//! inserts, request limits.

use crate::common;

use common::contract::{self as c};
use common::{TestServer, fixture, idem};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::collections::HashSet;

fn path_job(profile: &str) -> Value {
    json!({"source": {"type": "path", "path": fixture("h264_720p_2s.mp4")}, "profile": profile})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_failures_are_401_and_request_ids_are_echoed() {
    let s = TestServer::start(0, |_| {}).await;
    let anon = s.anonymous();
    let r = anon.get(s.url("/v1/jobs")).send().await.expect("GET");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let rid = r.headers()["x-request-id"].to_str().expect("id").to_string();
    let body: Value = r.json().await.expect("json");
    c::check_error(&body, "unauthorized");
    assert_eq!(body["error"]["request_id"], rid, "the envelope's request_id is the header's");
    assert_eq!(body["error"]["retryable"], false);

    for auth in ["Bearer crema_sk_wrong", "Basic dXNlcjpwYXNz", "Bearer"] {
        let r = anon.get(s.url("/v1/jobs")).header("Authorization", auth).send().await.expect("GET");
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{auth}");
        c::check_error(&r.json().await.expect("json"), "unauthorized");
    }
    // A revoked key stops working at once.
    let extra = s.service.create_key("short-lived").await.expect("key");
    let ok = anon.get(s.url("/v1/jobs")).bearer_auth(&extra.key).send().await.expect("GET");
    assert_eq!(ok.status(), StatusCode::OK);
    s.service.revoke_key(&extra.id).await.expect("revoke");
    let r = anon.get(s.url("/v1/jobs")).bearer_auth(&extra.key).send().await.expect("GET");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // Health needs nothing; downloads need only their token.
    assert_eq!(anon.get(s.url("/healthz")).send().await.expect("GET").status(), StatusCode::OK);
    let r = anon.get(s.url("/v1/downloads/garbage")).send().await.expect("GET");
    assert!(matches!(r.status(), StatusCode::FORBIDDEN | StatusCode::NOT_FOUND), "{}", r.status());
    let body: Value = r.json().await.expect("json");
    c::check(&body, &c::ERROR);

    // Browser login: the key buys an HttpOnly, SameSite=Strict cookie that works on /v1.
    let r = anon.post(s.url("/auth/login")).json(&json!({"api_key": s.key})).send().await.expect("login");
    assert_eq!(r.status(), StatusCode::OK);
    let cookie = r.headers()["set-cookie"].to_str().expect("cookie").to_string();
    assert!(cookie.starts_with("sophon_api_session="), "{cookie}");
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "{cookie}");
    let pair = cookie.split(';').next().expect("pair").to_string();
    let r = anon.get(s.url("/v1/jobs")).header("Cookie", &pair).send().await.expect("GET");
    assert_eq!(r.status(), StatusCode::OK);
    let r = anon.post(s.url("/auth/login")).json(&json!({"api_key": "crema_sk_nope"})).send().await.expect("login");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    c::check_error(&r.json().await.expect("json"), "unauthorized");
    let r = anon.post(s.url("/auth/logout")).header("Cookie", &pair).send().await.expect("logout");
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = anon.get(s.url("/v1/jobs")).header("Cookie", &pair).send().await.expect("GET");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "the session ended at logout");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_error_code_has_its_status_and_envelope() {
    let s = TestServer::start(0, |_| {}).await;
    let client = s.client();

    // idempotency_key_required
    let r = client.post(s.url("/v1/jobs")).json(&path_job("sophon-espresso")).send().await.expect("POST");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    c::check_error_reason(&r.json().await.expect("json"), "validation_error", "idempotency_key_required");
    // A key outside the documented pattern (visible ASCII, 1..255) is 400 too.
    let r = client
        .post(s.url("/v1/jobs"))
        .header("Idempotency-Key", "has space")
        .json(&path_job("sophon-espresso"))
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    c::check_error(&r.json().await.expect("json"), "validation_error");

    // validation_error (400): unknown profile, malformed JSON, wrong type, out of range, bad limit/cursor
    let (st, e) = s.post("/v1/jobs", &path_job("sophon-nope")).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    c::check_error(&e, "validation_error");
    assert!(e["error"]["message"].as_str().expect("msg").contains("profile"), "{e}");
    let r = client
        .post(s.url("/v1/jobs"))
        .header("Idempotency-Key", idem())
        .header("Content-Type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    c::check_error(&r.json().await.expect("json"), "validation_error");
    let (st, e) =
        s.post("/v1/jobs", &json!({"source": {"type": "path", "path": 5}, "profile": "sophon-cortado"})).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{e}");
    c::check_error(&e, "validation_error");
    let mut out_of_range = path_job("sophon-cortado");
    out_of_range["output"] = json!({"target_height": 100});
    let (st, e) = s.post("/v1/jobs", &out_of_range).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert!(e["error"]["message"].as_str().expect("msg").contains("output.target_height"), "{e}");
    for q in ["limit=0", "limit=101", "limit=abc", "limit=", "cursor=bogus", "status=done", "status="] {
        let (st, e) = s.get(&format!("/v1/jobs?{q}")).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{q}: {e}");
        c::check_error(&e, "validation_error");
    }
    // metadata over 16 KiB
    let mut big = path_job("sophon-cortado");
    big["metadata"] = json!({"blob": "x".repeat(17 * 1024)});
    let (st, e) = s.post("/v1/jobs", &big).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{e}");
    assert!(e["error"]["message"].as_str().expect("msg").contains("metadata"), "{e}");

    // forbidden: a path outside the source roots
    let (st, e) = s
        .post("/v1/jobs", &json!({"source": {"type": "path", "path": "/etc/hostname"}, "profile": "sophon-cortado"}))
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{e}");
    c::check_error(&e, "forbidden");

    // not_found
    let (st, e) = s.get("/v1/uploads/upl_00000000000000000000000000000000").await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    c::check_error(&e, "not_found");
    let (st, e) = s.get("/v1/no/such/route").await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    c::check(&e, &c::ERROR);

    // upload_incomplete: two parts announced, none sent (chunk size from a small override)
    let size = 3 * 1024 * 1024;
    let (st, up) =
        s.post("/v1/uploads", &json!({"file_name": "a.mp4", "file_size": size, "mime_type": "video/mp4"})).await;
    assert_eq!(st, StatusCode::CREATED, "{up}");
    let id = up["id"].as_str().expect("id");
    let (st, e) = s.post(&format!("/v1/uploads/{id}/complete"), &json!({})).await;
    assert_eq!(st, StatusCode::CONFLICT, "{e}");
    c::check_error_reason(&e, "conflict", "upload_incomplete");
    assert!(e["error"]["message"].as_str().expect("msg").contains('0'), "names the missing parts: {e}");
    // upload_incomplete again when a job names an unfinished upload
    let (st, e) =
        s.post("/v1/jobs", &json!({"source": {"type": "upload", "upload_id": id}, "profile": "sophon-cortado"})).await;
    assert_eq!(st, StatusCode::CONFLICT, "{e}");
    c::check_error_reason(&e, "conflict", "upload_incomplete");
    // An unknown upload in POST /v1/jobs is a bad field (400), never 404.
    let (st, e) = s
        .post("/v1/jobs", &json!({"source": {"type": "upload", "upload_id": "upl_nope"}, "profile": "sophon-cortado"}))
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{e}");
    c::check_error(&e, "validation_error");
    assert!(e["error"]["message"].as_str().expect("msg").contains("source.upload_id"), "{e}");

    // A body over the limit is 400 validation_error on contract routes (413
    // only on extensions): a part bigger than the chunk, a POST over 64 KiB.
    let r =
        client.put(s.url(&format!("/v1/uploads/{id}/parts/0"))).body(vec![0u8; size + 1]).send().await.expect("PUT");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    c::check_error_reason(&r.json().await.expect("json"), "validation_error", "payload_too_large");
    let r = client
        .post(s.url("/v1/jobs"))
        .header("Idempotency-Key", idem())
        .header("Content-Type", "application/json")
        .body(format!("{{\"pad\": \"{}\"}}", "x".repeat(70 * 1024)))
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    c::check_error_reason(&r.json().await.expect("json"), "validation_error", "payload_too_large");
    let r = client
        .post(s.url("/v1/jobs/job_x/retry"))
        .header("Idempotency-Key", idem())
        .header("Content-Type", "application/json")
        .body(format!("{{\"pad\": \"{}\"}}", "x".repeat(70 * 1024)))
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE, "extension routes keep 413");
    c::check_error_reason(&r.json().await.expect("json"), "validation_error", "payload_too_large");

    // invalid_transition: cancel twice, retry a job that is not failed
    let (st, job) = s.post("/v1/jobs", &path_job("sophon-espresso")).await;
    assert_eq!(st, StatusCode::CREATED, "{job}");
    let jid = job["id"].as_str().expect("id");
    let (st, e) = s.post(&format!("/v1/jobs/{jid}/retry"), &json!({})).await;
    assert_eq!(st, StatusCode::CONFLICT);
    c::check_error_reason(&e, "conflict", "invalid_transition");
    let (st, canceled) = s.delete(&format!("/v1/jobs/{jid}")).await;
    assert_eq!(st, StatusCode::OK);
    c::check(&canceled, &c::JOB);
    assert_eq!(canceled["status"], "canceled");
    let (st, e) = s.delete(&format!("/v1/jobs/{jid}")).await;
    assert_eq!(st, StatusCode::CONFLICT);
    c::check_error(&e, "job_not_cancelable");
    // 409 output_not_ready while the job has no output
    let (st, e) = s.get(&format!("/v1/jobs/{jid}/output")).await;
    assert_eq!(st, StatusCode::CONFLICT);
    c::check_error(&e, "output_not_ready");

    // 405 (with Allow) for a method a route does not have, before any
    // credential or Idempotency-Key is looked at.
    for (method, path) in [("POST", "/v1/jobs/job_x"), ("PUT", "/v1/jobs"), ("POST", "/v1/profiles")] {
        let m = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let r = s.anonymous().request(m, s.url(path)).send().await.expect("request");
        assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
        assert!(r.headers().contains_key("allow"), "{method} {path}: no Allow header");
        c::check_error_reason(&r.json().await.expect("json"), "validation_error", "method_not_allowed");
    }
    // An event stream for an unknown job is 404, not an endless empty stream.
    let (st, e) = s.get("/v1/events?job_id=job_nope").await;
    assert_eq!(st, StatusCode::NOT_FOUND, "{e}");
    c::check_error(&e, "not_found");

    // capacity_exceeded (retryable) while draining: 503 where the route
    // declares it (POST /v1/uploads), 429 on POST /v1/jobs, which does not.
    s.service.drain(std::time::Duration::from_millis(10)).await;
    let (st, e) = s.post("/v1/jobs", &path_job("sophon-espresso")).await;
    assert_eq!(st, StatusCode::TOO_MANY_REQUESTS, "{e}");
    c::check_error(&e, "capacity_exceeded");
    assert_eq!(e["error"]["retryable"], true);
    let r = s.anonymous().get(s.url("/readyz")).send().await.expect("readyz");
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["ready"], false);
    assert!(body["checks_failed"].as_array().expect("list").contains(&json!("draining")), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotency_replays_refuses_reuse_and_reports_in_flight() {
    let s = TestServer::start(0, |_| {}).await;
    let client = s.client();
    let key = idem();
    let body = path_job("sophon-espresso");
    let send = |b: Value, k: String| {
        let client = client.clone();
        let url = s.url("/v1/jobs");
        async move {
            let r = client.post(url).header("Idempotency-Key", k).json(&b).send().await.expect("POST");
            let st = r.status();
            (st, r.json::<Value>().await.expect("json"))
        }
    };
    let (st1, first) = send(body.clone(), key.clone()).await;
    assert_eq!(st1, StatusCode::CREATED, "{first}");
    let (st2, again) = send(body.clone(), key.clone()).await;
    assert_eq!(st2, StatusCode::CREATED);
    assert_eq!(again, first, "a replay returns the original body (same job, not a new one)");
    let (_, page) = s.get("/v1/jobs").await;
    assert_eq!(page["jobs"].as_array().expect("jobs").len(), 1, "the replay created nothing");

    let mut other = body.clone();
    other["profile"] = json!("sophon-cortado");
    let (st, e) = send(other, key.clone()).await;
    assert_eq!(st, StatusCode::CONFLICT);
    c::check_error_reason(&e, "conflict", "idempotency_key_reused");

    // The same key on another route is another scope.
    let (st, up) = {
        let r = client
            .post(s.url("/v1/uploads"))
            .header("Idempotency-Key", &key)
            .json(&json!({"file_name": "x.mp4", "file_size": 10, "mime_type": "video/mp4"}))
            .send()
            .await
            .expect("POST");
        (r.status(), r.json::<Value>().await.expect("json"))
    };
    assert_eq!(st, StatusCode::CREATED, "{up}");

    // In flight: a request holding the key (begun, not finished) makes a second one 409, retryable.
    let principal = s.service.authenticate_key(&s.key).await.expect("principal");
    let scope = format!("{} POST /v1/jobs", principal.key_id);
    let held = idem();
    let hash = {
        use sha2::Digest;
        sha2::Sha256::digest(serde_json::to_vec(&body).expect("json"))
    };
    assert!(matches!(
        s.service.idempotency_begin(&scope, &held, &hash).await.expect("begin"),
        crema_service::IdempotencyBegin::Proceed
    ));
    let (st, e) = send(body.clone(), held.clone()).await;
    assert_eq!(st, StatusCode::CONFLICT, "{e}");
    c::check_error_reason(&e, "conflict", "request_in_progress");
    assert_eq!(e["error"]["retryable"], true);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pagination_is_stable_under_concurrent_inserts() {
    let s = TestServer::start(0, |_| {}).await;
    let mut ids = Vec::new();
    for _ in 0..7 {
        let (st, job) = s.post("/v1/jobs", &path_job("sophon-espresso")).await;
        assert_eq!(st, StatusCode::CREATED, "{job}");
        ids.push(job["id"].as_str().expect("id").to_string());
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            None => "/v1/jobs?limit=3".to_string(),
            Some(c) => format!("/v1/jobs?limit=3&cursor={c}"),
        };
        let (st, page) = s.get(&path).await;
        assert_eq!(st, StatusCode::OK, "{page}");
        c::check(&page, &c::PAGE);
        seen.extend(page["jobs"].as_array().expect("jobs").iter().map(|j| j["id"].as_str().expect("id").to_string()));
        pages += 1;
        // Insert while paging: new jobs are newer than the cursor, never shift later pages.
        let (st, _) = s.post("/v1/jobs", &path_job("sophon-espresso")).await;
        assert_eq!(st, StatusCode::CREATED);
        if page["has_more"] == false {
            assert!(page["next_cursor"].is_null());
            break;
        }
        cursor = Some(page["next_cursor"].as_str().expect("cursor").to_string());
    }
    let expected: Vec<String> = ids.iter().rev().cloned().collect();
    assert_eq!(seen, expected, "every job once, newest first, despite inserts");
    assert_eq!(pages, 3);
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), seen.len());
    s.stop().await;
}
