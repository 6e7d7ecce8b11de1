//! Verifying a finished encode against its source: a single file decodes
//! completely and lasts as long as the source within one frame; an HLS
//! package passes [`crate::hls::check_package`] and its variants' segments
//! add up to the source's duration. Watch folders run this before they
//! place an output next to the user's files. Blocking (it decodes): call it
//! off the async runtime.

use ffmpeg_next as ff;
use std::path::Path;

/// Why an output does not verify. The messages are for people (they end up
/// in a watch folder's `.error.txt`); they name the file the user gave, no
/// other path.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// The source could not be opened or measured.
    #[error("the source cannot be measured: {0}")]
    Source(String),
    /// The output does not open or does not decode completely.
    #[error("the output does not decode: {0}")]
    Undecodable(String),
    /// The output (or one variant) lasts more than one frame longer or
    /// shorter than the source, in seconds.
    #[error(
        "{what} lasts {got:.3} s but the source lasts {source_seconds:.3} s (more than one frame, {frame_seconds:.3} s, apart)"
    )]
    Duration {
        /// What was measured: "the output" or "variant NAME".
        what: String,
        /// The output's duration, in seconds.
        got: f64,
        /// The source's duration, in seconds.
        source_seconds: f64,
        /// One frame of the source, in seconds.
        frame_seconds: f64,
    },
    /// The HLS package is unreadable or breaks a rule of `crema hls check`.
    #[error("{0}")]
    Package(String),
}

/// A video stream's extent.
#[derive(Clone, Copy, Debug)]
pub struct Span {
    /// From the first packet's presentation time to the end of the last one, in seconds.
    pub seconds: f64,
    /// From the first decoded frame to the end of the last one, in seconds
    /// (`None` without decoding).
    pub decoded_seconds: Option<f64>,
    /// One frame, in seconds (from the stream's average frame rate; 1/25 when unknown).
    pub frame_seconds: f64,
}

/// How [`video_span`] reads a stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Read {
    /// Packets only (cheap: no decoding).
    Packets,
    /// Decode every packet; a decode error, or fewer frames than packets, is an error.
    DecodeStrict,
    /// Decode what decodes (a source may start mid-GOP or carry damaged frames).
    DecodeLenient,
}

/// Measures the best video stream of `path` from its packets' timestamps
/// (packets with negative times, which an edit list discards, do not count)
/// and, when decoding, from the decoded frames' timestamps. A file without
/// video (an audio-only source and its encode; a cover picture is not
/// video) is measured by its best audio stream, from its packets only (one
/// "frame" is then one AAC frame, 1024 samples).
///
/// Errors: a message saying what could not be read (the caller wraps it in
/// a [`VerifyError`]).
pub fn video_span(path: &Path, read: Read) -> Result<Span, String> {
    crate::init().map_err(|e| e.to_string())?;
    let mut input = crate::probe::open_input(path).map_err(|e| e.to_string())?;
    let is_picture =
        |st: &ff::format::stream::Stream| st.disposition().contains(ff::format::stream::Disposition::ATTACHED_PIC);
    let video = input.streams().best(ff::media::Type::Video).filter(|st| !is_picture(st)).map(|st| st.index());
    let audio = input.streams().best(ff::media::Type::Audio).map(|st| st.index());
    if video.is_none()
        && let Some(index) = audio
    {
        return audio_span(&mut input, index);
    }
    let (index, tb, rate, params) = {
        let st = video.and_then(|i| input.stream(i)).ok_or_else(|| "it has no video stream".to_string())?;
        (st.index(), st.time_base(), st.avg_frame_rate(), st.parameters())
    };
    let frame_seconds = if rate.numerator() > 0 && rate.denominator() > 0 {
        f64::from(rate.denominator()) / f64::from(rate.numerator())
    } else {
        1.0 / 25.0
    };
    let tick = f64::from(tb.numerator()) / f64::from(tb.denominator().max(1));
    let mut decoder = if read == Read::Packets {
        None
    } else {
        let ctx = ff::codec::Context::from_parameters(params).map_err(|e| format!("no decoder: {e}"))?;
        Some(ctx.decoder().video().map_err(|e| format!("cannot open the decoder: {e}"))?)
    };
    let strict = read == Read::DecodeStrict;
    let (mut first, mut end) = (i64::MAX, i64::MIN);
    let (mut f_first, mut f_last) = (i64::MAX, i64::MIN);
    let (mut packets, mut frames) = (0u64, 0u64);
    let mut frame = ff::frame::Video::empty();
    let mut take = |frame: &ff::frame::Video, frames: &mut u64| {
        *frames += 1;
        if let Some(t) = frame.timestamp() {
            f_first = f_first.min(t);
            f_last = f_last.max(t);
        }
    };
    loop {
        let mut packet = ff::Packet::empty();
        match packet.read(&mut input) {
            Ok(()) => {}
            Err(ff::Error::Eof) => break,
            Err(e) => return Err(format!("reading packet {packets}: {e}")),
        }
        if packet.stream() != index {
            continue;
        }
        packets += 1;
        if let Some(pts) = packet.pts().filter(|p| *p >= 0) {
            let dur = if packet.duration() > 0 { packet.duration() } else { (frame_seconds / tick).round() as i64 };
            first = first.min(pts);
            end = end.max(pts + dur);
        }
        if let Some(d) = decoder.as_mut() {
            match d.send_packet(&packet) {
                Ok(()) => {}
                Err(e) if strict => return Err(format!("decoding packet {packets}: {e}")),
                Err(_) => {}
            }
            while d.receive_frame(&mut frame).is_ok() {
                take(&frame, &mut frames);
            }
        }
    }
    if let Some(d) = decoder.as_mut() {
        match d.send_eof() {
            Ok(()) => {}
            Err(e) if strict => return Err(format!("decoding the end: {e}")),
            Err(_) => {}
        }
        while d.receive_frame(&mut frame).is_ok() {
            take(&frame, &mut frames);
        }
        if strict && frames < packets {
            return Err(format!("only {frames} of {packets} video packets decoded"));
        }
    }
    if packets == 0 || first == i64::MAX {
        return Err("its video stream has no frames".into());
    }
    let decoded_seconds = (f_first != i64::MAX).then(|| (f_last - f_first) as f64 * tick + frame_seconds);
    if decoder.is_some() && decoded_seconds.is_none() {
        return Err("no frame decodes".into());
    }
    Ok(Span { seconds: (end - first) as f64 * tick, decoded_seconds, frame_seconds })
}

