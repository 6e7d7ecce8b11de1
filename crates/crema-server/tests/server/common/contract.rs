//! The `/v1` contract (`shared/api/v1.md`) as data: every response object's
//! required fields and their JSON types, written from the contract's text.
//! [`check`] walks a response body against it; the OpenAPI test walks the
//! generated document against the same data, so body, document and contract
//! agree. Extra fields are allowed (the contract says clients keep them).
#![allow(dead_code)]

use serde_json::Value;

/// A JSON type in the contract.
#[derive(Debug)]
pub enum T {
    /// JSON string.
    Str,
    /// JSON integer.
    Int,
    /// JSON number.
    Num,
    /// JSON boolean.
    Bool,
    /// RFC 3339 UTC timestamp string.
    Time,
    /// Lower-case hex string of this many characters.
    Hex(usize),
    /// One of these strings.
    Enum(&'static [&'static str]),
    /// Any JSON object.
    AnyObject,
    /// An object with these fields (all required to be present).
    Obj(&'static Schema),
    /// An array of these.
    Arr(&'static T),
    /// This type or `null`.
    Null(&'static T),
    /// Optional in the contract (`"field"?`): absent, `null` or this type.
    Opt(&'static T),
}

/// An object schema: name (as in the OpenAPI document) and fields.
#[derive(Debug)]
pub struct Schema {
    /// Component name in the OpenAPI document.
    pub name: &'static str,
    /// Required fields with their types.
    pub fields: &'static [(&'static str, T)],
}

/// Contract "Jobs": JobStatus.
pub const JOB_STATUS: &[&str] =
    &["queued", "probing", "encoding", "muxing", "uploading_output", "completed", "failed", "canceled"];
/// Contract "Uploads": status values (the SDK's enum: nothing else).
pub const UPLOAD_STATUS: &[&str] = &["uploading", "assembling", "completed", "canceled"];
/// Contract "Jobs": `output.state` (the SDK's enum: nothing else).
pub const OUTPUT_STATE: &[&str] = &["pending", "available"];
/// Contract "Errors": the closed set of `code` values (the SDKs' enum).
pub const ERROR_CODES: &[&str] = &[
    "validation_error",
    "unauthorized",
    "forbidden",
    "not_found",
    "conflict",
    "job_not_cancelable",
    "output_not_ready",
    "source_invalid",
    "source_unsupported",
    "rate_limited",
    "quota_exceeded",
    "capacity_exceeded",
    "output_persistence_failed",
    "internal_error",
];

/// Contract "Errors": the statuses each route may answer (the statuses the
/// SDKs parse), written from the contract's table.
pub const ROUTE_STATUSES: &[(&str, &str, &[u16])] = &[
    ("post", "/v1/uploads", &[201, 400, 401, 403, 409, 429, 503]),
    ("put", "/v1/uploads/{id}/parts/{part_number}", &[200, 400, 401, 403, 404, 409, 503]),
    ("post", "/v1/uploads/{id}/complete", &[200, 400, 401, 403, 404, 409, 422, 503]),
    ("get", "/v1/uploads/{id}", &[200, 401, 403, 404]),
    ("delete", "/v1/uploads/{id}", &[204, 401, 403, 404]),
    ("post", "/v1/jobs", &[201, 400, 401, 403, 409, 422, 429]),
    ("get", "/v1/jobs", &[200, 400, 401, 403]),
    ("get", "/v1/jobs/{id}", &[200, 401, 403, 404]),
    ("delete", "/v1/jobs/{id}", &[200, 401, 403, 404, 409]),
    ("get", "/v1/jobs/{id}/output", &[302, 401, 403, 404, 409]),
    ("get", "/v1/downloads/{token}", &[200, 206, 403, 404]),
    ("post", "/v1/webhooks", &[201, 400, 401, 403, 409, 429]),
    ("get", "/v1/webhooks", &[200, 401, 403]),
    ("delete", "/v1/webhooks/{id}", &[204, 401, 403, 404]),
    ("get", "/readyz", &[200, 503]),
];

/// The statuses a contract route may answer; `None` for extension routes.
pub fn allowed_statuses(method: &str, path: &str) -> Option<&'static [u16]> {
    ROUTE_STATUSES.iter().find(|(m, p, _)| m.eq_ignore_ascii_case(method) && *p == path).map(|(_, _, s)| *s)
}

