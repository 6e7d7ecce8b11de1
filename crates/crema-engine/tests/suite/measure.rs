//! `EncodeRequest::measure`: the finished main output scored against the
//! source, for a single file and for an HLS ladder (its top rung), with the
//! same figures as an independent `quality::compare` of the same files.

use std::path::PathBuf;

use crema_engine::encode;
use crema_engine::profile::{ProfileSet, VideoCodec};
use crema_engine::progress::{Event, Stage};
use crema_engine::quality::{self, QualityOptions};
use crema_engine::request::{Container, EncodeRequest, FileRequest, HlsRequest};
use crema_engine::{CancelFlag, encoder};
use crema_testkit::fixture;

fn request(file: Option<PathBuf>, hls: Option<PathBuf>, measure: bool) -> EncodeRequest {
    EncodeRequest {
        input: fixture("h264_720p_2s.mp4"),
        profile: "sophon-espresso".into(),
        file: file.map(|path| FileRequest { path, container: Container::Mp4 }),
        hls: hls.map(|dir| HlsRequest {
            dir,
            renditions: vec![360, 240],
            codec: VideoCodec::H264,
            segment_seconds: 1.0,
            keep_mp4: None,
        }),
        audio: true,
        target_height: Some(360),
        encoder: encoder::Preference::Only(encoder::Backend::Software),
        decoder: Default::default(),
        overwrite: false,
        waveform: None,
        measure,
        target_vmaf: None,
        chunk_workers: None,
    }
}

fn independent(distorted: &std::path::Path) -> quality::QualityReport {
    let options = QualityOptions { neg: false, ..QualityOptions::default() };
    quality::compare(&fixture("h264_720p_2s.mp4"), distorted, &options, &CancelFlag::new(), &mut |_| {}).unwrap()
}

#[test]
fn a_measured_file_reports_what_an_independent_comparison_finds() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.mp4");
    let mut stages = Vec::new();
    let mut on_event = |e: Event| {
        if let Event::Stage { stage } = e {
            stages.push(stage);
        }
    };
    let r = encode::run(
        &request(Some(out.clone()), None, true),
        &ProfileSet::builtin().unwrap(),
        &CancelFlag::new(),
        &mut on_event,
    )
    .expect("encode");
    assert_eq!(stages.last(), Some(&Stage::Measuring), "{stages:?}");
    let q = r.quality.expect("measured");
    assert_eq!((q.output.as_str(), q.model.as_str(), q.width, q.height), ("file", "vmaf_v0.6.1", 1280, 720));
    let ind = independent(&out);
    assert_eq!(q.frames, ind.frames_scored);
    assert_eq!(q.frames, 50, "2 s at 25 fps, every frame paired");
    assert_eq!((q.vmaf, q.psnr, q.ssim), (ind.vmaf, ind.psnr, ind.ssim));
    assert!(q.vmaf.mean > 30.0 && q.vmaf.mean < 100.0 && q.ssim.mean < 1.0, "{q:?}");
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
}

#[test]
fn an_hls_ladder_is_measured_through_its_top_rung_and_nothing_without_measure() {
    let dir = tempfile::tempdir().unwrap();
    let hls = dir.path().join("out.hls");
    let r = encode::run(
        &request(None, Some(hls.clone()), true),
        &ProfileSet::builtin().unwrap(),
        &CancelFlag::new(),
        &mut |_| {},
    )
    .expect("encode");
    let q = r.quality.unwrap_or_else(|| panic!("not measured: {:?}", r.warnings));
    assert_eq!(q.output, "hls 360p");
    // The rung as one fragmented MP4: init section then segments, read from the playlist here.
    let rung = hls.join("360p");
    let text = std::fs::read_to_string(rung.join("index.m3u8")).unwrap();
    let mut joined = Vec::new();
    for line in text.lines() {
        let name = match line.strip_prefix("#EXT-X-MAP:URI=\"") {
            Some(rest) => rest.trim_end_matches('"'),
            None if !line.starts_with('#') && !line.is_empty() => line,
            None => continue,
        };
        joined.extend(std::fs::read(rung.join(name)).unwrap());
    }
    let whole = dir.path().join("rung.mp4");
    std::fs::write(&whole, joined).unwrap();
    let ind = independent(&whole);
    assert_eq!((q.frames, q.vmaf), (ind.frames_scored, ind.vmaf));
    assert_eq!(q.frames, 50);
    let left: Vec<_> = std::fs::read_dir(&rung)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
        .collect();
    assert!(left.is_empty(), "the joined file is removed: {left:?}");

    let plain = dir.path().join("plain.mp4");
    let r = encode::run(
        &request(Some(plain), None, false),
        &ProfileSet::builtin().unwrap(),
        &CancelFlag::new(),
        &mut |_| {},
    )
    .expect("encode");
    assert!(r.quality.is_none());
}

/// A cancel while the output is being measured stops the run as a cancel of
/// the encode does (the docs' "Ctrl-C or a cancel stops it like the encode").
#[test]
fn a_cancel_during_the_measurement_stops_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let cancel = CancelFlag::new();
    let flag = cancel.clone();
    let mut on_event = |e: Event| {
        if matches!(e, Event::Stage { stage: Stage::Measuring }) {
            flag.cancel();
        }
    };
    let r = encode::run(
        &request(Some(dir.path().join("c.mp4")), None, true),
        &ProfileSet::builtin().unwrap(),
        &cancel,
        &mut on_event,
    );
    assert!(matches!(r, Err(crema_engine::EngineError::Canceled)), "{r:?}");
}
