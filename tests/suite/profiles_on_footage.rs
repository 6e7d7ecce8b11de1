//! The 12 concrete profiles on real footage (Big Buck Bunny as ProRes 422 HQ
//! 10-bit 1080p, the fixture an editor would hand over), scaled to 480p.
//!
//! Each profile is encoded once per test run (shared by the tests below) from
//! the same 1.2 s stream copy of `prores_hq_1080p25_10bit.mov`; quality is
//! measured against that source scaled the same way (bicubic, like Crema).

use crate::common::*;
use serde_json::Value;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

const TIERS: [&str; 3] = ["espresso", "cortado", "americano"];

struct Encoded {
    path: PathBuf,
    bytes: u64,
    result: Value,
}

/// 1.2 s (30 frames) of the ProRes fixture, stream-copied.
fn source() -> PathBuf {
    derived("prores_1080p_1.2s.mov", |p| trim_copy(&fixture("prores_hq_1080p25_10bit.mov"), 1.2, p))
}

/// `sophon-{id}` encoded at 480p (once per process).
fn encoded(id: &str) -> Arc<Encoded> {
    type Cell = Arc<OnceLock<Arc<Encoded>>>;
    static CACHE: OnceLock<Mutex<HashMap<String, Cell>>> = OnceLock::new();
    let cell = {
        let mut m = CACHE.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
        m.entry(id.to_string()).or_default().clone()
    };
    cell.get_or_init(|| {
        let src = source();
        let path = scratch_dir().join(format!("profile_{id}.mp4"));
        let _ = std::fs::remove_file(&path);
        let result = encode_ok(&src, &format!("sophon-{id}"), &path, &["--target-height", "480"]);
        let bytes = std::fs::metadata(&path).unwrap().len();
        assert_eq!(
            result["outputs"][0]["bytes"].as_u64(),
            Some(bytes),
            "result bytes differ from the file: {result:#}"
        );
        Arc::new(Encoded { path, bytes, result })
    })
    .clone()
}

fn all_ids(ten_bit: bool) -> Vec<String> {
    let suffix = if ten_bit { "-10bit" } else { "" };
    TIERS.iter().flat_map(|t| [format!("{t}{suffix}"), format!("{t}-hq{suffix}")]).collect()
}

#[test]
fn eight_bit_profiles_give_hevc_main_yuv420p() {
    for id in all_ids(false) {
        let e = encoded(&id);
        let v = assert_hevc(&e.path, "Main", "yuv420p");
        assert_eq!((v["width"].as_u64(), v["height"].as_u64()), (Some(854), Some(480)), "sophon-{id}: {v:#}");
        assert_eq!(v["codec_tag_string"], "hvc1", "sophon-{id}");
        assert_eq!(e.result["effective_profile_id"], format!("sophon-{id}"));
        assert_duration_close(&e.path, 1.2, 0.04);
    }
}

#[test]
fn ten_bit_profiles_give_hevc_main10_yuv420p10le() {
    for id in all_ids(true) {
        let e = encoded(&id);
        let v = assert_hevc(&e.path, "Main 10", "yuv420p10le");
        assert_eq!((v["width"].as_u64(), v["height"].as_u64()), (Some(854), Some(480)), "sophon-{id}: {v:#}");
        let opts = &e.result["outputs"][0]["encoder"]["options"];
        assert!(
            opts.as_array().unwrap().iter().any(|o| o["name"] == "pix_fmt" && o["value"] == "yuv420p10le"),
            "sophon-{id} options: {opts}"
        );
        assert_duration_close(&e.path, 1.2, 0.04);
    }
}

