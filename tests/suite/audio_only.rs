//! `crema encode` on audio-only sources: an AAC `.m4a` keeping tags and
//! cover, Matroska keeping the codec, an audio-only HLS ladder that the
//! package checker passes, and the waveform made in the same pass as the
//! encode (the same bytes as `crema waveform` on the same track).

use crate::common::*;
use std::path::Path;

fn format_tag(file: &Path, key: &str) -> String {
    let info = probe(file);
    let tags = &info["format"]["tags"];
    tags.as_object()
        .and_then(|m| m.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)))
        .map(|(_, v)| s(v).to_string())
        .unwrap_or_default()
}

fn cover_streams(file: &Path) -> Vec<serde_json::Value> {
    streams_of(&probe(file), "video").into_iter().filter(|v| v["disposition"]["attached_pic"] == 1).collect()
}

#[test]
fn an_audio_source_becomes_an_m4a_with_its_tags_and_cover_and_the_result_says_video_settings_were_ignored() {
    let dir = tempdir();
    let src = fixture("audio_cover.flac");
    let run = crema(&args!["encode", &src, "-p", "sophon-cortado", "--output-dir", dir.path(), "--json"]);
    let res = run.ok();
    // The default name of an audio source ends in .m4a.
    let out = dir.path().join("audio_cover.sophon-cortado.m4a");
    assert!(out.is_file(), "{}", run.describe());
    assert_eq!(s(&res["outputs"][0]["path"]), out.to_string_lossy());
    let warnings: Vec<&str> = res["warnings"].as_array().expect("warnings").iter().map(s).collect();
    assert!(warnings.iter().any(|w| w.contains("video settings") && w.contains("ignored")), "{warnings:?}");
    let info = probe(&out);
    let audio = streams_of(&info, "audio");
    assert_eq!(audio.len(), 1, "{info}");
    assert_eq!(s(&audio[0]["codec_name"]), "aac");
    assert_eq!(s(&info["format"]["tags"]["major_brand"]).trim(), "M4A");
    assert_eq!(format_tag(&out, "title"), "Crema Test Song");
    assert_eq!(format_tag(&out, "artist"), "Crema Fixtures");
    assert_eq!(cover_streams(&out).len(), 1, "the cover is kept: {info}");
    assert_duration_close(&out, 3.0, 0.05);
    // The output is still audio: a second encode of it is an audio encode too.
    let again = dir.path().join("again.m4a");
    let res = encode_ok(&out, "sophon-cortado", &again, &[]);
    assert_eq!(res["outputs"][0]["height"], 0);
}

#[test]
fn matroska_keeps_the_codec_and_the_cover_as_an_attachment() {
    let dir = tempdir();
    let out = dir.path().join("song.mka");
    encode_ok(&fixture("audio_cover.flac"), "sophon-cortado", &out, &[]);
    let info = probe(&out);
    let audio = streams_of(&info, "audio");
    assert_eq!((audio.len(), s(&audio[0]["codec_name"])), (1, "flac"), "{info}");
    let covers = cover_streams(&out);
    assert_eq!(covers.len(), 1, "{info}");
    assert_eq!(s(&covers[0]["tags"]["filename"]), "cover.jpg");
    assert_eq!(format_tag(&out, "title"), "Crema Test Song");
}

#[test]
fn vorbis_comments_of_an_ogg_song_become_the_m4a_tags() {
    let dir = tempdir();
    let out = dir.path().join("song.m4a");
    let src = shared_media("music_muldjord_chaos-god_song.ogg");
    // Only the first 20 s: enough for the tags, quick in a debug build.
    let short = dir.path().join("short.ogg");
    ffmpeg(&args!["-v", "error", "-i", &src, "-t", "20", "-c", "copy", &short]);
    encode_ok(&short, "sophon-cortado", &out, &[]);
    assert_eq!(format_tag(&out, "title"), "Chaos God");
    assert_eq!(format_tag(&out, "artist"), "Muldjord");
}

#[test]
fn hls_of_an_audio_source_is_an_aac_ladder_that_passes_the_checker() {
    let dir = tempdir();
    let out = dir.path().join("song.m4a");
    let run = crema(&args![
        "encode",
        fixture("audio_cover.flac"),
        "-p",
        "sophon-cortado",
        "--hls",
        "--output-dir",
        dir.path(),
        "--segment-seconds",
        "1",
        "--json"
    ]);
    let res = run.ok();
    assert!(!out.exists());
    let pkg = dir.path().join("audio_cover.sophon-cortado.hls");
    assert_eq!(res["outputs"][0]["kind"], "hls", "{res}");
    let report = hls_check_ok(&pkg);
    assert_eq!(report["variants"], 3, "{report}");
    let master = std::fs::read_to_string(pkg.join("master.m3u8")).expect("master");
    assert!(!master.contains("RESOLUTION") && master.matches("CODECS=\"mp4a.40.2\"").count() == 3, "{master}");
    for kbps in [64, 128, 192] {
        let init = pkg.join(format!("aac_{kbps}k/init.mp4"));
        let seg = pkg.join(format!("aac_{kbps}k/seg_00000.m4s"));
        assert!(init.is_file() && seg.is_file(), "{kbps}k: {:?}", list_dir(&pkg.join(format!("aac_{kbps}k"))));
    }
    let warnings: Vec<&str> = res["warnings"].as_array().expect("warnings").iter().map(s).collect();
    assert!(warnings.iter().any(|w| w.contains("rung heights do not apply")), "{warnings:?}");
}

