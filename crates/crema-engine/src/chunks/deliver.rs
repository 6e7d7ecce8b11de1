//! What every chunked encode does around its chunks: a scratch folder beside
//! the output, the source's audio written once by the audio-only path, and
//! the delivery: the chunks joined ([`super::join`]) into a staged file,
//! checked against `sophon-auto`'s keep rule, then committed.

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::error::{EngineError, Result};
use crate::media::MediaInfo;
use crate::output::{Staging, measured_duration};
use crate::profile::Profile;
use crate::progress::CancelFlag;
use crate::request::{Container, EncodeRequest, FileRequest, OutputReport};
use crate::transcode::KeepRule;

use super::join::{self, Part};

/// A hidden folder beside the output (same disk as the result), removed
/// with everything in it when dropped.
pub(crate) struct Scratch(PathBuf);

impl Scratch {
    /// Makes the folder for the output `output`.
    ///
    /// Errors: [`EngineError::OutputNotWritable`] when it cannot be made.
    pub(crate) fn beside(output: &Path) -> Result<Self> {
        let parent = output.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let name = output.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        let dir = parent.join(format!(".{name}.crema-chunks-{}-{nanos}", std::process::id()));
        std::fs::create_dir(&dir)
            .map_err(|e| EngineError::OutputNotWritable { path: output.into(), cause: e.to_string() })?;
        Ok(Scratch(dir))
    }

    /// The folder.
    pub(crate) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The source's audio alone, written by the audio-only path into
/// `scratch`, when the request wants audio and the source has some.
///
/// Errors: those of [`crate::audio_only::run`].
pub(crate) fn audio_file(
    req: &EncodeRequest,
    info: &MediaInfo,
    profile: &Profile,
    container: Container,
    scratch: &Path,
    cancel: &CancelFlag,
) -> Result<Option<PathBuf>> {
    if !req.audio || crate::streams::file_audio(info).0.is_empty() {
        return Ok(None);
    }
    let path = scratch.join(match container {
        Container::Mp4 => "audio.mp4",
        Container::Mkv => "audio.mka",
    });
    let areq = EncodeRequest {
        file: Some(FileRequest { path: path.clone(), container }),
        hls: None,
        waveform: None,
        measure: false,
        overwrite: true,
        ..req.clone()
    };
    let mut audio_info = info.clone();
    audio_info.video = None;
    crate::audio_only::run(&areq, profile, audio_info, Instant::now(), cancel, &mut |_| {})?;
    Ok(Some(path))
}

/// What [`deliver`] did.
pub(crate) enum Delivered {
    /// The file was committed at the request's path.
    Written(Box<OutputReport>),
    /// The keep rule failed; nothing was written.
    NotSmaller {
        /// The saving the joined file would have made, percent.
        saved_percent: f64,
    },
}

/// Joins `parts` and `audio` into the request's single file through a
/// staged path, keeps it only if it passes `keep`, and commits it. The
/// report's size, duration and audio tracks are the joined file's; its
/// picture size and encoder are `first`'s (the first chunk's report).
///
/// Errors: those of [`join::join`]; [`EngineError::OutputNotWritable`]
/// when the file cannot be staged or committed.
pub(crate) fn deliver(
    req: &EncodeRequest,
    parts: &[Part],
    audio: Option<&Path>,
    first: &OutputReport,
    keep: Option<KeepRule>,
    cancel: &CancelFlag,
) -> Result<Delivered> {
    let file = req.file.as_ref().ok_or_else(|| EngineError::Internal("a chunked encode without a file".into()))?;
    let mut staging = Staging::new();
    let tmp = staging.add(&file.path, false)?;
    join::join(parts, audio, &tmp, file.container, cancel)?;
    let bytes = std::fs::metadata(&tmp).map(|m| m.len()).unwrap_or(0);
    if let Some(rule) = keep {
        let saved = (1.0 - bytes as f64 / rule.reference_bytes.max(1) as f64) * 100.0;
        if saved < rule.min_saving_percent {
            staging.discard();
            return Ok(Delivered::NotSmaller { saved_percent: saved.max(0.0) });
        }
    }
    let duration_seconds = measured_duration(&tmp);
    let audio_tracks = audio.map_or(0, count_audio);
    staging.commit()?;
    Ok(Delivered::Written(Box::new(OutputReport {
        kind: "file".into(),
        path: file.path.clone(),
        bytes,
        duration_seconds,
        audio_tracks,
        renditions: vec![],
        ..first.clone()
    })))
}

fn count_audio(path: &Path) -> usize {
    crate::probe::open_input(path)
        .map(|i| i.streams().filter(|s| s.parameters().medium() == ffmpeg_next::media::Type::Audio).count())
        .unwrap_or(0)
}
