//! Request IDs and the final rendering of error envelopes.
//!
//! The outermost middleware gives every request an ID (`req_` + 96 random
//! bits in hex), makes it available to handlers as a [`RequestId`] extension,
//! renders any pending [`ApiError`] (or a bare error status from axum or
//! tower-http) into the contract's envelope, and echoes the ID in
//! `X-Request-Id` (contract, "Errors").

use crate::error::{ApiError, ErrorBody, ErrorEnvelope, PendingError};
use axum::body::Body;
use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderValue, Method, header};
use crema_service::ErrorCode;
use axum::middleware::Next;
use axum::response::Response;

/// The `X-Request-Id` header name.
pub const X_REQUEST_ID: &str = "x-request-id";

/// A request's ID, in the request's extensions.
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

fn new_request_id() -> String {
    let mut bytes = [0u8; 12];
    // A machine without OS randomness cannot serve keys or tokens either; an
    // all-zero request ID still lets the request through.
    let _ = getrandom::fill(&mut bytes);
    format!("req_{}", hex::encode(bytes))
}

/// The contract route a request matched (method and route pattern), for
/// fitting error statuses ([`crate::contract::fit`]).
#[derive(Clone, Debug)]
pub(crate) struct RouteKey {
    pub method: Method,
    pub path: Option<String>,
}

impl RouteKey {
    pub(crate) fn of(req: &Request) -> Self {
        RouteKey {
            method: req.method().clone(),
            path: req.extensions().get::<MatchedPath>().map(|m| m.as_str().to_string()),
        }
    }
}

/// The middleware (see the module docs). Runs after routing (a
/// `Router::layer`), so the matched route pattern is known.
pub async fn middleware(mut req: Request, next: Next) -> Response {
    let id = new_request_id();
    req.extensions_mut().insert(RequestId(id.clone()));
    let route = RouteKey::of(&req);
    let res = next.run(req).await;
    let mut res = render(res, &id, &route);
    if let Ok(v) = HeaderValue::from_str(&id) {
        res.headers_mut().insert(X_REQUEST_ID, v);
    }
    res
}

/// Turns a response carrying a pending [`ApiError`], or a bare error status
/// without a JSON body, into the envelope with `request_id`. Other responses
/// pass unchanged.
pub(crate) fn render(mut res: Response, request_id: &str, route: &RouteKey) -> Response {
    let pending = res.extensions_mut().remove::<PendingError>().map(|p| p.0);
    let err = match pending {
        Some(e) => e,
        None => {
            let status = res.status();
            let is_json = res
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.starts_with("application/json"));
            if status.as_u16() < 400 || is_json {
                return res;
            }
            ApiError::from_status(status)
        }
    };
    let status = match &route.path {
        Some(path) => crate::contract::fit(&route.method, path, err.status),
        None => err.status,
    };
    let envelope = ErrorEnvelope {
        error: ErrorBody {
            code: err.code,
            message: err.message,
            retryable: err.retryable,
            request_id: request_id.to_string(),
            reason: err.reason,
        },
    };
    let body = serde_json::to_vec(&envelope).unwrap_or_default();
    let (mut parts, _) = res.into_parts();
    parts.status = status;
    parts.headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    parts.headers.remove(header::CONTENT_LENGTH);
    if err.code == ErrorCode::CapacityExceeded && !parts.headers.contains_key(header::RETRY_AFTER) {
        parts.headers.insert(header::RETRY_AFTER, HeaderValue::from_static("30"));
    }
    Response::from_parts(parts, Body::from(body))
}
