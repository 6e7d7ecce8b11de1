//! The Tauri commands: each deserializes its arguments, calls one service
//! (or shell) method and serializes the result. Arguments are snake_case on
//! the JS side (`invoke('move_job', {id, position})`). Errors reject the
//! promise with `{code, message}` ([`CommandError`]).

use crate::error::{CmdResult, CommandError};
use crate::server::ServerStatus;
use crate::settings::Settings;
use crate::state::Desktop;
use base64::Engine as _;
use crema_service::{
    ApiKey, ApiKeyCreated, DownloadTarget, Job, JobSpec, JobStatus, MovePosition, Page, ProfileList, SourceFacts,
};
use serde::Serialize;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tauri::ipc::Channel;
use tauri::{AppHandle, State, Webview};
use tauri_plugin_opener::OpenerExt;

type Ctx<'a> = State<'a, Desktop>;

/// `list_profiles` → the `GET /v1/profiles` body `{profiles: [...]}`.
#[tauri::command(rename_all = "snake_case")]
pub async fn list_profiles(state: Ctx<'_>) -> CmdResult<ProfileList> {
    Ok(state.service.profile_list())
}

/// `list_jobs {status?, limit?, cursor?}` → `{jobs, next_cursor, has_more}`, newest first.
#[tauri::command(rename_all = "snake_case")]
pub async fn list_jobs(
    state: Ctx<'_>,
    status: Option<String>,
    limit: Option<u32>,
    cursor: Option<String>,
) -> CmdResult<Page> {
    let status = status
        .map(|s| {
            JobStatus::parse(&s).ok_or_else(|| {
                let known: Vec<_> = JobStatus::ALL.iter().map(|s| s.as_str()).collect();
                CommandError::invalid("status", format!("{s:?} is not one of {}", known.join(", ")))
            })
        })
        .transpose()?;
    Ok(state.service.list(status, limit, cursor.as_deref()).await?)
}

/// `get_job {id}` → the Job.
#[tauri::command(rename_all = "snake_case")]
pub async fn get_job(state: Ctx<'_>, id: String) -> CmdResult<Job> {
    Ok(state.service.get(&id).await?)
}

/// `submit_job {spec}` (a `POST /v1/jobs` body; desktop jobs use
/// `{"type": "path", "path": "/abs/file"}` sources) → the queued Job.
#[tauri::command(rename_all = "snake_case")]
pub async fn submit_job(state: Ctx<'_>, spec: Value) -> CmdResult<Job> {
    let spec: JobSpec = serde_json::from_value(spec).map_err(|e| CommandError::invalid("spec", e))?;
    Ok(state.service.submit(spec, crema_service::Origin::Local).await?)
}

/// `cancel_job {id}` → the canceled Job.
#[tauri::command(rename_all = "snake_case")]
pub async fn cancel_job(state: Ctx<'_>, id: String) -> CmdResult<Job> {
    Ok(state.service.cancel(&id).await?)
}

/// `retry_job {id}` → the requeued Job.
#[tauri::command(rename_all = "snake_case")]
pub async fn retry_job(state: Ctx<'_>, id: String) -> CmdResult<Job> {
    Ok(state.service.retry(&id).await?)
}

/// `remove_job {id}` → `null`: a finished job leaves the list with its output.
#[tauri::command(rename_all = "snake_case")]
pub async fn remove_job(state: Ctx<'_>, id: String) -> CmdResult<()> {
    Ok(state.service.remove_job(&id).await?)
}

/// `move_job {id, position}` with `position` `"top"`, `"bottom"` or
/// `{"before": "job_…"}` → the moved Job.
#[tauri::command(rename_all = "snake_case")]
pub async fn move_job(state: Ctx<'_>, id: String, position: Value) -> CmdResult<Job> {
    let position: MovePosition = serde_json::from_value(position)
        .map_err(|_| CommandError::invalid("position", "must be \"top\", \"bottom\" or {\"before\": \"job_…\"}"))?;
    Ok(state.service.move_job(&id, &position).await?)
}

/// What `probe_file` returns.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ProbedFile {
    /// What the file is (resolution, frame rate, duration, codec, bit depth, HDR, audio tracks).
    pub facts: SourceFacts,
    /// `data:image/jpeg;base64,…` poster frame, `null` when none could be made.
    pub thumbnail: Option<String>,
}

