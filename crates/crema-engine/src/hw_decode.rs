//! Hardware video decoding (NVDEC, VA-API, VideoToolbox, Direct3D 11):
//! libavcodec's own decoder with a hardware accelerator attached
//! (`AVCodecContext.hw_device_ctx` and a `get_format` callback), the same
//! mechanism as `ffmpeg -hwaccel`.
//!
//! Decoded pictures are downloaded to system memory
//! (`av_hwframe_transfer_data`, which gives NV12 for 8-bit 4:2:0 and P010
//! for 10-bit) and converted to the stream's own software pixel format, so
//! the filter graph and every encoder see exactly the frames a software
//! decode gives (H.264 and HEVC decoding is bit-exact by the standards'
//! conformance rules: ITU-T H.264 Annex C, H.265 Annex C). Frames are not
//! kept on the device into a hardware encoder yet.
//!
//! What is tried comes from [`DecodePreference`]; the choice and why land
//! in the result as a [`DecoderReport`]. With `auto`, anything that does
//! not work (no accelerator for the codec in this FFmpeg build, no device,
//! a stream profile the device refuses) falls back to software with the
//! reason; a back-end asked for by name that cannot open is an error.

use ff::ffi;
use ffmpeg_next as ff;
use serde::Serialize;
use std::ffi::c_int;
use std::fmt;

use crate::encoder::HwDevice;
use crate::error::{EngineError, Result};

/// A hardware decode back-end (an FFmpeg hardware device type).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum HwDecoder {
    /// NVIDIA NVDEC (a CUDA device); data-centre GPUs without NVENC have it too.
    Nvdec,
    /// VA-API (Intel/AMD on Linux, through a DRM render node).
    Vaapi,
    /// Apple VideoToolbox.
    Videotoolbox,
    /// Direct3D 11 Video (Windows).
    D3d11va,
}

impl HwDecoder {
    /// Every back-end, in `--decoder` order.
    pub const ALL: [HwDecoder; 4] = [HwDecoder::Nvdec, HwDecoder::Vaapi, HwDecoder::Videotoolbox, HwDecoder::D3d11va];

    /// The back-ends `--decoder auto` tries on this platform, in order.
    pub fn platform_order() -> &'static [HwDecoder] {
        if cfg!(target_os = "macos") {
            &[HwDecoder::Videotoolbox]
        } else if cfg!(target_os = "windows") {
            &[HwDecoder::Nvdec, HwDecoder::D3d11va]
        } else {
            &[HwDecoder::Nvdec, HwDecoder::Vaapi]
        }
    }

    /// The FFmpeg device type.
    pub fn device_type(self) -> ffi::AVHWDeviceType {
        use ffi::AVHWDeviceType::*;
        match self {
            HwDecoder::Nvdec => AV_HWDEVICE_TYPE_CUDA,
            HwDecoder::Vaapi => AV_HWDEVICE_TYPE_VAAPI,
            HwDecoder::Videotoolbox => AV_HWDEVICE_TYPE_VIDEOTOOLBOX,
            HwDecoder::D3d11va => AV_HWDEVICE_TYPE_D3D11VA,
        }
    }

    /// The `--decoder` value.
    pub fn cli_name(self) -> &'static str {
        match self {
            HwDecoder::Nvdec => "nvdec",
            HwDecoder::Vaapi => "vaapi",
            HwDecoder::Videotoolbox => "videotoolbox",
            HwDecoder::D3d11va => "d3d11va",
        }
    }
}

impl fmt::Display for HwDecoder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HwDecoder::Nvdec => "NVDEC",
            HwDecoder::Vaapi => "VA-API",
            HwDecoder::Videotoolbox => "VideoToolbox",
            HwDecoder::D3d11va => "Direct3D 11",
        })
    }
}

/// What the user asked for (`--decoder`).
///
/// The default is software: the hardware path is built on FFmpeg's
/// documented mechanism but has not yet run on a real device in this
/// project's checks (docs/reference/hardware-encoders.md, "Hardware decoding").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum DecodePreference {
    /// libavcodec's software decoders.
    #[default]
    Software,
    /// The platform's back-ends in order; software when none works.
    Auto,
    /// Exactly this back-end; failing to open it is an error.
    Only(HwDecoder),
}

impl DecodePreference {
    /// Parses `software|auto|nvdec|vaapi|videotoolbox|d3d11va`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "software" => Some(Self::Software),
            "auto" => Some(Self::Auto),
            _ => HwDecoder::ALL.into_iter().find(|d| d.cli_name() == s).map(Self::Only),
        }
    }
}

