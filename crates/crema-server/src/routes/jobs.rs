//! `/v1/jobs` (contract, "Jobs"): submit, get, list, cancel, retry, output redirect.

use crate::AppState;
use crate::error::{ApiError, ApiResult, ErrorEnvelope};
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use crema_service::{
    DownloadTarget, Job, JobSpec, JobStatus, MovePosition, Origin, OutputState, Page, Principal, ServiceError,
};
use serde::Deserialize;
use std::time::Duration;
use utoipa::IntoParams;

/// How long a signed download URL stays valid (contract: 24 h).
pub const DOWNLOAD_TTL: Duration = Duration::from_secs(24 * 3600);

/// Submits a job; `201` with the job, status `queued`.
#[utoipa::path(post, path = "/v1/jobs", tag = "jobs", request_body = JobSpec,
    params(("Idempotency-Key" = String, Header, description = "required on every POST")),
    responses((status = 201, body = Job), (status = 400, body = ErrorEnvelope), (status = 403, body = ErrorEnvelope),
              (status = 409, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)))]
pub async fn create(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    body: Result<Json<JobSpec>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<Job>)> {
    let Json(spec) = body?;
    Ok((StatusCode::CREATED, Json(state.service.submit(spec, Origin::Network(principal)).await?.network_view())))
}

/// One job.
#[utoipa::path(get, path = "/v1/jobs/{id}", tag = "jobs", params(("id" = String, Path)),
    responses((status = 200, body = Job), (status = 404, body = ErrorEnvelope)))]
pub async fn get(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<Job>> {
    Ok(Json(state.service.get(&id).await?.network_view()))
}

/// Query of `GET /v1/jobs`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only jobs in this status.
    #[param(value_type = Option<JobStatus>)]
    pub status: Option<String>,
    /// Page size, 1..100 (default 20).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    pub limit: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Jobs, newest first, with an opaque cursor that is stable under concurrent inserts.
#[utoipa::path(get, path = "/v1/jobs", tag = "jobs", params(ListQuery),
    responses((status = 200, body = Page), (status = 400, body = ErrorEnvelope)))]
pub async fn list(State(state): State<AppState>, q: Result<Query<ListQuery>, QueryRejection>) -> ApiResult<Json<Page>> {
    let Query(q) = q?;
    // `?status=` and `?limit=` are values outside the documented enum and
    // range (400); an empty `cursor` is the first page.
    let status = match q.status.as_deref() {
        None => None,
        Some(s) => Some(JobStatus::parse(s).ok_or_else(|| {
            let all: Vec<&str> = JobStatus::ALL.iter().map(|s| s.as_str()).collect();
            ApiError::bad_request(format!("status: unknown status {s:?}; one of {}", all.join(", ")))
        })?),
    };
    let limit = match q.limit.as_deref() {
        None => None,
        Some(l) => Some(
            l.parse::<u32>()
                .map_err(|_| ApiError::bad_request(format!("limit: must be an integer 1..100, got {l:?}")))?,
        ),
    };
    // A bad cursor or limit is a validation error: 400 (contract).
    let cursor = q.cursor.as_deref().filter(|c| !c.is_empty());
    let page = state.service.list(status, limit, cursor).await?;
    Ok(Json(page.network_view()))
}

/// Cancels a queued or running job; `200` with status `canceled`; `409
/// job_not_cancelable` for a terminal job.
#[utoipa::path(delete, path = "/v1/jobs/{id}", tag = "jobs", params(("id" = String, Path)),
    responses((status = 200, body = Job), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope)))]
pub async fn cancel(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<Job>> {
    Ok(Json(state.service.cancel(&id).await?.network_view()))
}

/// Extension: requeues a failed job while `attempt < max_attempts`.
#[utoipa::path(post, path = "/v1/jobs/{id}/retry", tag = "jobs",
    params(("id" = String, Path), ("Idempotency-Key" = String, Header, description = "required on every POST")),
    responses((status = 200, body = Job), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope)))]
pub async fn retry(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<Job>> {
    Ok(Json(state.service.retry(&id).await?.network_view()))
}

/// `302` to a signed download URL valid for 24 h: the file, or the HLS
/// package's `master.m3u8`; `409` while the job has no output.
#[utoipa::path(get, path = "/v1/jobs/{id}/output", tag = "jobs", params(("id" = String, Path)),
    responses((status = 302, description = "Location: /v1/downloads/{token}"), (status = 404, body = ErrorEnvelope),
              (status = 409, body = ErrorEnvelope)))]
