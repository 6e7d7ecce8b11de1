//! [`generate`]: a file's audio track → [`Waveform`], decoding with FFmpeg.

use super::builder::WaveformBuilder;
use super::format::{MAX_POINTS, Waveform};
use super::options::WaveformOptions;
use crate::probe;
use crate::{CancelFlag, EngineError, Result};
use ffmpeg_next as ff;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A waveform to compute from a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WaveformRequest {
    /// The source: any file FFmpeg reads with an audio stream (opened as
    /// [`probe::open_input`] opens every source).
    pub input: PathBuf,
    /// Container stream index of the audio track (what `crema probe` lists
    /// as `audio #N`); `None`: FFmpeg's best audio stream
    /// (`av_find_best_stream`: the default-flagged one first, then the one
    /// with the most decoded frames and the highest bit rate).
    pub track: Option<usize>,
    /// Resolution, bits, mono mix or split channels.
    pub options: WaveformOptions,
}

/// Progress of [`generate`], reported at most every 100 ms and once at the end.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct WaveformProgress {
    /// 0..100, decoded position over the track's duration (`None` when the
    /// duration is unknown).
    pub percent: Option<f64>,
    /// Seconds of audio decoded so far.
    pub seconds_done: f64,
    /// The track's duration in seconds, when the container declares one.
    pub seconds_total: Option<f64>,
}

/// What [`generate`] made, and from which track.
#[derive(Clone, Debug, PartialEq)]
pub struct Generated {
    /// The waveform data.
    pub waveform: Waveform,
    /// Container stream index of the track it was made from.
    pub track: usize,
    /// That track's codec short name (`vorbis`, `aac`, `pcm_s16le`).
    pub codec: String,
    /// Channels of that track (the waveform has 1 unless split).
    pub source_channels: u16,
    /// Packets the decoder refused and that were skipped (damaged data).
    pub skipped_packets: u64,
}

/// Decodes one audio track of `req.input` and returns its waveform.
///
/// Only the chosen track's packets are read (the demuxer discards every
/// other stream). The waveform's sample rate and channel count are those of
/// the first decoded frame; samples per pixel follow `req.options`. A
/// damaged packet is skipped as the `ffmpeg` command line skips it.
/// `cancel` is checked before every packet.
///
/// Errors: [`EngineError::InputUnreadable`] / [`EngineError::InputUnsupported`]
/// as for [`probe::probe`], and InputUnsupported when the file has no audio
/// track or FFmpeg has no decoder for it; [`EngineError::Usage`] when
/// `req.track` is not an audio stream of the file, the resolution is invalid
/// for the track's sample rate (fewer than 2 samples per pixel), split
/// channels are asked for more than [`super::MAX_CHANNELS`] channels, or the
/// waveform would exceed [`MAX_POINTS`]; [`EngineError::Decode`] when not one
/// sample could be decoded; [`EngineError::Canceled`].
pub fn generate(
    req: &WaveformRequest,
    cancel: &CancelFlag,
    on_progress: &mut dyn FnMut(WaveformProgress),
) -> Result<Generated> {
    crate::init()?;
    check(cancel)?;
    let path = req.input.as_path();
    let mut ictx = probe::open_input(path)?;
    let index = pick_track(path, &ictx, req.track)?;
    let (mut decoder, codec, tb, start, seconds_total) = {
        let stream = ictx.stream(index).ok_or_else(|| EngineError::Internal("audio stream vanished".into()))?;
        let params = stream.parameters();
        // The codec descriptor's name, as `crema probe` shows it (`dts`, not the decoder's `dca`).
        let codec = Some(params.id().name().to_string()).filter(|n| !n.is_empty() && *n != "none");
        let tb = stream.time_base();
        let mut ctx = ff::codec::context::Context::from_parameters(params)
            .map_err(|e| EngineError::from_ffmpeg(path, None, "audio decoder", e))?;
        // SAFETY: setting the packet time base before the decoder is opened.
        unsafe { (*ctx.as_mut_ptr()).pkt_timebase = tb.into() };
        let decoder = ctx.decoder().audio().map_err(|e| EngineError::InputUnsupported {
            path: path.into(),
            cause: format!("cannot decode {} audio: {e}", codec.as_deref().unwrap_or("this")),
        })?;
        let seconds = if stream.duration() > 0 {
            Some(stream.duration() as f64 * f64::from(tb))
        } else if ictx.duration() > 0 {
            Some(ictx.duration() as f64 / f64::from(ff::ffi::AV_TIME_BASE))
        } else {
            None
        };
        // Positions count from the track's first timestamp (an MPEG-TS clock starts anywhere).
        let start = if stream.start_time() == ff::ffi::AV_NOPTS_VALUE { 0 } else { stream.start_time() };
        (decoder, codec.unwrap_or_else(|| "unknown".into()), tb, start, seconds)
    };
    let source_channels = decoder.channels();
    // Refuse an oversized request before decoding anything, when the track
    // declares its length (the builder enforces the bound in any case).
    if let Some(seconds) = seconds_total.filter(|_| decoder.rate() > 0 && source_channels > 0) {
        let points = req.options.points_for(decoder.rate(), source_channels, seconds).map_err(|e| in_file(path, e))?;
        if points > MAX_POINTS as u64 {
            return Err(EngineError::Usage(format!(
                "{}: {seconds:.0} s of audio would make {points} waveform points, more than {MAX_POINTS}: \
                 ask for more samples per pixel (or fewer pixels per second)",
                file_name(path)
            )));
        }
    }
    // Only the chosen track is demuxed: for a video file this skips the
    // video packets instead of reading them into memory.
    for i in 0..ictx.nb_streams() as usize {
        if i != index
            && let Some(mut st) = ictx.stream_mut(i)
        {
            // SAFETY: plain field store on a valid stream, before reading packets.
            unsafe { (*st.as_mut_ptr()).discard = ff::ffi::AVDiscard::AVDISCARD_ALL };
        }
    }

    let mut run = Run {
        path,
        options: &req.options,
        builder: None,
        frame: ff::frame::Audio::empty(),
        seconds_done: 0.0,
        seconds_total,
        last_report: Instant::now(),
        tb,
        start,
    };
    let mut skipped = 0u64;
    for (stream, packet) in ictx.packets() {
        check(cancel)?;
        if stream.index() != index {
            continue;
        }
        if let Some(pts) = packet.pts() {
            run.seconds_done = run.seconds_done.max(run.seconds_at(pts));
        }
        if decoder.send_packet(&packet).is_err() {
            skipped += 1;
            continue;
        }
        run.drain(&mut decoder)?;
        run.report(on_progress, false);
    }
    let _ = decoder.send_eof();
    run.drain(&mut decoder)?;
    let Some(builder) = run.builder.take() else {
        return Err(EngineError::Decode {
            path: path.into(),
            cause: if skipped > 0 {
                format!("every {codec} packet was refused by the decoder ({skipped})")
            } else {
                format!("the {codec} track holds no audio")
            },
        });
    };
    run.report(on_progress, true);
    Ok(Generated { waveform: builder.finish()?, track: index, codec, source_channels, skipped_packets: skipped })
}

