//! Crema's encoding engine.
//!
//! Everything that touches FFmpeg lives here. Layers, each importing only
//! those below it:
//!
//! - **entry**: [`encode::run`] checks a request, probes the source and
//!   chooses the path: [`audio_only`] for sources without video,
//!   [`auto`] (the `sophon-auto` policy) to resolve an auto profile, and
//!   `transcode` for the encode itself;
//! - **policy**: [`auto`] picks a concrete profile and measures a sample
//!   with `transcode`; [`request`] holds the request and result types
//!   and the one set of rules a request obeys;
//! - **mechanism**: `transcode` (decode once, filter, encode every
//!   output, mux), [`audio_only`], `output` (staged outputs, muxers,
//!   audio paths), [`hls`] (master playlist, codec strings, the package
//!   checker), [`waveform`], [`thumbnail`], [`verify`], [`quality`];
//! - **facts and numbers**: [`probe`] (what a source file is, as the
//!   [`media`] types), [`streams`] (a multi-program source's main
//!   program), [`plan`] (sizes, ladders, filters), [`limits`] (picture
//!   sizes) and [`budget`] (frames each encoder holds) over [`levels`],
//!   [`profile`] (encoding profiles), [`encoder`] (software and hardware
//!   back-ends), [`ffutil`], [`progress`], [`error`].
//!
//! The engine is synchronous and has no async runtime, HTTP or GUI
//! dependency. Callers run [`encode::run`] on a thread of their own, pass a
//! [`CancelFlag`] and receive typed [`progress::Event`]s through a callback;
//! they only render those events.

pub mod audio_only;
pub mod auto;
pub mod budget;
pub mod chunks;
pub mod encode;
pub mod encoder;
pub mod error;
pub mod ffutil;
pub mod hls;
pub mod hw_decode;
pub mod levels;
pub mod limits;
pub mod measure;
pub mod media;
mod output;
pub mod plan;
pub mod probe;
pub mod profile;
pub mod progress;
pub mod quality;
pub mod request;
pub mod streams;
pub mod thumbnail;
mod transcode;
pub mod verify;
pub mod versions;
pub mod waveform;
pub mod xparams;

pub use error::{EngineError, Result};
pub use progress::{CancelFlag, Event};

/// Initialises FFmpeg once per process (idempotent) and silences its log
/// (see `CREMA_FFMPEG_LOG`), so FFmpeg's chatter never reaches a user's terminal.
pub fn init() -> Result<()> {
    static INIT: std::sync::OnceLock<std::result::Result<(), String>> = std::sync::OnceLock::new();
    INIT.get_or_init(|| {
        ffmpeg_next::init().map_err(|e| e.to_string())?;
        // FFmpeg's own log goes to stderr unfiltered; keep it quiet unless asked
        // (CREMA_FFMPEG_LOG=error|warning|info|debug). Every failure reaches
        // callers as a typed EngineError instead.
        use ffmpeg_next::util::log::Level;
        let level = match std::env::var("CREMA_FFMPEG_LOG").as_deref() {
            Ok("error") => Level::Error,
            Ok("warning") => Level::Warning,
            Ok("info") => Level::Info,
            Ok("debug") => Level::Debug,
            _ => Level::Quiet,
        };
        ffmpeg_next::util::log::set_level(level);
        Ok(())
    })
    .clone()
    .map_err(EngineError::Internal)
}
