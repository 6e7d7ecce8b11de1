//! Audio-only sources (a podcast, a music master, a recorder's WAV): what
//! [`crate::encode::run`] does when the source has audio and no video.
//!
//! - **Single file**: MP4 (`.m4a` names use the `ipod` muxer, brand `M4A `)
//!   holds AAC: AAC tracks are copied, every other codec is converted to
//!   AAC (as [`crate::transcode`] converts audio MP4 cannot hold); Matroska
//!   keeps every track's codec as it is. The source's tags (container tags
//!   and, for Ogg or FLAC whose Vorbis comments sit on the stream, the main
//!   track's) become the output's container tags.
//! - **HLS**: an audio-only package, one AAC-LC variant per bit rate of
//!   [`HLS_AUDIO_KBPS`] (stereo, or mono for a mono source) from the main
//!   track, with a master playlist of audio-only variants
//!   ([`crate::hls::write_audio_master`]). Rung heights do not apply.
//! - **Cover art** (a stream with the `attached_pic` disposition) is never
//!   taken for video (see [`crate::probe`]): MP4 keeps a JPEG/PNG cover
//!   (`covr`), Matroska keeps it as an attachment (`cover.jpg`, as the
//!   Matroska attachment guidelines name it); HLS segments cannot hold one.
//!
//! The profile's video settings are ignored, and the result says so in
//! [`EncodeResult::warnings`]. The waveform of a job is made from the same
//! decoded frames ([`crate::waveform::WaveformOutput`]).

use ff::ffi;
use ff::{Rational, Rescale};
use ffmpeg_next as ff;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::error::{EngineError, Result};
use crate::ffutil;
use crate::hls::{self, AudioVariantSpec};
use crate::media::{AudioStream, MediaInfo};
use crate::output::{
    self, AudioFeed, AudioPath, AudioWork, Mux, MuxKind, Staging, add_audio_stream, canceled, dir_size, io_out_err,
    measured_duration, open_audio_transcode, push_hls_mux, write_headers,
};
use crate::probe;
use crate::profile::Profile;
use crate::progress::{CancelFlag, Event, Stage};
use crate::request::{Container, EncodeRequest, EncodeResult, FinalArtifact, OutputReport};
use crate::streams;
use crate::waveform::tap as waveform_tap;

/// Bit rates of an audio-only HLS package, kbit/s: the 64/128/192 kbit/s
/// AAC-LC steps that Apple's HLS Authoring Specification (§2.5) lists for
/// stereo audio-only variants.
pub const HLS_AUDIO_KBPS: [u32; 3] = [64, 128, 192];

/// What an audio-only source cannot be encoded without (no readable audio).
pub const NOTHING_TO_ENCODE: &str = "nothing to encode: no video stream and no readable audio stream";

/// Tags that describe a container, not the recording: never carried over.
const CONTAINER_TAGS: &[&str] =
    &["major_brand", "minor_version", "compatible_brands", "encoder", "creation_time", "handler_name", "vendor_id"];

