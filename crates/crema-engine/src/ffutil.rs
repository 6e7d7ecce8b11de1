//! Small, checked wrappers over FFmpeg calls that ffmpeg-next leaves loose.
//!
//! ffmpeg-next's `open_with` and `write_header_with` silently drop options the
//! encoder or muxer does not know, so a typo in a profile would pass
//! unnoticed. Everything here fails on leftovers instead.

use ff::ffi;
use ffmpeg_next as ff;
use std::ffi::{CStr, CString};

/// Encoder or muxer options as ordered (name, value) pairs, exactly as the
/// `ffmpeg` command line would take them (`-preset medium` is `("preset", "medium")`).
pub type Options = Vec<(String, String)>;

fn to_dictionary(options: &[(String, String)]) -> ff::Dictionary<'static> {
    let mut dict = ff::Dictionary::new();
    for (k, v) in options {
        dict.set(k, v);
    }
    dict
}

fn leftover_keys(dict: &ff::Dictionary) -> Vec<String> {
    dict.iter().map(|(k, _)| k.to_string()).collect()
}

/// Opens a video encoder with `options`, failing when FFmpeg did not consume
/// every option (unknown name) or rejected a value.
///
/// Errors: the FFmpeg error text, or `unknown option(s) for ENCODER: a, b`.
pub fn open_video_encoder(
    ctx: ff::codec::encoder::video::Video,
    codec: ff::Codec,
    options: &[(String, String)],
) -> Result<ff::codec::encoder::video::Encoder, String> {
    let mut ctx = ctx;
    unsafe {
        let mut opts = to_dictionary(options).disown();
        let res = ffi::avcodec_open2(ctx.as_mut_ptr(), codec.as_ptr(), &mut opts);
        let left = ff::Dictionary::own(opts);
        if res < 0 {
            return Err(ff::Error::from(res).to_string());
        }
        let left = leftover_keys(&left);
        if !left.is_empty() {
            return Err(format!("unknown option(s) for {}: {}", codec.name(), left.join(", ")));
        }
    }
    Ok(ff::codec::encoder::video::Encoder(ctx))
}

/// Opens an audio encoder with `options`; same strictness as [`open_video_encoder`].
pub fn open_audio_encoder(
    ctx: ff::codec::encoder::audio::Audio,
    codec: ff::Codec,
    options: &[(String, String)],
) -> Result<ff::codec::encoder::audio::Encoder, String> {
    let mut ctx = ctx;
    unsafe {
        let mut opts = to_dictionary(options).disown();
        let res = ffi::avcodec_open2(ctx.as_mut_ptr(), codec.as_ptr(), &mut opts);
        let left = ff::Dictionary::own(opts);
        if res < 0 {
            return Err(ff::Error::from(res).to_string());
        }
        let left = leftover_keys(&left);
        if !left.is_empty() {
            return Err(format!("unknown option(s) for {}: {}", codec.name(), left.join(", ")));
        }
    }
    Ok(ff::codec::encoder::audio::Encoder(ctx))
}

/// Writes a muxer header with `options`, failing on options the muxer did
/// not consume. The leftovers are copied out at once because the returned
/// dictionary borrows the context.
pub fn write_header(octx: &mut ff::format::context::Output, options: &[(String, String)]) -> Result<(), String> {
    let left = match octx.write_header_with(to_dictionary(options)) {
        Ok(left) => leftover_keys(&left),
        Err(e) => return Err(e.to_string()),
    };
    if left.is_empty() { Ok(()) } else { Err(format!("unknown muxer option(s): {}", left.join(", "))) }
}

/// Checks that encoder `encoder` (an FFmpeg encoder name) accepts option
/// `name` with `value`, without opening it: the option must exist among the
/// encoder's private or generic AVOptions and the value must parse.
///
/// Returns `Ok(false)` when the encoder is not in the linked FFmpeg (nothing
/// can be checked), `Ok(true)` when the option is valid, `Err(reason)` otherwise.
pub fn check_encoder_option(encoder: &str, name: &str, value: &str) -> Result<bool, String> {
    let Some(codec) = ff::encoder::find_by_name(encoder) else {
        return Ok(false);
    };
    let (Ok(cname), Ok(cvalue)) = (CString::new(name), CString::new(value)) else {
        return Err(format!("option `{name}` contains a NUL byte"));
    };
    unsafe {
        let mut ctx = ffi::avcodec_alloc_context3(codec.as_ptr());
        if ctx.is_null() {
            return Err("out of memory".into());
        }
        let found = ffi::av_opt_find(
            ctx as *mut libc::c_void,
            cname.as_ptr(),
            std::ptr::null(),
            0,
            ffi::AV_OPT_SEARCH_CHILDREN,
        );
        let result = if found.is_null() {
            Err(format!("`{name}` is not an option of {encoder}"))
        } else {
            let r =
                ffi::av_opt_set(ctx as *mut libc::c_void, cname.as_ptr(), cvalue.as_ptr(), ffi::AV_OPT_SEARCH_CHILDREN);
            if r < 0 {
                let help = CStr::from_ptr((*found).help);
                let help =
                    if (*found).help.is_null() { String::new() } else { format!(" ({})", help.to_string_lossy()) };
                Err(format!("`{value}` is not a valid value for {encoder} option `{name}`{help}"))
            } else {
                Ok(true)
            }
        };
        ffi::avcodec_free_context(&mut ctx);
        result
    }
}

/// Sets the `hvc1` sample entry on an HEVC output stream (Apple players need
/// it in MP4/fMP4; FFmpeg's default is `hev1`). ffmpeg-next has no safe
/// setter for the codec tag, hence this small `unsafe` block.
pub fn set_hvc1_tag(stream: &mut ff::format::stream::StreamMut) {
    let tag = u32::from_le_bytes(*b"hvc1");
    // SAFETY: the stream pointer is valid for the lifetime of `stream` and
    // codecpar is always allocated by avformat_new_stream.
    unsafe {
        (*(*stream.as_mut_ptr()).codecpar).codec_tag = tag;
    }
}

/// Copies an FFmpeg metadata dictionary into owned pairs.
pub fn dict_pairs(dict: &ff::DictionaryRef) -> Vec<(String, String)> {
    dict.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}