pub async fn output(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Response> {
    let job = state.service.get(&id).await?;
    if job.output.expired {
        let when =
            job.output.retention_expires_at.and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok());
        let msg = format!(
            "the output of job {id} expired{} and was deleted (retention)",
            when.map(|w| format!(" at {w}")).unwrap_or_default()
        );
        return Err(ApiError::not_found(msg).with_reason("output_expired"));
    }
    if job.output.state != OutputState::Available || (job.output.path.is_none() && job.output.object_key.is_none()) {
        let why = match (job.status, job.final_artifact.as_deref()) {
            (JobStatus::Completed, Some("original")) => {
                "the encode would not have saved space, so the original was kept (final_artifact: original)".to_string()
            }
            (JobStatus::Completed, _) => format!("its output is {}", job.output.state),
            (status, _) => format!("it is {status}"),
        };
        return Err(ServiceError::OutputNotReady(format!("job {id} has no output: {why}")).into());
    }
    let location = if let Some(url) = state.service.presigned_output(&id).await? {
        // Farm mode: the file is in the bucket; a presigned GET (24 h), as SOPHON answers.
        url
    } else if job.output.hls.is_some() {
        let token = state.service.sign_download(&DownloadTarget::HlsFolder { job_id: id }, DOWNLOAD_TTL);
        format!("/v1/downloads/{token}/master.m3u8")
    } else {
        let token = state.service.sign_download(&DownloadTarget::File { job_id: id }, DOWNLOAD_TTL);
        format!("/v1/downloads/{token}")
    };
    let mut res = StatusCode::FOUND.into_response();
    res.headers_mut()
        .insert(header::LOCATION, HeaderValue::from_str(&location).map_err(|e| ApiError::internal(e.to_string()))?);
    Ok(res)
}

/// Extension: removes a finished job (its record, output and kept source); `204`.
/// `409` while it is queued or running.
#[utoipa::path(delete, path = "/v1/jobs/{id}/record", tag = "jobs", params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope)))]
pub async fn remove(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<StatusCode> {
    state.service.remove_job(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Body of `POST /v1/jobs/{id}/move`: `{"position": "top"|"bottom"}` or
/// `{"before": "job_…"}`, exactly one of them (`oneOf`, no other fields).
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum MoveRequest {
    /// To an end of the queue.
    End(MoveToEnd),
    /// Just before another queued job.
    Before(MoveBefore),
}

/// `{"position": "top"|"bottom"}`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MoveToEnd {
    /// `top` (first to run) or `bottom` (last).
    pub position: MoveEnd,
}

/// `{"before": "job_…"}`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MoveBefore {
    /// The queued job to run after this one.
    pub before: String,
}

/// An end of the queue.
#[derive(Deserialize, utoipa::ToSchema, Clone, Copy)]
#[serde(rename_all = "lowercase")]
pub enum MoveEnd {
    /// First to run.
    Top,
    /// Last to run.
    Bottom,
}

/// Extension: moves a queued job in the run order; `200` with the job.
#[utoipa::path(post, path = "/v1/jobs/{id}/move", tag = "jobs", request_body = MoveRequest,
    params(("id" = String, Path), ("Idempotency-Key" = String, Header, description = "required on every POST")),
    responses((status = 200, body = Job), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope),
              (status = 422, body = ErrorEnvelope)))]
pub async fn move_job(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Result<Json<MoveRequest>, JsonRejection>,
) -> ApiResult<Json<Job>> {
    let Json(body) = body.map_err(|e| match e {
        JsonRejection::JsonDataError(_) => {
            ApiError::bad_request("give exactly one of \"position\" (top|bottom) or \"before\" (a job id)")
        }
        other => other.into(),
    })?;
    let position = match body {
        MoveRequest::End(MoveToEnd { position: MoveEnd::Top }) => MovePosition::Top,
        MoveRequest::End(MoveToEnd { position: MoveEnd::Bottom }) => MovePosition::Bottom,
        MoveRequest::Before(MoveBefore { before }) => MovePosition::Before(before),
    };
    Ok(Json(state.service.move_job(&id, &position).await?.network_view()))
}

/// Extension: a JPEG poster frame of the job's source (at most 320×180).
#[utoipa::path(get, path = "/v1/jobs/{id}/thumbnail", tag = "jobs", params(("id" = String, Path)),
    responses((status = 200, content_type = "image/jpeg", description = "the poster frame"),
              (status = 404, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)))]
pub async fn thumbnail(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Response> {
    Ok(jpeg(state.service.job_thumbnail(&id).await?))
}

/// A JPEG response that browsers may cache for an hour.
pub(crate) fn jpeg(bytes: Vec<u8>) -> Response {
    ([(header::CONTENT_TYPE, "image/jpeg"), (header::CACHE_CONTROL, "private, max-age=3600")], bytes).into_response()
}
