//! FFI helpers of the probe: FFmpeg functions declared with plain `int`
//! enum parameters, the `raw_enum!` reader, the raw enum values compared
//! against, the side-data layouts, and small conversions (rates, names).

use std::ffi::{c_char, c_int, c_uint};

use ffmpeg_sys_next as sys;

use crate::ffutil::c_str;

/// FFmpeg functions that take C enums, declared here with plain `int`
/// parameters (the same ABI) so that values read from files never have to
/// become Rust enums, where an out-of-range value would be undefined behaviour.
pub(super) mod raw {
    use std::ffi::{c_char, c_int};

    unsafe extern "C" {
        pub fn av_get_pix_fmt_name(pix_fmt: c_int) -> *const c_char;
        pub fn av_pix_fmt_desc_get(pix_fmt: c_int) -> *const ffmpeg_sys_next::AVPixFmtDescriptor;
        pub fn av_color_primaries_name(primaries: c_int) -> *const c_char;
        pub fn av_color_transfer_name(transfer: c_int) -> *const c_char;
        pub fn av_color_space_name(space: c_int) -> *const c_char;
        pub fn av_color_range_name(range: c_int) -> *const c_char;
        pub fn avcodec_get_name(id: c_int) -> *const c_char;
        pub fn avcodec_profile_name(codec_id: c_int, profile: c_int) -> *const c_char;
    }
}

/// Reads a C-enum field of an FFmpeg struct as its raw `int`.
macro_rules! raw_enum {
    ($ptr:expr, $($field:ident).+) => {{
        // SAFETY: the caller guarantees `$ptr` is valid; C enums are `int`
        // sized (checked below) and any bit pattern is a valid `c_int`.
        unsafe { std::ptr::addr_of!((*$ptr).$($field).+).cast::<c_int>().read() }
    }};
}

const _: () = {
    assert!(size_of::<sys::AVCodecID>() == size_of::<c_int>());
    assert!(size_of::<sys::AVMediaType>() == size_of::<c_int>());
    assert!(size_of::<sys::AVFieldOrder>() == size_of::<c_int>());
    assert!(size_of::<sys::AVColorPrimaries>() == size_of::<c_int>());
    assert!(size_of::<sys::AVColorTransferCharacteristic>() == size_of::<c_int>());
    assert!(size_of::<sys::AVColorSpace>() == size_of::<c_int>());
    assert!(size_of::<sys::AVColorRange>() == size_of::<c_int>());
    assert!(size_of::<sys::AVChannelOrder>() == size_of::<c_int>());
};

pub(super) const MEDIA_VIDEO: c_int = sys::AVMediaType::AVMEDIA_TYPE_VIDEO as c_int;
pub(super) const MEDIA_AUDIO: c_int = sys::AVMediaType::AVMEDIA_TYPE_AUDIO as c_int;
pub(super) const MEDIA_DATA: c_int = sys::AVMediaType::AVMEDIA_TYPE_DATA as c_int;
pub(super) const MEDIA_SUBTITLE: c_int = sys::AVMediaType::AVMEDIA_TYPE_SUBTITLE as c_int;
pub(super) const MEDIA_UNKNOWN: c_int = sys::AVMediaType::AVMEDIA_TYPE_UNKNOWN as c_int;
pub(super) const CODEC_NONE: c_int = sys::AVCodecID::AV_CODEC_ID_NONE as c_int;
pub(super) const CODEC_BIN_DATA: c_int = sys::AVCodecID::AV_CODEC_ID_BIN_DATA as c_int;
pub(super) const TRC_PQ: c_int = sys::AVColorTransferCharacteristic::AVCOL_TRC_SMPTE2084 as c_int;
pub(super) const TRC_HLG: c_int = sys::AVColorTransferCharacteristic::AVCOL_TRC_ARIB_STD_B67 as c_int;
pub(super) const PRI_UNSPECIFIED: c_int = sys::AVColorPrimaries::AVCOL_PRI_UNSPECIFIED as c_int;
pub(super) const TRC_UNSPECIFIED: c_int = sys::AVColorTransferCharacteristic::AVCOL_TRC_UNSPECIFIED as c_int;
pub(super) const SPC_UNSPECIFIED: c_int = sys::AVColorSpace::AVCOL_SPC_UNSPECIFIED as c_int;
pub(super) const RANGE_UNSPECIFIED: c_int = sys::AVColorRange::AVCOL_RANGE_UNSPECIFIED as c_int;
pub(super) const ORDER_UNSPEC: c_int = sys::AVChannelOrder::AV_CHANNEL_ORDER_UNSPEC as c_int;
pub(super) const NOPTS: i64 = sys::AV_NOPTS_VALUE;

/// `AVMasteringDisplayMetadata` (libavutil/mastering_display_metadata.h,
/// stable since FFmpeg 3.0; not in ffmpeg-sys-next's bindings).
#[repr(C)]
#[derive(Clone, Copy)]
pub(super) struct RawMasteringDisplay {
    pub(super) display_primaries: [[sys::AVRational; 2]; 3],
    pub(super) white_point: [sys::AVRational; 2],
    pub(super) min_luminance: sys::AVRational,
    pub(super) max_luminance: sys::AVRational,
    pub(super) has_primaries: c_int,
    pub(super) has_luminance: c_int,
}

