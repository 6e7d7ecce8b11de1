//! "Open with Crema": files named on the command line are queued.
//!
//! The desktop entry (`packaging/desktop/crema-desktop.desktop`, installed by
//! the `.deb`/`.rpm`) runs `crema-desktop %F` for the video types it declares,
//! so a file manager passes local paths. At start the app queues them once the
//! service is open; when the app already runs, `tauri-plugin-single-instance`
//! hands the second launch's arguments and working folder to this instance
//! (over the D-Bus session bus on Linux) and the second launch exits, so the
//! files join the running queue instead of opening a second window on the
//! same database. Without a session bus every launch opens its own window.
//!
//! Each file becomes a job through [`crema_service::Service::submit`] as [`crema_service::Origin::Local`]
//! (the same path as the window's `submit_job`) with the UI's default choices:
//! profile [`OPEN_WITH_PROFILE`], MP4, audio kept. The window shows the new
//! jobs through its event channel; a file that cannot be queued is reported in
//! a dialog with the service's message.

use crate::state::Desktop;
use clap::Parser;
use crema_service::JobSpec;
use std::path::{Path, PathBuf};
use tauri::{AppHandle, Manager};
use tauri_plugin_dialog::{DialogExt, MessageDialogKind};

/// The profile of jobs opened from the file manager: the UI's recommended
/// default (`ui/src/lib/profiles.ts`), which picks settings per source.
pub const OPEN_WITH_PROFILE: &str = "sophon-auto";

/// Most files one launch queues (a selection of thousands in a file manager
/// would otherwise probe them all at once).
pub const MAX_FILES: usize = 256;

/// `crema-desktop [FILE]...`: the command line of the desktop app.
#[derive(Parser, Debug)]
#[command(
    name = "crema-desktop",
    version,
    about = "Crema's desktop app: files named here are added to the queue (MP4, profile sophon-auto)"
)]
pub struct Launch {
    /// Video files to queue; relative paths are taken from the working folder.
    pub files: Vec<PathBuf>,
}

/// Absolute paths of `files`, relative ones taken from `cwd`, without
/// repeats, at most [`MAX_FILES`] (the rest are dropped with a warning).
pub fn absolute(files: &[PathBuf], cwd: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = Vec::new();
    for f in files {
        let p = if f.is_absolute() { f.clone() } else { cwd.join(f) };
        if !out.contains(&p) {
            out.push(p);
        }
    }
    if out.len() > MAX_FILES {
        tracing::warn!("{} files opened; queuing the first {MAX_FILES}", out.len());
        out.truncate(MAX_FILES);
    }
    out
}

/// The job spec of an opened file: [`OPEN_WITH_PROFILE`], MP4, audio kept.
pub fn spec_for(path: &Path) -> JobSpec {
    let mut spec = JobSpec::path(path, OPEN_WITH_PROFILE);
    spec.output.audio = true;
    spec
}

/// The arguments a second launch forwarded (`argv` with the program name
/// first, its working folder `cwd`): the files to queue. Arguments that do
/// not parse (the second launch already checked them) give no files.
pub fn forwarded(argv: &[String], cwd: &str) -> Vec<PathBuf> {
    match Launch::try_parse_from(argv) {
        Ok(launch) => absolute(&launch.files, Path::new(cwd)),
        Err(e) => {
            tracing::warn!("ignoring forwarded arguments {argv:?}: {}", e.kind());
            Vec::new()
        }
    }
}

/// Queues `files` in the background; each failure is shown in one dialog.
pub fn queue(app: &AppHandle, files: Vec<PathBuf>) {
    if files.is_empty() {
        return;
    }
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        let Some(state) = app.try_state::<Desktop>() else { return };
        let mut problems = Vec::new();
        for file in files {
            if !file.is_file() {
                problems.push(format!("{}: not a file (moved or deleted?)", file.display()));
                continue;
            }
            match state.service.submit(spec_for(&file), crema_service::Origin::Local).await {
                Ok(job) => tracing::info!("queued {} as {}", file.display(), job.id),
                Err(e) => problems.push(format!("{}: {e}", file.display())),
            }
        }
        if !problems.is_empty() {
            let n = problems.len();
            app.dialog()
                .message(problems.join("\n"))
                .title(if n == 1 {
                    "Crema could not queue a file".to_string()
                } else {
                    format!("Crema could not queue {n} files")
                })
                .kind(MessageDialogKind::Error)
                .show(|_| {});
        }
    });
}

/// Brings the main window to the front (a second launch asked for it).
pub fn focus_main(app: &AppHandle) {
    if let Some(w) = app.get_webview_window("main") {
        let _ = w.unminimize();
        let _ = w.show();
        let _ = w.set_focus();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_made_absolute_once() {
        let files = [PathBuf::from("a.mov"), PathBuf::from("/m/b.mp4"), PathBuf::from("a.mov")];
        assert_eq!(absolute(&files, Path::new("/home/e")), [PathBuf::from("/home/e/a.mov"), PathBuf::from("/m/b.mp4")]);
        let many: Vec<PathBuf> = (0..MAX_FILES + 5).map(|i| PathBuf::from(format!("/f/{i}.mov"))).collect();
        assert_eq!(absolute(&many, Path::new("/")).len(), MAX_FILES);
    }

    #[test]
    fn forwarded_arguments_are_parsed_like_a_launch() {
        let argv = ["crema-desktop", "clip one.mov", "/abs/two.mxf"].map(String::from);
        assert_eq!(forwarded(&argv, "/work"), [PathBuf::from("/work/clip one.mov"), PathBuf::from("/abs/two.mxf")]);
        assert!(forwarded(&["crema-desktop".into()], "/w").is_empty());
        assert!(forwarded(&["crema-desktop".into(), "--bogus".into()], "/w").is_empty());
    }

    #[test]
    fn opened_files_get_the_default_choices() {
        let spec = serde_json::to_value(spec_for(Path::new("/m/a.mov"))).unwrap();
        assert_eq!(spec["profile"], OPEN_WITH_PROFILE);
        assert_eq!(spec["source"], serde_json::json!({"type": "path", "path": "/m/a.mov"}));
        assert_eq!(spec["output"]["audio"], true);
        assert_eq!(spec["output"]["container"], "mp4");
    }

    /// The spec goes through the real service's validation (the profile
    /// exists, the source probes) and is queued.
    #[test]
    fn an_opened_file_is_queued_by_the_service() {
        let media = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/cache/h264_720p_2s.mp4");
        let media =
            std::env::var_os("CREMA_FIXTURES").map(|d| PathBuf::from(d).join("h264_720p_2s.mp4")).unwrap_or(media);
        assert!(media.is_file(), "missing {}: run fixtures/prepare.sh", media.display());
        let dir = tempfile::tempdir().unwrap();
        tauri::async_runtime::block_on(async {
            let mut config = crema_service::Config::new(dir.path());
            config.workers = 1;
            let service = crema_service::Service::open(config).await.unwrap();
            let job = service.submit(spec_for(&media), crema_service::Origin::Local).await.unwrap();
            assert_eq!(job.profile, OPEN_WITH_PROFILE);
            assert_eq!(service.get(&job.id).await.unwrap().id, job.id);
            service.shutdown(std::time::Duration::ZERO).await;
        });
    }
}