/// JobResponse `source`.
pub static SOURCE: Schema = Schema {
    name: "SourceInfo",
    fields: &[
        ("name", T::Str),
        ("bytes", T::Int),
        ("sha256", T::Hex(64)),
        ("duration_seconds", T::Null(&T::Num)),
        ("resolution", T::Null(&T::Str)),
        ("frame_rate", T::Null(&T::Str)),
    ],
};
/// JobResponse `progress`.
pub static PROGRESS: Schema = Schema {
    name: "Progress",
    fields: &[
        ("stage", T::Null(&T::Str)),
        ("phase", T::Enum(JOB_STATUS)),
        ("percent", T::Num),
        ("phase_percent", T::Null(&T::Num)),
        ("fps", T::Null(&T::Num)),
        ("eta_seconds", T::Null(&T::Int)),
        ("frames_done", T::Null(&T::Int)),
        ("frames_total", T::Null(&T::Int)),
    ],
};
/// JobResponse `output`.
pub static OUTPUT: Schema = Schema {
    name: "OutputInfo",
    fields: &[
        ("state", T::Enum(OUTPUT_STATE)),
        ("container", T::Str),
        ("audio", T::Bool),
        ("target_height", T::Null(&T::Int)),
        ("width", T::Null(&T::Int)),
        ("height", T::Null(&T::Int)),
        ("bytes", T::Null(&T::Int)),
        ("sha256", T::Null(&T::Hex(64))),
        ("retention_expires_at", T::Null(&T::Time)),
    ],
};
/// JobResponse.
pub static JOB: Schema = Schema {
    name: "Job",
    fields: &[
        ("id", T::Str),
        ("status", T::Enum(JOB_STATUS)),
        ("status_reason", T::Null(&T::Str)),
        ("attempt", T::Int),
        ("retryable", T::Bool),
        ("profile", T::Str),
        ("effective_profile_id", T::Null(&T::Str)),
        ("source", T::Obj(&SOURCE)),
        ("progress", T::Obj(&PROGRESS)),
        ("output", T::Obj(&OUTPUT)),
        ("metadata", T::AnyObject),
        ("created_at", T::Time),
        ("started_at", T::Null(&T::Time)),
        ("completed_at", T::Null(&T::Time)),
        ("error", T::Null(&T::Str)),
    ],
};
/// `GET /v1/jobs`.
pub static PAGE: Schema = Schema {
    name: "Page",
    fields: &[("jobs", T::Arr(&T::Obj(&JOB))), ("next_cursor", T::Null(&T::Str)), ("has_more", T::Bool)],
};
/// `POST /v1/uploads` 201.
pub static UPLOAD_CREATED: Schema = Schema {
    name: "UploadCreated",
    fields: &[("id", T::Str), ("chunk_size", T::Int), ("total_chunks", T::Int), ("expires_at", T::Time)],
};
/// `PUT /v1/uploads/{id}/parts/{n}` 200.
pub static PART_RECEIVED: Schema =
    Schema { name: "PartReceived", fields: &[("part_number", T::Int), ("received", T::Bool)] };
/// `GET /v1/uploads/{id}`.
pub static UPLOAD: Schema = Schema {
    name: "Upload",
    fields: &[
        ("id", T::Str),
        ("status", T::Enum(UPLOAD_STATUS)),
        ("file_name", T::Str),
        ("total_chunks", T::Int),
        ("received_chunks", T::Arr(&T::Int)),
        ("expires_at", T::Time),
        ("source_width", T::Opt(&T::Int)),
        ("source_height", T::Opt(&T::Int)),
        ("source_duration_seconds", T::Opt(&T::Num)),
    ],
};
/// `POST /v1/uploads/{id}/complete` 200.
pub static UPLOAD_COMPLETED: Schema = Schema {
    name: "UploadCompleted",
    fields: &[("id", T::Str), ("status", T::Enum(&["completed"])), ("sha256", T::Hex(64)), ("bytes", T::Int)],
};
/// `POST /v1/webhooks` 201.
pub static WEBHOOK_CREATED: Schema = Schema {
    name: "WebhookCreated",
    fields: &[("id", T::Str), ("url", T::Str), ("secret", T::Hex(64)), ("active", T::Bool), ("created_at", T::Time)],
};
/// One webhook in `GET /v1/webhooks`.
pub static WEBHOOK: Schema = Schema {
    name: "Webhook",
    fields: &[("id", T::Str), ("url", T::Str), ("active", T::Bool), ("created_at", T::Time)],
};
/// `GET /v1/webhooks`.
pub static WEBHOOK_LIST: Schema = Schema { name: "WebhookList", fields: &[("webhooks", T::Arr(&T::Obj(&WEBHOOK)))] };
/// The error object.
pub static ERROR_BODY: Schema = Schema {
    name: "ErrorBody",
    fields: &[("code", T::Enum(ERROR_CODES)), ("message", T::Str), ("retryable", T::Bool), ("request_id", T::Str)],
};
/// The error envelope.
pub static ERROR: Schema = Schema { name: "ErrorEnvelope", fields: &[("error", T::Obj(&ERROR_BODY))] };
/// Webhook delivery body (checked on what the receiver got).
pub static WEBHOOK_EVENT: Schema = Schema {
    name: "WebhookEvent",
    fields: &[
        ("event_id", T::Str),
        ("type", T::Str),
        ("timestamp", T::Time),
        ("job_id", T::Str),
        ("status", T::Enum(JOB_STATUS)),
        ("metadata", T::AnyObject),
    ],
};

