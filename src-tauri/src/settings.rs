//! The app's settings, persisted as JSON in the config folder.
//!
//! `concurrent_jobs` and `output_dir` configure the service when it opens,
//! so a change applies at the next start of the app (the reply says so with
//! `restart_required`); so do `encoder`, the back-end jobs ask for, and
//! `decoder`, how they decode the source's video.

use crate::error::{CmdResult, CommandError};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Most encodes the app runs at once.
pub const MAX_CONCURRENT_JOBS: usize = 16;

/// What the user can set in the Settings panel.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct Settings {
    /// Encodes run at once, 1..=16 (default: the core count, at most 4).
    pub concurrent_jobs: usize,
    /// Where outputs go (`<folder>/<job id>/`); `null`: `<data dir>/outputs`.
    #[schema(value_type = Option<String>)]
    pub output_dir: Option<PathBuf>,
    /// Hardware encoder preference: `auto`, `software`, `nvenc`, `qsv`,
    /// `vaapi`, `videotoolbox` or `amf` (the CLI's `--encoder` values).
    pub encoder: String,
    /// Video decoder: `software` (default), `auto` (hardware when a device
    /// opens, else software), or a back-end by name (`nvdec`, `vaapi`,
    /// `videotoolbox`, `d3d11va`; the CLI's `--decoder` values).
    pub decoder: String,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            concurrent_jobs: crema_service::Config::default_workers(),
            output_dir: None,
            encoder: "auto".into(),
            decoder: "software".into(),
        }
    }
}

impl Settings {
    /// Checks every field; the error names the field and what is allowed.
    pub fn validate(&self) -> CmdResult<()> {
        if !(1..=MAX_CONCURRENT_JOBS).contains(&self.concurrent_jobs) {
            return Err(CommandError::invalid(
                "settings.concurrent_jobs",
                format!("must be 1..{MAX_CONCURRENT_JOBS}, got {}", self.concurrent_jobs),
            ));
        }
        if let Some(dir) = &self.output_dir
            && !dir.is_absolute()
        {
            return Err(CommandError::invalid(
                "settings.output_dir",
                format!("{} is not an absolute folder path", dir.display()),
            ));
        }
        if crema_engine::encoder::Preference::parse(&self.encoder).is_none() {
            return Err(CommandError::invalid(
                "settings.encoder",
                format!("{:?} is not one of auto, software, nvenc, qsv, vaapi, videotoolbox, amf", self.encoder),
            ));
        }
        if crema_engine::hw_decode::DecodePreference::parse(&self.decoder).is_none() {
            return Err(CommandError::invalid(
                "settings.decoder",
                format!("{:?} is not one of software, auto, nvdec, vaapi, videotoolbox, d3d11va", self.decoder),
            ));
        }
        Ok(())
    }

    /// Parses what the Settings panel sends: unknown fields (`restart_required`)
    /// are ignored, missing ones take their defaults, an empty `output_dir` is `null`.
    ///
    /// Errors: `validation_error` for a value of the wrong type.
    pub fn from_ui(value: serde_json::Value) -> CmdResult<Self> {
        let mut s: Settings = serde_json::from_value(value).map_err(|e| CommandError::invalid("settings", e))?;
        if s.output_dir.as_ref().is_some_and(|d| d.as_os_str().is_empty()) {
            s.output_dir = None;
        }
        Ok(s)
    }

    /// Reads `file`; a missing file gives the defaults. A file that cannot be
    /// parsed or fails validation is set aside as `settings.json.bad` and the
    /// defaults are used (the app must still start).
    pub fn load(file: &Path) -> Self {
        let text = match std::fs::read_to_string(file) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Self::default(),
            Err(e) => {
                tracing::warn!("{}: cannot read settings ({e}); using the defaults", file.display());
                return Self::default();
            }
        };
        match serde_json::from_str::<Settings>(&text).map_err(|e| e.to_string()).and_then(|s| {
            s.validate().map_err(|e| e.message)?;
            Ok(s)
        }) {
            Ok(s) => s,
            Err(why) => {
                let aside = file.with_extension("json.bad");
                let _ = std::fs::rename(file, &aside);
                tracing::warn!("{}: invalid settings ({why}); moved to {}", file.display(), aside.display());
                Self::default()
            }
        }
    }

    /// Validates and writes `file` atomically (temporary file, then rename).
    ///
    /// Errors: `validation_error` for a bad field; `internal_error` when the
    /// file cannot be written.
    pub fn save(&self, file: &Path) -> CmdResult<()> {
        self.validate()?;
        let write = || -> std::io::Result<()> {
            if let Some(dir) = file.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let tmp = file.with_extension("json.tmp");
            let json = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
            std::fs::write(&tmp, json)?;
            std::fs::rename(&tmp, file)
        };
        write().map_err(|e| CommandError::internal(format!("{}: cannot save settings: {e}", file.display())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_validation() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("sub/settings.json");
        assert_eq!(Settings::load(&file), Settings::default());
        let s = Settings {
            concurrent_jobs: 2,
            output_dir: Some("/tmp/out".into()),
            encoder: "software".into(),
            decoder: "auto".into(),
        };
        s.save(&file).unwrap();
        assert_eq!(Settings::load(&file), s);

        let bad = Settings { concurrent_jobs: 0, ..s.clone() };
        assert_eq!(bad.save(&file).unwrap_err().code, crema_service::ErrorCode::ValidationError);
        let bad = Settings { encoder: "gpu".into(), ..s.clone() };
        assert!(bad.validate().unwrap_err().message.starts_with("settings.encoder"));
        let bad = Settings { decoder: "cuda".into(), ..s.clone() };
        assert!(bad.validate().unwrap_err().message.starts_with("settings.decoder"));
        let bad = Settings { output_dir: Some("relative".into()), ..s };
        assert!(bad.validate().is_err());
    }

    #[test]
    fn what_the_panel_sends() {
        let s = Settings::from_ui(serde_json::json!({
            "concurrent_jobs": 3, "output_dir": "", "encoder": "vaapi", "decoder": "auto", "restart_required": true
        }))
        .unwrap();
        let want = Settings { concurrent_jobs: 3, output_dir: None, encoder: "vaapi".into(), decoder: "auto".into() };
        assert_eq!(s, want);
        let e = Settings::from_ui(serde_json::json!({"concurrent_jobs": "two"})).unwrap_err();
        assert_eq!(e.code, crema_service::ErrorCode::ValidationError);
    }

    #[test]
    fn a_broken_file_is_set_aside() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("settings.json");
        std::fs::write(&file, "{not json").unwrap();
        assert_eq!(Settings::load(&file), Settings::default());
        assert!(dir.path().join("settings.json.bad").exists());
        // Missing fields take their defaults.
        std::fs::write(&file, r#"{"concurrent_jobs": 3}"#).unwrap();
        assert_eq!(Settings::load(&file).concurrent_jobs, 3);
        assert_eq!(Settings::load(&file).encoder, "auto");
        assert_eq!(Settings::load(&file).decoder, "software");
    }
}
