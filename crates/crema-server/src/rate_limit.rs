//! Request rate limits (contract, "Errors": `rate_limited`, 429, retryable,
//! with `Retry-After`): one GCRA bucket (the `governor` crate) per API key,
//! else per peer address.
//!
//! - [`per_key`] runs inside the authentication layer on `/v1` and counts an
//!   authenticated request against its API key (a Bearer key and the browser
//!   session made from it share one bucket).
//! - [`per_peer`] runs on every route before authentication and counts a
//!   request that carries no credential (no `Authorization` header, no
//!   session cookie) against its peer address: `/auth/login`,
//!   `/v1/openapi.json`, and `/v1` requests about to be refused with `401`.
//!   IPv6 peers are counted per /64, the block one host usually holds.
//!
//! Not limited: loopback peers (unless [`RateLimitOptions::limit_loopback`]),
//! `/healthz`, and the SOPHON routes whose contract status list has no `429`
//! ([`NO_429_ROUTES`]: uploading parts, polling, downloads, deletes; an SDK
//! could not parse the answer). A request with a credential that fails
//! authentication is answered `401` without being counted (one SHA-256 and
//! one indexed read).
//!
//! The limiter reaches the layers in the request's extensions: the
//! connection loop ([`crate::serve_with`]) puts it there from
//! [`crate::ServeOptions::rate_limit`]; a router served otherwise is not limited.
//!
//! `tower_governor`'s layer is not used: its quota is fixed when the router is
//! built (the router takes no options), it has no pass-through for exempt
//! peers or routes, and it sends `Retry-After` truncated to whole seconds,
//! which is `0` for every wait under a second (e.g. all waits at 50 requests/s).

use crate::error::ApiError;
use axum::extract::{ConnectInfo, MatchedPath, Request};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use crema_service::Principal;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// SOPHON routes (method, path) whose statuses (contract, the table under
/// "Errors") do not include `429`: never rate limited. Path parameters are
/// compared by position, whatever their names.
pub const NO_429_ROUTES: &[(&str, &str)] = &[
    ("PUT", "/v1/uploads/{}/parts/{}"),
    ("POST", "/v1/uploads/{}/complete"),
    ("GET", "/v1/uploads/{}"),
    ("DELETE", "/v1/uploads/{}"),
    ("GET", "/v1/jobs"),
    ("GET", "/v1/jobs/{}"),
    ("DELETE", "/v1/jobs/{}"),
    ("GET", "/v1/jobs/{}/output"),
    ("GET", "/v1/downloads/{}"),
    ("GET", "/v1/downloads/{}/{}"),
    ("GET", "/v1/webhooks"),
    ("DELETE", "/v1/webhooks/{}"),
    ("GET", "/readyz"),
    ("GET", "/healthz"),
];

/// Rate-limit settings: a sustained rate and a burst per API key or peer address.
#[derive(Clone, Debug)]
pub struct RateLimitOptions {
    /// Sustained requests per second per key or address; 0 turns limiting off.
    pub per_second: u32,
    /// Requests that may arrive at once before the rate applies (at least 1).
    pub burst: u32,
    /// Also limit peers on a loopback address (off by default: the local UI,
    /// scripts and tests are never limited).
    pub limit_loopback: bool,
}

impl Default for RateLimitOptions {
    /// 50 requests/s with bursts of 200, loopback exempt: far above what the
    /// web UI or an SDK client polling a job sends.
    fn default() -> Self {
        Self { per_second: 50, burst: 200, limit_loopback: false }
    }
}

/// What a bucket belongs to.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
enum RateKey {
    ApiKey(String),
    Peer(IpAddr),
}

/// The shared limiter (cheap to clone).
#[derive(Clone)]
pub struct Limiter(Arc<Inner>);

struct Inner {
    buckets: DefaultKeyedRateLimiter<RateKey>,
    limit_loopback: bool,
}

impl Limiter {
    /// A limiter for `options`; `None` when `per_second` is 0 (off).
    pub fn new(options: &RateLimitOptions) -> Option<Self> {
        let rate = NonZeroU32::new(options.per_second)?;
        let burst = NonZeroU32::new(options.burst).unwrap_or(NonZeroU32::MIN);
        let quota = Quota::per_second(rate).allow_burst(burst);
        Some(Self(Arc::new(Inner {
            buckets: DefaultKeyedRateLimiter::keyed(quota),
            limit_loopback: options.limit_loopback,
        })))
    }

