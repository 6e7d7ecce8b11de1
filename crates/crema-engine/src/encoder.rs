//! Encoder back-ends: software (libx265/libx264) and hardware (NVENC, QSV,
//! VAAPI, VideoToolbox, AMF).
//!
//! A back-end is usable when the linked FFmpeg has its encoder *and* its
//! device opens. [`candidates`] turns a user's [`Preference`] into the
//! ordered list the pipeline tries; the pipeline opens them in order and
//! falls back to software on any failure, recording why (see
//! [`Detection::reason`]). How each profile tier maps onto a back-end's
//! options is data, in the profile files (`[encoders.NAME]`), documented in
//! the README ("Hardware encoders").

use ff::ffi;
use ffmpeg_next as ff;
use serde::Serialize;
use std::fmt;

use crate::error::{EngineError, Result};
use crate::profile::VideoCodec;

/// An encoder family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// libx265 / libx264 on the CPU; always available.
    Software,
    /// NVIDIA NVENC (CUDA device).
    Nvenc,
    /// Intel Quick Sync Video.
    Qsv,
    /// VA-API (Intel/AMD on Linux, via a DRM render node).
    Vaapi,
    /// Apple VideoToolbox.
    Videotoolbox,
    /// AMD AMF (Windows).
    Amf,
}

impl Backend {
    /// Every hardware back-end, in the order `--encoder auto` tries them on this platform.
    pub fn hardware_order() -> &'static [Backend] {
        if cfg!(target_os = "macos") {
            &[Backend::Videotoolbox]
        } else if cfg!(target_os = "windows") {
            &[Backend::Nvenc, Backend::Qsv, Backend::Amf]
        } else {
            &[Backend::Nvenc, Backend::Qsv, Backend::Vaapi]
        }
    }

    /// All back-ends, software first.
    pub const ALL: [Backend; 6] =
        [Backend::Software, Backend::Nvenc, Backend::Qsv, Backend::Vaapi, Backend::Videotoolbox, Backend::Amf];

    /// The FFmpeg encoder name for `codec` on this back-end.
    pub fn encoder_name(self, codec: VideoCodec) -> &'static str {
        use Backend::*;
        use VideoCodec::*;
        match (self, codec) {
            (Software, Hevc) => "libx265",
            (Software, H264) => "libx264",
            (Nvenc, Hevc) => "hevc_nvenc",
            (Nvenc, H264) => "h264_nvenc",
            (Qsv, Hevc) => "hevc_qsv",
            (Qsv, H264) => "h264_qsv",
            (Vaapi, Hevc) => "hevc_vaapi",
            (Vaapi, H264) => "h264_vaapi",
            (Videotoolbox, Hevc) => "hevc_videotoolbox",
            (Videotoolbox, H264) => "h264_videotoolbox",
            (Amf, Hevc) => "hevc_amf",
            (Amf, H264) => "h264_amf",
        }
    }

    /// Name as used on the command line (`--encoder nvenc`).
    pub fn cli_name(self) -> &'static str {
        match self {
            Backend::Software => "software",
            Backend::Nvenc => "nvenc",
            Backend::Qsv => "qsv",
            Backend::Vaapi => "vaapi",
            Backend::Videotoolbox => "videotoolbox",
            Backend::Amf => "amf",
        }
    }

    /// Parses a `--encoder` value other than `auto`.
    pub fn from_cli(name: &str) -> Option<Backend> {
        Self::ALL.into_iter().find(|b| b.cli_name() == name)
    }

    /// The pixel format this back-end's encoder is fed for `bit_depth` (8 or 10):
    /// planar yuv420p/yuv420p10le for software, yuv420p/p010le for NVENC
    /// (it takes no planar 10-bit), semi-planar nv12/p010le for the others
    /// (their native surface layouts). A unit test checks each against the
    /// linked encoder's supported formats.
    pub fn input_pixel(self, bit_depth: u8) -> ff::format::Pixel {
        use ff::format::Pixel;
        match (self, bit_depth) {
            (Backend::Software, 10) => Pixel::YUV420P10LE,
            (Backend::Software | Backend::Nvenc, _) if bit_depth != 10 => Pixel::YUV420P,
            (_, 10) => Pixel::P010LE,
            (_, _) => Pixel::NV12,
        }
    }

    /// The hardware device type whose opening proves the hardware is there.
    pub fn device_type(self) -> Option<ffi::AVHWDeviceType> {
        use ffi::AVHWDeviceType::*;
        match self {
            Backend::Software => None,
            Backend::Nvenc => Some(AV_HWDEVICE_TYPE_CUDA),
            Backend::Qsv => Some(AV_HWDEVICE_TYPE_QSV),
            Backend::Vaapi => Some(AV_HWDEVICE_TYPE_VAAPI),
            Backend::Videotoolbox => Some(AV_HWDEVICE_TYPE_VIDEOTOOLBOX),
            Backend::Amf => Some(AV_HWDEVICE_TYPE_D3D11VA),
        }
    }

    /// Whether frames must be uploaded to device surfaces before encoding
    /// (VAAPI); the others accept system-memory frames.
    pub fn needs_upload(self) -> bool {
        self == Backend::Vaapi
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::Software => "software",
            Backend::Nvenc => "NVENC",
            Backend::Qsv => "Quick Sync",
            Backend::Vaapi => "VA-API",
            Backend::Videotoolbox => "VideoToolbox",
            Backend::Amf => "AMF",
        })
    }
}

