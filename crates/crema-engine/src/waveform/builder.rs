//! [`WaveformBuilder`]: min/max per pixel from decoded audio, fed frame by
//! frame, the way audiowaveform's `WaveformGenerator::process` computes it.

use super::format::{MAX_CHANNELS, MAX_POINTS, Waveform};
use super::options::WaveformOptions;
use crate::{EngineError, Result};
use ff::format::Sample;
use ffmpeg_next as ff;

/// Accumulates waveform data from decoded audio.
///
/// Feed it every decoded frame of one audio track in order
/// ([`push_frame`](Self::push_frame), any FFmpeg sample format, packed or
/// planar) or interleaved 16-bit samples ([`push_interleaved`](Self::push_interleaved)),
/// then call [`finish`](Self::finish). It keeps only the finished pixels
/// (4 bytes per pixel per output channel) and one pixel in progress, so it
/// can run beside an encode on the frames the encode already decodes.
///
/// What it matches in bbc/audiowaveform (`src/WaveformGenerator.cpp`,
/// `src/SndFileAudioFileReader.cpp`, commit 9edb233):
///
/// - **Mono mix** (the default): per sample frame, the sum of the channels'
///   values divided by the channel count with integer division (truncation
///   toward zero), then clamped to -32768..=32767, as
///   `WaveformGenerator::process` does.
/// - **Split channels**: each channel's own min/max, clamped the same way;
///   one input channel gives one output channel either way (a `.dat` version 1).
/// - **Pixels**: a pixel is emitted every `samples_per_pixel` sample frames;
///   a last, shorter run is emitted as a pixel of its own
///   (`WaveformGenerator::done`, `count_ > 0`), so `length` is
///   `ceil(samples / samples_per_pixel)`.
/// - **Sample conversion to the 16-bit scale**: float and double samples
///   become `x * 32767` in single precision, truncated toward zero
///   (`SndFileAudioFileReader::run`'s floating-point path). Decoders of lossy
///   codecs (Vorbis, AAC, AC-3) give samples beyond ±1.0 on loud masters;
///   audiowaveform's `(short)` cast is undefined behaviour there, so Crema
///   keeps them unclamped until after the mono mix and clamps the result
///   (the clamp `process` applies to its mixed `int`), which is also what
///   `waveform-data`'s `createFromAudio` does (it mixes floats, then clamps).
///   Integer samples are converted as libsndfile's `sf_readf_short` does:
///   32-bit (which FFmpeg uses for 24-bit audio) `>> 16`, 64-bit `>> 48`,
///   unsigned 8-bit `(x - 128) << 8`.
///
/// If the decoded channel count changes mid-stream (a broadcast AC-3 track
/// switching between 2.0 and 5.1), the mono mix averages whatever channels
/// each frame has; split output keeps the first frame's channel count,
/// drops extra channels and counts missing ones as silence. The sample rate
/// in the header is the one given to [`new`](Self::new).
#[derive(Debug)]
pub struct WaveformBuilder {
    sample_rate: u32,
    channels: u16,
    output_channels: u16,
    options: WaveformOptions,
    samples_per_pixel: u32,
    /// Sample frames in the pixel in progress.
    count: u32,
    min: Vec<i32>,
    max: Vec<i32>,
    data: Vec<i16>,
    /// Interleaved samples of the frame being pushed, on the 16-bit scale
    /// but not clamped to it.
    scratch: Vec<i32>,
    /// The same, remapped to the output channel count (split output only).
    remap: Vec<i32>,
    samples: u64,
    /// [`MAX_POINTS`]; lowered by tests.
    max_points: usize,
}

