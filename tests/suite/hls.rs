//! HLS ladders: `crema hls check` passes on every package made here and fails
//! on broken ones; libavformat's HLS demuxer reads them and every rung
//! decodes; keyframes line up across rungs and open every segment; taller
//! rungs are dropped; HEVC ladders are fMP4 with `hvc1`; one AAC rendition
//! with LANGUAGE; `--keep-mp4` writes the progressive file.

use crate::common::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A package made once per process and shared by the tests that only read it
/// (in cargo's scratch folder for this target, replaced on every run).
struct Package {
    hls: PathBuf,
    keep_mp4: PathBuf,
    result: Value,
}

/// 2.4 s of the 1080p ProRes fixture, ladder 1080/720/480/360, 2 s segments,
/// audio, `--keep-mp4 720`.
fn ladder_1080() -> &'static Package {
    static P: Shared<Package> = Shared::new();
    P.get(|| {
        let src = derived("prores_1080p_2.4s.mov", |p| trim_copy(&fixture("prores_hq_1080p25_10bit.mov"), 2.4, p));
        let out = scratch_dir().join("ladder_1080");
        let _ = std::fs::remove_dir_all(&out);
        std::fs::create_dir(&out).unwrap();
        let r = crema(&args![
            "encode",
            &src,
            "-p",
            "sophon-espresso",
            "--output-dir",
            &out,
            "--hls",
            "--renditions",
            "1080,720,480,360",
            "--segment-seconds",
            "2",
            "--audio",
            "--keep-mp4",
            "720",
            "--json"
        ]);
        let result = r.ok();
        let hls = out.join("prores_1080p_2.4s.sophon-espresso.hls");
        let keep_mp4 = out.join("prores_1080p_2.4s.sophon-espresso.720p.mp4");
        assert!(hls.join("master.m3u8").is_file(), "no master playlist; folder: {:?}\n{}", walk(&out), r.describe());
        assert_no_partials(&out);
        assert_eq!(list_dir(&out).len(), 2, "{:?}", list_dir(&out));
        Package { hls, keep_mp4, result }
    })
}

/// `#EXT-X-STREAM-INF` / `#EXT-X-MEDIA` attribute lists and URIs of a master playlist.
struct Master {
    variants: Vec<(BTreeMap<String, String>, String)>,
    media: Vec<BTreeMap<String, String>>,
    text: String,
}

fn attrs(list: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let (mut key, mut val, mut in_key, mut quoted) = (String::new(), String::new(), true, false);
    for c in list.chars().chain(std::iter::once(',')) {
        match c {
            '=' if in_key => in_key = false,
            '"' if !in_key => quoted = !quoted,
            ',' if !quoted => {
                if !key.is_empty() {
                    out.insert(std::mem::take(&mut key), std::mem::take(&mut val));
                }
                in_key = true;
            }
            c if in_key => key.push(c),
            c => val.push(c),
        }
    }
    out
}

fn read_master(hls: &Path) -> Master {
    let text = std::fs::read_to_string(hls.join("master.m3u8")).expect("read master.m3u8");
    let lines: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    let mut variants = Vec::new();
    let mut media = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        if let Some(a) = l.strip_prefix("#EXT-X-STREAM-INF:") {
            variants.push((attrs(a), lines.get(i + 1).copied().unwrap_or("").to_string()));
        } else if let Some(a) = l.strip_prefix("#EXT-X-MEDIA:") {
            media.push(attrs(a));
        }
    }
    Master { variants, media, text }
}

/// Segment file names of a media playlist, in order.
fn segments(playlist: &Path) -> Vec<String> {
    std::fs::read_to_string(playlist)
        .expect("read media playlist")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect()
}

/// Rung folders of a package (`1080p`, `720p`, ...), from the master playlist.
fn rung_dirs(hls: &Path) -> Vec<PathBuf> {
    read_master(hls).variants.iter().map(|(_, uri)| hls.join(uri).parent().unwrap().to_path_buf()).collect()
}

/// `ffmpeg -v error -i PLAYLIST -f null -`: exit 0 and nothing on stderr.
fn assert_decodes_cleanly(playlist: &Path, map: &str) {
    let r = run_program(
        "ffmpeg",
        &args!["-hide_banner", "-nostdin", "-v", "error", "-i", playlist, "-map", map, "-f", "null", "-"],
    );
    assert_eq!(r.code, 0, "{} does not decode\n{}", playlist.display(), r.describe());
    assert!(r.stderr.trim().is_empty(), "{} decodes with errors\n{}", playlist.display(), r.describe());
}

