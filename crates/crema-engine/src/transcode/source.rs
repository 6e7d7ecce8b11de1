//! Opening the source for a transcode: the input and its video decoder,
//! the display size and every picture the job will write (checked against
//! [`crate::limits`] before anything is decoded, and sizing the encoders'
//! [`Budget`]), the nominal frame rate, the timestamp origin and where the
//! video should end.

use ff::Rational;
use ff::ffi;
use ffmpeg_next as ff;

use super::clock::parse_rate;
use super::job::TimeRange;
use crate::budget::Budget;
use crate::error::{EngineError, Result};
use crate::hw_decode::{self, DecoderReport, Download, HwPlan};
use crate::limits::{self, JobPictures};
use crate::media::{MediaInfo, VideoStream};
use crate::output::fferr;
use crate::plan;
use crate::probe;
use crate::profile::Profile;
use crate::request::EncodeRequest;

/// An HLS ladder as [`plan::ladder`] gives it: the rungs' (width, height),
/// pixels, and the heights dropped as taller than the source.
pub(super) type Ladder = (Vec<(u32, u32)>, Vec<u32>);

/// The open source and what was measured from it before decoding.
pub(super) struct Source {
    /// The open input.
    pub(super) ictx: ff::format::context::Input,
    /// The video decoder (one thread per core).
    pub(super) decoder: ff::decoder::Video,
    /// The hardware device and format state the decoder uses, when it
    /// decodes on a device. Declared after `decoder`, so it is dropped
    /// after it (the decoder's `get_format` callback reads it).
    pub(super) hw: Option<HwPlan>,
    /// How the video is decoded, as chosen before it opened.
    pub(super) decoder_report: DecoderReport,
    /// Brings hardware frames to system memory in `frame_format`.
    pub(super) download: Download,
    /// The stream's software pixel format: what every frame entering the
    /// filter graph has, however it was decoded.
    pub(super) frame_format: ff::format::Pixel,
    /// Time base of the video stream (and of decoded frames).
    pub(super) in_tb: Rational,
    /// Sample aspect ratio, the container's when it has one.
    pub(super) sar: Rational,
    /// Display size after the aspect ratio and rotation, pixels.
    pub(super) display: (u32, u32),
    /// The HLS ladder's (width, height) rungs and the heights dropped as
    /// taller than the source, when a ladder was asked for.
    pub(super) ladder: Option<Ladder>,
    /// What each encoder may hold.
    pub(super) budget: Budget,
    /// Nominal frame rate (what encoders are told and HLS declares).
    pub(super) frame_rate: Rational,
    /// Average frames per second (estimates the frame count).
    pub(super) average_fps: f64,
    /// Every output timestamp is shifted so this becomes 0: µs on the source's clock.
    pub(super) origin_us: i64,
    /// Where the video should end, seconds after the origin, when known.
    pub(super) expected_video_end: Option<f64>,
}

