//! The decode loop of a transcode: read every packet once, decode the
//! video and push its frames through the filter graph to every encoder,
//! route audio packets to their paths, then flush decoders, filters and
//! encoders. A video that ends well before it should is refused as
//! truncated.

use ffmpeg_next as ff;

use super::clock::{Admit, FrameClock};
use super::frames::LoopCtx;
use super::job::Job;
use super::outputs::Outputs;
use super::progress::Progress;
use super::source::Source;
use crate::error::{EngineError, Result};
use crate::output::{canceled, fferr};
use crate::progress::{CancelFlag, Event, Stage};
use ff::{Rational, Rescale};

/// Decodes the whole source (or the job's sample range) into `out`'s
/// encoders and muxers through `graph`, then flushes everything; the
/// muxers' trailers are still to be written.
///
/// Errors: [`EngineError::Canceled`] (partial outputs removed first);
/// [`EngineError::InputUnsupported`] for unreadable data, no decodable
/// video frame, or video that ends too early; encode and mux errors.
pub(super) fn decode_all(
    job: &Job,
    source: &mut Source,
    out: &mut Outputs,
    graph: &mut ff::filter::Graph,
    cancel: &CancelFlag,
    on_event: &mut dyn FnMut(Event),
    notices: &mut Vec<String>,
) -> Result<()> {
    let (info, range, vindex) = (job.info, job.range, job.video.index);
    let input = job.req.input.as_path();
    let (in_tb, origin_us, average_fps, expected_video_end) =
        (source.in_tb, source.origin_us, source.average_fps, source.expected_video_end);
    let (ictx, decoder, download) = (&mut source.ictx, &mut source.decoder, &mut source.download);
    let Outputs { staging, muxes, sinks, audio_paths, .. } = out;
    on_event(Event::Stage { stage: Stage::Encoding });
    let total_seconds = match range {
        Some((s, e)) => e - s,
        None => info.duration_seconds,
    };
    let frames_total = (total_seconds > 0.0).then(|| (total_seconds * average_fps).round() as u64);
    let mut progress = Progress::new(total_seconds, frames_total);
    let mut clock = FrameClock::new(origin_us, range, in_tb, f64::from(source.frame_rate));
    let mut decoded = ff::frame::Video::empty();
    let mut filtered = ff::frame::Video::empty();
    let mut decode_errors = 0u32;
    let mut read_errors = 0u32;
    let mut video_done = false;
    let mut ctx = LoopCtx { input, in_tb, muxes, sinks, graph, video_start_us: None, video_in: None };

    loop {
        if cancel.is_canceled() {
            return Err(canceled(staging, on_event));
        }
        let Some(packet) = crate::ffutil::read_packet(ictx, input, &mut read_errors)? else { break };
        let si = packet.stream();
        if si == vindex {
            if video_done {
                continue;
            }
            if decoder.send_packet(&packet).is_err() {
                decode_errors += 1;
                continue;
            }
            while decoder.receive_frame(&mut decoded).is_ok() {
                match clock.admit(decoded.timestamp().or(decoded.pts())) {
                    Admit::End => {
                        video_done = true;
                        break;
                    }
                    Admit::Skip => {}
                    Admit::Use(ts, t) => {
                        ctx.video_start_us.get_or_insert(ts.rescale(in_tb, Rational::new(1, 1_000_000)));
                        decoded.set_pts(Some(ts));
                        ctx.push_video(download.in_memory(&decoded)?, &mut filtered)?;
                        progress.frame(t, on_event);
                    }
                }
            }
        } else {
            // The same source stream may feed several paths (file track and HLS rendition).
            for p in audio_paths.iter_mut().filter(|p| p.source_index == si) {
                ctx.audio().push_audio(p, &packet)?;
            }
        }
    }

    // ---- Flush ---------------------------------------------------------------------------
    let _ = decoder.send_eof();
    while !video_done && decoder.receive_frame(&mut decoded).is_ok() {
        match clock.admit(decoded.timestamp().or(decoded.pts())) {
            Admit::End => break,
            Admit::Skip => {}
            Admit::Use(ts, t) => {
                decoded.set_pts(Some(ts));
                ctx.push_video(download.in_memory(&decoded)?, &mut filtered)?;
                progress.frame(t, on_event);
            }
        }
    }
    let last_video_seconds = clock.last_seconds;
    if clock.dropped > 0 {
        let n = format!("{} video frame(s) with repeated or backward timestamps were dropped", clock.dropped);
        notices.push(n.clone());
        on_event(Event::Notice { message: n });
    }
    if progress.frames == 0 {
        return Err(EngineError::InputUnsupported {
            path: input.into(),
            cause: format!("no decodable video frames ({decode_errors} packets failed to decode)"),
        });
    }
    if let (None, Some(expected)) = (range, expected_video_end) {
        let missing = expected - last_video_seconds;
        if missing > (expected * 0.05).max(1.0) {
            return Err(EngineError::InputUnsupported {
                path: input.into(),
                cause: format!("truncated or corrupt: video data ends at {last_video_seconds:.1} s of {expected:.1} s"),
            });
        }
    }
    ctx.graph.get("in").expect("source").source().flush().map_err(fferr(input, "filter flush"))?;
    ctx.drain_filters(&mut filtered)?;
    for i in 0..ctx.sinks.len() {
        ctx.sinks[i].encoder.send_eof().map_err(fferr(input, "encoder flush"))?;
        ctx.drain_encoder(i)?;
    }
    for p in audio_paths.iter_mut() {
        ctx.audio().flush_audio(p)?;
    }
    if cancel.is_canceled() {
        return Err(canceled(staging, on_event));
    }
    Ok(())
}
