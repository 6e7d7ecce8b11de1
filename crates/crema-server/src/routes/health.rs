//! `/healthz` and `/readyz` (contract, "Health"); no credential needed.

use crate::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

/// `/healthz` body.
#[derive(Serialize, ToSchema)]
pub struct Health {
    /// Always `"ok"`: the process answers.
    pub status: &'static str,
}

/// `/readyz` body.
#[derive(Serialize, ToSchema)]
pub struct Readiness {
    /// Whether the server takes work.
    pub ready: bool,
    /// Failed checks, from `database`, `disk_critical`, `draining`, `workers_dead`; absent when ready.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub checks_failed: Vec<&'static str>,
}

/// `200` while the process is up.
#[utoipa::path(get, path = "/healthz", tag = "health", security(()), responses((status = 200, body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// `200 {"ready": true}` or `503 {"ready": false, "checks_failed": [...]}`.
#[utoipa::path(get, path = "/readyz", tag = "health", security(()),
    responses((status = 200, body = Readiness), (status = 503, body = Readiness)))]
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Readiness>) {
    let failed = state.service.readiness().await.failed();
    let status = if failed.is_empty() { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(Readiness { ready: failed.is_empty(), checks_failed: failed }))
}
