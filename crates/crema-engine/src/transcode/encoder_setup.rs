//! Setting up one video encoder: its options from the profile and the
//! output's needs (keyframes, HLS IDRs, scene cuts, HDR metadata, colour
//! description, the frames-in-flight budget, VBV cap), the hardware upload
//! for back-ends that need one ([`HwUpload`]), and the options as reported.
//! What an output asks of its encoder is a [`SinkSpec`].

use ff::Rational;
use ff::ffi;
use ffmpeg_next as ff;

use crate::budget::Budget;
use crate::encoder::{Backend, HwDevice};
use crate::ffutil::{self, Options};
use crate::media::VideoStream;
use crate::profile::{Profile, VideoCodec};

/// Where keyframes go.
#[derive(Clone, Copy, Debug)]
pub(super) enum Keyframing {
    /// Profile policy: keyframe at most every `max` seconds, scene cuts as the profile says.
    File { max_seconds: f64, scenecut: bool },
    /// HLS: a forced IDR every `segment` seconds, no scene cuts, closed GOPs.
    Hls { segment_seconds: f64 },
}

/// What one video output needs from its encoder.
pub(super) struct SinkSpec {
    /// Which output ("file", "hls 720p"), for events.
    pub(super) label: String,
    pub(super) codec: VideoCodec,
    /// 8 or 10.
    pub(super) bit_depth: u8,
    /// (width, height) in pixels.
    pub(super) size: (u32, u32),
    /// Encoder time base (the filter graph's output time base).
    pub(super) tb: Rational,
    /// Nominal frame rate.
    pub(super) frame_rate: Rational,
    pub(super) keyframing: Keyframing,
    /// VBV peak cap, kbit/s (HLS rungs).
    pub(super) peak_kbps: Option<u32>,
    /// What the encoder may hold (lookahead) and the job's thread plan.
    pub(super) budget: Budget,
}

/// System-memory → device-surface upload for back-ends that need it (VAAPI).
pub(super) struct HwUpload {
    pub(super) frames: *mut ffi::AVBufferRef,
    _device: HwDevice,
}

impl HwUpload {
    pub(super) fn new(
        device: HwDevice,
        sw: ff::format::Pixel,
        hw: ffi::AVPixelFormat,
        w: u32,
        h: u32,
    ) -> std::result::Result<Self, String> {
        // SAFETY: standard FFmpeg frames-context set-up; every pointer is checked.
        unsafe {
            let frames = ffi::av_hwframe_ctx_alloc(device.as_ptr());
            if frames.is_null() {
                return Err("cannot allocate hardware frames".into());
            }
            let fc = (*frames).data as *mut ffi::AVHWFramesContext;
            (*fc).format = hw;
            (*fc).sw_format = sw.into();
            (*fc).width = w as i32;
            (*fc).height = h as i32;
            (*fc).initial_pool_size = 20;
            let r = ffi::av_hwframe_ctx_init(frames);
            if r < 0 {
                let mut f = frames;
                ffi::av_buffer_unref(&mut f);
                return Err(ff::Error::from(r).to_string());
            }
            Ok(Self { frames, _device: device })
        }
    }

    pub(super) fn upload(&self, src: &ff::frame::Video) -> std::result::Result<ff::frame::Video, ff::Error> {
        // SAFETY: `dst` is a fresh frame; av_hwframe_get_buffer fills it from our pool.
        unsafe {
            let mut dst = ff::frame::Video::empty();
            let r = ffi::av_hwframe_get_buffer(self.frames, dst.as_mut_ptr(), 0);
            if r < 0 {
                return Err(ff::Error::from(r));
            }
            let r = ffi::av_hwframe_transfer_data(dst.as_mut_ptr(), src.as_ptr(), 0);
            if r < 0 {
                return Err(ff::Error::from(r));
            }
            let r = ffi::av_frame_copy_props(dst.as_mut_ptr(), src.as_ptr());
            if r < 0 {
                return Err(ff::Error::from(r));
            }
            Ok(dst)
        }
    }
}

impl Drop for HwUpload {
    fn drop(&mut self) {
        // SAFETY: we own one reference.
        unsafe { ffi::av_buffer_unref(&mut self.frames) }
    }
}

