//! Extension `GET /v1/openapi.json`: the OpenAPI 3.1 description of this
//! server, generated from the handlers' and types' annotations (utoipa), so
//! it cannot drift from the code. `tests/openapi.rs` checks it against the
//! contract and against live responses.

use crate::AppState;
use crate::routes::{downloads, events, health, jobs, profiles, uploads, watch, webhooks};
use axum::Json;
use axum::extract::State;
use serde_json::{Map, Value, json};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("API key").build()),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(crate::auth::SESSION_COOKIE))),
        );
    }
}

/// The document.
#[derive(OpenApi)]
#[openapi(
    info(title = "Crema /v1 (SOPHON-compatible encoding API)", description = "Contract: shared/api/v1.md. Extensions are marked in each operation's description."),
    paths(
        jobs::create, jobs::get, jobs::list, jobs::cancel, jobs::retry, jobs::output, jobs::remove, jobs::move_job,
        jobs::thumbnail, crate::routes::waveform::waveform,
        uploads::create, uploads::put_part, uploads::get, uploads::complete, uploads::delete, uploads::thumbnail,
        webhooks::create, webhooks::list, webhooks::delete, webhooks::deliveries,
        watch::create, watch::list, watch::get, watch::delete, watch::pause, watch::resume, watch::events,
        watch::files,
        downloads::file, downloads::in_folder,
        events::stream, profiles::list, crate::routes::nodes::list, health::healthz, health::readyz,
        crate::auth::login, crate::auth::logout,
    ),
    components(schemas(crate::error::ErrorEnvelope, crema_service::ServiceEvent)),
    modifiers(&Security),
    security(("bearer" = []), ("session" = [])),
)]
pub struct ApiDoc;

/// Operations that take no credential (the token, or nothing, is enough).
const PUBLIC: &[&str] = &["/v1/downloads/", "/healthz", "/readyz", "/v1/openapi.json", "/auth/login", "/auth/logout"];

/// The document as JSON, with what utoipa's attributes cannot say stated
/// here in one pass (issue 9: "the OpenAPI document states all of it"):
/// - the contract's statuses per route, exactly ([`crate::contract::routes`]);
/// - `401` on every operation that needs a credential, `429` (rate limit,
///   with `Retry-After`) on extension operations, `400` on every `POST`
///   (a missing or malformed `Idempotency-Key`);
/// - the required `Idempotency-Key` header with its pattern on every `/v1` `POST`;
/// - no security requirement on the public operations;
/// - item bounds of arrays (`output.hls.renditions`, `webhook_ids`).
pub fn document() -> Value {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or_default();
    patch(&mut doc);
    doc
}

/// [`document`] with this server's runtime facts: `profile` lists the
/// loaded profile IDs, `file_size` the upload limit.
pub fn document_for(service: &crema_service::Service) -> Value {
    let mut doc = document();
    let schemas = &mut doc["components"]["schemas"];
    let ids: Vec<Value> = service.profiles().iter().map(|p| Value::from(p.id.clone())).collect();
    schemas["JobSpec"]["properties"]["profile"]["enum"] = Value::Array(ids);
    schemas["UploadSpec"]["properties"]["file_size"]["maximum"] = json!(service.config().max_upload_bytes);
    doc
}

fn error_response(description: &str) -> Value {
    json!({"description": description,
           "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorEnvelope"}}}})
}

fn describe(status: u16) -> &'static str {
    match status {
        400 => "validation_error: a field is missing, mistyped or out of range (the message names it)",
        401 => "unauthorized: no credential, or an invalid, revoked or expired one",
        403 => "forbidden: the credential may not do this",
        404 => "not_found: the object does not exist (or has expired)",
        409 => "conflict / job_not_cancelable / output_not_ready",
        422 => "source_invalid / source_unsupported / validation_error",
        429 => "rate_limited (or capacity_exceeded where 503 is not declared); see Retry-After",
        503 => "capacity_exceeded: the server cannot take this now; see Retry-After",
        _ => "error",
    }
}

/// A query parameter is absent or a string, never `null`: drops the `null`
/// alternative utoipa writes for an `Option` field.
fn not_null(schema: &mut Value) {
    if let Some(one_of) = schema.get("oneOf").and_then(Value::as_array) {
        let rest: Vec<Value> = one_of.iter().filter(|s| s["type"] != "null").cloned().collect();
        if rest.len() == 1 {
            *schema = rest.into_iter().next().unwrap_or_default();
        }
    } else if let Some(types) = schema.get_mut("type").and_then(Value::as_array_mut) {
        types.retain(|t| t != "null");
        if types.len() == 1 {
            schema["type"] = types[0].clone();
        }
    }
}

