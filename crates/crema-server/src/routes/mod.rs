//! Route handlers, one module per resource of the contract. Each handler
//! deserializes, calls one [`crema_service::Service`] method, serializes.

pub mod downloads;
pub mod events;
pub mod health;
pub mod jobs;
pub mod nodes;
pub mod profiles;
pub mod uploads;
pub mod watch;
pub mod waveform;
pub mod webhooks;