/// An opened encoder with what was set on it.
pub(super) struct Opened {
    pub(super) encoder: ff::codec::encoder::video::Encoder,
    /// Every option set, for the report.
    pub(super) options: Vec<(String, String)>,
    pub(super) upload: Option<HwUpload>,
    /// The software pixel format it is fed.
    pub(super) pix: ff::format::Pixel,
}

/// The keyframe interval the encoders are given, in frames (at least 1):
/// `seconds` at `fps` frames per second, rounded.
pub(crate) fn gop_frames(seconds: f64, fps: f64) -> u32 {
    (seconds * fps).round().max(1.0) as u32
}

/// Builds the encoder options for `backend` from the profile and the
/// output's needs, and opens it. Returns the options as set (for the report).
pub(super) fn try_open(
    spec: &SinkSpec,
    profile: &Profile,
    backend: Backend,
    video: &VideoStream,
) -> std::result::Result<Opened, String> {
    let &SinkSpec { codec, bit_depth, size: (width, height), tb, frame_rate, keyframing, peak_kbps, budget, .. } = spec;
    let name = backend.encoder_name(codec);
    let ffcodec = ff::encoder::find_by_name(name).ok_or_else(|| format!("{name} is not in this FFmpeg build"))?;
    let mut opts =
        profile.options_for(name).ok_or_else(|| format!("profile {} has no [encoders.{name}]", profile.id))?;
    let fps = f64::from(frame_rate);
    let (gop, scenecut, hls) = match keyframing {
        Keyframing::File { max_seconds, scenecut } => (gop_frames(max_seconds, fps), scenecut, false),
        Keyframing::Hls { segment_seconds } => (gop_frames(segment_seconds, fps), false, true),
    };
    let pix = backend.input_pixel(bit_depth);
    let mut ctx = ff::codec::context::Context::new_with_codec(ffcodec).encoder().video().map_err(|e| e.to_string())?;
    ctx.set_width(width);
    ctx.set_height(height);
    ctx.set_format(if backend.needs_upload() { ff::format::Pixel::VAAPI } else { pix });
    ctx.set_time_base(tb);
    ctx.set_frame_rate(Some(frame_rate));
    ctx.set_aspect_ratio(Rational::new(1, 1));
    ctx.set_gop(gop);
    // Add to the encoder's default flags (libx264's include +cgop: closed GOPs).
    ffutil::add_global_header(&mut ctx);
    // Color description: SDR outputs of HDR sources are BT.709; otherwise the source's.
    let tone_mapped = video.hdr.is_some() && bit_depth == 8;
    // What is set here is also reported, as `ffmpeg` options.
    let mut color_opts: Vec<(&str, String)> = Vec::new();
    if tone_mapped {
        color_opts.extend(["color_primaries", "color_trc", "colorspace"].map(|k| (k, "bt709".to_string())));
        ctx.set_color_primaries(ff::color::Primaries::BT709);
        ctx.set_color_transfer_characteristic(ff::color::TransferCharacteristic::BT709);
        ctx.set_colorspace(ff::color::Space::BT709);
    } else {
        if let Some((name, p)) = video.color_primaries.as_deref().and_then(|n| Some((n, primaries(n)?))) {
            ctx.set_color_primaries(p);
            color_opts.push(("color_primaries", name.to_string()));
        }
        if let Some((name, t)) = video.color_transfer.as_deref().and_then(|n| Some((n, transfer(n)?))) {
            ctx.set_color_transfer_characteristic(t);
            color_opts.push(("color_trc", name.to_string()));
        }
        if let Some((name, m)) = video.color_matrix.as_deref().and_then(|n| Some((n, matrix(n)?))) {
            ctx.set_colorspace(m);
            color_opts.push(("colorspace", name.to_string()));
        }
    }
    color_opts.push(("color_range", "tv".to_string()));
    ctx.set_color_range(ff::color::Range::MPEG);
    let mut x_params = codec_params(name, gop, (hls, scenecut), bit_depth, video, &mut opts);
    // Frames in flight per encoder (see `budget`): after the profile's, so they win.
    x_params.extend(crate::budget::x_params(name, &opts, budget, u64::from(width) * u64::from(height)));
    if !x_params.is_empty() {
        let key = if name == "libx265" { "x265-params" } else { "x264-params" };
        if let Some(existing) = opts.iter_mut().find(|(k, _)| k == key) {
            existing.1 = format!("{}:{}", existing.1, x_params.join(":"));
        } else {
            opts.push((key.into(), x_params.join(":")));
        }
    }
    if let Some(k) = peak_kbps {
        opts.push(("maxrate".into(), format!("{k}k")));
        opts.push(("bufsize".into(), format!("{}k", k * 2)));
    }
    let upload = if backend.needs_upload() {
        let kind = backend.device_type().expect("hardware backend has a device type");
        let device = HwDevice::open(kind)?;
        let up = HwUpload::new(device, pix, ffi::AVPixelFormat::AV_PIX_FMT_VAAPI, width, height)?;
        // SAFETY: the encoder takes its own reference to the frames context.
        unsafe { (*ctx.as_mut_ptr()).hw_frames_ctx = ffi::av_buffer_ref(up.frames) };
        Some(up)
    } else {
        None
    };
    let enc = ffutil::open_video_encoder(ctx, ffcodec, &opts)?;
    let mut report = opts;
    report.insert(0, ("pix_fmt".into(), pixel_name(pix)));
    report.insert(1, ("g".into(), gop.to_string()));
    if let Keyframing::Hls { segment_seconds } = keyframing {
        report.insert(2, ("force_key_frames".into(), format!("expr:gte(t,n_forced*{segment_seconds})")));
    }
    report.extend(color_opts.into_iter().map(|(k, v)| (k.to_string(), v)));
    Ok(Opened { encoder: enc, options: report, upload, pix })
}

