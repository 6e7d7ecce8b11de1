//! What this process is linked against, for `--version` and bug reports:
//! FFmpeg's libraries as loaded at run time (a packaged binary runs on the
//! distribution's FFmpeg, which can be a newer point release than the headers
//! it was built with), and the x264 and x265 libraries behind the `libx264`
//! and `libx265` encoders.
//!
//! x264 exports no version call, and its build number (the `164` of
//! `libx264.so.164`) does not name the revision. Both encoders write their
//! exact version into the first access unit they produce (an SEI "user data
//! unregistered" message: H.264 D.1.6 / H.265 D.2.7), so [`linked`] encodes
//! one 64×64 grey frame with each and reads it from there: the version of the
//! library that does Crema's encodes, whichever one the loader found. That
//! costs a few milliseconds; call it for `--version`, not on every start.

use ffmpeg_next as ff;
use std::ffi::CStr;
use std::fmt;

/// One FFmpeg library and the version the loader found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Library {
    /// `libavcodec`, `libavformat`, …
    pub name: &'static str,
    /// `major.minor.micro`, e.g. `59.37.100`.
    pub version: String,
}

/// Versions of everything that encodes in this process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Versions {
    /// FFmpeg's release as its build names it (`av_version_info`), e.g.
    /// `5.1.8-0+deb12u1` on Debian 12.
    pub ffmpeg: String,
    /// Each FFmpeg library Crema links.
    pub libraries: Vec<Library>,
    /// x264 as its SEI names it, e.g. `core 164 r3095 baee400`; `None` when
    /// this FFmpeg has no `libx264` encoder or it could not encode a frame.
    pub x264: Option<String>,
    /// x265, e.g. `3.5+1-f0c1022b6 (build 199)`; `None` as for [`Versions::x264`].
    pub x265: Option<String>,
}

/// `major.minor.micro` from FFmpeg's `AV_VERSION_INT` packing (8 bits each).
fn unpack(v: u32) -> String {
    format!("{}.{}.{}", v >> 16, (v >> 8) & 0xff, v & 0xff)
}

/// Queries the linked libraries and encodes one frame with x264 and x265.
///
/// Errors: none; a library or encoder that cannot tell its version is
/// reported as unknown or absent. Calls [`crate::init`] first (which keeps
/// FFmpeg's log quiet).
pub fn linked() -> Versions {
    let _ = crate::init();
    // SAFETY: av_version_info returns a pointer to a static NUL-terminated string.
    let ffmpeg = unsafe { CStr::from_ptr(ff::ffi::av_version_info()) }.to_string_lossy().into_owned();
    let libraries = [
        ("libavutil", ff::util::version()),
        ("libavcodec", ff::codec::version()),
        ("libavformat", ff::format::version()),
        ("libavfilter", ff::filter::version()),
        ("libavdevice", ff::device::version()),
        ("libswscale", ff::software::scaling::version()),
        ("libswresample", ff::software::resampling::version()),
    ]
    .into_iter()
    .map(|(name, v)| Library { name, version: unpack(v) })
    .collect();
    let x264 = first_packet("libx264", &[("preset", "ultrafast")]).and_then(|p| x264_version(&p));
    let x265 = first_packet("libx265", &[("preset", "ultrafast"), ("x265-params", "log-level=none:pools=none")])
        .and_then(|p| x265_version(&p));
    Versions { ffmpeg, libraries, x264, x265 }
}

/// The bytes of everything `encoder` writes for one 64×64 grey 8-bit 4:2:0
/// frame; `None` when the encoder is missing or fails.
fn first_packet(encoder: &str, options: &[(&str, &str)]) -> Option<Vec<u8>> {
    let codec = ff::encoder::find_by_name(encoder)?;
    let mut ctx = ff::codec::context::Context::new_with_codec(codec).encoder().video().ok()?;
    ctx.set_width(64);
    ctx.set_height(64);
    ctx.set_format(ff::format::Pixel::YUV420P);
    ctx.set_time_base(ff::Rational::new(1, 25));
    ctx.set_frame_rate(Some(ff::Rational::new(25, 1)));
    let options: Vec<(String, String)> = options.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let mut enc = crate::ffutil::open_video_encoder(ctx, codec, &options).ok()?;
    let mut frame = ff::frame::Video::new(ff::format::Pixel::YUV420P, 64, 64);
    for plane in 0..3 {
        frame.data_mut(plane).fill(128);
    }
    frame.set_pts(Some(0));
    enc.send_frame(&frame).ok()?;
    enc.send_eof().ok()?;
    let mut bytes = Vec::new();
    let mut packet = ff::Packet::empty();
    while enc.receive_packet(&mut packet).is_ok() {
        bytes.extend_from_slice(packet.data().unwrap_or_default());
    }
    (!bytes.is_empty()).then_some(bytes)
}