/// `probe_file {path}` → `{facts, thumbnail}` for a dropped or picked file.
#[tauri::command(rename_all = "snake_case")]
pub async fn probe_file(state: Ctx<'_>, path: String) -> CmdResult<ProbedFile> {
    let path = existing_path(&path)?;
    let facts = state.service.probe_facts(&path).await?;
    let thumbnail = match state.service.thumbnail_jpeg(&path).await {
        Ok(jpeg) => Some(format!("data:image/jpeg;base64,{}", base64::engine::general_purpose::STANDARD.encode(jpeg))),
        Err(e) => {
            tracing::debug!("{}: no thumbnail: {e}", path.display());
            None
        }
    };
    Ok(ProbedFile { facts, thumbnail })
}

/// How long a `playback_url` stays valid.
const PLAYBACK_TTL: std::time::Duration = std::time::Duration::from_secs(12 * 3600);

/// `playback_url {id}` → a URL the window's `<video>` or hls.js can load: a
/// signed `/v1/downloads/…` URL (the file, or the HLS package's
/// `master.m3u8`) on a loopback-only server the app starts on first use.
/// WebKitGTK's media player cannot read Tauri's `asset:` scheme (upstream
/// WebKit bug 146351; tauri-apps/tauri#3725), but streams HTTP with ranges.
#[tauri::command(rename_all = "snake_case")]
pub async fn playback_url(state: Ctx<'_>, id: String) -> CmdResult<String> {
    let job = state.service.get(&id).await?;
    if job.output.state != crema_service::OutputState::Available || job.output.expired || job.output.path.is_none() {
        return Err(CommandError::conflict(format!("job {id} has no output to play (output is {})", job.output.state)));
    }
    let base = state.media.ensure_loopback(Arc::clone(&state.service)).await?;
    let hls = job.output.hls.is_some();
    let target = if hls { DownloadTarget::HlsFolder { job_id: id } } else { DownloadTarget::File { job_id: id } };
    let token = state.service.sign_download(&target, PLAYBACK_TTL);
    Ok(format!("{base}/v1/downloads/{token}{}", if hls { "/master.m3u8" } else { "" }))
}

/// `job_waveform {id}` → the bytes of the job's waveform file
/// (`output.waveform`: BBC audiowaveform `.dat` or JSON), as a raw IPC
/// response (an `ArrayBuffer` in the window, no JSON array of numbers).
#[tauri::command(rename_all = "snake_case")]
pub async fn job_waveform(state: Ctx<'_>, id: String) -> CmdResult<tauri::ipc::Response> {
    let job = state.service.get(&id).await?;
    let Some(path) = job.output.waveform.as_ref().and_then(|w| w.path.clone()).filter(|_| !job.output.expired) else {
        return Err(CommandError::conflict(format!("job {id} has no waveform")));
    };
    let bytes = tokio::fs::read(&path)
        .await
        .map_err(|e| CommandError::internal(format!("cannot read the waveform of job {id}: {e}")))?;
    Ok(tauri::ipc::Response::new(bytes))
}

/// `open_path {path}`: opens a file or folder with the system's default
/// application (an output in the video player, an HLS folder in the file manager).
#[tauri::command(rename_all = "snake_case")]
pub async fn open_path(app: AppHandle, path: String) -> CmdResult<()> {
    let path = existing_path(&path)?;
    refuse_executable(&path)?;
    let shown = path.display().to_string();
    tokio::task::spawn_blocking(move || app.opener().open_path(shown, None::<&str>))
        .await?
        .map_err(|e| CommandError::internal(format!("cannot open {}: {e}", path.display())))
}

/// `reveal_path {path}`: shows the file selected in the file manager.
#[tauri::command(rename_all = "snake_case")]
pub async fn reveal_path(app: AppHandle, path: String) -> CmdResult<()> {
    let path = existing_path(&path)?;
    let p = path.clone();
    tokio::task::spawn_blocking(move || app.opener().reveal_item_in_dir(p))
        .await?
        .map_err(|e| CommandError::internal(format!("cannot show {} in the file manager: {e}", path.display())))
}