/// The extent of audio stream `index` from its packets (negative times, the
/// encoder delay an edit list discards, do not count); one frame is 1024
/// samples at the stream's rate (an AAC frame).
fn audio_span(input: &mut ff::format::context::Input, index: usize) -> Result<Span, String> {
    let (tb, rate) = {
        let st = input.stream(index).ok_or("no audio stream")?;
        // SAFETY: plain field read on a live stream's codec parameters.
        let rate = unsafe { (*(*st.as_ptr()).codecpar).sample_rate };
        (st.time_base(), rate)
    };
    let tick = f64::from(tb.numerator()) / f64::from(tb.denominator().max(1));
    let frame_seconds = 1024.0 / f64::from(if rate > 0 { rate } else { 48000 });
    let (mut first, mut end, mut packets) = (i64::MAX, i64::MIN, 0u64);
    loop {
        let mut packet = ff::Packet::empty();
        match packet.read(input) {
            Ok(()) => {}
            Err(ff::Error::Eof) => break,
            Err(e) => return Err(format!("reading packet {packets}: {e}")),
        }
        if packet.stream() != index {
            continue;
        }
        packets += 1;
        if let Some(pts) = packet.pts().filter(|p| *p >= 0) {
            first = first.min(pts);
            end = end.max(pts + packet.duration().max(0));
        }
    }
    if packets == 0 || first == i64::MAX {
        return Err("its audio stream has no packets".into());
    }
    Ok(Span { seconds: (end - first) as f64 * tick, decoded_seconds: None, frame_seconds })
}

fn compare(what: &str, got: f64, source: f64, frame_seconds: f64, slack: f64) -> Result<(), VerifyError> {
    if (got - source).abs() > frame_seconds + slack {
        return Err(VerifyError::Duration { what: what.to_string(), got, source_seconds: source, frame_seconds });
    }
    Ok(())
}

/// Verifies a single-file output against the source: it decodes completely
/// and its video lasts as long as the source's within one frame. The
/// source is measured from its packets; when that differs (a broadcast
/// recording that starts mid-GOP, damaged frames the encode could not
/// keep), it is decoded and what decodes is the measure.
///
/// Errors: [`VerifyError`] saying which check failed.
pub fn verify_file(output: &Path, source: &Path) -> Result<(), VerifyError> {
    let src = video_span(source, Read::Packets).map_err(VerifyError::Source)?;
    let out = video_span(output, Read::DecodeStrict).map_err(VerifyError::Undecodable)?;
    let out_decoded = out.decoded_seconds.unwrap_or(out.seconds);
    if compare("the output", out.seconds, src.seconds, src.frame_seconds, 0.001).is_ok() {
        return Ok(());
    }
    let src = video_span(source, Read::DecodeLenient).map_err(VerifyError::Source)?;
    let src_decoded = src.decoded_seconds.unwrap_or(src.seconds);
    compare("the output", out_decoded, src_decoded, src.frame_seconds, 0.001)
}