/// How the source's video was decoded, in the result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DecoderReport {
    /// The hardware back-end that decoded every picture, or `None` for software.
    pub hardware: Option<HwDecoder>,
    /// One line: why this decoder ("software decoder (--decoder software)",
    /// "VA-API: device opened", or each hardware back-end's reason for not
    /// being used).
    pub reason: String,
}

/// The hardware pixel format `decoder` outputs on `kind` devices, when this
/// FFmpeg build has that accelerator for it (`avcodec_get_hw_config` with
/// `AV_CODEC_HW_CONFIG_METHOD_HW_DEVICE_CTX`).
pub fn hw_pixel_format(decoder: &ff::Codec, kind: ffi::AVHWDeviceType) -> Option<ffi::AVPixelFormat> {
    (0..)
        .map_while(|i| {
            // SAFETY: a valid codec pointer; the function returns NULL past the last index.
            let config = unsafe { ffi::avcodec_get_hw_config(decoder.as_ptr(), i) };
            // SAFETY: non-null pointers point at static descriptors.
            (!config.is_null()).then(|| unsafe { *config })
        })
        .find(|c| c.device_type == kind && c.methods & ffi::AV_CODEC_HW_CONFIG_METHOD_HW_DEVICE_CTX as c_int != 0)
        .map(|c| c.pix_fmt)
}

/// Whether `fmt` is a hardware surface format (`AV_PIX_FMT_FLAG_HWACCEL`).
pub fn is_hardware_format(fmt: ffi::AVPixelFormat) -> bool {
    // SAFETY: returns NULL for unknown formats, else a static descriptor.
    let desc = unsafe { ffi::av_pix_fmt_desc_get(fmt) };
    // SAFETY: checked non-null.
    !desc.is_null() && unsafe { (*desc).flags } & ffi::AV_PIX_FMT_FLAG_HWACCEL as u64 != 0
}

/// The `get_format` rule: `wanted` when the decoder offers it, else the
/// first software format offered (libavcodec then decodes in software), and
/// whether the hardware was taken. `None` when nothing usable is offered.
pub fn choose_format(offered: &[ffi::AVPixelFormat], wanted: ffi::AVPixelFormat) -> Option<(ffi::AVPixelFormat, bool)> {
    if offered.contains(&wanted) {
        return Some((wanted, true));
    }
    offered.iter().copied().find(|&f| !is_hardware_format(f)).map(|f| (f, false))
}

/// A hardware back-end chosen for one stream, before its decoder opens.
pub(crate) struct HwPlan {
    backend: HwDecoder,
    device: HwDevice,
    /// What `get_format` reads (through `AVCodecContext.opaque`) and records.
    state: Box<FormatState>,
}

/// Shared with the `get_format` callback.
struct FormatState {
    wanted: ffi::AVPixelFormat,
    /// Set when the decoder offered no hardware format for a picture
    /// configuration (a profile or size the device does not decode).
    refused: std::sync::atomic::AtomicBool,
}

/// Chooses how `decoder` (the stream's codec, named `codec` in messages)
/// is decoded for `pref`: `Some(plan)` for hardware, and the report.
///
/// Errors: [`EngineError::Usage`] when a back-end asked for by name has no
/// accelerator for this codec in this FFmpeg build or its device does not open.
pub(crate) fn plan(
    pref: DecodePreference,
    decoder: &ff::Codec,
    codec: &str,
    stream_format: ff::format::Pixel,
) -> Result<(Option<HwPlan>, DecoderReport)> {
    let software = |reason: String| (None, DecoderReport { hardware: None, reason });
    let only = match pref {
        DecodePreference::Software => return Ok(software("software decoder (--decoder software)".into())),
        DecodePreference::Auto => None,
        DecodePreference::Only(b) => Some(b),
    };
    let order = only.map_or_else(|| HwDecoder::platform_order().to_vec(), |b| vec![b]);
    let mut skipped = Vec::new();
    for backend in order {
        let opened = if downloads_exactly(stream_format) {
            open(backend, decoder, codec)
        } else {
            Err(format!(
                "{} pictures are decoded in software (hardware decoding is used for 8- and 10-bit 4:2:0, which come back from the device exactly)",
                stream_format.descriptor().map_or("these", |d| d.name())
            ))
        };
        match opened {
            Ok(plan) => {
                let reason = format!("{backend}: device opened, {codec} decoded on it");
                return Ok((Some(plan), DecoderReport { hardware: Some(backend), reason }));
            }
            Err(why) if only.is_some() => {
                return Err(EngineError::Usage(format!(
                    "{backend} decoding is not available here: {why}; use --decoder auto or software"
                )));
            }
            Err(why) => skipped.push(format!("{backend}: {why}")),
        }
    }
    Ok(software(format!("software decoder: no usable hardware decoder ({})", skipped.join("; "))))
}