/// `subscribe {on_event}` → a subscription ID. Every job event reaches
/// `on_event` as `{type, data}` (see `events.rs`) until `unsubscribe` or a
/// page load.
#[tauri::command(rename_all = "snake_case")]
pub async fn subscribe(
    state: Ctx<'_>,
    webview: Webview,
    on_event: Channel<crema_service::EventMessage>,
) -> CmdResult<u64> {
    // Async commands run on Tauri's tokio runtime.
    let task = tokio::spawn(crate::events::forward(state.service.subscribe(), on_event));
    Ok(state.subscriptions.add(webview.label(), task))
}

/// `unsubscribe {id}` → whether the subscription existed.
#[tauri::command(rename_all = "snake_case")]
pub async fn unsubscribe(state: Ctx<'_>, id: u64) -> CmdResult<bool> {
    Ok(state.subscriptions.remove(id))
}

/// What `settings_get` and `settings_set` return: the saved settings plus
/// whether the running service still uses older values.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SettingsReply {
    /// The saved settings.
    #[serde(flatten)]
    pub settings: Settings,
    /// True when `concurrent_jobs`, `output_dir`, `encoder` or `decoder` differ
    /// from what the service was started with: they apply when the app starts again.
    pub restart_required: bool,
}

fn reply(state: &Desktop, settings: Settings) -> SettingsReply {
    let restart_required = settings.concurrent_jobs != state.applied.concurrent_jobs
        || settings.output_dir != state.applied.output_dir
        || settings.encoder != state.applied.encoder
        || settings.decoder != state.applied.decoder;
    SettingsReply { settings, restart_required }
}

/// `settings_get` → `{concurrent_jobs, output_dir, encoder, decoder, restart_required}`.
#[tauri::command(rename_all = "snake_case")]
pub async fn settings_get(state: Ctx<'_>) -> CmdResult<SettingsReply> {
    let settings = state.settings.lock().unwrap_or_else(|e| e.into_inner()).clone();
    Ok(reply(&state, settings))
}

/// `settings_set {settings}` → as `settings_get`, after validating and saving.
#[tauri::command(rename_all = "snake_case")]
pub async fn settings_set(state: Ctx<'_>, settings: Value) -> CmdResult<SettingsReply> {
    let settings = Settings::from_ui(settings)?;
    let file = state.paths.settings_file();
    let to_save = settings.clone();
    tokio::task::spawn_blocking(move || to_save.save(&file)).await??;
    *state.settings.lock().unwrap_or_else(|e| e.into_inner()) = settings.clone();
    Ok(reply(&state, settings))
}

/// One encoder back-end as `encoders` reports it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct EncoderInfo {
    /// The `--encoder` / settings value (`software`, `nvenc`, `vaapi`…).
    pub name: &'static str,
    /// The encoder family (`software`, `nvenc`, `qsv`, `vaapi`,
    /// `videotoolbox`, `amf`).
    pub backend: &'static str,
    /// FFmpeg's encoder name for HEVC on it (`libx265`, `hevc_nvenc`…).
    pub encoder: &'static str,
    /// True when the encoder is linked and the device opened.
    pub available: bool,
    /// One line saying why (not): "hevc_nvenc is not in this FFmpeg build".
    pub reason: String,
}

/// `encoders` → every encoder back-end with whether it is usable here and
/// why: `[{name, backend, encoder, available, reason}]` (HEVC, as `crema encoders --json`).
#[tauri::command(rename_all = "snake_case")]
pub async fn encoders() -> CmdResult<Vec<EncoderInfo>> {
    let list =
        tokio::task::spawn_blocking(|| crema_engine::encoder::detect_all(crema_engine::profile::VideoCodec::Hevc))
            .await?;
    Ok(list
        .into_iter()
        .map(|d| EncoderInfo {
            name: d.backend.cli_name(),
            backend: d.backend.cli_name(),
            encoder: d.encoder,
            available: d.available,
            reason: d.reason,
        })
        .collect())
}

/// `server_status` → `{running, listen, url, lan_url, error}`.
#[tauri::command(rename_all = "snake_case")]
pub async fn server_status(state: Ctx<'_>) -> CmdResult<ServerStatus> {
    Ok(state.server.status().await)
}

