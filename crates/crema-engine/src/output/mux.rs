//! Muxers: one [`Mux`] per output file or HLS media playlist, its header
//! written once every stream is added ([`write_headers`]), and packets
//! written to every (mux, stream) a source or encoder feeds ([`write_to`]).

use ff::{Rational, Rescale};
use ffmpeg_next as ff;
use std::path::{Path, PathBuf};

use crate::error::{EngineError, Result};
use crate::ffutil::{self, Options};

/// What an output is, for finding it again (reports, the kept MP4).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum MuxKind {
    File,
    HlsRung,
    HlsAudio,
    KeepMp4,
}

pub(crate) struct Mux {
    pub(crate) ctx: ff::format::context::Output,
    pub(crate) kind: MuxKind,
    /// Path that errors name (the final output path).
    pub(crate) report_path: PathBuf,
    pub(crate) header: Options,
    pub(crate) stream_tbs: Vec<Rational>,
    /// Origin (first timestamp of the source) per stream in the stream's time base.
    pub(crate) origins: Vec<i64>,
}

/// An FFmpeg error while working on `input`, as an [`EngineError`] naming `what`.
pub(crate) fn fferr<'a>(input: &'a Path, what: &str) -> impl Fn(ff::Error) -> EngineError + 'a {
    let what = what.to_string();
    move |e| EngineError::from_ffmpeg(input, None, &what, e)
}

/// Duration of a written output as libavformat reads it, seconds (0 on failure).
pub(crate) fn measured_duration(path: &Path) -> f64 {
    match ff::format::input(&path) {
        Ok(ctx) if ctx.duration() > 0 => ctx.duration() as f64 / 1e6,
        _ => 0.0,
    }
}

/// Adds an HLS muxer writing `dir/index.m3u8` and fMP4 segments of
/// `segment_seconds` seconds; errors name `report`. Returns its index.
pub(crate) fn push_hls_mux(
    muxes: &mut Vec<Mux>,
    dir: &Path,
    kind: MuxKind,
    segment_seconds: f64,
    report: &Path,
    input: &Path,
) -> Result<usize> {
    let playlist = dir.join("index.m3u8");
    let ctx = ff::format::output_as(&playlist, "hls")
        .map_err(|e| EngineError::from_ffmpeg(input, Some(report), "create HLS output", e))?;
    let header = vec![
        ("hls_time".to_string(), format!("{segment_seconds}")),
        ("hls_playlist_type".into(), "vod".into()),
        ("hls_segment_type".into(), "fmp4".into()),
        ("hls_fmp4_init_filename".into(), "init.mp4".into()),
        ("hls_segment_filename".into(), dir.join("seg_%05d.m4s").to_string_lossy().into_owned()),
        ("hls_flags".into(), "independent_segments".into()),
        // Every track starts at presentation time 0 with no edit list: video
        // with negative composition offsets (trun version 1), so its first
        // frame is shown at its decode time, as CMAF (ISO/IEC 23000-19) lays
        // out fMP4 tracks (what FFmpeg's own `+cmaf` movflag implies).
        // Without it the B-frame delay (80 ms for two B-frames at 25 fps)
        // sits between the fragment's decode time, which players such as
        // hls.js take as the start, and the first picture, while the audio
        // starts at 0: a hole at the start of every package.
        ("hls_segment_options".into(), "movflags=+negative_cts_offsets:use_editlist=0".into()),
    ];
    muxes.push(Mux { ctx, kind, report_path: report.to_path_buf(), header, stream_tbs: vec![], origins: vec![] });
    Ok(muxes.len() - 1)
}

/// Writes every muxer's header and records its streams' time bases and
/// the origin (`origin_us`, µs on the source's clock) in each of them.
///
/// Errors: [`EngineError::Internal`] for an option the muxer does not
/// know; [`EngineError::Encode`] (and the like) when FFmpeg fails.
pub(crate) fn write_headers(muxes: &mut [Mux], input: &Path, origin_us: i64) -> Result<()> {
    for m in muxes {
        let header = m.header.clone();
        ffutil::write_header(&mut m.ctx, &header).map_err(|e| match e {
            ffutil::HeaderError::UnknownOptions(keys) => {
                EngineError::Internal(format!("unknown muxer option(s): {}", keys.join(", ")))
            }
            ffutil::HeaderError::Ffmpeg(e) => EngineError::from_ffmpeg(input, Some(&m.report_path), "write header", e),
        })?;
        m.stream_tbs = m.ctx.streams().map(|s| s.time_base()).collect();
        m.origins = m.stream_tbs.iter().map(|tb| origin_us.rescale(Rational::new(1, 1_000_000), *tb)).collect();
    }
    Ok(())
}

/// Writes one packet (time base `tb`) to every (mux, stream) in `outs`,
/// cloning for all but the last, shifting timestamps to the output origin.
pub(crate) fn write_to(
    muxes: &mut [Mux],
    outs: &[(usize, usize)],
    pkt: &ff::Packet,
    tb: Rational,
    input: &Path,
) -> Result<()> {
    for &(mi, si) in outs {
        let m = &mut muxes[mi];
        let mut p = pkt.clone();
        p.set_stream(si);
        p.set_position(-1);
        p.rescale_ts(tb, m.stream_tbs[si]);
        let o = m.origins[si];
        if let Some(v) = p.pts() {
            p.set_pts(Some(v - o));
        }
        if let Some(v) = p.dts() {
            p.set_dts(Some(v - o));
        }
        p.write_interleaved(&mut m.ctx)
            .map_err(|e| EngineError::from_ffmpeg(input, Some(&m.report_path), "write", e))?;
    }
    Ok(())
}
