//! What a source file is: container, streams, color, HDR, rotation, timecode.
//!
//! [`probe`] opens a file with libavformat, reads the stream headers (and the
//! first video frame's side data where the container does not carry HDR
//! metadata), hashes the file with SHA-256 and returns a [`MediaInfo`];
//! [`probe_with`] does the same and can be canceled.
//!
//! [`open_input`] is how the whole engine opens a source: as a file (never
//! a protocol), and never as a playlist or concat list that would make
//! libavformat read other files.
//!
//! The JSON form of [`MediaInfo`] is what `crema probe --json` prints; its
//! first six fields are the `/v1` contract's `source` object.

use std::ffi::{CStr, CString, c_char, c_int, c_uint};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::ptr;
use std::sync::OnceLock;

use ffmpeg_next as ffmpeg;
use ffmpeg_next::format::context::Input;
use ffmpeg_sys_next as sys;
use sha2::{Digest, Sha256};

use crate::error::{EngineError, Result};
use crate::ffutil::{c_str, dict_get};
pub use crate::media::{AudioStream, ContentLightLevel, MasteringDisplay, MediaInfo, OtherStream, VideoStream};
use crate::progress::CancelFlag;

/// Probes `path`: [`probe_with`] with a flag nobody raises.
///
/// Errors: [`EngineError::InputUnreadable`] when the file cannot be opened
/// for reading; [`EngineError::InputUnsupported`] when it is empty, not a
/// media container, a playlist or concat list, a still image, truncated, or
/// has no video or audio stream. A file with audio but no video probes fine
/// (`video: None`); encoding it is refused later.
///
/// Opens the file with [`open_input`] and reads the stream headers; decodes
/// at most a few video packets when the field order or (for PQ/HLG) the HDR
/// metadata is only in the bitstream; reads every packet only when neither
/// container nor streams declare a duration (raw elementary streams). Then
/// hashes the whole file.
pub fn probe(path: &Path) -> Result<MediaInfo> {
    probe_with(path, &CancelFlag::new())
}

/// [`probe`], stopping with [`EngineError::Canceled`] when `cancel` is
/// raised: checked before opening, between packets of the packet pass, and
/// between the 1 MiB reads of the SHA-256 (so a multi-gigabyte source stops
/// within one read, not after hashing all of it).
///
/// Errors: those of [`probe`], and [`EngineError::Canceled`].
pub fn probe_with(path: &Path, cancel: &CancelFlag) -> Result<MediaInfo> {
    check_canceled(cancel)?;
    let Source { mut input, file, bytes } = open_source(path)?;
    let mut info = describe(path, &mut input, bytes, cancel)?;
    drop(input);
    info.sha256 = sha256_file_from(path, file, cancel)?;
    Ok(info)
}

/// [`probe_with`] without the SHA-256 (`sha256` is left empty): the header
/// facts only, plus the packet pass when the headers leave the duration or
/// field order open. Fast on big files, for UIs that show what a file is
/// before anyone asks for an encode.
///
/// Errors: those of [`probe_with`].
pub fn probe_facts(path: &Path, cancel: &CancelFlag) -> Result<MediaInfo> {
    check_canceled(cancel)?;
    let Source { mut input, bytes, .. } = open_source(path)?;
    describe(path, &mut input, bytes, cancel)
}

/// Lower-case hex SHA-256 of the file at `path` (the [`MediaInfo::sha256`]
/// that [`probe_with`] computes), read in 1 MiB blocks with `cancel` checked
/// between reads.
///
/// Errors: [`EngineError::InputUnreadable`] when the file cannot be opened or
/// read; [`EngineError::Canceled`] when `cancel` is raised.
pub fn sha256_file(path: &Path, cancel: &CancelFlag) -> Result<String> {
    check_canceled(cancel)?;
    let file = File::open(path).map_err(|e| unreadable(path, os_reason(&e)))?;
    sha256_file_from(path, file, cancel)
}

