//! Contract tests: every response body of a full session (webhook, upload,
//! job, list, output, download, errors, health) against the field names,
//! types and required fields of `shared/api/v1.md` (data in
//! `common/contract.rs`), and the OpenAPI document against the same data.

use crate::common;

use common::contract::{self as c, Schema, T};
use common::{TestServer, fixture};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_response_matches_the_contract() {
    let s = TestServer::start(1, |cfg| cfg.webhooks.allow = vec!["127.0.0.1/32".parse().expect("cidr")]).await;

    let (st, wh) = s.post("/v1/webhooks", &json!({"url": "http://127.0.0.1:9/hook", "name": "contract"})).await;
    assert_eq!(st, StatusCode::CREATED, "{wh}");
    c::check(&wh, &c::WEBHOOK_CREATED);
    let (st, list) = s.get("/v1/webhooks").await;
    assert_eq!(st, StatusCode::OK);
    c::check(&list, &c::WEBHOOK_LIST);
    assert!(list["webhooks"][0].get("secret").is_none(), "the secret is shown only at creation: {list}");

    let bytes = std::fs::read(fixture("h264_720p_2s.mp4")).expect("fixture");
    let (st, created) = s
        .post("/v1/uploads", &json!({"file_name": "clip.mp4", "file_size": bytes.len(), "mime_type": "video/mp4"}))
        .await;
    assert_eq!(st, StatusCode::CREATED, "{created}");
    c::check(&created, &c::UPLOAD_CREATED);
    assert_eq!(created["total_chunks"], 1, "under 64 MB the whole file is one chunk: {created}");
    let upl = created["id"].as_str().expect("id").to_string();
    assert!(upl.starts_with("upl_"), "{upl}");
    let (_, before) = s.get(&format!("/v1/uploads/{upl}")).await;
    c::check(&before, &c::UPLOAD);
    assert_eq!(before["status"], "uploading");
    let r = s
        .client()
        .put(s.url(&format!("/v1/uploads/{upl}/parts/0")))
        .header("Content-Type", "application/octet-stream")
        .body(bytes.clone())
        .send()
        .await
        .expect("PUT");
    assert_eq!(r.status(), StatusCode::OK);
    c::check(&r.json::<Value>().await.expect("json"), &c::PART_RECEIVED);
    let (st, done) = s.post(&format!("/v1/uploads/{upl}/complete"), &json!({})).await;
    assert_eq!(st, StatusCode::OK, "{done}");
    c::check(&done, &c::UPLOAD_COMPLETED);
    assert_eq!(done["sha256"], hex::encode(Sha256::digest(&bytes)));
    assert_eq!(done["bytes"], bytes.len());
    let (_, after) = s.get(&format!("/v1/uploads/{upl}")).await;
    c::check(&after, &c::UPLOAD);
    assert_eq!((after["source_width"].as_u64(), after["source_height"].as_u64()), (Some(1280), Some(720)), "{after}");

    let body = json!({
        "source": {"type": "upload", "upload_id": upl},
        "profile": "sophon-espresso",
        "output": {"container": "mp4", "audio": true, "target_height": 360},
        "webhook_ids": [wh["id"]],
        "metadata": {"customer": "contract", "n": 1}
    });
    let (st, job) = s.post("/v1/jobs", &body).await;
    assert_eq!(st, StatusCode::CREATED, "{job}");
    c::check(&job, &c::JOB);
    assert_eq!(job["status"], "queued");
    assert_eq!(job["metadata"], body["metadata"]);
    assert_eq!(job["source"]["sha256"], done["sha256"]);
    let id = job["id"].as_str().expect("id").to_string();
    let job = s.wait_terminal(&id, 120).await;
    c::check(&job, &c::JOB);
    assert_eq!(job["status"], "completed", "{job:#}");
    assert_eq!(job["output"]["height"], 360);
    assert_eq!(job["output"]["audio"], true);
    assert!(job["output"]["retention_expires_at"].is_string(), "{job:#}");
    assert_eq!(job["effective_profile_id"], "sophon-espresso");

    let (st, page) = s.get("/v1/jobs?limit=5").await;
    assert_eq!(st, StatusCode::OK);
    c::check(&page, &c::PAGE);

    let r = s.client().get(s.url(&format!("/v1/jobs/{id}/output"))).send().await.expect("output");
    assert_eq!(r.status(), StatusCode::FOUND);
    let location = r.headers()["location"].to_str().expect("location").to_string();
    assert!(location.starts_with("/v1/downloads/"), "{location}");
    let r = s.anonymous().get(s.url(&location)).send().await.expect("download");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "video/mp4");
    let file = r.bytes().await.expect("bytes");
    assert_eq!(file.len() as u64, job["output"]["bytes"].as_u64().expect("bytes"));
    assert_eq!(hex::encode(Sha256::digest(&file)), job["output"]["sha256"].as_str().expect("sha"));

    let (st, err) = s.delete(&format!("/v1/jobs/{id}")).await;
    assert_eq!(st, StatusCode::CONFLICT);
    c::check_error(&err, "job_not_cancelable");
    let (st, err) = s.get("/v1/jobs/job_00000000000000000000000000000000").await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    c::check_error(&err, "not_found");

    let r = s.anonymous().get(s.url("/healthz")).send().await.expect("healthz");
    assert_eq!(r.status(), StatusCode::OK);
    let r = s.anonymous().get(s.url("/readyz")).send().await.expect("readyz");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.expect("json"), json!({"ready": true}));

    let wh_id = wh["id"].as_str().expect("id");
    let (st, gone) = s.delete(&format!("/v1/webhooks/{wh_id}")).await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{gone}");
    let (st, e) = s.delete(&format!("/v1/webhooks/{wh_id}")).await;
    assert_eq!(st, StatusCode::NOT_FOUND, "{e}");
    c::check_error(&e, "not_found");
    s.stop().await;
}

