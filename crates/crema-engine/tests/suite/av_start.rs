//! Video and audio start together: in H.264 and HEVC HLS packages and in
//! the single-file MP4, the first picture and the first audio sample are
//! presented at the same time (within one AAC frame, 1024 samples).
//!
//! For fMP4 segments the start is read from the boxes themselves, as
//! hls.js and Media Source Extensions take it: the fragment's
//! `baseMediaDecodeTime` (`tfdt`) plus the first sample's composition offset
//! (`trun`), in the track's `mdhd` timescale; and the package must carry no
//! edit list, so players that apply edit lists and players that ignore them
//! see the same start. (FFmpeg 5.1's mov demuxer is no judge here: for
//! fragments with negative composition offsets it delays every PTS by the
//! largest negative offset, so `ffprobe` shows 80 ms where the file says 0.)
//! The single-file MP4 is read with `ffprobe`, whose edit-list handling
//! for unfragmented files is what players do.

use std::path::{Path, PathBuf};
use std::process::Command;

use crema_engine::CancelFlag;
use crema_engine::encode;
use crema_engine::hls::check_package;
use crema_engine::profile::{ProfileSet, VideoCodec};
use crema_engine::request::{Container, EncodeRequest, FileRequest, HlsRequest};

/// One AAC frame at 48 kHz, seconds.
const AAC_FRAME: f64 = 1024.0 / 48_000.0;

use crema_testkit::fixture;

/// The boxes directly inside `data` as (type, body).
fn boxes(data: &[u8]) -> Vec<([u8; 4], &[u8])> {
    let mut out = Vec::new();
    let mut at = 0usize;
    while at + 8 <= data.len() {
        let size32 = u32::from_be_bytes(data[at..at + 4].try_into().unwrap()) as usize;
        let kind: [u8; 4] = data[at + 4..at + 8].try_into().unwrap();
        let (header, size) = match size32 {
            1 => (16, u64::from_be_bytes(data[at + 8..at + 16].try_into().unwrap()) as usize),
            0 => (8, data.len() - at),
            n => (8, n),
        };
        if size < header || at + size > data.len() {
            break;
        }
        out.push((kind, &data[at + header..at + size]));
        at += size;
    }
    out
}

/// The body of the first box at `path` (e.g. `["moov", "trak", "mdia", "mdhd"]`).
fn find<'a>(data: &'a [u8], path: &[&str]) -> Option<&'a [u8]> {
    let (first, rest) = path.split_first()?;
    let body = boxes(data).into_iter().find(|(k, _)| k == first.as_bytes())?.1;
    if rest.is_empty() { Some(body) } else { find(body, rest) }
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(b[at..at + 4].try_into().unwrap())
}

/// Presentation time (seconds) of the first sample of the first fragment of
/// a rendition (`init.mp4` + its first segment): tfdt + first composition
/// offset, over the mdhd timescale (ISO/IEC 14496-12 §8.8.8, §8.8.12);
/// and whether the init section has an edit list (`elst`).
fn fmp4_start(rendition: &Path) -> (f64, bool) {
    let init = std::fs::read(rendition.join("init.mp4")).expect("init.mp4");
    let mdhd = find(&init, &["moov", "trak", "mdia", "mdhd"]).expect("mdhd");
    let timescale = if mdhd[0] == 1 { be32(mdhd, 20) } else { be32(mdhd, 12) };
    let has_elst = find(&init, &["moov", "trak", "edts", "elst"]).is_some();
    let playlist = std::fs::read_to_string(rendition.join("index.m3u8")).unwrap();
    let first = playlist.lines().find(|l| !l.starts_with('#') && !l.trim().is_empty()).expect("a segment");
    let seg = std::fs::read(rendition.join(first.trim())).expect("segment");
    let tfdt = find(&seg, &["moof", "traf", "tfdt"]).expect("tfdt");
    let base =
        if tfdt[0] == 1 { u64::from_be_bytes(tfdt[4..12].try_into().unwrap()) } else { u64::from(be32(tfdt, 4)) };
    let trun = find(&seg, &["moof", "traf", "trun"]).expect("trun");
    let (version, flags) = (trun[0], be32(trun, 0) & 0x00ff_ffff);
    let mut at = 8 + if flags & 0x1 != 0 { 4 } else { 0 } + if flags & 0x4 != 0 { 4 } else { 0 };
    for bit in [0x100, 0x200, 0x400] {
        if flags & bit != 0 {
            at += 4;
        }
    }
    let cts = if flags & 0x800 == 0 {
        0
    } else if version == 1 {
        i64::from(be32(trun, at) as i32)
    } else {
        i64::from(be32(trun, at))
    };
    ((base as i64 + cts) as f64 / f64::from(timescale), has_elst)
}