    /// Forgets full buckets once a minute (a keyed limiter otherwise keeps
    /// one entry per key or address ever seen) until `stop` is cancelled.
    pub(crate) fn spawn_cleanup(&self, stop: CancellationToken) {
        let this = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(60));
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tick.tick() => {
                        this.0.buckets.retain_recent();
                        this.0.buckets.shrink_to_fit();
                    }
                }
            }
        });
    }

    /// `Err(wait)` when `key` is over its quota.
    fn check(&self, key: &RateKey) -> Result<(), Duration> {
        self.0.buckets.check_key(key).map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }
}

/// Middleware inside authentication: counts the request against its API key.
pub async fn per_key(req: Request, next: Next) -> Response {
    let key = match req.extensions().get::<Principal>() {
        Some(p) => RateKey::ApiKey(p.key_id.clone()),
        None => match peer(&req) {
            Some(ip) => RateKey::Peer(ip),
            None => return next.run(req).await,
        },
    };
    limit(req, next, key).await
}

/// Middleware before authentication: counts a request without a credential
/// against its peer address.
pub async fn per_peer(req: Request, next: Next) -> Response {
    let has_credential = req.headers().contains_key(header::AUTHORIZATION)
        || axum_extra::extract::CookieJar::from_headers(req.headers()).get(crate::auth::SESSION_COOKIE).is_some();
    match peer(&req) {
        Some(ip) if !has_credential => limit(req, next, RateKey::Peer(ip)).await,
        _ => next.run(req).await,
    }
}

async fn limit(req: Request, next: Next, key: RateKey) -> Response {
    let Some(limiter) = req.extensions().get::<Limiter>().cloned() else {
        return next.run(req).await;
    };
    let loopback =
        req.extensions().get::<ConnectInfo<SocketAddr>>().is_some_and(|c| c.0.ip().to_canonical().is_loopback());
    if (loopback && !limiter.0.limit_loopback) || !may_answer_429(&req) {
        return next.run(req).await;
    }
    match limiter.check(&key) {
        Ok(()) => next.run(req).await,
        Err(wait) => too_many_requests(wait),
    }
}

/// The peer's address as counted: IPv4 as is, IPv6 by its /64.
fn peer(req: &Request) -> Option<IpAddr> {
    let ip = req.extensions().get::<ConnectInfo<SocketAddr>>()?.0.ip().to_canonical();
    Some(match ip {
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !0u128 << 64)),
        v4 => v4,
    })
}

/// Whether the matched route may answer `429` (not in [`NO_429_ROUTES`]).
fn may_answer_429(req: &Request) -> bool {
    let Some(path) = req.extensions().get::<MatchedPath>() else {
        return false;
    };
    let shape = route_shape(path.as_str());
    let method = if req.method() == Method::HEAD { "GET" } else { req.method().as_str() };
    !NO_429_ROUTES.iter().any(|(m, p)| *m == method && *p == shape)
}

/// `/v1/jobs/{id}/output` → `/v1/jobs/{}/output` (also `{*rest}` → `{}`).
fn route_shape(template: &str) -> String {
    template
        .split('/')
        .map(|seg| if seg.starts_with('{') && seg.ends_with('}') { "{}" } else { seg })
        .collect::<Vec<_>>()
        .join("/")
}

/// `429 rate_limited` with `Retry-After`: the wait rounded up to whole
/// seconds, at least 1 (RFC 9110 §10.2.3 allows only whole seconds).
fn too_many_requests(wait: Duration) -> Response {
    let secs = (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1);
    let message = format!("too many requests from this API key or address; retry in {secs} s");
    let mut res = ApiError::new(StatusCode::TOO_MANY_REQUESTS, crema_service::ErrorCode::RateLimited, message).into_response();
    res.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_shapes_ignore_parameter_names() {
        assert_eq!(route_shape("/v1/uploads/{id}/parts/{part_number}"), "/v1/uploads/{}/parts/{}");
        assert_eq!(route_shape("/v1/downloads/{token}/{*path}"), "/v1/downloads/{}/{}");
        assert_eq!(route_shape("/v1/jobs"), "/v1/jobs");
    }

    #[test]
    fn retry_after_rounds_up_to_a_whole_second() {
        let header = |d| too_many_requests(d).headers()[header::RETRY_AFTER].to_str().unwrap().to_string();
        assert_eq!(header(Duration::from_millis(20)), "1");
        assert_eq!(header(Duration::from_millis(1500)), "2");
        assert_eq!(header(Duration::from_secs(3)), "3");
    }
}