/// The text between `start` and the first of `ends` after it, in `bytes`.
fn between(bytes: &[u8], start: &str, ends: &[&str]) -> Option<String> {
    let text = String::from_utf8_lossy(bytes);
    let from = text.find(start)? + start.len();
    let rest = &text[from..];
    let to = ends.iter().filter_map(|e| rest.find(e)).min().unwrap_or(rest.len().min(80));
    let v = rest[..to].trim();
    (!v.is_empty()).then(|| v.to_string())
}

/// x264's SEI: `x264 - core 164 r3095 baee400 - H.264/MPEG-4 AVC codec - …` → `core 164 r3095 baee400`.
fn x264_version(bytes: &[u8]) -> Option<String> {
    between(bytes, "x264 - ", &[" - "]).filter(|v| v.starts_with("core "))
}

/// x265's SEI: `x265 (build 199) - 3.5+1-f0c1022b6:[Linux][GCC 12.2.0][64 bit] … - H.265/HEVC codec`
/// → `3.5+1-f0c1022b6 (build 199)`.
fn x265_version(bytes: &[u8]) -> Option<String> {
    let build = between(bytes, "x265 (build ", &[")"])?;
    let version = between(bytes, &format!("x265 (build {build}) - "), &[":", " - "])?;
    Some(format!("{version} (build {build})"))
}

impl fmt::Display for Versions {
    /// Three lines: `FFmpeg 5.1.8: libavutil 57.28.100, …`, `x264 core 164 …`, `x265 3.5 …`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let libs: Vec<String> = self.libraries.iter().map(|l| format!("{} {}", l.name, l.version)).collect();
        writeln!(f, "FFmpeg {}: {}", self.ffmpeg, libs.join(", "))?;
        writeln!(f, "x264 {}", self.x264.as_deref().unwrap_or("not available in this FFmpeg"))?;
        write!(f, "x265 {}", self.x265.as_deref().unwrap_or("not available in this FFmpeg"))
    }
}

/// The whole `--version` text of a Crema program: `NAME VERSION (commit C)`
/// then [`Versions`]' lines, ending with a newline.
pub fn report(program: &str, version: &str, commit: &str) -> String {
    format!("{program} {version} (commit {commit})\n{}\n", linked())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sei_texts_are_parsed() {
        let x264 = b"\x00\x00\x01\x06\x05\xff\x00x264 - core 164 r3095 baee400 - H.264/MPEG-4 AVC codec - Copyleft";
        assert_eq!(x264_version(x264).as_deref(), Some("core 164 r3095 baee400"));
        let x265 = b"junk x265 (build 199) - 3.5+1-f0c1022b6:[Linux][GCC 12.2.0][64 bit] 8bit - H.265/HEVC codec";
        assert_eq!(x265_version(x265).as_deref(), Some("3.5+1-f0c1022b6 (build 199)"));
        assert_eq!(x264_version(b"no banner here"), None);
        assert_eq!(x265_version(b"x265 (build 199) - "), None);
        assert_eq!(unpack((59 << 16) | (37 << 8) | 100), "59.37.100");
    }

    #[test]
    fn linked_versions_match_the_headers_and_name_both_encoders() {
        let v = linked();
        let codec = v.libraries.iter().find(|l| l.name == "libavcodec").unwrap();
        // The loader found the major version Crema was compiled against (a
        // different major would not have loaded: the soname carries it).
        assert!(codec.version.starts_with(&format!("{}.", ff::ffi::LIBAVCODEC_VERSION_MAJOR)), "{v:?}");
        assert!(!v.ffmpeg.is_empty());
        // The test machines' FFmpeg has both encoders (see README "Tests").
        if ff::encoder::find_by_name("libx264").is_some() {
            let x264 = v.x264.as_deref().expect("libx264 names its version");
            assert!(x264.starts_with("core ") && x264.contains(" r"), "{x264}");
        }
        if ff::encoder::find_by_name("libx265").is_some() {
            assert!(v.x265.as_deref().is_some_and(|s| s.contains("(build ")), "{v:?}");
        }
        let text = report("crema", "0.1.0", "abc");
        assert!(text.starts_with("crema 0.1.0 (commit abc)\nFFmpeg "), "{text}");
        assert_eq!(text.lines().count(), 4, "{text}");
    }
}
