//! Building and running the app: plugins, the service, window events, exit.

use crate::error::CommandError;
use crate::events::Subscriptions;
use crate::paths::Paths;
use crate::server::LanServer;
use crate::settings::Settings;
use crate::state::Desktop;
use crema_service::{Config, Service};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tauri::webview::PageLoadEvent;
use tauri::{Manager, RunEvent, Window, WindowEvent};
use tauri_plugin_dialog::{DialogExt, MessageDialogButtons, MessageDialogKind};

/// Why the app could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Tauri could not build or run the app (no display, WebKit missing).
    #[error("{0}")]
    Tauri(#[from] tauri::Error),
}

/// The service configuration for the desktop: the settings' worker count
/// and output folder, the user's profile folder.
fn service_config(paths: &Paths, settings: &Settings) -> Config {
    let mut config = Config::new(&paths.data_dir);
    config.workers = settings.concurrent_jobs;
    config.output_dir = settings.output_dir.clone();
    config.profile_dir = crema_engine::profile::user_profile_dir();
    // The window's own jobs go through `Service::submit` as `Origin::Local` (any file the
    // user can read); API-key holders of the LAN server started from the app
    // reach no path sources at all (no source roots): they upload.
    config.source_roots = Vec::new();
    if let Some(pref) = crema_engine::encoder::Preference::parse(&settings.encoder) {
        config.encoder = pref;
    }
    if let Some(pref) = crema_engine::hw_decode::DecodePreference::parse(&settings.decoder) {
        config.decoder = pref;
    }
    config
}

/// Opens the service and puts the app state in place.
fn setup(app: &mut tauri::App, files: Vec<std::path::PathBuf>) -> Result<(), Box<dyn std::error::Error>> {
    let paths = Paths::resolve()?;
    let settings = Settings::load(&paths.settings_file());
    let config = service_config(&paths, &settings);
    let service = tauri::async_runtime::block_on(Service::open(config)).map_err(|e| {
        CommandError::internal(format!("cannot open Crema's data in {}: {e}", paths.data_dir.display()))
    })?;
    let service = Arc::new(service);
    // The window plays finished outputs through the asset protocol.
    let output_dir = service.config().resolved_output_dir();
    app.asset_protocol_scope().allow_directory(&output_dir, true)?;
    tracing::info!("data in {}, outputs in {}", paths.data_dir.display(), output_dir.display());
    tauri::async_runtime::spawn(crate::notify::watch_batches(
        app.handle().clone(),
        Arc::clone(&service),
        service.subscribe(),
    ));
    app.manage(Desktop {
        service,
        paths,
        applied: settings.clone(),
        settings: Mutex::new(settings),
        server: LanServer::default(),
        media: LanServer::default(),
        subscriptions: Subscriptions::default(),
        quitting: AtomicBool::new(false),
    });
    crate::open::queue(app.handle(), files);
    Ok(())
}

/// Closing the window while encodes run asks first: stop them (they are
/// requeued and resume at the next start) and quit, or keep the window.
fn on_window_event(window: &Window, event: &WindowEvent) {
    let WindowEvent::CloseRequested { api, .. } = event else { return };
    let Some(state) = window.try_state::<Desktop>() else { return };
    if state.quitting.load(Ordering::SeqCst) {
        return;
    }
    let running = state.service.running_ids().len();
    if running == 0 {
        return;
    }
    api.prevent_close();
    let noun = if running == 1 { "encode" } else { "encodes" };
    let app = window.app_handle().clone();
    window
        .dialog()
        .message(format!(
            "{running} {noun} running. Stopping puts {} back in the queue; {} start again the next time Crema opens.",
            if running == 1 { "it" } else { "them" },
            if running == 1 { "it will" } else { "they will" },
        ))
        .title(format!("Stop {running} {noun} and quit?"))
        .kind(MessageDialogKind::Warning)
        .buttons(MessageDialogButtons::OkCancelCustom("Stop and quit".into(), "Keep encoding".into()))
        .parent(window)
        .show(move |stop| {
            if !stop {
                return;
            }
            let Some(state) = app.try_state::<Desktop>() else { return };
            state.quitting.store(true, Ordering::SeqCst);
            let service = Arc::clone(&state.service);
            let app = app.clone();
            tauri::async_runtime::spawn(async move {
                service.shutdown(Duration::ZERO).await;
                app.exit(0);
            });
        });
}

/// Builds and runs the app until its window closes; `files` (absolute
/// paths from the command line) are queued once the service is open.
///
/// When another instance already runs (same user, D-Bus session bus), this
/// launch hands it its arguments and exits instead (see [`crate::open`]).
///
/// Errors: [`StartError::Tauri`] when the app cannot start (no display,
/// the service cannot open its data folder: the message says which).
pub fn run(files: Vec<std::path::PathBuf>) -> Result<(), StartError> {
    let app = tauri::Builder::default()
        // First, so that a second launch exits before anything else starts.
        .plugin(tauri_plugin_single_instance::init(|app, argv, cwd| {
            crate::open::focus_main(app);
            crate::open::queue(app, crate::open::forwarded(&argv, &cwd));
        }))
        .plugin(tauri_plugin_dialog::init())
        .plugin(tauri_plugin_opener::init())
        .plugin(tauri_plugin_notification::init())
        .setup(move |app| setup(app, files))
        .on_window_event(on_window_event)
        .on_page_load(|webview, payload| {
            if payload.event() == PageLoadEvent::Started
                && let Some(state) = webview.try_state::<Desktop>()
            {
                state.subscriptions.remove_webview(webview.label());
            }
        })
        .invoke_handler(tauri::generate_handler![
            crate::commands::list_profiles,
            crate::commands::list_jobs,
            crate::commands::get_job,
            crate::commands::submit_job,
            crate::commands::cancel_job,
            crate::commands::retry_job,
            crate::commands::remove_job,
            crate::commands::move_job,
            crate::commands::probe_file,
            crate::commands::playback_url,
            crate::commands::job_waveform,
            crate::commands::open_path,
            crate::commands::reveal_path,
            crate::commands::subscribe,
            crate::commands::unsubscribe,
            crate::commands::settings_get,
            crate::commands::settings_set,
            crate::commands::encoders,
            crate::commands::server_status,
            crate::commands::server_start,
            crate::commands::server_stop,
            crate::commands::keys_list,
            crate::commands::keys_create,
            crate::commands::keys_revoke,
            crate::commands::app_info,
            crate::watch::watch_list,
            crate::watch::watch_add,
            crate::watch::watch_remove,
            crate::watch::watch_pause,
            crate::watch::watch_resume,
            crate::watch::watch_events,
        ])
        .build(tauri::generate_context!())?;
    app.run(|handle, event| {
        if let RunEvent::Exit = event
            && let Some(state) = handle.try_state::<Desktop>()
        {
            // Running jobs (if any are left) are requeued; the database is closed cleanly.
            tauri::async_runtime::block_on(async {
                state.server.stop().await;
                state.media.stop().await;
                state.service.shutdown(Duration::ZERO).await;
            });
        }
    });
    Ok(())
}