/// Every schema the OpenAPI document must describe.
pub static ALL: &[&Schema] = &[
    &JOB,
    &SOURCE,
    &PROGRESS,
    &OUTPUT,
    &PAGE,
    &UPLOAD_CREATED,
    &PART_RECEIVED,
    &UPLOAD,
    &UPLOAD_COMPLETED,
    &WEBHOOK_CREATED,
    &WEBHOOK,
    &WEBHOOK_LIST,
    &ERROR,
    &ERROR_BODY,
];

fn is_time(s: &str) -> bool {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).is_ok_and(|t| t.offset().is_utc())
}

fn check_type(v: &Value, t: &T, at: &str, errors: &mut Vec<String>) {
    let ok = match t {
        T::Str => v.is_string(),
        T::Int => v.is_i64() || v.is_u64(),
        T::Num => v.is_number(),
        T::Bool => v.is_boolean(),
        T::Time => v.as_str().is_some_and(is_time),
        T::Hex(n) => v
            .as_str()
            .is_some_and(|s| s.len() == *n && s.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())),
        T::Enum(values) => v.as_str().is_some_and(|s| values.contains(&s)),
        T::AnyObject => v.is_object(),
        T::Obj(schema) => {
            if v.is_object() {
                check_at(v, schema, at, errors);
                true
            } else {
                false
            }
        }
        T::Arr(inner) => match v.as_array() {
            Some(items) => {
                for (i, item) in items.iter().enumerate() {
                    check_type(item, inner, &format!("{at}[{i}]"), errors);
                }
                true
            }
            None => false,
        },
        T::Null(inner) | T::Opt(inner) => {
            if !v.is_null() {
                check_type(v, inner, at, errors);
            }
            true
        }
    };
    if !ok {
        errors.push(format!("{at}: expected {t:?}, got {v}"));
    }
}

fn check_at(v: &Value, schema: &Schema, at: &str, errors: &mut Vec<String>) {
    for (field, t) in schema.fields {
        let path = format!("{at}.{field}");
        match v.get(field) {
            None if matches!(t, T::Opt(_)) => {}
            None => errors.push(format!("{path}: required field missing ({})", schema.name)),
            Some(fv) => check_type(fv, t, &path, errors),
        }
    }
}

/// Panics with every difference between `v` and `schema`.
pub fn check(v: &Value, schema: &Schema) {
    let mut errors = Vec::new();
    check_at(v, schema, schema.name, &mut errors);
    assert!(errors.is_empty(), "response breaks the contract:\n  {}\nbody: {v:#}", errors.join("\n  "));
}

/// Panics unless `v` is the error envelope with `code`.
pub fn check_error(v: &Value, code: &str) {
    check(v, &ERROR);
    assert!(ERROR_CODES.contains(&code), "{code} is not a contract code");
    assert_eq!(v["error"]["code"], code, "{v:#}");
}

/// Panics unless `v` is the error envelope with `code` and extension `reason`.
pub fn check_error_reason(v: &Value, code: &str, reason: &str) {
    check_error(v, code);
    assert_eq!(v["error"]["reason"], reason, "{v:#}");
}