/// The `x264-params`/`x265-params` entries (and the extra options pushed
/// onto `opts`) that encoder `name` needs for `gop` frames between
/// keyframes: `(hls, scenecut)` says whether HLS segments need forced IDRs
/// at a fixed interval (no scene cuts, closed GOPs), else whether scene cuts
/// may add keyframes; 10-bit HDR sources give x265 their mastering display
/// and light levels.
pub(super) fn codec_params(
    name: &str,
    gop: u32,
    (hls, scenecut): (bool, bool),
    bit_depth: u8,
    video: &VideoStream,
    opts: &mut Options,
) -> Vec<String> {
    let mut x_params: Vec<String> = Vec::new();
    match name {
        "libx265" => {
            x_params.push("log-level=error".into());
            x_params.push(format!("keyint={gop}"));
            if hls {
                x_params.extend([format!("min-keyint={gop}"), "scenecut=0".into(), "open-gop=0".into()]);
                opts.push(("forced-idr".into(), "1".into()));
            } else if !scenecut {
                x_params.push("scenecut=0".into());
            }
            if bit_depth == 10 && video.hdr.is_some() {
                if let Some(md) = &video.mastering_display {
                    // x265 units: chromaticity 0.00002, luminance 0.0001 cd/m² (SMPTE ST 2086 as in HEVC SEI D.2.28).
                    let c = |v: f64| (v / 0.00002).round() as u32;
                    let l = |v: f64| (v / 0.0001).round() as u64;
                    x_params.push(format!(
                        "master-display=G({},{})B({},{})R({},{})WP({},{})L({},{})",
                        c(md.green.0),
                        c(md.green.1),
                        c(md.blue.0),
                        c(md.blue.1),
                        c(md.red.0),
                        c(md.red.1),
                        c(md.white_point.0),
                        c(md.white_point.1),
                        l(md.max_luminance),
                        l(md.min_luminance)
                    ));
                }
                if let Some(cll) = &video.content_light_level {
                    x_params.push(format!("max-cll={},{}", cll.max_cll, cll.max_fall));
                }
                if video.hdr.as_deref() == Some("pq") {
                    x_params.push("hdr10=1".into());
                }
                x_params.push("repeat-headers=1".into());
            }
        }
        "libx264" => {
            if hls {
                x_params.extend([format!("keyint={gop}"), format!("min-keyint={gop}"), "scenecut=0".into()]);
                opts.push(("forced-idr".into(), "1".into()));
            } else if !scenecut {
                x_params.push("scenecut=0".into());
            }
        }
        n if n.ends_with("_qsv") && hls => {
            opts.push(("forced_idr".into(), "1".into()));
        }
        n if n.ends_with("_nvenc") && hls => {
            opts.push(("forced-idr".into(), "1".into()));
            opts.push(("no-scenecut".into(), "1".into()));
        }
        _ => {}
    }
    x_params
}

