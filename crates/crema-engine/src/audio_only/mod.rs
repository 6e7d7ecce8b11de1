//! Audio-only sources (a podcast, a music master, a recorder's WAV): what
//! [`crate::encode::run`] does when the source has audio and no video.
//!
//! - **Single file**: MP4 (`.m4a` names use the `ipod` muxer, brand `M4A `)
//!   holds AAC: AAC tracks are copied, every other codec is converted to
//!   AAC (as the engine's `transcode` converts audio MP4 cannot hold); Matroska
//!   keeps every track's codec as it is. The source's tags (container tags
//!   and, for Ogg or FLAC whose Vorbis comments sit on the stream, the main
//!   track's) become the output's container tags.
//! - **HLS**: an audio-only package, one AAC-LC variant per bit rate of
//!   [`HLS_AUDIO_KBPS`] (stereo, or mono for a mono source) from the main
//!   track, with a master playlist of audio-only variants
//!   ([`crate::hls::write_audio_master`]). Rung heights do not apply.
//! - **Cover art** (a stream with the `attached_pic` disposition) is never
//!   taken for video (see [`crate::probe`]): MP4 keeps a JPEG/PNG cover
//!   (`covr`), Matroska keeps it as an attachment (`cover.jpg`, as the
//!   Matroska attachment guidelines name it); HLS segments cannot hold one.
//!
//! The profile's video settings are ignored, and the result says so in
//! [`EncodeResult::warnings`]. The waveform of a job is made from the same
//! decoded frames ([`crate::waveform::WaveformOutput`]).

use std::time::Instant;

use crate::error::{EngineError, Result};
use crate::hls::{self, AudioVariantSpec};
use crate::media::{AudioStream, MediaInfo};
use crate::output::{self, dir_size, measured_duration, write_headers};
use crate::probe;
use crate::profile::Profile;
use crate::progress::{CancelFlag, Event, Stage};
use crate::request::{EncodeRequest, EncodeResult, FinalArtifact, OutputReport};
use crate::streams;
use crate::waveform::tap as waveform_tap;
use ff::ffi;
use ffmpeg_next as ff;
use std::path::{Path, PathBuf};

mod cover;
mod outputs;
mod pump;

pub use outputs::HLS_AUDIO_KBPS;

/// What an audio-only source cannot be encoded without (no readable audio).
pub const NOTHING_TO_ENCODE: &str = "nothing to encode: no video stream and no readable audio stream";

