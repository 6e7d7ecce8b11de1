//! `probe` against the real clips in the shared media folder
//! (`../shared/media` next to the workspace, or `$CREMA_TEST_MEDIA`).
//! Tests that need a clip are skipped, with a note on stderr, when the
//! folder is absent; the error-case tests build their own files.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crema_engine::probe::{MediaInfo, open_input, probe, probe_with, sha256_file};
use crema_engine::{CancelFlag, EngineError};

/// Held by the tests that change the working folder (process-wide), so two
/// of them never run at once; every other test uses absolute paths.
static CWD: Mutex<()> = Mutex::new(());

/// Runs `f` with the working folder set to `dir`, then restores it.
fn in_dir<T>(dir: &Path, f: impl FnOnce() -> T) -> T {
    let _guard = CWD.lock().unwrap_or_else(|e| e.into_inner());
    let cwd = std::env::current_dir().expect("cwd");
    std::env::set_current_dir(dir).expect("chdir");
    let result = f();
    std::env::set_current_dir(cwd).expect("chdir back");
    result
}

/// The shared media folder, when present.
fn media_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("CREMA_TEST_MEDIA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/media"));
    dir.is_dir().then_some(dir)
}

/// A clip from the shared media folder; `None` (test skipped) without it.
fn media(name: &str) -> Option<PathBuf> {
    let Some(dir) = media_dir() else {
        eprintln!("SKIPPED: shared media folder not found (set CREMA_TEST_MEDIA)");
        return None;
    };
    let path = dir.join(name);
    assert!(path.is_file(), "{} is missing from the media folder", path.display());
    Some(path)
}

fn probe_ok(path: &Path) -> MediaInfo {
    match probe(path) {
        Ok(info) => info,
        Err(e) => panic!("probe {}: {e}", path.display()),
    }
}

fn unsupported_cause(path: &Path) -> String {
    match probe(path) {
        Err(EngineError::InputUnsupported { path: p, cause }) => {
            assert_eq!(p, path);
            cause
        }
        other => panic!("{}: expected InputUnsupported, got {other:?}", path.display()),
    }
}

fn unreadable_cause(path: &Path) -> String {
    match probe(path) {
        Err(EngineError::InputUnreadable { path: p, cause }) => {
            assert_eq!(p, path);
            cause
        }
        other => panic!("{}: expected InputUnreadable, got {other:?}", path.display()),
    }
}

#[test]
fn phone_clip_rotation_and_portrait_resolution() {
    let Some(path) = media("phone_720p30_h264_rot90_5s.mp4") else {
        return;
    };
    let info = probe_ok(&path);
    let v = info.video.as_ref().expect("video stream");
    // ffprobe prints the display matrix angle (counter-clockwise) as
    // rotation=90; a player turns the picture 90° counter-clockwise, which is
    // 270° clockwise (`ffmpeg` autorotate inserts transpose=cclock).
    assert_eq!(v.rotation, 270);
    assert_eq!((v.width, v.height), (1280, 720));
    assert_eq!(info.resolution.as_deref(), Some("720x1280"));
    assert_eq!(info.frame_rate.as_deref(), Some("30000/1001"));
    assert_eq!(v.codec, "h264");
    assert_eq!(v.profile.as_deref(), Some("Constrained Baseline"));
    assert_eq!(v.frames, Some(149));
    assert_eq!(v.time_base, (1, 90000));
    assert!(!v.variable_frame_rate);
    assert_eq!(v.field_order, "progressive");
    assert_eq!(v.color_primaries.as_deref(), Some("bt709"));
    assert_eq!(v.color_range.as_deref(), Some("tv"));
    assert_eq!(v.hdr, None);
    assert!((info.duration_seconds - 4.972).abs() < 1e-6);
    assert_eq!(info.container, "mov,mp4,m4a,3gp,3g2,mj2");
    assert_eq!(info.audio.len(), 1);
    assert_eq!(info.audio[0].sample_rate, 44100);
    assert_eq!(info.audio[0].language.as_deref(), Some("eng"));
}

