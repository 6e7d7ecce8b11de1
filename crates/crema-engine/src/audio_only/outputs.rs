//! Opening an audio-only job's outputs: the single file (every readable
//! track, copied or converted to AAC, with the recording's tags and cover)
//! and the audio-only HLS package (one AAC variant per bit rate of
//! [`HLS_AUDIO_KBPS`]), all under staged names.

use ffmpeg_next as ff;
use std::path::{Path, PathBuf};

use super::cover::{add_mkv_attachment, add_mp4_cover, cover_streams, recording_tags, vanished};
use crate::error::{EngineError, Result};
use crate::media::AudioStream;
use crate::output::{
    AudioPath, AudioWork, Mux, MuxKind, Staging, add_audio_stream, io_out_err, open_audio_transcode, push_hls_mux,
};
use crate::request::{Container, EncodeRequest};

/// Bit rates of an audio-only HLS package, kbit/s: the 64/128/192 kbit/s
/// AAC-LC steps that Apple's HLS Authoring Specification (§2.5) lists for
/// stereo audio-only variants.
pub const HLS_AUDIO_KBPS: [u32; 3] = [64, 128, 192];

/// Every output of one audio-only job, open and staged.
pub(super) struct Outputs {
    /// Temporary names of every output, renamed on success.
    pub(super) staging: Staging,
    /// The file's muxer first (when asked for), then one per HLS variant.
    pub(super) muxes: Vec<Mux>,
    /// The audio paths feeding them.
    pub(super) paths: Vec<AudioPath>,
    /// Source stream index → (mux, stream) of the MP4 cover it feeds.
    pub(super) covers: Vec<(usize, (usize, usize))>,
    /// The staged HLS folder, when a package was asked for.
    pub(super) hls_dir_tmp: Option<PathBuf>,
}

impl Outputs {
    /// Opens the outputs `req` asks for from `tracks` (the readable audio)
    /// and `main` (the track an HLS package plays).
    ///
    /// Errors: [`EngineError::OutputNotWritable`] / [`EngineError::DiskFull`]
    /// for staged names that cannot be made; FFmpeg errors opening muxers,
    /// decoders or the AAC encoder.
    pub(super) fn open(
        req: &EncodeRequest,
        ictx: &ff::format::context::Input,
        tracks: &[AudioStream],
        main: &AudioStream,
    ) -> Result<Self> {
        let mut out = Outputs {
            staging: Staging::new(),
            muxes: Vec::new(),
            paths: Vec::new(),
            covers: Vec::new(),
            hls_dir_tmp: None,
        };
        out.add_file(req, ictx, tracks, main)?;
        out.add_hls(req, ictx, main)?;
        Ok(out)
    }

    /// The single file: every track, its tags and its cover.
    fn add_file(
        &mut self,
        req: &EncodeRequest,
        ictx: &ff::format::context::Input,
        tracks: &[AudioStream],
        main: &AudioStream,
    ) -> Result<()> {
        let Some(f) = &req.file else { return Ok(()) };
        let input = req.input.as_path();
        let Outputs { staging, muxes, paths, covers, .. } = self;
        let tmp = staging.add(&f.path, false)?;
        let m4a = f.path.extension().is_some_and(|e| e.eq_ignore_ascii_case("m4a"));
        let (fmt, header) = match f.container {
            Container::Mp4 => (if m4a { "ipod" } else { "mp4" }, vec![("movflags".into(), "+faststart".into())]),
            Container::Mkv => ("matroska", vec![]),
        };
        let mut ctx = ff::format::output_as(&tmp, fmt)
            .map_err(|e| EngineError::from_ffmpeg(input, Some(&f.path), "create output", e))?;
        ctx.set_metadata(recording_tags(ictx, main.index));
        muxes.push(Mux {
            ctx,
            kind: MuxKind::File,
            report_path: f.path.clone(),
            header,
            stream_tbs: vec![],
            origins: vec![],
        });
        for a in tracks {
            let stream = ictx.stream(a.index).ok_or_else(|| vanished(a.index))?;
            let mut path = if f.container == Container::Mkv || a.codec == "aac" {
                copy_path(&stream)
            } else {
                open_audio_transcode(input, &stream, None, None)?
            };
            let disposition = stream.disposition().bits();
            add_audio_stream(muxes, 0, &mut path, ictx, a.language.as_deref(), disposition)?;
            paths.push(path);
        }
        for (index, mime) in cover_streams(ictx) {
            match f.container {
                Container::Mp4 => covers.push((index, (0, add_mp4_cover(&mut muxes[0], ictx, index)?))),
                Container::Mkv => add_mkv_attachment(&mut muxes[0], ictx, index, mime)?,
            }
        }
        Ok(())
    }

    /// The audio-only HLS package: one AAC variant per bit rate.
    fn add_hls(&mut self, req: &EncodeRequest, ictx: &ff::format::context::Input, main: &AudioStream) -> Result<()> {
        let Some(h) = &req.hls else { return Ok(()) };
        let input: &Path = req.input.as_path();
        let Outputs { staging, muxes, paths, hls_dir_tmp, .. } = self;
        let dir = staging.add(&h.dir, true)?;
        let stream = ictx.stream(main.index).ok_or_else(|| vanished(main.index))?;
        let channels = if main.channels == 1 { 1 } else { 2 };
        for kbps in HLS_AUDIO_KBPS {
            let rung_dir = dir.join(format!("aac_{kbps}k"));
            std::fs::create_dir(&rung_dir).map_err(|e| io_out_err(&h.dir, e))?;
            let mi = push_hls_mux(muxes, &rung_dir, MuxKind::HlsAudio, h.segment_seconds, &h.dir, input)?;
            let mut path = open_audio_transcode(input, &stream, Some(channels), Some(kbps))?;
            // Not the rendition of a video package: nothing waits for a picture.
            path.hls = false;
            add_audio_stream(muxes, mi, &mut path, ictx, main.language.as_deref(), 1)?;
            paths.push(path);
        }
        *hls_dir_tmp = Some(dir);
        Ok(())
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