/// Encodes an audio-only source. Called by [`crate::encode::run`] after the
/// probe; `started` is when the run began.
///
/// Errors: [`EngineError::InputUnsupported`] with [`NOTHING_TO_ENCODE`]
/// when no audio stream is readable, or when the audio cannot be decoded;
/// otherwise those of [`crate::encode::run`].
pub(crate) fn run(
    req: &EncodeRequest,
    profile: &Profile,
    info: MediaInfo,
    started: Instant,
    cancel: &CancelFlag,
    on_event: &mut dyn FnMut(Event),
) -> Result<EncodeResult> {
    let input = req.input.as_path();
    let (tracks, mut warnings) = streams::file_audio(&info);
    if tracks.is_empty() {
        return Err(EngineError::InputUnsupported { path: input.into(), cause: NOTHING_TO_ENCODE.into() });
    }
    let tracks: Vec<AudioStream> = tracks.into_iter().cloned().collect();
    warnings.push(ignored_settings(req, profile));
    if req.hls.as_ref().is_some_and(|h| h.keep_mp4.is_some()) {
        warnings.push("audio-only source: the kept MP4 rung (--keep-mp4) does not apply; none written".into());
    }
    for w in &warnings {
        on_event(Event::Warning { message: w.clone() });
    }
    let main = info.main_audio.and_then(|i| tracks.iter().find(|a| a.index == i)).unwrap_or(&tracks[0]).clone();

    let mut ictx = probe::open_input(input)?;
    // SAFETY: plain field read on an open input context.
    let origin_us = match unsafe { (*ictx.as_ptr()).start_time } {
        ffi::AV_NOPTS_VALUE => 0,
        st => st,
    };
    let mut out = outputs::Outputs::open(req, &ictx, &tracks, &main)?;

    let waveform_track = match &req.waveform {
        Some(w) => waveform_tap::choose_track(&info, w.track)?,
        None => None,
    };
    if let (Some(w), Some(track)) = (&req.waveform, waveform_track) {
        output::waveform::attach(&mut out.paths, &ictx, track, w.options)?;
    }

    write_headers(&mut out.muxes, input, origin_us)?;
    pump::copy_all(input, &mut ictx, &mut out, info.duration_seconds, origin_us, cancel, on_event)?;
    on_event(Event::Stage { stage: Stage::Muxing });
    for m in out.muxes.iter_mut() {
        m.ctx.write_trailer().map_err(|e| EngineError::from_ffmpeg(input, Some(&m.report_path), "finish output", e))?;
    }
    let outputs::Outputs { mut staging, muxes, mut paths, hls_dir_tmp, .. } = out;
    if let Some(dir) = &hls_dir_tmp {
        let variants: Vec<AudioVariantSpec> = HLS_AUDIO_KBPS
            .iter()
            .map(|k| AudioVariantSpec { dir_name: format!("aac_{k}k"), codec: hls::aac_codec_string(1) })
            .collect();
        hls::write_audio_master(dir, &variants)?;
    }
    let waveform = match &req.waveform {
        Some(w) => output::waveform::save(&mut paths, w, waveform_track, &mut staging)?,
        None => None,
    };

    let tmp_of = |fin: &Path| -> PathBuf {
        staging.entries.iter().find(|(_, f, _)| f == fin).map_or_else(|| fin.to_path_buf(), |(t, _, _)| t.clone())
    };
    let mut outputs = Vec::new();
    if let Some(f) = &req.file {
        let tmp = tmp_of(&f.path);
        outputs.push(audio_report("file", &f.path, file_len(&tmp), &tmp, tracks.len()));
    }
    if let (Some(h), Some(dir)) = (&req.hls, &hls_dir_tmp) {
        let master = h.dir.join(hls::MASTER_PLAYLIST);
        outputs.push(audio_report("hls", &master, dir_size(dir), &dir.join(hls::MASTER_PLAYLIST), 1));
    }
    drop(muxes);
    staging.commit()?;
    let waveform = output::waveform::result(waveform, &mut warnings, on_event);
    let main_bytes = outputs.first().map_or(0, |o| o.bytes);
    let saved = if info.bytes > 0 { (1.0 - main_bytes as f64 / info.bytes as f64) * 100.0 } else { 0.0 };
    Ok(EncodeResult {
        source: info,
        profile: req.profile.clone(),
        effective_profile_id: profile.id.clone(),
        profile_reason: None,
        final_artifact: FinalArtifact::Encoded,
        saved_percent: (saved.max(0.0) * 10.0).round() / 10.0,
        outputs,
        elapsed_seconds: started.elapsed().as_secs_f64(),
        notices: vec![],
        warnings,
        waveform,
        quality: None,
    })
}

/// The warning that the profile's picture settings played no part.
fn ignored_settings(req: &EncodeRequest, profile: &Profile) -> String {
    let mut w = format!(
        "audio-only source: the video settings of profile {} (codec, quality, keyframes) are ignored",
        profile.id
    );
    if req.target_height.is_some() {
        w.push_str(", and so is the target height");
    }
    if req.hls.is_some() {
        let kbps: Vec<String> = HLS_AUDIO_KBPS.iter().map(|k| k.to_string()).collect();
        w.push_str(&format!(
            "; the HLS package is audio only (AAC at {} kbit/s), rung heights do not apply",
            kbps.join("/")
        ));
    }
    w
}

fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

fn audio_report(kind: &str, path: &Path, bytes: u64, measure: &Path, audio_tracks: usize) -> OutputReport {
    OutputReport {
        kind: kind.into(),
        path: path.to_path_buf(),
        bytes,
        duration_seconds: measured_duration(measure),
        width: 0,
        height: 0,
        audio_tracks,
        encoder: None,
        decoder: None,
        renditions: vec![],
    }
}
