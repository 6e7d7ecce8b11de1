//! The webhooks' data: the API's types and limits, and the [`Webhooks`]
//! handle's state, shared by the registration API (`mod.rs`) and the
//! delivery task (`delivery.rs`).

use crate::error::{Result, ServiceError};
use crate::shared::Core;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::Arc;
use time::OffsetDateTime;
use tokio::sync::Notify;
use utoipa::ToSchema;

/// Most webhooks one job may name.
pub const MAX_JOB_WEBHOOKS: usize = 16;
/// Longest accepted webhook URL, in bytes.
pub const MAX_URL_BYTES: usize = 2048;
/// Longest accepted webhook name, in characters.
pub const MAX_NAME_CHARS: usize = 200;
/// Most attempt records [`crate::Service::webhook_deliveries`] returns.
pub const MAX_DELIVERY_RECORDS: u32 = 500;

/// The body of `POST /v1/webhooks`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct WebhookSpec {
    /// Where deliveries are POSTed: an absolute `http` or `https` URL with a
    /// host and no user info, at most 2048 bytes.
    pub url: String,
    /// A label for people, at most 200 characters; optional.
    #[serde(default)]
    pub name: Option<String>,
}

/// The `201` body of `POST /v1/webhooks`: the webhook plus its signing secret,
/// which is shown only here.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct WebhookCreated {
    /// `wh_` + 128 random bits in hex.
    pub id: String,
    /// The target URL, normalized (lower-case scheme and host, a path of at least `/`).
    pub url: String,
    /// 64 lower-case hex chars (32 random bytes). Deliveries are signed with
    /// HMAC-SHA256 keyed with these 64 ASCII characters (see [`sign`]).
    pub secret: String,
    /// Whether the webhook receives deliveries (true until deleted).
    pub active: bool,
    /// When it was registered (RFC 3339 UTC).
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// The label given at creation, if any (extension).
    pub name: Option<String>,
}

/// A webhook as listed (`GET /v1/webhooks`) and as returned by `DELETE`; never carries the secret.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Webhook {
    /// `wh_` + 128 random bits in hex.
    pub id: String,
    /// The target URL.
    pub url: String,
    /// Whether the webhook receives deliveries (false once deleted).
    pub active: bool,
    /// When it was registered (RFC 3339 UTC).
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// The label given at creation, if any (extension).
    pub name: Option<String>,
}

/// A delivery's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryState {
    /// Not delivered yet; another attempt is due at `next_attempt_at`.
    Pending,
    /// A 2xx response was received.
    Delivered,
    /// Given up: attempts used up, the target refused by the policy, or the webhook deleted.
    Failed,
}

impl DeliveryState {
    pub(crate) fn parse(s: &str) -> Result<Self> {
        match s {
            "pending" => Ok(Self::Pending),
            "delivered" => Ok(Self::Delivered),
            "failed" => Ok(Self::Failed),
            other => Err(ServiceError::Internal(format!("stored delivery state {other}"))),
        }
    }
}

/// Extension: one recorded delivery attempt (`GET /v1/webhooks/{id}/deliveries`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct WebhookDelivery {
    /// The event's ID (`evt_…`), the same for every attempt of one delivery.
    pub event_id: String,
    /// The webhook it was sent to.
    pub webhook_id: String,
    /// The job the event is about.
    pub job_id: String,
    /// `job.completed`, `job.failed` or `job.canceled`.
    #[serde(rename = "type")]
    pub kind: String,
    /// 1-based attempt number; 0 for the record of a delivery dropped before
    /// any request was sent (its webhook was deleted).
    pub attempt: u32,
    /// The HTTP status received; `null` when none was (connection error,
    /// timeout, refused by the policy).
    pub status_code: Option<u16>,
    /// What went wrong, in words; `null` for a 2xx.
    pub error: Option<String>,
    /// How long the attempt took, in milliseconds (resolution, connection and response).
    pub duration_ms: u64,
    /// When the attempt ended (RFC 3339 UTC).
    #[serde(with = "time::serde::rfc3339")]
    pub attempted_at: OffsetDateTime,
    /// When the next attempt is due, for a delivery still pending after this one.
    #[serde(with = "time::serde::rfc3339::option")]
    pub next_attempt_at: Option<OffsetDateTime>,
    /// The delivery's state right after this attempt.
    pub state: DeliveryState,
}

/// The JSON body POSTed to a webhook, exactly the contract's fields in this order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct WebhookEvent {
    /// `evt_` + 128 random bits in hex; also the `X-Turbo-Event-Id` header.
    /// The same for every attempt: receivers deduplicate on it.
    pub event_id: String,
    /// `job.completed`, `job.failed` or `job.canceled`.
    #[serde(rename = "type")]
    pub kind: String,
    /// When the event happened (the job's `completed_at`), RFC 3339 UTC.
    #[serde(with = "time::serde::rfc3339")]
    pub timestamp: OffsetDateTime,
    /// The job's ID.
    pub job_id: String,
    /// The job's status the event reports (`completed`, `failed`, `canceled`).
    pub status: String,
    /// The job's `metadata` as submitted (`{}` when none).
    pub metadata: Value,
}

/// The webhooks handle of a running service: registration and the delivery task's wake-up.
pub(crate) struct Webhooks {
    pub(crate) core: Arc<Core>,
    /// Wakes the delivery task.
    pub(crate) wake: Notify,
}

impl Webhooks {
    /// A handle over the shared state.
    pub(crate) fn new(core: Arc<Core>) -> Webhooks {
        Webhooks { core, wake: Notify::new() }
    }
}

/// The error text of deliveries dropped because their webhook was deleted.
pub(crate) const WEBHOOK_DELETED: &str = "webhook deleted; the delivery was dropped";

/// The IP address of a URL host that is an IP literal (`127.0.0.1`, `[::1]`); `None` for a name.
pub(crate) fn host_ip(host: &str) -> Option<std::net::IpAddr> {
    host.trim_start_matches('[').trim_end_matches(']').parse().ok()
}
