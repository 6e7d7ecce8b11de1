//! The one entry point of an encode: [`run`] checks the request, probes
//! the source and chooses the path: audio-only sources go to
//! [`crate::audio_only`]; `sophon-auto` profiles are resolved by
//! [`crate::auto`]; the encode itself (decode once → filter → encode every
//! output → mux) is the engine's `transcode` module.
//!
//! [`run`] takes an [`EncodeRequest`] and produces a single file (MP4/MKV)
//! and/or an HLS ladder from one decode of the source. It blocks; callers
//! run it on a thread of their own, raise the [`CancelFlag`] to stop it
//! (checked between packets) and receive [`Event`]s through a callback.
//!
//! Outputs are written under temporary names beside their final place
//! (`.NAME.crema-partial…`) and renamed only when everything succeeded, so a
//! failed or canceled run leaves nothing behind and never replaces an
//! existing file with a broken one.
//!
//! Before anything is decoded, [`run`] checks the request's shape
//! ([`crate::request::check_output`]: heights, at most 8 rungs, segment
//! length) and every picture it would write ([`crate::limits`]: level 6.2,
//! the source limit), and sizes what each encoder may hold from the sum of
//! those pictures ([`crate::budget`]). The streams encoded are those of the
//! source's main program ([`crate::streams`]); audio that cannot be read is
//! left out with a warning ([`EncodeResult::warnings`]).

use std::path::Path;
use std::time::Instant;

use crate::auto::{self, Outcome};
use crate::chunks::{self, deliver::Delivered};
use crate::error::{EngineError, Result};
use crate::limits;
use crate::media::MediaInfo;
use crate::output;
use crate::probe;
use crate::profile::ProfileSet;
use crate::progress::{CancelFlag, Event, Stage};
use crate::request::{self, EncodeRequest, EncodeResult, FinalArtifact};
use crate::streams;
use crate::transcode::{Job, Transcoded, transcode};
use crate::waveform::WaveformReport;
use crate::waveform::tap as waveform_tap;

