//! Broadcast media that FFmpeg's own tools handle: a multi-program mux
//! (the main program is the one `av_find_best_stream` picks, its audio the
//! audio of that program) and an audio PID whose parameters cannot be read
//! (skipped with a warning, never an internal error).
//!
//! Fixtures come from `fixtures/prepare.sh` (`dvb_two_programs.ts`,
//! `ts_audio_no_frames.ts`) and the shared media folder
//! (`dvb_576i25_mpeg2_mp2.ts`); outputs are read back with libavformat.

use std::path::Path;

use crema_engine::encode;
use crema_engine::probe::{MediaInfo, probe};
use crema_engine::profile::{ProfileSet, VideoCodec};
use crema_engine::request::{Container, EncodeRequest, EncodeResult, FileRequest, HlsRequest};
use crema_engine::{CancelFlag, Event};
use ffmpeg_next as ffmpeg;

use crema_testkit::fixture;

fn probe_ok(path: &Path) -> MediaInfo {
    probe(path).unwrap_or_else(|e| panic!("probe {}: {e}", path.display()))
}

/// libavformat's own choice, straight from the library: `av_find_best_stream`
/// for video, then for audio with that video as related stream.
fn ffmpeg_best_streams(path: &Path) -> (usize, Option<usize>) {
    ffmpeg::init().unwrap();
    let mut ictx = ffmpeg::format::input(&path).unwrap();
    let video = ictx.streams().best(ffmpeg::media::Type::Video).expect("a video stream").index();
    // SAFETY: the context is open; no decoder is asked for.
    let audio = unsafe {
        ffmpeg::ffi::av_find_best_stream(
            ictx.as_mut_ptr(),
            ffmpeg::ffi::AVMediaType::AVMEDIA_TYPE_AUDIO,
            -1,
            video as i32,
            std::ptr::null_mut(),
            0,
        )
    };
    (video, usize::try_from(audio).ok())
}

/// Encodes `input` with sophon-espresso into `dir`: a file (`file`) and/or
/// an H.264 HLS ladder of 360p and 240p (`hls`), audio on.
fn encode(input: &Path, dir: &Path, file: bool, hls: bool) -> (EncodeResult, Vec<Event>) {
    let req = EncodeRequest {
        input: input.to_path_buf(),
        profile: "sophon-espresso".into(),
        file: file.then(|| FileRequest { path: dir.join("out.mp4"), container: Container::Mp4 }),
        hls: hls.then(|| HlsRequest {
            dir: dir.join("out.hls"),
            renditions: vec![360, 240],
            codec: VideoCodec::H264,
            segment_seconds: 1.0,
            keep_mp4: None,
        }),
        audio: true,
        target_height: None,
        encoder: crema_engine::encoder::Preference::Only(crema_engine::encoder::Backend::Software),
        decoder: Default::default(),
        overwrite: false,
        waveform: None,
        measure: false,
        target_vmaf: None,
        chunk_workers: None,
    };
    let mut events = Vec::new();
    let res = encode::run(&req, &ProfileSet::builtin().unwrap(), &CancelFlag::new(), &mut |e| events.push(e))
        .unwrap_or_else(|e| panic!("encode {}: {e}", input.display()));
    (res, events)
}

/// (codec, width, height, channels) of every stream of an output.
fn streams_of(path: &Path) -> Vec<(String, u32, u32, u16)> {
    let ictx = ffmpeg::format::input(&path).unwrap();
    ictx.streams()
        .map(|s| {
            let p = s.parameters();
            // SAFETY: plain reads of a live codecpar.
            let (w, h, ch) = unsafe {
                let par = p.as_ptr();
                ((*par).width as u32, (*par).height as u32, (*par).ch_layout.nb_channels as u16)
            };
            (p.id().name().to_string(), w, h, ch)
        })
        .collect()
}