fn primaries(n: &str) -> Option<ff::color::Primaries> {
    use ff::color::Primaries as P;
    Some(match n {
        "bt709" => P::BT709,
        "bt2020" => P::BT2020,
        "bt470bg" => P::BT470BG,
        "smpte170m" => P::SMPTE170M,
        "smpte432" => P::SMPTE432,
        _ => return None,
    })
}

fn transfer(n: &str) -> Option<ff::color::TransferCharacteristic> {
    use ff::color::TransferCharacteristic as T;
    Some(match n {
        "bt709" => T::BT709,
        "smpte2084" => T::SMPTE2084,
        "arib-std-b67" => T::ARIB_STD_B67,
        "smpte170m" => T::SMPTE170M,
        "bt2020-10" => T::BT2020_10,
        "iec61966-2-1" => T::IEC61966_2_1,
        _ => return None,
    })
}

fn matrix(n: &str) -> Option<ff::color::Space> {
    use ff::color::Space as S;
    Some(match n {
        "bt709" => S::BT709,
        "bt2020nc" => S::BT2020NCL,
        "bt470bg" => S::BT470BG,
        "smpte170m" => S::SMPTE170M,
        _ => return None,
    })
}

/// FFmpeg's name of pixel format `p` (`yuv420p`).
pub(super) fn pixel_name(p: ff::format::Pixel) -> String {
    let d = p.descriptor().map(|d| d.name().to_string());
    d.unwrap_or_else(|| "yuv420p".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn video(hdr: Option<&str>) -> VideoStream {
        VideoStream::test_1080p25("progressive", 0, hdr)
    }

    #[test]
    fn hls_rungs_get_fixed_keyframes_and_forced_idrs() {
        let mut opts = Options::new();
        let p = codec_params("libx265", 150, (true, true), 8, &video(None), &mut opts);
        assert_eq!(p, ["log-level=error", "keyint=150", "min-keyint=150", "scenecut=0", "open-gop=0"]);
        assert_eq!(opts, [("forced-idr".to_string(), "1".to_string())]);
        let mut opts = Options::new();
        let p = codec_params("libx264", 150, (true, true), 8, &video(None), &mut opts);
        assert_eq!(p, ["keyint=150", "min-keyint=150", "scenecut=0"]);
        assert_eq!(opts.len(), 1);
        let mut opts = Options::new();
        assert!(codec_params("hevc_nvenc", 150, (true, true), 8, &video(None), &mut opts).is_empty());
        assert_eq!(opts.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(), ["forced-idr", "no-scenecut"]);
    }

    #[test]
    fn files_keep_scene_cuts_unless_the_profile_turns_them_off() {
        let mut opts = Options::new();
        assert!(codec_params("libx264", 250, (false, true), 8, &video(None), &mut opts).is_empty());
        assert_eq!(codec_params("libx264", 250, (false, false), 8, &video(None), &mut opts), ["scenecut=0"]);
        let p = codec_params("libx265", 250, (false, true), 8, &video(None), &mut opts);
        assert_eq!(p, ["log-level=error", "keyint=250"]);
        assert!(opts.is_empty());
    }

    #[test]
    fn ten_bit_pq_sources_carry_their_hdr_signalling_in_x265() {
        let mut opts = Options::new();
        let p = codec_params("libx265", 48, (false, true), 10, &video(Some("pq")), &mut opts);
        assert_eq!(p, ["log-level=error", "keyint=48", "hdr10=1", "repeat-headers=1"]);
        let p = codec_params("libx265", 48, (false, true), 8, &video(Some("pq")), &mut opts);
        assert_eq!(p, ["log-level=error", "keyint=48"]);
    }
}