/// Keyframe times of a rung (through the HLS demuxer), and whether every
/// segment (init + segment, on its own) starts with a keyframe.
fn rung_keyframes(rung: &Path, scratch: &Path) -> (Vec<f64>, Vec<String>) {
    let packets = video_packets(&rung.join("index.m3u8"));
    let kf: Vec<f64> = packets.iter().filter(|p| p.1).map(|p| (p.0 * 1000.0).round() / 1000.0).collect();
    let mut bad = Vec::new();
    if packets.first().is_some_and(|p| !p.1) {
        bad.push(format!("{}: the first picture is not a keyframe", rung.display()));
    }
    let init = std::fs::read(rung.join("init.mp4")).expect("init.mp4");
    for seg in segments(&rung.join("index.m3u8")) {
        let mut data = init.clone();
        data.extend(std::fs::read(rung.join(&seg)).expect("segment"));
        let joined = scratch.join(format!("{}-{seg}.mp4", rung.file_name().unwrap().to_string_lossy()));
        std::fs::write(&joined, data).unwrap();
        let v = ffprobe_json(
            &joined,
            &["-select_streams", "v:0", "-show_entries", "packet=pts_time,flags", "-read_intervals", "%+#1"],
        );
        let first = v["packets"].as_array().and_then(|a| a.first()).cloned().unwrap_or_default();
        if !s(&first["flags"]).contains('K') {
            bad.push(format!("{}/{seg}: first packet {first}", rung.display()));
        }
    }
    (kf, bad)
}

// ---------------------------------------------------------------------------
// the 1080p H.264 ladder
// ---------------------------------------------------------------------------