#[test]
fn an_audio_only_file_with_no_readable_audio_has_nothing_to_encode() {
    let dir = tempdir();
    let run =
        crema(&args!["encode", fixture("audio_unreadable.ts"), "-p", "sophon-cortado", "--output-dir", dir.path()]);
    assert_eq!(run.code, 3, "{}", run.describe());
    assert!(run.stderr.contains("nothing to encode"), "{}", run.stderr);
    assert!(list_dir(dir.path()).is_empty());
}

/// `crema waveform INPUT -o OUT` bytes.
fn waveform_alone(input: &Path, out: &Path, track: Option<usize>) -> Vec<u8> {
    let mut a = args!["waveform", input, "-o", out];
    if let Some(t) = track {
        a.extend(args!["--track", t.to_string()]);
    }
    let run = crema(&a);
    assert_eq!(run.code, 0, "{}", run.describe());
    std::fs::read(out).expect("waveform")
}

#[test]
fn the_waveform_made_during_the_encode_is_the_one_crema_waveform_makes() {
    let dir = tempdir();
    // Transcoded (FLAC → AAC), copied (AAC into MP4) and beside a video encode.
    let cases: [(std::path::PathBuf, &str, &[&str]); 3] = [
        (fixture("audio_cover.flac"), "flac.m4a", &[]),
        (fixture("audio_only.m4a"), "aac.m4a", &[]),
        (fixture("h264_720p_2s.mp4"), "video.mp4", &["--audio"]),
    ];
    for (src, name, extra) in cases {
        let out = dir.path().join(name);
        let mut more = vec!["--waveform"];
        more.extend_from_slice(extra);
        let res = encode_ok(&src, "sophon-espresso", &out, &more);
        let dat = out.with_extension("dat");
        assert_eq!(s(&res["waveform"]["path"]), dat.to_string_lossy(), "{res}");
        let during = std::fs::read(&dat).expect("waveform beside the output");
        assert_eq!(res["waveform"]["bytes"].as_u64(), Some(during.len() as u64));
        let alone = waveform_alone(&src, &dir.path().join(format!("{name}.alone.dat")), None);
        assert_eq!(during, alone, "{name}: the encode's waveform differs from crema waveform's");
    }
    // A source without audio: the encode stands, the result says why there is no waveform.
    let out = dir.path().join("bikes.mp4");
    let res = encode_ok(&fixture("bikes.mp4"), "sophon-espresso", &out, &["--waveform", "--target-height", "144"]);
    assert!(res["waveform"].is_null(), "{res}");
    let warnings: Vec<&str> = res["warnings"].as_array().expect("warnings").iter().map(s).collect();
    assert!(warnings.iter().any(|w| w.contains("no waveform")), "{warnings:?}");
    assert!(!out.with_extension("dat").exists());
}

/// Every real file of `../shared/media` that is present, and the audio
/// codec fixtures (float WAV, FLAC, Opus, AC-3, E-AC-3, DTS, TrueHD), gives
/// a waveform whose header has the track's sample rate; an audio-only one
/// also encodes to `.m4a` with the same waveform made in the encode's pass.
/// Files absent here are skipped with the reason printed.
#[test]
fn every_real_file_present_gives_a_waveform() {
    let dir = tempdir();
    let shared = fixtures_dir().join("shared");
    let mut files: Vec<std::path::PathBuf> = match std::fs::read_dir(&shared) {
        Ok(rd) => rd.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|e| e != "md")).collect(),
        Err(e) => {
            println!("skipped ../shared/media: {} ({e}); run fixtures/prepare.sh to link it", shared.display());
            Vec::new()
        }
    };
    for name in [
        "audio_f32_stereo.wav",
        "audio_flac24.flac",
        "audio_opus.opus",
        "audio_ac3_51.ac3",
        "audio_eac3_51.eac3",
        "audio_dts_51.dts",
        "audio_truehd_51.thd",
        "audio_cover.flac",
    ] {
        let p = fixtures_dir().join(name);
        if p.is_file() { files.push(p) } else { println!("skipped {name}: not in the fixture cache") }
    }
    files.sort();
    let mut made = 0;
    for f in &files {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        let info = probe(f);
        let audio = streams_of(&info, "audio");
        let Some(first) = audio.iter().find(|a| num(&a["sample_rate"]).unwrap_or(0.0) > 0.0) else {
            println!("skipped {name}: no readable audio stream");
            continue;
        };
        let out = dir.path().join(format!("{name}.dat"));
        let run = crema(&args!["waveform", f, "-o", &out, "--json"]);
        assert_eq!(run.code, 0, "{name}: {}", run.describe());
        let dat = std::fs::read(&out).expect("waveform");
        let rate = i32::from_le_bytes(dat[8..12].try_into().unwrap());
        let length = u32::from_le_bytes(dat[16..20].try_into().unwrap());
        let rates: Vec<i32> = audio.iter().filter_map(|a| num(&a["sample_rate"])).map(|r| r as i32).collect();
        assert!(rates.contains(&rate) && length > 0, "{name}: {rate} Hz, {length} px (first track {first})");
        made += 1;
        if streams_of(&info, "video").iter().all(|v| v["disposition"]["attached_pic"] == 1) {
            let m4a = dir.path().join(format!("{name}.m4a"));
            let res = encode_ok(f, "sophon-cortado", &m4a, &["--waveform", "--overwrite"]);
            let during = std::fs::read(m4a.with_extension("dat")).expect("encode's waveform");
            assert_eq!(during, dat, "{name}: the encode's waveform differs: {res}");
        }
    }
    println!("{made} of {} files gave a waveform", files.len());
    assert!(made > 0, "no file to test: run fixtures/prepare.sh");
}