/// Follows `$ref`s into `components.schemas`.
fn resolve<'a>(doc: &'a Value, v: &'a Value) -> &'a Value {
    match v.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let name = r.trim_start_matches("#/components/schemas/");
            resolve(doc, &doc["components"]["schemas"][name])
        }
        None => v,
    }
}

/// The JSON types a property schema allows (`"null"` included when nullable),
/// and the referenced component name, if any.
fn types_of(doc: &Value, prop: &Value) -> (Vec<String>, Option<String>) {
    let mut types = Vec::new();
    let mut reference = None;
    let mut visit = |p: &Value| {
        if let Some(r) = p.get("$ref").and_then(Value::as_str) {
            reference = Some(r.trim_start_matches("#/components/schemas/").to_string());
            let target = resolve(doc, p);
            match &target["type"] {
                Value::String(t) => types.push(t.clone()),
                Value::Array(ts) => types.extend(ts.iter().filter_map(|t| t.as_str().map(str::to_string))),
                _ => {}
            }
            return;
        }
        match &p["type"] {
            Value::String(t) => types.push(t.clone()),
            Value::Array(ts) => types.extend(ts.iter().filter_map(|t| t.as_str().map(str::to_string))),
            _ => {}
        }
    };
    visit(prop);
    for key in ["oneOf", "anyOf", "allOf"] {
        if let Some(alts) = prop.get(key).and_then(Value::as_array) {
            for a in alts {
                let (t, r) = types_of(doc, a);
                types.extend(t);
                if r.is_some() {
                    reference = r;
                }
            }
        }
    }
    (types, reference)
}

