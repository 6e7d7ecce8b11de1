//! The connection loop behind [`crate::serve`]: which connections are
//! accepted, kept and closed. HTTP itself is hyper's (hyper-util's auto
//! HTTP/1 + HTTP/2 connection); TLS is axum-server's rustls acceptor.
//!
//! # Why not hyper's timeouts alone (hyper 1.12, hyper-util 0.1.21)
//!
//! hyper's `http1::Builder::header_read_timeout` (default 30 s) starts when
//! hyper begins reading a request head and restarts when a keep-alive
//! connection goes idle (`proto/h1/conn.rs`, `State::idle`). But the auto
//! connection first reads up to 24 bytes to tell HTTP/1 from HTTP/2
//! (`server/conn/auto`, `ReadVersion`) with no timeout at all, so a connection
//! that never sends a byte stays open forever; HTTP/2 has no idle timeout; and
//! nothing caps the number of connections. That is how 1,100 silent
//! connections used up a 1,024-descriptor limit and `/healthz` stopped
//! answering.
//!
//! # Policy
//!
//! - **First byte**: a connection must send its first byte (the request, or
//!   the TLS ClientHello) within [`ServeOptions::first_byte_timeout`] of being
//!   accepted; the TLS handshake gets the same time again.
//! - **Idle**: a connection with no request in flight (a keep-alive HTTP/1
//!   connection between requests, a request head still arriving, an HTTP/2
//!   connection with no open stream) is closed after
//!   [`ServeOptions::idle_timeout`]. A request counts as in flight from its
//!   head to the last byte of its response, so downloads and event streams
//!   are never idle. The same value is hyper's `header_read_timeout`.
//! - **Cap**: at most [`ServeOptions::max_connections`] connections are open.
//!   When a new connection arrives at the cap, the connection idle the
//!   longest is closed to make room (nginx does the same with its keep-alive
//!   connections when it runs out of connections). When every open
//!   connection has a request in flight, the new one waits (one accepted
//!   socket, the rest in the listen backlog) until one finishes or goes
//!   idle. So health probes get in at once as long as any connection is
//!   idle, whatever the number of silent connections. A connection picked
//!   just as its next request arrives can lose that request (the client sees
//!   the connection close, as with any keep-alive timeout).
//! - **Descriptors**: [`raise_fd_limit`] raises the soft `RLIMIT_NOFILE` to
//!   the hard limit; the default cap is derived from the result
//!   ([`default_max_connections`]). If `accept` fails anyway (e.g. `EMFILE`),
//!   an idle connection is closed and accepting resumes after 50 ms.
//! - **Memory**: a request head (request line + headers) may use at most
//!   [`MAX_HEAD_BYTES`] of buffer, so `max_connections` connections stuck
//!   mid-head hold at most `max_connections × 64 KiB`.
//!
//! # Protocol-level rejections (no error envelope)
//!
//! hyper answers a request it cannot parse by itself, before any service
//! runs, and offers no hook to choose the body: `Server::on_error` in
//! `proto/h1/role.rs` builds a bare head and the connection writes it with an
//! empty body (`Conn::on_parse_error`). Writing our own bytes instead would
//! mean parsing HTTP ourselves, so these answers stay as hyper makes them.
//! Each is `HTTP/1.1 <status>` with exactly `connection: close`,
//! `content-length: 0` and `date` (no `Content-Type`, no `X-Request-Id`, no
//! body), and hyper closes the connection afterwards:
//!
//! | request | answer |
//! |---|---|
//! | malformed request line (bad method, URI or version) | `400 Bad Request` |
//! | two `Content-Length` headers with different values, or a non-numeric one | `400 Bad Request` (identical duplicates are accepted, RFC 9110 §8.6) |
//! | request line + headers over [`MAX_HEAD_BYTES`] (e.g. a 64 KiB URL, or one 100 KB header) | `431 Request Header Fields Too Large` |
//! | more than 100 headers (hyper's default `max_headers`) | `431 Request Header Fields Too Large` |
//! | a URL over 65,534 bytes within the head limit | `414 URI Too Long` (unreachable with the 64 KiB head limit) |
//! | head not complete within the idle timeout | no answer; the connection is closed |
//!
//! `tests/server/hardening.rs` (`protocol_level_rejections_*`) checks each row.

use crate::body_timeout::BodyIdleTimeout;
use crate::rate_limit::{Limiter, RateLimitOptions};
use crate::{ServeError, TlsFiles};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use axum_server::accept::Accept;
use axum_server::tls_rustls::{RustlsAcceptor, RustlsConfig};
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

