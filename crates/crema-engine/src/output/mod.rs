//! The output mechanism every encode path shares, below both
//! [`crate::transcode`] (sources with video) and [`crate::audio_only`]:
//!
//! - [`staging`]: outputs written under temporary names and renamed only
//!   when the whole run succeeded ([`Staging`]);
//! - [`mux`]: muxers ([`Mux`]), their headers, and writing one packet to
//!   every (mux, stream) it feeds;
//! - [`audio`] and [`audio_feed`]: audio paths (copy, or decode → resample →
//!   AAC) and pushing packets through them ([`AudioFeed`]);
//! - [`waveform`]: a job's waveform tap on those paths.
//!
//! Nothing here decides what to write; callers say which outputs exist.

pub(crate) mod audio;
pub(crate) mod audio_feed;
pub(crate) mod mux;
pub(crate) mod staging;
pub(crate) mod waveform;

pub(crate) use audio::{AudioPath, AudioWork, MP4_AUDIO_COPY, add_audio_stream, open_audio_transcode};
pub(crate) use audio_feed::AudioFeed;
pub(crate) use mux::measured_duration;
pub(crate) use mux::{Mux, MuxKind, fferr, push_hls_mux, write_headers, write_to};
pub(crate) use staging::{Staging, canceled, dir_size, io_out_err};