fn ladder(codec: VideoCodec, dir: &Path) -> PathBuf {
    let hls = dir.join("out.hls");
    let req = EncodeRequest {
        input: fixture("h264_720p_2s.mp4"),
        profile: "sophon-espresso".into(),
        file: None,
        hls: Some(HlsRequest {
            dir: hls.clone(),
            renditions: vec![720, 360],
            codec,
            segment_seconds: 1.0,
            keep_mp4: None,
        }),
        audio: true,
        target_height: None,
        encoder: crema_engine::encoder::Preference::Only(crema_engine::encoder::Backend::Software),
        decoder: Default::default(),
        overwrite: false,
        waveform: None,
        measure: false,
        target_vmaf: None,
        chunk_workers: None,
    };
    encode::run(&req, &ProfileSet::builtin().unwrap(), &CancelFlag::new(), &mut |_| {}).expect("encode");
    hls
}

/// Every rung and the audio rendition start at the same presentation time,
/// with no edit list anywhere, and the package passes the checker.
fn assert_starts_together(hls: &Path) {
    let (audio, audio_elst) = fmp4_start(&hls.join("audio"));
    for rung in ["720p", "360p"] {
        let (video, video_elst) = fmp4_start(&hls.join(rung));
        assert!(
            (video - audio).abs() <= AAC_FRAME + 1e-9,
            "{rung}: video starts at {video:.4} s, audio at {audio:.4} s (a hole of {:.0} ms at the start)",
            (video - audio) * 1000.0
        );
        assert!(
            !video_elst && !audio_elst,
            "{rung}: edit lists in the package (video {video_elst}, audio {audio_elst})"
        );
    }
    let report = check_package(hls).expect("check");
    assert!(report.is_ok(), "{report}");
}

#[test]
fn h264_ladder_starts_video_and_audio_together() {
    let dir = tempfile::tempdir().unwrap();
    // Before: video at 0.080 s (two B-frames of delay), audio at 0.
    assert_starts_together(&ladder(VideoCodec::H264, dir.path()));
}

#[test]
fn hevc_ladder_starts_video_and_audio_together() {
    let dir = tempfile::tempdir().unwrap();
    assert_starts_together(&ladder(VideoCodec::Hevc, dir.path()));
}

/// First packet PTS (seconds) of `spec` as ffprobe reads the file.
fn ffprobe_first_pts(file: &Path, spec: &str) -> f64 {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", spec, "-show_entries", "packet=pts_time", "-of", "csv=p=0"])
        .arg(file)
        .output()
        .expect("run ffprobe");
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines().filter_map(|l| l.trim().trim_end_matches(',').parse::<f64>().ok()).fold(f64::INFINITY, f64::min)
}

#[test]
fn single_file_mp4_starts_video_and_audio_together() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.mp4");
    // PCM audio is converted to AAC (priming samples), HEVC has B-frames.
    let req = EncodeRequest {
        input: fixture("timecode.mov"),
        profile: "sophon-espresso".into(),
        file: Some(FileRequest { path: out.clone(), container: Container::Mp4 }),
        hls: None,
        audio: true,
        target_height: None,
        encoder: crema_engine::encoder::Preference::Only(crema_engine::encoder::Backend::Software),
        decoder: Default::default(),
        overwrite: false,
        waveform: None,
        measure: false,
        target_vmaf: None,
        chunk_workers: None,
    };
    encode::run(&req, &ProfileSet::builtin().unwrap(), &CancelFlag::new(), &mut |_| {}).expect("encode");
    let (video, audio) = (ffprobe_first_pts(&out, "v:0"), ffprobe_first_pts(&out, "a:0"));
    assert!(video.is_finite() && audio.is_finite(), "no packets: video {video}, audio {audio}");
    assert!((video - audio).abs() <= AAC_FRAME + 1e-6, "video starts at {video} s, audio at {audio} s");
}