/// Encodes an audio-only source. Called by [`crate::encode::run`] after the
/// probe; `started` is when the run began.
///
/// Errors: [`EngineError::InputUnsupported`] with [`NOTHING_TO_ENCODE`]
/// when no audio stream is readable, or when the audio cannot be decoded;
/// otherwise those of [`crate::encode::run`].
pub(crate) fn run(
    req: &EncodeRequest,
    profile: &Profile,
    info: MediaInfo,
    started: Instant,
    cancel: &CancelFlag,
    on_event: &mut dyn FnMut(Event),
) -> Result<EncodeResult> {
    let input = req.input.as_path();
    let (tracks, mut warnings) = streams::file_audio(&info);
    if tracks.is_empty() {
        return Err(EngineError::InputUnsupported { path: input.into(), cause: NOTHING_TO_ENCODE.into() });
    }
    let tracks: Vec<AudioStream> = tracks.into_iter().cloned().collect();
    warnings.push(ignored_settings(req, profile));
    if req.hls.as_ref().is_some_and(|h| h.keep_mp4.is_some()) {
        warnings.push("audio-only source: the kept MP4 rung (--keep-mp4) does not apply; none written".into());
    }
    for w in &warnings {
        on_event(Event::Warning { message: w.clone() });
    }
    let main = info.main_audio.and_then(|i| tracks.iter().find(|a| a.index == i)).unwrap_or(&tracks[0]).clone();

    let mut ictx = probe::open_input(input)?;
    // SAFETY: plain field read on an open input context.
    let origin_us = match unsafe { (*ictx.as_ptr()).start_time } {
        ffi::AV_NOPTS_VALUE => 0,
        st => st,
    };
    let mut staging = Staging::new();
    let mut muxes: Vec<Mux> = Vec::new();
    let mut paths: Vec<AudioPath> = Vec::new();
    // Source stream index → (mux, stream) of the MP4 cover it feeds.
    let mut covers: Vec<(usize, (usize, usize))> = Vec::new();

    if let Some(f) = &req.file {
        let tmp = staging.add(&f.path, false)?;
        let m4a = f.path.extension().is_some_and(|e| e.eq_ignore_ascii_case("m4a"));
        let (fmt, header) = match f.container {
            Container::Mp4 => (if m4a { "ipod" } else { "mp4" }, vec![("movflags".into(), "+faststart".into())]),
            Container::Mkv => ("matroska", vec![]),
        };
        let mut ctx = ff::format::output_as(&tmp, fmt)
            .map_err(|e| EngineError::from_ffmpeg(input, Some(&f.path), "create output", e))?;
        ctx.set_metadata(recording_tags(&ictx, main.index));
        muxes.push(Mux {
            ctx,
            kind: MuxKind::File,
            report_path: f.path.clone(),
            header,
            stream_tbs: vec![],
            origins: vec![],
        });
        for a in &tracks {
            let stream = ictx.stream(a.index).ok_or_else(|| vanished(a.index))?;
            let mut path = if f.container == Container::Mkv || a.codec == "aac" {
                copy_path(&stream)
            } else {
                open_audio_transcode(input, &stream, None, None)?
            };
            let disposition = stream.disposition().bits();
            add_audio_stream(&mut muxes, 0, &mut path, &ictx, a.language.as_deref(), disposition)?;
            paths.push(path);
        }
        for (index, mime) in cover_streams(&ictx) {
            match f.container {
                Container::Mp4 => covers.push((index, (0, add_mp4_cover(&mut muxes[0], &ictx, index)?))),
                Container::Mkv => add_mkv_attachment(&mut muxes[0], &ictx, index, mime)?,
            }
        }
    }

    let mut hls_dir_tmp = None;
    if let Some(h) = &req.hls {
        let dir = staging.add(&h.dir, true)?;
        let stream = ictx.stream(main.index).ok_or_else(|| vanished(main.index))?;
        let channels = if main.channels == 1 { 1 } else { 2 };
        for kbps in HLS_AUDIO_KBPS {
            let rung_dir = dir.join(format!("aac_{kbps}k"));
            std::fs::create_dir(&rung_dir).map_err(|e| io_out_err(&h.dir, e))?;
            let mi = push_hls_mux(&mut muxes, &rung_dir, MuxKind::HlsAudio, h.segment_seconds, &h.dir, input)?;
            let mut path = open_audio_transcode(input, &stream, Some(channels), Some(kbps))?;
            // Not the rendition of a video package: nothing waits for a picture.
            path.hls = false;
            add_audio_stream(&mut muxes, mi, &mut path, &ictx, main.language.as_deref(), 1)?;
            paths.push(path);
        }
        hls_dir_tmp = Some(dir);
    }

    let waveform_track = match &req.waveform {
        Some(w) => waveform_tap::choose_track(&info, w.track)?,
        None => None,
    };
    if let (Some(w), Some(track)) = (&req.waveform, waveform_track) {
        output::waveform::attach(&mut paths, &ictx, track, w.options)?;
    }

    write_headers(&mut muxes, input, origin_us)?;

    on_event(Event::Stage { stage: Stage::Encoding });
    let mut progress = AudioProgress::new(info.duration_seconds, origin_us);
    let mut ctx = AudioFeed { input, muxes: &mut muxes, video_start_us: None };
    let mut read_errors = 0u32;
    loop {
        if cancel.is_canceled() {
            return Err(canceled(&mut staging, on_event));
        }
        let mut packet = ff::Packet::empty();
        match packet.read(&mut ictx) {
            Ok(()) => read_errors = 0,
            Err(ff::Error::Eof) => break,
            Err(e) => {
                read_errors += 1;
                if read_errors > 100 {
                    return Err(EngineError::InputUnsupported {
                        path: input.into(),
                        cause: format!("unreadable data: {e}"),
                    });
                }
                continue;
            }
        }
        let si = packet.stream();
        if let Some(&(_, (mi, os))) = covers.iter().find(|(i, _)| *i == si) {
            write_cover(&mut ctx.muxes[mi], os, packet, input)?;
            continue;
        }
        let tb = ictx.stream(si).map_or(Rational::new(1, 1), |s| s.time_base());
        for p in paths.iter_mut().filter(|p| p.source_index == si) {
            ctx.push_audio(p, &packet)?;
        }
        progress.packet(packet.pts(), tb, on_event);
    }
    for p in paths.iter_mut() {
        ctx.flush_audio(p)?;
    }
    if cancel.is_canceled() {
        return Err(canceled(&mut staging, on_event));
    }
    on_event(Event::Stage { stage: Stage::Muxing });
    for m in ctx.muxes.iter_mut() {
        m.ctx.write_trailer().map_err(|e| EngineError::from_ffmpeg(input, Some(&m.report_path), "finish output", e))?;
    }
    if let Some(dir) = &hls_dir_tmp {
        let variants: Vec<AudioVariantSpec> = HLS_AUDIO_KBPS
            .iter()
            .map(|k| AudioVariantSpec { dir_name: format!("aac_{k}k"), codec: hls::aac_codec_string(1) })
            .collect();
        hls::write_audio_master(dir, &variants)?;
    }
    let waveform = match &req.waveform {
        Some(w) => output::waveform::save(&mut paths, w, waveform_track, &mut staging)?,
        None => None,
    };

    let tmp_of = |fin: &Path| -> PathBuf {
        staging.entries.iter().find(|(_, f, _)| f == fin).map_or_else(|| fin.to_path_buf(), |(t, _, _)| t.clone())
    };
    let mut outputs = Vec::new();
    if let Some(f) = &req.file {
        let tmp = tmp_of(&f.path);
        outputs.push(audio_report("file", &f.path, file_len(&tmp), &tmp, tracks.len()));
    }
    if let (Some(h), Some(dir)) = (&req.hls, &hls_dir_tmp) {
        let master = h.dir.join(hls::MASTER_PLAYLIST);
        outputs.push(audio_report("hls", &master, dir_size(dir), &dir.join(hls::MASTER_PLAYLIST), 1));
    }
    drop(muxes);
    staging.commit()?;
    let waveform = output::waveform::result(waveform, &mut warnings, on_event);
    let main_bytes = outputs.first().map_or(0, |o| o.bytes);
    let saved = if info.bytes > 0 { (1.0 - main_bytes as f64 / info.bytes as f64) * 100.0 } else { 0.0 };
    Ok(EncodeResult {
        source: info,
        profile: req.profile.clone(),
        effective_profile_id: profile.id.clone(),
        profile_reason: None,
        final_artifact: FinalArtifact::Encoded,
        saved_percent: (saved.max(0.0) * 10.0).round() / 10.0,
        outputs,
        elapsed_seconds: started.elapsed().as_secs_f64(),
        notices: vec![],
        warnings,
        waveform,
    })
}

