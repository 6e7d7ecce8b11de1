//! The LAN server panel: `crema_server::serve` in-process on the app's own
//! [`Service`], started and stopped from Settings. The same `/v1` API (and
//! API keys) as `crema serve`.

use crate::error::{CmdResult, CommandError};
use crema_server::AppState;
use crema_service::Service;
use serde::Serialize;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Mutex, oneshot};
use tokio::task::JoinHandle;

/// How long open connections get to finish when the server stops.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// What `server_status`, `server_start` and `server_stop` return.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct ServerStatus {
    /// Whether the server is accepting connections.
    pub running: bool,
    /// The bound address (`0.0.0.0:8080`), `null` when stopped.
    pub listen: Option<String>,
    /// The URL to show: other machines' URL when listening on all
    /// interfaces (`http://192.168.1.20:8080`), else the bound address.
    pub url: Option<String>,
    /// URL to open on this machine (`http://127.0.0.1:8080`).
    pub local_url: Option<String>,
    /// URL for other machines when listening on all interfaces
    /// (`http://192.168.1.20:8080`); `null` when loopback-only or unknown.
    pub lan_url: Option<String>,
    /// Why the server stopped on its own, if it did.
    pub error: Option<String>,
}

struct Running {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<(), crema_server::ServeError>>,
}

/// The in-process server, if any.
#[derive(Default)]
pub struct LanServer {
    state: Mutex<(Option<Running>, Option<String>)>,
}

impl LanServer {
    /// The current state; notices a server that stopped on its own.
    pub async fn status(&self) -> ServerStatus {
        let mut guard = self.state.lock().await;
        let (running, error) = &mut *guard;
        if running.as_ref().is_some_and(|r| r.task.is_finished())
            && let Some(r) = running.take()
        {
            *error = Some(match r.task.await {
                Ok(Ok(())) => "the server stopped".into(),
                Ok(Err(e)) => e.to_string(),
                Err(e) => format!("the server task ended: {e}"),
            });
        }
        match running {
            Some(r) => status_for(r.addr),
            None => ServerStatus { error: error.clone(), ..Default::default() },
        }
    }

    /// Binds `listen` (`127.0.0.1:8080`, `0.0.0.0:8080`; port 0 picks one)
    /// and serves the `/v1` API on `service` (and the web UI from `ui_dir`).
    ///
    /// Errors: `validation_error` (`listen`) for an unparsable address or
    /// one that cannot be bound (in use, not this machine's);
    /// `invalid_transition` when a server is already running.
    pub async fn start(&self, service: Arc<Service>, listen: &str, ui_dir: Option<PathBuf>) -> CmdResult<ServerStatus> {
        let addr: SocketAddr = listen.trim().parse().map_err(|_| {
            CommandError::invalid("listen", format!("{listen:?} is not an address like 0.0.0.0:8080 or 127.0.0.1:8080"))
        })?;
        let mut guard = self.state.lock().await;
        if let Some(r) = &guard.0
            && !r.task.is_finished()
        {
            return Err(CommandError::conflict(format!("the server is already running on {}; stop it first", r.addr)));
        }
        let listener = std::net::TcpListener::bind(addr)
            .map_err(|e| CommandError::invalid("listen", format!("cannot listen on {addr}: {e}")))?;
        let bound =
            listener.local_addr().map_err(|e| CommandError::internal(format!("cannot read the bound address: {e}")))?;
        let (stop, stopped) = oneshot::channel::<()>();
        let app = crema_server::router(AppState { service, tls: false, ui_dir });
        let task = tokio::spawn(crema_server::serve(
            listener,
            app,
            None,
            async move {
                let _ = stopped.await;
            },
            STOP_GRACE,
        ));
        tracing::info!("LAN server listening on {bound}");
        *guard = (Some(Running { addr: bound, stop, task }), None);
        Ok(status_for(bound))
    }

    /// The base URL of a loopback-only server on `service` (`http://127.0.0.1:PORT`),
    /// started on a free port at the first call.
    ///
    /// Errors: `internal_error` when no loopback port can be bound.
    pub async fn ensure_loopback(&self, service: Arc<Service>) -> CmdResult<String> {
        if let Some(url) = self.status().await.url {
            return Ok(url);
        }
        match self.start(service, "127.0.0.1:0", None).await {
            Ok(status) => status.url.ok_or_else(|| CommandError::internal("the media server has no address")),
            // Started by a concurrent call meanwhile.
            Err(e) if e.code == crema_service::ErrorCode::Conflict => {
                self.status().await.url.ok_or_else(|| CommandError::internal("the media server stopped"))
            }
            Err(e) => Err(CommandError::internal(format!("cannot start the media server: {}", e.message))),
        }
    }