/// Runs one encode. See the module docs.
///
/// Errors: [`EngineError::InputUnreadable`]/[`EngineError::InputUnsupported`]
/// for bad sources (also: no video stream, truncated data);
/// [`EngineError::OutputNotWritable`] when an output exists without
/// `overwrite` or its folder cannot be written; [`EngineError::DiskFull`];
/// [`EngineError::Usage`] for an unknown profile or an unavailable explicit
/// encoder; [`EngineError::Canceled`]; [`EngineError::Encode`] for FFmpeg failures.
pub fn run(
    req: &EncodeRequest,
    profiles: &ProfileSet,
    cancel: &CancelFlag,
    on_event: &mut dyn FnMut(Event),
) -> Result<EncodeResult> {
    crate::init()?;
    let started = Instant::now();
    let profile = profiles.get(&req.profile)?.clone();
    if req.file.is_none() && req.hls.is_none() {
        return Err(EngineError::Usage("nothing to write: ask for a file and/or an HLS package".into()));
    }
    let hls_shape =
        req.hls.as_ref().map(|h| request::HlsShape { renditions: &h.renditions, segment_seconds: h.segment_seconds });
    request::check_output(req.target_height, hls_shape)?;
    request::check_target_vmaf(req.target_vmaf)?;
    check_outputs_free(req)?;
    on_event(Event::Stage { stage: Stage::Probing });
    let info = probe::probe_with(&req.input, cancel)?;
    let Some(video) = info.video.clone() else {
        if info.audio.is_empty() {
            return Err(EngineError::InputUnsupported { path: req.input.clone(), cause: "no video stream".into() });
        }
        return crate::audio_only::run(req, &profile, info, started, cancel, on_event);
    };
    limits::check_source(&req.input, video.width, video.height, limits::source_limits())?;
    let mut notices = Vec::new();
    let warnings = source_warnings(req, &info, &mut notices, on_event);
    let mut reason = None;
    let mut keep_rule = None;
    let mut frames = None;
    let concrete = match &profile.auto {
        None => profile.clone(),
        Some(rules) => {
            // The verified path cuts the title by its frames' times, read
            // here once; without them a sample predicts the saving.
            if auto::verified::unsupported(req).is_none() {
                frames = crate::chunks::frame_times(&req.input, video.index, cancel)?;
            }
            let choice = auto::decide(req, &info, &video, profiles, rules, frames.as_deref(), cancel, on_event)?;
            if let Some(n) = &choice.notice {
                notices.push(n.clone());
                on_event(Event::Notice { message: n.clone() });
            }
            let Outcome::Encode(keep) = choice.outcome else {
                // Nothing is decoded for an encode: the waveform decodes the audio alone.
                let (waveform, warnings) = waveform_without_encode(req, &info, warnings, cancel, on_event)?;
                return Ok(EncodeResult {
                    source: info,
                    profile: req.profile.clone(),
                    effective_profile_id: choice.profile.id.clone(),
                    profile_reason: Some(choice.reason),
                    final_artifact: FinalArtifact::Original,
                    saved_percent: 0.0,
                    outputs: vec![],
                    elapsed_seconds: started.elapsed().as_secs_f64(),
                    notices,
                    warnings,
                    waveform,
                    quality: None,
                });
            };
            reason = Some(choice.reason);
            keep_rule = keep;
            choice.profile
        }
    };
    let mut warnings = warnings;
    // The whole title with the concrete profile.
    let title = Job { req, info: &info, video: &video, profile: &concrete, range: None, cores: None, score: None };
    if profile.is_auto() {
        let why = match (auto::verified::unsupported(req), &frames) {
            (Some(_), _) if req.hls.is_some() => None,
            (Some(why), _) => Some(format!("{why}; the saving was predicted from a sample")),
            (None, None) => Some(
                "the source's frames carry no usable timestamps to cut it by; the saving was predicted from a sample"
                    .to_string(),
            ),
            (None, Some(times)) => {
                let run = auto::verified::run(title, times, keep_rule, cancel, on_event, &mut notices)?;
                match run {
                    Ok(done) => {
                        let concrete_id = concrete.id.clone();
                        let parts = Verified { info, concrete_id, reason, notices, warnings, started };
                        return verified_result(req, done, parts, cancel, on_event);
                    }
                    // The sample was skipped for the verified path: the real
                    // output is measured by the keep rule instead.
                    Err(auto::verified::Unverified(why)) => Some(why),
                }
            }
        };
        if let Some(why) = why {
            let n = format!("quality not verified: {why}");
            notices.push(n.clone());
            on_event(Event::Notice { message: n });
        }
    }
    // Many-core machines encode a single file in chunks side by side.
    let chunked = match chunks::parallel::workers(req, &video, &concrete) {
        Some(n) => chunks::parallel::run(title, n, keep_rule, cancel, on_event, &mut notices)?,
        None => None,
    };
    // The chunks decode no audio: a waveform then decodes it alone.
    let audio_alone = matches!(chunked, Some(Delivered::Written(_)));
    let transcoded = match chunked {
        None => transcode(title, keep_rule, cancel, on_event, &mut notices)?,
        Some(Delivered::Written(output)) => Transcoded::Written(vec![*output], None, None),
        Some(Delivered::NotSmaller { saved_percent }) => Transcoded::NotSmaller { saved_percent },
    };
    let waveform;
    let (outputs, final_artifact) = match transcoded {
        Transcoded::Written(outputs, _, _) if audio_alone => {
            let (w, ws) = waveform_without_encode(req, &info, std::mem::take(&mut warnings), cancel, on_event)?;
            (waveform, warnings) = (w, ws);
            (outputs, FinalArtifact::Encoded)
        }
        Transcoded::Written(outputs, done, _) => {
            waveform = output::waveform::result(done, &mut warnings, on_event);
            (outputs, FinalArtifact::Encoded)
        }
        Transcoded::NotSmaller { saved_percent } => {
            let (w, ws) = waveform_without_encode(req, &info, std::mem::take(&mut warnings), cancel, on_event)?;
            (waveform, warnings) = (w, ws);
            let why = format!("the encode saved only {saved_percent:.1}% (below the profile's minimum), original kept");
            notices.push(why.clone());
            on_event(Event::Notice { message: why.clone() });
            reason = reason.map(|r| format!("{r}; {why}"));
            (vec![], FinalArtifact::Original)
        }
    };
    let quality = match outputs.first() {
        Some(main) if req.measure => crate::measure::main_output(&req.input, main, cancel, on_event, &mut warnings)?,
        _ => None,
    };
    let main_bytes = outputs.first().map_or(0, |o| o.bytes);
    let saved = if info.bytes > 0 { (1.0 - main_bytes as f64 / info.bytes as f64) * 100.0 } else { 0.0 };
    Ok(EncodeResult {
        source: info,
        profile: req.profile.clone(),
        effective_profile_id: concrete.id.clone(),
        profile_reason: reason,
        final_artifact,
        saved_percent: if final_artifact == FinalArtifact::Encoded {
            (saved.max(0.0) * 10.0).round() / 10.0
        } else {
            0.0
        },
        outputs,
        elapsed_seconds: started.elapsed().as_secs_f64(),
        notices,
        warnings,
        waveform,
        quality,
    })
}

