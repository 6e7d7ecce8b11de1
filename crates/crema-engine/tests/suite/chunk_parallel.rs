//! Chunk-parallel encoding (`crema_engine::chunks::parallel`): a single
//! file encoded in chunks on several workers is the same title as one
//! encoded in one piece: every source frame once at its own time, decodable
//! without an error, its audio and timecode carried, about the same size.

use std::path::{Path, PathBuf};

use crema_engine::encode;
use crema_engine::profile::ProfileSet;
use crema_engine::request::{EncodeRequest, FinalArtifact};
use crema_engine::verify::{self, Read};
use crema_engine::{CancelFlag, EngineError, Event, encoder};
use crema_testkit::{fixture, shared_media};

fn request(input: PathBuf, profile: &str, out: &Path, workers: Option<u32>) -> EncodeRequest {
    EncodeRequest {
        encoder: encoder::Preference::Only(encoder::Backend::Software),
        decoder: Default::default(),
        chunk_workers: workers,
        ..crate::file_request(input, profile, out)
    }
}

use crate::frame_times_us as times;

#[test]
fn a_title_encoded_in_chunks_side_by_side_is_the_title_encoded_in_one_piece() {
    let dir = tempfile::tempdir().unwrap();
    // 30 s of a street at 12.5 fps with AAC: three 10 s chunks.
    let source = shared_media("street_432p12_h264_aac_30s.mp4");
    let profiles = ProfileSet::builtin().unwrap();
    let (split, whole) = (dir.path().join("split.mp4"), dir.path().join("whole.mp4"));
    let mut percents = Vec::new();
    let r = encode::run(
        &request(source.clone(), "sophon-cortado", &split, Some(2)),
        &profiles,
        &CancelFlag::new(),
        &mut |e| {
            if let Event::Progress { percent, .. } = e {
                percents.push(percent);
            }
        },
    )
    .expect("chunked encode");
    assert_eq!(r.final_artifact, FinalArtifact::Encoded);
    assert!(r.notices.iter().any(|n| n.starts_with("encoded in 3 chunks on 2 workers")), "{:?}", r.notices);
    assert!(percents.windows(2).all(|w| w[1] >= w[0]) && !percents.is_empty(), "{percents:?}");
    let one = encode::run(
        &request(source.clone(), "sophon-cortado", &whole, Some(1)),
        &profiles,
        &CancelFlag::new(),
        &mut |_| {},
    )
    .expect("one-piece encode");
    assert!(one.notices.iter().all(|n| !n.contains("chunks")), "{:?}", one.notices);
    // Every source frame once, at its own time.
    let (src, got) = (times(&source), times(&split));
    assert_eq!(src.len(), got.len());
    let worst = src.iter().zip(&got).map(|(a, b)| (a - b).abs()).max().unwrap();
    assert!(worst <= 1_000, "a frame moved by {worst} µs");
    verify::video_span(&split, Read::DecodeStrict).expect("the joined file decodes without an error");
    assert_eq!(r.outputs[0].audio_tracks, 1);
    assert!((r.outputs[0].duration_seconds - one.outputs[0].duration_seconds).abs() < 0.1);
    // The same CRF in chunks: about the same bits (two more IDR pictures).
    let ratio = r.outputs[0].bytes as f64 / one.outputs[0].bytes as f64;
    assert!((0.95..1.05).contains(&ratio), "chunked / one piece = {ratio:.3}");
    // Nothing left beside the outputs.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
}

#[test]
fn canceling_a_chunked_encode_stops_every_worker_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.mp4");
    let cancel = CancelFlag::new();
    let c = cancel.clone();
    let req = request(shared_media("street_432p12_h264_aac_30s.mp4"), "sophon-cortado", &out, Some(2));
    let r = encode::run(&req, &ProfileSet::builtin().unwrap(), &cancel, &mut |e| {
        // The first progress event, whenever it comes: a worker is encoding.
        if let Event::Progress { .. } = e {
            c.cancel();
        }
    });
    assert!(matches!(r, Err(EngineError::Canceled)), "{:?}", r.map(|r| r.notices));
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "the scratch folder and the output are gone");
}

/// The join keeps the first chunk's stream tags: a source's timecode
/// survives (here through `sophon-auto`'s verified path, a one-chunk join).
#[test]
fn a_joined_file_keeps_the_source_timecode() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.mp4");
    let source = fixture("timecode.mov");
    let tc = crema_engine::probe::probe(&source).unwrap().timecode.expect("the fixture has a timecode");
    let mut req = request(source, "sophon-auto", &out, None);
    req.target_vmaf = Some(80.0);
    req.encoder = encoder::Preference::Auto;
    let r = encode::run(&req, &ProfileSet::builtin().unwrap(), &CancelFlag::new(), &mut |_| {}).expect("encode");
    assert!(r.quality.as_ref().and_then(|q| q.verified.as_ref()).is_some(), "{:?} {:?}", r.final_artifact, r.notices);
    assert_eq!(crema_engine::probe::probe(&out).unwrap().timecode.as_deref(), Some(tc.as_str()));
}
