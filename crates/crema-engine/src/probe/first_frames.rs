//! The one pass over the packets that a probe makes only when the headers
//! leave something open: counting the duration of a raw elementary stream,
//! and decoding the first video frame for its field order and HDR side data.

use ffmpeg_next as ffmpeg;
use ffmpeg_next::format::context::Input;
use ffmpeg_sys_next as sys;

use super::ffi::streams;
use super::ffi::ticks_seconds;
use super::stream_facts::{frame_side_data, light_from_raw, mastering_from_raw};
use crate::error::{EngineError, Result};
use crate::media::{ContentLightLevel, MasteringDisplay};
use crate::progress::CancelFlag;

// ---------------------------------------------------------------------------
// Reading packets
// ---------------------------------------------------------------------------

/// What the first decoded video frame says.
pub(super) struct FrameFacts {
    pub(super) field_order: &'static str,
    pub(super) mastering_display: Option<MasteringDisplay>,
    pub(super) content_light_level: Option<ContentLightLevel>,
}

pub(super) struct Pass {
    pub(super) frame: Option<FrameFacts>,
    /// Longest stream duration summed from packet durations (video packets
    /// without one count one frame at the average rate).
    pub(super) counted_seconds: f64,
}

/// Video packets sent to the decoder before giving up on a first frame.
pub(super) const DECODE_BUDGET: usize = 64;
/// Packets of all streams read while looking for that frame (a video
/// stream that is declared but carries no packets must not cost a full read).
pub(super) const READ_BUDGET: usize = 5000;

pub(super) fn read_packets(
    input: &mut Input,
    video_st: Option<*mut sys::AVStream>,
    video_index: Option<usize>,
    want_frame: bool,
    count: bool,
    fps: f64,
    cancel: &CancelFlag,
) -> Result<Pass> {
    let mut decoder = if want_frame { video_st.and_then(open_decoder) } else { None };
    let mut frame = None;
    let mut sent = 0usize;
    let all = streams(
        // SAFETY: the context is open.
        unsafe { input.as_ptr() },
    );
    // Per stream: summed packet durations in time-base ticks, and video
    // packets without a duration (counted as one frame each).
    let mut ticks = vec![0i64; all.len()];
    let mut untimed = vec![0u32; all.len()];
    let mut bad = 0usize;
    let mut read = 0usize;
    loop {
        let done_decoding = decoder.is_none() || frame.is_some() || read >= READ_BUDGET;
        if done_decoding && !count {
            break;
        }
        check_canceled(cancel)?;
        // A fresh packet each time: av_read_frame does not unref the old one.
        let mut packet = ffmpeg::Packet::empty();
        match packet.read(input) {
            Ok(()) => {
                bad = 0;
                read += 1;
            }
            Err(ffmpeg::Error::InvalidData) if bad < 100 => {
                bad += 1;
                continue;
            }
            Err(_) => break,
        }
        let idx = packet.stream();
        if count && idx < all.len() {
            let d = packet.duration();
            if d > 0 {
                ticks[idx] = ticks[idx].saturating_add(d);
            } else if Some(idx) == video_index {
                untimed[idx] = untimed[idx].saturating_add(1);
            }
        }
        if Some(idx) == video_index
            && frame.is_none()
            && let Some(dec) = decoder.as_mut()
        {
            // A corrupt packet is not fatal: the next one may decode.
            let _ = dec.send_packet(&packet);
            sent += 1;
            frame = receive_first(dec);
            if frame.is_none() && sent >= DECODE_BUDGET {
                let _ = dec.send_eof();
                frame = receive_first(dec);
                decoder = None;
            }
        }
    }
    if frame.is_none()
        && let Some(dec) = decoder.as_mut()
    {
        let _ = dec.send_eof();
        frame = receive_first(dec);
    }
    let counted_seconds = all
        .iter()
        .zip(ticks.iter().zip(&untimed))
        .map(|(&st, (&t, &n))| {
            // SAFETY: live stream.
            let tb = unsafe { (*st).time_base };
            let timed = if tb.num > 0 && tb.den > 0 { ticks_seconds(t, tb) } else { 0.0 };
            let untimed = if fps > 0.0 { f64::from(n) / fps } else { 0.0 };
            timed + untimed
        })
        .fold(0.0, f64::max);
    Ok(Pass { frame, counted_seconds })
}

pub(super) fn open_decoder(st: *mut sys::AVStream) -> Option<ffmpeg::decoder::Video> {
    // SAFETY: `st` is live; its codecpar is copied into the new context.
    let mut ctx = ffmpeg::codec::Context::new();
    unsafe {
        if sys::avcodec_parameters_to_context(ctx.as_mut_ptr(), (*st).codecpar) < 0 {
            return None;
        }
        (*ctx.as_mut_ptr()).pkt_timebase = (*st).time_base;
    }
    ctx.decoder().video().ok()
}

pub(super) fn receive_first(dec: &mut ffmpeg::decoder::Video) -> Option<FrameFacts> {
    let mut frame = ffmpeg::frame::Video::empty();
    dec.receive_frame(&mut frame).ok()?;
    // SAFETY: `frame` holds a decoded picture.
    let f = unsafe { frame.as_ptr() };
    let (interlaced, tff) = unsafe { ((*f).interlaced_frame, (*f).top_field_first) };
    let field_order = match (interlaced != 0, tff != 0) {
        (false, _) => "progressive",
        (true, true) => "tt",
        (true, false) => "bb",
    };
    Some(FrameFacts {
        field_order,
        mastering_display: frame_side_data(f, sys::AVFrameSideDataType::AV_FRAME_DATA_MASTERING_DISPLAY_METADATA)
            .and_then(mastering_from_raw),
        content_light_level: frame_side_data(f, sys::AVFrameSideDataType::AV_FRAME_DATA_CONTENT_LIGHT_LEVEL)
            .and_then(light_from_raw),
    })
}

/// [`EngineError::Canceled`] when `cancel` is raised.
pub(super) fn check_canceled(cancel: &CancelFlag) -> Result<()> {
    if cancel.is_canceled() { Err(EngineError::Canceled) } else { Ok(()) }
}