    /// Stops the server (open connections get 5 s); stopping a stopped server is fine.
    pub async fn stop(&self) -> ServerStatus {
        let running = self.state.lock().await.0.take();
        if let Some(r) = running {
            let _ = r.stop.send(());
            match tokio::time::timeout(STOP_GRACE + Duration::from_secs(2), r.task).await {
                Ok(Ok(Err(e))) => tracing::warn!("LAN server: {e}"),
                Err(_) => tracing::warn!("LAN server did not stop in time"),
                _ => {}
            }
            tracing::info!("LAN server on {} stopped", r.addr);
        }
        ServerStatus::default()
    }
}

fn status_for(addr: SocketAddr) -> ServerStatus {
    let (local_url, lan_url) = if addr.ip().is_unspecified() {
        let local = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), addr.port());
        (format!("http://{local}"), lan_ip().map(|ip| format!("http://{}", SocketAddr::new(ip, addr.port()))))
    } else {
        let lan = (!addr.ip().is_loopback()).then(|| format!("http://{addr}"));
        (format!("http://{addr}"), lan)
    };
    ServerStatus {
        running: true,
        listen: Some(addr.to_string()),
        url: Some(lan_url.clone().unwrap_or_else(|| local_url.clone())),
        local_url: Some(local_url),
        lan_url,
        error: None,
    }
}

/// Writes the web UI embedded in the app (what the window shows) into `dir`,
/// replacing what was there, so the LAN server can serve it to browsers.
///
/// Errors: the folder cannot be written.
pub fn export_ui<R: tauri::Runtime>(app: &tauri::AppHandle<R>, dir: &Path) -> std::io::Result<()> {
    let resolver = app.asset_resolver();
    let tmp = dir.with_extension("tmp");
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp)?;
    let keys: Vec<String> = resolver.iter().map(|(k, _)| k.into_owned()).collect();
    for key in keys {
        let rel = Path::new(key.trim_start_matches('/'));
        if rel.as_os_str().is_empty() || !rel.components().all(|c| matches!(c, Component::Normal(_))) {
            continue;
        }
        // `get` gives the decompressed bytes.
        let Some(asset) = resolver.get(key.clone()) else { continue };
        let path = tmp.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(path, asset.bytes)?;
    }
    let _ = std::fs::remove_dir_all(dir);
    std::fs::rename(&tmp, dir)
}

/// This machine's address on the default route: a connected UDP socket
/// (nothing is sent) reports the local address the OS would use.
fn lan_ip() -> Option<IpAddr> {
    let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).ok()?;
    socket.connect((Ipv4Addr::new(192, 0, 2, 1), 9)).ok()?;
    let ip = socket.local_addr().ok()?.ip();
    (!ip.is_unspecified() && !ip.is_loopback()).then_some(ip)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_for_loopback_and_all_interfaces() {
        let s = status_for("127.0.0.1:8080".parse().unwrap());
        assert_eq!(s.url.as_deref(), Some("http://127.0.0.1:8080"));
        assert_eq!(s.lan_url, None);
        let s = status_for("0.0.0.0:9000".parse().unwrap());
        assert_eq!(s.local_url.as_deref(), Some("http://127.0.0.1:9000"));
        assert!(s.lan_url.as_ref().is_none_or(|u| u.ends_with(":9000")));
        assert_eq!(s.url, s.lan_url.or(s.local_url));
    }

    /// Start, a refused second start, a real HTTP request, stop.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn starts_serves_and_stops() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let dir = tempfile::tempdir().unwrap();
        let mut config = crema_service::Config::new(dir.path());
        config.workers = 0;
        let service = Arc::new(Service::open(config).await.unwrap());
        let server = LanServer::default();
        assert_eq!(
            server.start(service.clone(), "not an address", None).await.unwrap_err().code,
            crema_service::ErrorCode::ValidationError
        );

        let status = server.start(service.clone(), "127.0.0.1:0", None).await.unwrap();
        assert!(status.running);
        let url = status.url.clone().unwrap();
        assert_eq!(server.status().await, status);
        assert_eq!(
            server.start(service.clone(), "127.0.0.1:0", None).await.unwrap_err().code,
            crema_service::ErrorCode::Conflict
        );

        let addr = status.listen.unwrap();
        let mut conn = tokio::net::TcpStream::connect(&addr).await.unwrap();
        conn.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await.unwrap();
        let mut reply = String::new();
        conn.read_to_string(&mut reply).await.unwrap();
        assert!(reply.starts_with("HTTP/1.1 200"), "{url}: {reply}");

        assert!(!server.stop().await.running);
        assert!(!server.status().await.running);
        assert!(tokio::net::TcpStream::connect(&addr).await.is_err());
        service.shutdown(Duration::ZERO).await;
    }
}
