//! HLS packaging against real packages made by FFmpeg's `hls` muxer.
//!
//! Each package is built with the `ffmpeg` CLI in the layout the pipeline
//! writes (one `hls` muxer run per rung and one for the audio rendition,
//! `{height}p/index.m3u8`, `audio/index.m3u8`), from 8 s of real street
//! footage (`street_432p12_h264_aac_30s.mp4`, 768x432, 12.5 fps, AAC; a
//! lavfi test pattern when the shared media folder is absent). The clean
//! package must pass the checker with zero violations; each broken copy must
//! make it name the rule.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crema_engine::EngineError;
use crema_engine::hls::codecs::{
    aac_codec_string, aac_codec_string_from_config, avc_codec_string, codec_string_from_parameters, hevc_codec_string,
};
use crema_engine::hls::{AudioRenditionSpec, CheckReport, MasterSummary, VariantSpec, check_package, write_master};
use ffmpeg_next as ffmpeg;
use m3u8_rs::{AlternativeMediaType, MasterPlaylist, MediaPlaylistType, Playlist};

const SEGMENT_SECONDS: &str = "2";
const CLIP_SECONDS: &str = "8";

/// The real footage, when the shared media folder is there.
fn source() -> Option<PathBuf> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/media/street_432p12_h264_aac_30s.mp4");
    path.exists().then_some(path)
}

/// Input arguments for ffmpeg: the real clip, or a lavfi pattern with a tone.
fn input_args() -> Vec<String> {
    match source() {
        Some(p) => vec!["-t".into(), CLIP_SECONDS.into(), "-i".into(), p.display().to_string()],
        None => vec![
            "-f".into(),
            "lavfi".into(),
            "-i".into(),
            format!("testsrc2=s=768x432:r=12.5:d={CLIP_SECONDS}"),
            "-f".into(),
            "lavfi".into(),
            "-i".into(),
            format!("sine=f=440:r=48000:d={CLIP_SECONDS}"),
        ],
    }
}

fn audio_map() -> &'static str {
    if source().is_some() { "0:a:0" } else { "1:a:0" }
}

fn ffmpeg_cli(dir: &Path, args: &[String]) {
    let status = Command::new("ffmpeg")
        .current_dir(dir)
        .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-y"])
        .args(args)
        .status()
        .expect("the ffmpeg CLI runs");
    assert!(status.success(), "ffmpeg {args:?} failed in {}", dir.display());
}

/// How a rung's segments are cut.
#[derive(Clone, Copy)]
enum Cut {
    /// Forced keyframes every 2 s, segments at keyframes: the good case.
    Aligned,
    /// Keyframes at 0, 2.4, 4.4 and 6.4 s: segment boundaries differ from
    /// the other rungs.
    Shifted,
    /// Keyframes every 3 s but `split_by_time`: segments that start on a
    /// P frame.
    SplitByTime,
    /// HEVC, a closed GOP of 2 s (x265 `keyint=min-keyint=25`,
    /// `scenecut=0`, `open-gop=0`): every segment starts with an IDR.
    HevcClosedGop,
    /// HEVC with x265's default open GOP: segments after the first start
    /// with a CRA picture, a key frame that is not an IDR.
    HevcOpenGop,
}

