//! Opening every output of a transcode before anything is decoded: the
//! single file and its video encoder, the HLS rungs (and the kept MP4)
//! with theirs, the audio paths of each, and the waveform tap. Everything
//! is written under staged names ([`Staging`]).

use ff::Rational;
use ffmpeg_next as ff;
use std::path::PathBuf;

use super::encoder_setup::{Keyframing, SinkSpec};
use super::job::Job;
use super::sink::{VideoSink, add_video_stream, open_sink};
use super::source::Source;
use crate::encoder;
use crate::error::{EngineError, Result};
use crate::output::waveform as waveform_tap;
use crate::output::{
    AudioPath, AudioWork, MP4_AUDIO_COPY, Mux, MuxKind, Staging, add_audio_stream, io_out_err, open_audio_transcode,
    push_hls_mux,
};
use crate::plan;
use crate::profile::{Keyframes, VideoCodec};
use crate::progress::Event;
use crate::quality::in_loop::InLoop;
use crate::request::Container;
use crate::streams;

/// Every output of one transcode, open and staged, headers not yet written.
pub(super) struct Outputs {
    /// Temporary names of every output, renamed on success.
    pub(super) staging: Staging,
    /// Every muxer: the file first (when asked for), then each rung's, the
    /// kept MP4 and the HLS audio rendition.
    pub(super) muxes: Vec<Mux>,
    /// One video encoder per output picture: the file's first, then the rungs tallest first.
    pub(super) sinks: Vec<VideoSink>,
    /// The audio paths (file tracks, the HLS rendition, the waveform's own).
    pub(super) audio_paths: Vec<AudioPath>,
    /// The staged HLS folder, when a ladder was asked for.
    pub(super) hls_dir_tmp: Option<PathBuf>,
    /// The audio stream the waveform is made from, when one is made.
    pub(super) waveform_track: Option<usize>,
}

impl Outputs {
    /// Opens every output `job` asks for; `out_tb` is the filter graph's
    /// output time base (the encoders' time base).
    ///
    /// Errors: [`EngineError::OutputNotWritable`] / [`EngineError::DiskFull`]
    /// for staged names that cannot be made; [`EngineError::Usage`] for a
    /// `keep_mp4` height that is no rung or an explicit encoder that fails;
    /// [`EngineError::Encode`] when no encoder opens.
    pub(super) fn open(
        job: &Job,
        source: &Source,
        out_tb: Rational,
        on_event: &mut dyn FnMut(Event),
        notices: &mut Vec<String>,
    ) -> Result<Self> {
        let profile = job.profile;
        let kf = profile
            .keyframes
            .clone()
            .ok_or_else(|| EngineError::Internal(format!("profile {} has no keyframes", profile.id)))?;
        let mut out = Outputs {
            staging: Staging::new(),
            muxes: Vec::new(),
            sinks: Vec::new(),
            audio_paths: Vec::new(),
            hls_dir_tmp: None,
            waveform_track: None,
        };
        out.add_file(job, source, out_tb, &kf, on_event, notices)?;
        out.add_ladder(job, source, out_tb, on_event, notices)?;
        if job.req.audio && job.range.is_none() {
            out.add_audio(job, source)?;
        }
        // The waveform takes the decoded frames of its track (not for a sample encode).
        let (req, info, range) = (job.req, job.info, job.range);
        out.waveform_track = match (&req.waveform, range) {
            (Some(w), None) => crate::waveform::tap::choose_track(info, w.track)?,
            _ => None,
        };
        if let (Some(w), Some(track)) = (&req.waveform, out.waveform_track) {
            waveform_tap::attach(&mut out.audio_paths, &source.ictx, track, w.options)?;
        }
        Ok(out)
    }

