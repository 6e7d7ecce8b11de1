//! `crema serve` (the `/v1` API on the LAN) and `crema keys` (API keys).
//! (`crema watch` is in `watch.rs`.)
//! Both are thin: options → [`crema_service::Config`] → service / admin calls.

use clap::{Args, Subcommand};
use crema_server::{AppState, TlsFiles};
use crema_service::{Admin, Config, Service};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Where the data lives (shared by `serve` and `keys`).
#[derive(Args, Clone)]
pub struct DataDirArg {
    /// Data folder: database, uploads, outputs, server secret. Default: the
    /// platform data folder (`~/.local/share/crema` on Linux).
    #[arg(long, env = "CREMA_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Database: an SQLite file path (`sqlite:PATH` too) or a
    /// `postgres://user:password@host/name` URL that several `crema serve`
    /// nodes share (farm mode). Default `<data dir>/crema.db`.
    #[arg(long, env = "CREMA_DATABASE_URL", value_name = "URL|PATH", hide_env_values = true)]
    pub database: Option<crema_service::Database>,
}

impl DataDirArg {
    /// The data folder: `--data-dir`, `CREMA_DATA_DIR`, else the platform default.
    pub(crate) fn resolve(&self) -> Result<PathBuf, String> {
        self.data_dir
            .clone()
            .or_else(Config::default_data_dir)
            .ok_or_else(|| "no home folder to put data in: pass --data-dir".to_string())
    }

    /// Opens the store-only handle of `crema keys` / `crema watch`.
    pub(crate) async fn admin(&self) -> Result<Admin, String> {
        Admin::open(&self.resolve()?, self.database.as_ref()).await.map_err(|e| e.to_string())
    }
}