/// Encodes one H.264 rung with the `hls` muxer into `{package}/{height}p`.
fn encode_rung(package: &Path, height: u32, cut: Cut, segment_type: &str, single_file: bool) {
    let dir = package.join(format!("{height}p"));
    std::fs::create_dir_all(&dir).unwrap();
    let keyframes = match cut {
        Cut::Aligned => "expr:gte(t,n_forced*2)",
        Cut::Shifted => "0,2.4,4.4,6.4",
        Cut::SplitByTime => "expr:gte(t,n_forced*3)",
        Cut::HevcClosedGop | Cut::HevcOpenGop => "",
    };
    let mut args = input_args();
    let ext = if segment_type == "fmp4" { "m4s" } else { "ts" };
    args.extend(["-map", "0:v:0", "-vf", &format!("scale=-2:{height}")].map(String::from));
    let x265 = |extra: &str| format!("keyint=25:min-keyint=25:scenecut=0{extra}:log-level=error");
    let encoder: Vec<String> = match cut {
        Cut::HevcClosedGop | Cut::HevcOpenGop => {
            let params = x265(if let Cut::HevcClosedGop = cut { ":open-gop=0" } else { "" });
            ["-c:v", "libx265", "-preset", "veryfast", "-crf", "30", "-tag:v", "hvc1", "-x265-params", &params]
                .map(String::from)
                .to_vec()
        }
        _ => [
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-crf",
            "28",
            "-profile:v",
            "high",
            "-force_key_frames",
            keyframes,
            "-sc_threshold",
            "0",
        ]
        .map(String::from)
        .to_vec(),
    };
    args.extend(encoder);
    args.extend(
        [
            "-an",
            "-f",
            "hls",
            "-hls_time",
            SEGMENT_SECONDS,
            "-hls_playlist_type",
            "vod",
            "-hls_segment_type",
            segment_type,
            "-hls_fmp4_init_filename",
            "init.mp4",
            "-hls_segment_filename",
            &segment_filename(ext, single_file),
        ]
        .map(String::from),
    );
    if let Cut::SplitByTime = cut {
        args.extend(["-hls_flags", "split_by_time"].map(String::from));
    }
    if single_file {
        args.extend(["-hls_flags", "single_file"].map(String::from));
    }
    args.push("index.m3u8".into());
    ffmpeg_cli(&dir, &args);
}

/// Encodes the shared AAC rendition into `{package}/audio`.
fn encode_audio(package: &Path, segment_type: &str, single_file: bool) {
    let dir = package.join("audio");
    std::fs::create_dir_all(&dir).unwrap();
    let ext = if segment_type == "fmp4" { "m4s" } else { "ts" };
    let mut args = input_args();
    args.extend(
        [
            "-map",
            audio_map(),
            "-vn",
            "-c:a",
            "aac",
            "-b:a",
            "96k",
            "-ac",
            "2",
            "-f",
            "hls",
            "-hls_time",
            SEGMENT_SECONDS,
            "-hls_playlist_type",
            "vod",
            "-hls_segment_type",
            segment_type,
            "-hls_fmp4_init_filename",
            "init.mp4",
            "-hls_segment_filename",
            &segment_filename(ext, single_file),
        ]
        .map(String::from),
    );
    if single_file {
        args.extend(["-hls_flags", "single_file"].map(String::from));
    }
    args.push("index.m3u8".into());
    ffmpeg_cli(&dir, &args);
}

/// `seg_%05d.m4s`, or one `media.m4s` holding every segment as byte ranges
/// (`hls_flags single_file`: EXT-X-BYTERANGE and a BYTERANGE EXT-X-MAP).
fn segment_filename(ext: &str, single_file: bool) -> String {
    if single_file { format!("media.{ext}") } else { format!("seg_%05d.{ext}") }
}

/// A package built once per test binary; tests work on copies.
struct Fixture {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

fn build(rungs: &[(u32, Cut)], segment_type: &str) -> Fixture {
    build_with(rungs, segment_type, false)
}

fn build_with(rungs: &[(u32, Cut)], segment_type: &str, single_file: bool) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    for &(height, cut) in rungs {
        encode_rung(&path, height, cut, segment_type, single_file);
    }
    encode_audio(&path, segment_type, single_file);
    Fixture { _dir: dir, path }
}

fn base_fmp4() -> &'static Path {
    static F: OnceLock<Fixture> = OnceLock::new();
    &F.get_or_init(|| build(&[(360, Cut::Aligned), (240, Cut::Aligned)], "fmp4")).path
}