    /// The single file's muxer and video encoder.
    fn add_file(
        &mut self,
        job: &Job,
        source: &Source,
        out_tb: Rational,
        kf: &Keyframes,
        on_event: &mut dyn FnMut(Event),
        notices: &mut Vec<String>,
    ) -> Result<()> {
        let Job { req, video, profile, .. } = *job;
        let Some(f) = &req.file else { return Ok(()) };
        let input = req.input.as_path();
        let (display, frame_rate, budget, bit_depth) =
            (source.display, source.frame_rate, source.budget, profile.bit_depth);
        let tc = job.info.timecode.clone();
        let Outputs { staging, muxes, sinks, .. } = self;
        let (w, h) = plan::output_size(display, req.target_height);
        let tmp = staging.add(&f.path, false)?;
        let (fmt, header) = match f.container {
            Container::Mp4 => ("mp4", vec![("movflags".to_string(), "+faststart".to_string())]),
            Container::Mkv => ("matroska", vec![]),
        };
        let ctx = ff::format::output_as(&tmp, fmt)
            .map_err(|e| EngineError::from_ffmpeg(input, Some(&f.path), "create output", e))?;
        muxes.push(Mux {
            ctx,
            kind: MuxKind::File,
            report_path: f.path.clone(),
            header,
            stream_tbs: vec![],
            origins: vec![],
        });
        let spec = SinkSpec {
            label: "file".into(),
            codec: profile.codec,
            bit_depth,
            size: (w, h),
            tb: out_tb,
            frame_rate,
            keyframing: Keyframing::File { max_seconds: kf.max_interval_seconds, scenecut: kf.scenecut },
            peak_kbps: None,
            budget,
        };
        let candidates = encoder::candidates(req.encoder, profile.codec)?.0;
        let mut sink = open_sink(spec, profile, video, &candidates, req.encoder, on_event, notices)?;
        if let Some(options) = job.score {
            sink.in_loop = Some(InLoop::new(options, &sink.encoder, sink.tb)?);
        }
        sinks.push(sink);
        let si = sinks.len() - 1;
        add_video_stream(muxes, 0, &mut sinks[si], tc.as_deref().filter(|_| f.container == Container::Mp4))?;
        Ok(())
    }

    /// The HLS rungs' muxers and video encoders (and the kept MP4's muxer).
    fn add_ladder(
        &mut self,
        job: &Job,
        source: &Source,
        out_tb: Rational,
        on_event: &mut dyn FnMut(Event),
        notices: &mut Vec<String>,
    ) -> Result<()> {
        let Job { req, video, profile, .. } = *job;
        let Some(h) = &req.hls else { return Ok(()) };
        let input = req.input.as_path();
        let (display, ladder, frame_rate, budget) = (source.display, &source.ladder, source.frame_rate, source.budget);
        let bit_depth = profile.bit_depth;
        let tc = job.info.timecode.clone();
        let Outputs { staging, muxes, sinks, hls_dir_tmp, .. } = self;
        let (rungs, dropped) = ladder.clone().unwrap_or_default();
        if !dropped.is_empty() {
            let n = format!(
                "HLS rungs taller than the source ({}p) dropped: {}",
                display.1,
                dropped.iter().map(|d| format!("{d}p")).collect::<Vec<_>>().join(", ")
            );
            notices.push(n.clone());
            on_event(Event::Notice { message: n });
        }
        if let Some((keep_h, _)) = &h.keep_mp4
            && !rungs.iter().any(|r| r.1 == *keep_h)
        {
            return Err(EngineError::Usage(format!(
                "--keep-mp4 {keep_h}: no such rung (rungs: {})",
                rungs.iter().map(|r| r.1.to_string()).collect::<Vec<_>>().join(", ")
            )));
        }
        let hls_depth = if h.codec == VideoCodec::H264 { 8 } else { bit_depth };
        // Hardware detection opens devices: once per ladder, not per rung.
        let candidates = encoder::candidates(req.encoder, h.codec)?.0;
        let dir = staging.add(&h.dir, true)?;
        for &(w, hh) in &rungs {
            let rung_dir = dir.join(format!("{hh}p"));
            std::fs::create_dir(&rung_dir).map_err(|e| io_out_err(&h.dir, e))?;
            let mi = push_hls_mux(muxes, &rung_dir, MuxKind::HlsRung, h.segment_seconds, &h.dir, input)?;
            let peak = plan::rung_peak_kbps(h.codec, hh);
            let spec = SinkSpec {
                label: format!("hls {hh}p"),
                codec: h.codec,
                bit_depth: hls_depth,
                size: (w, hh),
                tb: out_tb,
                frame_rate,
                keyframing: Keyframing::Hls { segment_seconds: h.segment_seconds },
                peak_kbps: Some(peak),
                budget,
            };
            let mut sink = open_sink(spec, profile, video, &candidates, req.encoder, on_event, notices)?;
            add_video_stream(muxes, mi, &mut sink, None)?;
            if let Some((keep_h, keep_path)) = &h.keep_mp4
                && *keep_h == hh
            {
                let tmp = staging.add(keep_path, false)?;
                let ctx = ff::format::output_as(&tmp, "mp4")
                    .map_err(|e| EngineError::from_ffmpeg(input, Some(keep_path), "create output", e))?;
                muxes.push(Mux {
                    ctx,
                    kind: MuxKind::KeepMp4,
                    report_path: keep_path.clone(),
                    header: vec![("movflags".into(), "+faststart".into())],
                    stream_tbs: vec![],
                    origins: vec![],
                });
                let ki = muxes.len() - 1;
                add_video_stream(muxes, ki, &mut sink, tc.as_deref())?;
            }
            sinks.push(sink);
        }
        *hls_dir_tmp = Some(dir);
        Ok(())
    }