/// `AVContentLightMetadata` (same header).
#[repr(C)]
#[derive(Clone, Copy)]
pub(super) struct RawContentLight {
    pub(super) max_cll: c_uint,
    pub(super) max_fall: c_uint,
}

pub(super) fn rational_f64(r: sys::AVRational) -> f64 {
    if r.den == 0 { 0.0 } else { f64::from(r.num) / f64::from(r.den) }
}

/// `ticks` in time base `tb` as seconds (multiply first: 480000 x 1/1200000 is 0.4 exactly).
pub(super) fn ticks_seconds(ticks: i64, tb: sys::AVRational) -> f64 {
    ticks as f64 * f64::from(tb.num) / f64::from(tb.den)
}

pub(super) fn valid_rate(r: sys::AVRational) -> Option<(i64, i64)> {
    (r.num > 0 && r.den > 0).then(|| reduce(i64::from(r.num), i64::from(r.den)))
}

pub(super) fn reduce(num: i64, den: i64) -> (i64, i64) {
    fn gcd(mut a: i64, mut b: i64) -> i64 {
        while b != 0 {
            (a, b) = (b, a % b);
        }
        a.abs().max(1)
    }
    let g = gcd(num, den);
    (num / g, den / g)
}

pub(super) fn rate_string((num, den): (i64, i64)) -> String {
    if den == 1 { num.to_string() } else { format!("{num}/{den}") }
}

pub(super) fn rate_f64((num, den): (i64, i64)) -> f64 {
    num as f64 / den as f64
}

/// Frame rates an editor meets; a measured average within 1% of one of
/// these is reported as that rate.
pub(super) const STANDARD_RATES: &[(i64, i64)] = &[
    (24000, 1001),
    (24, 1),
    (25, 1),
    (30000, 1001),
    (30, 1),
    (48, 1),
    (50, 1),
    (60000, 1001),
    (60, 1),
    (100, 1),
    (120000, 1001),
    (120, 1),
    (12, 1),
    (25, 2),
    (15, 1),
    (240, 1),
];

/// The nominal rate: see [`crate::media::MediaInfo::frame_rate`].
pub(super) fn nominal_rate(r: Option<(i64, i64)>, avg: Option<(i64, i64)>) -> Option<(i64, i64)> {
    let chosen = match (r, avg) {
        (Some(r), Some(a)) => {
            let (rf, af) = (rate_f64(r), rate_f64(a));
            if (rf - af).abs() <= af * 0.01 || (rf > af && rf <= af * 1.25) { r } else { a }
        }
        (r, a) => a.or(r)?,
    };
    if chosen.1 <= 1001 {
        return Some(chosen);
    }
    let f = rate_f64(chosen);
    Some(STANDARD_RATES.iter().copied().find(|&s| (rate_f64(s) - f).abs() <= f * 0.01).unwrap_or(chosen))
}

pub(super) fn to_i32_pair((num, den): (i64, i64)) -> (i32, i32) {
    match (i32::try_from(num), i32::try_from(den)) {
        (Ok(n), Ok(d)) => (n, d),
        _ => (0, 1),
    }
}

pub(super) fn positive_u64(v: i64) -> Option<u64> {
    u64::try_from(v).ok().filter(|&v| v > 0)
}

/// The codec tag as text when it is four printable characters (`tmcd`).
pub(super) fn fourcc(tag: u32) -> Option<String> {
    let b = tag.to_le_bytes();
    let printable = b.iter().all(|c| (0x20..0x7f).contains(c)) && b.iter().any(|&c| c != b' ');
    printable.then(|| String::from_utf8_lossy(&b).trim().to_string())
}

pub(super) fn codec_name(id: c_int) -> String {
    // SAFETY: avcodec_get_name accepts any id and returns a static string.
    match c_str(unsafe { raw::avcodec_get_name(id) }) {
        Some(n) if n != "none" => n,
        _ => "unknown".into(),
    }
}

pub(super) fn profile_name(id: c_int, profile: c_int) -> Option<String> {
    // SAFETY: returns null for unknown ids/profiles, else a static string.
    c_str(unsafe { raw::avcodec_profile_name(id, profile) })
}

/// A color property's FFmpeg name, `None` for unspecified, reserved or unknown values.
pub(super) fn color_name(
    value: c_int,
    unspecified: c_int,
    f: unsafe extern "C" fn(c_int) -> *const c_char,
) -> Option<String> {
    if value == unspecified {
        return None;
    }
    // SAFETY: these lookups bound-check and return null or a static string.
    let name = c_str(unsafe { f(value) })?;
    (!matches!(name.as_str(), "unknown" | "reserved" | "reserved0")).then_some(name)
}

pub(super) use raw_enum;

/// The streams of an open context that have codec parameters, in file order.
pub(super) fn streams(ctx: *const sys::AVFormatContext) -> Vec<*mut sys::AVStream> {
    // SAFETY: `ctx` is open; `streams` holds `nb_streams` valid pointers.
    unsafe {
        let n = (*ctx).nb_streams as usize;
        if n == 0 || (*ctx).streams.is_null() {
            return Vec::new();
        }
        std::slice::from_raw_parts((*ctx).streams, n)
            .iter()
            .copied()
            .filter(|s| !s.is_null() && !(**s).codecpar.is_null())
            .collect()
    }
}
