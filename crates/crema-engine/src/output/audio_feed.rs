//! Pushes audio packets through an [`AudioPath`] to its muxers: copied
//! packets are written as they are; transcoded ones are decoded, resampled
//! (rebuilding the graph when the decoded format changes mid-stream),
//! encoded to AAC and written. The HLS rendition of a video package waits
//! for the first picture.

use ff::{Rational, Rescale};
use ffmpeg_next as ff;
use std::path::Path;

use super::audio::{AudioInput, AudioPath, AudioWork, audio_graph};
use super::mux::{Mux, fferr, write_to};
use crate::error::Result;

/// The muxers audio packets go to, and when the video started.
pub(crate) struct AudioFeed<'a> {
    /// The source, for errors.
    pub(crate) input: &'a Path,
    /// Every muxer of the job.
    pub(crate) muxes: &'a mut [Mux],
    /// Time of the first encoded video frame, µs on the source's clock; the
    /// HLS audio rendition starts there (`None`: not yet, or no video).
    pub(crate) video_start_us: Option<i64>,
}

impl AudioFeed<'_> {
    pub(crate) fn push_audio(&mut self, path: &mut AudioPath, packet: &ff::Packet) -> Result<()> {
        if path.hls {
            // The HLS audio rendition starts with the video (broadcast captures
            // often carry audio from well before the first decodable picture,
            // which would make the rendition longer than every video rung).
            // Until the first video frame is known, packets wait here.
            let Some(start) = self.video_start_us else {
                path.pending.push(packet.clone());
                trim_waiting_audio(&mut path.pending, path.source_tb);
                return Ok(());
            };
            let tb = path.source_tb;
            let us = |t: i64| t.rescale(tb, Rational::new(1, 1_000_000));
            for p in std::mem::take(&mut path.pending).iter().chain(std::iter::once(packet)) {
                let ends_before = p.pts().is_some_and(|pts| us(pts + p.duration().max(0)) <= start);
                if !ends_before {
                    self.decode_audio(path, p)?;
                }
            }
            return Ok(());
        }
        self.decode_audio(path, packet)
    }

    fn decode_audio(&mut self, path: &mut AudioPath, packet: &ff::Packet) -> Result<()> {
        match &mut path.work {
            AudioWork::Copy => {
                if let Some(tap) = &mut path.waveform {
                    tap.decode(packet);
                }
                write_to(self.muxes, &path.outputs, packet, path.source_tb, self.input)
            }
            AudioWork::Transcode { decoder, .. } => {
                if decoder.send_packet(packet).is_err() {
                    return Ok(()); // a damaged audio packet is skipped, as ffmpeg does
                }
                self.drain_audio(path)
            }
        }
    }

    fn drain_audio(&mut self, path: &mut AudioPath) -> Result<()> {
        let mut frame = ff::frame::Audio::empty();
        loop {
            let AudioWork::Transcode { decoder, graph_in, .. } = &mut path.work else {
                return Ok(());
            };
            if decoder.receive_frame(&mut frame).is_err() {
                break;
            }
            let ts = frame.timestamp().or(frame.pts());
            frame.set_pts(ts);
            if let Some(tap) = &mut path.waveform {
                tap.push(&frame);
            }
            let now = AudioInput::of_frame(&frame);
            if now != *graph_in {
                self.rebuild_audio_graph(path, now)?;
            }
            let AudioWork::Transcode { graph, .. } = &mut path.work else {
                return Ok(());
            };
            graph.get("in").expect("abuffer").source().add(&frame).map_err(fferr(self.input, "audio filter"))?;
        }
        self.drain_audio_graph(path)
    }

    /// The decoded audio changed format, rate or layout mid-stream (as
    /// ffmpeg does): ends the current graph, sending what it still holds to
    /// the encoder, and continues with a graph for the new input. The
    /// encoder side is unchanged, and the pts stay the source's, so the
    /// output timeline runs on.
    fn rebuild_audio_graph(&mut self, path: &mut AudioPath, now: AudioInput) -> Result<()> {
        if let AudioWork::Transcode { graph, .. } = &mut path.work {
            graph.get("in").expect("abuffer").source().flush().map_err(fferr(self.input, "audio filter flush"))?;
        }
        self.drain_audio_graph(path)?;
        let tb = path.source_tb;
        if let AudioWork::Transcode { graph, graph_in, graph_out, .. } = &mut path.work {
            *graph = audio_graph(self.input, tb, now, *graph_out)?;
            *graph_in = now;
        }
        Ok(())
    }

    fn drain_audio_graph(&mut self, path: &mut AudioPath) -> Result<()> {
        let AudioWork::Transcode { graph, encoder, next_pts, .. } = &mut path.work else {
            return Ok(());
        };
        let mut out = ff::frame::Audio::empty();
        let mut pkt = ff::Packet::empty();
        loop {
            let mut sink = graph.get("out").expect("abuffersink");
            let sink_tb = sink.sink().time_base();
            match sink.sink().frame(&mut out) {
                Ok(()) => {}
                Err(_) => break,
            }
            if let Some(p) = out.pts() {
                // Never backwards: source audio that overlaps itself (a
                // splice, the first frames of a rebuilt graph after the old
                // one's tail) would give the muxers non-increasing DTS.
                let p = p.rescale(sink_tb, encoder.time_base());
                let p = next_pts.map_or(p, |n| p.max(n));
                out.set_pts(Some(p));
                // The encoder's time base is 1/rate: one tick per sample.
                *next_pts = Some(p + out.samples() as i64);
            }
            encoder.send_frame(&out).map_err(fferr(self.input, "audio encode"))?;
            while encoder.receive_packet(&mut pkt).is_ok() {
                write_to(self.muxes, &path.outputs, &pkt, encoder.time_base(), self.input)?;
            }
        }
        Ok(())
    }

    pub(crate) fn flush_audio(&mut self, path: &mut AudioPath) -> Result<()> {
        for p in std::mem::take(&mut path.pending) {
            self.decode_audio(path, &p)?;
        }
        if let AudioWork::Transcode { decoder, .. } = &mut path.work {
            let _ = decoder.send_eof();
        } else {
            if let Some(tap) = &mut path.waveform {
                tap.flush();
            }
            return Ok(());
        }
        self.drain_audio(path)?;
        if let AudioWork::Transcode { graph, .. } = &mut path.work {
            let _ = graph.get("in").expect("abuffer").source().flush();
        }
        self.drain_audio_graph(path)?;
        if let AudioWork::Transcode { encoder, .. } = &mut path.work {
            let _ = encoder.send_eof();
            let mut pkt = ff::Packet::empty();
            let tb = encoder.time_base();
            while encoder.receive_packet(&mut pkt).is_ok() {
                write_to(self.muxes, &path.outputs, &pkt, tb, self.input)?;
            }
        }
        Ok(())
    }
}