/// Largest request head (request line + headers) hyper buffers, in bytes
/// (hyper's `max_buf_size`; hyper answers `431` above it).
pub const MAX_HEAD_BYTES: usize = 64 * 1024;
/// Descriptors kept for everything but client connections (SQLite, upload
/// parts, outputs, FFmpeg, webhooks) when deriving the default cap.
pub const RESERVED_DESCRIPTORS: u64 = 256;
/// Upper bound of the derived default cap (memory: see [`MAX_HEAD_BYTES`]).
pub const MAX_DEFAULT_CONNECTIONS: usize = 4096;

/// How [`crate::serve_with`] treats connections and requests. All durations
/// are wall-clock; `Default` gives the values `crema serve` uses.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    /// Most connections open at once; `None`: [`default_max_connections`].
    pub max_connections: Option<usize>,
    /// Time from accept to the connection's first byte (default 5 s).
    pub first_byte_timeout: Duration,
    /// Time a connection may stay open with no request in flight, and the
    /// time allowed to send a request head (default 30 s).
    pub idle_timeout: Duration,
    /// Longest gap between two chunks of a request body before the request
    /// fails with `400 validation_error` (default [`crate::BODY_IDLE_TIMEOUT`], 60 s).
    pub body_idle_timeout: Duration,
    /// Request rate limits (see [`crate::rate_limit`]).
    pub rate_limit: RateLimitOptions,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            max_connections: None,
            first_byte_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(30),
            body_idle_timeout: crate::BODY_IDLE_TIMEOUT,
            rate_limit: RateLimitOptions::default(),
        }
    }
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit (the `rlimit` crate).
/// Returns the soft limit now in force, or `None` where the platform has no
/// such limit (Windows).
///
/// Errors: the `getrlimit`/`setrlimit` failure.
pub fn raise_fd_limit() -> std::io::Result<Option<u64>> {
    #[cfg(unix)]
    {
        rlimit::increase_nofile_limit(u64::MAX).map(Some)
    }
    #[cfg(not(unix))]
    {
        Ok(None)
    }
}

/// The default connection cap: half of the descriptors left after
/// [`RESERVED_DESCRIPTORS`] (a connection in flight may hold a second one for
/// its file), between 32 and [`MAX_DEFAULT_CONNECTIONS`]. 384 with the usual
/// 1,024 soft limit; read the limit after [`raise_fd_limit`].
pub fn default_max_connections() -> usize {
    #[cfg(unix)]
    let soft = rlimit::getrlimit(rlimit::Resource::NOFILE).map(|(soft, _)| soft).unwrap_or(1024);
    #[cfg(not(unix))]
    let soft = 2048u64;
    let usable = soft.saturating_sub(RESERVED_DESCRIPTORS) / 2;
    usize::try_from(usable).unwrap_or(usize::MAX).clamp(32, MAX_DEFAULT_CONNECTIONS)
}

/// Serves `app` on an already bound listener with `options` until `shutdown`
/// resolves; then stops accepting and gives open connections `grace` to
/// finish before closing them. Each request gets the peer's
/// `ConnectInfo<SocketAddr>` and the options' per-request settings (body
/// idle timeout, rate limiter) in its extensions.
///
/// Errors: [`ServeError::Tls`] for unreadable TLS files; [`ServeError::Io`]
/// when the listener cannot be used.
pub async fn serve_with(
    listener: std::net::TcpListener,
    app: Router,
    tls: Option<TlsFiles>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    grace: Duration,
    options: ServeOptions,
) -> Result<(), ServeError> {
    listener.set_nonblocking(true)?;
    let listener = tokio::net::TcpListener::from_std(listener)?;
    let tls = match tls {
        None => None,
        Some(files) => {
            let _ = rustls::crypto::ring::default_provider().install_default();
            let config = RustlsConfig::from_pem_file(&files.cert, &files.key)
                .await
                .map_err(|e| ServeError::Tls(format!("{} / {}: {e}", files.cert.display(), files.key.display())))?;
            Some(RustlsAcceptor::new(config).handshake_timeout(options.first_byte_timeout))
        }
    };
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(options.idle_timeout).max_buf_size(MAX_HEAD_BYTES);
    let limiter = Limiter::new(&options.rate_limit);
    let cap = options.max_connections.unwrap_or_else(default_max_connections).max(1);
    let ctx = Arc::new(Ctx {
        builder,
        tls,
        app,
        first_byte_timeout: options.first_byte_timeout,
        idle_timeout: options.idle_timeout,
        body_idle_timeout: BodyIdleTimeout(options.body_idle_timeout),
        limiter: limiter.clone(),
        registry: Arc::new(Registry::new(cap)),
        graceful: CancellationToken::new(),
        hard: CancellationToken::new(),
    });
    if let Some(l) = &limiter {
        l.spawn_cleanup(ctx.graceful.clone());
    }
    let tracker = TaskTracker::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            biased;
            _ = &mut shutdown => break,
            r = listener.accept() => r,
        };
        let (tcp, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                tracing::debug!("accept failed ({e}); closing an idle connection");
                ctx.registry.shed_longest_idle();
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let permit = tokio::select! {
            biased;
            _ = &mut shutdown => break,
            p = ctx.registry.admit() => p,
        };
        let slot = ctx.registry.register(permit, ctx.hard.child_token());
        tracker.spawn(connection(ctx.clone(), tcp, peer, slot));
    }
    drop(listener);
    ctx.graceful.cancel();
    tracker.close();
    if tokio::time::timeout(grace, tracker.wait()).await.is_err() {
        ctx.hard.cancel();
        tracker.wait().await;
    }
    Ok(())
}