impl WaveformBuilder {
    /// A builder for audio of `sample_rate` Hz with `channels` channels.
    ///
    /// Errors: [`EngineError::Usage`] when the resolution gives fewer than 2
    /// samples per pixel (audiowaveform: "Invalid zoom: minimum 2"),
    /// pixels-per-second is 0, or split output would have more than
    /// [`MAX_CHANNELS`] channels (audiowaveform reads no more);
    /// [`EngineError::Usage`] too when `sample_rate` or `channels` is 0.
    pub fn new(options: &WaveformOptions, sample_rate: u32, channels: u16) -> Result<Self> {
        if sample_rate == 0 || sample_rate > i32::MAX as u32 {
            return Err(EngineError::Usage(format!("invalid sample rate {sample_rate} Hz")));
        }
        if channels == 0 {
            return Err(EngineError::Usage("audio without channels".into()));
        }
        let samples_per_pixel = options.resolution.samples_per_pixel(sample_rate)?;
        let output_channels = if options.split_channels { channels } else { 1 };
        if usize::from(output_channels) > MAX_CHANNELS {
            return Err(EngineError::Usage(format!(
                "{channels} channels cannot be split: waveform data holds at most {MAX_CHANNELS} (use the mono mix)"
            )));
        }
        let n = usize::from(output_channels);
        Ok(WaveformBuilder {
            sample_rate,
            channels,
            output_channels,
            options: *options,
            samples_per_pixel,
            count: 0,
            min: vec![i32::from(i16::MAX); n],
            max: vec![i32::from(i16::MIN); n],
            data: Vec::new(),
            scratch: Vec::new(),
            remap: Vec::new(),
            samples: 0,
            max_points: MAX_POINTS,
        })
    }

    /// Audio samples (per channel) per pixel.
    pub fn samples_per_pixel(&self) -> u32 {
        self.samples_per_pixel
    }
    /// Channels of the waveform (1 for the mono mix).
    pub fn output_channels(&self) -> u16 {
        self.output_channels
    }
    /// Channels of the audio, as given to [`new`](Self::new).
    pub fn channels(&self) -> u16 {
        self.channels
    }
    /// Sample rate of the audio, Hz.
    pub fn sample_rate(&self) -> u32 {
        self.sample_rate
    }
    /// Sample frames (samples per channel) consumed so far.
    pub fn samples(&self) -> u64 {
        self.samples
    }

    /// Adds one decoded frame (any sample format, packed or planar, any channel count).
    ///
    /// Errors: [`EngineError::Internal`] for a frame without a sample format;
    /// [`EngineError::Usage`] once the waveform would exceed [`MAX_POINTS`].
    pub fn push_frame(&mut self, frame: &ff::frame::Audio) -> Result<()> {
        let channels = usize::from(frame.channels());
        let n = frame.samples();
        if channels == 0 || n == 0 {
            return Ok(());
        }
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        let ok = to_scale16(frame, channels, n, &mut scratch);
        let res = ok.and_then(|()| self.push_any(&scratch, channels));
        self.scratch = scratch;
        res
    }

    /// Adds interleaved 16-bit samples: `samples.len()` must be a multiple
    /// of the channel count given to [`new`](Self::new).
    ///
    /// Errors: [`EngineError::Usage`] for a partial sample frame, or once
    /// the waveform would exceed [`MAX_POINTS`].
    pub fn push_interleaved(&mut self, samples: &[i16]) -> Result<()> {
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        scratch.extend(samples.iter().map(|&v| i32::from(v)));
        let res = self.push_any(&scratch, usize::from(self.channels));
        self.scratch = scratch;
        res
    }

    fn push_any(&mut self, samples: &[i32], channels: usize) -> Result<()> {
        if !samples.len().is_multiple_of(channels) {
            return Err(EngineError::Usage(format!(
                "{} samples are not whole frames of {channels} channels",
                samples.len()
            )));
        }
        let out = usize::from(self.output_channels);
        if out > 1 && channels != out {
            let mut remap = std::mem::take(&mut self.remap);
            remap.clear();
            for f in samples.chunks_exact(channels) {
                remap.extend((0..out).map(|c| f.get(c).copied().unwrap_or(0)));
            }
            let res = self.accumulate(&remap, out);
            self.remap = remap;
            return res;
        }
        self.accumulate(samples, channels)
    }

    /// `WaveformGenerator::process`, one pixel's run of sample frames at a time.
    fn accumulate(&mut self, samples: &[i32], channels: usize) -> Result<()> {
        let mut rest = samples;
        while !rest.is_empty() {
            let room = (self.samples_per_pixel - self.count) as usize;
            let frames = room.min(rest.len() / channels);
            let (run, tail) = rest.split_at(frames * channels);
            if self.output_channels == 1 {
                let (mut lo, mut hi) = (self.min[0], self.max[0]);
                let div = channels as i64;
                for f in run.chunks_exact(channels) {
                    // sum / channels with C++ truncation, then the clamp, as audiowaveform.
                    let s = (f.iter().map(|&v| i64::from(v)).sum::<i64>() / div).clamp(LO, HI) as i32;
                    lo = lo.min(s);
                    hi = hi.max(s);
                }
                (self.min[0], self.max[0]) = (lo, hi);
            } else {
                for f in run.chunks_exact(channels) {
                    for (c, &v) in f.iter().enumerate() {
                        let v = v.clamp(LO as i32, HI as i32);
                        self.min[c] = self.min[c].min(v);
                        self.max[c] = self.max[c].max(v);
                    }
                }
            }
            self.count += frames as u32;
            self.samples += frames as u64;
            if self.count == self.samples_per_pixel {
                self.emit()?;
            }
            rest = tail;
        }
        Ok(())
    }

