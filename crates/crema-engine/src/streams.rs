//! Which streams of a source are encoded: programs, the main video and its
//! audio, chosen the way FFmpeg's own tools do.
//!
//! A broadcast capture (a DVB transport stream) carries several programs
//! (services), each with its video, audio, teletext and EPG. Crema encodes
//! one: the video stream that libavformat's `av_find_best_stream` ranks
//! first (as `ffplay` and most FFmpeg-based players pick it: default
//! disposition, then decoded frames seen while probing, then bit rate), and
//! the audio of that video's program (`av_find_best_stream` with the video
//! as related stream, which only looks at the streams of its program and
//! skips audio whose sample rate or channel count is unknown). Audio
//! streams whose parameters cannot be read (an AAC PID that carried no
//! decodable frame while probing: 0 Hz, 0 channels) are skipped with a
//! warning rather than failing the encode.

use std::ffi::c_int;

use crate::ffutil::dict_get;
pub use crate::media::Program;
use crate::media::{AudioStream, MediaInfo};
use ffmpeg_sys_next as sys;

/// The programs of an open format context, in file order (empty for
/// containers without programs).
pub(crate) fn programs(ctx: *const sys::AVFormatContext) -> Vec<Program> {
    let mut out = Vec::new();
    // SAFETY: `ctx` is an open format context; `programs` holds
    // `nb_programs` valid pointers and each `stream_index` array
    // `nb_stream_indexes` entries.
    unsafe {
        let n = (*ctx).nb_programs as usize;
        if n == 0 || (*ctx).programs.is_null() {
            return out;
        }
        for &p in std::slice::from_raw_parts((*ctx).programs, n) {
            if p.is_null() {
                continue;
            }
            let k = (*p).nb_stream_indexes as usize;
            let streams = if k == 0 || (*p).stream_index.is_null() {
                Vec::new()
            } else {
                std::slice::from_raw_parts((*p).stream_index, k).iter().map(|&i| i as usize).collect()
            };
            out.push(Program {
                id: (*p).id,
                service_name: dict_get((*p).metadata, c"service_name"),
                service_provider: dict_get((*p).metadata, c"service_provider"),
                streams,
            });
        }
    }
    out
}

/// `av_find_best_stream(ctx, kind, -1, related, NULL, 0)`: the stream of
/// `kind` libavformat ranks first, within `related`'s program when given.
pub(crate) fn best_stream(
    ctx: *mut sys::AVFormatContext,
    kind: sys::AVMediaType,
    related: Option<usize>,
) -> Option<usize> {
    let related = related.and_then(|r| c_int::try_from(r).ok()).unwrap_or(-1);
    // SAFETY: `ctx` is open; no decoder is asked for (null out-pointer).
    let r = unsafe { sys::av_find_best_stream(ctx, kind, -1, related, std::ptr::null_mut(), 0) };
    usize::try_from(r).ok()
}

/// Whether libavformat could read an audio stream's parameters (sample
/// rate and channel count); one that it could not has never decoded a
/// frame and cannot be converted or muxed.
pub fn audio_is_readable(a: &AudioStream) -> bool {
    a.sample_rate > 0 && a.channels > 0
}

/// The audio tracks a single-file output keeps, and a warning for each it
/// skips: the readable audio streams of the video's program (every audio
/// stream when the video is in no program).
pub fn file_audio(info: &MediaInfo) -> (Vec<&AudioStream>, Vec<String>) {
    let program = info.video.as_ref().and_then(|v| info.programs.iter().find(|p| p.streams.contains(&v.index)));
    let mut keep = Vec::new();
    let mut warnings = Vec::new();
    for a in &info.audio {
        if program.is_some_and(|p| !p.streams.contains(&a.index)) {
            continue;
        }
        if audio_is_readable(a) {
            keep.push(a);
        } else {
            warnings.push(unreadable_warning(a));
        }
    }
    (keep, warnings)
}

/// The audio stream of an HLS package ([`MediaInfo::main_audio`]) and the
/// warnings for the readable-looking streams of the program that were
/// skipped: `None` with a warning when the program's audio is all unreadable.
pub fn hls_audio(info: &MediaInfo) -> (Option<&AudioStream>, Vec<String>) {
    let chosen = info.main_audio.and_then(|i| info.audio.iter().find(|a| a.index == i));
    let warnings = match chosen {
        Some(_) => vec![],
        None => file_audio(info).1,
    };
    (chosen, warnings)
}

/// A notice naming the program encoded when the source has several.
pub fn program_notice(info: &MediaInfo) -> Option<String> {
    if info.programs.len() < 2 {
        return None;
    }
    let v = info.video.as_ref()?;
    let p = info.programs.iter().find(|p| p.streams.contains(&v.index))?;
    let name = p.service_name.as_deref().map_or(String::new(), |n| format!(" \"{n}\""));
    Some(format!(
        "the source has {} programs: encoding program {}{name} (video stream #{}); the others are left out",
        info.programs.len(),
        p.id,
        v.index
    ))
}

fn unreadable_warning(a: &AudioStream) -> String {
    format!(
        "audio stream #{} ({}) skipped: its parameters cannot be read ({} Hz, {} channels; no decodable audio frame while probing)",
        a.index, a.codec, a.sample_rate, a.channels
    )
}
