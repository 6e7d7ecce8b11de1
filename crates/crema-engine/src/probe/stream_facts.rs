//! One stream's facts from its codec parameters and side data: video
//! (size, pixel format, rates, colour, HDR, rotation, field order), audio
//! and subtitle/data streams.

use std::ffi::{c_char, c_int};

use ffmpeg_sys_next as sys;

use super::ffi::{
    CODEC_BIN_DATA, CODEC_NONE, ORDER_UNSPEC, PRI_UNSPECIFIED, RANGE_UNSPECIFIED, RawContentLight, RawMasteringDisplay,
    SPC_UNSPECIFIED, TRC_HLG, TRC_PQ, TRC_UNSPECIFIED, codec_name, color_name, fourcc, positive_u64, profile_name,
    rate_f64, rational_f64, raw, raw_enum, to_i32_pair, valid_rate,
};
use crate::ffutil::{c_str, dict_get};
use crate::media::{AudioStream, ContentLightLevel, MasteringDisplay, OtherStream, VideoStream};

pub(super) fn video_stream(st: *mut sys::AVStream) -> VideoStream {
    // SAFETY: `st` and its codecpar are live for the context's lifetime.
    let (par, index, tb, r, avg, nb_frames) = unsafe {
        ((*st).codecpar, (*st).index, (*st).time_base, (*st).r_frame_rate, (*st).avg_frame_rate, (*st).nb_frames)
    };
    let codec_id = raw_enum!(par, codec_id);
    // SAFETY: plain reads of codecpar fields.
    let (profile, width, height, pix_fmt, raw_bits, bit_rate) = unsafe {
        ((*par).profile, (*par).width, (*par).height, (*par).format, (*par).bits_per_raw_sample, (*par).bit_rate)
    };

    // SAFETY: both lookups bound-check the value and return null when invalid.
    let pix_name = c_str(unsafe { raw::av_get_pix_fmt_name(pix_fmt) });
    let desc = unsafe { raw::av_pix_fmt_desc_get(pix_fmt) };
    let depth = if desc.is_null() {
        raw_bits
    } else {
        // SAFETY: non-null descriptor from FFmpeg's static table.
        unsafe { (*desc).comp[0].depth }
    };
    let bit_depth = u8::try_from(depth).ok().filter(|&d| d > 0).unwrap_or(8);

    let r = valid_rate(r);
    let avg = valid_rate(avg);
    let variable_frame_rate = match (r, avg) {
        (Some(r), Some(a)) => (rate_f64(r) - rate_f64(a)).abs() > rate_f64(a) * 0.01,
        _ => false,
    };

    let transfer = raw_enum!(par, color_trc);
    let hdr = match transfer {
        TRC_PQ => Some("pq".to_string()),
        TRC_HLG => Some("hlg".to_string()),
        _ => None,
    };

    VideoStream {
        index: usize::try_from(index).unwrap_or_default(),
        codec: codec_name(codec_id),
        profile: profile_name(codec_id, profile),
        width: u32::try_from(width).unwrap_or_default(),
        height: u32::try_from(height).unwrap_or_default(),
        pix_fmt: pix_name.unwrap_or_else(|| "unknown".into()),
        bit_depth,
        frame_rate: avg.or(r).map_or((0, 1), to_i32_pair),
        variable_frame_rate,
        frames: positive_u64(nb_frames),
        time_base: (tb.num, tb.den),
        color_primaries: color_name(raw_enum!(par, color_primaries), PRI_UNSPECIFIED, raw::av_color_primaries_name),
        color_transfer: color_name(transfer, TRC_UNSPECIFIED, raw::av_color_transfer_name),
        color_matrix: color_name(raw_enum!(par, color_space), SPC_UNSPECIFIED, raw::av_color_space_name),
        color_range: color_name(raw_enum!(par, color_range), RANGE_UNSPECIFIED, raw::av_color_range_name),
        mastering_display: if hdr.is_some() { stream_mastering_display(st) } else { None },
        content_light_level: if hdr.is_some() { stream_content_light(st) } else { None },
        hdr,
        rotation: rotation(st),
        field_order: field_order_name(raw_enum!(par, field_order)).into(),
        bit_rate: positive_u64(bit_rate),
    }
}

pub(super) fn field_order_name(v: c_int) -> &'static str {
    use sys::AVFieldOrder::*;
    match v {
        x if x == AV_FIELD_PROGRESSIVE as c_int => "progressive",
        x if x == AV_FIELD_TT as c_int => "tt",
        x if x == AV_FIELD_BB as c_int => "bb",
        x if x == AV_FIELD_TB as c_int => "tb",
        x if x == AV_FIELD_BT as c_int => "bt",
        _ => "unknown",
    }
}

/// Stream side data of `kind` as a `T`, when present and large enough.
pub(super) fn stream_side_data<T: Copy>(st: *const sys::AVStream, kind: sys::AVPacketSideDataType) -> Option<T> {
    let mut size: usize = 0;
    // SAFETY: `st` is live; the returned buffer has `size` bytes.
    let p = unsafe { sys::av_stream_get_side_data(st, kind, &mut size) };
    // SAFETY: checked non-null and large enough; read unaligned to be safe.
    (!p.is_null() && size >= size_of::<T>()).then(|| unsafe { p.cast::<T>().read_unaligned() })
}

