//! Crema's service layer: the one API every transport (HTTP, the desktop
//! app, watch folders) calls.
//!
//! A [`Service`] owns a SQLite store (sqlx, WAL, migrations in
//! `migrations/`), a pool of workers that run the engine on blocking threads,
//! and a broadcast channel of [`ServiceEvent`]s. Jobs survive crashes: on
//! [`Service::open`] jobs left running by a dead process are requeued (or
//! failed when their attempts are used up).
//!
//! Chunked, resumable uploads (`uploads.rs`, migration `0002_uploads.sql`)
//! follow the `/v1` contract's "Uploads" section and feed jobs through
//! [`SourceSpec::Upload`].
//!
//! Not here yet (later migrations and the HTTP crate): idempotency
//! records, API keys, webhooks and deliveries, output retention.

mod config;
mod error;
mod service;
mod store;
mod types;
mod uploads;
mod worker;

pub use config::Config;
pub use error::{Result, ServiceError};
pub use service::{MAX_METADATA_BYTES, Service};
pub use types::{
    ContainerSpec, HlsCodec, HlsOutputInfo, HlsRendition, HlsSpec, Job, JobSpec, JobStatus, OutputInfo, OutputSpec,
    Page, Progress, ServiceEvent, SourceInfo, SourceSpec,
};
pub use uploads::{
    MAX_FILE_NAME_BYTES, MIB, PartReceived, Upload, UploadCompleted, UploadCreated, UploadSpec, UploadStatus,
    chunk_size_for,
};