    /// The audio paths: every readable track of the encoded program into
    /// the file, and the HLS audio rendition (also into the kept MP4).
    fn add_audio(&mut self, job: &Job, source: &Source) -> Result<()> {
        let (req, info, ictx) = (job.req, job.info, &source.ictx);
        let input = req.input.as_path();
        let Outputs { muxes, audio_paths, hls_dir_tmp, .. } = self;
        if let Some(f) = &req.file {
            // The readable audio of the encoded program (warned about in `run`).
            for a in streams::file_audio(info).0 {
                let copy = f.container == Container::Mkv || MP4_AUDIO_COPY.contains(&a.codec.as_str());
                let stream = ictx
                    .stream(a.index)
                    .ok_or_else(|| EngineError::Internal(format!("audio stream {} vanished", a.index)))?;
                let path = if copy {
                    AudioPath {
                        hls: false,
                        pending: vec![],
                        source_index: a.index,
                        source_tb: stream.time_base(),
                        work: AudioWork::Copy,
                        outputs: vec![],
                        waveform: None,
                    }
                } else {
                    open_audio_transcode(input, &stream, None, None)?
                };
                audio_paths.push(path);
                let pi = audio_paths.len() - 1;
                let (lang, disp) = (a.language.clone(), stream.disposition().bits());
                add_audio_stream(muxes, 0, &mut audio_paths[pi], ictx, lang.as_deref(), disp)?;
            }
        }
        if let (Some(_), Some(dir)) = (&req.hls, &*hls_dir_tmp) {
            let chosen = streams::hls_audio(info).0;
            if let Some(a) = chosen {
                let stream = ictx
                    .stream(a.index)
                    .ok_or_else(|| EngineError::Internal(format!("audio stream {} vanished", a.index)))?;
                let mut path = open_audio_transcode(input, &stream, Some(2), None)?;
                let adir = dir.join("audio");
                std::fs::create_dir(&adir).map_err(|e| io_out_err(&req.hls.as_ref().unwrap().dir, e))?;
                let hls = req.hls.as_ref().unwrap();
                let mi = push_hls_mux(muxes, &adir, MuxKind::HlsAudio, hls.segment_seconds, &hls.dir, input)?;
                add_audio_stream(muxes, mi, &mut path, ictx, a.language.as_deref(), 1)?;
                if let Some(ki) = muxes.iter().position(|m| m.kind == MuxKind::KeepMp4) {
                    add_audio_stream(muxes, ki, &mut path, ictx, a.language.as_deref(), 1)?;
                }
                audio_paths.push(path);
            }
        }
        Ok(())
    }
}