/// `crema serve` options.
#[derive(Args)]
pub struct ServeArgs {
    /// Address to listen on. The default takes connections from this machine
    /// only; `0.0.0.0:8080` serves the LAN (use TLS or a trusted network).
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR:PORT")]
    pub listen: SocketAddr,
    #[command(flatten)]
    pub data: DataDirArg,
    /// Encodes run at once (default: the core count, at most 4).
    #[arg(long)]
    pub workers: Option<usize>,
    /// Video decoder for every job: software (default), auto (the platform's hardware
    /// decoders in order, software when none opens) or one back-end by name.
    #[arg(long, default_value = "software", value_parser = ["software", "auto", "nvdec", "vaapi", "videotoolbox", "d3d11va"])]
    pub decoder: String,
    /// Runs a job may use in all (first run + retries); default 2 (one retry).
    #[arg(long, default_value_t = 2)]
    pub max_attempts: u32,
    /// Folder under which `{"type": "path"}` sources are allowed (repeatable).
    #[arg(long = "source-root", value_name = "DIR")]
    pub source_roots: Vec<PathBuf>,
    /// Where outputs go (default `<data dir>/outputs`).
    #[arg(long, value_name = "DIR")]
    pub output_dir: Option<PathBuf>,
    /// Hours a completed job's output is kept; 0 keeps outputs forever.
    #[arg(long, default_value_t = 168)]
    pub retention_hours: u64,
    /// Webhook targets allowed although private (CIDR, repeatable), e.g. `192.168.1.0/24`.
    /// Loopback, link-local, multicast and cloud metadata addresses stay refused unless listed.
    #[arg(long = "webhook-allow", value_name = "CIDR")]
    pub webhook_allow: Vec<ipnet::IpNet>,
    /// PEM certificate chain: serve HTTPS (with --tls-key).
    #[arg(long, requires = "tls_key", value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, requires = "tls_cert", value_name = "FILE")]
    pub tls_key: Option<PathBuf>,
    /// The built web UI to serve at `/` (default: `$CREMA_UI_DIR`, then
    /// `share/crema/ui` beside the binary's folder, then the repository's `ui/dist`).
    #[arg(long, value_name = "DIR")]
    pub ui_dir: Option<PathBuf>,
    /// Store outputs in S3-compatible object storage instead of the data
    /// folder: `s3://BUCKET/PREFIX?endpoint=https://…&region=auto` (credentials
    /// from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or `credentials_file=`).
    /// `GET /v1/jobs/{id}/output` then redirects to a presigned URL.
    #[arg(long, env = "CREMA_OBJECT_STORE", value_name = "URL")]
    pub object_store: Option<crema_service::objects::ObjectStoreUrl>,
    /// This node's name in a farm, recorded on the jobs it runs and listed
    /// by `GET /v1/nodes` (default: the host name).
    #[arg(long, env = "CREMA_NODE_NAME", value_name = "NAME")]
    pub node_name: Option<String>,
    /// Seconds a running job stays this node's without a heartbeat; another
    /// node requeues it after that (renewed every third of it).
    #[arg(long, default_value_t = 30, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(3..=3600))]
    pub lease_seconds: u64,
    /// Seconds running jobs get to finish after SIGTERM/Ctrl-C before they are requeued.
    #[arg(long, default_value_t = 30)]
    pub grace_seconds: u64,
    /// Most client connections open at once (default: half the descriptors
    /// left after 256, at most 4096). At the cap, the connection idle the
    /// longest is closed to make room for a new one.
    #[arg(long, env = "CREMA_MAX_CONNECTIONS", value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_connections: Option<u64>,
    /// Seconds a new connection may take to send its first byte.
    #[arg(long, env = "CREMA_FIRST_BYTE_TIMEOUT", default_value_t = 5, value_name = "SECONDS",
          value_parser = clap::value_parser!(u64).range(1..))]
    pub first_byte_timeout: u64,
    /// Seconds a connection may stay open with no request in flight (keep-alive
    /// between requests, or a request head still arriving).
    #[arg(long, env = "CREMA_IDLE_TIMEOUT", default_value_t = 30, value_name = "SECONDS",
          value_parser = clap::value_parser!(u64).range(1..))]
    pub idle_timeout: u64,
    /// Seconds a request body may pause before the request fails with 400.
    #[arg(long, env = "CREMA_BODY_TIMEOUT", default_value_t = 60, value_name = "SECONDS",
          value_parser = clap::value_parser!(u64).range(1..))]
    pub body_timeout: u64,
    /// Requests per second per API key (per address without a key); 0 turns
    /// rate limiting off. Over it: 429 `rate_limited` with Retry-After.
    #[arg(long, env = "CREMA_RATE_LIMIT", value_name = "N",
          default_value_t = crema_server::rate_limit::RateLimitOptions::default().per_second)]
    pub rate_limit: u32,
    /// Requests a key or address may send at once before --rate-limit applies.
    #[arg(long, env = "CREMA_RATE_BURST", value_name = "N",
          default_value_t = crema_server::rate_limit::RateLimitOptions::default().burst,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub rate_burst: u32,
    /// Rate-limit loopback peers too (by default this machine is never limited).
    #[arg(long, env = "CREMA_RATE_LIMIT_LOOPBACK")]
    pub rate_limit_loopback: bool,
}

/// `crema keys` subcommands.
#[derive(Subcommand)]
pub enum KeysCommand {
    /// Create an API key; it is printed once and stored only as a hash.
    Create {
        /// A name to recognise the key by (who or what uses it).
        name: String,
        #[command(flatten)]
        data: DataDirArg,
    },
    /// Add a key made elsewhere (a container secret, another machine's
    /// `keys create`), read from a file; only its hash is stored. A key
    /// already present is left as it is, so this may run on every start.
    Import {
        /// A name to recognise the key by (who or what uses it).
        name: String,
        /// File holding the key (`crema_sk_` + 64 hex digits, surrounding
        /// white space ignored), e.g. a mounted secret; `-` reads standard input.
        #[arg(long, value_name = "FILE")]
        key_file: PathBuf,
        #[command(flatten)]
        data: DataDirArg,
    },
    /// List keys (prefix, name, dates; never the key itself).
    List {
        #[command(flatten)]
        data: DataDirArg,
        /// JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key by ID or prefix; requests with it fail at once.
    Revoke {
        /// Key ID (`key_…`) or its visible prefix (`crema_sk_…`).
        key: String,
        #[command(flatten)]
        data: DataDirArg,
    },
}

/// A multi-thread tokio runtime for one CLI command.
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|e| format!("cannot start: {e}"))
}

