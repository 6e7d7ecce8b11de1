//! Scoring an encode while it runs: every frame handed to the encoder is
//! kept until the encoder's own output for it has been decoded, then the
//! pair goes to a [`Scorer`]. The reference is exactly the encoder's input
//! (after deinterlacing, rotation, scaling, tone mapping), the distorted
//! frame exactly what a player decodes from the packets written, and both
//! carry the same timestamp, so no decode of the source is repeated and no
//! pairing tolerance is needed.
//!
//! Memory: the frames between the encoder's input and the decoder's output
//! are held, the encoder's delay (lookahead, B-frames, frame threads: about
//! 20–40 frames for x265 `medium`) plus the decoder's reordering, so about
//! 60 MB at 720p 8-bit and 300 MB at 1080p 10-bit.

use ffmpeg_next as ff;
use std::collections::BTreeMap;
use std::time::Instant;

use super::pair::PairingStats;
use super::{QualityOptions, QualityReport, Scorer};
use crate::error::{EngineError, Result};

/// Most frames held for the encoder's output: more than any x265 or x264
/// delay (a lookahead of at most 250 frames, x265's maximum, plus B-frames
/// and frame threads), so only an encoder that stops returning packets
/// reaches it.
const MAX_HELD_FRAMES: usize = 300;

/// The scorer of one encoder's output; see the module docs.
pub(crate) struct InLoop {
    scorer: Scorer,
    decoder: ff::decoder::Video,
    /// The encoder's time base: of the frames it is sent and the packets it returns.
    tb: f64,
    /// Frames sent to the encoder whose decoded output has not come back, by PTS.
    references: BTreeMap<i64, ff::frame::Video>,
    /// PTS of the first frame sent (times are reported from it).
    first_pts: Option<i64>,
    stats: PairingStats,
    /// Wall time spent in this scorer's calls, seconds.
    seconds: f64,
}

impl InLoop {
    /// A scorer with `options` for the packets of `encoder` (open), whose
    /// time base is `tb`.
    ///
    /// Errors: those of [`Scorer::new`]; [`EngineError::Quality`] when no
    /// decoder opens for the encoder's stream.
    pub(crate) fn new(options: &QualityOptions, encoder: &ff::encoder::Video, tb: ff::Rational) -> Result<Self> {
        let scorer = Scorer::new(options)?;
        let params = ff::codec::Parameters::from(encoder);
        let cause = |e: ff::Error| EngineError::Quality(format!("cannot decode the encoder's output: {e}"));
        let mut ctx = ff::codec::context::Context::from_parameters(params).map_err(cause)?;
        // SAFETY: plain field stores before open: one thread (the decode runs
        // on the encode's loop beside the encoder's own threads) and the
        // packets' time base.
        unsafe {
            (*ctx.as_mut_ptr()).thread_count = 1;
            (*ctx.as_mut_ptr()).pkt_timebase = tb.into();
        }
        let decoder = ctx.decoder().video().map_err(cause)?;
        Ok(Self {
            scorer,
            decoder,
            tb: f64::from(tb),
            references: BTreeMap::new(),
            first_pts: None,
            stats: PairingStats::default(),
            seconds: 0.0,
        })
    }

    /// Keeps `frame`, about to be sent to the encoder (a frame without a
    /// PTS is not encoded and is ignored).
    ///
    /// Errors: [`EngineError::Quality`] when [`MAX_HELD_FRAMES`] frames
    /// are waiting for the encoder's output.
    pub(crate) fn reference(&mut self, frame: &ff::frame::Video) -> Result<()> {
        let Some(pts) = frame.pts() else { return Ok(()) };
        if self.references.len() >= MAX_HELD_FRAMES {
            return Err(EngineError::Quality(format!(
                "the encoder returned nothing for {MAX_HELD_FRAMES} frames; they cannot all be held for scoring"
            )));
        }
        let started = Instant::now();
        self.first_pts.get_or_insert(pts);
        self.references.insert(pts, frame.clone());
        self.seconds += started.elapsed().as_secs_f64();
        Ok(())
    }

    /// Decodes `packet`, as the encoder returned it, and scores every frame
    /// it completes.
    ///
    /// Errors: [`EngineError::Quality`] from the decoder or the scorer.
    pub(crate) fn packet(&mut self, packet: &ff::Packet) -> Result<()> {
        let started = Instant::now();
        self.decoder
            .send_packet(packet)
            .map_err(|e| EngineError::Quality(format!("decoding the encoder's output: {e}")))?;
        self.drain()?;
        self.seconds += started.elapsed().as_secs_f64();
        Ok(())
    }

    fn drain(&mut self) -> Result<()> {
        let mut decoded = ff::frame::Video::empty();
        while self.decoder.receive_frame(&mut decoded).is_ok() {
            let Some(pts) = decoded.timestamp().or(decoded.pts()) else {
                self.stats.unmatched_distorted += 1;
                continue;
            };
            // Frames sent before this one whose output never came back (an
            // encoder never drops one; counted, not scored).
            let earlier: Vec<i64> = self.references.range(..pts).map(|(k, _)| *k).collect();
            for k in earlier {
                self.references.remove(&k);
                self.stats.unmatched_reference += 1;
            }
            let Some(reference) = self.references.remove(&pts) else {
                self.stats.unmatched_distorted += 1;
                continue;
            };
            let t = (pts - self.first_pts.unwrap_or(pts)) as f64 * self.tb;
            self.scorer.push(&reference, &decoded, t, t)?;
            self.stats.paired += 1;
        }
        Ok(())
    }

    /// After the encoder's last packet: decodes what the decoder holds and
    /// returns the scores and the wall time spent scoring, seconds.
    ///
    /// Errors: [`EngineError::Quality`] when no frame paired, or from the
    /// decoder or the scorer.
    pub(crate) fn finish(mut self) -> Result<(QualityReport, f64)> {
        let started = Instant::now();
        let _ = self.decoder.send_eof();
        self.drain()?;
        self.stats.unmatched_reference += self.references.len() as u64;
        if self.stats.paired == 0 {
            return Err(EngineError::Quality("no encoded frame came back from the encoder to score".into()));
        }
        let mut report = self.scorer.finish()?;
        report.pairing = Some(self.stats);
        Ok((report, self.seconds + started.elapsed().as_secs_f64()))
    }
}