/// Opens a source file for demuxing: the one way every part of the engine
/// (probe, the encode pipeline, `sophon-auto`'s sample encode) opens a
/// user's file, so all of them accept and refuse the same files.
///
/// The context is open with its stream information read
/// (`avformat_find_stream_info` done), like `ffmpeg_next::format::input`.
///
/// Why not `ffmpeg_next::format::input`: the LAN server opens files that
/// users name or upload, and libavformat picks what to do from the name and
/// the contents, not the extension. Left to itself it would follow an
/// `.m3u8` playlist or an `ffconcat` list (even one named `x.mov`) that names
/// `/etc/passwd`, another user's upload or a URL. So:
///
/// - the path is passed as `file:<path>`, so a name such as `12:30.mov`,
///   `concat:a.mp4|b.mp4` or `http:x` is always a file name and never a
///   protocol;
/// - `protocol_whitelist` is `file` only: no network, no `concat:`,
///   `subfile:`, `crypto:`, `data:` or `tee:` protocols, for this context or
///   any it would open;
/// - `format_whitelist` names every demuxer of the linked FFmpeg except
///   those that read other files or URLs named inside the file: `hls`
///   (`applehttp`), `dash`, `concat` (`ffconcat`), `imf`, `sdp`, `rtp`,
///   `rtsp`, `sap`, and the script inputs `lavfi`, `avisynth` and
///   `vapoursynth`. libavformat checks it after detecting the format and
///   before the demuxer reads a byte of the list, so nothing it names is
///   opened;
/// - `image2` gets `pattern_type=none`, so a name like `img%03d.jpg` is that
///   one file and never a numbered sequence of other files; `mov` gets
///   `enable_drefs=0` (FFmpeg's default) so external data references stay
///   unfollowed.
///
/// Errors, the same as [`probe`]'s for the same file:
/// [`EngineError::InputUnreadable`] when it is missing, a folder, not a
/// regular file, or cannot be read; [`EngineError::InputUnsupported`] when it
/// is empty, a playlist or concat list (cause `"playlists and concat lists
/// are not accepted as sources"`), not a media file FFmpeg can read, or
/// truncated so that its streams cannot be read.
pub fn open_input(path: &Path) -> Result<Input> {
    Ok(open_source(path)?.input)
}

// ---------------------------------------------------------------------------
// FFI helpers
// ---------------------------------------------------------------------------