#[test]
fn hdr10_pq_with_mastering_display_and_content_light_level() {
    let Some(path) = media("hdr10plus_1080p30_hevc-main10_pq_mdcv_cll.mp4") else {
        return;
    };
    let info = probe_ok(&path);
    let v = info.video.as_ref().expect("video stream");
    assert_eq!(v.codec, "hevc");
    assert_eq!(v.profile.as_deref(), Some("Main 10"));
    assert_eq!(v.pix_fmt, "yuv420p10le");
    assert_eq!(v.bit_depth, 10);
    assert_eq!(v.hdr.as_deref(), Some("pq"));
    assert_eq!(v.color_transfer.as_deref(), Some("smpte2084"));
    assert_eq!(v.color_primaries.as_deref(), Some("bt2020"));
    assert_eq!(v.color_matrix.as_deref(), Some("bt2020nc"));
    // Only in the HEVC SEI (no mdcv/clli box): read from the first frame.
    let md = v.mastering_display.expect("mastering display");
    assert_eq!(md.red, (0.15, 0.06));
    assert_eq!(md.green, (0.68, 0.32));
    assert_eq!(md.blue, (0.265, 0.69));
    assert_eq!(md.white_point, (0.3127, 0.329));
    assert!((md.min_luminance - 0.005).abs() < 1e-9);
    // The clip's SEI says 1000 x 0.0001 cd/m² (ffprobe: max_luminance=1000/10000).
    assert!((md.max_luminance - 0.1).abs() < 1e-9);
    let cll = v.content_light_level.expect("content light level");
    assert_eq!((cll.max_cll, cll.max_fall), (1000, 200));
    // avg_frame_rate 140000/5087 against r_frame_rate 30: dropped frames.
    assert!(v.variable_frame_rate);
    assert_eq!(v.frame_rate, (140000, 5087));
    assert_eq!(info.frame_rate.as_deref(), Some("30"));
    assert_eq!(v.field_order, "progressive");
}

#[test]
fn hlg_is_ten_bit() {
    let Some(path) = media("hlg_1080p_hevc-main10_videoonly.mp4") else {
        return;
    };
    let info = probe_ok(&path);
    let v = info.video.as_ref().expect("video stream");
    assert_eq!(v.hdr.as_deref(), Some("hlg"));
    assert_eq!(v.color_transfer.as_deref(), Some("arib-std-b67"));
    assert_eq!(v.bit_depth, 10);
    assert_eq!(v.mastering_display, None);
    assert_eq!(v.content_light_level, None);
    assert!(info.audio.is_empty());
    assert_eq!(info.frame_rate.as_deref(), Some("30000/1001"));
    assert_eq!(info.resolution.as_deref(), Some("1920x1080"));
}

#[test]
fn two_aac_five_one_tracks_without_video() {
    let Some(path) = media("audio_2tracks_aac5.1.mp4") else {
        return;
    };
    let info = probe_ok(&path);
    assert!(info.video.is_none());
    assert_eq!(info.resolution, None);
    assert_eq!(info.frame_rate, None);
    assert_eq!(info.audio.len(), 2);
    for (i, a) in info.audio.iter().enumerate() {
        assert_eq!(a.index, i);
        assert_eq!(a.codec, "aac");
        assert_eq!(a.profile.as_deref(), Some("LC"));
        assert_eq!(a.channels, 6);
        assert_eq!(a.layout.as_deref(), Some("5.1"));
        assert_eq!(a.sample_rate, 48000);
        assert_eq!(a.language, None, "\"und\" is no language");
        assert!(a.default);
    }
}

#[test]
fn gopro_timecode_and_data_streams() {
    let Some(path) = media("gopro_karma_480p_tmcd_gpmf.mp4") else {
        return;
    };
    let info = probe_ok(&path);
    assert_eq!(info.timecode.as_deref(), Some("19:26:48:04"));
    let codecs: Vec<&str> = info.data.iter().map(|d| d.codec.as_str()).collect();
    assert_eq!(codecs, ["tmcd", "gpmd", "fdsc"]);
    let tmcd = &info.data[0];
    assert_eq!(tmcd.index, 2);
    assert_eq!(tmcd.handler.as_deref(), Some("GoPro TCD"));
    let v = info.video.as_ref().expect("video stream");
    assert_eq!(v.pix_fmt, "yuvj420p");
    assert_eq!(v.color_range.as_deref(), Some("pc"));
    assert_eq!(info.frame_rate.as_deref(), Some("30000/1001"));
}

#[test]
fn dvb_transport_stream_is_top_field_first() {
    let Some(path) = media("dvb_576i25_mpeg2_mp2.ts") else {
        return;
    };
    let info = probe_ok(&path);
    let v = info.video.as_ref().expect("video stream");
    assert_eq!(v.codec, "mpeg2video");
    assert_eq!(v.field_order, "tt");
    assert_eq!(info.frame_rate.as_deref(), Some("25"));
    assert_eq!(info.container, "mpegts");
    assert_eq!(info.audio[0].codec, "mp2");
    assert!((info.duration_seconds - 3.336).abs() < 1e-6);
}

