//! `GET|HEAD /v1/downloads/{token}[/{path}]` (contract, "Downloads"): the
//! token is the credential. File bytes through tower-http's `ServeFile` /
//! `ServeDir` (Range → 206, HEAD, Content-Length, Last-Modified), with the
//! media types players expect for HLS.

use crate::AppState;
use crate::error::{ApiError, ApiResult, ErrorEnvelope};
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use crema_service::{BucketHlsFile, DownloadTarget, OutputState, ServiceError};
use std::path::PathBuf;
use tower::ServiceExt as _;
use tower_http::services::{ServeDir, ServeFile};

/// The media type of a download by file extension (RFC 8216 §4 for
/// playlists; ISO BMFF segments as `video/iso.segment`, RFC 8216 §3.3).
pub fn content_type(path: &std::path::Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).map(|e| e.to_ascii_lowercase()).as_deref() {
        Some("m3u8") => "application/vnd.apple.mpegurl",
        Some("m4s") => "video/iso.segment",
        Some("mp4") => "video/mp4",
        Some("m4a") => "audio/mp4",
        Some("mkv") => "video/x-matroska",
        Some("ts") => "video/mp2t",
        Some("aac") => "audio/aac",
        Some("json") => "application/json",
        _ => "application/octet-stream",
    }
}

/// Where a verified token points: the job's output file, or its HLS folder.
async fn resolve(state: &AppState, token: &str) -> ApiResult<(DownloadTarget, PathBuf)> {
    let claims = state.service.verify_download(token)?;
    let job_id = match &claims.target {
        DownloadTarget::File { job_id }
        | DownloadTarget::HlsFolder { job_id }
        | DownloadTarget::Waveform { job_id } => job_id.clone(),
    };
    let gone = || ApiError::from(ServiceError::NotFound { kind: "download", id: job_id.clone() });
    let job = state.service.get(&job_id).await.map_err(|_| gone())?;
    let path = match (&claims.target, &job.output.path, &job.output.hls) {
        _ if job.output.state != OutputState::Available || job.output.expired => return Err(gone()),
        (DownloadTarget::File { .. }, Some(p), None) => PathBuf::from(p),
        (DownloadTarget::HlsFolder { .. }, _, Some(hls)) => {
            PathBuf::from(&hls.master_playlist).parent().map(PathBuf::from).ok_or_else(gone)?
        }
        (DownloadTarget::Waveform { .. }, _, _) => {
            job.output.waveform.as_ref().and_then(|w| w.path.as_deref()).map(PathBuf::from).ok_or_else(gone)?
        }
        _ => return Err(gone()),
    };
    Ok((claims.target, path))
}

/// The whole output file of a job.
#[utoipa::path(get, path = "/v1/downloads/{token}", tag = "downloads", params(("token" = String, Path)),
    security(()),
    responses((status = 200, description = "the file"), (status = 206, description = "a byte range"),
              (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)))]
pub async fn file(State(state): State<AppState>, Path(token): Path<String>, req: Request) -> ApiResult<Response> {
    let (target, path) = resolve(&state, &token).await?;
    if let DownloadTarget::HlsFolder { .. } = target {
        // A folder token names a package; the player asks for files inside it.
        return Err(ApiError::not_found("this token covers an HLS package: ask for .../master.m3u8"));
    }
    let res = ServeFile::new_with_mime(&path, &content_type(&path).parse().map_err(|_| ApiError::internal("mime"))?)
        .oneshot(req)
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(finish(res.map(Body::new), &path))
}

/// A file inside an HLS package (`master.m3u8`, `720p/seg_001.m4s`, …), so
/// that a player resolves the playlists' relative URIs against the token.
/// Farm mode (the package in the bucket, on any node): playlists come from
/// the bucket, media playlists with presigned segment URLs; any other file
/// is a `302` to its presigned URL.
#[utoipa::path(get, path = "/v1/downloads/{token}/{path}", tag = "downloads",
    params(("token" = String, Path), ("path" = String, Path, description = "path inside the package")),
    security(()),
    responses((status = 200, description = "the file"), (status = 206, description = "a byte range"),
              (status = 302, description = "farm mode: Location is the file's presigned bucket URL"),
              (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope),
              (status = 503, body = ErrorEnvelope)))]
pub async fn in_folder(
    State(state): State<AppState>,
    Path((token, rel)): Path<(String, String)>,
    req: Request,
) -> ApiResult<Response> {
    let (target, dir) = resolve(&state, &token).await?;
    let DownloadTarget::HlsFolder { job_id } = &target else {
        return Err(ApiError::not_found("this token covers a single file, not a folder"));
    };
    match state.service.bucket_hls_file(job_id, &rel).await? {
        // Farm mode: the package is in the bucket (see crema_service's service/hls.rs).
        Some(BucketHlsFile::Playlist(bytes)) => return Ok(finish(Response::new(Body::from(bytes)), rel.as_ref())),
        Some(BucketHlsFile::Redirect(url)) => {
            let mut res = StatusCode::FOUND.into_response();
            let location = HeaderValue::from_str(&url).map_err(|e| ApiError::internal(e.to_string()))?;
            res.headers_mut().insert(header::LOCATION, location);
            res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("private, max-age=3600"));
            return Ok(res);
        }
        None => {}
    }
    // ServeDir refuses `..` and absolute components; give it only the path inside the package.
    let (mut parts, body) = req.into_parts();
    let encoded: String =
        rel.split('/').map(|seg| seg.replace('%', "%25").replace(' ', "%20")).collect::<Vec<_>>().join("/");
    parts.uri = format!("/{encoded}").parse::<Uri>().map_err(|_| ApiError::not_found("no such file in the package"))?;
    let res = ServeDir::new(&dir)
        .append_index_html_on_directories(false)
        .oneshot(Request::from_parts(parts, body))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?;
    if res.status() == axum::http::StatusCode::NOT_FOUND {
        return Err(ApiError::not_found(format!("{rel}: no such file in the package")));
    }
    Ok(finish(res.map(Body::new), std::path::Path::new(&rel)))
}

fn finish(mut res: Response, path: &std::path::Path) -> Response {
    if res.status().is_success() {
        let h = res.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type(path)));
        // Tokens are bearer credentials in the URL: keep responses out of shared caches.
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, max-age=3600"));
        if let Some(name) = path.file_name().and_then(|n| n.to_str())
            && name.is_ascii()
            && !name.contains('"')
            && path.extension().is_some_and(|e| e == "mp4" || e == "mkv")
            && let Ok(v) = HeaderValue::from_str(&format!("inline; filename=\"{name}\""))
        {
            h.insert(header::CONTENT_DISPOSITION, v);
        }
    }
    res.into_response()
}