/// What the user asked for (`--encoder`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Preference {
    /// Best hardware first, software when none opens.
    #[default]
    Auto,
    /// Exactly this back-end; failing to open it is an error.
    Only(Backend),
}

impl Preference {
    /// Parses `auto|software|nvenc|qsv|vaapi|videotoolbox|amf`.
    pub fn parse(s: &str) -> Option<Self> {
        if s == "auto" { Some(Self::Auto) } else { Backend::from_cli(s).map(Self::Only) }
    }
}

/// Whether a back-end can be used on this machine, and why (not).
#[derive(Clone, Debug, Serialize)]
pub struct Detection {
    /// The back-end.
    pub backend: Backend,
    /// FFmpeg encoder name for HEVC on it.
    pub encoder: &'static str,
    /// True when the encoder is linked and the device opened.
    pub available: bool,
    /// One line: "libx265 is always available", "hevc_nvenc is not in this FFmpeg build",
    /// "no CUDA device: Operation not permitted".
    pub reason: String,
}

/// An opened hardware device (an `AVBufferRef` to an `AVHWDeviceContext`).
pub struct HwDevice(*mut ffi::AVBufferRef);

// SAFETY: an AVHWDeviceContext reference is refcounted and may be used
// from any thread; Crema only ever uses it from the encode thread that owns it.
unsafe impl Send for HwDevice {}

impl HwDevice {
    /// Opens the default device of `kind`.
    ///
    /// Errors: FFmpeg's message (no driver, no device node, permission).
    pub fn open(kind: ffi::AVHWDeviceType) -> std::result::Result<Self, String> {
        let mut ptr = std::ptr::null_mut();
        // SAFETY: valid out-pointer; null device string and options mean "default device".
        let r = unsafe { ffi::av_hwdevice_ctx_create(&mut ptr, kind, std::ptr::null(), std::ptr::null_mut(), 0) };
        if r < 0 || ptr.is_null() { Err(ff::Error::from(r).to_string()) } else { Ok(Self(ptr)) }
    }

    /// The raw reference (still owned by `self`).
    pub fn as_ptr(&self) -> *mut ffi::AVBufferRef {
        self.0
    }
}

impl Drop for HwDevice {
    fn drop(&mut self) {
        // SAFETY: we own one reference.
        unsafe { ffi::av_buffer_unref(&mut self.0) }
    }
}

fn device_label(kind: ffi::AVHWDeviceType) -> &'static str {
    use ffi::AVHWDeviceType::*;
    match kind {
        AV_HWDEVICE_TYPE_CUDA => "CUDA",
        AV_HWDEVICE_TYPE_QSV => "Quick Sync",
        AV_HWDEVICE_TYPE_VAAPI => "VA-API",
        AV_HWDEVICE_TYPE_VIDEOTOOLBOX => "VideoToolbox",
        AV_HWDEVICE_TYPE_D3D11VA => "Direct3D 11",
        _ => "hardware",
    }
}