#[test]
fn raw_h264_stream_gets_a_counted_duration() {
    let Some(path) = media("avc-high10intra_1080i25_PPH10I4.264") else {
        return;
    };
    let info = probe_ok(&path);
    // No duration anywhere in the headers: 10 frames at 25 fps.
    assert!((info.duration_seconds - 0.4).abs() < 1e-9, "{}", info.duration_seconds);
    let v = info.video.as_ref().expect("video stream");
    assert_eq!(v.profile.as_deref(), Some("High 10 Intra"));
    assert_eq!(v.bit_depth, 10);
    assert_eq!(v.field_order, "tt");
    assert_eq!(info.frame_rate.as_deref(), Some("25"));
    assert_eq!(info.container, "h264");
}

#[test]
fn twelve_and_a_half_fps_is_25_over_2() {
    let Some(path) = media("street_432p12_h264_aac_30s.mp4") else {
        return;
    };
    let info = probe_ok(&path);
    assert_eq!(info.frame_rate.as_deref(), Some("25/2"));
    assert_eq!(info.video.as_ref().expect("video").frame_rate, (25, 2));
}

#[test]
fn ogg_vorbis_is_audio_only() {
    let Some(path) = media("music_muldjord_chaos-god_song.ogg") else {
        return;
    };
    let info = probe_ok(&path);
    assert!(info.video.is_none());
    assert_eq!(info.container, "ogg");
    assert_eq!(info.audio.len(), 1);
    assert_eq!(info.audio[0].codec, "vorbis");
    assert_eq!(info.audio[0].layout.as_deref(), Some("stereo"));
    assert!((info.duration_seconds - 183.529433).abs() < 1e-6);
}

#[test]
fn sha256_and_size_match_sha256sum() {
    let Some(path) = media("phone_720p30_h264_rot90_5s.mp4") else {
        return;
    };
    let info = probe_ok(&path);
    // `sha256sum phone_720p30_h264_rot90_5s.mp4`
    assert_eq!(info.sha256, "67a837d708d0e8742bf1693bbc85f767d1d82e1b084bd9726dbaef3921f9201d");
    assert_eq!(info.bytes, 2_540_705);
    assert_eq!(info.name, "phone_720p30_h264_rot90_5s.mp4");
    let Some(path) = media("music_muldjord_chaos-god_song.ogg") else {
        return;
    };
    // More than one 1 MiB read buffer.
    assert_eq!(probe_ok(&path).sha256, "e3ea47b66cfcacc853aa03e4dd5aa3262a73468b4a8aab240de9e00b13373127");
}

#[test]
fn every_clip_probes_and_serializes() {
    let Some(dir) = media_dir() else {
        eprintln!("SKIPPED: shared media folder not found");
        return;
    };
    let mut n = 0;
    for entry in std::fs::read_dir(dir).expect("read media folder") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "md") {
            continue;
        }
        let info = probe_ok(&path);
        assert!(info.duration_seconds > 0.0, "{}", path.display());
        assert_eq!(info.sha256.len(), 64);
        assert!(info.video.is_some() || !info.audio.is_empty());
        serde_json::to_string(&info).expect("json");
        n += 1;
    }
    assert!(n >= 11, "only {n} clips found");
}

#[test]
fn empty_file_is_unsupported() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("empty.mp4");
    std::fs::write(&path, b"").expect("write");
    assert_eq!(unsupported_cause(&path), "empty file (0 bytes)");
}

#[test]
fn text_file_named_mov_is_not_media() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("x.mov");
    std::fs::write(&path, "This is a shopping list, not a movie.\nmilk\neggs\n").expect("write");
    assert_eq!(unsupported_cause(&path), "not a video or audio file FFmpeg can read");
}

/// A 16x16 grey baseline JPEG (made with `ffmpeg -f lavfi -i color=gray:s=16x16`).
const TINY_JPEG: &str = "ffd8ffe000104a46494600010200000100010000fffe00104c61766335392e33372e31303000ffdb004300083e3e493e49555555555555645d6468686864646464686868707070838383707070686870707c7c83838f938f8787838793939b9b9bbabab2b2d9d9e0ffffffffc4004a000100000000000000000000000000000000010100000000000000000000000000000000100100000000000000000000000000000000110100000000000000000000000000000000ffc00011080010001003012200021100031100ffda000c03010002110311003f00000fffd9";

