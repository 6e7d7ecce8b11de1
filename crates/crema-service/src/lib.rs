//! Crema's service layer: the one API every transport (HTTP, the desktop
//! app, watch folders) calls.
//!
//! A [`Service`] owns a SQLite store (sqlx, WAL, migrations in
//! `migrations/`), a pool of workers that run the engine on blocking threads,
//! and a broadcast channel of [`ServiceEvent`]s. Jobs survive crashes: on
//! [`Service::open`] jobs left running by a dead process are requeued (or
//! failed when their attempts are used up).
//!
//! Webhooks (registration, the delivery outbox, signed delivery, the SSRF
//! policy) are in the `webhooks` module: [`Service::create_webhook`] and its siblings.
//!
//! Not here yet (later migrations and the HTTP crate): uploads, idempotency
//! records, API keys, output retention.

mod auth;
mod config;
mod error;
mod maintenance;
mod idempotency;
mod service;
mod store;
mod tokens;
mod types;
mod webhooks;
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
pub use webhooks::{
    DELIVERY_CONCURRENCY, DeliveryState, MAX_BACKOFF, MAX_DELIVERY_RECORDS, MAX_JOB_WEBHOOKS, MAX_NAME_CHARS,
    MAX_URL_BYTES, PolicyRefusal, Webhook, WebhookCreated, WebhookDelivery, WebhookEvent, WebhookPolicy, WebhookSpec,
    sign as sign_webhook,
};
