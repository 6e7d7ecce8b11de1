//! The engine's integration tests, one test binary with a module per area
//! (FFmpeg linked once): real FFmpeg on real media. One area:
//! `cargo test -p crema-engine --test suite -- hls::`.

mod av_start;
mod broadcast;
mod chunk_parallel;
mod hls;
mod measure;
mod probe;
mod verified;