impl Source {
    /// Opens `req.input` for `video`, checks every picture the job writes
    /// with `profile`, and seeks to the start of `range` when given; the
    /// decoder and the thread plan use `cores` logical CPUs (`None`: all).
    ///
    /// Errors: those of [`probe::open_input`]; [`EngineError::PictureTooLarge`];
    /// [`EngineError::InputUnsupported`] when the video cannot be decoded.
    pub(super) fn open(
        req: &EncodeRequest,
        info: &MediaInfo,
        video: &VideoStream,
        profile: &Profile,
        range: TimeRange,
        cores: Option<usize>,
    ) -> Result<Self> {
        let input = req.input.as_path();
        let mut ictx = probe::open_input(input)?;
        let vindex = video.index;
        let in_stream = ictx.stream(vindex).ok_or_else(|| EngineError::Internal("video stream vanished".into()))?;
        let in_tb = in_stream.time_base();
        let (in_stream_start, in_stream_duration) = (in_stream.start_time(), in_stream.duration());
        let in_params = in_stream.parameters();
        // SAFETY: the stream pointer stays valid while `ictx` lives (used once, below).
        let in_stream_ptr = unsafe { *(*ictx.as_ptr()).streams.add(vindex) };
        // The container's pixel aspect ratio (MOV `pasp`, MKV display size) wins
        // over the bitstream's, as players do.
        // SAFETY: pointers from an open input context and its stream.
        let sar = Rational::from(unsafe {
            ffi::av_guess_sample_aspect_ratio(ictx.as_mut_ptr(), in_stream_ptr, std::ptr::null_mut())
        });
        let display =
            plan::display_size(video.width, video.height, (sar.numerator(), sar.denominator()), video.rotation);
        // Every picture this job writes, checked before anything is decoded;
        // their sum sets what each encoder may hold (see `budget`).
        let source_limits = limits::source_limits();
        limits::check_source(input, video.width, video.height, source_limits)?;
        let ladder = req.hls.as_ref().map(|h| plan::ladder(display, &h.renditions));
        let pictures = JobPictures {
            file: req.file.as_ref().map(|_| (profile.codec, plan::output_size(display, req.target_height))),
            rungs: req.hls.as_ref().zip(ladder.as_ref()).map(|(h, (rungs, _))| (h.codec, rungs.clone())),
        };
        let samples = limits::check_job(input, display, &pictures)?;
        let all = std::thread::available_parallelism().map_or(1, |n| n.get());
        let budget = Budget::for_job(samples, cores.unwrap_or(all).clamp(1, all));
        let (decoder, hw, decoder_report, frame_format) = {
            let mut ctx =
                ff::codec::context::Context::from_parameters(in_params).map_err(fferr(input, "video decoder"))?;
            let frame_format = ff::format::Pixel::from(params_pix_fmt(&ctx));
            let codec = ff::decoder::find(ctx.id()).ok_or_else(|| EngineError::InputUnsupported {
                path: input.into(),
                cause: format!("no decoder for {} video", video.codec),
            })?;
            let (hw, report) = hw_decode::plan(req.decoder, &codec, &video.codec, frame_format)?;
            if let Some(plan) = &hw {
                // SAFETY: the context is allocated and not open yet.
                plan.attach(unsafe { ctx.as_mut_ptr() })?;
            }
            // SAFETY: plain field stores before open: the thread count (0 = one
            // per core, at most 16 in libavcodec; else the job's share), and the
            // largest picture the decoder may allocate (a stream that grows
            // mid-way is refused).
            unsafe {
                (*ctx.as_mut_ptr()).thread_count = match (&hw, cores) {
                    // The device decodes; frame threads would only add surfaces and latency.
                    (Some(_), _) => 1,
                    (None, c) => c.map_or(0, |c| c.clamp(1, 16) as i32),
                };
                (*ctx.as_mut_ptr()).pkt_timebase = in_tb.into();
                (*ctx.as_mut_ptr()).max_pixels = source_limits.max_samples.min(i32::MAX as u64) as i64;
            }
            let decoder = ctx.decoder().video().map_err(|e| EngineError::InputUnsupported {
                path: input.into(),
                cause: format!("cannot decode {} video: {e}", video.codec),
            })?;
            (decoder, hw, report, frame_format)
        };
        // The nominal rate (the probe's `frame_rate`, libavformat's r_frame_rate)
        // is the rate the encoders are told and HLS declares: for variable frame
        // rate sources it is the highest rate that occurs (RFC 8216 §4.3.4.2
        // FRAME-RATE). The average rate only estimates the frame count.
        let average = (video.frame_rate.0 > 0 && video.frame_rate.1 > 0).then(|| rat(video.frame_rate));
        let frame_rate = nominal_rate(info, video);
        let fps = f64::from(frame_rate);
        let average_fps = average.map_or(fps, f64::from);
        // Origin: every output timestamp is shifted so the source's first timestamp becomes 0.
        // A sample range is in seconds from that start (a broadcast capture may
        // start at 19207 s).
        // SAFETY: plain field read on an open input context.
        let container_start = match unsafe { (*ictx.as_ptr()).start_time } {
            ffi::AV_NOPTS_VALUE => 0,
            st => st,
        };
        let origin_us = container_start + range.map_or(0, |(start, _)| (start * 1e6).round() as i64);
        if range.is_some() {
            ictx.seek(origin_us, ..origin_us).map_err(fferr(input, "seek"))?;
        }
        // Where the video should end, seconds after the origin, to tell a
        // truncated file from a short one: the video stream's own start and
        // duration, else the container's duration unless libavformat only
        // estimated it from the bit rate.
        let expected_video_end = {
            let tb = f64::from(in_tb);
            let (start, duration) = (in_stream_start, in_stream_duration);
            if duration > 0 {
                let start_s =
                    if start == ffi::AV_NOPTS_VALUE { 0.0 } else { start as f64 * tb - container_start as f64 / 1e6 };
                Some(start_s + duration as f64 * tb)
            } else {
                // SAFETY: plain field read on an open input context.
                let method = unsafe { (*ictx.as_ptr()).duration_estimation_method };
                (method != ffi::AVDurationEstimationMethod::AVFMT_DURATION_FROM_BITRATE && info.duration_seconds > 0.0)
                    .then_some(info.duration_seconds)
            }
        };
        Ok(Source {
            ictx,
            decoder,
            hw,
            decoder_report,
            download: Download::new(frame_format),
            frame_format,
            in_tb,
            sar,
            display,
            ladder,
            budget,
            frame_rate,
            average_fps,
            origin_us,
            expected_video_end,
        })
    }
}

/// The pixel format a decoder context was given by the stream's parameters.
fn params_pix_fmt(ctx: &ff::codec::context::Context) -> ffi::AVPixelFormat {
    // SAFETY: plain field read on an allocated context.
    unsafe { (*ctx.as_ptr()).pix_fmt }
}

impl Source {
    /// How the video was decoded, for the result: the choice made at open,
    /// corrected when the device refused some pictures.
    pub(super) fn decoder_report(&self) -> DecoderReport {
        match self.hw.as_ref().and_then(HwPlan::refused) {
            Some(reason) => DecoderReport { hardware: None, reason },
            None => self.decoder_report.clone(),
        }
    }
}

/// The frame rate the encoders are told (frames per second): the probe's
/// nominal `frame_rate`, else the stream's average, else 25.
pub(crate) fn nominal_rate(info: &MediaInfo, video: &VideoStream) -> Rational {
    let average = (video.frame_rate.0 > 0 && video.frame_rate.1 > 0).then(|| rat(video.frame_rate));
    info.frame_rate.as_deref().and_then(parse_rate).or(average).unwrap_or(Rational::new(25, 1))
}

fn rat(p: (i32, i32)) -> Rational {
    Rational::new(p.0, p.1)
}
