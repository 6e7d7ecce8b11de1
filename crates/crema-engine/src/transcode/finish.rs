//! Finishing a transcode: muxer trailers, the HLS master playlist from the
//! rungs' measured segments, the waveform file, the output reports, and —
//! unless `sophon-auto`'s [`KeepRule`] discards them — the rename of every
//! staged output to its final place.

use ff::Rational;
use ffmpeg_next as ff;
use std::path::{Path, PathBuf};

use super::job::{Job, KeepRule, Transcoded};
use super::sink::VideoSink;
use super::source::Source;
use crate::error::{EngineError, Result};
use crate::media::{MediaInfo, VideoStream};
use crate::output::waveform as waveform_tap;
use crate::output::{AudioPath, AudioWork, Mux, MuxKind, Staging, dir_size, measured_duration};
use crate::profile::VideoCodec;
use crate::progress::{Event, Stage};
use crate::request::{EncodeRequest, OutputReport, RungReport};

use super::outputs::Outputs;

/// Writes the trailers, the master playlist and the waveform, reports
/// every output (the main one first) and commits them, or discards them
/// when `keep` says the encode saved too little.
///
/// Errors: mux and playlist errors; [`EngineError::OutputNotWritable`] /
/// [`EngineError::DiskFull`] when the waveform or a rename fails.
pub(super) fn finish(
    job: &Job,
    source: &Source,
    out: Outputs,
    keep: Option<KeepRule>,
    on_event: &mut dyn FnMut(Event),
) -> Result<Transcoded> {
    let (req, info, video, range) = (job.req, job.info, job.video, job.range);
    let input = req.input.as_path();
    let (frame_rate, bit_depth) = (source.frame_rate, job.profile.bit_depth);
    let Outputs { mut staging, mut muxes, mut sinks, mut audio_paths, hls_dir_tmp, waveform_track } = out;
    let scores = match sinks.iter_mut().find(|s| s.label == "file").and_then(|s| s.in_loop.take()) {
        Some(scoring) => Some(Box::new(scoring.finish()?)),
        None => None,
    };
    on_event(Event::Stage { stage: Stage::Muxing });
    for m in muxes.iter_mut() {
        m.ctx.write_trailer().map_err(|e| EngineError::from_ffmpeg(input, Some(&m.report_path), "finish output", e))?;
    }

    // ---- HLS master playlist ---------------------------------------------------------------
    let mut hls_summary = None;
    if let (Some(h), Some(dir)) = (&req.hls, &hls_dir_tmp) {
        hls_summary = Some(finish_hls(
            req.file.is_some(),
            dir,
            &sinks,
            &audio_paths,
            info,
            frame_rate,
            h.codec,
            bit_depth,
            video,
        )?);
    }

    let waveform = match &req.waveform {
        Some(w) if range.is_none() => waveform_tap::save(&mut audio_paths, w, waveform_track, &mut staging)?,
        _ => None,
    };
    let mut reports = reports(req, &muxes, &sinks, &staging, hls_dir_tmp.as_deref(), hls_summary);
    for r in &mut reports {
        r.decoder = Some(source.decoder_report());
    }
    drop(muxes);
    if let (Some(rule), Some(main)) = (keep, reports.first()) {
        let saved_percent = (1.0 - main.bytes as f64 / rule.reference_bytes.max(1) as f64) * 100.0;
        if saved_percent < rule.min_saving_percent {
            staging.discard();
            return Ok(Transcoded::NotSmaller { saved_percent });
        }
    }
    staging.commit()?;
    Ok(Transcoded::Written(reports, waveform, scores))
}

/// One report per output, the main one first (the file, else the HLS
/// package), sizes and durations measured from the staged files.
fn reports(
    req: &EncodeRequest,
    muxes: &[Mux],
    sinks: &[VideoSink],
    staging: &Staging,
    hls_dir_tmp: Option<&Path>,
    hls_summary: Option<Vec<(u64, u64, String)>>,
) -> Vec<OutputReport> {
    let mut reports = Vec::new();
    let audio_tracks_in = |kind: MuxKind| {
        muxes
            .iter()
            .find(|m| m.kind == kind)
            .map_or(0, |m| m.ctx.streams().filter(|s| s.parameters().medium() == ff::media::Type::Audio).count())
    };
    let file_audio = audio_tracks_in(MuxKind::File);
    let hls_audio = audio_tracks_in(MuxKind::HlsAudio);
    let keep_audio = audio_tracks_in(MuxKind::KeepMp4);
    let staged: Vec<(PathBuf, PathBuf)> = staging.entries.iter().map(|(t, f, _)| (t.clone(), f.clone())).collect();
    let tmp_of =
        |fin: &Path| staged.iter().find(|(_, f)| f == fin).map(|(t, _)| t.clone()).unwrap_or_else(|| fin.to_path_buf());
    if let Some(f) = &req.file {
        let s = &sinks[0];
        reports.push(OutputReport {
            kind: "file".into(),
            path: f.path.clone(),
            bytes: std::fs::metadata(tmp_of(&f.path)).map(|m| m.len()).unwrap_or(0),
            duration_seconds: measured_duration(&tmp_of(&f.path)),
            width: s.width,
            height: s.height,
            audio_tracks: file_audio,
            encoder: Some(s.report.clone()),
            decoder: None,
            renditions: vec![],
        });
    }
    if let (Some(h), Some(dir), Some(summary)) = (&req.hls, hls_dir_tmp, hls_summary) {
        let first = if req.file.is_some() { 1 } else { 0 };
        let rungs: Vec<RungReport> = summary
            .into_iter()
            .enumerate()
            .map(|(i, r)| {
                let s = &sinks[first + i];
                RungReport {
                    width: s.width,
                    height: s.height,
                    playlist: h.dir.join(format!("{}p", s.height)).join("index.m3u8"),
                    bandwidth: r.0,
                    average_bandwidth: r.1,
                    codecs: r.2,
                    peak_kbps_cap: s.peak_kbps.unwrap_or(0),
                    encoder: s.report.clone(),
                }
            })
            .collect();
        reports.push(OutputReport {
            kind: "hls".into(),
            path: h.dir.join("master.m3u8"),
            bytes: dir_size(dir),
            duration_seconds: measured_duration(&dir.join("master.m3u8")),
            width: rungs.first().map_or(0, |r| r.width),
            height: rungs.first().map_or(0, |r| r.height),
            audio_tracks: hls_audio,
            encoder: rungs.first().map(|r| r.encoder.clone()),
            decoder: None,
            renditions: rungs,
        });
        if let Some((kh, kp)) = &h.keep_mp4 {
            let s = sinks.iter().find(|s| s.height == *kh && s.label.starts_with("hls")).expect("keep rung exists");
            reports.push(OutputReport {
                kind: "hls_mp4".into(),
                path: kp.clone(),
                bytes: std::fs::metadata(tmp_of(kp)).map(|m| m.len()).unwrap_or(0),
                duration_seconds: measured_duration(&tmp_of(kp)),
                width: s.width,
                height: s.height,
                audio_tracks: keep_audio,
                encoder: Some(s.report.clone()),
                decoder: None,
                renditions: vec![],
            });
        }
    }
    reports
}

