//! Opening a source: as a file (never a protocol), never as a playlist or
//! concat list, with the demuxer libavformat detects among those allowed;
//! failures in words a user can act on (unreadable, empty, not media).

use std::ffi::{CStr, CString, c_int};
use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::ptr;
use std::sync::OnceLock;

use ffmpeg_next as ffmpeg;
use ffmpeg_next::format::context::Input;
use ffmpeg_sys_next as sys;

use super::ffi::streams;
use crate::error::{EngineError, Result};
use crate::ffutil::c_str;

pub(super) fn unreadable(path: &Path, cause: String) -> EngineError {
    EngineError::InputUnreadable { path: path.to_path_buf(), cause }
}

pub(super) fn unsupported(path: &Path, cause: impl Into<String>) -> EngineError {
    EngineError::InputUnsupported { path: path.to_path_buf(), cause: cause.into() }
}

/// The OS's words for an I/O error, without Rust's "(os error N)" suffix.
pub(super) fn os_reason(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error ") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

pub(super) enum OpenError {
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

pub(super) fn open_error(path: &Path, mut file: File, e: OpenError) -> EngineError {
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
pub(super) fn sniff_format(head: &[u8]) -> Option<String> {
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

/// An open source and what [`super::probe_with`] needs besides.
pub(super) struct Source {
    pub(super) input: Input,
    /// The file, open for hashing (and, on errors, sniffing).
    pub(super) file: File,
    /// Its size in bytes.
    pub(super) bytes: u64,
}

/// [`super::open_input`], keeping the file handle and size for [`super::probe_with`].
pub(super) fn open_source(path: &Path) -> Result<Source> {
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
pub(super) const REFUSED_CAUSE: &str = "playlists and concat lists are not accepted as sources";

/// Demuxers that open other files or URLs named inside the file they read
/// (playlists, manifests, concat lists, session descriptions) or run a
/// script; see [`super::open_input`]. Names as libavformat spells them, old
/// aliases included.
pub(super) const REFUSED_DEMUXERS: &[&str] = &[
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
pub(super) fn is_refused(name: &str) -> bool {
    name.split(',').any(|n| REFUSED_DEMUXERS.contains(&n))
}

/// `format_whitelist` value: every name of every demuxer of the linked
/// FFmpeg except the refused ones (libavformat matches each comma-separated
/// part of a demuxer's name against each entry).
pub(super) fn format_whitelist() -> &'static CStr {
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

/// Opens `path` with libavformat under the rules of [`super::open_input`], then
/// reads the stream headers.
pub(super) fn open_demuxer(path: &Path) -> std::result::Result<Input, OpenError> {
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
pub(super) fn detected_demuxer(url: &CStr) -> Option<String> {
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

pub(super) fn file_url(path: &Path) -> std::result::Result<CString, OpenError> {
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

pub(super) fn demuxer_name(ctx: *const sys::AVFormatContext) -> Option<String> {
    // SAFETY: `ctx` is an open format context; `iformat` is static.
    unsafe {
        let iformat = (*ctx).iformat;
        if iformat.is_null() { None } else { c_str((*iformat).name) }
    }
}
