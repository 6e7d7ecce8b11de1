//! Cross-check of `crema waveform` against an independent implementation:
//! BBC's `waveform-data` 4.5.2 for Node (the parser peaks.js uses), run by
//! `tests/waveform-js/check.mjs`.
//!
//! For each source and option set, waveform-data must parse the file Crema
//! wrote (`.dat` v1/v2 and JSON) with the right channels, sample rate, scale
//! and length, and its `createFromAudio` on the same decoded samples
//! (float32, decoded by the ffmpeg command line with the same libavcodec)
//! must agree with every min and max within the tolerance:
//!
//! - 1 LSB for 8-bit data, and for 16-bit data per channel: Crema truncates
//!   `x × 32767` toward zero (audiowaveform), waveform-data floors `x × 32767`
//!   (8-bit: `x × 127`);
//! - 2 LSB for a 16-bit mono mix of several channels: audiowaveform
//!   truncates each channel before the integer mean and the mean again,
//!   waveform-data floors the float mean once.
//!
//! Skipped, with the reason printed, when `node` is not installed.

use crate::common::*;
use std::path::{Path, PathBuf};
use std::process::Command;

fn js_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join("waveform-js")
}

/// `node` is there and waveform-data is installed (`npm ci` from the lock file when missing).
fn node_ready() -> Result<(), String> {
    match Command::new("node").arg("--version").output() {
        Ok(o) if o.status.success() => {}
        _ => return Err("node is not installed (apt-get install nodejs npm)".into()),
    }
    if js_dir().join("node_modules").join("waveform-data").join("package.json").is_file() {
        return Ok(());
    }
    let out = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(js_dir())
        .output()
        .map_err(|e| format!("node is installed but npm cannot be run: {e}"))?;
    assert!(
        out.status.success(),
        "npm ci in tests/waveform-js failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

struct Source {
    path: PathBuf,
    /// Container stream index of the audio track.
    index: usize,
    channels: u32,
    rate: u32,
}

fn sources() -> Vec<Source> {
    let s = |path, index, channels, rate| Source { path, index, channels, rate };
    vec![
        s(shared_media("music_muldjord_chaos-god_song.ogg"), 0, 2, 44100),
        s(shared_media("audio_2tracks_aac5.1.mp4"), 1, 6, 48000),
        s(shared_media("cam_1080p50_h264_pcm-sowt.mov"), 1, 2, 48000),
        s(shared_media("dvb_576i25_mpeg2_mp2.ts"), 1, 2, 48000),
        s(fixture("audio_f32_stereo.wav"), 0, 2, 48000),
        s(fixture("audio_s16_mono.wav"), 0, 1, 44100),
        s(fixture("audio_flac24.flac"), 0, 2, 48000),
        s(fixture("audio_opus.opus"), 0, 2, 48000),
        s(fixture("audio_ac3_51.ac3"), 0, 6, 48000),
        s(fixture("audio_eac3_51.eac3"), 0, 6, 48000),
        s(fixture("audio_dts_51.dts"), 0, 6, 48000),
        s(fixture("audio_truehd_51.thd"), 0, 6, 48000),
    ]
}

/// (file extension, crema flags, split, bits, samples per pixel for a 44.1/48 kHz source)
fn variants(rate: u32) -> Vec<(&'static str, Vec<&'static str>, bool, u32, u32)> {
    vec![
        ("dat", vec![], false, 8, 256),
        ("dat", vec!["--split-channels"], true, 8, 256),
        ("json", vec!["--bits", "16"], false, 16, 256),
        ("dat", vec!["--split-channels", "--bits", "16"], true, 16, 256),
        ("json", vec!["--pixels-per-second", "20", "--split-channels"], true, 8, rate / 20),
    ]
}

#[test]
fn waveform_data_parses_every_file_and_create_from_audio_agrees() {
    if let Err(why) = node_ready() {
        println!("skipped: {why}");
        return;
    }
    let dir = tempdir();
    let mut cases = Vec::new();
    for (si, s) in sources().iter().enumerate() {
        let samples = dir.path().join(format!("s{si}.f32"));
        ffmpeg(&args![
            "-v",
            "error",
            "-i",
            &s.path,
            "-map",
            format!("0:{}", s.index),
            "-c:a",
            "pcm_f32le",
            "-f",
            "f32le",
            &samples
        ]);
        let frames = std::fs::metadata(&samples).unwrap().len() / (4 * u64::from(s.channels));
        for (vi, (ext, flags, split, bits, spp)) in variants(s.rate).into_iter().enumerate() {
            let out = dir.path().join(format!("s{si}v{vi}.{ext}"));
            let mut a = args!["waveform", &s.path, "--track", s.index.to_string(), "-o", &out, "--json"];
            a.extend(flags.iter().map(std::ffi::OsString::from));
            crema(&a).ok();
            let channels = if split { s.channels } else { 1 };
            let tolerance = if bits == 16 && !split && s.channels > 1 { 2 } else { 1 };
            cases.push(serde_json::json!({
                "name": format!("{} {}", s.path.file_name().unwrap().to_string_lossy(), flags.join(" ")),
                "file": out,
                "expect": {"channels": channels, "sample_rate": s.rate, "scale": spp, "bits": bits,
                           "length": frames.div_ceil(u64::from(spp))},
                "reference": {"samples": samples, "channels": s.channels, "sample_rate": s.rate,
                              "split_channels": split, "tolerance": tolerance},
            }));
        }
    }
    let manifest = dir.path().join("cases.json");
    std::fs::write(&manifest, serde_json::to_vec(&serde_json::json!({ "cases": cases })).unwrap()).unwrap();
    let run = run_program("node", &args![js_dir().join("check.mjs"), &manifest]);
    let lines = run.json_lines();
    assert_eq!(lines.len(), cases.len(), "one report per case\n{}", run.describe());
    for l in &lines {
        println!("{}: max difference {} LSB over {} values", l["name"], l["max_diff"], l["values_compared"]);
    }
    let failed: Vec<_> = lines.iter().filter(|l| l["ok"] != true).collect();
    assert!(failed.is_empty(), "waveform-data disagrees:\n{failed:#?}\n{}", run.describe());
    assert_eq!(run.code, 0, "{}", run.describe());
    // The comparison is not vacuous: every case compared values.
    assert!(lines.iter().all(|l| l["values_compared"].as_u64().unwrap_or(0) > 0));
}