/// Whether pictures of `format` come back from a device in a layout that
/// converts to it exactly: 8-bit 4:2:0 (NV12) and 10-bit 4:2:0 (P010, the
/// 10 bits in the high bits of 16). 12-bit and 4:4:4 come back as P016 or
/// 16-bit planes, which swscale rescales (65535 → 4095) with rounding.
fn downloads_exactly(format: ff::format::Pixel) -> bool {
    use ff::format::Pixel::*;
    matches!(format, YUV420P | YUVJ420P | YUV420P10LE | NV12 | P010LE)
}

fn open(backend: HwDecoder, decoder: &ff::Codec, codec: &str) -> std::result::Result<HwPlan, String> {
    let kind = backend.device_type();
    let wanted =
        hw_pixel_format(decoder, kind).ok_or_else(|| format!("this FFmpeg build has no {backend} {codec} decoding"))?;
    let label = if backend == HwDecoder::Nvdec { "CUDA".to_string() } else { backend.to_string() };
    let device = HwDevice::open(kind).map_err(|e| format!("no {label} device ({e})"))?;
    let state = Box::new(FormatState { wanted, refused: Default::default() });
    Ok(HwPlan { backend, device, state })
}

impl HwPlan {
    /// Attaches the device and the `get_format` callback to a decoder
    /// context that is not open yet. `self` must outlive the decoder
    /// (the callback reads `self.state` through `opaque`).
    ///
    /// Errors: [`EngineError::Internal`] when the device reference cannot be taken (out of memory).
    pub(crate) fn attach(&self, ctx: *mut ffi::AVCodecContext) -> Result<()> {
        // SAFETY: `ctx` is an allocated, unopened decoder context; a new
        // reference to the device is handed to it (it unrefs it on free);
        // `opaque` points at a boxed state that lives as long as `self`.
        unsafe {
            let device = ffi::av_buffer_ref(self.device.as_ptr());
            if device.is_null() {
                return Err(EngineError::Internal("hardware device reference".into()));
            }
            (*ctx).hw_device_ctx = device;
            // Cropping is applied after the download, exactly as libavcodec
            // crops software frames (it ignores left/top crops on device frames).
            (*ctx).apply_cropping = 0;
            (*ctx).opaque = (&*self.state as *const FormatState).cast_mut().cast();
            (*ctx).get_format = Some(get_format);
        }
        Ok(())
    }

    /// After decoding: `None` when every picture was decoded on the
    /// device, else why some were not.
    pub(crate) fn refused(&self) -> Option<String> {
        self.state.refused.load(std::sync::atomic::Ordering::Relaxed).then(|| {
            format!("{}: the device does not decode this stream's profile or size; decoded in software", self.backend)
        })
    }
}

/// libavcodec's `get_format` callback: [`choose_format`] over the offered list.
unsafe extern "C" fn get_format(ctx: *mut ffi::AVCodecContext, list: *const ffi::AVPixelFormat) -> ffi::AVPixelFormat {
    // SAFETY: libavcodec passes its context (whose `opaque` was set by
    // `HwPlan::attach`) and a list terminated by AV_PIX_FMT_NONE.
    let (state, offered) = unsafe {
        let state = &*((*ctx).opaque as *const FormatState);
        let mut n = 0;
        while *list.add(n) != ffi::AVPixelFormat::AV_PIX_FMT_NONE {
            n += 1;
        }
        (state, std::slice::from_raw_parts(list, n))
    };
    match choose_format(offered, state.wanted) {
        Some((fmt, true)) => fmt,
        Some((fmt, false)) => {
            state.refused.store(true, std::sync::atomic::Ordering::Relaxed);
            fmt
        }
        None => ffi::AVPixelFormat::AV_PIX_FMT_NONE,
    }
}

