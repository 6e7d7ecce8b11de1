//! Crema's encoding engine.
//!
//! Everything that touches FFmpeg lives here: [`probe`] (what a source file
//! is), [`profile`] (the built-in and user encoding profiles), [`encoder`]
//! (software and hardware encoder back-ends), [`pipeline`] (decode once,
//! filter, encode every output, mux) and [`hls`] (HLS ladders: master
//! playlist, codec strings and the package checker).
//!
//! The engine is synchronous and has no async runtime, HTTP or GUI
//! dependency. Callers run [`pipeline::run`] on a thread of their own, pass a
//! [`CancelFlag`] and receive typed [`progress::Event`]s through a callback;
//! they only render those events.

pub mod error;
pub mod ffutil;
pub mod hls;
pub mod probe;
pub mod profile;
pub mod progress;

pub use error::{EngineError, Result};
pub use progress::{CancelFlag, Event};

/// Initialises FFmpeg once per process (idempotent) and quiets its log to
/// errors only, so that FFmpeg's own chatter never reaches a user's terminal.
pub fn init() -> Result<()> {
    static INIT: std::sync::OnceLock<std::result::Result<(), String>> = std::sync::OnceLock::new();
    INIT.get_or_init(|| {
        ffmpeg_next::init().map_err(|e| e.to_string())?;
        ffmpeg_next::util::log::set_level(ffmpeg_next::util::log::Level::Error);
        Ok(())
    })
    .clone()
    .map_err(EngineError::Internal)
}
