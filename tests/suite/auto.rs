//! `sophon-auto`: a probe-based, measured choice of a concrete 8-bit profile;
//! the original is kept when encoding would not make it smaller; HDR is
//! tone-mapped to SDR.

use crate::common::*;
use serde_json::Value;

/// The concrete built-in profiles and their bit depths, from `crema profiles --json`.
fn profile_depths() -> Vec<(String, u64)> {
    let r = crema(&["profiles", "--json"]);
    assert_eq!(r.code, 0, "{}", r.describe());
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    v.as_array().unwrap().iter().map(|p| (s(&p["id"]).to_string(), p["bit_depth"].as_u64().unwrap_or(0))).collect()
}

fn assert_concrete_8bit(result: &Value) {
    let eff = s(&result["effective_profile_id"]).to_string();
    assert_ne!(eff, "sophon-auto", "{result:#}");
    let depths = profile_depths();
    let depth = depths.iter().find(|(id, _)| *id == eff).map(|d| d.1);
    assert_eq!(depth, Some(8), "effective profile {eff} is not a concrete 8-bit profile ({depths:?})");
    assert_eq!(result["profile"], "sophon-auto");
    assert!(!s(&result["profile_reason"]).is_empty(), "no profile_reason: {result:#}");
}

/// Temporary sample folders of one crema process left in the system temp dir.
fn sample_dirs_of(pid_hint: &str) -> Vec<String> {
    list_dir(&std::env::temp_dir()).into_iter().filter(|n| n.starts_with(&format!("crema-sample-{pid_hint}"))).collect()
}

#[test]
fn auto_on_prores_master_encodes_with_a_concrete_8bit_profile() {
    let dir = tempdir();
    let src = dir.path().join("master.mov");
    trim_copy(&fixture("prores_hq_1080p25_10bit.mov"), 1.2, &src);
    let out = dir.path().join("auto.mp4");
    let res = encode_ok(&src, "sophon-auto", &out, &["--target-height", "480"]);
    assert_concrete_8bit(&res);
    assert_eq!(res["final_artifact"], "encoded", "{res:#}");
    let saved = num(&res["saved_percent"]).unwrap();
    assert!(saved > 0.0 && saved <= 100.0, "saved_percent {saved}");
    let src_bytes = std::fs::metadata(&src).unwrap().len() as f64;
    let out_bytes = std::fs::metadata(&out).unwrap().len() as f64;
    let expect = (1.0 - out_bytes / src_bytes) * 100.0;
    assert!((saved - expect).abs() < 0.2, "saved_percent {saved} but the files say {expect:.2}");
    assert_hevc(&out, "Main", "yuv420p");
    assert_eq!(list_dir(dir.path()), vec!["auto.mp4", "master.mov"]);
}

/// Makes a very low bit-rate HEVC clip (`libx265 -crf 40`) of `seconds` of
/// `src` at 240p.
fn tiny_hevc(src: &std::path::Path, seconds: f64, out: &std::path::Path) {
    ffmpeg(&args![
        "-v",
        "error",
        "-i",
        src,
        "-t",
        format!("{seconds}"),
        "-vf",
        "scale=-2:240",
        "-c:v",
        "libx265",
        "-crf",
        "40",
        "-x265-params",
        "log-level=error",
        "-an",
        out
    ]);
}

/// An already tiny HEVC file: the original is kept, nothing is written.
/// Two lengths: a 2 s clip (short enough that the engine measures the full
/// encode) and an 8 s one (decided by a sample encode from its middle).
#[test]
fn auto_keeps_the_original_of_an_already_tiny_hevc_file() {
    let dir = tempdir();
    let short = dir.path().join("tiny_2s.mp4");
    tiny_hevc(&fixture("h264_720p_2s.mp4"), 2.0, &short);
    let long = dir.path().join("tiny_8s.mp4");
    tiny_hevc(&shared_media("street_432p12_h264_aac_30s.mp4"), 8.0, &long);
    for src in [short, long] {
        let out_dir = dir.path().join("out");
        std::fs::create_dir_all(&out_dir).unwrap();
        let out = out_dir.join("tiny.auto.mp4");
        let r = crema(&args!["encode", &src, "-p", "sophon-auto", "-o", &out, "--json"]);
        let res = r.ok();
        assert_concrete_8bit(&res);
        assert_eq!(res["final_artifact"], "original", "{}: {res:#}", src.display());
        // Decided by measuring an encode (sample or whole), not by a guess.
        let why = s(&res["profile_reason"]);
        assert!(why.contains("sample") || why.contains("saved"), "not a measured decision: {why}");
        assert_eq!(num(&res["saved_percent"]), Some(0.0), "{res:#}");
        assert_eq!(res["outputs"].as_array().map(Vec::len), Some(0), "{res:#}");
        assert!(!out.exists(), "an output was written although the original is kept");
        assert!(list_dir(&out_dir).is_empty(), "left in the output folder: {:?}", list_dir(&out_dir));
        // The sample encode's temporary folder (named after crema's pid) is gone too.
        let left = sample_dirs_of(&format!("{}-", r.pid));
        assert!(left.is_empty(), "sample folders left in {}: {left:?}", std::env::temp_dir().display());
    }
}

#[test]
fn auto_tone_maps_hdr_pq_to_8bit_bt709() {
    let dir = tempdir();
    let src = shared_media("hdr10plus_1080p30_hevc-main10_pq_mdcv_cll.mp4");
    let out = dir.path().join("pq.auto.mp4");
    let res = encode_ok(&src, "sophon-auto", &out, &["--target-height", "360"]);
    assert_concrete_8bit(&res);
    assert_eq!(res["final_artifact"], "encoded", "{res:#}");
    let v = assert_hevc(&out, "Main", "yuv420p");
    assert_eq!(s(&v["color_transfer"]), "bt709", "{v:#}");
    assert_eq!(s(&v["color_primaries"]), "bt709", "{v:#}");
    assert_eq!(s(&v["color_space"]), "bt709", "{v:#}");
    let f = first_frame(&out, "v:0");
    assert!(side_data(&f, "Mastering display metadata").is_none(), "HDR mastering metadata left on SDR output: {f:#}");
    assert!(side_data(&f, "Content light level metadata").is_none(), "HDR CLL metadata left on SDR output: {f:#}");
}
