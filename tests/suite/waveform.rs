//! `crema waveform` on real media: every source gives BBC audiowaveform
//! waveform data whose header and length follow from what FFmpeg decodes
//! (`doc/DataFormat.md` of bbc/audiowaveform); the errors are the documented
//! exit codes. The cross-check against BBC's own parser is in `waveform_js.rs`.

use crate::common::*;
use crema_engine::waveform::{self, Bits, Resolution, WaveformOptions, WaveformRequest};
use crema_engine::{CancelFlag, EngineError};
use std::path::{Path, PathBuf};

/// A source, the container stream index of the audio track to draw (the
/// default choice unless `track` is set) and what it holds.
struct Source {
    path: PathBuf,
    track: Option<usize>,
    index: usize,
    codec: &'static str,
    channels: u32,
    rate: u32,
}

fn src(path: PathBuf, track: Option<usize>, index: usize, codec: &'static str, channels: u32, rate: u32) -> Source {
    Source { path, track, index, codec, channels, rate }
}

fn sources() -> Vec<Source> {
    vec![
        src(shared_media("music_muldjord_chaos-god_song.ogg"), None, 0, "vorbis", 2, 44100),
        src(shared_media("audio_2tracks_aac5.1.mp4"), None, 0, "aac", 6, 48000),
        src(shared_media("audio_2tracks_aac5.1.mp4"), Some(1), 1, "aac", 6, 48000),
        src(shared_media("cam_1080p50_h264_pcm-sowt.mov"), None, 1, "pcm_s16le", 2, 48000),
        src(shared_media("dvb_576i25_mpeg2_mp2.ts"), None, 1, "mp2", 2, 48000),
        src(fixture("audio_f32_stereo.wav"), None, 0, "pcm_f32le", 2, 48000),
        src(fixture("audio_s16_mono.wav"), None, 0, "pcm_s16le", 1, 44100),
        src(fixture("audio_flac24.flac"), None, 0, "flac", 2, 48000),
        src(fixture("audio_opus.opus"), None, 0, "opus", 2, 48000),
        src(fixture("audio_ac3_51.ac3"), None, 0, "ac3", 6, 48000),
        src(fixture("audio_eac3_51.eac3"), None, 0, "eac3", 6, 48000),
        src(fixture("audio_dts_51.dts"), None, 0, "dts", 6, 48000),
        src(fixture("audio_truehd_51.thd"), None, 0, "truehd", 6, 48000),
        src(fixture("multi_audio.mkv"), Some(2), 2, "ac3", 6, 48000),
    ]
}

/// Samples per channel that the ffmpeg command line decodes from stream `index`.
fn decoded_samples(file: &Path, index: usize, channels: u32, dir: &Path) -> u64 {
    let raw = dir.join("samples.s16");
    ffmpeg(&args!["-v", "error", "-i", file, "-map", format!("0:{index}"), "-c:a", "pcm_s16le", "-f", "s16le", &raw]);
    let bytes = std::fs::metadata(&raw).expect("decoded samples").len();
    let _ = std::fs::remove_file(&raw);
    bytes / (2 * u64::from(channels))
}

