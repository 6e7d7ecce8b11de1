//! Video outputs: one [`VideoSink`] per encoder (the single file, each HLS
//! rung), opened from a [`SinkSpec`] with the first back-end that works
//! ([`open_sink`], falling back with `auto`), and its stream added to each
//! muxer it feeds ([`add_video_stream`]).

use ff::ffi;
use ffmpeg_next as ff;
use std::collections::HashMap;
use std::path::PathBuf;

use super::encoder_setup::{HwUpload, Keyframing, Opened, SinkSpec, try_open};
use crate::encoder::{Backend, Preference};
use crate::error::{EngineError, Result};
use crate::ffutil;
use crate::media::VideoStream;
use crate::output::Mux;
use crate::profile::Profile;
use crate::progress::Event;
use crate::quality::in_loop::InLoop;
use crate::request::{EncoderOption, EncoderReport};
use ff::Rational;

/// One open video encoder and what it feeds.
pub(super) struct VideoSink {
    pub(super) label: String,
    pub(super) width: u32,
    pub(super) height: u32,
    pub(super) encoder: ff::codec::encoder::video::Encoder,
    pub(super) report: EncoderReport,
    pub(super) tb: Rational,
    /// (mux index, stream index) fed by this encoder.
    pub(super) outputs: Vec<(usize, usize)>,
    /// Frame durations by PTS, to give encoded packets a duration.
    pub(super) durations: HashMap<i64, i64>,
    pub(super) default_duration: i64,
    pub(super) keyframing: Keyframing,
    pub(super) next_forced: u64,
    /// PTS of this output's first frame: the origin of the HLS keyframe grid.
    pub(super) grid_origin: Option<i64>,
    pub(super) upload: Option<HwUpload>,
    /// The software pixel format the filter graph delivers to this encoder.
    pub(super) pix: ff::format::Pixel,
    pub(super) peak_kbps: Option<u32>,
    /// Output bit depth (8 or 10).
    pub(super) bit_depth: u8,
    /// Scores this encoder's output as it is written (the single file, when asked).
    pub(super) in_loop: Option<InLoop>,
}

/// Adds `sink`'s stream to muxer `mi` (the default track; `hvc1` for HEVC
/// outside Matroska; the source's timecode when given).
pub(super) fn add_video_stream(
    muxes: &mut [Mux],
    mi: usize,
    sink: &mut VideoSink,
    timecode: Option<&str>,
) -> Result<()> {
    let mux = &mut muxes[mi];
    let is_mkv = mux.ctx.format().name() == "matroska";
    let mut st =
        mux.ctx.add_stream_with(&sink.encoder).map_err(|e| EngineError::Internal(format!("add video stream: {e}")))?;
    st.set_time_base(sink.tb);
    st.set_avg_frame_rate(sink.encoder.frame_rate());
    // SAFETY: plain field store on a valid stream. The one video track is the
    // default track (Matroska players otherwise may not select it).
    unsafe { (*st.as_mut_ptr()).disposition = ffi::AV_DISPOSITION_DEFAULT };
    if sink.encoder.id() == ff::codec::Id::HEVC && !is_mkv {
        ffutil::set_hvc1_tag(&mut st);
    }
    if let Some(tc) = timecode {
        let mut md = ff::Dictionary::new();
        md.set("timecode", tc);
        st.set_metadata(md);
    }
    let idx = st.index();
    sink.outputs.push((mi, idx));
    Ok(())
}

/// Opens the first of `candidates` (from [`crate::encoder::candidates`]) that works
/// for `spec`, falling back (with `auto`) and reporting why.
pub(super) fn open_sink(
    spec: SinkSpec,
    profile: &Profile,
    video: &VideoStream,
    candidates: &[(Backend, String)],
    pref: Preference,
    on_event: &mut dyn FnMut(Event),
    notices: &mut Vec<String>,
) -> Result<VideoSink> {
    let SinkSpec { ref label, codec, bit_depth, size: (width, height), tb, frame_rate, keyframing, peak_kbps, .. } =
        spec;
    let mut failures: Vec<String> = Vec::new();
    for &(backend, ref why) in candidates {
        let name = backend.encoder_name(codec);
        let reason = if failures.is_empty() { why.clone() } else { format!("{why}; {}", failures.join("; ")) };
        match try_open(&spec, profile, backend, video) {
            Ok(Opened { encoder: enc, options, upload, pix }) => {
                on_event(Event::Encoder { output: label.into(), encoder: name.into(), reason: reason.clone() });
                // One frame at the nominal rate, in the encoder time base.
                let default_duration = (f64::from(tb).recip() / f64::from(frame_rate)).round().max(1.0) as i64;
                return Ok(VideoSink {
                    label: label.clone(),
                    width,
                    height,
                    encoder: enc,
                    report: EncoderReport {
                        name: name.into(),
                        backend,
                        reason,
                        options: options.into_iter().map(|(name, value)| EncoderOption { name, value }).collect(),
                    },
                    tb,
                    outputs: vec![],
                    durations: HashMap::new(),
                    default_duration,
                    keyframing,
                    next_forced: 0,
                    grid_origin: None,
                    upload,
                    pix,
                    peak_kbps,
                    bit_depth,
                    in_loop: None,
                });
            }
            Err(e) => {
                if backend == Backend::Software {
                    return Err(EngineError::Encode {
                        path: PathBuf::from(&spec.label),
                        cause: format!("{name}: {e}"),
                    });
                }
                if pref != Preference::Auto {
                    return Err(EngineError::Usage(format!("{name} failed to open: {e}")));
                }
                let msg = format!("{name} failed to open ({e}), falling back");
                notices.push(msg.clone());
                on_event(Event::Notice { message: msg.clone() });
                failures.push(msg);
            }
        }
    }
    Err(EngineError::Internal(format!("no encoder could be opened: {}", failures.join("; "))))
}
