//! Audio paths: one source audio stream copied or transcoded to AAC
//! ([`AudioPath`], [`AudioWork`]) for the (mux, stream) pairs it feeds, the
//! `abuffer` → `aresample` → `abuffersink` graph of a transcode, and adding
//! the path's stream to a muxer ([`add_audio_stream`]). Feeding packets
//! through a path is [`super::AudioFeed`].

use ff::Rational;
use ffmpeg_next as ff;
use std::path::Path;

use super::mux::{Mux, fferr};
use crate::error::{EngineError, Result};
use crate::ffutil;
use crate::waveform::WaveformTap;

/// What a path does with its source stream's packets.
pub(crate) enum AudioWork {
    Copy,
    Transcode {
        decoder: ff::codec::decoder::Audio,
        graph: ff::filter::Graph,
        encoder: ff::codec::encoder::audio::Encoder,
        /// What the graph's `abuffer` was configured with.
        graph_in: AudioInput,
        /// The encoder's side of the graph (the same for every rebuild).
        graph_out: AudioOutput,
        /// End of the last frame sent to the encoder, in its time base (1/rate).
        next_pts: Option<i64>,
    },
}

/// Decoded audio as an `abuffer` sees it. Broadcast sources change it
/// mid-stream (AC-3 switching between 2.0 and 5.1, a new sample rate).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct AudioInput {
    format: ff::format::Sample,
    rate: u32,
    /// Never empty: an unspecified layout becomes the default for the channel count.
    layout: ff::ChannelLayout,
}

impl AudioInput {
    pub(super) fn of_frame(frame: &ff::frame::Audio) -> Self {
        AudioInput {
            format: frame.format(),
            rate: frame.rate(),
            layout: known_layout(frame.channel_layout(), frame.channels()),
        }
    }
}

fn known_layout(layout: ff::ChannelLayout, channels: u16) -> ff::ChannelLayout {
    if layout.bits() == 0 { ff::ChannelLayout::default(i32::from(channels)) } else { layout }
}

/// The encoder's side of an audio graph: fltp at the encoder's rate and layout, in frames of its size.
#[derive(Clone, Copy, Debug)]
pub(crate) struct AudioOutput {
    rate: u32,
    layout: ff::ChannelLayout,
    frame_size: u32,
}

/// `abuffer` (decoded audio, timestamps in `in_tb`) → resample, convert and
/// cut into encoder frames → `abuffersink`. Used at open and whenever the
/// decoded format changes.
pub(super) fn audio_graph(
    input: &Path,
    in_tb: Rational,
    src: AudioInput,
    out: AudioOutput,
) -> Result<ff::filter::Graph> {
    let mut graph = ff::filter::Graph::new();
    let args = format!(
        "time_base={}/{}:sample_rate={}:sample_fmt={}:channel_layout=0x{:x}",
        in_tb.numerator(),
        in_tb.denominator(),
        src.rate,
        src.format.name(),
        src.layout.bits()
    );
    graph
        .add(&ff::filter::find("abuffer").expect("abuffer"), "in", &args)
        .map_err(fferr(input, "audio filter source"))?;
    graph
        .add(&ff::filter::find("abuffersink").expect("abuffersink"), "out", "")
        .map_err(fferr(input, "audio filter sink"))?;
    let spec = format!(
        "aresample={},aformat=sample_fmts=fltp:channel_layouts=0x{:x},asetnsamples=n={}:p=0",
        out.rate,
        out.layout.bits(),
        out.frame_size
    );
    graph
        .output("in", 0)
        .and_then(|p| p.input("out", 0))
        .and_then(|p| p.parse(&spec))
        .map_err(|e| EngineError::Internal(format!("audio filter `{spec}`: {e}")))?;
    graph.validate().map_err(|e| EngineError::Internal(format!("audio filter `{spec}`: {e}")))?;
    Ok(graph)
}

/// One source audio stream on its way to the outputs it feeds.
pub(crate) struct AudioPath {
    /// True for the HLS audio rendition of a video package (it waits for the first picture).
    pub(crate) hls: bool,
    /// HLS only: packets read before the first video frame, waiting for it.
    pub(crate) pending: Vec<ff::Packet>,
    pub(crate) source_index: usize,
    pub(crate) source_tb: Rational,
    pub(crate) work: AudioWork,
    pub(crate) outputs: Vec<(usize, usize)>,
    /// The job's waveform, fed this path's decoded frames (or packets, for a copy).
    pub(crate) waveform: Option<WaveformTap>,
}

/// AAC sampling frequencies (ISO/IEC 14496-3 §1.6.3.4, Table 1.18).
const AAC_RATES: &[u32] = &[96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000];

/// Audio codecs an MP4 keeps as they are (ISO/IEC 14496-14 and the
/// registered MP4 sample entries: `mp4a`, `alac`, `ac-3`, `ec-3`, `Opus`).
pub(crate) const MP4_AUDIO_COPY: &[&str] = &["aac", "alac", "ac3", "eac3", "opus"];