/// `-hq`: a larger file with higher SSIM and PSNR against the source than the
/// standard profile of the same tier and bit depth.
#[test]
fn hq_profiles_are_larger_and_closer_to_the_source() {
    let src = source();
    let mut report = Vec::new();
    let mut failures = Vec::new();
    for ten in [false, true] {
        let suffix = if ten { "-10bit" } else { "" };
        for tier in TIERS {
            let (std_id, hq_id) = (format!("{tier}{suffix}"), format!("{tier}-hq{suffix}"));
            let (a, b) = (encoded(&std_id), encoded(&hq_id));
            let (sa, sb) = (ssim(&a.path, &src), ssim(&b.path, &src));
            let (pa, pb) = (psnr(&a.path, &src), psnr(&b.path, &src));
            let line = format!(
                "{std_id}: {} B ssim {sa:.5} psnr {pa:.2} | {hq_id}: {} B ssim {sb:.5} psnr {pb:.2}",
                a.bytes, b.bytes
            );
            if !(b.bytes > a.bytes && sb > sa && pb > pa) {
                failures.push(line.clone());
            }
            report.push(line);
        }
    }
    eprintln!("{}", report.join("\n"));
    assert!(failures.is_empty(), "-hq not larger and closer to the source:\n{}", failures.join("\n"));
}

/// Americano (slowest tier) gives a smaller file than espresso at similar
/// quality (SSIM within 0.01 of it, or better).
///
/// Measured here (1.2 s, 480p): the shipped americano profiles (preset slow,
/// CRF 24) give files ~30% LARGER than espresso (preset fast, CRF 25), with
/// SSIM ~0.004 higher; the same on street_432p and h264_720p footage. This
/// test fails until the profiles are retuned.
#[test]
fn americano_is_smaller_than_espresso_at_similar_quality() {
    let src = source();
    let mut failures = Vec::new();
    for suffix in ["", "-10bit"] {
        let (e, a) = (encoded(&format!("espresso{suffix}")), encoded(&format!("americano{suffix}")));
        let (se, sa) = (ssim(&e.path, &src), ssim(&a.path, &src));
        let line = format!(
            "espresso{suffix}: {} B ssim {se:.5} | americano{suffix}: {} B ssim {sa:.5} ({:+.1}% size)",
            e.bytes,
            a.bytes,
            (a.bytes as f64 / e.bytes as f64 - 1.0) * 100.0
        );
        eprintln!("{line}");
        if sa < se - 0.01 || a.bytes >= e.bytes {
            failures.push(line);
        }
    }
    assert!(failures.is_empty(), "americano is not smaller than espresso at similar quality:\n{}", failures.join("\n"));
}

/// The profile's encoder settings are the ones the result reports: the x265
/// preset grows slower with the tier, and -hq lowers CRF.
#[test]
fn result_reports_each_profiles_x265_settings() {
    let presets = [("espresso", "fast"), ("cortado", "medium"), ("americano", "slow")];
    for (tier, preset) in presets {
        for suffix in ["", "-hq", "-10bit", "-hq-10bit"] {
            let id = format!("{tier}{suffix}");
            let e = encoded(&id);
            let enc = &e.result["outputs"][0]["encoder"];
            assert_eq!(enc["name"], "libx265", "sophon-{id}: {enc:#}");
            let opt = |n: &str| {
                enc["options"].as_array().unwrap().iter().find(|o| o["name"] == n).map(|o| s(&o["value"]).to_string())
            };
            assert_eq!(opt("preset").as_deref(), Some(preset), "sophon-{id}: {enc:#}");
            let crf: f64 = opt("crf").expect("crf option").parse().unwrap();
            let std_crf: f64 = encoded(tier).result["outputs"][0]["encoder"]["options"]
                .as_array()
                .unwrap()
                .iter()
                .find(|o| o["name"] == "crf")
                .map(|o| s(&o["value"]).parse().unwrap())
                .unwrap();
            if suffix.contains("hq") {
                assert!(crf < std_crf, "sophon-{id}: crf {crf} not below {tier}'s {std_crf}");
            }
            assert!(opt("x265-params").is_some(), "sophon-{id}: no x265-params: {enc:#}");
        }
    }
}