/// Rules of `check_package` that a correct package may break: a source too
/// small for more than one rung makes a one-variant ladder.
const HLS_RULES_NOT_CHECKED: &[&str] = &["master.variants"];

/// Verifies an HLS package: it passes `crate::hls::check_package`
/// (but for [`HLS_RULES_NOT_CHECKED`]) and every variant playlist's segments
/// add up to the source's duration within one frame (plus the rounding of
/// the `#EXTINF` values).
///
/// Errors: [`VerifyError`] saying which check failed.
pub fn verify_hls(master: &Path, source: &Path) -> Result<(), VerifyError> {
    let src = video_span(source, Read::Packets).map_err(VerifyError::Source)?;
    let dir = master.parent().ok_or_else(|| VerifyError::Package("the package has no folder".into()))?;
    let report =
        crate::hls::check_package(dir).map_err(|e| VerifyError::Package(format!("the package cannot be read: {e}")))?;
    let broken: Vec<String> = report
        .violations
        .iter()
        .filter(|v| !HLS_RULES_NOT_CHECKED.contains(&v.rule))
        .take(3)
        .map(|v| format!("{}: {}", v.rule, v.message))
        .collect();
    if !broken.is_empty() {
        return Err(VerifyError::Package(format!("the package breaks HLS rules: {}", broken.join("; "))));
    }
    let text = std::fs::read(master).map_err(|e| VerifyError::Package(format!("master.m3u8: {e}")))?;
    let Ok(m3u8_rs::Playlist::MasterPlaylist(m)) = m3u8_rs::parse_playlist_res(&text) else {
        return Err(VerifyError::Package("master.m3u8 is not a master playlist".into()));
    };
    if m.variants.is_empty() {
        return Err(VerifyError::Package("master.m3u8 lists no variants".into()));
    }
    for v in &m.variants {
        let path = dir.join(&v.uri);
        let text = std::fs::read(&path).map_err(|e| VerifyError::Package(format!("{}: {e}", v.uri)))?;
        let Ok(m3u8_rs::Playlist::MediaPlaylist(p)) = m3u8_rs::parse_playlist_res(&text) else {
            return Err(VerifyError::Package(format!("{} is not a media playlist", v.uri)));
        };
        let total: f64 = p.segments.iter().map(|s| f64::from(s.duration)).sum();
        let slack = 0.001 * p.segments.len() as f64;
        if compare(&format!("variant {}", v.uri), total, src.seconds, src.frame_seconds, slack).is_err() {
            // As for files: measure what of the source decodes.
            let dec = video_span(source, Read::DecodeLenient).map_err(VerifyError::Source)?;
            let src_decoded = dec.decoded_seconds.unwrap_or(dec.seconds);
            compare(&format!("variant {}", v.uri), total, src_decoded, dec.frame_seconds, slack)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn clip(dir: &Path, name: &str, seconds: &str) -> PathBuf {
        let out = dir.join(name);
        let ok = std::process::Command::new("ffmpeg")
            .args(["-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=160x90:rate=25", "-t", seconds])
            .args(["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"])
            .arg(&out)
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "the ffmpeg CLI is needed for this test");
        out
    }

    #[test]
    fn verification_catches_short_and_undecodable_outputs() {
        let tmp = tempfile::tempdir().unwrap();
        let short = clip(tmp.path(), "short.mp4", "0.4");
        let long = clip(tmp.path(), "long.mp4", "1");
        verify_file(&short, &short).expect("an output the same as its source verifies");
        let e = verify_file(&short, &long).unwrap_err();
        assert!(e.to_string().contains("lasts 0.400 s but the source lasts 1.000 s"), "{e}");
        let text = tmp.path().join("text.mp4");
        std::fs::write(&text, b"not a video").unwrap();
        let e = verify_file(&text, &long).unwrap_err();
        assert!(e.to_string().starts_with("the output does not decode"), "{e}");
        // A cut-off copy (the index points past the end) does not verify either.
        let bytes = std::fs::read(&long).unwrap();
        let cut = tmp.path().join("cut.mp4");
        std::fs::write(&cut, &bytes[..bytes.len() * 2 / 3]).unwrap();
        assert!(verify_file(&cut, &long).is_err());
    }
}