/// Turns hardware frames into system-memory frames in the stream's
/// software pixel format; software frames pass through.
pub(crate) struct Download {
    /// The stream's software pixel format (what the filter graph was built for).
    target: ff::format::Pixel,
    /// The picture as downloaded from the device (NV12, P010).
    raw: ff::frame::Video,
    /// The picture in `target`, when `raw` is in another format.
    converted: ff::frame::Video,
    scaler: Option<ff::software::scaling::Context>,
}

impl Download {
    /// For a stream whose software pixel format is `target`.
    pub(crate) fn new(target: ff::format::Pixel) -> Self {
        Self { target, raw: ff::frame::Video::empty(), converted: ff::frame::Video::empty(), scaler: None }
    }

    /// `frame` in system memory and in the target format, with its
    /// timestamps and properties.
    ///
    /// Errors: [`EngineError::Internal`] with FFmpeg's message when the
    /// transfer or the conversion fails (a device lost mid-way).
    pub(crate) fn in_memory<'a>(&'a mut self, frame: &'a ff::frame::Video) -> Result<&'a ff::frame::Video> {
        if !is_hardware_format(frame.format().into()) {
            return Ok(frame);
        }
        let fail = |what: &str, e: ff::Error| EngineError::Internal(format!("hardware decode: {what}: {e}"));
        // SAFETY: both frames are valid; `raw` is unreferenced first so the
        // transfer allocates it in the device's preferred software format.
        unsafe {
            ffi::av_frame_unref(self.raw.as_mut_ptr());
            let r = ffi::av_hwframe_transfer_data(self.raw.as_mut_ptr(), frame.as_ptr(), 0);
            if r < 0 {
                return Err(fail("download from the device", ff::Error::from(r)));
            }
            let r = ffi::av_frame_copy_props(self.raw.as_mut_ptr(), frame.as_ptr());
            if r < 0 {
                return Err(fail("frame properties", ff::Error::from(r)));
            }
            // The crop fields came with the properties; flags 0 = aligned, as
            // libavcodec crops software frames without AV_CODEC_FLAG_UNALIGNED.
            let r = ffi::av_frame_apply_cropping(self.raw.as_mut_ptr(), 0);
            if r < 0 {
                return Err(fail("cropping", ff::Error::from(r)));
            }
        }
        self.fit()
    }

    /// `self.raw` in the target format: itself, or converted.
    fn fit(&mut self) -> Result<&ff::frame::Video> {
        let fail = |what: &str, e: ff::Error| EngineError::Internal(format!("hardware decode: {what}: {e}"));
        if self.raw.format() == self.target {
            return Ok(&self.raw);
        }
        use ff::format::Pixel;
        // A full-range "J" format has the layout of its plain twin: convert
        // to that (a range-preserving copy; swscale would expand the range
        // going to a J format) and label the result.
        let layout = match self.target {
            Pixel::YUVJ420P => Pixel::YUV420P,
            t => t,
        };
        let (w, h, from) = (self.raw.width(), self.raw.height(), self.raw.format());
        let stale = self.scaler.as_ref().is_none_or(|s| {
            let i = s.input();
            (i.format, i.width, i.height) != (from, w, h)
        });
        if stale {
            // Same size, a layout change only (NV12 → yuv420p, P010 → yuv420p10):
            // no resampling, so the conversion is exact.
            let s = ff::software::scaling::Context::get(from, w, h, layout, w, h, ff::software::scaling::Flags::POINT)
                .map_err(|e| fail("conversion", e))?;
            self.scaler = Some(s);
        }
        let scaler = self.scaler.as_mut().expect("set above");
        // SAFETY: a valid frame; a fresh picture for every frame, never one the filter graph may still hold.
        unsafe { ffi::av_frame_unref(self.converted.as_mut_ptr()) };
        scaler.run(&self.raw, &mut self.converted).map_err(|e| fail("conversion", e))?;
        // SAFETY: both frames valid; copies pts, color properties and side data.
        let r = unsafe { ffi::av_frame_copy_props(self.converted.as_mut_ptr(), self.raw.as_ptr()) };
        if r < 0 {
            return Err(fail("frame properties", ff::Error::from(r)));
        }
        self.converted.set_format(self.target);
        Ok(&self.converted)
    }
}

