//! What every command reaches through `tauri::State`.

use crate::events::Subscriptions;
use crate::paths::Paths;
use crate::server::LanServer;
use crate::settings::Settings;
use crema_service::Service;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

/// The app's state: the one service and the shell's own bits around it.
pub struct Desktop {
    /// The same service as `crema serve`, on the same data folder.
    pub service: Arc<Service>,
    /// Data and config folders.
    pub paths: Paths,
    /// The settings the service was opened with (changes apply at restart).
    pub applied: Settings,
    /// The settings as saved.
    pub settings: Mutex<Settings>,
    /// The optional LAN server on the same service.
    pub server: LanServer,
    /// Loopback-only server for the window's media player (`playback_url`).
    pub media: LanServer,
    /// Event forwarders to the window.
    pub subscriptions: Subscriptions,
    /// The user confirmed quitting: the next close request goes through.
    pub quitting: AtomicBool,
}