fn warnings_in(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Warning { message } => Some(message.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn probe_lists_programs_and_picks_the_best_video_and_its_programs_audio_as_libavformat_does() {
    let src = fixture("dvb_two_programs.ts");
    let info = probe_ok(&src);
    let programs: Vec<(i32, Option<&str>, Vec<usize>)> =
        info.programs.iter().map(|p| (p.id, p.service_name.as_deref(), p.streams.clone())).collect();
    assert_eq!(programs, vec![(202, Some("CremaHD"), vec![0, 1]), (101, Some("CremaSD"), vec![2, 3, 4])]);
    assert!(info.programs.iter().all(|p| p.service_provider.is_some()), "{:?}", info.programs);
    let (best_video, best_audio) = ffmpeg_best_streams(&src);
    let video = info.video.as_ref().expect("video");
    assert_eq!(video.index, best_video, "not av_find_best_stream's video");
    // The MPEG-2 service carries a bit rate in its sequence header: that is
    // what ranks it first; the first video stream (the old rule) is the HEVC one.
    assert_eq!((video.index, video.codec.as_str()), (2, "mpeg2video"));
    assert_eq!(info.main_audio, best_audio, "not av_find_best_stream's audio for that video");
    assert_eq!(info.main_audio, Some(3), "the MP2 of program 101, not the 5.1 AAC of program 202");
    let empty = info.audio.iter().find(|a| a.index == 4).expect("stream 4");
    assert_eq!((empty.codec.as_str(), empty.sample_rate, empty.channels), ("aac", 0, 0));
}

#[test]
fn multi_program_mux_encodes_its_main_program_and_skips_the_unreadable_aac() {
    let src = fixture("dvb_two_programs.ts");
    let dir = tempfile::tempdir().unwrap();
    let (res, events) = encode(&src, dir.path(), true, true);
    // The file: program 101's MPEG-2 (720x576, SAR 16:15 → 768x576) and its
    // MP2 as stereo AAC; neither program 202's 5.1 AAC nor the empty PID.
    let file = streams_of(&dir.path().join("out.mp4"));
    assert_eq!(file, vec![("hevc".into(), 768, 576, 0), ("aac".into(), 0, 0, 2)], "{file:?}");
    // The HLS audio rendition is the same program's audio.
    let audio = streams_of(&dir.path().join("out.hls/audio/index.m3u8"));
    assert_eq!(audio.len(), 1, "{audio:?}");
    let warnings = warnings_in(&events);
    assert_eq!(res.warnings, warnings);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("audio stream #4 (aac) skipped") && warnings[0].contains("0 Hz"), "{warnings:?}");
    assert!(
        res.notices.iter().any(|n| n.contains("2 programs") && n.contains("program 101") && n.contains("CremaSD")),
        "{:?}",
        res.notices
    );
}

#[test]
fn an_audio_pid_without_parameters_is_skipped_with_a_warning_in_file_and_hls() {
    let src = fixture("ts_audio_no_frames.ts");
    let info = probe_ok(&src);
    assert_eq!(info.audio.len(), 1);
    assert_eq!((info.audio[0].sample_rate, info.audio[0].channels), (0, 0));
    assert_eq!(info.main_audio, None);
    let dir = tempfile::tempdir().unwrap();
    // Before: "write header: Invalid argument" (file) and "audio filter
    // source: Invalid argument" (HLS).
    let (res, events) = encode(&src, dir.path(), true, true);
    assert_eq!(streams_of(&dir.path().join("out.mp4")), vec![("hevc".into(), 640, 360, 0)]);
    assert!(!dir.path().join("out.hls/audio").exists(), "an audio rendition was written");
    let master = std::fs::read_to_string(dir.path().join("out.hls/master.m3u8")).unwrap();
    assert!(!master.contains("TYPE=AUDIO"), "{master}");
    assert_eq!(res.warnings, warnings_in(&events));
    assert_eq!(res.warnings.len(), 1, "one warning per skipped stream, not one per output: {:?}", res.warnings);
    assert!(res.warnings[0].contains("audio stream #1 (aac) skipped"), "{:?}", res.warnings);
    assert_eq!(res.outputs.iter().map(|o| o.audio_tracks).collect::<Vec<_>>(), vec![0, 0]);
}

#[test]
fn real_dvb_capture_lists_its_service_and_keeps_its_audio() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/media/dvb_576i25_mpeg2_mp2.ts");
    if !path.is_file() {
        eprintln!("SKIPPED: {} not found (the shared media folder is absent)", path.display());
        return;
    }
    let info = probe_ok(&path);
    assert_eq!(info.programs.len(), 1, "{:?}", info.programs);
    let p = &info.programs[0];
    assert_eq!((p.service_name.as_deref(), p.service_provider.as_deref()), (Some("P1.1"), Some("DVB")));
    assert_eq!(p.streams, vec![0, 1]);
    assert_eq!(info.video.as_ref().map(|v| v.index), Some(0));
    assert_eq!(info.main_audio, Some(1));
    assert_eq!(ffmpeg_best_streams(&path), (0, Some(1)));
}
