//! Measuring a finished encode ([`crate::request::EncodeRequest::measure`]):
//! the main output is decoded again and scored frame by frame against the
//! source with [`crate::quality::compare`] (frames paired by timestamp, the
//! output scaled to the source's size; VMAF, PSNR, SSIM; no NEG). An HLS
//! package is measured through its top rung: its initialization section and
//! segments, in playlist order, joined into one hidden file beside them
//! (fragmented MP4 or MPEG-TS, both valid when concatenated) that is removed
//! afterwards. Playlists are never opened as sources (see [`crate::probe`]).
//!
//! The reference is the source as decoded, not the encoder's own input: for
//! a source the encode deinterlaced or tone-mapped, the score includes that
//! change (the in-loop measurement of `sophon-auto` scores the encoder's
//! input instead). A measurement that fails leaves the encode as it is and
//! says why in a warning; only cancellation stops the run.

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::error::{EngineError, Result};
use crate::progress::{CancelFlag, Event, Stage};
use crate::quality::{self, QualityOptions};
use crate::request::{MeasuredQuality, OutputReport};

/// Scores `main` (the first output of the run) against `source`.
///
/// Returns `Ok(None)` with a warning pushed (and sent as an event) when the
/// output cannot be measured. Stage events of the comparison are sent as
/// [`Stage::Measuring`].
///
/// Errors: [`EngineError::Canceled`] when `cancel` is raised meanwhile.
pub(crate) fn main_output(
    source: &Path,
    main: &OutputReport,
    cancel: &CancelFlag,
    on_event: &mut dyn FnMut(Event),
    warnings: &mut Vec<String>,
) -> Result<Option<MeasuredQuality>> {
    on_event(Event::Stage { stage: Stage::Measuring });
    let (what, joined) = match main.renditions.first() {
        Some(top) => (format!("hls {}p", top.height), Some(join_rung(&top.playlist))),
        None => (main.kind.clone(), None),
    };
    let joined = match joined.transpose() {
        Ok(j) => j,
        Err(e) => return Ok(unmeasured(&what, &e, on_event, warnings)),
    };
    let distorted = joined.as_ref().map_or(main.path.as_path(), |j| j.0.as_path());
    let started = Instant::now();
    let options = QualityOptions { neg: false, ..QualityOptions::default() };
    let mut forward = |e: Event| {
        on_event(match e {
            Event::Stage { .. } => Event::Stage { stage: Stage::Measuring },
            Event::Progress { percent, fps, eta_seconds, frames_done, frames_total, .. } => {
                Event::Progress { stage: Stage::Measuring, percent, fps, eta_seconds, frames_done, frames_total }
            }
            other => other,
        })
    };
    match quality::compare(source, distorted, &options, cancel, &mut forward) {
        Ok(r) => Ok(Some(MeasuredQuality {
            output: what,
            model: r.model,
            width: r.width,
            height: r.height,
            frames: r.frames_scored,
            vmaf: r.vmaf,
            psnr: r.psnr,
            ssim: r.ssim,
            seconds: started.elapsed().as_secs_f64(),
            verified: None,
        })),
        Err(EngineError::Canceled) => Err(EngineError::Canceled),
        Err(e) => Ok(unmeasured(&what, &e, on_event, warnings)),
    }
}

fn unmeasured(
    what: &str,
    e: &dyn std::fmt::Display,
    on_event: &mut dyn FnMut(Event),
    warnings: &mut Vec<String>,
) -> Option<MeasuredQuality> {
    let message = format!("the {what} output could not be measured: {e}");
    on_event(Event::Warning { message: message.clone() });
    warnings.push(message);
    None
}

/// A file removed when dropped.
struct Joined(PathBuf);

impl Drop for Joined {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// The rung of media playlist `playlist` as one file: its `EXT-X-MAP`
/// section and segments (plain file names beside the playlist, as Crema
/// writes them) appended in playlist order.
fn join_rung(playlist: &Path) -> std::result::Result<Joined, String> {
    let dir = playlist.parent().ok_or("the playlist has no folder")?;
    let text = std::fs::read(playlist).map_err(|e| format!("cannot read the media playlist: {e}"))?;
    let uris = crate::hls::media_playlist_uris(&text).ok_or("not a media playlist")?;
    let ext = uris.last().and_then(|u| u.rsplit_once('.')).map_or("mp4", |(_, e)| if e == "ts" { "ts" } else { "mp4" });
    let joined = Joined(dir.join(format!(".crema-measure-{}.{ext}", std::process::id())));
    let mut out = std::fs::File::create(&joined.0).map_err(|e| format!("cannot write beside the package: {e}"))?;
    for uri in &uris {
        if uri.contains('/') || uri.contains('\\') || uri.starts_with('.') {
            return Err(format!("segment {uri} is not a file beside its playlist"));
        }
        let mut seg = std::fs::File::open(dir.join(uri)).map_err(|e| format!("segment {uri}: {e}"))?;
        std::io::copy(&mut seg, &mut out).map_err(|e| format!("joining segment {uri}: {e}"))?;
    }
    Ok(joined)
}