/// What [`verified_result`] carries over from [`run`].
struct Verified {
    info: MediaInfo,
    concrete_id: String,
    reason: Option<String>,
    notices: Vec<String>,
    warnings: Vec<String>,
    started: Instant,
}

/// The result of `sophon-auto`'s verified path ([`auto::verified`]); the
/// waveform, when asked for, is made from the audio alone.
fn verified_result(
    req: &EncodeRequest,
    done: auto::verified::Verified,
    parts: Verified,
    cancel: &CancelFlag,
    on_event: &mut dyn FnMut(Event),
) -> Result<EncodeResult> {
    let Verified { info, concrete_id, mut reason, mut notices, warnings, started } = parts;
    let (waveform, warnings) = waveform_without_encode(req, &info, warnings, cancel, on_event)?;
    let (outputs, quality, final_artifact) = match done {
        auto::verified::Verified::Written(output, quality) => (vec![output], Some(*quality), FinalArtifact::Encoded),
        auto::verified::Verified::KeepOriginal { reason: why } => {
            notices.push(why.clone());
            on_event(Event::Notice { message: why.clone() });
            reason = reason.map(|r| format!("{r}; {why}"));
            (vec![], None, FinalArtifact::Original)
        }
        auto::verified::Verified::NotSmaller { saved_percent } => {
            let why = format!("the encode saved only {saved_percent:.1}% (below the profile's minimum), original kept");
            notices.push(why.clone());
            on_event(Event::Notice { message: why.clone() });
            reason = reason.map(|r| format!("{r}; {why}"));
            (vec![], None, FinalArtifact::Original)
        }
    };
    let main_bytes = outputs.first().map_or(0, |o| o.bytes);
    let saved =
        if info.bytes > 0 && !outputs.is_empty() { (1.0 - main_bytes as f64 / info.bytes as f64) * 100.0 } else { 0.0 };
    Ok(EncodeResult {
        source: info,
        profile: req.profile.clone(),
        effective_profile_id: concrete_id,
        profile_reason: reason,
        final_artifact,
        saved_percent: (saved.max(0.0) * 10.0).round() / 10.0,
        outputs,
        elapsed_seconds: started.elapsed().as_secs_f64(),
        notices,
        warnings,
        waveform,
        quality,
    })
}