#[test]
fn jpeg_is_a_still_image_even_when_named_mov() {
    let bytes = hex::decode(TINY_JPEG).expect("hex");
    let dir = tempfile::tempdir().expect("tempdir");
    for name in ["photo.jpg", "photo.mov"] {
        let path = dir.path().join(name);
        std::fs::write(&path, &bytes).expect("write");
        assert_eq!(unsupported_cause(&path), "a still image, not a video");
    }
}

#[test]
fn truncated_copies_are_unsupported() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Index (moov) at the end: the first 64 KiB have no index at all.
    let Some(gopro) = media("gopro_karma_480p_tmcd_gpmf.mp4") else {
        return;
    };
    let head = &std::fs::read(&gopro).expect("read")[..64 * 1024];
    let path = dir.path().join("gopro_cut.mp4");
    std::fs::write(&path, head).expect("write");
    let cause = unsupported_cause(&path);
    assert!(cause.contains("truncated or damaged"), "{cause}");
    assert!(cause.contains("QuickTime / MOV"), "{cause}");

    // Index at the front: it opens, but its samples lie past the end.
    let Some(street) = media("street_432p12_h264_aac_30s.mp4") else {
        return;
    };
    let head = &std::fs::read(&street).expect("read")[..64 * 1024];
    let path = dir.path().join("street_cut.mp4");
    std::fs::write(&path, head).expect("write");
    let cause = unsupported_cause(&path);
    assert!(cause.starts_with("truncated or damaged: the file is 65536 bytes"), "{cause}");
}

#[test]
fn missing_file_and_folder_are_unreadable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("nope.mp4");
    assert_eq!(unreadable_cause(&missing), "No such file or directory");
    assert_eq!(unreadable_cause(dir.path()), "it is a folder, not a file");
}

#[test]
fn file_names_are_never_protocols() {
    // Unprefixed, FFmpeg would read the relative name "concat:clip.mp4" as
    // its concat protocol; probe opens through "file:" so a name is a name.
    let Some(src) = media("street_432p12_h264_aac_30s.mp4") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::copy(&src, dir.path().join("concat:clip.mp4")).expect("copy");
    let info = in_dir(dir.path(), || probe(Path::new("concat:clip.mp4"))).expect("probe concat:clip.mp4");
    assert_eq!(info.name, "concat:clip.mp4");
    assert_eq!(info.frame_rate.as_deref(), Some("25/2"));
}

#[test]
fn a_time_of_day_file_name_is_a_file() {
    // Unprefixed, FFmpeg would look for a protocol named "12".
    let Some(src) = media("street_432p12_h264_aac_30s.mp4") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("tmp")).expect("mkdir");
    std::fs::copy(&src, dir.path().join("tmp/12:30.mov")).expect("copy");
    std::fs::copy(&src, dir.path().join("12:30.mov")).expect("copy");
    let (nested, bare, opened) = in_dir(dir.path(), || {
        (
            probe(Path::new("tmp/12:30.mov")),
            probe(Path::new("12:30.mov")),
            open_input(Path::new("12:30.mov")).map(|ictx| ictx.streams().count()),
        )
    });
    for info in [nested.expect("probe tmp/12:30.mov"), bare.expect("probe 12:30.mov")] {
        assert_eq!(info.name, "12:30.mov");
        assert_eq!(info.frame_rate.as_deref(), Some("25/2"));
    }
    assert_eq!(opened.expect("open_input 12:30.mov"), 2);
    // And by absolute path.
    assert_eq!(probe_ok(&dir.path().join("tmp/12:30.mov")).name, "12:30.mov");
}

/// The cause `open_input` refuses `path` with; it must be InputUnsupported.
fn open_unsupported_cause(path: &Path) -> String {
    match open_input(path) {
        Err(EngineError::InputUnsupported { path: p, cause }) => {
            assert_eq!(p, path);
            cause
        }
        Err(e) => panic!("{}: expected InputUnsupported, got {e:?}", path.display()),
        Ok(_) => panic!("{}: expected InputUnsupported, it opened", path.display()),
    }
}

const REFUSED: &str = "playlists and concat lists are not accepted as sources";