/// How much audio waits for the first picture, seconds of source time.
const WAITING_AUDIO_SECONDS: f64 = 10.0;

/// Drops waiting audio packets (time base `tb`) that end more than
/// [`WAITING_AUDIO_SECONDS`] before the newest: demuxers interleave streams
/// within about a second, so no first picture still to come starts that
/// early, and a source whose video never decodes cannot fill memory here.
fn trim_waiting_audio(pending: &mut Vec<ff::Packet>, tb: Rational) {
    let Some(newest) = pending.last().and_then(|p| p.pts()) else { return };
    let keep_from = newest - (WAITING_AUDIO_SECONDS / f64::from(tb)).round() as i64;
    let old = pending.iter().take_while(|p| p.pts().is_some_and(|t| t + p.duration().max(0) < keep_from)).count();
    pending.drain(..old);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audio_waiting_for_the_first_picture_is_bounded_to_ten_seconds() {
        let tb = Rational::new(1, 90_000);
        let mut pending = Vec::new();
        // One hour of 24 ms audio packets and no picture: at most ~10 s wait.
        for i in 0..150_000i64 {
            let mut p = ff::Packet::empty();
            p.set_pts(Some(i * 2160));
            p.set_duration(2160);
            pending.push(p);
            trim_waiting_audio(&mut pending, tb);
        }
        let span = (pending.last().unwrap().pts().unwrap() - pending[0].pts().unwrap()) as f64 / 90_000.0;
        assert!(pending.len() <= 420 && (9.9..=10.1).contains(&span), "{} packets over {span} s", pending.len());
    }
}