/// The warning that the profile's picture settings played no part.
fn ignored_settings(req: &EncodeRequest, profile: &Profile) -> String {
    let mut w = format!(
        "audio-only source: the video settings of profile {} (codec, quality, keyframes) are ignored",
        profile.id
    );
    if req.target_height.is_some() {
        w.push_str(", and so is the target height");
    }
    if req.hls.is_some() {
        let kbps: Vec<String> = HLS_AUDIO_KBPS.iter().map(|k| k.to_string()).collect();
        w.push_str(&format!(
            "; the HLS package is audio only (AAC at {} kbit/s), rung heights do not apply",
            kbps.join("/")
        ));
    }
    w
}

fn vanished(index: usize) -> EngineError {
    EngineError::Internal(format!("audio stream {index} vanished"))
}

fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

fn audio_report(kind: &str, path: &Path, bytes: u64, measure: &Path, audio_tracks: usize) -> OutputReport {
    OutputReport {
        kind: kind.into(),
        path: path.to_path_buf(),
        bytes,
        duration_seconds: measured_duration(measure),
        width: 0,
        height: 0,
        audio_tracks,
        encoder: None,
        renditions: vec![],
    }
}

/// A path that copies `stream`'s packets as they are.
fn copy_path(stream: &ff::format::stream::Stream) -> AudioPath {
    AudioPath {
        hls: false,
        pending: vec![],
        source_index: stream.index(),
        source_tb: stream.time_base(),
        work: AudioWork::Copy,
        outputs: vec![],
        waveform: None,
    }
}

