//! The statuses each contract route may answer (contract `shared/api/v1.md`,
//! "Errors", the route table: the statuses the official SDKs parse), and the
//! one place an error's status is fitted to them.
//!
//! Handlers map errors with [`crate::error::status_of`]; the renderer then
//! calls [`fit`], which moves a status the route may not answer to the one
//! the contract names for that case: a body over the limit is `400` (not
//! `413`) on contract routes, `422` becomes `400` where only `400` is
//! declared, and `capacity_exceeded` is `429` where `503` is not declared
//! ("503 (or 429)"). Extension routes keep their status. 5xx stays 5xx (a
//! server fault can happen anywhere; SDKs treat it as retryable).

use axum::http::{Method, StatusCode};

/// One contract route: method, axum route pattern, statuses it may answer.
pub struct Route {
    /// HTTP method.
    pub method: Method,
    /// The route pattern as registered (`/v1/jobs/{id}`).
    pub path: &'static str,
    /// Every status the SDKs parse for it, success first.
    pub statuses: &'static [u16],
}

/// The contract's route table, verbatim.
pub fn routes() -> [Route; 15] {
    let r = |method: Method, path, statuses| Route { method, path, statuses };
    [
        r(Method::POST, "/v1/uploads", &[201, 400, 401, 403, 409, 429, 503]),
        r(Method::PUT, "/v1/uploads/{id}/parts/{part_number}", &[200, 400, 401, 403, 404, 409, 503]),
        r(Method::POST, "/v1/uploads/{id}/complete", &[200, 400, 401, 403, 404, 409, 422, 503]),
        r(Method::GET, "/v1/uploads/{id}", &[200, 401, 403, 404]),
        r(Method::DELETE, "/v1/uploads/{id}", &[204, 401, 403, 404]),
        r(Method::POST, "/v1/jobs", &[201, 400, 401, 403, 409, 422, 429]),
        r(Method::GET, "/v1/jobs", &[200, 400, 401, 403]),
        r(Method::GET, "/v1/jobs/{id}", &[200, 401, 403, 404]),
        r(Method::DELETE, "/v1/jobs/{id}", &[200, 401, 403, 404, 409]),
        r(Method::GET, "/v1/jobs/{id}/output", &[302, 401, 403, 404, 409]),
        r(Method::GET, "/v1/downloads/{token}", &[200, 206, 403, 404]),
        r(Method::POST, "/v1/webhooks", &[201, 400, 401, 403, 409, 429]),
        r(Method::GET, "/v1/webhooks", &[200, 401, 403]),
        r(Method::DELETE, "/v1/webhooks/{id}", &[204, 401, 403, 404]),
        r(Method::GET, "/readyz", &[200, 503]),
    ]
}

/// The statuses `method path` may answer when it is a contract route
/// (`HEAD` counts as `GET`); `None` for extension routes.
pub fn allowed(method: &Method, path: &str) -> Option<&'static [u16]> {
    let method = if method == Method::HEAD { &Method::GET } else { method };
    routes().into_iter().find(|r| r.method == method && r.path == path).map(|r| r.statuses)
}

/// The status an error response of `method path` leaves with (see the
/// module docs). `status` is returned unchanged on extension routes, for
/// 5xx, and when it is already allowed.
pub fn fit(method: &Method, path: &str, status: StatusCode) -> StatusCode {
    let Some(allowed) = allowed(method, path) else { return status };
    let ok = |s: StatusCode| allowed.contains(&s.as_u16());
    if ok(status) || status.is_server_error() && status != StatusCode::SERVICE_UNAVAILABLE {
        return status;
    }
    let candidates: &[StatusCode] = match status {
        StatusCode::PAYLOAD_TOO_LARGE
        | StatusCode::REQUEST_TIMEOUT
        | StatusCode::UNPROCESSABLE_ENTITY
        | StatusCode::UNSUPPORTED_MEDIA_TYPE
        | StatusCode::URI_TOO_LONG => &[StatusCode::BAD_REQUEST],
        StatusCode::SERVICE_UNAVAILABLE => &[StatusCode::TOO_MANY_REQUESTS],
        StatusCode::NOT_FOUND => &[StatusCode::UNPROCESSABLE_ENTITY, StatusCode::BAD_REQUEST],
        _ => &[],
    };
    match candidates.iter().copied().find(|s| ok(*s)) {
        Some(s) => s,
        None => {
            tracing::warn!("{method} {path}: status {status} is not one the contract allows here");
            status
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fitting_follows_the_contract() {
        let (post, get, put) = (Method::POST, Method::GET, Method::PUT);
        assert_eq!(fit(&post, "/v1/jobs", StatusCode::PAYLOAD_TOO_LARGE), StatusCode::BAD_REQUEST);
        assert_eq!(fit(&post, "/v1/jobs", StatusCode::SERVICE_UNAVAILABLE), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(fit(&post, "/v1/uploads", StatusCode::SERVICE_UNAVAILABLE), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(fit(&post, "/v1/jobs", StatusCode::NOT_FOUND), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(fit(&put, "/v1/uploads/{id}/parts/{part_number}", StatusCode::UNPROCESSABLE_ENTITY), StatusCode::BAD_REQUEST);
        assert_eq!(fit(&get, "/v1/jobs", StatusCode::UNPROCESSABLE_ENTITY), StatusCode::BAD_REQUEST);
        // Extension routes and server faults keep their status.
        assert_eq!(fit(&post, "/v1/jobs/{id}/retry", StatusCode::PAYLOAD_TOO_LARGE), StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(fit(&get, "/v1/jobs/{id}", StatusCode::INTERNAL_SERVER_ERROR), StatusCode::INTERNAL_SERVER_ERROR);
    }
}
