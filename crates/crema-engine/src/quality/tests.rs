//! The chunk protocol of [`Scorer`]: per-chunk scores equal one whole-title
//! run (the in-loop use of `sophon-auto`), on real encodes from the fixtures.

use super::compare::Source;
use super::{FrameScore, Model, QualityOptions, Scorer};
use crate::CancelFlag;
use ffmpeg_next as ff;
use std::path::PathBuf;

fn fixture(name: &str) -> PathBuf {
    let dir = match std::env::var_os("CREMA_FIXTURES") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/cache"),
    };
    let p = dir.join(name);
    assert!(p.is_file(), "missing test fixture {}: run fixtures/prepare.sh", p.display());
    p
}

fn decode_all(name: &str) -> Vec<(f64, ff::frame::Video)> {
    let mut s = Source::open(&fixture(name), &CancelFlag::new()).expect("open");
    let mut out = Vec::new();
    while let Some(f) = s.next().expect("decode") {
        out.push(f);
    }
    out
}

type Frames = [(f64, ff::frame::Video)];

/// Scores pairs `range` of (`r`, `d`) as one chunk, primed with the
/// reference frame before it when `prime`.
fn chunk(r: &Frames, d: &Frames, range: std::ops::Range<usize>, prime: bool, opts: &QualityOptions) -> Vec<FrameScore> {
    let mut s = Scorer::new(opts).expect("scorer");
    let previous = (prime && range.start > 0).then(|| &r[range.start - 1].1);
    s.start_at(range.start as u64, previous).expect("start_at");
    for i in range {
        s.push(&r[i].1, &d[i].1, r[i].0, d[i].0).expect("push");
    }
    s.finish().expect("finish").frames
}

#[test]
fn primed_chunks_score_like_one_whole_run() {
    let (r, d) = (decode_all("q_ref_360p.mp4"), decode_all("q_crf22.mp4"));
    assert_eq!((r.len(), d.len()), (30, 30));
    let opts = QualityOptions { neg: false, threads: 1, ..QualityOptions::default() };
    let whole = chunk(&r, &d, 0..30, false, &opts);
    let chunks: Vec<FrameScore> =
        [0..10, 10..20, 20..30].into_iter().flat_map(|c| chunk(&r, &d, c, true, &opts)).collect();
    assert_eq!(chunks.len(), 30);
    for (w, c) in whole.iter().zip(&chunks) {
        assert_eq!(w.index, c.index);
        assert_eq!((w.psnr_y, w.ssim), (c.psnr_y, c.ssim), "frame {}", w.index);
        if w.index == 9 || w.index == 19 {
            // A chunk's last frame cannot look into the next chunk for its motion.
            eprintln!("chunk-last frame {}: whole run {:.4}, chunked {:.4}", w.index, w.vmaf, c.vmaf);
            assert!((w.vmaf - c.vmaf).abs() < 1.0, "frame {}: {} vs {}", w.index, w.vmaf, c.vmaf);
        } else {
            assert_eq!(w.vmaf, c.vmaf, "frame {}", w.index);
        }
    }
    // Without priming, a chunk's first frame has motion 0 and scores differently.
    let unprimed = chunk(&r, &d, 10..20, false, &opts);
    assert!((unprimed[0].vmaf - whole[10].vmaf).abs() > 1e-3, "priming must matter for this test to mean anything");
    assert_eq!(unprimed[1].vmaf, whole[11].vmaf);
}

#[test]
fn subsampled_chunks_land_on_the_titles_multiples() {
    let (r, d) = (decode_all("q_ref_360p.mp4"), decode_all("q_crf22.mp4"));
    let opts = QualityOptions { neg: false, threads: 2, subsample: 3, ..QualityOptions::default() };
    let whole = chunk(&r, &d, 0..30, false, &opts);
    assert_eq!(whole.iter().map(|f| f.index).collect::<Vec<_>>(), (0..30).step_by(3).collect::<Vec<u64>>());
    for range in [10..20, 12..22] {
        let part = chunk(&r, &d, range.clone(), true, &opts);
        let want: Vec<u64> = range.clone().filter(|i| i % 3 == 0).map(|i| i as u64).collect();
        assert_eq!(part.iter().map(|f| f.index).collect::<Vec<_>>(), want, "chunk {range:?}");
        for f in part.iter().filter(|f| f.index + 1 < range.end as u64) {
            let w = whole.iter().find(|w| w.index == f.index).expect("scored in the whole run");
            assert_eq!(w.vmaf, f.vmaf, "frame {}", f.index);
        }
    }
}

#[test]
fn bad_options_and_misuse_are_refused() {
    for subsample in [0, 2, 4, 101] {
        let opts = QualityOptions { subsample, ..QualityOptions::default() };
        assert!(matches!(Scorer::new(&opts), Err(crate::EngineError::Usage(_))), "subsample {subsample}");
    }
    let s = Scorer::new(&QualityOptions::default()).expect("scorer");
    assert!(matches!(s.finish(), Err(crate::EngineError::Quality(_))), "no pairs, no report");
    let r = decode_all("q_ref_360p.mp4");
    let mut s = Scorer::new(&QualityOptions { neg: false, ..QualityOptions::default() }).expect("scorer");
    s.push(&r[0].1, &r[0].1, 0.0, 0.0).expect("push");
    assert!(matches!(s.start_at(5, None), Err(crate::EngineError::Usage(_))), "start_at after a push");
    // The reference may not change size mid-run (the distorted side may).
    let mut small = ff::frame::Video::new(ff::format::Pixel::YUV420P, 320, 180);
    small.set_pts(Some(0));
    assert!(matches!(s.push(&small, &r[1].1, 0.04, 0.04), Err(crate::EngineError::Quality(_))));
    s.push(&r[1].1, &small, 0.04, 0.04).expect("a smaller distorted frame is scaled up");
    assert_eq!(s.finish().expect("finish").frames_scored, 2);
}

#[test]
fn built_in_models_are_linked() {
    assert!(super::vmaf::built_in_model_bytes() > 10_000, "the embedded vmaf_v0.6.1.json");
    super::vmaf::check_built_in_models().expect("vmaf_v0.6.1, vmaf_v0.6.1neg, vmaf_4k_v0.6.1 built in");
    assert_eq!(super::libvmaf_version(), "2.3.1");
}

#[test]
fn the_4k_model_is_chosen_above_1440p() {
    assert_eq!(Model::Auto.name_for(1920, 1080), "vmaf_v0.6.1");
    assert_eq!(Model::Auto.name_for(2560, 1440), "vmaf_v0.6.1");
    assert_eq!(Model::Auto.name_for(3840, 2160), "vmaf_4k_v0.6.1");
    assert_eq!(Model::Auto.name_for(4096, 1716), "vmaf_4k_v0.6.1");
    assert_eq!(Model::V061.name_for(3840, 2160), "vmaf_v0.6.1");
    assert_eq!(Model::V061_4k.name_for(1280, 720), "vmaf_4k_v0.6.1");
    assert_eq!(Model::parse("vmaf_4k_v0.6.1"), Some(Model::V061_4k));
    assert_eq!(Model::parse("vmaf_v0.6.3"), None);
}