/// Writes the master playlist of an HLS package from the rungs' measured
/// segments. Returns (BANDWIDTH, AVERAGE-BANDWIDTH, CODECS) per rung, in
/// rung order.
#[allow(clippy::too_many_arguments)]
fn finish_hls(
    has_file: bool,
    dir: &Path,
    sinks: &[VideoSink],
    audio_paths: &[AudioPath],
    info: &MediaInfo,
    frame_rate: Rational,
    codec: VideoCodec,
    bit_depth: u8,
    video: &VideoStream,
) -> Result<Vec<(u64, u64, String)>> {
    use crate::hls::{self, AudioRenditionSpec, VariantSpec, VideoRange};
    let rungs = &sinks[usize::from(has_file)..];
    let range = match (bit_depth, codec, video.hdr.as_deref()) {
        (10, VideoCodec::Hevc, Some("pq")) => VideoRange::Pq,
        (10, VideoCodec::Hevc, Some("hlg")) => VideoRange::Hlg,
        _ => VideoRange::Sdr,
    };
    let mut variants = Vec::new();
    for s in rungs {
        let extradata = encoder_extradata(&s.encoder);
        let codecs = match codec {
            VideoCodec::H264 => hls::avc_codec_string(&extradata),
            VideoCodec::Hevc => hls::hevc_codec_string(&extradata),
        }
        .ok_or_else(|| EngineError::Internal(format!("cannot read the {} parameter sets for CODECS", s.label)))?;
        variants.push(VariantSpec {
            dir_name: format!("{}p", s.height),
            width: s.width,
            height: s.height,
            frame_rate: f64::from(frame_rate),
            video_codec: codecs,
            video_range: Some(range),
        });
    }
    // The HLS audio rendition is the transcoding path whose outputs include an HLS mux.
    // The HLS rendition is the (always transcoded) path marked `hls`.
    let hls_audio = audio_paths.iter().find_map(|p| match &p.work {
        AudioWork::Transcode { encoder, .. } if p.hls => Some((p.source_index, u32::from(encoder.channels()))),
        _ => None,
    });
    let audio = hls_audio.map(|(source_index, channels)| {
        let src = info.audio.iter().find(|a| a.index == source_index);
        AudioRenditionSpec {
            dir_name: "audio".into(),
            codec: hls::aac_codec_string(1),
            language: src.and_then(|a| a.language.clone()),
            name: src.and_then(|a| a.language.clone()).map_or_else(|| "Audio".to_string(), |l| format!("Audio ({l})")),
            channels,
        }
    });
    let summary = hls::write_master(dir, &variants, audio.as_ref())?;
    Ok(variants
        .iter()
        .map(|v| {
            let s = summary.variants.iter().find(|x| x.dir_name == v.dir_name);
            (s.map_or(0, |s| s.bandwidth), s.map_or(0, |s| s.average_bandwidth), {
                let mut c = v.video_codec.clone();
                if let Some(a) = &audio {
                    c.push(',');
                    c.push_str(&a.codec);
                }
                c
            })
        })
        .collect())
}

/// The encoder's global header (SPS/PPS/VPS), for codec strings.
fn encoder_extradata(enc: &ff::codec::encoder::video::Encoder) -> Vec<u8> {
    // SAFETY: extradata/extradata_size describe one buffer owned by the open encoder.
    unsafe {
        let ctx = enc.as_ptr();
        if (*ctx).extradata.is_null() || (*ctx).extradata_size <= 0 {
            return Vec::new();
        }
        std::slice::from_raw_parts((*ctx).extradata, (*ctx).extradata_size as usize).to_vec()
    }
}