/// A copy of `fixture` in a fresh temporary folder, to break at will.
fn copy_of(fixture: &Path) -> tempfile::TempDir {
    fn copy_dir(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            let target = to.join(entry.file_name());
            if entry.file_type().unwrap().is_dir() {
                copy_dir(&entry.path(), &target);
            } else {
                std::fs::copy(entry.path(), &target).unwrap();
            }
        }
    }
    let dir = tempfile::tempdir().unwrap();
    copy_dir(fixture, dir.path());
    dir
}

/// What the pipeline knows about a rung after encoding: read here from the
/// rung's init segment (or first TS segment) through libavformat.
fn variant_spec(package: &Path, dir_name: &str) -> VariantSpec {
    let dir = package.join(dir_name);
    let probe = ["init.mp4", "seg_00000.ts", "media.m4s", "media.ts"]
        .iter()
        .map(|name| dir.join(name))
        .find(|p| p.exists())
        .expect("an init segment or first segment");
    crema_engine::init().unwrap();
    let ictx = ffmpeg::format::input(&probe).unwrap();
    let stream = ictx.streams().best(ffmpeg::media::Type::Video).unwrap();
    let params = stream.parameters();
    let decoder = ffmpeg::codec::Context::from_parameters(params.clone()).unwrap().decoder().video().unwrap();
    VariantSpec {
        dir_name: dir_name.to_string(),
        width: decoder.width(),
        height: decoder.height(),
        frame_rate: 12.5,
        video_codec: codec_string_from_parameters(&params).expect("H.264/HEVC codec string"),
        video_range: None,
    }
}

fn audio_spec() -> AudioRenditionSpec {
    AudioRenditionSpec {
        dir_name: "audio".into(),
        codec: aac_codec_string(1),
        language: Some("eng".into()),
        name: "English".into(),
        channels: 2,
    }
}

fn package_master(package: &Path, rungs: &[&str]) -> MasterSummary {
    let variants: Vec<VariantSpec> = rungs.iter().map(|r| variant_spec(package, r)).collect();
    write_master(package, &variants, Some(&audio_spec())).expect("write_master")
}

fn parse_master(package: &Path) -> MasterPlaylist {
    let bytes = std::fs::read(package.join("master.m3u8")).unwrap();
    match m3u8_rs::parse_playlist_res(&bytes) {
        Ok(Playlist::MasterPlaylist(m)) => m,
        other => panic!("master.m3u8 does not parse as a master playlist: {other:?}"),
    }
}

fn check(package: &Path) -> CheckReport {
    let report = check_package(package).expect("check_package runs");
    eprintln!("{report}");
    report
}

fn edit(path: &Path, f: impl FnOnce(String) -> String) {
    let text = std::fs::read_to_string(path).unwrap();
    let changed = f(text.clone());
    assert_ne!(text, changed, "the edit of {} changed nothing", path.display());
    std::fs::write(path, changed).unwrap();
}

