//! `sophon-auto`: pick a concrete profile from the probe, then measure a
//! short sample encode to decide whether encoding saves anything.
//!
//! The rule (thresholds in `profiles/sophon-auto.toml`):
//! 1. bits per pixel per frame (bpp) = video bit rate ÷ (width × height × fps);
//! 2. HEVC/VP9/AV1 sources or bpp below `efficient_bits_per_pixel` get
//!    `efficient_profile` (they are already efficiently coded: only the
//!    slowest settings can still save); bpp at or above
//!    `mezzanine_bits_per_pixel` (ProRes, DNxHR, intra-only camera
//!    masters) gets `mezzanine_profile`; everything else `default_profile`;
//! 3. the chosen profile encodes `sample_seconds` from the middle of the
//!    source; the sample's size over the source's video bytes in the same
//!    span predicts the output size. When the predicted saving is below
//!    `min_saving_percent` the result is `final_artifact: original` and no
//!    file is written. Sources shorter than 1.5 samples are encoded whole
//!    and the real output is measured instead: before anything is
//!    committed, an output that saves less than `min_saving_percent` of
//!    what it would replace (the whole source with `--audio`, its video
//!    bytes without) is discarded the same way. With an HLS request the ladder is always made (the
//!    original is no ladder).
//!
//! Output is always HEVC Main 8-bit; HDR sources are tone-mapped to SDR by
//! the pipeline because every candidate profile is 8-bit.
//!
//! This is policy: `decide` resolves an auto profile for
//! [`crate::encode::run`] and measures its sample with the engine's
//! `transcode` module; the transcode never calls back here.

use ffmpeg_next as ff;
use std::path::Path;

use crate::error::{EngineError, Result};
use crate::media::{MediaInfo, VideoStream};
use crate::profile::{AutoRules, Profile, ProfileSet};
use crate::progress::{CancelFlag, Event, Stage};
use crate::request::{Container, EncodeRequest, FileRequest};
use crate::transcode::{Job, KeepRule, transcode};

mod allocate;
pub mod verified;

/// Bits per pixel per frame of the video stream, when its bit rate is known
/// (stream bit rate, else container bit rate less audio).
pub fn bits_per_pixel(info: &MediaInfo, video: &VideoStream) -> Option<f64> {
    let fps = if video.frame_rate.1 > 0 { f64::from(video.frame_rate.0) / f64::from(video.frame_rate.1) } else { 0.0 };
    let audio: u64 = info.audio.iter().filter_map(|a| a.bit_rate).sum();
    let rate = video.bit_rate.or_else(|| info.bit_rate.map(|b| b.saturating_sub(audio)))?;
    let pixels = f64::from(video.width) * f64::from(video.height) * fps;
    (pixels > 0.0).then(|| rate as f64 / pixels)
}

/// Chooses the concrete profile for a source. Returns (profile ID, reason).
pub fn choose(info: &MediaInfo, video: &VideoStream, rules: &AutoRules) -> (String, String) {
    let bpp = bits_per_pixel(info, video);
    let bpp_text = bpp.map_or("unknown bits/pixel".to_string(), |b| format!("{b:.3} bits/pixel/frame"));
    if matches!(video.codec.as_str(), "hevc" | "vp9" | "av1") {
        return (
            rules.efficient_profile.clone(),
            format!("{} source is already efficiently coded ({bpp_text})", video.codec),
        );
    }
    match bpp {
        Some(b) if b >= rules.mezzanine_bits_per_pixel => {
            (rules.mezzanine_profile.clone(), format!("mezzanine/camera master ({} at {bpp_text})", video.codec))
        }
        Some(b) if b < rules.efficient_bits_per_pixel => {
            (rules.efficient_profile.clone(), format!("low bit rate source ({bpp_text})"))
        }
        _ => (rules.default_profile.clone(), format!("typical camera/phone source ({} at {bpp_text})", video.codec)),
    }
}

/// The outcome of the sample measurement.
#[derive(Debug, Clone)]
pub struct Decision {
    /// Whether to run the full encode.
    pub encode: bool,
    /// One line: what was measured.
    pub reason: String,
    /// Something to show the user, when any.
    pub notice: Option<String>,
    /// What the encode replaces, bytes, when the sample measured it: the
    /// whole source with audio, its video stream alone without.
    pub reference_bytes: Option<u64>,
}

