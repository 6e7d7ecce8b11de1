//! `sophon-auto`'s verified path (`crema_engine::auto::verified`): the file
//! delivered is the chunks joined, every source frame once at its own time,
//! and its in-loop score is what an independent full comparison of the
//! delivered file finds.

use std::path::{Path, PathBuf};

use crema_engine::encode;
use crema_engine::profile::ProfileSet;
use crema_engine::quality::{self, QualityOptions};
use crema_engine::request::{EncodeRequest, FinalArtifact};
use crema_engine::verify::{self, Read};
use crema_engine::{CancelFlag, Event};
use crema_testkit::fixture;

fn request(input: PathBuf, out: &Path, target_vmaf: Option<f64>) -> EncodeRequest {
    EncodeRequest { target_vmaf, ..crate::file_request(input, "sophon-auto", out) }
}

use crate::frame_times_us as times;

#[test]
fn a_verified_encode_joins_its_chunks_frame_exact_and_scores_what_it_delivers() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.mp4");
    // 10 s of cuts between scenes: two chunks.
    let source = fixture("bikes.mp4");
    let mut percents = Vec::new();
    let mut on_event = |e: Event| {
        if let Event::Progress { percent, .. } = e {
            percents.push(percent);
        }
    };
    let r = encode::run(
        &request(source.clone(), &out, None),
        &ProfileSet::builtin().unwrap(),
        &CancelFlag::new(),
        &mut on_event,
    )
    .expect("encode");
    // One job's progress over every pass and repair: it never goes back.
    assert!(percents.len() > 3, "{percents:?}");
    assert!(percents.windows(2).all(|w| w[1] >= w[0]) && percents.iter().all(|p| *p < 100.0), "{percents:?}");
    assert_eq!(r.final_artifact, FinalArtifact::Encoded, "{:?}", r.notices);
    let q = r.quality.clone().unwrap_or_else(|| panic!("not verified: {:?}", r.notices));
    let v = q.verified.clone().expect("verified");
    assert_eq!(v.chunks.len(), 2, "{v:?}");
    assert_eq!(v.target_vmaf, 93.0);
    assert_eq!(v.chunks.iter().map(|c| c.frames).sum::<u64>(), 250);
    // Every source frame once, at its own time (within a tick of the output's time base).
    let (src, got) = (times(&source), times(&out));
    assert_eq!(src.len(), got.len());
    let worst = src.iter().zip(&got).map(|(a, b)| (a - b).abs()).max().unwrap();
    assert!(worst <= 1_000, "a frame moved by {worst} µs");
    verify::video_span(&out, Read::DecodeStrict).expect("the joined file decodes without an error");
    // The independent check: the whole delivered file, every frame.
    let options = QualityOptions { neg: false, ..QualityOptions::default() };
    let full = quality::compare(&source, &out, &options, &CancelFlag::new(), &mut |_| {}).unwrap();
    assert_eq!(full.frames_scored, 250);
    assert!((full.vmaf.mean - q.vmaf.mean).abs() <= 0.5, "in loop {} vs full {}", q.vmaf.mean, full.vmaf.mean);
    // The title mean reaches the target and every chunk the floor (target − 3),
    // not every chunk the target: the mean is bought where it is cheapest.
    assert_eq!(v.chunk_floor_vmaf, 90.0);
    if !v.best_effort {
        assert!(q.vmaf.mean >= 93.0, "{}", q.vmaf.mean);
        assert!(full.vmaf.mean >= 93.0 - 0.5, "{}", full.vmaf.mean);
        assert!(v.chunks.iter().all(|c| c.vmaf.mean >= 90.0), "{v:?}");
    }
    // Nothing is left beside the output.
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().flatten().map(|e| e.file_name()).collect();
    assert_eq!(left.len(), 1, "{left:?}");
    eprintln!("{}", serde_json::to_string(&q).unwrap());
}