/// The waveform of a run that encodes nothing (`sophon-auto` kept the
/// original): the audio track is decoded for it alone.
fn waveform_without_encode(
    req: &EncodeRequest,
    info: &MediaInfo,
    mut warnings: Vec<String>,
    cancel: &CancelFlag,
    on_event: &mut dyn FnMut(Event),
) -> Result<(Option<WaveformReport>, Vec<String>)> {
    let Some(out) = &req.waveform else { return Ok((None, warnings)) };
    let Some(track) = waveform_tap::choose_track(info, out.track)? else {
        let done = Some(Err("no waveform: the source has no readable audio".to_string()));
        return Ok((output::waveform::result(done, &mut warnings, on_event), warnings));
    };
    let wreq = crate::waveform::WaveformRequest { input: req.input.clone(), track: Some(track), options: out.options };
    let done = match crate::waveform::generate(&wreq, cancel, &mut |_| {}) {
        Ok(g) => {
            let bytes = g.waveform.save(&out.path, out.format, req.overwrite)?;
            Some(Ok(WaveformReport::new(out, track, &g.waveform, bytes)))
        }
        Err(EngineError::Canceled) => return Err(EngineError::Canceled),
        Err(e) => Some(Err(format!("no waveform for audio stream #{track}: {e}"))),
    };
    Ok((output::waveform::result(done, &mut warnings, on_event), warnings))
}

/// The warnings about what of the source is left out (sent as events now,
/// returned for the result), and a notice naming the program encoded.
fn source_warnings(
    req: &EncodeRequest,
    info: &MediaInfo,
    notices: &mut Vec<String>,
    on_event: &mut dyn FnMut(Event),
) -> Vec<String> {
    if let Some(n) = streams::program_notice(info) {
        notices.push(n.clone());
        on_event(Event::Notice { message: n });
    }
    let mut warnings = Vec::new();
    if req.audio {
        if req.file.is_some() {
            warnings.extend(streams::file_audio(info).1);
        }
        if req.hls.is_some() {
            warnings.extend(streams::hls_audio(info).1);
        }
    }
    let mut seen = std::collections::HashSet::new();
    warnings.retain(|w| seen.insert(w.clone()));
    for w in &warnings {
        on_event(Event::Warning { message: w.clone() });
    }
    warnings
}

/// Whether `output` names the same file as `input`, however spelled
/// (`..`, symlinks, hard links).
fn same_file(output: &Path, input: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    if let (Ok(a), Ok(b)) = (std::fs::metadata(output), std::fs::metadata(input)) {
        return a.dev() == b.dev() && a.ino() == b.ino();
    }
    let resolve = |p: &Path| {
        let parent = p.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        parent.canonicalize().ok().map(|d| d.join(p.file_name().unwrap_or_default()))
    };
    resolve(output).is_some_and(|o| Some(o) == input.canonicalize().ok())
}

fn check_outputs_free(req: &EncodeRequest) -> Result<()> {
    let mut paths: Vec<&Path> = Vec::new();
    if let Some(w) = &req.waveform {
        paths.push(&w.path);
    }
    if let Some(f) = &req.file {
        paths.push(&f.path);
    }
    if let Some(h) = &req.hls {
        paths.push(&h.dir);
        if let Some((_, p)) = &h.keep_mp4 {
            paths.push(p);
        }
    }
    for p in paths {
        if same_file(p, &req.input) {
            return Err(EngineError::OutputNotWritable {
                path: p.into(),
                cause: "output would replace the input".into(),
            });
        }
        if p.exists() && !req.overwrite {
            return Err(EngineError::OutputNotWritable {
                path: p.into(),
                cause: "already exists (use --overwrite to replace it)".into(),
            });
        }
        let parent = p.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        if !parent.is_dir() {
            return Err(EngineError::OutputNotWritable { path: p.into(), cause: "folder does not exist".into() });
        }
    }
    Ok(())
}
