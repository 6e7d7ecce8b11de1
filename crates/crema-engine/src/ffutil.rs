//! Small, checked wrappers over FFmpeg calls that ffmpeg-next leaves loose.
//!
//! ffmpeg-next's `open_with` and `write_header_with` silently drop options the
//! encoder or muxer does not know, so a typo in a profile would pass
//! unnoticed. Everything here fails on leftovers instead.

use ff::ffi;
use ffmpeg_next as ff;
use std::ffi::{CStr, CString, c_char};

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
pub fn write_header(octx: &mut ff::format::context::Output, options: &[(String, String)]) -> Result<(), HeaderError> {
    let left = match octx.write_header_with(to_dictionary(options)) {
        Ok(left) => leftover_keys(&left),
        Err(e) => return Err(HeaderError::Ffmpeg(e)),
    };
    if left.is_empty() { Ok(()) } else { Err(HeaderError::UnknownOptions(left)) }
}

/// Why [`write_header`] failed.
#[derive(Debug)]
pub enum HeaderError {
    /// FFmpeg's own error (I/O errors such as ENOSPC/EACCES included).
    Ffmpeg(ff::Error),
    /// Options the muxer did not consume (a bug in Crema's muxer options).
    UnknownOptions(Vec<String>),
}

/// Checks that encoder `encoder` (an FFmpeg encoder name) accepts option
/// `name` with `value`, without opening it.
///
/// The name must be one of the encoder's private AVOptions or a generic
/// AVCodecContext option; it is looked up in the AVClass tables without
/// allocating anything (`AV_OPT_SEARCH_FAKE_OBJ`). The value is parsed on a
/// real (unopened) context for the software encoders (libx264, libx265),
/// which every run may use; hardware encoders' private contexts can be large
/// (hevc_vaapi's is about 8 MB), so their values are checked when they are
/// opened, by [`open_video_encoder`], whose failure makes `auto` fall back.
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
    // SAFETY: a "fake object" for av_opt_find is a pointer to a pointer to
    // an AVClass; both classes are static and outlive the calls.
    let found = unsafe {
        let find = |class: *const ffi::AVClass| {
            if class.is_null() {
                return std::ptr::null();
            }
            let fake = &class as *const *const ffi::AVClass as *mut libc::c_void;
            ffi::av_opt_find(fake, cname.as_ptr(), std::ptr::null(), 0, ffi::AV_OPT_SEARCH_FAKE_OBJ)
        };
        let private = find((*codec.as_ptr()).priv_class);
        if private.is_null() { find(ffi::avcodec_get_class()) } else { private }
    };
    if found.is_null() {
        return Err(format!("`{name}` is not an option of {encoder}"));
    }
    if !encoder.starts_with("lib") {
        return Ok(true);
    }
    // SAFETY: the context is allocated, used for one av_opt_set and freed here.
    unsafe {
        let mut ctx = ffi::avcodec_alloc_context3(codec.as_ptr());
        if ctx.is_null() {
            return Err("out of memory".into());
        }
        let r = ffi::av_opt_set(ctx as *mut libc::c_void, cname.as_ptr(), cvalue.as_ptr(), ffi::AV_OPT_SEARCH_CHILDREN);
        ffi::avcodec_free_context(&mut ctx);
        if r < 0 {
            let help = if (*found).help.is_null() {
                String::new()
            } else {
                format!(" ({})", CStr::from_ptr((*found).help).to_string_lossy())
            };
            return Err(format!("`{value}` is not a valid value for {encoder} option `{name}`{help}"));
        }
    }
    Ok(true)
}

/// Adds `GLOBAL_HEADER` to an encoder context's flags (MP4 and fMP4 need
/// the parameter sets in extradata), keeping the flags the encoder already
/// has: libx264's defaults include `+cgop` (closed GOPs), which ffmpeg-next's
/// `set_flags` would wipe.
pub fn add_global_header(ctx: &mut ff::codec::Context) {
    // SAFETY: plain field update on a valid, not yet opened context.
    unsafe { (*ctx.as_mut_ptr()).flags |= ffi::AV_CODEC_FLAG_GLOBAL_HEADER as i32 };
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

/// A C string from FFmpeg, `None` when null.
pub(crate) fn c_str(p: *const c_char) -> Option<String> {
    if p.is_null() {
        return None;
    }
    // SAFETY: FFmpeg returns NUL-terminated strings that live at least as
    // long as this call (static tables or the owning context).
    Some(unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
}

/// A metadata value, trimmed; `None` when absent or blank.
pub(crate) fn dict_get(dict: *const ffi::AVDictionary, key: &CStr) -> Option<String> {
    if dict.is_null() {
        return None;
    }
    // SAFETY: `dict` is a live dictionary owned by the format context.
    let entry = unsafe { ffi::av_dict_get(dict, key.as_ptr(), std::ptr::null(), 0) };
    if entry.is_null() {
        return None;
    }
    // SAFETY: a non-null entry has a valid value pointer (or null).
    let value = c_str(unsafe { (*entry).value })?;
    let value = value.trim();
    (!value.is_empty()).then(|| value.to_string())
}

/// Read errors in a row after which a source is given up as unreadable.
const MAX_READ_ERRORS: u32 = 100;

/// Reads the next packet of `ictx` into a fresh packet (ffmpeg-next's
/// `Packet::read` does not unreference the previous packet, so reusing one
/// would keep every packet of the source in memory, libavcodec 59). A
/// damaged stretch is skipped; `None` at the end of the file.
///
/// Errors: [`crate::EngineError::InputUnsupported`] (naming `input`) after
/// more than 100 read errors in a row (`errors` counts them across calls).
pub(crate) fn read_packet(
    ictx: &mut ff::format::context::Input,
    input: &std::path::Path,
    errors: &mut u32,
) -> crate::Result<Option<ff::Packet>> {
    loop {
        let mut packet = ff::Packet::empty();
        match packet.read(ictx) {
            Ok(()) => {
                *errors = 0;
                return Ok(Some(packet));
            }
            Err(ff::Error::Eof) => return Ok(None),
            Err(e) => {
                *errors += 1;
                if *errors > MAX_READ_ERRORS {
                    return Err(crate::EngineError::InputUnsupported {
                        path: input.into(),
                        cause: format!("unreadable data: {e}"),
                    });
                }
            }
        }
    }
}