fn le_i32(b: &[u8], at: usize) -> i32 {
    i32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

/// The .dat header fields: (version, flags, sample rate, samples per pixel, length, channels).
fn header(dat: &[u8]) -> (i32, i32, i32, i32, i32, i32) {
    let version = le_i32(dat, 0);
    let channels = if version == 2 { le_i32(dat, 20) } else { 1 };
    (version, le_i32(dat, 4), le_i32(dat, 8), le_i32(dat, 12), le_i32(dat, 16), channels)
}

fn waveform_run(s: &Source, out: &Path, extra: &[&str]) -> serde_json::Value {
    let mut a = args!["waveform", &s.path, "-o", out, "--json", "--overwrite"];
    if let Some(t) = s.track {
        a.extend(args!["--track", t.to_string()]);
    }
    a.extend(extra.iter().map(std::ffi::OsString::from));
    crema(&a).ok()
}

#[test]
fn every_source_gives_a_waveform_whose_header_and_length_follow_the_decoded_audio() {
    let dir = tempdir();
    for s in sources() {
        let name = s.path.file_name().unwrap().to_string_lossy().into_owned();
        let samples = decoded_samples(&s.path, s.index, s.channels, dir.path());
        assert!(samples > 0, "{name}: ffmpeg decoded nothing");

        // The default: mono mix, 256 samples per pixel, 8-bit, .dat version 1.
        let out = dir.path().join("mono.dat");
        let res = waveform_run(&s, &out, &[]);
        assert_eq!((res["track"].as_u64(), res["codec"].as_str()), (Some(s.index as u64), Some(s.codec)), "{name}");
        let dat = std::fs::read(&out).unwrap();
        let length = samples.div_ceil(256) as i32;
        assert_eq!(header(&dat), (1, 1, s.rate as i32, 256, length, 1), "{name}: header");
        assert_eq!(dat.len(), 20 + 2 * length as usize, "{name}: size");
        assert_eq!(res["length"], length, "{name}");
        let values: Vec<i8> = dat[20..].iter().map(|&b| b as i8).collect();
        assert!(values.chunks(2).all(|p| p[0] <= p[1]), "{name}: a min above its max");

        // Split channels, 16-bit: version 2 for several channels, data at byte 24.
        let out = dir.path().join("split.dat");
        waveform_run(&s, &out, &["--split-channels", "--bits", "16"]);
        let dat = std::fs::read(&out).unwrap();
        let (version, head) = if s.channels == 1 { (1, 20) } else { (2, 24) };
        assert_eq!(header(&dat), (version, 0, s.rate as i32, 256, length, s.channels as i32), "{name}: split header");
        assert_eq!(dat.len(), head + 4 * length as usize * s.channels as usize, "{name}: split size");
        // Real audio, not silence (the quietest source here peaks at -29 dBFS, about 1160).
        let peak = dat[head..].chunks_exact(2).map(|c| i32::from(i16::from_le_bytes([c[0], c[1]])).abs()).max();
        assert!(peak.unwrap_or(0) >= 300, "{name}: the waveform is (nearly) silent: peak {peak:?}/32768");
    }
}

#[test]
fn json_form_is_audiowaveforms_and_holds_the_same_values_as_the_dat() {
    let dir = tempdir();
    let s = src(shared_media("dvb_576i25_mpeg2_mp2.ts"), None, 1, "mp2", 2, 48000);
    for (flags, bits) in [(vec![], 8i64), (vec!["--split-channels", "--bits", "16"], 16)] {
        let (dat, json) = (dir.path().join("w.dat"), dir.path().join("w.json"));
        let _ = std::fs::remove_file(&dat);
        let _ = std::fs::remove_file(&json);
        waveform_run(&s, &dat, &flags);
        waveform_run(&s, &json, &flags);
        let text = std::fs::read_to_string(&json).unwrap();
        let dat = std::fs::read(&dat).unwrap();
        let (_, _, rate, spp, length, channels) = header(&dat);
        // Keys, order and spacing as audiowaveform's saveAsJson prints them; always version 2.
        let head = format!(
            "{{\"version\":2,\"channels\":{channels},\"sample_rate\":{rate},\"samples_per_pixel\":{spp},\"bits\":{bits},\"length\":{length},\"data\":["
        );
        assert!(text.starts_with(&head), "{text:.200}");
        assert!(text.ends_with("]}\n"));
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        let data: Vec<i64> = v["data"].as_array().unwrap().iter().map(|x| x.as_i64().unwrap()).collect();
        let from_dat: Vec<i64> = if bits == 8 {
            dat[20..].iter().map(|&b| i64::from(b as i8)).collect()
        } else {
            let start = if channels == 1 { 20 } else { 24 };
            dat[start..].chunks_exact(2).map(|c| i64::from(i16::from_le_bytes([c[0], c[1]]))).collect()
        };
        assert_eq!(data.len(), 2 * length as usize * channels as usize);
        assert_eq!(data, from_dat, "JSON and .dat values differ ({bits}-bit)");
    }
}

#[test]
fn resolution_by_pixels_per_second_divides_the_sample_rate() {
    let dir = tempdir();
    let s = src(fixture("audio_s16_mono.wav"), None, 0, "pcm_s16le", 1, 44100);
    let samples = decoded_samples(&s.path, 0, 1, dir.path());
    let out = dir.path().join("pps.dat");
    let res = waveform_run(&s, &out, &["--pixels-per-second", "20"]);
    assert_eq!(res["samples_per_pixel"], 2205, "44100 / 20");
    let dat = std::fs::read(&out).unwrap();
    assert_eq!(header(&dat), (1, 1, 44100, 2205, samples.div_ceil(2205) as i32, 1));
    let out = dir.path().join("spp.dat");
    waveform_run(&s, &out, &["--samples-per-pixel", "1000"]);
    assert_eq!(header(&std::fs::read(&out).unwrap()).3, 1000);
}

#[test]
fn default_output_is_the_inputs_stem_with_dat_beside_it() {
    let dir = tempdir();
    let input = dir.path().join("take 1.wav");
    std::fs::copy(fixture("audio_s16_mono.wav"), &input).unwrap();
    let run = crema(&args!["waveform", &input]);
    assert_eq!(run.code, 0, "{}", run.describe());
    let out = dir.path().join("take 1.dat");
    assert_eq!(header(&std::fs::read(&out).unwrap()).0, 1);
    assert!(run.stdout.contains("take 1.dat"), "{}", run.describe());
}

#[test]
fn errors_have_the_documented_exit_codes_and_leave_files_alone() {
    let dir = tempdir();
    let out = dir.path().join("w.dat");
    let wav = fixture("audio_s16_mono.wav");
    let err = |a: Vec<std::ffi::OsString>, code: i32| {
        let run = crema(&a);
        assert_eq!(run.code, code, "{}", run.describe());
        run
    };
    // No audio at all, and not media at all: 3 (input unsupported).
    let run = err(args!["waveform", fixture("bikes.mp4"), "-o", &out, "--json"], 3);
    assert_eq!(run.error()["code"], "unsupported_media");
    err(args!["waveform", fixture("text.mov"), "-o", &out], 3);
    // A track that is not audio (stream 0 is the video): 2, naming the audio tracks.
    let run = err(args!["waveform", shared_media("cam_1080p50_h264_pcm-sowt.mov"), "--track", "0", "-o", &out], 2);
    assert!(run.stderr.contains("audio tracks: 1"), "{}", run.describe());
    // Resolutions audiowaveform refuses: fewer than 2 samples per pixel.
    err(args!["waveform", &wav, "--samples-per-pixel", "1", "-o", &out], 2);
    err(args!["waveform", &wav, "--pixels-per-second", "30000", "-o", &out], 2);
    err(args!["waveform", &wav, "--bits", "12", "-o", &out], 2);
    err(args!["waveform", &wav, "-o", dir.path().join("w.png")], 2);
    assert!(!out.exists(), "a failed run wrote {}", out.display());
    // An existing output is kept unless --overwrite: 4 (output not writable).
    std::fs::write(&out, b"keep me").unwrap();
    err(args!["waveform", &wav, "-o", &out], 4);
    assert_eq!(std::fs::read(&out).unwrap(), b"keep me");
    err(args!["waveform", &wav, "-o", &out, "--overwrite"], 0);
    assert_eq!(header(&std::fs::read(&out).unwrap()).2, 44100);
    err(args!["waveform", &wav, "-o", dir.path().join("missing").join("w.dat")], 4);
    let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(leftovers, ["w.dat"], "no partial files");
}

#[test]
fn the_engine_stops_when_canceled_and_reports_progress() {
    let req = WaveformRequest {
        input: shared_media("music_muldjord_chaos-god_song.ogg"),
        track: None,
        options: WaveformOptions {
            resolution: Resolution::PixelsPerSecond(10),
            bits: Bits::Eight,
            split_channels: true,
        },
    };
    let cancel = CancelFlag::new();
    let mut seen = Vec::new();
    let res = waveform::generate(&req, &cancel, &mut |p| {
        seen.push(p);
        cancel.cancel();
    });
    assert!(matches!(res, Err(EngineError::Canceled)), "{res:?}");
    assert_eq!(seen.len(), 1, "no progress after the cancel");

    let mut seen = Vec::new();
    let g = waveform::generate(&req, &CancelFlag::new(), &mut |p| seen.push(p)).unwrap();
    let last = seen.last().expect("a final progress report");
    assert!(last.percent.unwrap() > 99.5, "{last:?}");
    assert!(seen.windows(2).all(|w| w[0].seconds_done <= w[1].seconds_done));
    let total = last.seconds_total.unwrap();
    assert!((183.0..184.0).contains(&total), "{total}");
    assert_eq!((g.waveform.channels(), g.waveform.samples_per_pixel()), (2, 4410));
    assert!((g.waveform.duration_seconds() - total).abs() < 0.2, "{}", g.waveform.duration_seconds());

    // An MPEG-TS clock starts at 19207 s: progress counts from the track's start.
    let req = WaveformRequest { input: shared_media("dvb_576i25_mpeg2_mp2.ts"), ..req };
    let mut seen = Vec::new();
    waveform::generate(&req, &CancelFlag::new(), &mut |p| seen.push(p)).unwrap();
    let last = seen.last().unwrap();
    assert!((last.seconds_done - last.seconds_total.unwrap()).abs() < 0.1, "{last:?}");
}
