//! Extension `/v1/watch-folders`: watch-folder rules and their decision logs.
//!
//! A rule added over the network may only watch and write folders under the
//! server's source roots (`crema serve --source-root`), as for path sources of
//! jobs: a rule reads, moves and may delete files there.

use crate::AppState;
use crate::error::{ApiError, ApiResult, ErrorEnvelope};
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use crema_service::{Origin, Principal, WatchEvent, WatchFile, WatchRule, WatchRuleSpec};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// `GET /v1/watch-folders` body.
#[derive(Serialize, ToSchema)]
pub struct WatchRuleList {
    /// Every rule, oldest first.
    pub watch_folders: Vec<WatchRule>,
}

/// `GET /v1/watch-folders/{id}/events` body.
#[derive(Serialize, ToSchema)]
pub struct WatchEventList {
    /// Decisions, newest first.
    pub events: Vec<WatchEvent>,
}

/// `GET /v1/watch-folders/{id}/files` body.
#[derive(Serialize, ToSchema)]
pub struct WatchFileList {
    /// Files the rule has seen, most recently changed first.
    pub files: Vec<WatchFile>,
}

/// Query of the decision log.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// Entries to return, 1..1000 (default 100).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    pub limit: Option<String>,
    /// Only entries with `seq` below this (the last `seq` of the previous page).
    #[param(value_type = Option<i64>)]
    pub before: Option<String>,
}

/// Query of the file list.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FilesQuery {
    /// Files to return, 1..1000 (default 100).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    pub limit: Option<String>,
}

fn number<T: std::str::FromStr>(name: &str, v: Option<&str>) -> ApiResult<Option<T>> {
    match v {
        None => Ok(None),
        Some(s) => s.parse().map(Some).map_err(|_| ApiError::bad_request(format!("{name}: not a number: {s:?}"))),
    }
}

/// Adds a rule; `201` with the stored rule (defaults filled in). Folders must be
/// under the server's source roots (`403 forbidden` otherwise).
#[utoipa::path(post, path = "/v1/watch-folders", tag = "watch-folders", request_body = WatchRuleSpec,
    params(("Idempotency-Key" = String, Header, description = "required on every POST")),
    responses((status = 201, body = WatchRule), (status = 400, body = ErrorEnvelope), (status = 403, body = ErrorEnvelope),
              (status = 422, body = ErrorEnvelope)))]
pub async fn create(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    body: Result<Json<WatchRuleSpec>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<WatchRule>)> {
    let Json(spec) = body?;
    Ok((StatusCode::CREATED, Json(state.service.add_watch_rule(spec, Origin::Network(principal)).await?)))
}

/// Every rule with its file counts.
#[utoipa::path(get, path = "/v1/watch-folders", tag = "watch-folders", responses((status = 200, body = WatchRuleList)))]
pub async fn list(State(state): State<AppState>) -> ApiResult<Json<WatchRuleList>> {
    Ok(Json(WatchRuleList { watch_folders: state.service.list_watch_rules().await? }))
}

/// One rule.
#[utoipa::path(get, path = "/v1/watch-folders/{id}", tag = "watch-folders", params(("id" = String, Path)),
    responses((status = 200, body = WatchRule), (status = 404, body = ErrorEnvelope)))]
pub async fn get(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<WatchRule>> {
    Ok(Json(state.service.watch_rule(&id).await?))
}

/// Removes a rule: it stops, its unfinished jobs are canceled, placed outputs stay.
#[utoipa::path(delete, path = "/v1/watch-folders/{id}", tag = "watch-folders", params(("id" = String, Path)),
    responses((status = 200, body = WatchRule), (status = 404, body = ErrorEnvelope)))]
pub async fn delete(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<WatchRule>> {
    Ok(Json(state.service.remove_watch_rule(&id).await?))
}

/// Pauses a rule: nothing new is taken; queued jobs still finish.
#[utoipa::path(post, path = "/v1/watch-folders/{id}/pause", tag = "watch-folders",
    params(("id" = String, Path), ("Idempotency-Key" = String, Header, description = "required on every POST")),
    responses((status = 200, body = WatchRule), (status = 404, body = ErrorEnvelope)))]
pub async fn pause(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<WatchRule>> {
    Ok(Json(state.service.pause_watch_rule(&id).await?))
}

/// Resumes a paused rule.
#[utoipa::path(post, path = "/v1/watch-folders/{id}/resume", tag = "watch-folders",
    params(("id" = String, Path), ("Idempotency-Key" = String, Header, description = "required on every POST")),
    responses((status = 200, body = WatchRule), (status = 404, body = ErrorEnvelope)))]
pub async fn resume(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<WatchRule>> {
    Ok(Json(state.service.resume_watch_rule(&id).await?))
}

/// The rule's decision log (taken, ignored and why, done, failed and why), newest first.
#[utoipa::path(get, path = "/v1/watch-folders/{id}/events", tag = "watch-folders",
    params(("id" = String, Path), EventsQuery),
    responses((status = 200, body = WatchEventList), (status = 400, body = ErrorEnvelope),
              (status = 404, body = ErrorEnvelope)))]
pub async fn events(
    State(state): State<AppState>,
    Path(id): Path<String>,
    q: Result<Query<EventsQuery>, QueryRejection>,
) -> ApiResult<Json<WatchEventList>> {
    let Query(q) = q?;
    let limit = number::<u32>("limit", q.limit.as_deref())?;
    let before = number::<i64>("before", q.before.as_deref())?;
    let events = state.service.watch_events(&id, limit, before).await?;
    Ok(Json(WatchEventList { events }))
}

/// The files the rule has seen and their states.
#[utoipa::path(get, path = "/v1/watch-folders/{id}/files", tag = "watch-folders",
    params(("id" = String, Path), FilesQuery),
    responses((status = 200, body = WatchFileList), (status = 400, body = ErrorEnvelope),
              (status = 404, body = ErrorEnvelope)))]
pub async fn files(
    State(state): State<AppState>,
    Path(id): Path<String>,
    q: Result<Query<FilesQuery>, QueryRejection>,
) -> ApiResult<Json<WatchFileList>> {
    let Query(q) = q?;
    let limit = number::<u32>("limit", q.limit.as_deref())?;
    let files = state.service.watch_files(&id, limit).await?;
    Ok(Json(WatchFileList { files }))
}
