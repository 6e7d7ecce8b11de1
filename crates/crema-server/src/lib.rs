//! Crema's HTTP transport: the `/v1` REST API of the SOPHON encoding service
//! (contract: `shared/api/v1.md`), served by axum over
//! [`crema_service::Service`].
//!
//! Handlers only deserialize, call one service method and serialize; every
//! rule lives in the service. Layers, outermost first:
//! 1. request ID + error envelope rendering ([`request_id`]);
//! 2. request-body idle timeout (a client that stops sending for 60 s is cut
//!    off) and a 30 s whole-request timeout on JSON routes;
//! 3. on `/v1` (except downloads): authentication ([`auth`]), then
//!    `Idempotency-Key` handling for `POST` ([`idempotency`]).
//!
//! Body limits: 64 KiB on JSON routes, upload parts are streamed to disk and
//! capped by the service at the session's chunk size.

pub mod auth;
pub mod contract;
pub mod error;
pub mod idempotency;
pub mod openapi;
pub mod request_id;
pub mod routes;
pub mod ui;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{MethodRouter, delete, get, post, put};
use crema_service::Service;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tower_http::timeout::{RequestBodyTimeoutLayer, TimeoutLayer};

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
    use routes::{downloads, events, health, jobs, profiles, uploads, watch, webhooks};
    let guard = |m: MethodRouter<AppState>| {
        m.route_layer(axum::middleware::from_fn_with_state(state.clone(), idempotency::middleware))
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
        .route("/v1/uploads", guard(post(uploads::create)))
        .route("/v1/uploads/{id}", guard(get(uploads::get).delete(uploads::delete)))
        .route("/v1/uploads/{id}/complete", guard(post(uploads::complete)))
        .route("/v1/uploads/{id}/thumbnail", guard(get(uploads::thumbnail)))
        .route("/v1/webhooks", guard(post(webhooks::create).get(webhooks::list)))
        .route("/v1/webhooks/{id}", guard(delete(webhooks::delete)))
        .route("/v1/webhooks/{id}/deliveries", guard(get(webhooks::deliveries)))
        .route("/v1/profiles", guard(get(profiles::list)))
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
        .layer(DefaultBodyLimit::max(4096));
    Router::new()
        .merge(v1)
        .merge(downloads)
        .merge(open)
        .fallback(ui::serve)
        .layer(RequestBodyTimeoutLayer::new(BODY_IDLE_TIMEOUT))
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
/// stops accepting connections and gives open ones `grace` to finish.
/// HTTP/1 header reads time out after 30 s (a slow client cannot hold a
/// connection open by trickling headers).
///
/// Errors: [`ServeError::Tls`] for unreadable TLS files; [`ServeError::Io`]
/// when accepting fails.
pub async fn serve(
    listener: std::net::TcpListener,
    app: Router,
    tls: Option<TlsFiles>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    grace: Duration,
) -> Result<(), ServeError> {
    listener.set_nonblocking(true)?;
    let handle = axum_server::Handle::new();
    let h = handle.clone();
    tokio::spawn(async move {
        shutdown.await;
        h.graceful_shutdown(Some(grace));
    });
    let make = app.into_make_service_with_connect_info::<SocketAddr>();
    match tls {
        None => {
            let mut server = axum_server::from_tcp(listener).handle(handle);
            server
                .http_builder()
                .http1()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(Duration::from_secs(30));
            server.serve(make).await?;
        }
        Some(files) => {
            let _ = rustls::crypto::ring::default_provider().install_default();
            let config = axum_server::tls_rustls::RustlsConfig::from_pem_file(&files.cert, &files.key)
                .await
                .map_err(|e| ServeError::Tls(format!("{} / {}: {e}", files.cert.display(), files.key.display())))?;
            let mut server = axum_server::from_tcp_rustls(listener, config).handle(handle);
            server
                .http_builder()
                .http1()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(Duration::from_secs(30));
            server.serve(make).await?;
        }
    }
    Ok(())
}