/// `server_start {listen}` (`"0.0.0.0:8080"`) → the status with its URL.
/// Browsers get the same web UI as the window: `CREMA_UI_DIR` when set, else
/// the window's embedded build written to `<data dir>/desktop-ui/`.
#[tauri::command(rename_all = "snake_case")]
pub async fn server_start(app: AppHandle, state: Ctx<'_>, listen: String) -> CmdResult<ServerStatus> {
    let ui_dir = match std::env::var_os("CREMA_UI_DIR").map(PathBuf::from) {
        Some(dir) => Some(dir),
        None => {
            let dir = state.paths.data_dir.join("desktop-ui");
            let target = dir.clone();
            match tokio::task::spawn_blocking(move || crate::server::export_ui(&app, &target)).await? {
                Ok(()) => Some(dir),
                Err(e) => {
                    tracing::warn!("LAN server without the web UI: cannot write {}: {e}", dir.display());
                    None
                }
            }
        }
    };
    state.server.start(Arc::clone(&state.service), &listen, ui_dir).await
}

/// `server_stop` → the (stopped) status.
#[tauri::command(rename_all = "snake_case")]
pub async fn server_stop(state: Ctx<'_>) -> CmdResult<ServerStatus> {
    Ok(state.server.stop().await)
}

/// One API key as `keys_list` reports it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct KeyInfo {
    /// `id`, `name`, `prefix`, `created_at`, `last_used_at`, `revoked_at`.
    #[serde(flatten)]
    pub key: ApiKey,
    /// Whether the key was revoked (`revoked_at` is set).
    pub revoked: bool,
}

/// `keys_list` → API keys without secrets, oldest first.
#[tauri::command(rename_all = "snake_case")]
pub async fn keys_list(state: Ctx<'_>) -> CmdResult<Vec<KeyInfo>> {
    let keys = state.service.list_keys().await?;
    Ok(keys.into_iter().map(|key| KeyInfo { revoked: key.revoked_at.is_some(), key }).collect())
}

/// `keys_create {name}` → the key with its secret (shown once).
#[tauri::command(rename_all = "snake_case")]
pub async fn keys_create(state: Ctx<'_>, name: String) -> CmdResult<ApiKeyCreated> {
    Ok(state.service.create_key(&name).await?)
}

/// `keys_revoke {id}` (ID or visible prefix) → the revoked key.
#[tauri::command(rename_all = "snake_case")]
pub async fn keys_revoke(state: Ctx<'_>, id: String) -> CmdResult<ApiKey> {
    Ok(state.service.revoke_key(&id).await?)
}

/// `app_info` → `{version, data_dir, output_dir, settings_file}`.
#[tauri::command(rename_all = "snake_case")]
pub async fn app_info(state: Ctx<'_>) -> CmdResult<Value> {
    Ok(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "data_dir": state.paths.data_dir,
        "output_dir": state.service.config().resolved_output_dir(),
        "settings_file": state.paths.settings_file(),
    }))
}

/// An absolute path that exists.
fn existing_path(path: &str) -> CmdResult<PathBuf> {
    let p = PathBuf::from(path);
    if !p.is_absolute() {
        return Err(CommandError::invalid("path", format!("{path} is not an absolute path")));
    }
    if !p.exists() {
        return Err(CommandError::not_found(format!("{path} does not exist (moved or deleted?)")));
    }
    Ok(p)
}

/// `open_path` opens media and folders, never programs: a file with an
/// execute bit (or a `.desktop` launcher) is refused.
fn refuse_executable(path: &Path) -> CmdResult<()> {
    let launcher = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("desktop"));
    #[cfg(unix)]
    let exec = {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    #[cfg(not(unix))]
    let exec = false;
    if launcher || exec {
        return Err(CommandError::invalid(
            "path",
            format!("{} is a program; Crema opens only media files and folders", path.display()),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_checked() {
        assert_eq!(existing_path("relative/file.mp4").unwrap_err().code, crema_service::ErrorCode::ValidationError);
        assert_eq!(existing_path("/no/such/crema/file.mp4").unwrap_err().code, crema_service::ErrorCode::NotFound);
        let dir = tempfile::tempdir().unwrap();
        let media = dir.path().join("a.mp4");
        std::fs::write(&media, b"x").unwrap();
        assert!(refuse_executable(&media).is_ok());
        assert!(refuse_executable(dir.path()).is_ok());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let prog = dir.path().join("run.sh");
            std::fs::write(&prog, b"#!/bin/sh\n").unwrap();
            std::fs::set_permissions(&prog, std::fs::Permissions::from_mode(0o755)).unwrap();
            assert_eq!(refuse_executable(&prog).unwrap_err().code, crema_service::ErrorCode::ValidationError);
        }
    }
}