/// Video bytes of stream `index`, in one pass over the file's packet
/// headers: (bytes between `range` seconds from the start, when given;
/// bytes of the whole stream).
///
/// Errors: [`EngineError::InputUnsupported`] when the file cannot be opened,
/// [`EngineError::Canceled`] when `cancel` is raised.
pub(crate) fn video_bytes(
    path: &Path,
    index: usize,
    range: Option<(f64, f64)>,
    cancel: &CancelFlag,
) -> Result<(u64, u64)> {
    let mut ictx = crate::probe::open_input(path)?;
    let tb = ictx.stream(index).map(|s| f64::from(s.time_base())).unwrap_or(0.0);
    // SAFETY: plain field read on an open input context.
    let start_us = unsafe { (*ictx.as_ptr()).start_time };
    let origin = if start_us == ff::ffi::AV_NOPTS_VALUE { 0.0 } else { start_us as f64 / 1e6 };
    let (mut in_range, mut total) = (0u64, 0u64);
    for (stream, packet) in ictx.packets() {
        if cancel.is_canceled() {
            return Err(EngineError::Canceled);
        }
        if stream.index() != index {
            continue;
        }
        let size = packet.size() as u64;
        total += size;
        let t = packet.pts().or(packet.dts()).map(|p| p as f64 * tb - origin);
        if let (Some((s, e)), Some(t)) = (range, t)
            && t >= s
            && t < e
        {
            in_range += size;
        }
    }
    Ok((in_range, total))
}

/// Encodes a sample with `profile` and predicts the saving; see the module docs.
///
/// Errors: those of the sample encode ([`crate::encode::run`]'s), and
/// [`EngineError::OutputNotWritable`] when no temporary file can be made.
pub fn predict_saving(
    req: &EncodeRequest,
    info: &MediaInfo,
    video: &VideoStream,
    profile: &Profile,
    rules: &AutoRules,
    cancel: &CancelFlag,
    on_event: &mut dyn FnMut(Event),
) -> Result<Decision> {
    if req.hls.is_some() {
        return Ok(Decision {
            encode: true,
            reason: "an HLS ladder was asked for, so it is always made".into(),
            notice: None,
            reference_bytes: None,
        });
    }
    let duration = info.duration_seconds;
    if duration <= rules.sample_seconds * 1.5 {
        // A sample would be most of the file: encode it all and let the size
        // check on the real output decide (see [`decide`]'s keep rule).
        return Ok(Decision {
            encode: true,
            reason: format!("source is short ({duration:.1} s): the full encode is measured instead of a sample"),
            notice: None,
            reference_bytes: None,
        });
    }
    let len = rules.sample_seconds.min(duration);
    let start = ((duration - len) / 2.0).max(0.0);
    let range = (start, start + len);
    let tmpdir = tempfile_dir()?;
    let sample_path = tmpdir.join("sample.mp4");
    let sample_req = video_only_request(req, &profile.id, &sample_path);
    let mut notices = Vec::new();
    // The sample's own progress is not the job's; only a cancellation is passed on.
    let mut forward = |e: Event| {
        if matches!(e, Event::Canceled) {
            on_event(e);
        }
    };
    let job = Job { req: &sample_req, info, video, profile, range: Some(range), cores: None, score: None };
    let result = transcode(job, None, cancel, &mut forward, &mut notices);
    let sample_bytes = std::fs::metadata(&sample_path).map(|m| m.len());
    let _ = std::fs::remove_dir_all(&tmpdir);
    result?;
    let sample_bytes = sample_bytes.unwrap_or(0);
    let (src_range, src_total) = video_bytes(&req.input, video.index, Some(range), cancel)?;
    if src_range == 0 || src_total == 0 {
        return Ok(Decision {
            encode: true,
            reason: "source video size could not be measured; encoding".into(),
            notice: None,
            reference_bytes: None,
        });
    }
    let ratio = sample_bytes as f64 / src_range as f64;
    // With audio the output replaces the whole file (audio kept as it is);
    // without, only the video stream is compared.
    let (predicted, reference) = if req.audio {
        (ratio * src_total as f64 + info.bytes.saturating_sub(src_total) as f64, info.bytes)
    } else {
        (ratio * src_total as f64, src_total)
    };
    let saving = (1.0 - predicted / reference as f64) * 100.0;
    let reason = format!(
        "a {len:.1} s sample encoded to {:.0}% of the source's video bytes; predicted saving {saving:.1}%",
        ratio * 100.0
    );
    if saving < rules.min_saving_percent {
        Ok(Decision {
            encode: false,
            notice: Some(format!("keeping the original: {reason} (below {}%)", rules.min_saving_percent)),
            reason,
            reference_bytes: Some(reference),
        })
    } else {
        Ok(Decision { encode: true, reason, notice: None, reference_bytes: Some(reference) })
    }
}