fn patch(doc: &mut Value) {
    let retry_after = json!({"Retry-After": {"description": "seconds to wait before retrying",
                                             "schema": {"type": "integer", "minimum": 0}}});
    let key_param = json!({
        "name": "Idempotency-Key", "in": "header", "required": true,
        "description": "required on every POST; the same key with the same body replays the first answer",
        "schema": {"type": "string", "minLength": 1, "maxLength": 255,
                   "pattern": crema_service::IDEMPOTENCY_KEY_PATTERN}});
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else { return };
    for (path, item) in paths.iter_mut() {
        let Some(ops) = item.as_object_mut() else { continue };
        for (method, op) in ops.iter_mut() {
            let public = PUBLIC.iter().any(|p| path.starts_with(p));
            let contract = crate::contract::routes()
                .into_iter()
                .find(|r| r.method.as_str().eq_ignore_ascii_case(method) && r.path == path.as_str());
            let responses = op["responses"].as_object_mut().map(std::mem::take).unwrap_or_default();
            let mut responses: Map<String, Value> = responses;
            if public {
                op["security"] = json!([]);
            } else {
                responses.entry("401").or_insert_with(|| error_response(describe(401)));
            }
            if let Some(params) = op.get_mut("parameters").and_then(Value::as_array_mut) {
                params.iter_mut().filter(|p| p["in"] == "query").for_each(|p| not_null(&mut p["schema"]));
            }
            if method == "post" && path.starts_with("/v1/") {
                let params = op["parameters"].as_array().cloned().unwrap_or_default();
                let mut params: Vec<Value> = params.into_iter().filter(|p| p["name"] != "Idempotency-Key").collect();
                params.push(key_param.clone());
                op["parameters"] = Value::Array(params);
                responses.entry("400").or_insert_with(|| error_response(describe(400)));
                // The same Idempotency-Key with another body, or still in flight.
                responses.entry("409").or_insert_with(|| error_response(describe(409)));
            }
            match &contract {
                Some(route) => {
                    let allowed: Vec<String> = route.statuses.iter().map(u16::to_string).collect();
                    responses.retain(|status, _| allowed.contains(status));
                    for status in route.statuses.iter().filter(|s| **s >= 400) {
                        responses.entry(status.to_string()).or_insert_with(|| error_response(describe(*status)));
                    }
                }
                None if !public => {
                    responses.entry("429").or_insert_with(|| error_response(describe(429)));
                }
                None => {}
            }
            for status in ["429", "503"] {
                if let Some(r) = responses.get_mut(status).and_then(Value::as_object_mut) {
                    r.insert("headers".into(), retry_after.clone());
                }
            }
            op["responses"] = Value::Object(responses);
        }
    }
    let schemas = &mut doc["components"]["schemas"];
    let renditions = &mut schemas["HlsSpec"]["properties"]["renditions"];
    if renditions.is_object() {
        renditions["minItems"] = json!(1);
        renditions["maxItems"] = json!(crema_engine::request::MAX_RUNGS);
        renditions["items"]["minimum"] = json!(crema_engine::request::MIN_HEIGHT);
        renditions["items"]["maximum"] = json!(crema_engine::request::MAX_HEIGHT);
    }
    let segment = &mut schemas["HlsSpec"]["properties"]["segment_seconds"];
    if segment.is_object() {
        segment["minimum"] = json!(crema_engine::request::MIN_SEGMENT_SECONDS);
        segment["maximum"] = json!(crema_engine::request::MAX_SEGMENT_SECONDS);
    }
    // `POST /v1/uploads/{id}/complete` answers only `completed`.
    let done = &mut schemas["UploadCompleted"]["properties"]["status"];
    if done.is_object() {
        *done = json!({"type": "string", "enum": ["completed"], "description": "always `completed`"});
    }
    let name = &mut schemas["UploadSpec"]["properties"]["file_name"];
    if name.is_object() {
        name["pattern"] = json!(crema_service::FILE_NAME_PATTERN);
    }
    let hooks = &mut schemas["JobSpec"]["properties"]["webhook_ids"];
    if hooks.is_object() {
        hooks["maxItems"] = json!(crema_service::MAX_JOB_WEBHOOKS);
    }
}

/// `GET /v1/openapi.json`: the document for this server ([`document_for`]).
/// It needs no credential: it states the public contract and this server's
/// profile IDs, nothing else, and SDK generators and contract testers fetch
/// it before they have a key.
pub async fn serve(State(state): State<AppState>) -> Json<Value> {
    Json(document_for(&state.service))
}
