//! A job's waveform made during its encode: [`WaveformTap`] takes the
//! decoded frames of the chosen audio track as the pipeline decodes them (a
//! track that is copied, not transcoded, is decoded once for the waveform
//! alone), so the track is never decoded twice.

use super::builder::WaveformBuilder;
use super::format::{DataFormat, Waveform};
use super::options::WaveformOptions;
use crate::media::MediaInfo;
use crate::{EngineError, Result};
use ffmpeg_next as ff;
use serde::Serialize;
use std::path::PathBuf;

/// The waveform an encode writes beside its outputs (`EncodeRequest::waveform`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WaveformOutput {
    /// Final path of the `.dat` or `.json` file (written under a temporary
    /// name and renamed with the other outputs).
    pub path: PathBuf,
    /// File form (audiowaveform's binary `.dat` or JSON).
    pub format: DataFormat,
    /// Resolution, bits, mono mix or split channels.
    pub options: WaveformOptions,
    /// Container stream index of the audio track; `None`: the source's main
    /// audio (the one an HLS package plays, [`MediaInfo::main_audio`]), else
    /// its first readable audio stream.
    pub track: Option<usize>,
}

/// What an encode wrote for [`WaveformOutput`] (`EncodeResult::waveform`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct WaveformReport {
    /// The file written.
    pub path: PathBuf,
    /// Its size in bytes.
    pub bytes: u64,
    /// `dat` or `json`.
    pub format: DataFormat,
    /// Container stream index of the audio track it was made from.
    pub track: usize,
    /// Sample rate of that track, Hz (the header's `sample_rate`).
    pub sample_rate: u32,
    /// Audio samples per pixel (the header's `samples_per_pixel`).
    pub samples_per_pixel: u32,
    /// Pixels (min/max pairs per channel; the header's `length`).
    pub length: usize,
    /// Waveform channels (1 for the mono mix).
    pub channels: u16,
    /// 8 or 16.
    pub bits: u8,
    /// Seconds of audio it covers (`length × samples_per_pixel / sample_rate`).
    pub duration_seconds: f64,
}

impl WaveformReport {
    pub(crate) fn new(out: &WaveformOutput, track: usize, waveform: &Waveform, bytes: u64) -> Self {
        WaveformReport {
            path: out.path.clone(),
            bytes,
            format: out.format,
            track,
            sample_rate: waveform.sample_rate(),
            samples_per_pixel: waveform.samples_per_pixel(),
            length: waveform.length(),
            channels: waveform.channels(),
            bits: waveform.bits().value(),
            duration_seconds: waveform.duration_seconds(),
        }
    }
}

/// The track a [`WaveformOutput`] is made from: the one asked for when the
/// source has it as readable audio, else the main audio, else the first
/// readable audio stream; `None` when the source has no readable audio.
///
/// Errors: [`EngineError::Usage`] when `track` names a stream that is not a
/// readable audio stream of the source.
pub(crate) fn choose_track(info: &MediaInfo, track: Option<usize>) -> Result<Option<usize>> {
    let readable: Vec<usize> =
        info.audio.iter().filter(|a| crate::streams::audio_is_readable(a)).map(|a| a.index).collect();
    match track {
        Some(t) if readable.contains(&t) => Ok(Some(t)),
        Some(t) => Err(EngineError::Usage(format!(
            "waveform track {t} is not a readable audio stream of the source (audio streams: {})",
            if readable.is_empty() {
                "none".to_string()
            } else {
                readable.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(", ")
            }
        ))),
        None => Ok(info.main_audio.filter(|m| readable.contains(m)).or(readable.first().copied())),
    }
}

/// Feeds one track's decoded audio into a [`WaveformBuilder`] during an
/// encode. It never fails the encode: a problem (a request too large for
/// the track, a decoder that refuses the stream) is kept and reported by
/// [`finish`](Self::finish), which the pipeline turns into a warning.
pub struct WaveformTap {
    options: WaveformOptions,
    builder: Option<WaveformBuilder>,
    /// Its own decoder, when the track is copied (no decoded frames to share).
    decoder: Option<ff::decoder::Audio>,
    frame: ff::frame::Audio,
    failed: Option<String>,
}

impl std::fmt::Debug for WaveformTap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WaveformTap").field("options", &self.options).field("failed", &self.failed).finish()
    }
}

impl WaveformTap {
    /// A tap fed decoded frames by the path it sits on (a transcoded track).
    pub(crate) fn on_frames(options: WaveformOptions) -> Self {
        WaveformTap { options, builder: None, decoder: None, frame: ff::frame::Audio::empty(), failed: None }
    }

    /// A tap that decodes the packets of a copied track itself.
    pub(crate) fn with_decoder(options: WaveformOptions, stream: &ff::format::stream::Stream) -> Self {
        let mut tap = Self::on_frames(options);
        let opened = ff::codec::context::Context::from_parameters(stream.parameters()).and_then(|mut ctx| {
            // SAFETY: setting the packet time base before the decoder is opened.
            unsafe { (*ctx.as_mut_ptr()).pkt_timebase = stream.time_base().into() };
            ctx.decoder().audio()
        });
        match opened {
            Ok(d) => tap.decoder = Some(d),
            Err(e) => tap.failed = Some(format!("cannot decode the track: {e}")),
        }
        tap
    }

    /// Adds one decoded frame.
    pub(crate) fn push(&mut self, frame: &ff::frame::Audio) {
        if self.failed.is_some() {
            return;
        }
        if self.builder.is_none() {
            match WaveformBuilder::new(&self.options, frame.rate(), frame.channels()) {
                Ok(b) => self.builder = Some(b),
                Err(e) => {
                    self.failed = Some(e.to_string());
                    return;
                }
            }
        }
        if let Some(b) = &mut self.builder
            && let Err(e) = b.push_frame(frame)
        {
            self.failed = Some(e.to_string());
            self.builder = None;
        }
    }

    /// Decodes one packet of a copied track (no-op for a tap fed frames).
    /// A packet the decoder refuses is skipped, as the encode skips it.
    pub(crate) fn decode(&mut self, packet: &ff::Packet) {
        let Some(mut decoder) = self.decoder.take() else { return };
        if decoder.send_packet(packet).is_ok() {
            self.drain(&mut decoder);
        }
        self.decoder = Some(decoder);
    }

    /// Drains its own decoder at the end of the track.
    pub(crate) fn flush(&mut self) {
        let Some(mut decoder) = self.decoder.take() else { return };
        let _ = decoder.send_eof();
        self.drain(&mut decoder);
    }

    fn drain(&mut self, decoder: &mut ff::decoder::Audio) {
        let mut frame = std::mem::replace(&mut self.frame, ff::frame::Audio::empty());
        while decoder.receive_frame(&mut frame).is_ok() {
            self.push(&frame);
        }
        self.frame = frame;
    }

    /// The waveform, or why there is none (words for a warning).
    pub(crate) fn finish(self) -> std::result::Result<Waveform, String> {
        if let Some(why) = self.failed {
            return Err(why);
        }
        match self.builder {
            Some(b) => b.finish().map_err(|e| e.to_string()),
            None => Err("the track gave no decodable audio".into()),
        }
    }
}

/// What became of an encode's waveform: `None` when none was asked for,
/// else the file written or why there is none (a warning).
pub(crate) type WaveformDone = Option<std::result::Result<WaveformReport, String>>;
