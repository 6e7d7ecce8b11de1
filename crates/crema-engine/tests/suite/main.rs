//! The engine's integration tests, one test binary with a module per area
//! (FFmpeg linked once): real FFmpeg on real media. One area:
//! `cargo test -p crema-engine --test suite -- hls::`.

mod av_start;
mod broadcast;
mod chunk_parallel;
mod hls;
mod hw_decode;
mod measure;
mod probe;
mod verified;

use std::path::{Path, PathBuf};

use crema_engine::request::{Container, EncodeRequest, FileRequest};
use crema_engine::{CancelFlag, chunks, encoder};

/// A request for one MP4 `out` from `input` with `profile`, audio kept;
/// every other option at its default (the encoder `auto`).
pub(crate) fn file_request(input: PathBuf, profile: &str, out: &Path) -> EncodeRequest {
    EncodeRequest {
        input,
        profile: profile.into(),
        file: Some(FileRequest { path: out.to_path_buf(), container: Container::Mp4 }),
        hls: None,
        audio: true,
        target_height: None,
        encoder: encoder::Preference::Auto,
        decoder: Default::default(),
        overwrite: false,
        waveform: None,
        measure: false,
        target_vmaf: None,
        chunk_workers: None,
    }
}

/// Frame times of the best video stream, µs after the file's start.
pub(crate) fn frame_times_us(path: &Path) -> Vec<i64> {
    let index = crema_engine::probe::probe(path).unwrap().video.unwrap().index;
    chunks::frame_times(path, index, &CancelFlag::new()).unwrap().unwrap().into_iter().map(|t| t.t_us).collect()
}
