//! Crema's service layer: the one API every transport (HTTP, the desktop
//! app, watch folders) calls.
//!
//! A [`Service`] owns a SQLite store (sqlx, WAL, migrations in
//! `migrations/`), a pool of workers that run the engine on blocking threads,
//! and a broadcast channel of [`ServiceEvent`]s. Jobs survive crashes: on
//! [`Service::open`] jobs left running by a dead process are requeued (or
//! failed when their attempts are used up).
//!
//! Not here yet (later migrations and the HTTP crate): uploads, idempotency
//! records, API keys, webhooks and deliveries, output retention.

mod auth;
mod config;
mod error;
mod maintenance;
mod idempotency;
mod service;
mod store;
mod tokens;
mod types;
mod worker;

pub use auth::{Admin, ApiKey, ApiKeyCreated, Principal, Session};
pub use config::Config;
pub use error::{Result, ServiceError};
pub use maintenance::ReadinessReport;
pub use idempotency::IdempotencyBegin;
pub use service::{MAX_METADATA_BYTES, Service};
pub use tokens::{DownloadClaims, DownloadTarget};
pub use types::{
    ContainerSpec, HlsCodec, HlsOutputInfo, HlsRendition, HlsSpec, Job, JobSpec, JobStatus, OutputInfo, OutputSpec,
    Page, Progress, ServiceEvent, SourceInfo, SourceSpec,
};