struct Run<'a> {
    path: &'a Path,
    options: &'a WaveformOptions,
    builder: Option<WaveformBuilder>,
    frame: ff::frame::Audio,
    seconds_done: f64,
    seconds_total: Option<f64>,
    last_report: Instant,
    tb: ff::Rational,
    /// The track's start time, in `tb`.
    start: i64,
}

impl Run<'_> {
    /// Every frame the decoder has ready goes to the builder, made from the
    /// first frame's sample rate and channel count.
    fn drain(&mut self, decoder: &mut ff::decoder::Audio) -> Result<()> {
        while decoder.receive_frame(&mut self.frame).is_ok() {
            if let Some(pts) = self.frame.pts() {
                let end = self.seconds_at(pts) + self.frame.samples() as f64 / f64::from(self.frame.rate().max(1));
                self.seconds_done = self.seconds_done.max(end);
            }
            if self.builder.is_none() {
                if self.frame.rate() == 0 || self.frame.channels() == 0 {
                    return Err(EngineError::Decode {
                        path: self.path.into(),
                        cause: "the decoder gave audio without a sample rate or channels".into(),
                    });
                }
                let b = WaveformBuilder::new(self.options, self.frame.rate(), self.frame.channels())
                    .map_err(|e| in_file(self.path, e))?;
                self.builder = Some(b);
            }
            let b = self.builder.as_mut().expect("made above");
            b.push_frame(&self.frame).map_err(|e| in_file(self.path, e))?;
        }
        Ok(())
    }

    /// Seconds from the track's start to `pts` (in `tb`).
    fn seconds_at(&self, pts: i64) -> f64 {
        (pts.saturating_sub(self.start)) as f64 * f64::from(self.tb)
    }

    fn report(&mut self, on_progress: &mut dyn FnMut(WaveformProgress), last: bool) {
        if !last && self.last_report.elapsed() < Duration::from_millis(100) {
            return;
        }
        self.last_report = Instant::now();
        let percent =
            self.seconds_total.filter(|t| *t > 0.0).map(|t| (self.seconds_done / t * 100.0).clamp(0.0, 100.0));
        on_progress(WaveformProgress { percent, seconds_done: self.seconds_done, seconds_total: self.seconds_total });
    }
}

/// The requested track, or FFmpeg's best audio stream.
fn pick_track(path: &Path, ictx: &ff::format::context::Input, track: Option<usize>) -> Result<usize> {
    let audio: Vec<usize> =
        ictx.streams().filter(|s| s.parameters().medium() == ff::media::Type::Audio).map(|s| s.index()).collect();
    if audio.is_empty() {
        return Err(EngineError::InputUnsupported { path: path.into(), cause: "no audio track".into() });
    }
    match track {
        Some(t) if audio.contains(&t) => Ok(t),
        Some(t) => {
            let list = audio.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(", ");
            Err(EngineError::Usage(format!(
                "{}: stream {t} is not an audio track (audio tracks: {list})",
                file_name(path)
            )))
        }
        None => Ok(ictx.streams().best(ff::media::Type::Audio).map_or(audio[0], |s| s.index())),
    }
}

/// Usage errors of the builder name the file they concern.
fn in_file(path: &Path, e: EngineError) -> EngineError {
    match e {
        EngineError::Usage(m) => EngineError::Usage(format!("{}: {m}", file_name(path))),
        other => other,
    }
}

fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned())
}

fn check(cancel: &CancelFlag) -> Result<()> {
    if cancel.is_canceled() { Err(EngineError::Canceled) } else { Ok(()) }
}