/// Runs `crema serve`; returns the process exit code.
pub fn serve(args: ServeArgs) -> u8 {
    match runtime().and_then(|rt| rt.block_on(serve_async(args))) {
        Ok(()) => crate::exit::OK,
        Err(e) => {
            eprintln!("crema serve: {e}");
            crate::exit::FAILED
        }
    }
}

async fn serve_async(args: ServeArgs) -> Result<(), String> {
    // Before anything opens a descriptor; the default connection cap is read from it.
    let fd_limit = crema_server::raise_fd_limit();
    let data_dir = args.data.resolve()?;
    let mut config = Config::new(&data_dir);
    if let Some(w) = args.workers {
        config.workers = w;
    }
    config.max_attempts = args.max_attempts;
    config.decoder =
        crema_engine::hw_decode::DecodePreference::parse(&args.decoder).expect("clap restricts the values");
    config.source_roots = args.source_roots.clone();
    config.output_dir = args.output_dir.clone();
    config.profile_dir = crema_engine::profile::user_profile_dir();
    config.output_retention = (args.retention_hours > 0).then(|| Duration::from_secs(args.retention_hours * 3600));
    config.webhooks.allow = args.webhook_allow.clone();
    config.database = args.data.database.clone();
    config.object_store = args.object_store.clone();
    if let Some(name) = &args.node_name {
        config.node_name = name.clone();
    }
    config.lease = Duration::from_secs(args.lease_seconds);
    // Bind before opening the service: a busy port fails fast and touches nothing.
    let listener =
        std::net::TcpListener::bind(args.listen).map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
    let service = Arc::new(Service::open(config).await.map_err(|e| e.to_string())?);
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(TlsFiles { cert: cert.clone(), key: key.clone() }),
        _ => None,
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    println!("crema serve: listening on {scheme}://{local} (data in {})", data_dir.display());
    println!("  API:     {scheme}://{local}/v1   (OpenAPI: /v1/openapi.json)");
    println!("  health:  {scheme}://{local}/healthz, /readyz");
    println!("  create an API key: crema keys create NAME --data-dir {}", data_dir.display());
    let options = crema_server::ServeOptions {
        max_connections: args.max_connections.map(|n| usize::try_from(n).unwrap_or(usize::MAX)),
        first_byte_timeout: Duration::from_secs(args.first_byte_timeout),
        idle_timeout: Duration::from_secs(args.idle_timeout),
        body_idle_timeout: Duration::from_secs(args.body_timeout),
        rate_limit: crema_server::rate_limit::RateLimitOptions {
            per_second: args.rate_limit,
            burst: args.rate_burst,
            limit_loopback: args.rate_limit_loopback,
        },
    };
    let cap = options.max_connections.unwrap_or_else(crema_server::listener::default_max_connections);
    let fds = match fd_limit {
        Ok(Some(n)) => format!("descriptor limit {n}"),
        Ok(None) => "no descriptor limit".to_string(),
        Err(e) => format!("descriptor limit not raised: {e}"),
    };
    let rate = match args.rate_limit {
        0 => "rate limit off".to_string(),
        n => format!("rate limit {n}/s per key or address, burst {}", args.rate_burst),
    };
    println!("  limits:  {cap} connections ({fds}), {rate}");
    if local.ip().is_unspecified() && tls.is_none() {
        println!("  note: serving the LAN over plain HTTP; API keys cross the network in clear (see README)");
    }

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let ui_dir = args.ui_dir.clone().or_else(default_ui_dir).filter(|d| d.join("index.html").is_file());
    match &ui_dir {
        Some(d) => println!("  web UI:  {scheme}://{local}/   (from {})", d.display()),
        None => println!("  web UI:  not built (npm --prefix ui ci && npm --prefix ui run build), API only"),
    }
    let app = crema_server::router(AppState { service: service.clone(), tls: tls.is_some(), ui_dir });
    let mut http_stop = stop_rx.clone();
    let server = tokio::spawn(crema_server::serve_with(
        listener,
        app,
        tls,
        async move {
            let _ = http_stop.wait_for(|s| *s).await;
        },
        Duration::from_secs(5),
        options,
    ));
    let mut server = server;
    tokio::select! {
        _ = shutdown_signal() => {}
        r = &mut server => {
            return match r {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(e.to_string()),
                Err(e) => Err(e.to_string()),
            };
        }
    }
    // Drain: /readyz says `draining` while running jobs finish or are requeued.
    println!("crema serve: stopping; running jobs get {} s to finish, then are requeued", args.grace_seconds);
    service.drain(Duration::from_secs(args.grace_seconds)).await;
    let _ = stop_tx.send(true);
    let served = server.await;
    service.shutdown(Duration::ZERO).await;
    match served {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(e) => Err(e.to_string()),
    }
}