/// Checks one back-end for `codec`: is the encoder linked, does the device open?
pub fn detect(backend: Backend, codec: VideoCodec) -> Detection {
    let encoder = backend.encoder_name(codec);
    let (available, reason) = if ff::encoder::find_by_name(encoder).is_none() {
        (false, format!("{encoder} is not in this FFmpeg build"))
    } else if let Some(kind) = backend.device_type() {
        match HwDevice::open(kind) {
            Ok(_) => (true, format!("{encoder}: {} device opened", device_label(kind))),
            Err(e) => (false, format!("{encoder}: no {} device ({e})", device_label(kind))),
        }
    } else {
        (true, format!("{encoder} is always available"))
    };
    Detection { backend, encoder, available, reason }
}

/// Detection results for every back-end, software first.
pub fn detect_all(codec: VideoCodec) -> Vec<Detection> {
    Backend::ALL.into_iter().map(|b| detect(b, codec)).collect()
}

/// Back-ends to try in order, each with why, and the reasons hardware was skipped.
pub type Candidates = (Vec<(Backend, String)>, Vec<String>);

/// The ordered back-ends to try for `pref`, each with the reason it is
/// tried, and the notes on hardware that was skipped (for the progress
/// events and the result).
///
/// Errors: [`EngineError::Usage`] when an explicitly asked back-end is not
/// usable here, with the detection's reason.
pub fn candidates(pref: Preference, codec: VideoCodec) -> Result<Candidates> {
    match pref {
        Preference::Only(Backend::Software) => {
            Ok((vec![(Backend::Software, "software encoder requested (--encoder software)".into())], vec![]))
        }
        Preference::Only(b) => {
            let d = detect(b, codec);
            if d.available {
                Ok((vec![(b, format!("{b} requested (--encoder {})", b.cli_name()))], vec![]))
            } else {
                Err(EngineError::Usage(format!(
                    "{b} encoding is not available on this machine: {}; use --encoder auto or software",
                    d.reason
                )))
            }
        }
        Preference::Auto => {
            let mut tried = Vec::new();
            let mut out = Vec::new();
            for &b in Backend::hardware_order() {
                let d = detect(b, codec);
                if d.available {
                    out.push((b, format!("{b} hardware detected ({})", d.reason)));
                } else {
                    tried.push(d.reason);
                }
            }
            let why = if tried.is_empty() {
                "software fallback".to_string()
            } else {
                format!("no usable hardware encoder: {}", tried.join("; "))
            };
            out.push((Backend::Software, why));
            Ok((out, tried))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::ProfileSet;

    #[test]
    fn encoder_names_and_pixel_formats() {
        assert_eq!(Backend::Software.encoder_name(VideoCodec::Hevc), "libx265");
        assert_eq!(Backend::Nvenc.encoder_name(VideoCodec::H264), "h264_nvenc");
        assert_eq!(Backend::Software.input_pixel(10), ff::format::Pixel::YUV420P10LE);
        assert_eq!(Backend::Qsv.input_pixel(10), ff::format::Pixel::P010LE);
        assert_eq!(Backend::Vaapi.input_pixel(8), ff::format::Pixel::NV12);
        assert_eq!(Backend::Nvenc.input_pixel(10), ff::format::Pixel::P010LE);
        assert_eq!(Backend::Nvenc.input_pixel(8), ff::format::Pixel::YUV420P);
        for b in Backend::ALL {
            assert_eq!(Preference::parse(b.cli_name()), Some(Preference::Only(b)));
        }
        assert_eq!(Preference::parse("auto"), Some(Preference::Auto));
        assert_eq!(Preference::parse("cuda"), None);
    }

    /// The pixel format each back-end is fed is one its encoder accepts, for
    /// every encoder in the linked FFmpeg (VAAPI takes device surfaces, so
    /// its software format is checked against the upload path instead).
    #[test]
    fn input_pixel_formats_are_supported_by_the_linked_encoders() {
        crate::init().unwrap();
        for b in Backend::ALL.into_iter().filter(|b| !b.needs_upload()) {
            for codec in [VideoCodec::Hevc, VideoCodec::H264] {
                let Some(enc) = ff::encoder::find_by_name(b.encoder_name(codec)) else { continue };
                let Ok(video) = enc.video() else { continue };
                let Some(formats) = video.formats() else { continue };
                let formats: Vec<_> = formats.collect();
                for depth in [8, 10] {
                    if codec == VideoCodec::H264 && depth == 10 {
                        continue; // H.264 outputs are always 8-bit
                    }
                    let pix = b.input_pixel(depth);
                    assert!(formats.contains(&pix), "{} does not take {pix:?}: {formats:?}", b.encoder_name(codec));
                }
            }
        }
    }

    /// Every built-in concrete profile configures every back-end for both
    /// codecs, and the speed tier maps monotonically onto each back-end's
    /// speed knob.
    #[test]
    fn every_profile_maps_every_backend_and_tiers_are_ordered() {
        crate::init().unwrap();
        let set = ProfileSet::builtin().unwrap();
        for p in set.iter().filter(|p| !p.is_auto()) {
            for b in Backend::ALL {
                for c in [VideoCodec::Hevc, VideoCodec::H264] {
                    let name = b.encoder_name(c);
                    assert!(p.options_for(name).is_some(), "{} lacks [encoders.{name}]", p.id);
                }
            }
            if p.bit_depth == 10 {
                for enc in ["hevc_nvenc", "hevc_qsv", "hevc_vaapi", "hevc_videotoolbox", "hevc_amf"] {
                    assert_eq!(p.encoders[enc]["profile"], "main10", "{} {enc}", p.id);
                }
            }
        }
        let rank = |enc: &str, key: &str, order: &[&str]| {
            ["espresso", "cortado", "americano"]
                .map(|t| {
                    let v = &set.get(&format!("sophon-{t}")).unwrap().encoders[enc][key];
                    order.iter().position(|o| o == v).unwrap_or_else(|| panic!("{enc}.{key}={v}"))
                })
                .to_vec()
        };
        for (enc, key, order) in [
            (
                "libx265",
                "preset",
                &["ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow"][..],
            ),
            (
                "libx264",
                "preset",
                &["ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow"][..],
            ),
            ("hevc_nvenc", "preset", &["p1", "p2", "p3", "p4", "p5", "p6", "p7"][..]),
            ("hevc_qsv", "preset", &["veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow"][..]),
            ("hevc_amf", "quality", &["speed", "balanced", "quality"][..]),
        ] {
            let r = rank(enc, key, order);
            assert!(r[0] < r[1] && r[1] < r[2], "{enc}.{key} not ordered by tier: {r:?}");
        }
        let levels = rank("hevc_vaapi", "compression_level", &["7", "6", "5", "4", "3", "2", "1"]);
        assert!(levels[0] <= levels[1] && levels[1] < levels[2], "vaapi compression_level: {levels:?}");
    }

    /// This machine has no GPU: asking for each hardware back-end must fail
    /// cleanly with a reason, and auto must fall back to software with the
    /// reasons recorded. On a machine with hardware the same test checks the
    /// detection agrees with the candidates.
    #[test]
    fn hardware_requests_fail_cleanly_or_are_detected() {
        crate::init().unwrap();
        let (auto, skipped) = candidates(Preference::Auto, VideoCodec::Hevc).unwrap();
        assert_eq!(auto.last().unwrap().0, Backend::Software);
        for b in Backend::ALL.into_iter().filter(|b| *b != Backend::Software) {
            let d = detect(b, VideoCodec::Hevc);
            match candidates(Preference::Only(b), VideoCodec::Hevc) {
                Ok(c) => assert!(d.available && c.0[0].0 == b),
                Err(e) => {
                    assert!(!d.available);
                    let msg = e.to_string();
                    assert!(msg.contains("not available on this machine") && msg.contains(d.encoder), "{msg}");
                    if Backend::hardware_order().contains(&b) {
                        assert!(skipped.iter().any(|s| s == &d.reason), "{skipped:?} lacks {}", d.reason);
                    }
                }
            }
        }
        assert!(candidates(Preference::Only(Backend::Software), VideoCodec::H264).is_ok());
    }
}