/// Frame side data of `kind` as a `T`, when present and large enough.
pub(super) fn frame_side_data<T: Copy>(frame: *const sys::AVFrame, kind: sys::AVFrameSideDataType) -> Option<T> {
    // SAFETY: `frame` holds a decoded picture; side data entries are valid.
    unsafe {
        let sd = sys::av_frame_get_side_data(frame, kind);
        if sd.is_null() || (*sd).data.is_null() || (*sd).size < size_of::<T>() {
            return None;
        }
        Some((*sd).data.cast::<T>().read_unaligned())
    }
}

/// Clockwise rotation a player applies; see [`VideoStream::rotation`].
pub(super) fn rotation(st: *const sys::AVStream) -> i32 {
    let Some(matrix) = stream_side_data::<[i32; 9]>(st, sys::AVPacketSideDataType::AV_PKT_DATA_DISPLAYMATRIX) else {
        return 0;
    };
    // SAFETY: `matrix` is a local 3x3 fixed-point matrix.
    let theta = -unsafe { sys::av_display_rotation_get(matrix.as_ptr()) };
    if !theta.is_finite() {
        return 0;
    }
    let quarter = (theta.rem_euclid(360.0) / 90.0).round() as i32;
    quarter.rem_euclid(4) * 90
}

pub(super) fn mastering_from_raw(m: RawMasteringDisplay) -> Option<MasteringDisplay> {
    if m.has_primaries == 0 || m.has_luminance == 0 {
        return None;
    }
    let xy = |p: [sys::AVRational; 2]| (rational_f64(p[0]), rational_f64(p[1]));
    Some(MasteringDisplay {
        red: xy(m.display_primaries[0]),
        green: xy(m.display_primaries[1]),
        blue: xy(m.display_primaries[2]),
        white_point: xy(m.white_point),
        min_luminance: rational_f64(m.min_luminance),
        max_luminance: rational_f64(m.max_luminance),
    })
}

pub(super) fn light_from_raw(c: RawContentLight) -> Option<ContentLightLevel> {
    (c.max_cll > 0 || c.max_fall > 0).then_some(ContentLightLevel { max_cll: c.max_cll, max_fall: c.max_fall })
}

pub(super) fn stream_mastering_display(st: *const sys::AVStream) -> Option<MasteringDisplay> {
    stream_side_data(st, sys::AVPacketSideDataType::AV_PKT_DATA_MASTERING_DISPLAY_METADATA).and_then(mastering_from_raw)
}

pub(super) fn stream_content_light(st: *const sys::AVStream) -> Option<ContentLightLevel> {
    stream_side_data(st, sys::AVPacketSideDataType::AV_PKT_DATA_CONTENT_LIGHT_LEVEL).and_then(light_from_raw)
}

pub(super) fn audio_stream(st: *mut sys::AVStream) -> AudioStream {
    // SAFETY: `st` and its codecpar are live.
    let (par, index, disposition, metadata) =
        unsafe { ((*st).codecpar, (*st).index, (*st).disposition, (*st).metadata) };
    let codec_id = raw_enum!(par, codec_id);
    let order = raw_enum!(par, ch_layout.order);
    // SAFETY: plain reads of codecpar fields (`channels` is the deprecated
    // mirror of `ch_layout.nb_channels`, a fallback for old demuxers).
    #[allow(deprecated)]
    let (profile, nb_channels, old_channels, sample_rate, bit_rate) =
        unsafe { ((*par).profile, (*par).ch_layout.nb_channels, (*par).channels, (*par).sample_rate, (*par).bit_rate) };
    let layout = if order == ORDER_UNSPEC || nb_channels <= 0 {
        None
    } else {
        let mut buf = [0 as c_char; 128];
        // SAFETY: `ch_layout` is a valid layout; `buf` is writable for its length.
        let r = unsafe { sys::av_channel_layout_describe(&(*par).ch_layout, buf.as_mut_ptr(), buf.len()) };
        buf[buf.len() - 1] = 0;
        if r > 0 { c_str(buf.as_ptr()) } else { None }
    };
    AudioStream {
        index: usize::try_from(index).unwrap_or_default(),
        codec: codec_name(codec_id),
        profile: profile_name(codec_id, profile),
        channels: u32::try_from(if nb_channels > 0 { nb_channels } else { old_channels }).unwrap_or_default(),
        layout,
        sample_rate: u32::try_from(sample_rate).unwrap_or_default(),
        language: language(metadata),
        bit_rate: positive_u64(bit_rate),
        default: disposition & sys::AV_DISPOSITION_DEFAULT != 0,
    }
}

pub(super) fn language(metadata: *const sys::AVDictionary) -> Option<String> {
    dict_get(metadata, c"language").filter(|l| !l.eq_ignore_ascii_case("und"))
}

pub(super) fn other_stream(st: *mut sys::AVStream) -> OtherStream {
    // SAFETY: `st` and its codecpar are live.
    let (par, index, metadata) = unsafe { ((*st).codecpar, (*st).index, (*st).metadata) };
    let codec_id = raw_enum!(par, codec_id);
    // SAFETY: plain read.
    let tag = unsafe { (*par).codec_tag };
    let codec = if codec_id == CODEC_NONE || codec_id == CODEC_BIN_DATA {
        fourcc(tag).unwrap_or_else(|| codec_name(codec_id))
    } else {
        codec_name(codec_id)
    };
    OtherStream {
        index: usize::try_from(index).unwrap_or_default(),
        codec,
        language: language(metadata),
        handler: dict_get(metadata, c"handler_name"),
    }
}