/// What `sophon-auto` decided for one source.
#[derive(Debug)]
pub(crate) struct Choice {
    /// The concrete profile chosen.
    pub(crate) profile: Profile,
    /// Why that profile, and what the sample measured.
    pub(crate) reason: String,
    /// Something to show the user, when any.
    pub(crate) notice: Option<String>,
    /// Whether to encode, and the check the real output must then pass.
    pub(crate) outcome: Outcome,
}

/// Whether `sophon-auto` encodes.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// The sample predicts too small a saving: keep the original, write nothing.
    KeepOriginal,
    /// Encode; a single file (no HLS) is kept only if it passes the rule.
    Encode(Option<KeepRule>),
}

/// Resolves an auto profile (`rules`) for a source: [`choose`] the
/// concrete profile from `profiles`, then [`predict_saving`] from a
/// sample, unless the verified path will run on the source's `frames`
/// ([`crate::chunks::frame_times`]; it predicts from its first chunk and
/// the frames' packet sizes give the video's bytes); when the
/// encode goes ahead without HLS, the [`KeepRule`] the real output must
/// pass before it is committed (it must save enough against what it
/// replaces: the whole source with audio, its video alone without).
///
/// Errors: [`EngineError::Usage`] for a concrete profile that does not
/// exist; those of [`predict_saving`] and [`video_bytes`].
#[allow(clippy::too_many_arguments)]
pub(crate) fn decide(
    req: &EncodeRequest,
    info: &MediaInfo,
    video: &VideoStream,
    profiles: &ProfileSet,
    rules: &AutoRules,
    frames: Option<&[crate::chunks::SourceFrame]>,
    cancel: &CancelFlag,
    on_event: &mut dyn FnMut(Event),
) -> Result<Choice> {
    let (id, why) = choose(info, video, rules);
    let concrete = profiles.get(&id)?.clone();
    on_event(Event::Stage { stage: Stage::Analyzing });
    let decision = if frames.is_none() {
        predict_saving(req, info, video, &concrete, rules, cancel, on_event)?
    } else {
        Decision {
            encode: true,
            reason: "the encode is verified chunk by chunk; its first chunk predicts the saving".into(),
            notice: None,
            reference_bytes: None,
        }
    };
    let reason = format!("{why}; {}", decision.reason);
    if !decision.encode {
        return Ok(Choice { profile: concrete, reason, notice: decision.notice, outcome: Outcome::KeepOriginal });
    }
    let mut keep = None;
    if req.hls.is_none() {
        // Decided before anything is committed: the real output must
        // save enough against what it replaces (the whole source with
        // audio, its video alone without).
        let reference = match decision.reference_bytes {
            Some(bytes) => bytes,
            None if req.audio => info.bytes,
            None => match frames {
                Some(frames) => frames.iter().map(|f| f.bytes).sum(),
                None => video_bytes(&req.input, video.index, None, cancel)?.1,
            },
        };
        keep = Some(KeepRule { min_saving_percent: rules.min_saving_percent, reference_bytes: reference });
    }
    Ok(Choice { profile: concrete, reason, notice: decision.notice, outcome: Outcome::Encode(keep) })
}

/// The request of an encode of `req`'s source that writes its video alone
/// (no audio, waveform or measurement) with profile `profile_id` to MP4
/// file `path`, replacing it: a sample or a chunk.
pub(crate) fn video_only_request(req: &EncodeRequest, profile_id: &str, path: &Path) -> EncodeRequest {
    EncodeRequest {
        input: req.input.clone(),
        profile: profile_id.to_string(),
        file: Some(FileRequest { path: path.to_path_buf(), container: Container::Mp4 }),
        hls: None,
        audio: false,
        target_height: req.target_height,
        encoder: req.encoder,
        decoder: req.decoder,
        overwrite: true,
        waveform: None,
        measure: false,
        target_vmaf: None,
        chunk_workers: None,
    }
}

/// A private temporary folder for sample encodes (system temp dir).
fn tempfile_dir() -> Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!(
        "crema-sample-{}-{}",
        std::process::id(),
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0)
    ));
    std::fs::create_dir_all(&dir)
        .map_err(|e| EngineError::OutputNotWritable { path: dir.clone(), cause: e.to_string() })?;
    Ok(dir)
}
