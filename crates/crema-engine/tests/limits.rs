//! What one request may ask for: at most 8 rungs, outputs within level 6.2,
//! sources within the decoder-side limit; each refused before anything is
//! decoded or written, with an error a caller can map to `source_unsupported`.
//!
//! Fixtures from `fixtures/prepare.sh`: `still_8192.mp4` (one 8192x8192
//! H.264 frame) and `declared_15000.mkv` (one 15000x15000 PNG frame).
//!
//! A test binary of its own, not a module of `suite`: in the same process as
//! the other engine tests' encodes, the 8192x8192 source scaled to 1080p
//! failed about one run in six with "write: Not yet implemented in FFmpeg,
//! patches welcome" from the MP4 muxer (seen 2026-12-02; alone, 0 failures
//! in 6 runs). The cause is not found yet: until it is, these tests run
//! alone, as they did before the suite was merged into one binary.

use std::path::Path;
use std::sync::Mutex;
use std::time::Instant;

use crema_engine::encode;
use crema_engine::limits::{self, SourceLimits};
use crema_engine::profile::{ProfileSet, VideoCodec};
use crema_engine::request::{Container, EncodeRequest, EncodeResult, FileRequest, HlsRequest};
use crema_engine::{CancelFlag, EngineError};

/// Held by every test here: one of them changes the process-wide source limit.
static LIMITS: Mutex<()> = Mutex::new(());

use crema_testkit::fixture;

fn request(input: &Path, dir: &Path, target_height: Option<u32>, renditions: Option<Vec<u32>>) -> EncodeRequest {
    EncodeRequest {
        input: input.to_path_buf(),
        profile: "sophon-espresso".into(),
        file: renditions.is_none().then(|| FileRequest { path: dir.join("out.mp4"), container: Container::Mp4 }),
        hls: renditions.map(|r| HlsRequest {
            dir: dir.join("out.hls"),
            renditions: r,
            codec: VideoCodec::H264,
            segment_seconds: 2.0,
            keep_mp4: None,
        }),
        audio: false,
        target_height,
        encoder: crema_engine::encoder::Preference::Only(crema_engine::encoder::Backend::Software),
        decoder: Default::default(),
        overwrite: false,
        waveform: None,
        measure: false,
        target_vmaf: None,
        chunk_workers: None,
    }
}

fn run(req: &EncodeRequest) -> Result<EncodeResult, EngineError> {
    encode::run(req, &ProfileSet::builtin().unwrap(), &CancelFlag::new(), &mut |_| {})
}

fn assert_empty(dir: &Path) {
    let left: Vec<_> = std::fs::read_dir(dir).unwrap().flatten().map(|e| e.file_name()).collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[test]
fn a_ladder_of_more_than_eight_distinct_rungs_is_refused_before_anything_is_read() {
    let _g = LIMITS.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let src = fixture("h264_720p_2s.mp4");
    // The outside test's request had 289 distinct heights.
    let many: Vec<u32> = (144..144 + 289).collect();
    match run(&request(&src, dir.path(), None, Some(many))) {
        Err(EngineError::Usage(m)) => assert!(m.contains("at most 8 distinct heights") && m.contains("289"), "{m}"),
        other => panic!("expected a usage error, got {other:?}"),
    }
    assert_empty(dir.path());
    // Duplicates collapse: 8 distinct heights asked twice is fine (and the
    // rungs taller than the 720p source are dropped as before).
    let eight = [720, 640, 576, 480, 360, 288, 240, 144];
    let twice: Vec<u32> = eight.iter().chain(&eight).copied().collect();
    let res = run(&request(&src, dir.path(), None, Some(twice))).expect("8 distinct rungs encode");
    assert_eq!(res.outputs[0].renditions.len(), 8);
}

#[test]
fn an_output_beyond_level_6_2_is_refused_before_decoding_and_a_scaled_one_encodes() {
    let _g = LIMITS.lock().unwrap_or_else(|e| e.into_inner());
    let src = fixture("still_8192.mp4");
    let dir = tempfile::tempdir().unwrap();
    // Before: encoded at 8192x8192 (67 megapixels, beyond HEVC level 6.2).
    let started = Instant::now();
    let e = run(&request(&src, dir.path(), None, None)).unwrap_err();
    let EngineError::PictureTooLarge { width, height, cause, .. } = &e else {
        panic!("expected PictureTooLarge, got {e:?}")
    };
    assert_eq!((*width, *height), (8192, 8192));
    assert!(cause.contains("HEVC level 6.2") && cause.contains("at most 4320p"), "{cause}");
    assert_eq!(e.code(), "picture_too_large");
    assert_empty(dir.path());
    eprintln!("refused in {:.2} s", started.elapsed().as_secs_f64());
    // The same verdict from the probe alone, as a service checks a job at submission.
    let info = crema_engine::probe::probe(&src).unwrap();
    let e = limits::check_probed(&src, &info, Some(VideoCodec::Hevc), None, None).unwrap_err();
    assert!(matches!(e, EngineError::PictureTooLarge { width: 8192, height: 8192, .. }), "{e:?}");
    assert!(limits::check_probed(&src, &info, Some(VideoCodec::Hevc), Some(1080), None).is_ok());
    assert!(limits::check_probed(&src, &info, None, None, Some((VideoCodec::H264, &[4320, 1080]))).is_ok());
    // Scaled down, the same source is fine: the output is checked, not the source.
    let res = run(&request(&src, dir.path(), Some(1080), None)).expect("8192x8192 scaled to 1080p");
    assert_eq!((res.outputs[0].width, res.outputs[0].height), (1080, 1080));
}

#[test]
fn a_source_beyond_the_source_limit_is_refused_in_words_before_decoding() {
    let _g = LIMITS.lock().unwrap_or_else(|e| e.into_inner());
    let src = fixture("declared_15000.mkv");
    // Probing never decodes the 15000x15000 picture, and still reports its size.
    let info = crema_engine::probe::probe(&src).expect("probe");
    assert_eq!(info.resolution.as_deref(), Some("15000x15000"));
    let dir = tempfile::tempdir().unwrap();
    // Before: "filter source: Invalid argument" (or a 675 MB decode).
    let e = run(&request(&src, dir.path(), Some(720), None)).unwrap_err();
    let EngineError::PictureTooLarge { width, height, cause, .. } = &e else {
        panic!("expected PictureTooLarge, got {e:?}")
    };
    assert_eq!((*width, *height), (15000, 15000));
    assert!(cause.contains("15000x15000") && cause.contains("megapixels"), "{cause}");
    assert_empty(dir.path());
    let e = limits::check_probed(&src, &info, Some(VideoCodec::Hevc), Some(720), None).unwrap_err();
    assert!(matches!(e, EngineError::PictureTooLarge { width: 15000, .. }), "{e:?}");
}

#[test]
fn a_configured_source_limit_applies_to_every_encode() {
    let _g = LIMITS.lock().unwrap_or_else(|e| e.into_inner());
    let src = fixture("still_8192.mp4");
    let dir = tempfile::tempdir().unwrap();
    limits::set_source_limits(SourceLimits { max_dimension: 4096, max_samples: 4096 * 2304 });
    let refused = run(&request(&src, dir.path(), Some(1080), None));
    limits::set_source_limits(SourceLimits::default());
    let e = refused.unwrap_err();
    assert!(matches!(&e, EngineError::PictureTooLarge { cause, .. } if cause.contains("4096 pixels a side")), "{e:?}");
    assert_empty(dir.path());
}
