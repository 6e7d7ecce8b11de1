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
mod notify;
mod paths;
mod server;
mod settings;
mod state;
mod watch;

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("CREMA_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match app::run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("crema-desktop: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