/// The recording's tags: the container's, then the main track's where the
/// container has none of that name (Ogg and FLAC keep Vorbis comments on
/// the stream), without the tags that describe a container.
fn recording_tags(ictx: &ff::format::context::Input, main: usize) -> ff::Dictionary<'static> {
    let mut tags = ff::Dictionary::new();
    let mut seen: Vec<String> = Vec::new();
    let stream_tags = ictx.stream(main).map(|s| ffutil::dict_pairs(&s.metadata())).unwrap_or_default();
    let all = ffutil::dict_pairs(&ictx.metadata()).into_iter().chain(stream_tags);
    for (k, v) in all {
        let key = k.to_ascii_lowercase();
        if CONTAINER_TAGS.contains(&key.as_str()) || key == "language" || seen.contains(&key) {
            continue;
        }
        seen.push(key);
        tags.set(&k, &v);
    }
    tags
}

/// Cover pictures of the source: (stream index, MIME type) of every stream
/// with the `attached_pic` disposition in a format both containers take.
fn cover_streams(ictx: &ff::format::context::Input) -> Vec<(usize, &'static str)> {
    ictx.streams()
        .filter(|s| s.disposition().bits() & ffi::AV_DISPOSITION_ATTACHED_PIC != 0)
        .filter_map(|s| match s.parameters().id() {
            ff::codec::Id::MJPEG => Some((s.index(), "image/jpeg")),
            ff::codec::Id::PNG => Some((s.index(), "image/png")),
            _ => None,
        })
        .collect()
}

/// An MP4 cover: a copy of the picture stream with the `attached_pic`
/// disposition, which the mov muxer writes as the `covr` tag. Returns the
/// output stream index.
fn add_mp4_cover(mux: &mut Mux, ictx: &ff::format::context::Input, index: usize) -> Result<usize> {
    let src = ictx.stream(index).ok_or_else(|| vanished(index))?;
    let mut st = mux
        .ctx
        .add_stream(ff::encoder::find(ff::codec::Id::None))
        .map_err(|e| EngineError::Internal(format!("add cover stream: {e}")))?;
    st.set_parameters(src.parameters());
    st.set_time_base(src.time_base());
    // SAFETY: plain field stores on a valid stream before the header is written.
    unsafe {
        (*(*st.as_mut_ptr()).codecpar).codec_tag = 0;
        (*st.as_mut_ptr()).disposition = ffi::AV_DISPOSITION_ATTACHED_PIC;
    }
    Ok(st.index())
}

