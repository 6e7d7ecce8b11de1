//! Hardware decoding (`crema_engine::hw_decode`): `--decoder auto` gives
//! exactly the file a software decode gives and says how it decoded; a
//! back-end asked for by name that cannot open is a usage error. On a
//! machine with a decoding device, the same tests check the hardware path
//! (H.264 decoding is bit-exact, so the encodes must still be identical).

use crema_engine::encode;
use crema_engine::encoder::{Backend, Preference};
use crema_engine::hw_decode::{DecodePreference, HwDecoder};
use crema_engine::profile::{ProfileSet, VideoCodec};
use crema_engine::request::EncodeResult;
use crema_engine::{CancelFlag, EngineError};
use crema_testkit::fixture;

fn run(decoder: DecodePreference, out: &std::path::Path) -> crema_engine::Result<EncodeResult> {
    let req = crema_engine::request::EncodeRequest {
        encoder: Preference::Only(Backend::Software),
        decoder,
        ..crate::file_request(fixture("h264_720p_2s.mp4"), "sophon-espresso", out)
    };
    encode::run(&req, &ProfileSet::builtin().unwrap(), &CancelFlag::new(), &mut |_| {})
}

#[test]
fn auto_decoding_writes_the_software_decodes_file_and_says_how_it_decoded() {
    let dir = tempfile::tempdir().unwrap();
    let (sw_path, auto_path) = (dir.path().join("sw.mp4"), dir.path().join("auto.mp4"));
    let sw = run(DecodePreference::Software, &sw_path).expect("software decode");
    let auto = run(DecodePreference::Auto, &auto_path).expect("auto decode");
    let sw_report = sw.outputs[0].decoder.clone().expect("a decoder report");
    assert_eq!(sw_report.hardware, None);
    assert_eq!(sw_report.reason, "software decoder (--decoder software)");
    let report = auto.outputs[0].decoder.clone().expect("a decoder report");
    let present: Vec<HwDecoder> = crema_engine::hw_decode::detect_all(VideoCodec::H264)
        .into_iter()
        .filter_map(|(b, ok, _)| ok.then_some(b))
        .collect();
    match present.first() {
        Some(&b) => assert_eq!(report.hardware, Some(b), "{}", report.reason),
        None => {
            eprintln!("no hardware decoder here: checked the fallback only ({})", report.reason);
            assert_eq!(report.hardware, None);
            for b in HwDecoder::platform_order() {
                assert!(report.reason.contains(&format!("{b}: ")), "{b} missing from: {}", report.reason);
            }
        }
    }
    assert!(
        std::fs::read(&sw_path).unwrap() == std::fs::read(&auto_path).unwrap(),
        "the auto-decoded encode differs from the software-decoded one"
    );
}

#[test]
fn a_hardware_decoder_asked_for_by_name_that_does_not_open_is_a_usage_error() {
    let b = HwDecoder::platform_order()[0];
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.mp4");
    match run(DecodePreference::Only(b), &out) {
        Ok(r) => eprintln!("skipped: {b} opens here ({:?})", r.outputs[0].decoder),
        Err(EngineError::Usage(m)) => {
            assert!(m.starts_with(&format!("{b} decoding is not available here: ")), "{m}");
            assert!(!out.exists(), "nothing is written");
        }
        Err(e) => panic!("expected a usage error, got {e}"),
    }
}