#[test]
fn master_declares_measured_bandwidth_codecs_and_renditions() {
    let pkg = copy_of(base_fmp4());
    let summary = package_master(pkg.path(), &["360p", "240p"]);
    let master = parse_master(pkg.path());

    assert!(master.independent_segments);
    assert_eq!(master.version, Some(7), "fMP4 media playlists are version 7");
    assert_eq!(master.variants.len(), 2);
    // Low bit rates: the variant nearest 2000 kbit/s is the highest one, so
    // the order is simply descending.
    assert_eq!(master.variants[0].uri, "360p/index.m3u8");
    assert_eq!(master.variants[1].uri, "240p/index.m3u8");
    assert!(master.variants[0].bandwidth > master.variants[1].bandwidth);

    let audio = summary.audio.as_ref().expect("audio measured");
    assert_eq!(audio.segments, 5, "8 s of AAC in 2 s segments leaves a short fifth one");
    for (variant, declared) in master.variants.iter().zip(&summary.variants) {
        let spec = variant_spec(pkg.path(), &declared.dir_name);
        assert_eq!(variant.bandwidth, declared.bandwidth);
        assert_eq!(declared.bandwidth, declared.video.peak_bps + audio.peak_bps);
        assert_eq!(variant.average_bandwidth, Some(declared.video.average_bps + audio.average_bps));
        assert_eq!(variant.codecs.as_deref(), Some(format!("{},mp4a.40.2", spec.video_codec).as_str()));
        assert!(spec.video_codec.starts_with("avc1.6400"), "High profile: {}", spec.video_codec);
        let res = variant.resolution.unwrap();
        assert_eq!((res.width, res.height), (u64::from(spec.width), u64::from(spec.height)));
        assert_eq!(variant.frame_rate, Some(12.5));
        assert_eq!(variant.audio.as_deref(), Some("audio"));
        assert!(variant.other_attributes.is_none(), "no VIDEO-RANGE when not given");
        assert_eq!(declared.video.segments, 4);
        assert!((declared.video.duration_s - 8.0).abs() < 0.1);

        // Independent measurement: every full segment's bits / EXTINF is at
        // most the declared video peak, and the largest equals it.
        let dir = pkg.path().join(&declared.dir_name);
        let bytes = std::fs::read(dir.join("index.m3u8")).unwrap();
        let media = m3u8_rs::parse_media_playlist_res(&bytes).unwrap();
        let max_rate = media
            .segments
            .iter()
            .map(|s| std::fs::metadata(dir.join(&s.uri)).unwrap().len() as f64 * 8.0 / f64::from(s.duration))
            .fold(0.0, f64::max);
        assert_eq!(declared.video.peak_bps, max_rate.ceil() as u64);
        // The media playlists were completed for the checker.
        assert!(media.independent_segments);
        assert_eq!(media.playlist_type, Some(MediaPlaylistType::Vod));
        assert!(media.end_list);
    }

    assert_eq!(master.alternatives.len(), 1);
    let a = &master.alternatives[0];
    assert_eq!(a.media_type, AlternativeMediaType::Audio);
    assert_eq!(a.group_id, "audio");
    assert_eq!(a.language.as_deref(), Some("en"), "ISO 639-2 eng becomes the RFC 5646 tag en");
    assert_eq!(a.name, "English");
    assert!(a.default && a.autoselect);
    assert_eq!(a.uri.as_deref(), Some("audio/index.m3u8"));
    assert_eq!(a.channels.as_deref(), Some("2"));
}

#[test]
fn clean_fmp4_package_has_no_violations() {
    let pkg = copy_of(base_fmp4());
    package_master(pkg.path(), &["360p", "240p"]);
    for playlist in ["master.m3u8", "360p/index.m3u8", "audio/index.m3u8"] {
        eprintln!("--- {playlist}\n{}", std::fs::read_to_string(pkg.path().join(playlist)).unwrap());
    }
    let report = check(pkg.path());
    assert!(report.is_ok(), "violations:\n{report}");
    assert_eq!(report.variants, 2);
    assert_eq!(report.audio_renditions, 1);
    assert_eq!(report.segments, 4 + 4 + 5);
    assert!(report.to_string().starts_with("ok: 2 variant(s)"));
}

#[test]
fn clean_mpegts_package_has_no_violations() {
    let fixture = build(&[(360, Cut::Aligned), (240, Cut::Aligned)], "mpegts");
    let summary = package_master(&fixture.path, &["360p", "240p"]);
    let master = parse_master(&fixture.path);
    assert!(master.version.unwrap() >= 3);
    assert!(summary.variants.iter().all(|v| v.bandwidth > 0));
    let report = check(&fixture.path);
    assert!(report.is_ok(), "violations:\n{report}");
}

