//! Waveform data compatible with BBC audiowaveform (the files peaks.js and
//! the `waveform-data` library read), computed in process from audio that
//! FFmpeg decodes.
//!
//! - [`format`]: the [`Waveform`] and its `.dat` (v1/v2) and JSON forms,
//!   byte for byte as audiowaveform writes them.
//! - [`WaveformOptions`] ([`Resolution`], bits, split channels): what to
//!   compute.
//! - [`WaveformBuilder`]: min/max per pixel from decoded frames; the encode
//!   pipeline can feed it the frames it already decodes, so a job's waveform
//!   costs no second decode.
//! - [`WaveformOutput`] (an `EncodeRequest` option): the waveform of one
//!   track made during the encode from the frames it decodes, written
//!   beside the outputs ([`WaveformReport`] in the result).
//! - [`generate`]: opens a file, decodes one audio track and returns its
//!   waveform (`crema waveform`), with a cancel flag and progress.
//!
//! Numbers and rules come from bbc/audiowaveform, commit 9edb233
//! (2025-08-24): `doc/DataFormat.md`, `src/WaveformGenerator.cpp`,
//! `src/WaveformBuffer.cpp`, `src/SndFileAudioFileReader.cpp`; each item
//! names what it follows.

mod builder;
mod decode;
pub mod format;
mod options;
pub(crate) mod tap;

pub use builder::WaveformBuilder;
pub use decode::{Generated, WaveformProgress, WaveformRequest, generate};
pub use format::{Bits, DataFormat, MAX_CHANNELS, MAX_POINTS, Waveform};
pub use options::{DEFAULT_SAMPLES_PER_PIXEL, Resolution, WaveformOptions};
pub(crate) use tap::WaveformTap;
pub use tap::{WaveformOutput, WaveformReport};
