//! Describing an open source: its streams sorted into the video Crema
//! encodes, audio, subtitles and data, duration, bit rate, timecode, frame
//! rate, programs and main audio, and the checks that refuse still images
//! and MOV files whose index is cut off.

use std::ffi::c_int;
use std::path::Path;

use ffmpeg_next::format::context::Input;
use ffmpeg_sys_next as sys;

use super::ffi::streams;
use super::ffi::{
    MEDIA_AUDIO, MEDIA_DATA, MEDIA_SUBTITLE, MEDIA_UNKNOWN, MEDIA_VIDEO, NOPTS, nominal_rate, positive_u64, rate_f64,
    rate_string, raw_enum, ticks_seconds, valid_rate,
};
use super::first_frames::read_packets;
use super::open::{demuxer_name, unsupported};
use super::stream_facts::{audio_stream, other_stream, video_stream};
use crate::error::Result;
use crate::ffutil::dict_get;
use crate::media::{AudioStream, MediaInfo, OtherStream, VideoStream};
use crate::progress::CancelFlag;

pub(super) fn stream_seconds(st: *const sys::AVStream) -> Option<f64> {
    // SAFETY: `st` is a live stream of an open context.
    let (dur, tb) = unsafe { ((*st).duration, (*st).time_base) };
    (dur > 0 && dur != NOPTS && tb.den > 0 && tb.num > 0).then(|| ticks_seconds(dur, tb))
}

pub(super) fn describe(path: &Path, input: &mut Input, bytes: u64, cancel: &CancelFlag) -> Result<MediaInfo> {
    // SAFETY: the context stays open for the whole function.
    let ctx = unsafe { input.as_mut_ptr() };
    let container = demuxer_name(ctx).unwrap_or_else(|| "unknown".into());
    let all = streams(ctx);

    let Sorted { video_st, audio, subtitles, data } = sort_streams(path, ctx, &all)?;

    let mut video = video_st.map(video_stream);
    if let (Some(v), Some(st)) = (&video, video_st)
        && audio.is_empty()
        && is_still_image(&container, v, st)
    {
        return Err(unsupported(path, "a still image, not a video"));
    }

    if container.starts_with("mov,") {
        check_mov_index(path, &all, bytes)?;
    }

    // Duration: the container's, else the longest stream's, else counted.
    // SAFETY: `ctx` is open.
    let fmt_duration = unsafe { (*ctx).duration };
    let mut duration = if fmt_duration > 0 && fmt_duration != NOPTS {
        fmt_duration as f64 / f64::from(sys::AV_TIME_BASE)
    } else {
        all.iter().filter_map(|&st| stream_seconds(st)).fold(0.0, f64::max)
    };

    // One pass over the packets when the headers leave something open.
    let need_count = duration <= 0.0;
    let need_frame = video.as_ref().is_some_and(|v| {
        v.field_order == "unknown"
            || (v.hdr.is_some() && (v.mastering_display.is_none() || v.content_light_level.is_none()))
    });
    if need_count || need_frame {
        let video_index = video.as_ref().map(|v| v.index);
        let fps =
            video.as_ref().map_or(0.0, |v| rate_f64((i64::from(v.frame_rate.0), i64::from(v.frame_rate.1).max(1))));
        let pass = read_packets(input, video_st, video_index, need_frame, need_count, fps, cancel)?;
        if need_count {
            duration = pass.counted_seconds;
        }
        if let (Some(v), Some(frame)) = (video.as_mut(), pass.frame) {
            if v.field_order == "unknown" {
                v.field_order = frame.field_order.into();
            }
            if v.hdr.is_some() {
                v.mastering_display = v.mastering_display.or(frame.mastering_display);
                v.content_light_level = v.content_light_level.or(frame.content_light_level);
            }
        }
    }
    if !duration.is_finite() || duration < 0.0 {
        duration = 0.0;
    }

    // SAFETY: `ctx` is open.
    let fmt_bit_rate = unsafe { (*ctx).bit_rate };
    let bit_rate = positive_u64(fmt_bit_rate)
        .or_else(|| (duration > 0.0).then(|| (bytes as f64 * 8.0 / duration).round() as u64).filter(|&b| b > 0));

    // Timecode: any stream's tag (tmcd tracks carry it), else the container's.
    // SAFETY: metadata dictionaries of live streams / the open context.
    let timecode = all
        .iter()
        .find_map(|&st| dict_get(unsafe { (*st).metadata }, c"timecode"))
        .or_else(|| dict_get(unsafe { (*ctx).metadata }, c"timecode"));

    let (resolution, frame_rate) = match (&video, video_st) {
        (Some(v), Some(st)) => {
            let (w, h) = if v.rotation % 180 == 90 { (v.height, v.width) } else { (v.width, v.height) };
            // SAFETY: live stream.
            let (r, avg) = unsafe { ((*st).r_frame_rate, (*st).avg_frame_rate) };
            (Some(format!("{w}x{h}")), nominal_rate(valid_rate(r), valid_rate(avg)).map(rate_string))
        }
        _ => (None, None),
    };

    let name = path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned());

    let programs = crate::streams::programs(ctx);
    let video_index = video.as_ref().map(|v| v.index);
    let video_program = video_index.and_then(|v| programs.iter().find(|p| p.streams.contains(&v)));
    // Never another program's audio (libavformat falls back to every stream
    // when the video's program has none it can use).
    let main_audio = crate::streams::best_stream(ctx, sys::AVMediaType::AVMEDIA_TYPE_AUDIO, video_index)
        .filter(|a| video_program.is_none_or(|p| p.streams.contains(a)))
        .filter(|a| audio.iter().any(|s| s.index == *a && crate::streams::audio_is_readable(s)));

    Ok(MediaInfo {
        name,
        bytes,
        sha256: String::new(),
        duration_seconds: duration,
        resolution,
        frame_rate,
        container,
        bit_rate,
        video,
        audio,
        main_audio,
        programs,
        subtitles,
        data,
        timecode,
    })
}