#[test]
fn byte_range_package_is_measured_and_checked_by_range() {
    let fixture = build_with(&[(360, Cut::Aligned), (240, Cut::Aligned)], "fmp4", true);
    let summary = package_master(&fixture.path, &["360p", "240p"]);
    // Every segment is a sub-range of one media.m4s: the measured bytes are
    // the ranges, not the whole file.
    for v in &summary.variants {
        let dir = fixture.path.join(&v.dir_name);
        let text = std::fs::read_to_string(dir.join("index.m3u8")).unwrap();
        assert!(text.contains("#EXT-X-BYTERANGE:"), "{text}");
        let media = m3u8_rs::parse_media_playlist_res(text.as_bytes()).unwrap();
        let ranges: u64 = media.segments.iter().map(|s| s.byte_range.as_ref().unwrap().length).sum();
        assert_eq!(v.video.bytes, ranges);
        assert!(v.video.bytes < std::fs::metadata(dir.join("media.m4s")).unwrap().len());
    }
    let report = check(&fixture.path);
    assert!(report.is_ok(), "violations:\n{report}");
}

#[test]
fn libavformat_hls_demuxer_plays_the_master() {
    let pkg = copy_of(base_fmp4());
    package_master(pkg.path(), &["360p", "240p"]);
    crema_engine::init().unwrap();
    let mut ictx = ffmpeg::format::input(&pkg.path().join("master.m3u8")).expect("the hls demuxer opens master.m3u8");
    assert_eq!(ictx.format().name(), "hls");
    let kinds: Vec<ffmpeg::media::Type> = ictx.streams().map(|s| s.parameters().medium()).collect();
    assert!(kinds.contains(&ffmpeg::media::Type::Video));
    assert!(kinds.contains(&ffmpeg::media::Type::Audio));
    let (mut video, mut audio) = (0, 0);
    for (stream, _packet) in ictx.packets().take(400) {
        match stream.parameters().medium() {
            ffmpeg::media::Type::Video => video += 1,
            ffmpeg::media::Type::Audio => audio += 1,
            _ => {}
        }
    }
    assert!(video >= 50 && audio >= 50, "read {video} video and {audio} audio packets");
}

#[test]
fn checker_flags_a_missing_segment() {
    let pkg = copy_of(base_fmp4());
    package_master(pkg.path(), &["360p", "240p"]);
    std::fs::remove_file(pkg.path().join("240p/seg_00002.m4s")).unwrap();
    let report = check(pkg.path());
    let v = report.violations.iter().find(|v| v.rule == "segment.missing").expect("segment.missing");
    assert_eq!(v.location, "240p/seg_00002.m4s");
}

#[test]
fn checker_flags_a_too_small_target_duration() {
    let pkg = copy_of(base_fmp4());
    package_master(pkg.path(), &["360p", "240p"]);
    edit(&pkg.path().join("360p/index.m3u8"), |t| t.replace("#EXT-X-TARGETDURATION:2", "#EXT-X-TARGETDURATION:1"));
    let report = check(pkg.path());
    assert!(report.has("media.target-duration"));
    assert!(report.has("media.target-duration-mismatch"));
    let v = report.violations.iter().find(|v| v.rule == "media.target-duration").unwrap();
    assert_eq!(v.spec, "RFC 8216 §4.3.3.1");
    assert_eq!(v.location, "360p/index.m3u8");
}

#[test]
fn checker_flags_unaligned_keyframes() {
    let fixture = build(&[(360, Cut::Aligned), (240, Cut::Shifted)], "fmp4");
    package_master(&fixture.path, &["360p", "240p"]);
    let report = check(&fixture.path);
    let v = report.violations.iter().find(|v| v.rule == "align.keyframes").expect("align.keyframes");
    assert_eq!(v.location, "240p/index.m3u8");
    assert!(v.spec.contains("Apple HLS Authoring Spec 8.22"));
}

#[test]
fn checker_flags_segments_that_do_not_start_with_a_keyframe() {
    let fixture = build(&[(360, Cut::Aligned), (240, Cut::SplitByTime)], "fmp4");
    package_master(&fixture.path, &["360p", "240p"]);
    let report = check(&fixture.path);
    let idr: Vec<_> = report.violations.iter().filter(|v| v.rule == "segment.idr-start").collect();
    assert!(!idr.is_empty(), "segment.idr-start expected");
    assert!(idr.iter().all(|v| v.location.starts_with("240p/")));
    assert_eq!(idr[0].spec, "Apple HLS Authoring Spec 7.4");
}