/// What every connection task shares.
struct Ctx {
    builder: auto::Builder<TokioExecutor>,
    tls: Option<RustlsAcceptor>,
    app: Router,
    first_byte_timeout: Duration,
    idle_timeout: Duration,
    body_idle_timeout: BodyIdleTimeout,
    limiter: Option<Limiter>,
    registry: Arc<Registry>,
    /// Server shutdown: finish what is in flight.
    graceful: CancellationToken,
    /// Grace over: close everything (parent of every connection's token).
    hard: CancellationToken,
}

/// One connection, from accept to close. Dropping the HTTP connection
/// closes the socket.
async fn connection(ctx: Arc<Ctx>, tcp: TcpStream, peer: SocketAddr, slot: Slot) {
    tokio::select! {
        biased;
        _ = slot.state.close.cancelled() => {}
        _ = serve_connection(&ctx, tcp, peer, &slot.state) => {}
    }
}

async fn serve_connection(ctx: &Ctx, tcp: TcpStream, peer: SocketAddr, state: &Arc<ConnState>) {
    let mut first = [0u8; 1];
    let first_byte = tokio::select! {
        _ = ctx.graceful.cancelled() => return,
        r = tokio::time::timeout(ctx.first_byte_timeout, tcp.peek(&mut first)) => r,
    };
    if !matches!(first_byte, Ok(Ok(n)) if n > 0) {
        return; // silent for too long, or closed
    }
    match &ctx.tls {
        None => serve_http(ctx, tcp, peer, state).await,
        Some(acceptor) => {
            let handshake = tokio::select! {
                _ = ctx.graceful.cancelled() => return,
                r = acceptor.accept(tcp, ()) => r,
            };
            if let Ok((stream, ())) = handshake {
                serve_http(ctx, stream, peer, state).await;
            }
        }
    }
}

async fn serve_http<I>(ctx: &Ctx, io: I, peer: SocketAddr, state: &Arc<ConnState>)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (app, registry, state_for_requests) = (ctx.app.clone(), ctx.registry.clone(), state.clone());
    let (body_idle, limiter) = (ctx.body_idle_timeout, ctx.limiter.clone());
    let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
        let guard = InFlight::start(state_for_requests.clone(), registry.clone());
        let (app, limiter) = (app.clone(), limiter.clone());
        async move {
            let mut req = req.map(Body::new);
            req.extensions_mut().insert(ConnectInfo(peer));
            req.extensions_mut().insert(body_idle);
            if let Some(l) = limiter {
                req.extensions_mut().insert(l);
            }
            let res = app.oneshot(req).await.unwrap_or_else(|never| match never {});
            Ok::<_, Infallible>(res.map(|body| Body::new(Tracked { body, _in_flight: guard })))
        }
    });
    let conn = ctx.builder.serve_connection(TokioIo::new(io), service);
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => return,
        _ = state.idle_expired(&ctx.registry, ctx.idle_timeout) => {
            // HTTP/1: closes at once (nothing in flight); HTTP/2: GOAWAY.
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(Duration::from_secs(1), conn.as_mut()).await;
            return;
        }
        _ = ctx.graceful.cancelled() => {}
    }
    conn.as_mut().graceful_shutdown();
    let _ = conn.await; // `hard` ends it through the slot's token
}