/// Adds `path`'s stream to muxer `mi` (a copy keeps the source's
/// parameters, a transcode the encoder's), with its language and
/// disposition, and records the (mux, stream) pair on the path.
pub(crate) fn add_audio_stream(
    muxes: &mut [Mux],
    mi: usize,
    path: &mut AudioPath,
    ictx: &ff::format::context::Input,
    language: Option<&str>,
    disposition: i32,
) -> Result<()> {
    let mux = &mut muxes[mi];
    let mut st = match &path.work {
        AudioWork::Copy => {
            let src = ictx.stream(path.source_index).expect("audio stream");
            let mut st = mux
                .ctx
                .add_stream(ff::encoder::find(ff::codec::Id::None))
                .map_err(|e| EngineError::Internal(format!("add audio stream: {e}")))?;
            st.set_parameters(src.parameters());
            // SAFETY: clear the source's codec tag so the muxer picks its own.
            unsafe { (*(*st.as_mut_ptr()).codecpar).codec_tag = 0 };
            st.set_time_base(path.source_tb);
            st
        }
        AudioWork::Transcode { encoder, .. } => {
            let mut st = mux
                .ctx
                .add_stream_with(encoder)
                .map_err(|e| EngineError::Internal(format!("add audio stream: {e}")))?;
            st.set_time_base(encoder.time_base());
            st
        }
    };
    if let Some(l) = language {
        let mut md = ff::Dictionary::new();
        md.set("language", l);
        st.set_metadata(md);
    }
    // SAFETY: plain field store on a valid stream.
    unsafe { (*st.as_mut_ptr()).disposition = disposition };
    let idx = st.index();
    path.outputs.push((mi, idx));
    Ok(())
}

/// A decode → resample → AAC path for `stream`: `channels` (the HLS
/// rendition: stereo at 44.1 or 48 kHz) or the source's layout (up to 8
/// channels) at its rate when AAC has it; `kbps` or Crema's default rate
/// (160 kbit/s stereo, 64 kbit/s per channel above, at most 512).
pub(crate) fn open_audio_transcode(
    input: &Path,
    stream: &ff::format::stream::Stream,
    channels: Option<u16>,
    kbps: Option<u32>,
) -> Result<AudioPath> {
    let in_tb = stream.time_base();
    let mut ctx =
        ff::codec::context::Context::from_parameters(stream.parameters()).map_err(fferr(input, "audio decoder"))?;
    // SAFETY: set before open.
    unsafe { (*ctx.as_mut_ptr()).pkt_timebase = in_tb.into() };
    let decoder = ctx.decoder().audio().map_err(|e| EngineError::InputUnsupported {
        path: input.into(),
        cause: format!("cannot decode audio: {e}"),
    })?;
    let in_layout = known_layout(decoder.channel_layout(), decoder.channels());
    let out_channels = channels.unwrap_or_else(|| decoder.channels().min(8));
    let out_layout = if channels.is_none() && out_channels == decoder.channels() {
        in_layout
    } else {
        ff::ChannelLayout::default(i32::from(out_channels))
    };
    let rate = if AAC_RATES.contains(&decoder.rate()) && channels.is_none() {
        decoder.rate()
    } else if decoder.rate() == 44100 {
        44100
    } else {
        48000
    };
    let aac =
        ff::encoder::find_by_name("aac").ok_or_else(|| EngineError::Internal("FFmpeg has no aac encoder".into()))?;
    let mut enc =
        ff::codec::context::Context::new_with_codec(aac).encoder().audio().map_err(fferr(input, "aac encoder"))?;
    enc.set_rate(rate as i32);
    enc.set_channel_layout(out_layout);
    enc.set_channels(i32::from(out_channels));
    enc.set_format(ff::format::Sample::F32(ff::format::sample::Type::Planar));
    enc.set_time_base(Rational::new(1, rate as i32));
    let kbps = kbps.unwrap_or(if out_channels <= 2 {
        128 * u32::from(out_channels.max(1)) / 2 + 32
    } else {
        (64 * u32::from(out_channels)).min(512)
    });
    enc.set_bit_rate(kbps as usize * 1000);
    ffutil::add_global_header(&mut enc);
    let encoder =
        ffutil::open_audio_encoder(enc, aac, &[]).map_err(|e| EngineError::Internal(format!("aac encoder: {e}")))?;
    let graph_in = AudioInput { format: decoder.format(), rate: decoder.rate(), layout: in_layout };
    let graph_out = AudioOutput { rate, layout: out_layout, frame_size: encoder.frame_size().max(1024) };
    let graph = audio_graph(input, in_tb, graph_in, graph_out)?;
    Ok(AudioPath {
        hls: channels.is_some(),
        pending: vec![],
        source_index: stream.index(),
        source_tb: in_tb,
        work: AudioWork::Transcode { decoder, graph, encoder, graph_in, graph_out, next_pts: None },
        outputs: vec![],
        waveform: None,
    })
}