fn check_openapi_type(doc: &Value, prop: &Value, t: &T, at: &str, errors: &mut Vec<String>) {
    let (types, reference) = types_of(doc, prop);
    let has = |name: &str| types.iter().any(|t| t == name);
    let inner = match t {
        T::Opt(inner) => inner,
        T::Null(inner) => {
            if !has("null") {
                errors.push(format!("{at}: must be nullable, types {types:?}"));
            }
            inner
        }
        other => {
            if has("null") {
                errors.push(format!("{at}: must not be nullable"));
            }
            other
        }
    };
    let ok = match inner {
        T::Str | T::Hex(_) => has("string"),
        T::Time => {
            has("string") && resolve(doc, prop).to_string().contains("date-time")
                || prop.to_string().contains("date-time")
        }
        T::Int => has("integer"),
        T::Num => has("number") || has("integer"),
        T::Bool => has("boolean"),
        T::AnyObject => has("object"),
        T::Enum(values) => {
            let target = match &reference {
                Some(name) => &doc["components"]["schemas"][name.as_str()],
                None => prop,
            };
            let listed: Vec<&str> =
                target["enum"].as_array().map(|a| a.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
            // Exactly the contract's values: an extra one is a value the SDKs reject.
            let mut want: Vec<&str> = values.to_vec();
            let mut got = listed.clone();
            want.sort_unstable();
            got.sort_unstable();
            want == got || (values.len() == 1 && has("string") && listed.is_empty())
        }
        T::Obj(schema) => reference.as_deref() == Some(schema.name),
        T::Arr(item) => {
            let items = &resolve(doc, prop)["items"];
            let items = if items.is_null() {
                prop.get("oneOf")
                    .and_then(|a| a.as_array())
                    .and_then(|a| a.iter().find(|x| x.get("items").is_some()))
                    .map(|x| &x["items"])
            } else {
                Some(items)
            };
            match items {
                Some(items) => {
                    check_openapi_type(doc, items, item, &format!("{at}[]"), errors);
                    has("array")
                }
                None => false,
            }
        }
        T::Null(_) | T::Opt(_) => unreachable!("nested null"),
    };
    if !ok {
        errors.push(format!("{at}: expected {inner:?}, OpenAPI says {prop}"));
    }
}

fn check_openapi_schema(doc: &Value, schema: &Schema, errors: &mut Vec<String>) {
    let comp = &doc["components"]["schemas"][schema.name];
    if comp.is_null() {
        errors.push(format!("{}: no such component schema", schema.name));
        return;
    }
    let required: Vec<&str> =
        comp["required"].as_array().map(|a| a.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
    for (field, t) in schema.fields {
        let at = format!("{}.{field}", schema.name);
        let prop = &comp["properties"][*field];
        if prop.is_null() {
            errors.push(format!("{at}: missing from the document"));
            continue;
        }
        if !required.contains(field) && !matches!(t, T::Opt(_)) {
            errors.push(format!("{at}: must be listed as required (strict clients rely on it)"));
        }
        check_openapi_type(doc, prop, t, &at, errors);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_document_matches_the_contract() {
    let s = TestServer::start(0, |_| {}).await;
    let r = s.anonymous().get(s.url("/v1/openapi.json")).send().await.expect("openapi");
    assert_eq!(r.status(), StatusCode::OK);
    let doc: Value = r.json().await.expect("json");
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")), "{}", doc["openapi"]);
    let mut errors = Vec::new();
    for schema in c::ALL {
        check_openapi_schema(&doc, schema, &mut errors);
    }
    let routes = [
        ("/v1/jobs", "post"),
        ("/v1/jobs", "get"),
        ("/v1/jobs/{id}", "get"),
        ("/v1/jobs/{id}", "delete"),
        ("/v1/jobs/{id}/output", "get"),
        ("/v1/jobs/{id}/retry", "post"),
        ("/v1/uploads", "post"),
        ("/v1/uploads/{id}", "get"),
        ("/v1/uploads/{id}", "delete"),
        ("/v1/uploads/{id}/parts/{part_number}", "put"),
        ("/v1/uploads/{id}/complete", "post"),
        ("/v1/downloads/{token}", "get"),
        ("/v1/webhooks", "post"),
        ("/v1/webhooks", "get"),
        ("/v1/webhooks/{id}", "delete"),
        ("/v1/profiles", "get"),
        ("/v1/events", "get"),
        ("/healthz", "get"),
        ("/readyz", "get"),
    ];
    for (path, method) in routes {
        if doc["paths"][path][method].is_null() {
            errors.push(format!("{method} {path}: missing from the document"));
        }
    }
    // Each contract route documents exactly the statuses the SDKs parse.
    for (method, path, statuses) in c::ROUTE_STATUSES {
        let op = &doc["paths"][*path][*method];
        let mut got: Vec<u16> =
            op["responses"].as_object().map(|r| r.keys().filter_map(|k| k.parse().ok()).collect()).unwrap_or_default();
        got.sort_unstable();
        let mut want = statuses.to_vec();
        want.sort_unstable();
        if got != want {
            errors.push(format!("{method} {path}: documents {got:?}, the contract allows {want:?}"));
        }
    }
    // Every /v1 POST requires Idempotency-Key with its pattern.
    for (path, item) in doc["paths"].as_object().expect("paths") {
        let Some(op) = item.get("post") else { continue };
        if !path.starts_with("/v1/") {
            continue;
        }
        let key = op["parameters"].as_array().and_then(|p| p.iter().find(|p| p["name"] == "Idempotency-Key"));
        match key {
            Some(k) if k["required"] == true && k["in"] == "header" && k["schema"]["pattern"].is_string() => {}
            other => {
                errors.push(format!("POST {path}: Idempotency-Key not a required header with a pattern: {other:?}"))
            }
        }
    }
    // The closed enums, exactly.
    let enum_of = |name: &str| -> Vec<String> {
        let mut v: Vec<String> = doc["components"]["schemas"][name]["enum"]
            .as_array()
            .map(|a| a.iter().filter_map(|x| x.as_str().map(String::from)).collect())
            .unwrap_or_default();
        v.sort();
        v
    };
    for (name, want) in
        [("ErrorCode", c::ERROR_CODES), ("OutputState", c::OUTPUT_STATE), ("UploadStatus", c::UPLOAD_STATUS)]
    {
        let mut want: Vec<String> = want.iter().map(|s| s.to_string()).collect();
        want.sort();
        if enum_of(name) != want {
            errors.push(format!("{name}: documents {:?}, the contract says {want:?}", enum_of(name)));
        }
    }
    let upload = &doc["components"]["schemas"]["UploadSpec"]["properties"];
    if upload["file_size"]["minimum"] != 1 || upload["file_name"]["minLength"] != 1 {
        errors.push(format!("UploadSpec: file_size >= 1 and file_name min 1 must be stated: {upload}"));
    }
    let profile = &doc["components"]["schemas"]["JobSpec"]["properties"]["profile"]["enum"];
    if !profile.as_array().is_some_and(|p| p.contains(&json!("sophon-auto"))) {
        errors.push(format!("JobSpec.profile: the server's profiles must be listed: {profile}"));
    }
    assert!(errors.is_empty(), "OpenAPI document differs from the contract:\n  {}", errors.join("\n  "));
    let status_enum = &doc["components"]["schemas"]["JobStatus"]["enum"];
    assert_eq!(status_enum.as_array().map(Vec::len), Some(c::JOB_STATUS.len()), "{status_enum}");
    s.stop().await;
}