/// Each back-end on this platform for `codec`'s decoder: is the
/// accelerator in this FFmpeg build, does its device open (for
/// `crema encoders`).
pub fn detect_all(codec: crate::profile::VideoCodec) -> Vec<(HwDecoder, bool, String)> {
    let id = match codec {
        crate::profile::VideoCodec::Hevc => ff::codec::Id::HEVC,
        crate::profile::VideoCodec::H264 => ff::codec::Id::H264,
    };
    let Some(decoder) = ff::decoder::find(id) else { return vec![] };
    let name = decoder.name().to_string();
    HwDecoder::platform_order()
        .iter()
        .map(|&b| match open(b, &decoder, &name) {
            Ok(_) => (b, true, format!("{name}: {b} device opened")),
            Err(why) => (b, false, why),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ffi::AVPixelFormat::*;

    #[test]
    fn the_hardware_format_is_taken_when_offered_and_software_otherwise() {
        assert_eq!(
            choose_format(&[AV_PIX_FMT_VAAPI, AV_PIX_FMT_YUV420P], AV_PIX_FMT_VAAPI),
            Some((AV_PIX_FMT_VAAPI, true))
        );
        // The device refuses this configuration: libavcodec offers only other formats.
        assert_eq!(
            choose_format(&[AV_PIX_FMT_CUDA, AV_PIX_FMT_YUV420P10LE], AV_PIX_FMT_VAAPI),
            Some((AV_PIX_FMT_YUV420P10LE, false))
        );
        assert_eq!(choose_format(&[AV_PIX_FMT_CUDA], AV_PIX_FMT_VAAPI), None);
        assert!(is_hardware_format(AV_PIX_FMT_CUDA) && !is_hardware_format(AV_PIX_FMT_NV12));
    }

    /// NV12 (interleaved chroma, what devices give) becomes yuv420p with
    /// every sample unchanged, and the frame keeps its timestamp.
    #[test]
    fn a_downloaded_nv12_picture_becomes_the_streams_format_sample_for_sample() {
        ff::init().unwrap();
        let (w, h) = (64u32, 32u32);
        let mut nv12 = ff::frame::Video::new(ff::format::Pixel::NV12, w, h);
        let (ys, cs) = (nv12.stride(0), nv12.stride(1));
        for y in 0..h as usize {
            for x in 0..w as usize {
                nv12.data_mut(0)[y * ys + x] = ((x * 3 + y * 5) % 220 + 16) as u8;
            }
        }
        for y in 0..(h / 2) as usize {
            for x in 0..(w / 2) as usize {
                nv12.data_mut(1)[y * cs + 2 * x] = (x * 7 % 200 + 20) as u8;
                nv12.data_mut(1)[y * cs + 2 * x + 1] = (y * 11 % 200 + 30) as u8;
            }
        }
        nv12.set_pts(Some(1234));
        let mut d = Download::new(ff::format::Pixel::YUV420P);
        d.raw = nv12.clone();
        let out = d.fit().expect("converted");
        assert_eq!(
            (out.format(), out.width(), out.height(), out.pts()),
            (ff::format::Pixel::YUV420P, w, h, Some(1234))
        );
        for y in 0..h as usize {
            for x in 0..w as usize {
                assert_eq!(out.data(0)[y * out.stride(0) + x], nv12.data(0)[y * ys + x], "Y at {x},{y}");
            }
        }
        for y in 0..(h / 2) as usize {
            for x in 0..(w / 2) as usize {
                assert_eq!(out.data(1)[y * out.stride(1) + x], nv12.data(1)[y * cs + 2 * x], "U at {x},{y}");
                assert_eq!(out.data(2)[y * out.stride(2) + x], nv12.data(1)[y * cs + 2 * x + 1], "V at {x},{y}");
            }
        }
    }

    /// P010 (10 bits in the high bits of 16, interleaved chroma) becomes
    /// yuv420p10 with every sample unchanged.
    #[test]
    fn a_downloaded_p010_picture_becomes_yuv420p10_sample_for_sample() {
        ff::init().unwrap();
        let (w, h) = (64u32, 32u32);
        let mut p010 = ff::frame::Video::new(ff::format::Pixel::P010LE, w, h);
        let put = |f: &mut ff::frame::Video, plane: usize, i: usize, v: u16| {
            f.data_mut(plane)[2 * i..2 * i + 2].copy_from_slice(&(v << 6).to_le_bytes())
        };
        let (ys, cs) = (p010.stride(0) / 2, p010.stride(1) / 2);
        let luma = |x: usize, y: usize| ((x * 13 + y * 29) % 876 + 64) as u16;
        let chroma = |x: usize, y: usize, c: usize| ((x * 7 + y * 11 + c * 300) % 896 + 64) as u16;
        for y in 0..h as usize {
            for x in 0..w as usize {
                put(&mut p010, 0, y * ys + x, luma(x, y));
            }
        }
        for y in 0..(h / 2) as usize {
            for x in 0..(w / 2) as usize {
                put(&mut p010, 1, y * cs + 2 * x, chroma(x, y, 0));
                put(&mut p010, 1, y * cs + 2 * x + 1, chroma(x, y, 1));
            }
        }
        let mut d = Download::new(ff::format::Pixel::YUV420P10LE);
        d.raw = p010;
        let out = d.fit().expect("converted");
        let get = |plane: usize, x: usize, y: usize| {
            let i = y * out.stride(plane) + 2 * x;
            u16::from_le_bytes([out.data(plane)[i], out.data(plane)[i + 1]])
        };
        for y in 0..h as usize {
            for x in 0..w as usize {
                assert_eq!(get(0, x, y), luma(x, y), "Y at {x},{y}");
            }
        }
        for y in 0..(h / 2) as usize {
            for x in 0..(w / 2) as usize {
                assert_eq!((get(1, x, y), get(2, x, y)), (chroma(x, y, 0), chroma(x, y, 1)), "UV at {x},{y}");
            }
        }
    }

    /// Full-range 8-bit (yuvj420p) keeps its range: a layout copy, labelled.
    #[test]
    fn a_full_range_stream_keeps_its_samples_and_its_label() {
        ff::init().unwrap();
        let mut nv12 = ff::frame::Video::new(ff::format::Pixel::NV12, 32, 16);
        let s = nv12.stride(0);
        nv12.data_mut(0)[..s * 16].iter_mut().enumerate().for_each(|(i, v)| *v = (i % 256) as u8);
        nv12.data_mut(1).iter_mut().for_each(|v| *v = 0);
        let mut d = Download::new(ff::format::Pixel::YUVJ420P);
        d.raw = nv12.clone();
        let out = d.fit().expect("converted");
        assert_eq!(out.format(), ff::format::Pixel::YUVJ420P);
        for y in 0..16 {
            assert_eq!(&out.data(0)[y * out.stride(0)..y * out.stride(0) + 32], &nv12.data(0)[y * s..y * s + 32]);
        }
    }

    #[test]
    fn only_four_two_zero_at_8_or_10_bits_is_decoded_on_a_device() {
        ff::init().unwrap();
        let h264 = ff::decoder::find(ff::codec::Id::H264).expect("h264 decoder");
        let (plan_, report) = plan(DecodePreference::Auto, &h264, "h264", ff::format::Pixel::YUV422P10LE).unwrap();
        assert!(plan_.is_none());
        assert!(report.reason.contains("yuv422p10le pictures are decoded in software"), "{}", report.reason);
    }

    #[test]
    fn preferences_parse_and_software_is_the_default() {
        assert_eq!(DecodePreference::default(), DecodePreference::Software);
        for b in HwDecoder::ALL {
            assert_eq!(DecodePreference::parse(b.cli_name()), Some(DecodePreference::Only(b)));
        }
        assert_eq!(DecodePreference::parse("auto"), Some(DecodePreference::Auto));
        assert_eq!(DecodePreference::parse("cuda"), None);
    }

    #[test]
    fn a_codec_without_any_accelerator_falls_back_with_the_reason_or_refuses_by_name() {
        ff::init().unwrap();
        // No FFmpeg build has a hardware ProRes decoder outside VideoToolbox.
        let prores = ff::decoder::find(ff::codec::Id::PRORES).expect("prores decoder");
        let b = HwDecoder::platform_order()[0];
        if hw_pixel_format(&prores, b.device_type()).is_some() {
            eprintln!("skipped: this FFmpeg build has {b} ProRes decoding");
            return;
        }
        let (plan_, report) = plan(DecodePreference::Auto, &prores, "prores", ff::format::Pixel::YUV420P).unwrap();
        assert!(plan_.is_none() && report.hardware.is_none());
        assert!(
            report.reason.contains(&format!("{b}: this FFmpeg build has no {b} prores decoding")),
            "{}",
            report.reason
        );
        let err = plan(DecodePreference::Only(b), &prores, "prores", ff::format::Pixel::YUV420P)
            .err()
            .expect("refused by name");
        assert!(err.to_string().contains("use --decoder auto or software"), "{err}");
    }
}