#[test]
fn a_higher_target_spends_more_bits_and_audio_is_carried_over() {
    let dir = tempfile::tempdir().unwrap();
    let source = fixture("vfr_phone.mp4");
    let run = |target: f64, name: &str| {
        let out = dir.path().join(name);
        let r = encode::run(
            &request(source.clone(), &out, Some(target)),
            &ProfileSet::builtin().unwrap(),
            &CancelFlag::new(),
            &mut |_| {},
        )
        .expect("encode");
        (r, out)
    };
    let (low, low_out) = run(80.0, "low.mp4");
    let (high, high_out) = run(92.0, "high.mp4");
    let (lq, hq) = (
        low.quality.clone().unwrap_or_else(|| panic!("{:?} {:?}", low.final_artifact, low.notices)),
        high.quality.clone().unwrap_or_else(|| panic!("{:?} {:?}", high.final_artifact, high.notices)),
    );
    assert_eq!(lq.verified.as_ref().unwrap().target_vmaf, 80.0);
    assert!(hq.vmaf.mean > lq.vmaf.mean, "{} vs {}", hq.vmaf.mean, lq.vmaf.mean);
    assert!(high.outputs[0].bytes > low.outputs[0].bytes);
    for (r, out) in [(&low, &low_out), (&high, &high_out)] {
        assert_eq!(r.outputs[0].audio_tracks, 1);
        // The variable frame rate survives: the same 105 frames at the same times.
        let (src, got) = (times(&source), times(out));
        assert_eq!(src.len(), got.len());
        assert!(src.iter().zip(&got).all(|(a, b)| (a - b).abs() <= 1_000));
    }
}

/// Each chunk is scored against the picture its encoder was fed: a rotated
/// source turned upright, an interlaced one deinterlaced, an HDR one
/// tone-mapped and scaled down. Against the unfiltered source the scores
/// would collapse (a rotated picture against an upright one scores near 0).
#[test]
fn rotated_interlaced_and_hdr_sources_are_verified_against_their_filtered_picture() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (fixture("rotated_90.mp4"), None, (720, 1280)),
        (fixture("interlaced_1080i25.mp4"), Some(360), (640, 360)),
        (crema_testkit::shared_media("hdr10plus_1080p30_hevc-main10_pq_mdcv_cll.mp4"), Some(360), (640, 360)),
    ];
    for (i, (source, height, size)) in cases.into_iter().enumerate() {
        let out = dir.path().join(format!("out{i}.mp4"));
        let mut req = request(source.clone(), &out, Some(85.0));
        req.target_height = height;
        let r = encode::run(&req, &ProfileSet::builtin().unwrap(), &CancelFlag::new(), &mut |_| {}).expect("encode");
        let q = r.quality.clone().unwrap_or_else(|| panic!("{}: not verified: {:?}", source.display(), r.notices));
        assert_eq!((q.width, q.height), size, "{}: scored at the encode's size", source.display());
        assert!(q.vmaf.mean >= 85.0 || q.verified.as_ref().unwrap().best_effort, "{}: {q:?}", source.display());
        assert!(q.vmaf.mean > 70.0, "{}: the reference was not filtered as the encode was: {q:?}", source.display());
        assert!(q.psnr.mean > 30.0, "{}: {q:?}", source.display());
    }
}

/// A source whose audio starts before its video (here by 21 ms) keeps that
/// offset: the first chunk's encode range starts at the container's start,
/// and the join places its first frame at the frame's own time, not at 0.
#[test]
fn a_source_whose_audio_starts_first_keeps_its_video_where_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.mp4");
    let source = fixture("multi_audio.mkv");
    let src = times(&source);
    assert!(src[0] >= 20_000, "the fixture's video should start after its audio: {} µs", src[0]);
    let r = encode::run(
        &request(source.clone(), &out, Some(85.0)),
        &ProfileSet::builtin().unwrap(),
        &CancelFlag::new(),
        &mut |_| {},
    )
    .expect("encode");
    assert_eq!(r.final_artifact, FinalArtifact::Encoded, "{:?}", r.notices);
    assert!(r.quality.as_ref().and_then(|q| q.verified.as_ref()).is_some(), "{:?}", r.notices);
    let got = times(&out);
    assert_eq!(src.len(), got.len());
    let worst = src.iter().zip(&got).map(|(a, b)| (a - b).abs()).max().unwrap();
    assert!(worst <= 1_000, "a frame moved by {worst} µs (first: source {} µs, output {} µs)", src[0], got[0]);
}
