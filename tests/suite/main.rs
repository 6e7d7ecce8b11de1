//! The `crema` binary's integration tests, one test binary with a module
//! per area (one link of FFmpeg and SQLite instead of one per file). Every
//! test runs the real `crema` binary on real media; `common` holds the
//! shared helpers. Run one area with `cargo test -p crema --test suite -- cli::`.

#[macro_use]
mod common;

mod audio_only;
mod auto;
mod cli;
mod farm;
mod hls;
mod install_cli;
mod media_cases;
mod profiles_on_footage;
mod quality;
mod serve_crash;
mod waveform;
mod waveform_js;
