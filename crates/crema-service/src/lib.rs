//! Crema's service layer: the one API every transport (HTTP, the desktop
//! app, watch folders) calls.
//!
//! A [`Service`] owns a SQLite store (sqlx, WAL, migrations in
//! `migrations/`), a pool of workers that run the engine on blocking threads,
//! and a broadcast channel of [`ServiceEvent`]s. Jobs survive crashes: on
//! [`Service::open`] jobs left running by a dead process are requeued (or
//! failed when their attempts are used up).
//!
//! Beside the queue: chunked, resumable uploads (`uploads.rs`) that feed
//! jobs through [`SourceSpec::Upload`]; webhooks (registration, the delivery
//! outbox, signed delivery, the SSRF policy: `webhooks/`); API keys and
//! browser sessions (`auth.rs`); `Idempotency-Key` records
//! (`idempotency.rs`); signed download tokens (`tokens.rs`); readiness,
//! the free-space watch and output retention (`maintenance.rs`); watch
//! folders (`watch/`): rules that encode files dropped in a folder, once,
//! after their copy finished, across restarts.

mod auth;
mod catalog;
mod config;
mod database;
mod duty;
mod error;
mod idempotency;
mod jobs;
mod maintenance;
mod measured;
mod messages;
mod nodes;
pub mod objects;
mod origin;
mod place;
pub mod redact;
mod service;
mod shared;
mod store;
mod tokens;
mod types;
mod uploads;
mod watch;
mod waveform;
mod webhooks;
mod wire;

pub use auth::{Admin, ApiKey, ApiKeyCreated, ApiKeyImported, Principal, Session};
pub use catalog::{MovePosition, ProfileInfo, ProfileList, SourceFacts, THUMBNAIL_BOX};
pub use config::Config;
pub use database::{Database, DatabaseParseError};
pub use error::{ErrorCode, Result, ServiceError};
pub use idempotency::{IDEMPOTENCY_KEY_PATTERN, IdempotencyBegin, idempotency_key_is_valid};
pub use jobs::{FfmpegTranscoder, MAX_METADATA_BYTES, Transcoder};
pub use maintenance::ReadinessReport;
pub use measured::{ChunkInfo, PooledScore, QualityInfo, VerifiedInfo};
pub use messages::EventMessage;
pub use nodes::NodeInfo;
pub use origin::Origin;
pub use service::{BucketHlsFile, MAX_PLAYLIST_BYTES, Service, WORKER_STOP_TIMEOUT};
pub use tokens::{DownloadClaims, DownloadTarget};
pub use types::{
    ContainerSpec, EncoderUse, HlsCodec, HlsOutputInfo, HlsRendition, HlsSpec, Job, JobSpec, JobStatus, OutputInfo,
    OutputSpec, OutputState, Page, Progress, ServiceEvent, SourceInfo, SourceSpec,
};
pub use uploads::{
    FILE_NAME_PATTERN, MAX_FILE_NAME_BYTES, MIB, PartReceived, Upload, UploadCompleted, UploadCreated, UploadSpec,
    UploadStatus, chunk_size_for,
};
pub use watch::{
    DEFAULT_INCLUDE, DEFAULT_SETTLE_SECONDS, FailureAction, MAX_EVENTS_PER_RULE, MAX_LIST_LIMIT, SuccessAction,
    WatchConfig, WatchCounts, WatchDecision, WatchEvent, WatchFile, WatchRule, WatchRuleSpec,
};
pub use waveform::{WaveformFormat, WaveformInfo, WaveformRequest, WaveformSpec};
pub use webhooks::{
    DELIVERY_CONCURRENCY, DeliveryState, MAX_BACKOFF, MAX_DELIVERY_RECORDS, MAX_JOB_WEBHOOKS, MAX_NAME_CHARS,
    MAX_URL_BYTES, PolicyRefusal, Webhook, WebhookCreated, WebhookDelivery, WebhookEvent, WebhookPolicy, WebhookSpec,
    sign as sign_webhook,
};