/// A Matroska attachment holding the source's cover picture (the packet
/// libavformat keeps in the stream's `attached_pic`), named `cover.jpg` or
/// `cover.png`; Matroska readers (libavformat too) show it as the cover.
fn add_mkv_attachment(mux: &mut Mux, ictx: &ff::format::context::Input, index: usize, mime: &str) -> Result<()> {
    // SAFETY: `index` is a stream of the open input; its attached_pic packet
    // (filled at open for attached pictures) is read, not changed.
    let picture = unsafe {
        let st = *(*ictx.as_ptr()).streams.add(index);
        let pkt = &(*st).attached_pic;
        if pkt.data.is_null() || pkt.size <= 0 {
            return Ok(());
        }
        std::slice::from_raw_parts(pkt.data, pkt.size as usize).to_vec()
    };
    let codec = ictx.stream(index).map_or(ff::codec::Id::MJPEG, |s| s.parameters().id());
    let mut st = mux
        .ctx
        .add_stream(ff::encoder::find(ff::codec::Id::None))
        .map_err(|e| EngineError::Internal(format!("add attachment: {e}")))?;
    // SAFETY: the extradata buffer is allocated with FFmpeg's allocator and
    // the padding it requires; the stream's codecpar takes ownership of it.
    unsafe {
        let par = (*st.as_mut_ptr()).codecpar;
        (*par).codec_type = ffi::AVMediaType::AVMEDIA_TYPE_ATTACHMENT;
        (*par).codec_id = codec.into();
        let size = picture.len();
        let buf = ffi::av_mallocz(size + ffi::AV_INPUT_BUFFER_PADDING_SIZE as usize) as *mut u8;
        if buf.is_null() {
            return Err(EngineError::Internal("out of memory for the cover attachment".into()));
        }
        std::ptr::copy_nonoverlapping(picture.as_ptr(), buf, size);
        (*par).extradata = buf;
        (*par).extradata_size = size as i32;
    }
    let mut md = ff::Dictionary::new();
    md.set("filename", if mime == "image/png" { "cover.png" } else { "cover.jpg" });
    md.set("mimetype", mime);
    st.set_metadata(md);
    Ok(())
}

/// Writes the cover picture packet to its MP4 stream (the muxer keeps it
/// for the `covr` tag).
fn write_cover(mux: &mut Mux, stream: usize, mut packet: ff::Packet, input: &Path) -> Result<()> {
    packet.set_stream(stream);
    packet.set_position(-1);
    packet.set_pts(Some(0));
    packet.set_dts(Some(0));
    packet
        .write_interleaved(&mut mux.ctx)
        .map_err(|e| EngineError::from_ffmpeg(input, Some(&mux.report_path), "write", e))
}

/// Progress of an audio-only run, from the packets' timestamps (~10 events a second).
struct AudioProgress {
    started: Instant,
    last_emit: Option<Instant>,
    total_seconds: f64,
    origin_us: i64,
    packets: u64,
}

impl AudioProgress {
    fn new(total_seconds: f64, origin_us: i64) -> Self {
        AudioProgress { started: Instant::now(), last_emit: None, total_seconds, origin_us, packets: 0 }
    }

    fn packet(&mut self, pts: Option<i64>, tb: Rational, on_event: &mut dyn FnMut(Event)) {
        self.packets += 1;
        let now = Instant::now();
        let Some(pts) = pts else { return };
        if self.last_emit.is_some_and(|l| now.duration_since(l).as_millis() < 100) || self.total_seconds <= 0.0 {
            return;
        }
        self.last_emit = Some(now);
        let t = (pts.rescale(tb, Rational::new(1, 1_000_000)) - self.origin_us) as f64 / 1e6;
        let percent = (t / self.total_seconds * 100.0).clamp(0.0, 100.0);
        let elapsed = now.duration_since(self.started).as_secs_f64();
        let eta = (percent > 1.0 && elapsed > 0.5).then(|| (elapsed * (100.0 - percent) / percent).round() as u64);
        on_event(Event::Progress {
            stage: Stage::Encoding,
            percent: (percent * 10.0).round() / 10.0,
            fps: 0.0,
            eta_seconds: eta,
            frames_done: self.packets,
            frames_total: None,
        });
    }
}
