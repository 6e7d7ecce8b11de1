//! The piece of the verified path that the whole-run tests cannot force:
//! chunks at very different CRFs joined into one decodable file. (The
//! repair's allocation is tested in `auto/allocate.rs`.)

use super::*;
use crate::profile::ProfileSet;
use crate::quality::compare;
use crate::request::{Container, FileRequest};
use crema_testkit::fixture;

/// x265 writes the same parameter sets at any CRF, so chunks at CRF 16
/// and 36 joined under the first one's sample entry decode as what each
/// chunk scored on its own.
#[test]
fn chunks_at_different_crfs_join_into_one_file_that_decodes_as_each_scored() {
    crate::init().unwrap();
    let source = fixture("bikes.mp4");
    let info = crate::probe::probe(&source).unwrap();
    let video = info.video.clone().unwrap();
    let profiles = ProfileSet::builtin().unwrap();
    let profile = profiles.get("sophon-cortado").unwrap().clone();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("joined.mp4");
    let req = EncodeRequest {
        input: source.clone(),
        profile: "sophon-auto".into(),
        file: Some(FileRequest { path: out.clone(), container: Container::Mp4 }),
        hls: None,
        audio: false,
        target_height: None,
        encoder: Preference::Auto,
        decoder: Default::default(),
        overwrite: false,
        waveform: None,
        measure: false,
        target_vmaf: None,
        chunk_workers: None,
    };
    let cancel = CancelFlag::new();
    let times = chunks::frame_times(&source, video.index, &cancel).unwrap().unwrap();
    let plan = chunks::plan(&times, CHUNK_SECONDS);
    assert_eq!(plan.len(), 2);
    let title = Job { req: &req, info: &info, video: &video, profile: &profile, range: None, cores: None, score: None };
    let mut ctx = Ctx::new(title, dir.path(), &cancel, 250);
    let mut notices = Vec::new();
    let a = ctx.encode(&plan[0], 16.0, &mut |_| {}, &mut notices).unwrap();
    let b = ctx.encode(&plan[1], 36.0, &mut |_| {}, &mut notices).unwrap();
    assert!(a.vmaf > b.vmaf + 5.0, "{} vs {}", a.vmaf, b.vmaf);
    // Scored in the loop: every frame fed to the encoder paired with its decoded output.
    for (v, c) in [(&a, &plan[0]), (&b, &plan[1])] {
        let pairing = v.report.pairing.expect("pairing stats");
        assert_eq!((pairing.paired, pairing.unmatched_reference, pairing.unmatched_distorted), (c.frames, 0, 0));
    }
    let parts = [
        join::Part { path: a.path.clone().unwrap(), start_us: plan[0].first_frame_us },
        join::Part { path: b.path.clone().unwrap(), start_us: plan[1].first_frame_us },
    ];
    join::join(&parts, None, &out, Container::Mp4, &cancel).unwrap();
    crate::verify::video_span(&out, crate::verify::Read::DecodeStrict).unwrap();
    let options = QualityOptions { neg: false, ..QualityOptions::default() };
    let full = compare(&source, &out, &options, &cancel, &mut |_| {}).unwrap();
    assert_eq!(full.frames_scored, 250);
    let cut = plan[1].start_seconds() - 1e-3;
    let mean = |early: bool| {
        let v: Vec<f64> = full.frames.iter().filter(|f| (f.reference_seconds < cut) == early).map(|f| f.vmaf).collect();
        v.iter().sum::<f64>() / v.len() as f64
    };
    assert!((mean(true) - a.vmaf).abs() < 0.5, "first chunk: {} joined vs {} alone", mean(true), a.vmaf);
    assert!((mean(false) - b.vmaf).abs() < 0.5, "second chunk: {} joined vs {} alone", mean(false), b.vmaf);
}
