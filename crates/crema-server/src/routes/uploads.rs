//! `/v1/uploads` (contract, "Uploads (chunked, resumable)"). Parts stream
//! straight from the socket to the service, which writes them to disk; no
//! part is held in memory whole.

use crate::AppState;
use crate::error::{ApiResult, ErrorEnvelope};
use axum::Json;
use axum::body::Body;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use crema_service::{PartReceived, Upload, UploadCompleted, UploadCreated, UploadSpec};
use futures_util::TryStreamExt as _;
use tokio_util::io::StreamReader;

/// Opens an upload session; `201` with the chunk size and count to send.
#[utoipa::path(post, path = "/v1/uploads", tag = "uploads", request_body = UploadSpec,
    params(("Idempotency-Key" = String, Header, description = "required on every POST")),
    responses((status = 201, body = UploadCreated), (status = 400, body = ErrorEnvelope),
              (status = 413, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)))]
pub async fn create(
    State(state): State<AppState>,
    body: Result<Json<UploadSpec>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<UploadCreated>)> {
    let Json(spec) = body?;
    Ok((StatusCode::CREATED, Json(state.service.create_upload(spec).await?)))
}

/// One part (0-indexed), raw bytes; every part but the last is exactly
/// `chunk_size` bytes. Re-sending a part replaces it.
#[utoipa::path(put, path = "/v1/uploads/{id}/parts/{part_number}", tag = "uploads",
    params(("id" = String, Path), ("part_number" = u64, Path)),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 200, body = PartReceived), (status = 400, body = ErrorEnvelope),
              (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope),
              (status = 413, body = ErrorEnvelope)))]
pub async fn put_part(
    State(state): State<AppState>,
    Path((id, part_number)): Path<(String, u64)>,
    body: Body,
) -> ApiResult<Json<PartReceived>> {
    let stream = body.into_data_stream().map_err(std::io::Error::other);
    let reader = StreamReader::new(stream);
    Ok(Json(state.service.put_part(&id, part_number, reader).await?))
}

/// The session: status, received parts and, once assembled, the probed source facts.
#[utoipa::path(get, path = "/v1/uploads/{id}", tag = "uploads", params(("id" = String, Path)),
    responses((status = 200, body = Upload), (status = 404, body = ErrorEnvelope)))]
pub async fn get(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<Upload>> {
    Ok(Json(state.service.get_upload(&id).await?))
}

/// Assembles the parts into one file and computes its SHA-256; `409
/// upload_incomplete` listing the missing parts.
#[utoipa::path(post, path = "/v1/uploads/{id}/complete", tag = "uploads",
    params(("id" = String, Path), ("Idempotency-Key" = String, Header, description = "required on every POST")),
    responses((status = 200, body = UploadCompleted), (status = 404, body = ErrorEnvelope),
              (status = 409, body = ErrorEnvelope)))]
pub async fn complete(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<UploadCompleted>> {
    Ok(Json(state.service.complete_upload(&id).await?))
}

/// Cancels the session and frees its parts; `204` (contract, "Uploads"), also on a full disk.
#[utoipa::path(delete, path = "/v1/uploads/{id}", tag = "uploads", params(("id" = String, Path)),
    responses((status = 204, description = "canceled; its files are freed"), (status = 404, body = ErrorEnvelope)))]
pub async fn delete(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<StatusCode> {
    state.service.delete_upload(&id).await.map(|_| StatusCode::NO_CONTENT).map_err(Into::into)
}

/// Extension: a JPEG poster frame of a completed upload (at most 320×180).
#[utoipa::path(get, path = "/v1/uploads/{id}/thumbnail", tag = "uploads", params(("id" = String, Path)),
    responses((status = 200, content_type = "image/jpeg", description = "the poster frame"),
              (status = 404, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)))]
pub async fn thumbnail(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<axum::response::Response> {
    Ok(crate::routes::jobs::jpeg(state.service.upload_thumbnail(&id).await?))
}
