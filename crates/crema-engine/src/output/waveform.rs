//! A job's waveform on its audio paths: [`attach`] puts the tap on the
//! path that decodes its track, [`save`] writes what it measured under a
//! staged name, and [`result`] turns the outcome into the report or a
//! warning. The tap itself (what it does with frames) is
//! [`crate::waveform::WaveformTap`].

use ffmpeg_next as ff;

use super::audio::{AudioPath, AudioWork};
use super::staging::Staging;
use crate::error::{EngineError, Result};
use crate::progress::Event;
use crate::waveform::tap::WaveformDone;
use crate::waveform::{WaveformOptions, WaveformOutput, WaveformReport, WaveformTap};

/// Puts a [`WaveformTap`] for `track` on the audio paths of an encode: on
/// the path that transcodes the track (its decoded frames are shared),
/// preferring a file track to the HLS rendition (which starts with the
/// first picture); else on a path that copies it (the tap decodes the
/// packets itself); else on a new path that only feeds the tap.
///
/// Errors: [`EngineError::Internal`] when the track is not in `ictx`.
pub(crate) fn attach(
    paths: &mut Vec<AudioPath>,
    ictx: &ff::format::context::Input,
    track: usize,
    options: WaveformOptions,
) -> Result<()> {
    let transcodes = |p: &AudioPath| p.source_index == track && matches!(p.work, AudioWork::Transcode { .. });
    let found = paths.iter().position(|p| transcodes(p) && !p.hls).or_else(|| paths.iter().position(transcodes));
    if let Some(i) = found {
        paths[i].waveform = Some(WaveformTap::on_frames(options));
        return Ok(());
    }
    let stream = ictx.stream(track).ok_or_else(|| EngineError::Internal(format!("audio stream {track} vanished")))?;
    let tap = WaveformTap::with_decoder(options, &stream);
    match paths.iter_mut().find(|p| p.source_index == track) {
        Some(p) => p.waveform = Some(tap),
        None => paths.push(AudioPath {
            hls: false,
            pending: vec![],
            source_index: track,
            source_tb: stream.time_base(),
            work: AudioWork::Copy,
            outputs: vec![],
            waveform: Some(tap),
        }),
    }
    Ok(())
}

/// Takes the finished waveform off the paths and writes it under a staged
/// name (renamed onto `out.path` with the encode's other outputs).
///
/// Errors: [`EngineError::OutputNotWritable`] / [`EngineError::DiskFull`]
/// when the file cannot be written. A waveform that could not be made is
/// `Some(Err(why))`, not an error: the encode stands without it.
pub(crate) fn save(
    paths: &mut [AudioPath],
    out: &WaveformOutput,
    track: Option<usize>,
    staging: &mut Staging,
) -> Result<WaveformDone> {
    let Some(track) = track else {
        return Ok(Some(Err("no waveform: the source has no readable audio".into())));
    };
    let Some(tap) = paths.iter_mut().find_map(|p| p.waveform.take()) else {
        return Ok(Some(Err("no waveform: the audio track was not read".into())));
    };
    let waveform = match tap.finish() {
        Ok(w) => w,
        Err(why) => return Ok(Some(Err(format!("no waveform for audio stream #{track}: {why}")))),
    };
    let tmp = staging.add(&out.path, false)?;
    let bytes = waveform.save(&tmp, out.format, true).map_err(|e| match e {
        EngineError::OutputNotWritable { cause, .. } => {
            EngineError::OutputNotWritable { path: out.path.clone(), cause }
        }
        EngineError::DiskFull { .. } => EngineError::DiskFull { path: out.path.clone() },
        other => other,
    })?;
    Ok(Some(Ok(WaveformReport::new(out, track, &waveform, bytes))))
}

/// The report of a waveform made during an encode; why there is none goes
/// to the warnings (and out as an event).
pub(crate) fn result(
    done: WaveformDone,
    warnings: &mut Vec<String>,
    on_event: &mut dyn FnMut(Event),
) -> Option<WaveformReport> {
    match done? {
        Ok(report) => Some(report),
        Err(why) => {
            on_event(Event::Warning { message: why.clone() });
            warnings.push(why);
            None
        }
    }
}
