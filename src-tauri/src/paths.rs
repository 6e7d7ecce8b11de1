//! Where the desktop app keeps its data and settings.
//!
//! The data folder is the one `crema serve` uses by default (the same SQLite
//! store, so the queue is shared and persists across restarts):
//! `CREMA_DATA_DIR`, else `directories`' data folder for "crema"
//! (`~/.local/share/crema` on Linux). Settings live in `settings.json` in
//! `CREMA_CONFIG_DIR`, else the platform config folder (`~/.config/crema`).
//! Tests and the smoke test set both variables to temporary folders.

use crate::error::CommandError;
use std::path::PathBuf;

/// The resolved folders.
#[derive(Clone, Debug)]
pub struct Paths {
    /// Database, uploads, default outputs, server secret.
    pub data_dir: PathBuf,
    /// `settings.json`.
    pub config_dir: PathBuf,
}

impl Paths {
    /// Resolves both folders from the environment and the platform.
    ///
    /// Errors: `internal_error` when there is no home folder and no variable is set.
    pub fn resolve() -> Result<Self, CommandError> {
        let dirs = directories::ProjectDirs::from("", "", "crema");
        let from_env = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
        let data_dir = from_env("CREMA_DATA_DIR")
            .or_else(|| dirs.as_ref().map(|d| d.data_dir().to_path_buf()))
            .ok_or_else(|| CommandError::internal("no home folder to keep data in: set CREMA_DATA_DIR"))?;
        let config_dir =
            from_env("CREMA_CONFIG_DIR")
                .or_else(|| dirs.as_ref().map(|d| d.config_dir().to_path_buf()))
                .ok_or_else(|| CommandError::internal("no home folder to keep settings in: set CREMA_CONFIG_DIR"))?;
        Ok(Self { data_dir, config_dir })
    }

    /// The settings file.
    pub fn settings_file(&self) -> PathBuf {
        self.config_dir.join("settings.json")
    }
}
