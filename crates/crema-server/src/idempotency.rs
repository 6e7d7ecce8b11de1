//! `Idempotency-Key` on every `/v1` `POST` (contract, "Idempotency").
//!
//! Keys are scoped per API key and route (`"<key id> POST <route pattern>"`).
//! The first request under a key runs and its status and body are stored;
//! a replay with the same body (SHA-256 of the bytes) gets them back;
//! another body under the same key is `422 idempotency_key_reused`; a request
//! still running under the key is `409 request_in_progress`. 5xx outcomes and
//! requests abandoned by their client free the key again, so a retry can run.

use crate::AppState;
use crate::error::{ApiError, ApiResult, BodyFault};
use crate::request_id::{RequestId, RouteKey, render};
use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use crema_service::{IdempotencyBegin, Principal, ServiceError};
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// The request header.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";

pub use crate::error::MAX_POST_BODY;

/// Frees the key when the request is dropped before it finished (client gone).
struct Guard {
    service: Arc<crema_service::Service>,
    scope: String,
    key: String,
    armed: bool,
}

impl Drop for Guard {
    fn drop(&mut self) {
        if self.armed {
            let (service, scope, key) =
                (self.service.clone(), std::mem::take(&mut self.scope), std::mem::take(&mut self.key));
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                rt.spawn(async move {
                    if let Err(e) = service.idempotency_abandon(&scope, &key).await {
                        tracing::warn!("cannot free Idempotency-Key {key:?}: {e}");
                    }
                });
            }
        }
    }
}

/// The middleware (route layer under the auth layer, so the principal is known).
pub async fn middleware(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if req.method() != Method::POST {
        return next.run(req).await;
    }
    match run(state, req, next).await {
        Ok(res) => res,
        Err(e) => e.into_response(),
    }
}

async fn run(state: AppState, req: Request, next: Next) -> ApiResult<Response> {
    let key = match req.headers().get(IDEMPOTENCY_KEY) {
        None => return Err(ServiceError::IdempotencyKeyRequired.into()),
        Some(v) => v
            .to_str()
            .ok()
            .filter(|k| crema_service::idempotency_key_is_valid(k))
            .ok_or_else(|| {
                ApiError::bad_request("Idempotency-Key: must be 1..255 visible ASCII characters (! to ~, no spaces)")
            })?
            .to_string(),
    };
    let principal = req
        .extensions()
        .get::<Principal>()
        .cloned()
        .ok_or_else(|| ApiError::internal("idempotency before authentication"))?;
    let route = req.extensions().get::<MatchedPath>().map(|m| m.as_str().to_string()).unwrap_or_default();
    let request_id = req.extensions().get::<RequestId>().map(|r| r.0.clone()).unwrap_or_default();
    let scope = format!("{} POST {route}", principal.key_id);

    let route_key = RouteKey::of(&req);
    let (parts, body) = req.into_parts();
    let bytes =
        axum::body::to_bytes(body, MAX_POST_BODY).await.map_err(|e| BodyFault::of(&e).into_error(MAX_POST_BODY))?;
    let hash = Sha256::digest(&bytes);
    match state.service.idempotency_begin(&scope, &key, &hash).await? {
        IdempotencyBegin::Replay { status, body } => {
            let mut res = Response::new(Body::from(body));
            *res.status_mut() = axum::http::StatusCode::from_u16(status).unwrap_or(axum::http::StatusCode::OK);
            res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
            res.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
            return Ok(res);
        }
        IdempotencyBegin::Proceed => {}
    }
    let mut guard = Guard { service: state.service.clone(), scope: scope.clone(), key: key.clone(), armed: true };
    let res = next.run(Request::from_parts(parts, Body::from(bytes))).await;
    // Render errors now so that the stored body is exactly what the client saw.
    let res = render(res, &request_id, &route_key);
    let status = res.status();
    let (parts, body) = res.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX).await.map_err(|e| ApiError::internal(e.to_string()))?;
    guard.armed = false;
    if status.is_server_error() {
        state.service.idempotency_abandon(&scope, &key).await?;
    } else {
        state.service.idempotency_finish(&scope, &key, status.as_u16(), &body).await?;
    }
    Ok(Response::from_parts(parts, Body::from(body)))
}