#[test]
fn hls_playlists_are_refused() {
    let Some(clip) = media("dvb_576i25_mpeg2_mp2.ts") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let playlist = format!(
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:4\n#EXT-X-MEDIA-SEQUENCE:0\n#EXTINF:3.336,\n{}\n#EXT-X-ENDLIST\n",
        clip.display()
    );
    // By extension and by content alone; a bare EXTM3U header also counts.
    for name in ["index.m3u8", "index.mp4", "index.mov"] {
        let path = dir.path().join(name);
        std::fs::write(&path, &playlist).expect("write");
        assert_eq!(unsupported_cause(&path), REFUSED, "{name}");
        assert_eq!(open_unsupported_cause(&path), REFUSED, "{name}");
    }
    // A playlist naming a file that is not media at all is refused the same
    // way (nothing it names is ever opened).
    let path = dir.path().join("passwd.m3u8");
    std::fs::write(&path, "#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1,\n/etc/passwd\n#EXT-X-ENDLIST\n")
        .expect("write");
    assert_eq!(unsupported_cause(&path), REFUSED);
}

#[test]
fn ffconcat_lists_are_refused() {
    let Some(clip) = media("street_432p12_h264_aac_30s.mp4") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    // A relative entry: the concat demuxer's own `safe` mode allows those
    // (plain ffprobe reads this list as a 60 s clip), an absolute one it refuses.
    std::fs::copy(&clip, dir.path().join("clip.mp4")).expect("copy");
    let list = format!("ffconcat version 1.0\nfile 'clip.mp4'\nfile '{}'\n", clip.display());
    for name in ["list.ffconcat", "list.txt", "holiday.mov"] {
        let path = dir.path().join(name);
        std::fs::write(&path, &list).expect("write");
        assert_eq!(unsupported_cause(&path), REFUSED, "{name}");
        assert_eq!(open_unsupported_cause(&path), REFUSED, "{name}");
    }
}

#[test]
fn dash_manifests_are_refused() {
    let Some(clip) = media("street_432p12_h264_aac_30s.mp4") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let mpd = format!(
        r#"<?xml version="1.0"?>
<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static" mediaPresentationDuration="PT30S" minBufferTime="PT2S" profiles="urn:mpeg:dash:profile:isoff-on-demand:2011">
 <Period><AdaptationSet mimeType="video/mp4"><Representation id="0" bandwidth="1000000"><BaseURL>{}</BaseURL></Representation></AdaptationSet></Period>
</MPD>
"#,
        clip.display()
    );
    let path = dir.path().join("manifest.mpd");
    std::fs::write(&path, mpd).expect("write");
    assert_eq!(unsupported_cause(&path), REFUSED);
}

#[test]
fn open_input_reads_stream_info() {
    let Some(path) = media("phone_720p30_h264_rot90_5s.mp4") else {
        return;
    };
    let ictx = open_input(&path).expect("open_input");
    assert_eq!(ictx.format().name(), "mov,mp4,m4a,3gp,3g2,mj2");
    assert_eq!(ictx.streams().count(), 2);
    let v = ictx.streams().best(ffmpeg_next::media::Type::Video).expect("video");
    assert_eq!(v.parameters().id(), ffmpeg_next::codec::Id::H264);
}

#[test]
fn open_input_errors_match_probe() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("nope.mp4");
    let empty = dir.path().join("empty.mp4");
    std::fs::write(&empty, b"").expect("write");
    let text = dir.path().join("x.mov");
    std::fs::write(&text, "not a movie\n").expect("write");
    for path in [missing.as_path(), dir.path(), empty.as_path(), text.as_path()] {
        let (Err(a), Err(b)) = (open_input(path), probe(path)) else {
            panic!("{}: expected both to fail", path.display());
        };
        assert_eq!(a.to_string(), b.to_string());
        assert_eq!(a.code(), b.code());
    }
}

#[test]
fn probe_with_a_raised_flag_is_canceled() {
    let Some(path) = media("music_muldjord_chaos-god_song.ogg") else {
        return;
    };
    let cancel = CancelFlag::new();
    cancel.cancel();
    assert!(matches!(probe_with(&path, &cancel), Err(EngineError::Canceled)));
    assert!(matches!(sha256_file(&path, &cancel), Err(EngineError::Canceled)));
    // A lowered flag changes nothing.
    let info = probe_with(&path, &CancelFlag::new()).expect("probe_with");
    assert_eq!(info.sha256, "e3ea47b66cfcacc853aa03e4dd5aa3262a73468b4a8aab240de9e00b13373127");
    assert_eq!(sha256_file(&path, &CancelFlag::new()).expect("sha256_file"), info.sha256);
}
