//! Joining encoded chunks into one file without re-encoding: the video
//! packets of every chunk file in order, each chunk's timestamps moved so
//! its first frame lands on its [`super::Chunk::start_us`], and the audio
//! streams of a separately written audio file beside them, interleaved by
//! decode time.
//!
//! The chunks must share one encoder set-up but for rate control (CRF):
//! the output's sample entry (`hvcC`) is the first chunk's, and x265
//! writes the same VPS/SPS/PPS at any CRF (its PPS codes `init_qp` as 26;
//! the QP travels in each slice header), which the engine's tests check by
//! decoding a joined file with chunks at different CRFs. Every chunk starts
//! with an IDR picture, so no picture of one chunk references another's.

use ff::Rescale;
use ffmpeg_next as ff;
use std::path::{Path, PathBuf};

use crate::error::{EngineError, Result};
use crate::ffutil;
use crate::progress::CancelFlag;
use crate::request::Container;

/// One chunk file to join: its path and where its first frame goes, µs
/// after the title's start.
#[derive(Clone, Debug)]
pub struct Part {
    /// An MP4 (or Matroska) file whose first video stream is the chunk.
    pub path: PathBuf,
    /// Presentation time of the chunk's first frame in the joined file, µs.
    pub start_us: i64,
}

/// Joins `parts` (in order) and the audio streams of `audio` into `out`
/// (`container`; MP4 with `+faststart` and the `hvc1` sample entry for
/// HEVC). Timestamps of `audio` are kept as they are: it is written from
/// the same source with the same origin.
///
/// Errors: [`EngineError::OutputNotWritable`] / [`EngineError::Encode`]
/// from the muxer, naming `out`; [`EngineError::Internal`] for a part with
/// no video stream or one whose timestamps run backwards across a cut (a
/// chunk made with other encoder settings); [`EngineError::Canceled`].
pub fn join(parts: &[Part], audio: Option<&Path>, out: &Path, container: Container, cancel: &CancelFlag) -> Result<()> {
    let first = parts.first().ok_or_else(|| EngineError::Internal("no chunk to join".into()))?;
    let fmt = match container {
        Container::Mp4 => "mp4",
        Container::Mkv => "matroska",
    };
    let werr = |what: &'static str| move |e: ff::Error| EngineError::from_ffmpeg(&first.path, Some(out), what, e);
    let mut octx = ff::format::output_as(out, fmt).map_err(werr("open output"))?;
    {
        let ictx = crate::probe::open_input(&first.path)?;
        let ist = video_stream(&ictx, &first.path)?;
        let mut ost = octx.add_stream(ff::encoder::find(ff::codec::Id::None)).map_err(werr("add stream"))?;
        ost.set_parameters(ist.parameters());
        ost.set_time_base(ist.time_base());
        // The first chunk's stream tags: its timecode (the title's start),
        // language; the MP4 muxer writes the timecode track only with a frame rate.
        ost.set_metadata(ist.metadata().to_owned());
        ost.set_avg_frame_rate(ist.avg_frame_rate());
        // SAFETY: codecpar is allocated by avformat_new_stream; the tag is
        // cleared so the muxer picks its own (set to `hvc1` below for HEVC).
        unsafe { (*(*ost.as_mut_ptr()).codecpar).codec_tag = 0 };
        if ist.parameters().id() == ff::codec::Id::HEVC && container == Container::Mp4 {
            ffutil::set_hvc1_tag(&mut ost);
        }
    }
    let mut audio_in = match audio {
        Some(path) => {
            let ictx = crate::probe::open_input(path)?;
            let mut map = Vec::new();
            for ist in ictx.streams().filter(|s| s.parameters().medium() == ff::media::Type::Audio) {
                let mut ost = octx.add_stream(ff::encoder::find(ff::codec::Id::None)).map_err(werr("add stream"))?;
                ost.set_parameters(ist.parameters());
                ost.set_time_base(ist.time_base());
                // SAFETY: as for the video stream above.
                unsafe { (*(*ost.as_mut_ptr()).codecpar).codec_tag = 0 };
                map.push((ist.index(), ost.index(), ist.time_base()));
            }
            Some((ictx, map, path.to_path_buf()))
        }
        None => None,
    };
    let header: Vec<(String, String)> = match container {
        Container::Mp4 => vec![("movflags".into(), "+faststart".into())],
        Container::Mkv => vec![],
    };
    ffutil::write_header(&mut octx, &header).map_err(|e| match e {
        ffutil::HeaderError::UnknownOptions(k) => {
            EngineError::Internal(format!("unknown muxer option(s): {}", k.join(", ")))
        }
        ffutil::HeaderError::Ffmpeg(e) => EngineError::from_ffmpeg(&first.path, Some(out), "write header", e),
    })?;
    let out_tbs: Vec<ff::Rational> = octx.streams().map(|s| s.time_base()).collect();
    let mut video = VideoFeed { parts, next: 0, current: None, tb: out_tbs[0], last_dts: None };
    let mut pending_audio: Option<ff::Packet> = None;
    let mut pending_video: Option<ff::Packet> = None;
    let mut audio_errors = 0;
    loop {
        if cancel.is_canceled() {
            return Err(EngineError::Canceled);
        }
        if pending_video.is_none() {
            pending_video = video.next()?;
        }
        if pending_audio.is_none()
            && let Some((ictx, map, path)) = audio_in.as_mut()
        {
            while let Some(mut p) = ffutil::read_packet(ictx, path, &mut audio_errors)? {
                if let Some(&(_, oi, tb)) = map.iter().find(|m| m.0 == p.stream()) {
                    p.set_stream(oi);
                    p.set_position(-1);
                    p.rescale_ts(tb, out_tbs[oi]);
                    pending_audio = Some(p);
                    break;
                }
            }
        }
        let seconds = |p: &ff::Packet| {
            let tb = out_tbs[p.stream()];
            p.dts().or(p.pts()).map_or(f64::MAX, |t| t as f64 * f64::from(tb))
        };
        let take_video = match (&pending_video, &pending_audio) {
            (None, None) => break,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some(v), Some(a)) => seconds(v) <= seconds(a),
        };
        let packet = if take_video { pending_video.take() } else { pending_audio.take() };
        if let Some(p) = packet {
            p.write_interleaved(&mut octx).map_err(werr("write"))?;
        }
    }
    octx.write_trailer().map_err(werr("write trailer"))?;
    Ok(())
}