/// The open connections: a permit each, and what is needed to pick the one
/// idle the longest.
struct Registry {
    permits: Arc<Semaphore>,
    open: Mutex<HashMap<u64, Arc<ConnState>>>,
    next_id: AtomicU64,
    /// Fired when a connection's last request finishes.
    became_idle: Notify,
    epoch: Instant,
}

/// One connection's activity.
struct ConnState {
    in_flight: AtomicUsize,
    /// When the connection last became idle (or was accepted), in ms since [`Registry::epoch`].
    idle_since_ms: AtomicU64,
    /// Fired when `in_flight` changes.
    activity: Notify,
    /// Cancelled to close the connection at once (shed, or grace over).
    close: CancellationToken,
}

/// A connection's place in the [`Registry`]; dropping it frees the place.
struct Slot {
    id: u64,
    state: Arc<ConnState>,
    registry: Arc<Registry>,
    _permit: OwnedSemaphorePermit,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.registry.open.lock().unwrap_or_else(|p| p.into_inner()).remove(&self.id);
    }
}

impl Registry {
    fn new(cap: usize) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(cap)),
            open: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(0),
            became_idle: Notify::new(),
            epoch: Instant::now(),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// A place for one more connection: at once below the cap; at the cap,
    /// after closing the connection idle the longest, or else once a
    /// connection finishes or goes idle.
    async fn admit(&self) -> OwnedSemaphorePermit {
        loop {
            if let Ok(p) = self.permits.clone().try_acquire_owned() {
                return p;
            }
            let idle = self.became_idle.notified();
            tokio::pin!(idle);
            idle.as_mut().enable();
            if self.shed_longest_idle() {
                // The closed connection frees its permit as its task ends.
                return self.permits.clone().acquire_owned().await.expect("the semaphore is never closed");
            }
            tokio::select! {
                p = self.permits.clone().acquire_owned() => return p.expect("the semaphore is never closed"),
                _ = idle => {}
            }
        }
    }

    fn register(self: &Arc<Self>, permit: OwnedSemaphorePermit, close: CancellationToken) -> Slot {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let state = Arc::new(ConnState {
            in_flight: AtomicUsize::new(0),
            idle_since_ms: AtomicU64::new(self.now_ms()),
            activity: Notify::new(),
            close,
        });
        self.open.lock().unwrap_or_else(|p| p.into_inner()).insert(id, state.clone());
        Slot { id, state, registry: self.clone(), _permit: permit }
    }

    /// Closes the connection with no request in flight that has been idle
    /// the longest; false when every connection is busy.
    fn shed_longest_idle(&self) -> bool {
        let open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let victim = open
            .values()
            .filter(|c| c.in_flight.load(Ordering::Acquire) == 0 && !c.close.is_cancelled())
            .min_by_key(|c| c.idle_since_ms.load(Ordering::Acquire));
        match victim {
            Some(c) => {
                c.close.cancel();
                true
            }
            None => false,
        }
    }
}

impl ConnState {
    /// Resolves once the connection has had no request in flight for `idle`.
    async fn idle_expired(&self, registry: &Registry, idle: Duration) {
        loop {
            let changed = self.activity.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if self.in_flight.load(Ordering::Acquire) > 0 {
                changed.await;
                continue;
            }
            let since = registry.epoch + Duration::from_millis(self.idle_since_ms.load(Ordering::Acquire));
            let deadline = since + idle;
            if Instant::now() >= deadline {
                return;
            }
            tokio::select! {
                _ = tokio::time::sleep_until(deadline.into()) => {}
                _ = changed => {}
            }
        }
    }
}

/// Marks one request in flight on its connection, from its head to the end
/// of its response body.
struct InFlight {
    state: Arc<ConnState>,
    registry: Arc<Registry>,
}

impl InFlight {
    fn start(state: Arc<ConnState>, registry: Arc<Registry>) -> Self {
        state.in_flight.fetch_add(1, Ordering::AcqRel);
        state.activity.notify_waiters();
        Self { state, registry }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if self.state.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.state.idle_since_ms.store(self.registry.now_ms(), Ordering::Release);
            self.registry.became_idle.notify_waiters();
        }
        self.state.activity.notify_waiters();
    }
}

/// A response body that keeps its request [`InFlight`] until hyper is done with it.
struct Tracked {
    body: Body,
    _in_flight: InFlight,
}

impl http_body::Body for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
