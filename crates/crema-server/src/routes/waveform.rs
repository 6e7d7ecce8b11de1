//! `GET /v1/jobs/{id}/waveform` (extension): the job's waveform data
//! (`output.waveform`), handed out like the output: a `302` to a signed
//! `/v1/downloads/{token}` URL valid for 24 h, or in farm mode to the
//! presigned URL of its object in the bucket (24 h).

use crate::AppState;
use crate::error::{ApiError, ApiResult, ErrorEnvelope};
use crate::routes::jobs::DOWNLOAD_TTL;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use crema_service::{DownloadTarget, JobStatus, ServiceError};

/// Extension: `302` to a signed download of the job's waveform: BBC
/// audiowaveform binary data (`application/octet-stream`, format
/// `doc/DataFormat.md` of bbc/audiowaveform) or its JSON form
/// (`application/json`), as `output.waveform.format` asked. `409` while the
/// job has not completed; `404` when it completed without one (none was
/// asked for, or the source has no readable audio) or its output expired.
#[utoipa::path(get, path = "/v1/jobs/{id}/waveform", tag = "jobs", params(("id" = String, Path)),
    responses((status = 302, description = "Location: /v1/downloads/{token} (the .dat or .json waveform data), or its presigned bucket URL in farm mode"),
              (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope)))]
pub async fn waveform(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Response> {
    let job = state.service.get(&id).await?;
    if job.output.expired {
        let msg = format!("the output of job {id} expired and was deleted (retention), its waveform with it");
        return Err(ApiError::not_found(msg).with_reason("output_expired"));
    }
    if job.output.waveform.is_none() {
        if job.status != JobStatus::Completed {
            let why = format!("job {id} has no waveform yet: it is {}", job.status);
            return Err(ServiceError::OutputNotReady(why).into());
        }
        let why = job
            .output
            .warnings
            .iter()
            .find(|w| w.contains("waveform"))
            .cloned()
            .unwrap_or_else(|| "none was asked for (output.waveform)".to_string());
        return Err(ApiError::not_found(format!("job {id} has no waveform: {why}")));
    }
    let location = match state.service.presigned_waveform(&id).await? {
        // Farm mode: the waveform is in the bucket (this node may have no copy).
        Some(url) => url,
        None => {
            let token = state.service.sign_download(&DownloadTarget::Waveform { job_id: id }, DOWNLOAD_TTL);
            format!("/v1/downloads/{token}")
        }
    };
    let mut res = StatusCode::FOUND.into_response();
    let location = HeaderValue::from_str(&location).map_err(|e| ApiError::internal(e.to_string()))?;
    res.headers_mut().insert(header::LOCATION, location);
    Ok(res)
}