#[test]
fn ladder_1080p_passes_hls_check() {
    let p = ladder_1080();
    let report = hls_check_ok(&p.hls);
    assert_eq!(report["variants"], 4, "{report:#}");
    assert_eq!(report["audio_renditions"], 1, "{report:#}");
    let hls_out = p.result["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["kind"] == "hls")
        .cloned()
        .expect("hls output in result");
    let heights: Vec<u64> =
        hls_out["renditions"].as_array().unwrap().iter().map(|r| r["height"].as_u64().unwrap()).collect();
    assert_eq!(heights, vec![1080, 720, 480, 360]);
    let m = read_master(&p.hls);
    let mut res: Vec<String> =
        m.variants.iter().map(|(a, _)| a.get("RESOLUTION").cloned().unwrap_or_default()).collect();
    res.sort();
    assert_eq!(res, vec!["1280x720", "1920x1080", "640x360", "854x480"], "{}", m.text);
    for (a, uri) in &m.variants {
        assert!(a["CODECS"].contains("avc1.") && a["CODECS"].contains("mp4a.40.2"), "{uri}: {a:?}");
        assert!(a.contains_key("AVERAGE-BANDWIDTH") && a.contains_key("FRAME-RATE"), "{uri}: {a:?}");
    }
    assert!(m.text.contains("#EXT-X-INDEPENDENT-SEGMENTS"), "{}", m.text);
    // 2.4 s in 2 s segments: two per rung, each playlist a finished VOD.
    for rung in rung_dirs(&p.hls) {
        let pl = std::fs::read_to_string(rung.join("index.m3u8")).unwrap();
        assert!(pl.contains("#EXT-X-PLAYLIST-TYPE:VOD") && pl.contains("#EXT-X-ENDLIST"), "{pl}");
        assert!(pl.contains("#EXT-X-TARGETDURATION:2"), "{pl}");
        assert_eq!(segments(&rung.join("index.m3u8")).len(), 2, "{pl}");
    }
}

#[test]
fn ladder_1080p_is_read_by_libavformat_and_every_rung_decodes() {
    let p = ladder_1080();
    let info = probe(&p.hls.join("master.m3u8"));
    let mut heights: Vec<u64> = streams_of(&info, "video").iter().map(|v| v["height"].as_u64().unwrap()).collect();
    heights.sort();
    heights.dedup();
    assert_eq!(heights, vec![360, 480, 720, 1080], "HLS demuxer sees: {info:#}");
    assert!(!streams_of(&info, "audio").is_empty(), "no audio through the master playlist");
    for rung in rung_dirs(&p.hls) {
        assert_decodes_cleanly(&rung.join("index.m3u8"), "0:v:0");
        let v = video_stream(&rung.join("index.m3u8"));
        assert_eq!(s(&v["codec_name"]), "h264", "{v:#}");
        let d = format_duration(&rung.join("index.m3u8"));
        assert!((d - 2.4).abs() <= 0.05, "{}: duration {d}", rung.display());
    }
    assert_decodes_cleanly(&p.hls.join("audio").join("index.m3u8"), "0:a:0");
    assert_decodes_cleanly(&p.hls.join("master.m3u8"), "0");
}

#[test]
fn ladder_1080p_keyframes_align_and_open_every_segment() {
    let p = ladder_1080();
    let scratch = tempdir();
    let mut all = Vec::new();
    let mut bad = Vec::new();
    for rung in rung_dirs(&p.hls) {
        let (kf, b) = rung_keyframes(&rung, scratch.path());
        bad.extend(b);
        all.push((rung.file_name().unwrap().to_string_lossy().into_owned(), kf));
    }
    assert!(bad.is_empty(), "segments not starting with a keyframe:\n{}", bad.join("\n"));
    let first = &all[0].1;
    assert_eq!(first.len(), 2, "2.4 s in 2 s segments: keyframes of {}: {first:?}", all[0].0);
    assert!((first[1] - first[0] - 2.0).abs() < 0.021, "keyframes of {} are not 2 s apart: {first:?}", all[0].0);
    for (name, kf) in &all[1..] {
        assert_eq!(kf, first, "keyframes of {name} differ from {}", all[0].0);
    }
    // Segment counts agree too.
    let counts: Vec<usize> = rung_dirs(&p.hls).iter().map(|r| segments(&r.join("index.m3u8")).len()).collect();
    assert!(counts.windows(2).all(|w| w[0] == w[1]), "segment counts {counts:?}");
}

#[test]
fn ladder_1080p_has_one_aac_audio_rendition_with_language() {
    let p = ladder_1080();
    let m = read_master(&p.hls);
    let audio: Vec<_> = m.media.iter().filter(|a| a.get("TYPE").map(String::as_str) == Some("AUDIO")).collect();
    assert_eq!(audio.len(), 1, "{}", m.text);
    let a = audio[0];
    assert!(a.get("LANGUAGE").is_some_and(|l| !l.is_empty()), "no LANGUAGE: {a:?}");
    let group = a.get("GROUP-ID").cloned().unwrap_or_default();
    for (v, uri) in &m.variants {
        assert_eq!(v.get("AUDIO"), Some(&group), "{uri} does not use the audio group");
    }
    let uri = a.get("URI").expect("audio URI");
    let st = streams_of(&probe(&p.hls.join(uri)), "audio");
    assert_eq!(st.len(), 1);
    assert_eq!(s(&st[0]["codec_name"]), "aac");
    assert_eq!(st[0]["channels"].as_u64(), Some(2));
}

#[test]
fn keep_mp4_writes_the_720p_rung_as_a_progressive_file() {
    let p = ladder_1080();
    assert!(p.keep_mp4.is_file(), "{} missing", p.keep_mp4.display());
    let out = p.result["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["kind"] == "hls_mp4")
        .cloned()
        .expect("hls_mp4 output");
    assert_eq!(Path::new(s(&out["path"])), p.keep_mp4.as_path());
    assert_eq!(out["bytes"].as_u64(), Some(std::fs::metadata(&p.keep_mp4).unwrap().len()));
    let info = probe(&p.keep_mp4);
    let v = &streams_of(&info, "video")[0];
    assert_eq!((v["width"].as_u64(), v["height"].as_u64()), (Some(1280), Some(720)));
    assert_eq!(streams_of(&info, "audio").len(), 1);
    let boxes = mp4_top_boxes(&p.keep_mp4);
    assert!(
        boxes.iter().position(|b| b == "moov") < boxes.iter().position(|b| b == "mdat"),
        "not faststart: {boxes:?}"
    );
    assert!(!boxes.iter().any(|b| b == "moof"), "fragmented, not progressive: {boxes:?}");
    assert_duration_close(&p.keep_mp4, 2.4, 0.04);
    assert_decodes_cleanly(&p.keep_mp4, "0");
}

#[test]
fn hls_check_reports_broken_packages() {
    let p = ladder_1080();
    let copy = |name: &str| -> (TempDir, PathBuf) {
        let d = tempdir();
        let dst = d.path().join(name);
        let r = run_program("cp", &args!["-a", &p.hls, &dst]);
        assert_eq!(r.code, 0, "{}", r.describe());
        (d, dst)
    };
    // A segment deleted.
    let (_d1, pkg) = copy("missing.hls");
    let seg = pkg.join("480p").join(&segments(&pkg.join("480p/index.m3u8"))[1]);
    std::fs::remove_file(&seg).unwrap();
    let (code, rules, r) = hls_check_violations(&pkg);
    assert_eq!(code, 1, "{}", r.describe());
    assert!(rules.iter().any(|x| x == "segment.missing"), "rules {rules:?}\n{}", r.describe());

    // TARGETDURATION edited below the longest segment.
    let (_d2, pkg) = copy("target.hls");
    let pl = pkg.join("720p/index.m3u8");
    let text = std::fs::read_to_string(&pl).unwrap();
    assert!(text.contains("#EXT-X-TARGETDURATION:2"));
    std::fs::write(&pl, text.replace("#EXT-X-TARGETDURATION:2", "#EXT-X-TARGETDURATION:1")).unwrap();
    let (code, rules, r) = hls_check_violations(&pkg);
    assert_eq!(code, 1, "{}", r.describe());
    assert!(rules.iter().any(|x| x.starts_with("media.target-duration")), "rules {rules:?}\n{}", r.describe());

    // BANDWIDTH understated in the master playlist.
    let (_d3, pkg) = copy("bandwidth.hls");
    let m = pkg.join("master.m3u8");
    let text = std::fs::read_to_string(&m).unwrap();
    let fixed = text
        .lines()
        .map(|l| match l.strip_prefix("#EXT-X-STREAM-INF:") {
            Some(a) => {
                let bw: u64 = attrs(a)["BANDWIDTH"].parse().unwrap();
                l.replacen(&format!("BANDWIDTH={bw},"), &format!("BANDWIDTH={},", bw / 2), 1)
            }
            None => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n");
    assert_ne!(fixed, text);
    std::fs::write(&m, fixed + "\n").unwrap();
    let (code, rules, r) = hls_check_violations(&pkg);
    assert_eq!(code, 1, "{}", r.describe());
    assert!(rules.iter().any(|x| x == "variant.bandwidth-peak"), "rules {rules:?}\n{}", r.describe());

    // The original still passes.
    hls_check_ok(&p.hls);
}

// ---------------------------------------------------------------------------
// other ladders
// ---------------------------------------------------------------------------

#[test]
fn rungs_taller_than_the_source_are_dropped() {
    let dir = tempdir();
    let src = fixture("h264_720p_2s.mp4");
    let out = dir.path().join("ladder.mp4");
    let r = crema(&args![
        "encode",
        &src,
        "-p",
        "sophon-espresso",
        "-o",
        &out,
        "--hls",
        "--renditions",
        "1080,720,360",
        "--segment-seconds",
        "2",
        "--json"
    ]);
    let res = r.ok();
    let hls = dir.path().join("ladder.hls");
    hls_check_ok(&hls);
    let m = read_master(&hls);
    let mut res_list: Vec<String> = m.variants.iter().map(|(a, _)| a["RESOLUTION"].clone()).collect();
    res_list.sort();
    assert_eq!(res_list, vec!["1280x720", "640x360"], "{}", m.text);
    assert!(!hls.join("1080p").exists(), "a 1080p rung was made from a 720p source");
    let notices = res["notices"].as_array().unwrap();
    assert!(notices.iter().any(|n| s(n).contains("1080")), "no notice about the dropped rung: {notices:?}");
    // -o with --hls also writes the file.
    assert_hevc(&out, "Main", "yuv420p");
    for rung in rung_dirs(&hls) {
        assert_decodes_cleanly(&rung.join("index.m3u8"), "0:v:0");
    }
}

#[test]
fn hevc_ladder_is_fmp4_with_hvc1_and_language() {
    let dir = tempdir();
    let src = fixture("multi_audio.mkv"); // 720p, eng AAC default + fra AC-3 + deu PCM
    let r = crema(&args![
        "encode",
        &src,
        "-p",
        "sophon-espresso",
        "--output-dir",
        dir.path(),
        "--hls",
        "--hls-codec",
        "hevc",
        "--renditions",
        "720,360",
        "--segment-seconds",
        "1",
        "--audio",
        "--json"
    ]);
    r.ok();
    let hls = dir.path().join("multi_audio.sophon-espresso.hls");
    hls_check_ok(&hls);
    let m = read_master(&hls);
    assert_eq!(m.variants.len(), 2, "{}", m.text);
    for (a, uri) in &m.variants {
        assert!(a["CODECS"].starts_with("hvc1.") || a["CODECS"].contains(",hvc1."), "{uri}: CODECS {}", a["CODECS"]);
        assert!(!a["CODECS"].contains("hev1"), "{uri}: {}", a["CODECS"]);
    }
    for rung in rung_dirs(&hls) {
        let init = rung.join("init.mp4");
        assert!(init.is_file(), "no fMP4 init segment in {}", rung.display());
        assert!(
            file_contains(&init, b"hvc1") && file_contains(&init, b"hvcC"),
            "{}: no hvc1/hvcC sample entry",
            init.display()
        );
        assert!(segments(&rung.join("index.m3u8")).iter().all(|s| s.ends_with(".m4s")), "not fMP4 segments");
        let v = video_stream(&rung.join("index.m3u8"));
        assert_eq!(s(&v["codec_name"]), "hevc");
        assert_eq!(s(&v["codec_tag_string"]), "hvc1", "{v:#}");
        assert_decodes_cleanly(&rung.join("index.m3u8"), "0:v:0");
    }
    let audio: Vec<_> = m.media.iter().filter(|a| a.get("TYPE").map(String::as_str) == Some("AUDIO")).collect();
    assert_eq!(audio.len(), 1, "{}", m.text);
    // RFC 5646 (HLS LANGUAGE): "en", or the ISO 639-2 code as it was.
    let lang = audio[0].get("LANGUAGE").map(String::as_str);
    assert!(matches!(lang, Some("en" | "eng")), "the default track is English: {:?}", audio[0]);
    // Keyframes aligned and opening every segment here too.
    let scratch = tempdir();
    let (a, bad_a) = rung_keyframes(&hls.join("720p"), scratch.path());
    let (b, bad_b) = rung_keyframes(&hls.join("360p"), scratch.path());
    assert!(bad_a.is_empty() && bad_b.is_empty(), "{bad_a:?} {bad_b:?}");
    assert_eq!(a, b);
}

// ---------------------------------------------------------------------------
// VFR and HDR sources
// ---------------------------------------------------------------------------

/// FRAME-RATE of every variant.
fn frame_rates(m: &Master) -> Vec<f64> {
    m.variants.iter().map(|(a, _)| a.get("FRAME-RATE").and_then(|f| f.parse().ok()).unwrap_or(0.0)).collect()
}

/// RFC 8216 §4.3.4.2: FRAME-RATE is "the maximum frame rate for all the
/// video in the Variant Stream". The VFR phone fixture runs at 30 fps (15 fps
/// for one second, ±2 ms jitter): its variants must say ~30, and the package
/// must pass `crema hls check`.
///
/// Fails today: the master says FRAME-RATE=26.193 (the average) and
/// `crema hls check` reports variant.frame-rate-mismatch ("the video runs at
/// 29.955 fps") on this package Crema made.
#[test]
fn vfr_phone_ladder_passes_check_with_maximum_frame_rate() {
    let dir = tempdir();
    let r = crema(&args![
        "encode",
        fixture("vfr_phone.mp4"),
        "-p",
        "sophon-espresso",
        "--output-dir",
        dir.path(),
        "--hls",
        "--renditions",
        "360,240",
        "--segment-seconds",
        "2",
        "--audio",
        "--json"
    ]);
    r.ok();
    let hls = dir.path().join("vfr_phone.sophon-espresso.hls");
    let m = read_master(&hls);
    for rung in rung_dirs(&hls) {
        assert_decodes_cleanly(&rung.join("index.m3u8"), "0:v:0");
    }
    let (ck, rules, run) = hls_check_violations(&hls);
    assert!(ck == 0 && rules.is_empty(), "crema hls check fails on a package Crema made:\n{}\n{}", run.stdout, m.text);
    for f in frame_rates(&m) {
        assert!((29.9..=32.0).contains(&f), "FRAME-RATE {f} is not the maximum frame rate (30)\n{}", m.text);
    }
}

fn hdr_hevc_ladder(src: &Path, range: &str, transfer: &str) {
    let dir = tempdir();
    let r = crema(&args![
        "encode",
        src,
        "-p",
        "sophon-espresso-10bit",
        "--output-dir",
        dir.path(),
        "--hls",
        "--hls-codec",
        "hevc",
        "--renditions",
        "360,240",
        "--segment-seconds",
        "1",
        "--json"
    ]);
    r.ok();
    let stem = src.file_stem().unwrap().to_string_lossy();
    let hls = dir.path().join(format!("{stem}.sophon-espresso-10bit.hls"));
    let m = read_master(&hls);
    for (a, uri) in &m.variants {
        assert_eq!(a.get("VIDEO-RANGE").map(String::as_str), Some(range), "{uri}: {a:?}");
        assert!(a["CODECS"].starts_with("hvc1.2."), "{uri}: Main 10 is general_profile_idc 2: {}", a["CODECS"]);
    }
    for rung in rung_dirs(&hls) {
        let v = video_stream(&rung.join("index.m3u8"));
        assert_eq!((s(&v["profile"]), s(&v["pix_fmt"])), ("Main 10", "yuv420p10le"), "{v:#}");
        assert_eq!(s(&v["color_transfer"]), transfer, "{v:#}");
        assert_eq!(s(&v["color_primaries"]), "bt2020", "{v:#}");
        assert_decodes_cleanly(&rung.join("index.m3u8"), "0:v:0");
    }
    let (ck, rules, run) = hls_check_violations(&hls);
    assert!(ck == 0 && rules.is_empty(), "crema hls check fails on a package Crema made:\n{}\n{}", run.stdout, m.text);
}

/// Fails today only on `crema hls check`: this real clip is VFR (one
/// dropped frame) and the master's FRAME-RATE is its average, 27.521.
#[test]
fn hevc_ladder_of_hdr_pq_source_signals_pq() {
    hdr_hevc_ladder(&shared_media("hdr10plus_1080p30_hevc-main10_pq_mdcv_cll.mp4"), "PQ", "smpte2084");
}

/// Fails today only on `crema hls check`: the clip runs at 15 then 30 fps and
/// the master's FRAME-RATE is its average, 27.659.
#[test]
fn hevc_ladder_of_hdr_hlg_source_signals_hlg() {
    let dir = tempdir();
    let src = dir.path().join("hlg.mp4");
    trim_copy(&shared_media("hlg_1080p_hevc-main10_videoonly.mp4"), 1.2, &src);
    hdr_hevc_ladder(&src, "HLG", "arib-std-b67");
}

/// An H.264 ladder is 8-bit SDR whatever the profile: with a 10-bit profile
/// and a PQ source its rungs must be tone-mapped, not PQ code values labelled
/// BT.709.
///
/// Fails today: the rungs are tagged bt709 and VIDEO-RANGE=SDR, but their
/// pictures match the untouched PQ signal (SSIM ~0.98) better than a
/// tone-mapped reference (~0.90): the tone-mapping filters are chosen from the
/// profile's bit depth (10), not the ladder's (8).
#[test]
fn h264_ladder_of_hdr_source_with_10bit_profile_is_tone_mapped() {
    let dir = tempdir();
    let src = shared_media("hdr10plus_1080p30_hevc-main10_pq_mdcv_cll.mp4");
    let r = crema(&args![
        "encode",
        &src,
        "-p",
        "sophon-espresso-10bit",
        "--output-dir",
        dir.path(),
        "--hls",
        "--renditions",
        "360,240",
        "--segment-seconds",
        "1",
        "--json"
    ]);
    r.ok();
    let hls = dir.path().join("hdr10plus_1080p30_hevc-main10_pq_mdcv_cll.sophon-espresso-10bit.hls");
    let m = read_master(&hls);
    for (a, uri) in &m.variants {
        assert_eq!(a.get("VIDEO-RANGE").map(String::as_str), Some("SDR"), "{uri}: {a:?}");
        assert!(a["CODECS"].starts_with("avc1."), "{uri}: {a:?}");
    }
    let pl = hls.join("360p").join("index.m3u8");
    let v = video_stream(&pl);
    assert_eq!((s(&v["codec_name"]), s(&v["pix_fmt"])), ("h264", "yuv420p"), "{v:#}");
    assert_eq!(s(&v["color_transfer"]), "bt709", "{v:#}");
    const TONE_MAP: &str = "zscale=t=linear:npl=100,format=gbrpf32le,zscale=p=bt709,\
                            tonemap=tonemap=hable:desat=0,zscale=t=bt709:m=bt709:r=tv,format=yuv420p,";
    let mapped = ssim_pre(&pl, &src, TONE_MAP);
    let untouched = ssim(&pl, &src);
    assert!(
        mapped > 0.95 && mapped > untouched,
        "360p rung: SSIM {mapped:.4} against a tone-mapped reference, {untouched:.4} against the untouched PQ signal: not tone-mapped"
    );
    let (ck, rules, run) = hls_check_violations(&hls);
    assert!(ck == 0 && rules.is_empty(), "crema hls check fails on a package Crema made:\n{}\n{}", run.stdout, m.text);
}

/// A broadcast capture: interlaced MPEG-2 whose video starts 0.8 s after
/// its audio and 19207 s into the transport stream's clock. Segments must
/// still be cut on the requested duration (the keyframe grid starts at the
/// first frame, in the deinterlacer's time base), the audio rendition must
/// start with the video, and the package must pass the checker.
#[test]
fn broadcast_ts_ladder_keeps_the_segment_duration_and_starts_audio_with_video() {
    let dir = tempdir();
    let src = shared_media("dvb_576i25_mpeg2_mp2.ts");
    let out = dir.path().join("dvb.mp4");
    crema(&args![
        "encode",
        &src,
        "-p",
        "sophon-espresso",
        "-o",
        &out,
        "--hls",
        "--audio",
        "--renditions",
        "576,360",
        "--segment-seconds",
        "1",
        "--json"
    ])
    .ok();
    let hls = dir.path().join("dvb.hls");
    hls_check_ok(&hls);
    let playlist = std::fs::read_to_string(hls.join("576p/index.m3u8")).unwrap();
    assert!(playlist.contains("#EXT-X-TARGETDURATION:1\n"), "{playlist}");
    let durations: Vec<f64> = playlist
        .lines()
        .filter_map(|l| l.strip_prefix("#EXTINF:"))
        .map(|l| l.trim_end_matches(',').split(',').next().unwrap().parse().unwrap())
        .collect();
    assert!(durations.len() >= 3, "{playlist}");
    for d in &durations[..durations.len() - 1] {
        assert!((d - 1.0).abs() < 0.05, "segment of {d} s with --segment-seconds 1: {playlist}");
    }
    // Every rendition's timeline starts at its first sample (no edit lists;
    // see crates/crema-engine/tests/av_start.rs), so "the audio starts with
    // the video" shows as an audio rendition no longer than the video: with
    // the 0.8 s of audio before the first picture it would be 0.8 s longer.
    let total = |r: &str| -> f64 {
        let text = std::fs::read_to_string(hls.join(r).join("index.m3u8")).unwrap();
        text.lines()
            .filter_map(|l| l.strip_prefix("#EXTINF:"))
            .map(|l| l.split(',').next().unwrap().parse::<f64>().unwrap())
            .sum()
    };
    let (video, audio) = (total("576p"), total("audio"));
    assert!(
        audio <= video + 2.0 * 1024.0 / 48000.0,
        "audio rendition {audio} s, video {video} s: audio before the first picture kept"
    );
}

/// At most 8 distinct rung heights (the engine's rule, shared with the
/// service): 289 heights once took the server to 3.2 GB. Refused before
/// anything is read or written; duplicates count once.
#[test]
fn more_than_eight_rungs_are_refused_with_exit_2() {
    let dir = tempdir();
    let src = fixture("h264_720p_2s.mp4");
    let nine = "1080,900,720,576,480,360,288,240,144";
    let r = crema(&args![
        "encode",
        &src,
        "-p",
        "sophon-espresso",
        "--output-dir",
        dir.path(),
        "--hls",
        "--renditions",
        nine
    ]);
    assert_eq!(r.code, 2, "{}", r.describe());
    assert!(r.stderr.contains("--renditions: at most 8 distinct heights per ladder, got 9"), "{}", r.describe());
    assert!(list_dir(dir.path()).is_empty(), "{:?}", walk(dir.path()));
    let r = crema(&args![
        "encode",
        &src,
        "-p",
        "sophon-espresso",
        "--output-dir",
        dir.path(),
        "--hls",
        "--segment-seconds",
        "30"
    ]);
    assert_eq!(r.code, 2, "{}", r.describe());
    assert!(r.stderr.contains("--segment-seconds: must be 1..20 seconds, got 30"), "{}", r.describe());
}
