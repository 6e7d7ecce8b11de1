//! Crema's HTTP transport: the `/v1` REST API of the SOPHON encoding service
//! (contract: `shared/api/v1.md`), served by axum over
//! [`crema_service::Service`].
//!
//! Handlers only deserialize, call one service method and serialize; every
//! rule lives in the service. Layers, outermost first:
//! 1. request ID + error envelope rendering ([`request_id`]);
//! 2. request-body idle timeout ([`body_timeout`]: a client that stops sending
//!    for 60 s gets `400`) and a 30 s whole-request timeout on JSON routes;
//! 3. per-address rate limit for requests without a credential ([`rate_limit`]);
//! 4. on `/v1` (except downloads): authentication ([`auth`]), per-key rate
//!    limit, then `Idempotency-Key` handling for `POST` ([`idempotency`]).
//!
//! Connections (cap, first-byte and idle timeouts, TLS) are handled by
//! [`serve_with`] ([`listener`]).
//!
//! Body limits: 64 KiB on JSON routes, upload parts are streamed to disk and
//! capped by the service at the session's chunk size.

pub mod auth;
pub mod body_timeout;
pub mod contract;
pub mod error;
pub mod idempotency;
pub mod listener;
pub mod openapi;
pub mod rate_limit;
pub mod request_id;
pub mod routes;
pub mod ui;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{MethodRouter, delete, get, post, put};
use crema_service::Service;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tower_http::timeout::TimeoutLayer;

pub use listener::{ServeOptions, raise_fd_limit, serve_with};

/// Shared state of every handler.
#[derive(Clone)]
pub struct AppState {
    /// The one service.
    pub service: Arc<Service>,
    /// Whether the server is reached over TLS (session cookies get `Secure`).
    pub tls: bool,
    /// The built web UI (`ui/dist`), served at `/` when set.
    pub ui_dir: Option<PathBuf>,
}

/// How long a request body may stall between two chunks before the request fails.
pub const BODY_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Whole-request limit on JSON routes (not uploads, downloads or event streams).
pub const JSON_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The whole application: `/v1`, `/auth`, `/healthz`, `/readyz`.
///
/// Authentication and `Idempotency-Key` handling wrap each route's methods
/// (`MethodRouter::route_layer`), not the route: a method the route does not
/// have is answered `405` (with `Allow`) before any credential or header is
/// looked at.
pub fn router(state: AppState) -> Router {
    use routes::{downloads, events, health, jobs, nodes, profiles, uploads, watch, waveform, webhooks};
    let guard = |m: MethodRouter<AppState>| {
        m.route_layer(axum::middleware::from_fn_with_state(state.clone(), idempotency::middleware))
            .route_layer(axum::middleware::from_fn(rate_limit::per_key))
            .route_layer(axum::middleware::from_fn_with_state(state.clone(), auth::require))
    };
    // JSON routes: small bodies, bounded time.
    let json = Router::new()
        .route("/v1/jobs", guard(post(jobs::create).get(jobs::list)))
        .route("/v1/jobs/{id}", guard(get(jobs::get).delete(jobs::cancel)))
        .route("/v1/jobs/{id}/retry", guard(post(jobs::retry)))
        .route("/v1/jobs/{id}/output", guard(get(jobs::output)))
        .route("/v1/jobs/{id}/record", guard(delete(jobs::remove)))
        .route("/v1/jobs/{id}/move", guard(post(jobs::move_job)))
        .route("/v1/jobs/{id}/thumbnail", guard(get(jobs::thumbnail)))
        .route("/v1/jobs/{id}/waveform", guard(get(waveform::waveform)))
        .route("/v1/uploads", guard(post(uploads::create)))
        .route("/v1/uploads/{id}", guard(get(uploads::get).delete(uploads::delete)))
        .route("/v1/uploads/{id}/complete", guard(post(uploads::complete)))
        .route("/v1/uploads/{id}/thumbnail", guard(get(uploads::thumbnail)))
        .route("/v1/webhooks", guard(post(webhooks::create).get(webhooks::list)))
        .route("/v1/webhooks/{id}", guard(delete(webhooks::delete)))
        .route("/v1/webhooks/{id}/deliveries", guard(get(webhooks::deliveries)))
        .route("/v1/profiles", guard(get(profiles::list)))
        .route("/v1/nodes", guard(get(nodes::list)))
        .route("/v1/watch-folders", guard(post(watch::create).get(watch::list)))
        .route("/v1/watch-folders/{id}", guard(get(watch::get).delete(watch::delete)))
        .route("/v1/watch-folders/{id}/pause", guard(post(watch::pause)))
        .route("/v1/watch-folders/{id}/resume", guard(post(watch::resume)))
        .route("/v1/watch-folders/{id}/events", guard(get(watch::events)))
        .route("/v1/watch-folders/{id}/files", guard(get(watch::files)))
        .layer(DefaultBodyLimit::max(idempotency::MAX_POST_BODY))
        .layer(TimeoutLayer::with_status_code(axum::http::StatusCode::REQUEST_TIMEOUT, JSON_REQUEST_TIMEOUT));
    // Streaming routes: parts are bounded by the service, events are long-lived.
    let streaming = Router::new()
        .route("/v1/uploads/{id}/parts/{part_number}", guard(put(uploads::put_part)))
        .route("/v1/events", guard(get(events::stream)))
        .layer(DefaultBodyLimit::disable());
    let v1 = json.merge(streaming);
    // The token is the credential: no auth layer.
    let downloads = Router::new()
        .route("/v1/downloads/{token}", get(downloads::file))
        .route("/v1/downloads/{token}/{*path}", get(downloads::in_folder));
    let open = Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/v1/openapi.json", get(openapi::serve))
        .route("/auth/login", post(auth::login))
        .route("/auth/logout", post(auth::logout))
        .layer(DefaultBodyLimit::max(4096))
        // A trickled login body cannot hold a connection for hours.
        .layer(TimeoutLayer::with_status_code(axum::http::StatusCode::REQUEST_TIMEOUT, JSON_REQUEST_TIMEOUT));
    Router::new()
        .merge(v1)
        .merge(downloads)
        .merge(open)
        .fallback(ui::serve)
        .route_layer(axum::middleware::from_fn(rate_limit::per_peer))
        .layer(axum::middleware::from_fn(body_timeout::middleware))
        .layer(axum::middleware::from_fn(request_id::middleware))
        .with_state(state)
}

/// TLS material for [`serve`]: PEM certificate chain and private key files.
#[derive(Clone, Debug)]
pub struct TlsFiles {
    /// PEM certificate chain.
    pub cert: PathBuf,
    /// PEM private key.
    pub key: PathBuf,
}

/// Errors of [`serve`].
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The TLS certificate or key cannot be read or used.
    #[error("TLS: {0}")]
    Tls(String),
    /// The listener failed.
    #[error("server: {0}")]
    Io(#[from] std::io::Error),
}

/// Serves `app` on an already bound listener until `shutdown` resolves, then
/// stops accepting connections and gives open ones `grace` to finish:
/// [`serve_with`] with the default [`ServeOptions`] (connection cap derived
/// from the descriptor limit, 5 s to the first byte, 30 s idle, 60 s body
/// idle timeout, rate limits off for loopback peers).
///
/// Errors: [`ServeError::Tls`] for unreadable TLS files; [`ServeError::Io`]
/// when the listener cannot be used.
pub async fn serve(
    listener: std::net::TcpListener,
    app: Router,
    tls: Option<TlsFiles>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    grace: Duration,
) -> Result<(), ServeError> {
    serve_with(listener, app, tls, shutdown, grace, ServeOptions::default()).await
}