#[test]
fn hevc_closed_gop_package_is_clean_and_open_gop_is_flagged() {
    let closed = build(&[(360, Cut::HevcClosedGop), (240, Cut::HevcClosedGop)], "fmp4");
    let summary = package_master(&closed.path, &["360p", "240p"]);
    let master = parse_master(&closed.path);
    let codecs = master.variants[0].codecs.clone().unwrap();
    assert!(codecs.starts_with("hvc1.1.6.L") && codecs.ends_with(",mp4a.40.2"), "{codecs}");
    assert_eq!(summary.variants.len(), 2);
    let report = check(&closed.path);
    assert!(report.is_ok(), "violations:\n{report}");

    let open = build(&[(360, Cut::HevcOpenGop), (240, Cut::HevcOpenGop)], "fmp4");
    package_master(&open.path, &["360p", "240p"]);
    let report = check(&open.path);
    let idr: Vec<_> = report.violations.iter().filter(|v| v.rule == "segment.idr-start").collect();
    assert!(!idr.is_empty(), "CRA-started segments must be flagged:\n{report}");
    assert!(idr[0].message.contains("not an IDR"), "{}", idr[0].message);
}

#[test]
fn checker_flags_a_missing_language() {
    let pkg = copy_of(base_fmp4());
    package_master(pkg.path(), &["360p", "240p"]);
    edit(&pkg.path().join("master.m3u8"), |t| t.replace("LANGUAGE=\"en\",", ""));
    let report = check(pkg.path());
    assert!(report.has("audio.language"));
    assert_eq!(report.violations.len(), 1, "only the language is wrong:\n{report}");
}

#[test]
fn checker_flags_wrong_master_attributes() {
    let pkg = copy_of(base_fmp4());
    let summary = package_master(pkg.path(), &["360p", "240p"]);
    let top = &summary.variants[0];
    edit(&pkg.path().join("master.m3u8"), |t| {
        t.replace(&format!("BANDWIDTH={},", top.bandwidth), &format!("BANDWIDTH={},", top.bandwidth / 2))
            .replace(&format!("AVERAGE-BANDWIDTH={},", top.average_bandwidth), "")
            .replacen("CODECS=\"avc1.", "CODECS=\"avc1.42E01E,x", 1)
            .replace("#EXT-X-INDEPENDENT-SEGMENTS\n", "")
            .replacen("RESOLUTION=640x360", "RESOLUTION=1280x720", 1)
    });
    let report = check(pkg.path());
    for rule in [
        "variant.bandwidth-peak",
        "variant.average-bandwidth-missing",
        "variant.codecs-mismatch",
        "master.independent-segments",
        "variant.resolution-mismatch",
    ] {
        assert!(report.has(rule), "{rule} expected in:\n{report}");
    }
    // Overstating by more than 10% is caught too (Apple 1.27).
    edit(&pkg.path().join("master.m3u8"), |t| {
        t.replace(&format!("BANDWIDTH={},", top.bandwidth / 2), &format!("BANDWIDTH={},", top.bandwidth * 2))
    });
    assert!(check(pkg.path()).has("variant.bandwidth-overstated"));
}

#[test]
fn checker_reports_a_missing_master_as_a_violation() {
    let pkg = copy_of(base_fmp4());
    let report = check(pkg.path());
    assert!(report.has("master.parse"));
    assert!(matches!(check_package(&pkg.path().join("no-such-folder")), Err(EngineError::InputUnreadable { .. })));
}

#[test]
fn write_master_rejects_bad_requests() {
    let pkg = copy_of(base_fmp4());
    assert!(matches!(write_master(pkg.path(), &[], None), Err(EngineError::Usage(_))));
    let mut spec = variant_spec(pkg.path(), "360p");
    spec.dir_name = "1080p".into();
    let err = write_master(pkg.path(), &[spec], None).unwrap_err();
    assert!(matches!(err, EngineError::Encode { .. }), "{err}");
    assert!(err.to_string().contains("1080p"), "{err}");
}

