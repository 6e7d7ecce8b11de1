//! Crema's desktop app: a Tauri 2 window around the same
//! [`crema_service::Service`] as `crema serve` (same data folder, same
//! SQLite queue). The web UI (`ui/`) talks to it through the thin commands
//! in [`commands`] and receives live events over a channel ([`events`]).

// No console window on Windows release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

mod app;
mod commands;
mod error;
mod events;
#[cfg(test)]
mod ipc_schema;
mod notify;
mod open;
mod paths;
mod server;
mod settings;
mod state;
mod watch;

fn main() -> std::process::ExitCode {
    // Before anything touches the display: `--version` and `--help` work
    // without one (and in a package test's chroot).
    let launch = match <open::Launch as clap::Parser>::try_parse() {
        Ok(l) => l,
        Err(e) if e.kind() == clap::error::ErrorKind::DisplayVersion => {
            let commit = env!("CREMA_GIT_COMMIT");
            print!("{}", crema_engine::versions::report("crema-desktop", env!("CARGO_PKG_VERSION"), commit));
            return std::process::ExitCode::SUCCESS;
        }
        Err(e) => {
            let _ = e.print();
            return std::process::ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("CREMA_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cwd = std::env::current_dir().unwrap_or_default();
    match app::run(open::absolute(&launch.files, &cwd)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("crema-desktop: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