/// FFmpeg functions that take C enums, declared here with plain `int`
/// parameters (the same ABI) so that values read from files never have to
/// become Rust enums, where an out-of-range value would be undefined behaviour.
mod raw {
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

const MEDIA_VIDEO: c_int = sys::AVMediaType::AVMEDIA_TYPE_VIDEO as c_int;
const MEDIA_AUDIO: c_int = sys::AVMediaType::AVMEDIA_TYPE_AUDIO as c_int;
const MEDIA_DATA: c_int = sys::AVMediaType::AVMEDIA_TYPE_DATA as c_int;
const MEDIA_SUBTITLE: c_int = sys::AVMediaType::AVMEDIA_TYPE_SUBTITLE as c_int;
const MEDIA_UNKNOWN: c_int = sys::AVMediaType::AVMEDIA_TYPE_UNKNOWN as c_int;
const CODEC_NONE: c_int = sys::AVCodecID::AV_CODEC_ID_NONE as c_int;
const CODEC_BIN_DATA: c_int = sys::AVCodecID::AV_CODEC_ID_BIN_DATA as c_int;
const TRC_PQ: c_int = sys::AVColorTransferCharacteristic::AVCOL_TRC_SMPTE2084 as c_int;
const TRC_HLG: c_int = sys::AVColorTransferCharacteristic::AVCOL_TRC_ARIB_STD_B67 as c_int;
const PRI_UNSPECIFIED: c_int = sys::AVColorPrimaries::AVCOL_PRI_UNSPECIFIED as c_int;
const TRC_UNSPECIFIED: c_int = sys::AVColorTransferCharacteristic::AVCOL_TRC_UNSPECIFIED as c_int;
const SPC_UNSPECIFIED: c_int = sys::AVColorSpace::AVCOL_SPC_UNSPECIFIED as c_int;
const RANGE_UNSPECIFIED: c_int = sys::AVColorRange::AVCOL_RANGE_UNSPECIFIED as c_int;
const ORDER_UNSPEC: c_int = sys::AVChannelOrder::AV_CHANNEL_ORDER_UNSPEC as c_int;
const NOPTS: i64 = sys::AV_NOPTS_VALUE;

/// `AVMasteringDisplayMetadata` (libavutil/mastering_display_metadata.h,
/// stable since FFmpeg 3.0; not in ffmpeg-sys-next's bindings).
#[repr(C)]
#[derive(Clone, Copy)]
struct RawMasteringDisplay {
    display_primaries: [[sys::AVRational; 2]; 3],
    white_point: [sys::AVRational; 2],
    min_luminance: sys::AVRational,
    max_luminance: sys::AVRational,
    has_primaries: c_int,
    has_luminance: c_int,
}

/// `AVContentLightMetadata` (same header).
#[repr(C)]
#[derive(Clone, Copy)]
struct RawContentLight {
    max_cll: c_uint,
    max_fall: c_uint,
}

fn rational_f64(r: sys::AVRational) -> f64 {
    if r.den == 0 { 0.0 } else { f64::from(r.num) / f64::from(r.den) }
}

/// `ticks` in time base `tb` as seconds (multiply first: 480000 x 1/1200000 is 0.4 exactly).
fn ticks_seconds(ticks: i64, tb: sys::AVRational) -> f64 {
    ticks as f64 * f64::from(tb.num) / f64::from(tb.den)
}

fn valid_rate(r: sys::AVRational) -> Option<(i64, i64)> {
    (r.num > 0 && r.den > 0).then(|| reduce(i64::from(r.num), i64::from(r.den)))
}

fn reduce(num: i64, den: i64) -> (i64, i64) {
    fn gcd(mut a: i64, mut b: i64) -> i64 {
        while b != 0 {
            (a, b) = (b, a % b);
        }
        a.abs().max(1)
    }
    let g = gcd(num, den);
    (num / g, den / g)
}

fn rate_string((num, den): (i64, i64)) -> String {
    if den == 1 { num.to_string() } else { format!("{num}/{den}") }
}

fn rate_f64((num, den): (i64, i64)) -> f64 {
    num as f64 / den as f64
}

/// Frame rates an editor meets; a measured average within 1% of one of
/// these is reported as that rate.
const STANDARD_RATES: &[(i64, i64)] = &[
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

/// The nominal rate: see [`MediaInfo::frame_rate`].
fn nominal_rate(r: Option<(i64, i64)>, avg: Option<(i64, i64)>) -> Option<(i64, i64)> {
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

fn to_i32_pair((num, den): (i64, i64)) -> (i32, i32) {
    match (i32::try_from(num), i32::try_from(den)) {
        (Ok(n), Ok(d)) => (n, d),
        _ => (0, 1),
    }
}

fn positive_u64(v: i64) -> Option<u64> {
    u64::try_from(v).ok().filter(|&v| v > 0)
}

/// The codec tag as text when it is four printable characters (`tmcd`).
fn fourcc(tag: u32) -> Option<String> {
    let b = tag.to_le_bytes();
    let printable = b.iter().all(|c| (0x20..0x7f).contains(c)) && b.iter().any(|&c| c != b' ');
    printable.then(|| String::from_utf8_lossy(&b).trim().to_string())
}

fn codec_name(id: c_int) -> String {
    // SAFETY: avcodec_get_name accepts any id and returns a static string.
    match c_str(unsafe { raw::avcodec_get_name(id) }) {
        Some(n) if n != "none" => n,
        _ => "unknown".into(),
    }
}

fn profile_name(id: c_int, profile: c_int) -> Option<String> {
    // SAFETY: returns null for unknown ids/profiles, else a static string.
    c_str(unsafe { raw::avcodec_profile_name(id, profile) })
}

/// A color property's FFmpeg name, `None` for unspecified, reserved or unknown values.
fn color_name(value: c_int, unspecified: c_int, f: unsafe extern "C" fn(c_int) -> *const c_char) -> Option<String> {
    if value == unspecified {
        return None;
    }
    // SAFETY: these lookups bound-check and return null or a static string.
    let name = c_str(unsafe { f(value) })?;
    (!matches!(name.as_str(), "unknown" | "reserved" | "reserved0")).then_some(name)
}

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

fn unreadable(path: &Path, cause: String) -> EngineError {
    EngineError::InputUnreadable { path: path.to_path_buf(), cause }
}

fn unsupported(path: &Path, cause: impl Into<String>) -> EngineError {
    EngineError::InputUnsupported { path: path.to_path_buf(), cause: cause.into() }
}

/// The OS's words for an I/O error, without Rust's "(os error N)" suffix.
fn os_reason(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error ") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

enum OpenError {
    /// The path cannot be passed to FFmpeg (not UTF-8 on a non-Unix system).
    Path(String),
    /// `avformat_open_input` failed.
    Open(ffmpeg::Error),
    /// The file is a playlist, concat list or other file that names other
    /// files (a demuxer in [`REFUSED_DEMUXERS`]).
    Refused,
    /// `avformat_find_stream_info` failed; carries the demuxer's name.
    StreamInfo(String, ffmpeg::Error),
}

fn open_error(path: &Path, mut file: File, e: OpenError) -> EngineError {
    match e {
        OpenError::Path(cause) => unreadable(path, cause),
        OpenError::Refused => unsupported(path, REFUSED_CAUSE),
        OpenError::StreamInfo(format, err) => unsupported(
            path,
            format!(
                "FFmpeg opened it as {format} but cannot read its streams ({err}); the file is probably truncated or damaged"
            ),
        ),
        OpenError::Open(err) => {
            if let ffmpeg::Error::Other { errno } = err
                && matches!(errno, libc::ENOENT | libc::EACCES | libc::EPERM | libc::EISDIR | libc::EIO)
            {
                return unreadable(path, os_reason(&std::io::Error::from_raw_os_error(errno)));
            }
            let mut head = Vec::new();
            let _ = (&mut file).take(1 << 20).read_to_end(&mut head);
            match sniff_format(&head) {
                Some(name) => unsupported(
                    path,
                    format!(
                        "the file looks like {name} but FFmpeg cannot open it ({err}); it is probably truncated or damaged"
                    ),
                ),
                None if matches!(err, ffmpeg::Error::InvalidData | ffmpeg::Error::Eof) => {
                    unsupported(path, "not a video or audio file FFmpeg can read")
                }
                None => unsupported(path, format!("not a video or audio file FFmpeg can read ({err})")),
            }
        }
    }
}

/// The container the first bytes look like (by content alone, not the
/// file name), when libavformat is reasonably sure.
fn sniff_format(head: &[u8]) -> Option<String> {
    if head.is_empty() {
        return None;
    }
    let mut buf = Vec::with_capacity(head.len() + sys::AVPROBE_PADDING_SIZE as usize);
    buf.extend_from_slice(head);
    buf.resize(head.len() + sys::AVPROBE_PADDING_SIZE as usize, 0);
    let pd = sys::AVProbeData {
        filename: c"".as_ptr(),
        buf: buf.as_mut_ptr(),
        buf_size: c_int::try_from(head.len()).ok()?,
        mime_type: ptr::null(),
    };
    let mut score: c_int = 0;
    // SAFETY: `pd` points at `buf`, which is padded with zeros as required.
    let fmt = unsafe { sys::av_probe_input_format3(&pd, 1, &mut score) };
    if fmt.is_null() || score <= sys::AVPROBE_SCORE_EXTENSION / 2 {
        return None;
    }
    // SAFETY: a non-null AVInputFormat is a static descriptor.
    let (name, long) = unsafe { (c_str((*fmt).name), c_str((*fmt).long_name)) };
    long.or(name)
}

// ---------------------------------------------------------------------------
// Opening
// ---------------------------------------------------------------------------

/// An open source and what [`probe_with`] needs besides.
struct Source {
    input: Input,
    /// The file, open for hashing (and, on errors, sniffing).
    file: File,
    /// Its size in bytes.
    bytes: u64,
}

/// [`open_input`], keeping the file handle and size for [`probe_with`].
fn open_source(path: &Path) -> Result<Source> {
    crate::init()?;
    let meta = std::fs::metadata(path).map_err(|e| unreadable(path, os_reason(&e)))?;
    if meta.is_dir() {
        return Err(unreadable(path, "it is a folder, not a file".into()));
    }
    if !meta.is_file() {
        return Err(unreadable(path, "not a regular file (a device, pipe or socket)".into()));
    }
    let file = File::open(path).map_err(|e| unreadable(path, os_reason(&e)))?;
    let bytes = meta.len();
    if bytes == 0 {
        return Err(unsupported(path, "empty file (0 bytes)"));
    }
    match open_demuxer(path) {
        Ok(input) => Ok(Source { input, file, bytes }),
        Err(e) => Err(open_error(path, file, e)),
    }
}

/// The cause of [`EngineError::InputUnsupported`] for a refused demuxer.
const REFUSED_CAUSE: &str = "playlists and concat lists are not accepted as sources";

/// Demuxers that open other files or URLs named inside the file they read
/// (playlists, manifests, concat lists, session descriptions) or run a
/// script; see [`open_input`]. Names as libavformat spells them, old
/// aliases included.
const REFUSED_DEMUXERS: &[&str] = &[
    "hls",
    "applehttp",
    "dash",
    "concat",
    "imf",
    "sdp",
    "rtp",
    "rtsp",
    "sap",
    "lavfi",
    "avisynth",
    "vapoursynth",
    "vobsub",
];

/// Whether a demuxer name (possibly a comma list such as `mov,mp4,...`)
/// names a refused demuxer.
fn is_refused(name: &str) -> bool {
    name.split(',').any(|n| REFUSED_DEMUXERS.contains(&n))
}

/// `format_whitelist` value: every name of every demuxer of the linked
/// FFmpeg except the refused ones (libavformat matches each comma-separated
/// part of a demuxer's name against each entry).
fn format_whitelist() -> &'static CStr {
    static LIST: OnceLock<CString> = OnceLock::new();
    LIST.get_or_init(|| {
        let mut names: Vec<String> = Vec::new();
        let mut opaque: *mut std::ffi::c_void = ptr::null_mut();
        loop {
            // SAFETY: iterates FFmpeg's static demuxer table; `opaque` is the
            // iteration state FFmpeg owns.
            let fmt = unsafe { sys::av_demuxer_iterate(&mut opaque) };
            if fmt.is_null() {
                break;
            }
            // SAFETY: a non-null AVInputFormat is a static descriptor.
            let Some(name) = c_str(unsafe { (*fmt).name }) else { continue };
            if is_refused(&name) {
                continue;
            }
            names.extend(name.split(',').filter(|n| !n.is_empty() && !is_refused(n)).map(str::to_string));
        }
        names.sort();
        names.dedup();
        // Demuxer names never contain NUL; an empty list would allow nothing.
        CString::new(names.join(",")).unwrap_or_else(|_| c"none".to_owned())
    })
}

/// Opens `path` with libavformat under the rules of [`open_input`], then
/// reads the stream headers.
fn open_demuxer(path: &Path) -> std::result::Result<Input, OpenError> {
    let url = file_url(path)?;
    let mut opts: *mut sys::AVDictionary = ptr::null_mut();
    let mut ctx: *mut sys::AVFormatContext = ptr::null_mut();
    // SAFETY: plain FFmpeg calls with valid, NUL-terminated strings; `ctx`
    // is owned by `Input` as soon as the open succeeds (on failure
    // avformat_open_input frees it and sets it to null).
    unsafe {
        sys::av_dict_set(&mut opts, c"protocol_whitelist".as_ptr(), c"file".as_ptr(), 0);
        sys::av_dict_set(&mut opts, c"format_whitelist".as_ptr(), format_whitelist().as_ptr(), 0);
        sys::av_dict_set(&mut opts, c"pattern_type".as_ptr(), c"none".as_ptr(), 0);
        sys::av_dict_set(&mut opts, c"enable_drefs".as_ptr(), c"0".as_ptr(), 0);
        let r = sys::avformat_open_input(&mut ctx, url.as_ptr(), ptr::null(), &mut opts);
        sys::av_dict_free(&mut opts);
        if r < 0 || ctx.is_null() {
            // The whitelist refusal is a bare EINVAL: probe the format again
            // (as avformat_open_input did) to tell it apart.
            if detected_demuxer(&url).is_some_and(|name| is_refused(&name)) {
                return Err(OpenError::Refused);
            }
            return Err(OpenError::Open(ffmpeg::Error::from(r.min(-1))));
        }
        let input = Input::wrap(ctx);
        // Cannot happen with the whitelist in force; checked all the same.
        if demuxer_name(ctx).is_some_and(|name| is_refused(&name)) {
            return Err(OpenError::Refused);
        }
        // Decoders probing the streams refuse pictures beyond the source
        // limit instead of allocating them (a file may declare 15000x15000).
        let limit = crate::levels::source_limits().max_samples.min(i32::MAX as u64);
        let max_pixels = CString::new(limit.to_string()).unwrap_or_else(|_| c"2147483647".to_owned());
        // A refused picture leaves the stream without a size (libavcodec
        // clears it): the size the container declared is put back, so the
        // encode can refuse it in words (`limits::check_source`).
        let declared: Vec<(c_int, c_int)> =
            streams(ctx).iter().map(|&st| ((*(*st).codecpar).width, (*(*st).codecpar).height)).collect();
        let mut stream_opts: Vec<*mut sys::AVDictionary> = vec![ptr::null_mut(); (*ctx).nb_streams as usize];
        for d in &mut stream_opts {
            sys::av_dict_set(d, c"max_pixels".as_ptr(), max_pixels.as_ptr(), 0);
        }
        let r = sys::avformat_find_stream_info(
            ctx,
            if stream_opts.is_empty() { ptr::null_mut() } else { stream_opts.as_mut_ptr() },
        );
        for d in &mut stream_opts {
            sys::av_dict_free(d);
        }
        for (&st, &(w, h)) in streams(ctx).iter().zip(&declared) {
            let par = (*st).codecpar;
            let refused = w > 0 && h > 0 && (w as u64) * (h as u64) > limit;
            if (*par).width == 0 && (*par).height == 0 && refused {
                (*par).width = w;
                (*par).height = h;
            }
        }
        if r < 0 {
            let name = demuxer_name(ctx).unwrap_or_else(|| "media".into());
            return Err(OpenError::StreamInfo(name, ffmpeg::Error::from(r)));
        }
        Ok(input)
    }
}

/// The demuxer libavformat picks for `url` by content and name (what
/// `avformat_open_input` probes), reading through the `file` protocol only.
fn detected_demuxer(url: &CStr) -> Option<String> {
    let mut opts: *mut sys::AVDictionary = ptr::null_mut();
    let mut pb: *mut sys::AVIOContext = ptr::null_mut();
    let mut fmt: *const sys::AVInputFormat = ptr::null();
    // SAFETY: plain FFmpeg calls; `pb` is closed before returning and `fmt`
    // points at a static descriptor.
    unsafe {
        sys::av_dict_set(&mut opts, c"protocol_whitelist".as_ptr(), c"file".as_ptr(), 0);
        let r = sys::avio_open2(&mut pb, url.as_ptr(), sys::AVIO_FLAG_READ, ptr::null(), &mut opts);
        sys::av_dict_free(&mut opts);
        if r < 0 || pb.is_null() {
            return None;
        }
        let r = sys::av_probe_input_buffer2(pb, &mut fmt, url.as_ptr(), ptr::null_mut(), 0, 0);
        sys::avio_closep(&mut pb);
        if r < 0 || fmt.is_null() { None } else { c_str((*fmt).name) }
    }
}

fn file_url(path: &Path) -> std::result::Result<CString, OpenError> {
    #[cfg(unix)]
    let bytes = {
        use std::os::unix::ffi::OsStrExt;
        path.as_os_str().as_bytes().to_vec()
    };
    #[cfg(not(unix))]
    let bytes =
        path.to_str().ok_or_else(|| OpenError::Path("the file name is not valid Unicode".into()))?.as_bytes().to_vec();
    let mut url = b"file:".to_vec();
    url.extend_from_slice(&bytes);
    CString::new(url).map_err(|_| OpenError::Path("the file name contains a NUL byte".into()))
}

fn demuxer_name(ctx: *const sys::AVFormatContext) -> Option<String> {
    // SAFETY: `ctx` is an open format context; `iformat` is static.
    unsafe {
        let iformat = (*ctx).iformat;
        if iformat.is_null() { None } else { c_str((*iformat).name) }
    }
}

// ---------------------------------------------------------------------------
// Describing
// ---------------------------------------------------------------------------

fn streams(ctx: *const sys::AVFormatContext) -> Vec<*mut sys::AVStream> {
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

fn stream_seconds(st: *const sys::AVStream) -> Option<f64> {
    // SAFETY: `st` is a live stream of an open context.
    let (dur, tb) = unsafe { ((*st).duration, (*st).time_base) };
    (dur > 0 && dur != NOPTS && tb.den > 0 && tb.num > 0).then(|| ticks_seconds(dur, tb))
}

fn describe(path: &Path, input: &mut Input, bytes: u64, cancel: &CancelFlag) -> Result<MediaInfo> {
    // SAFETY: the context stays open for the whole function.
    let ctx = unsafe { input.as_mut_ptr() };
    let container = demuxer_name(ctx).unwrap_or_else(|| "unknown".into());
    let all = streams(ctx);

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
    for &st in &all {
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

fn video_stream(st: *mut sys::AVStream) -> VideoStream {
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

fn field_order_name(v: c_int) -> &'static str {
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
fn stream_side_data<T: Copy>(st: *const sys::AVStream, kind: sys::AVPacketSideDataType) -> Option<T> {
    let mut size: usize = 0;
    // SAFETY: `st` is live; the returned buffer has `size` bytes.
    let p = unsafe { sys::av_stream_get_side_data(st, kind, &mut size) };
    // SAFETY: checked non-null and large enough; read unaligned to be safe.
    (!p.is_null() && size >= size_of::<T>()).then(|| unsafe { p.cast::<T>().read_unaligned() })
}

/// Frame side data of `kind` as a `T`, when present and large enough.
fn frame_side_data<T: Copy>(frame: *const sys::AVFrame, kind: sys::AVFrameSideDataType) -> Option<T> {
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
fn rotation(st: *const sys::AVStream) -> i32 {
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

fn mastering_from_raw(m: RawMasteringDisplay) -> Option<MasteringDisplay> {
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

fn light_from_raw(c: RawContentLight) -> Option<ContentLightLevel> {
    (c.max_cll > 0 || c.max_fall > 0).then_some(ContentLightLevel { max_cll: c.max_cll, max_fall: c.max_fall })
}

fn stream_mastering_display(st: *const sys::AVStream) -> Option<MasteringDisplay> {
    stream_side_data(st, sys::AVPacketSideDataType::AV_PKT_DATA_MASTERING_DISPLAY_METADATA).and_then(mastering_from_raw)
}

fn stream_content_light(st: *const sys::AVStream) -> Option<ContentLightLevel> {
    stream_side_data(st, sys::AVPacketSideDataType::AV_PKT_DATA_CONTENT_LIGHT_LEVEL).and_then(light_from_raw)
}

/// A single picture opened as "video": image demuxers (`image2`,
/// `jpeg_pipe`, `png_pipe`...) or a one-frame GIF.
fn is_still_image(container: &str, v: &VideoStream, st: *const sys::AVStream) -> bool {
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
fn check_mov_index(path: &Path, all: &[*mut sys::AVStream], bytes: u64) -> Result<()> {
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

fn audio_stream(st: *mut sys::AVStream) -> AudioStream {
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

fn language(metadata: *const sys::AVDictionary) -> Option<String> {
    dict_get(metadata, c"language").filter(|l| !l.eq_ignore_ascii_case("und"))
}

fn other_stream(st: *mut sys::AVStream) -> OtherStream {
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

// ---------------------------------------------------------------------------
// Reading packets
// ---------------------------------------------------------------------------

/// What the first decoded video frame says.
struct FrameFacts {
    field_order: &'static str,
    mastering_display: Option<MasteringDisplay>,
    content_light_level: Option<ContentLightLevel>,
}

struct Pass {
    frame: Option<FrameFacts>,
    /// Longest stream duration summed from packet durations (video packets
    /// without one count one frame at the average rate).
    counted_seconds: f64,
}

/// Video packets sent to the decoder before giving up on a first frame.
const DECODE_BUDGET: usize = 64;
/// Packets of all streams read while looking for that frame (a video
/// stream that is declared but carries no packets must not cost a full read).
const READ_BUDGET: usize = 5000;

fn read_packets(
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

fn open_decoder(st: *mut sys::AVStream) -> Option<ffmpeg::decoder::Video> {
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

fn receive_first(dec: &mut ffmpeg::decoder::Video) -> Option<FrameFacts> {
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

// ---------------------------------------------------------------------------
// Hashing
// ---------------------------------------------------------------------------

/// [`EngineError::Canceled`] when `cancel` is raised.
fn check_canceled(cancel: &CancelFlag) -> Result<()> {
    if cancel.is_canceled() { Err(EngineError::Canceled) } else { Ok(()) }
}

/// SHA-256 of `file` from its start, 1 MiB per read, `cancel` checked before each.
fn sha256_file_from(path: &Path, mut file: File, cancel: &CancelFlag) -> Result<String> {
    file.seek(SeekFrom::Start(0)).map_err(|e| unreadable(path, os_reason(&e)))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        check_canceled(cancel)?;
        match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => hasher.update(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(unreadable(path, os_reason(&e))),
        }
    }
    Ok(hex::encode(hasher.finalize()))
}