/// Codec strings from real encoder output: the `avcC`/`hvcC` the MP4 muxer
/// stores and the Annex-B parameter sets of a raw elementary stream must
/// give the same string.
#[test]
fn codec_strings_from_real_encodes() {
    crema_engine::init().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let encode = |name: &str, args: &[&str]| -> PathBuf {
        let mut all: Vec<String> = ["-f", "lavfi", "-i", "testsrc2=s=1280x720:r=25:d=0.2"].map(String::from).to_vec();
        all.extend(args.iter().map(|s| s.to_string()));
        all.push(name.into());
        ffmpeg_cli(dir.path(), &all);
        dir.path().join(name)
    };
    let from_mp4 = |path: &Path| -> (Option<String>, Vec<u8>) {
        let ictx = ffmpeg::format::input(&path).unwrap();
        let stream = ictx.streams().best(ffmpeg::media::Type::Video).unwrap();
        let params = stream.parameters();
        // SAFETY: reads the extradata of a live stream's codec parameters.
        let extradata = unsafe {
            let p = &*params.as_ptr();
            std::slice::from_raw_parts(p.extradata, p.extradata_size as usize).to_vec()
        };
        (codec_string_from_parameters(&params), extradata)
    };

    let x264 = ["-c:v", "libx264", "-profile:v", "high", "-level", "4.0"];
    let (avc, avcc) = from_mp4(&encode("x264.mp4", &x264));
    assert_eq!(avc.as_deref(), Some("avc1.640028"));
    assert_eq!(avcc[0], 1, "MP4 stores an avcC record");
    let raw = std::fs::read(encode("x264.h264", &x264)).unwrap();
    assert_eq!(avc_codec_string(&raw[..raw.len().min(4096)]).as_deref(), Some("avc1.640028"));

    let x265 = ["-c:v", "libx265", "-tag:v", "hvc1", "-x265-params", "log-level=error"];
    let (hevc, hvcc) = from_mp4(&encode("x265.mp4", &x265));
    let hevc = hevc.unwrap();
    assert!(hevc.starts_with("hvc1.1.6.L"), "{hevc}");
    assert_eq!(hevc_codec_string(&hvcc).as_deref(), Some(hevc.as_str()));
    let raw = std::fs::read(encode("x265.hevc", &["-c:v", "libx265", "-x265-params", "log-level=error"])).unwrap();
    assert_eq!(hevc_codec_string(&raw[..raw.len().min(8192)]).as_deref(), Some(hevc.as_str()));

    let main10 = [
        "-c:v",
        "libx265",
        "-pix_fmt",
        "yuv420p10le",
        "-profile:v",
        "main10",
        "-tag:v",
        "hvc1",
        "-x265-params",
        "log-level=error",
    ];
    let (hevc10, _) = from_mp4(&encode("x265m10.mp4", &main10));
    assert!(hevc10.unwrap().starts_with("hvc1.2.4.L"));

    // AAC-LC: from the profile and from the AudioSpecificConfig.
    let m4a = dir.path().join("a.m4a");
    ffmpeg_cli(dir.path(), &["-f", "lavfi", "-i", "sine=d=0.5", "-c:a", "aac", "a.m4a"].map(String::from));
    let ictx = ffmpeg::format::input(&m4a).unwrap();
    let params = ictx.streams().best(ffmpeg::media::Type::Audio).unwrap().parameters();
    assert_eq!(codec_string_from_parameters(&params).as_deref(), Some("mp4a.40.2"));
    // SAFETY: as above.
    let asc = unsafe {
        let p = &*params.as_ptr();
        std::slice::from_raw_parts(p.extradata, p.extradata_size as usize).to_vec()
    };
    assert_eq!(aac_codec_string_from_config(&asc).as_deref(), Some("mp4a.40.2"));
}