    fn emit(&mut self) -> Result<()> {
        let points = (self.data.len() / 2) + usize::from(self.output_channels);
        if points > self.max_points {
            return Err(EngineError::Usage(format!(
                "the waveform would exceed {MAX_POINTS} points: ask for more samples per pixel \
                 (or fewer pixels per second)"
            )));
        }
        for c in 0..usize::from(self.output_channels) {
            // Within i16: every value was clamped.
            self.data.push(self.min[c] as i16);
            self.data.push(self.max[c] as i16);
            self.min[c] = i32::from(i16::MAX);
            self.max[c] = i32::from(i16::MIN);
        }
        self.count = 0;
        Ok(())
    }

    /// The waveform: every full pixel, plus the last partial one if any
    /// (`WaveformGenerator::done`).
    ///
    /// Errors: [`EngineError::Usage`] when the last pixel would exceed [`MAX_POINTS`].
    pub fn finish(mut self) -> Result<Waveform> {
        if self.count > 0 {
            self.emit()?;
        }
        Waveform::from_parts(
            self.sample_rate,
            self.samples_per_pixel,
            self.output_channels,
            self.options.bits,
            std::mem::take(&mut self.data),
        )
    }
}

const LO: i64 = i16::MIN as i64;
const HI: i64 = i16::MAX as i64;

/// Appends the frame's samples to `out`, interleaved, on the 16-bit scale
/// (unclamped for float input).
fn to_scale16(frame: &ff::frame::Audio, channels: usize, n: usize, out: &mut Vec<i32>) -> Result<()> {
    out.reserve(n * channels);
    match frame.format() {
        Sample::I16(_) => gather::<i16>(frame, channels, n, out, i32::from),
        Sample::U8(_) => gather::<u8>(frame, channels, n, out, |v| (i32::from(v) - 128) << 8),
        Sample::I32(_) => gather::<i32>(frame, channels, n, out, |v| v >> 16),
        // float * SHRT_MAX in single precision, truncated toward zero
        // (Rust's `as` also saturates at the i32 range and maps NaN to 0).
        Sample::F32(_) => gather::<f32>(frame, channels, n, out, |v| (v * 32767.0) as i32),
        Sample::F64(_) => gather::<f64>(frame, channels, n, out, |v| (v as f32 * 32767.0) as i32),
        Sample::I64(_) => {
            // ffmpeg-next has no slice view for 64-bit samples: read the bytes.
            let planar = frame.is_planar();
            let per_plane = if planar { n } else { n * channels };
            let planes: Vec<Vec<i32>> = (0..if planar { channels } else { 1 })
                .map(|p| {
                    frame.data(p)[..per_plane * 8]
                        .chunks_exact(8)
                        .map(|b| (i64::from_ne_bytes(b.try_into().expect("8 bytes")) >> 48) as i32)
                        .collect()
                })
                .collect();
            if planar {
                for i in 0..n {
                    out.extend(planes.iter().map(|p| p[i]));
                }
            } else {
                out.extend_from_slice(&planes[0]);
            }
        }
        Sample::None => return Err(EngineError::Internal("decoded audio frame without a sample format".into())),
    }
    Ok(())
}

fn gather<T: ff::frame::audio::Sample + Copy>(
    frame: &ff::frame::Audio,
    channels: usize,
    n: usize,
    out: &mut Vec<i32>,
    conv: impl Fn(T) -> i32,
) {
    if frame.is_planar() {
        if channels == 1 {
            out.extend(frame.plane::<T>(0)[..n].iter().map(|&v| conv(v)));
            return;
        }
        let planes: Vec<&[T]> = (0..channels).map(|c| &frame.plane::<T>(c)[..n]).collect();
        for i in 0..n {
            out.extend(planes.iter().map(|p| conv(p[i])));
        }
    } else {
        out.extend(frame.plane::<T>(0)[..n * channels].iter().map(|&v| conv(v)));
    }
}

#[cfg(test)]
#[path = "builder_tests.rs"]
mod tests;