fn video_stream<'a>(ictx: &'a ff::format::context::Input, path: &Path) -> Result<ff::format::stream::Stream<'a>> {
    ictx.streams()
        .best(ff::media::Type::Video)
        .ok_or_else(|| EngineError::Internal(format!("chunk {} has no video stream", path.display())))
}

/// The video packets of every part in order, timestamps in the output
/// stream's time base `tb`, each part shifted to its start.
struct VideoFeed<'a> {
    parts: &'a [Part],
    next: usize,
    /// The open part: input, its video stream index and time base, and the
    /// shift to add (output time base), once its first packet is read.
    current: Option<(ff::format::context::Input, usize, ff::Rational, Option<i64>, PathBuf)>,
    tb: ff::Rational,
    last_dts: Option<i64>,
}

impl VideoFeed<'_> {
    fn next(&mut self) -> Result<Option<ff::Packet>> {
        loop {
            if self.current.is_none() {
                let Some(part) = self.parts.get(self.next) else { return Ok(None) };
                self.next += 1;
                let ictx = crate::probe::open_input(&part.path)?;
                let (index, tb) = {
                    let st = video_stream(&ictx, &part.path)?;
                    (st.index(), st.time_base())
                };
                self.current = Some((ictx, index, tb, None, part.path.clone()));
            }
            let start_us = self.parts[self.next - 1].start_us;
            let Some((ictx, index, tb, shift, path)) = self.current.as_mut() else { continue };
            let mut errors = 0;
            let Some(mut p) = ffutil::read_packet(ictx, path, &mut errors)? else {
                self.current = None;
                continue;
            };
            if p.stream() != *index {
                continue;
            }
            p.rescale_ts(*tb, self.tb);
            // The first packet of a chunk is its IDR picture, presented first.
            let s = *shift.get_or_insert_with(|| {
                start_us.rescale(ff::Rational::new(1, 1_000_000), self.tb) - p.pts().unwrap_or(0)
            });
            p.set_pts(p.pts().map(|t| t + s));
            p.set_dts(p.dts().map(|t| t + s));
            if let (Some(d), Some(last)) = (p.dts(), self.last_dts)
                && d <= last
            {
                return Err(EngineError::Internal(format!(
                    "chunk {} starts before the chunk ahead of it ends (decode time {d} after {last})",
                    path.display()
                )));
            }
            self.last_dts = p.dts().or(self.last_dts);
            p.set_stream(0);
            p.set_position(-1);
            return Ok(Some(p));
        }
    }
}
