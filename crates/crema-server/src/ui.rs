//! The web UI (the same app as the desktop window) served at `/` from the
//! built `ui/dist` folder: files as they are, any other non-API path answered
//! with `index.html` so the app's own routes work on reload. API paths
//! (`/v1/…`, `/auth/…`) never fall back to the UI: they get the 404 envelope.

use crate::AppState;
use crate::error::ApiError;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};
use tower::ServiceExt as _;
use tower_http::services::{ServeDir, ServeFile};

/// The fallback handler: the UI, or a 404 envelope.
pub async fn serve(State(state): State<AppState>, req: Request) -> Response {
    let path = req.uri().path();
    let api = path.starts_with("/v1/") || path == "/v1" || path.starts_with("/auth/");
    let Some(dir) = state.ui_dir.as_ref().filter(|_| !api) else {
        return ApiError::not_found("no such route").into_response();
    };
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let mut res = ApiError::from_status(axum::http::StatusCode::METHOD_NOT_ALLOWED)
            .with_message("the UI is read-only")
            .into_response();
        res.headers_mut().insert(axum::http::header::ALLOW, axum::http::HeaderValue::from_static("GET,HEAD"));
        return res;
    }
    let index = dir.join("index.html");
    let service = ServeDir::new(dir).append_index_html_on_directories(true).fallback(ServeFile::new(&index));
    match service.oneshot(req).await {
        Ok(res) => {
            let mut res = res.map(Body::new);
            // Hashed assets may be cached; index.html must be revalidated so a new build shows at once.
            let immutable = res
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|ct| !ct.starts_with("text/html"));
            let cache = if immutable { "public, max-age=3600" } else { "no-cache" };
            res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
            res
        }
        Err(e) => ApiError::internal(e.to_string()).into_response(),
    }
}