/// Where the built UI usually is: `$CREMA_UI_DIR`, an installed
/// `<prefix>/share/crema/ui` beside `<prefix>/bin/crema`, or this repository's `ui/dist`.
fn default_ui_dir() -> Option<PathBuf> {
    let env = std::env::var_os("CREMA_UI_DIR").map(PathBuf::from);
    let installed = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().and_then(|bin| bin.parent()).map(|p| p.join("share/crema/ui")));
    let repo = Some(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("ui/dist"));
    [env, installed, repo].into_iter().flatten().find(|d| d.join("index.html").is_file())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(t) => t,
            Err(_) => {
                let _ = ctrl_c.await;
                return;
            }
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

/// Runs `crema keys …`; returns the process exit code.
pub fn keys(cmd: KeysCommand) -> u8 {
    match runtime().and_then(|rt| rt.block_on(keys_async(cmd))) {
        Ok(()) => crate::exit::OK,
        Err(e) => {
            eprintln!("crema keys: {e}");
            crate::exit::FAILED
        }
    }
}

fn date(t: Option<time::OffsetDateTime>) -> String {
    t.and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok()).unwrap_or_else(|| "-".into())
}

async fn keys_async(cmd: KeysCommand) -> Result<(), String> {
    match cmd {
        KeysCommand::Create { name, data } => {
            let admin = data.admin().await?;
            let k = admin.create_key(&name).await.map_err(|e| e.to_string())?;
            println!("{}", k.key);
            eprintln!("key {} ({}) created for {:?}. It is shown only now: store it safely.", k.id, k.prefix, k.name);
            eprintln!("Use it as `Authorization: Bearer <key>`.");
        }
        KeysCommand::Import { name, key_file, data } => {
            let key = if key_file.as_os_str() == "-" {
                std::io::read_to_string(std::io::stdin()).map_err(|e| format!("standard input: {e}"))?
            } else {
                std::fs::read_to_string(&key_file).map_err(|e| format!("{}: {e}", key_file.display()))?
            };
            let admin = data.admin().await?;
            let imported = admin.import_key(&name, &key).await.map_err(|e| e.to_string())?;
            let k = &imported.key;
            if imported.created {
                eprintln!("key {} ({}) imported for {:?}.", k.id, k.prefix, k.name);
            } else {
                eprintln!("key {} ({}, {:?}) is already present; nothing changed.", k.id, k.prefix, k.name);
            }
        }
        KeysCommand::List { data, json } => {
            let admin = data.admin().await?;
            let keys = admin.list_keys().await.map_err(|e| e.to_string())?;
            if json {
                println!("{}", serde_json::to_string_pretty(&keys).map_err(|e| e.to_string())?);
            } else {
                println!("{:<38} {:<16} {:<22} {:<26} {:<26} revoked", "id", "prefix", "name", "created", "last used");
                for k in keys {
                    println!(
                        "{:<38} {:<16} {:<22} {:<26} {:<26} {}",
                        k.id,
                        k.prefix,
                        k.name,
                        date(Some(k.created_at)),
                        date(k.last_used_at),
                        date(k.revoked_at)
                    );
                }
            }
        }
        KeysCommand::Revoke { key, data } => {
            let admin = data.admin().await?;
            let k = admin.revoke_key(&key).await.map_err(|e| e.to_string())?;
            println!("revoked {} ({}, {:?})", k.id, k.prefix, k.name);
        }
    }
    Ok(())
}