/// The streams of a source by kind: the video stream Crema encodes (when
/// there is one), audio, subtitle and data streams.
pub(super) struct Sorted {
    /// The video stream encoded.
    pub(super) video_st: Option<*mut sys::AVStream>,
    /// Every audio stream, in file order.
    pub(super) audio: Vec<AudioStream>,
    /// Subtitle streams.
    pub(super) subtitles: Vec<OtherStream>,
    /// Data streams.
    pub(super) data: Vec<OtherStream>,
}

/// Sorts `all` (the streams of the open context `ctx`) by kind.
///
/// Errors: [`crate::EngineError::InputUnsupported`] when there is neither
/// a usable video stream nor an audio stream, in words that say why.
pub(super) fn sort_streams(path: &Path, ctx: *mut sys::AVFormatContext, all: &[*mut sys::AVStream]) -> Result<Sorted> {
    // The best video stream as libavformat ranks it, when it is a real
    // picture (not cover art, with a size); else the first such stream.
    let best_video = crate::streams::best_stream(ctx, sys::AVMediaType::AVMEDIA_TYPE_VIDEO, None)
        // SAFETY: every pointer in `all` is a live stream of the open context.
        .and_then(|i| all.iter().copied().find(|&st| unsafe { (*st).index } as usize == i))
        .filter(|&st| {
            // SAFETY: `st` and its codecpar are live (filtered in `streams`).
            unsafe {
                (*st).disposition & sys::AV_DISPOSITION_ATTACHED_PIC == 0
                    && (*(*st).codecpar).width > 0
                    && (*(*st).codecpar).height > 0
            }
        });
    let mut video_st = best_video;
    let mut sizeless_video = false;
    let mut audio = Vec::new();
    let mut subtitles = Vec::new();
    let mut data = Vec::new();
    for &st in all {
        // SAFETY: `st` and its codecpar are live (filtered in `streams`).
        let par = unsafe { (*st).codecpar };
        let disposition = unsafe { (*st).disposition };
        let sized = unsafe { (*par).width > 0 && (*par).height > 0 };
        match raw_enum!(par, codec_type) {
            // Without a best stream: the first video stream that is not
            // cover art and has a picture size (FFmpeg could parse its
            // headers); later ones are ignored.
            MEDIA_VIDEO if video_st.is_none() && disposition & sys::AV_DISPOSITION_ATTACHED_PIC == 0 => {
                if sized {
                    video_st = Some(st);
                } else {
                    sizeless_video = true;
                }
            }
            MEDIA_AUDIO => audio.push(audio_stream(st)),
            MEDIA_SUBTITLE => subtitles.push(other_stream(st)),
            MEDIA_DATA | MEDIA_UNKNOWN => data.push(other_stream(st)),
            _ => {} // cover art, later video, attachments (fonts), anything newer
        }
    }

    if video_st.is_none() && audio.is_empty() {
        let what = if all.is_empty() {
            "no streams found; the file is probably truncated or damaged"
        } else if sizeless_video {
            "FFmpeg cannot read the video stream's picture size; the file is probably truncated or damaged"
        } else if !subtitles.is_empty() {
            "no video or audio stream (subtitles only)"
        } else {
            "no video or audio stream"
        };
        return Err(unsupported(path, what));
    }
    Ok(Sorted { video_st, audio, subtitles, data })
}

/// A single picture opened as "video": image demuxers (`image2`,
/// `jpeg_pipe`, `png_pipe`...) or a one-frame GIF.
pub(super) fn is_still_image(container: &str, v: &VideoStream, st: *const sys::AVStream) -> bool {
    if container == "image2" || container.ends_with("_pipe") {
        return true;
    }
    // SAFETY: live stream.
    let frames = unsafe { (*st).nb_frames };
    matches!(v.codec.as_str(), "gif" | "apng" | "png" | "mjpeg" | "webp" | "bmp" | "tiff")
        && frames == 1
        && (container == "gif" || container == "apng")
}

/// Refuses an MP4/MOV whose sample table points past the end of the file
/// (an interrupted copy or download with the index at the front).
pub(super) fn check_mov_index(path: &Path, all: &[*mut sys::AVStream], bytes: u64) -> Result<()> {
    let mut end: i64 = 0;
    for &st in all {
        // SAFETY: `st` is live; entries are valid for indices below the count.
        unsafe {
            let n = sys::avformat_index_get_entries_count(st);
            for i in 0..n {
                let e = sys::avformat_index_get_entry(st, i);
                if !e.is_null() && (*e).pos >= 0 {
                    end = end.max((*e).pos.saturating_add(i64::from((*e).size())));
                }
            }
        }
    }
    match u64::try_from(end) {
        Ok(end) if end > bytes => Err(unsupported(
            path,
            format!(
                "truncated or damaged: the file is {bytes} bytes but its index refers to media up to byte {end} (an incomplete copy or download?)"
            ),
        )),
        _ => Ok(()),
    }
}
