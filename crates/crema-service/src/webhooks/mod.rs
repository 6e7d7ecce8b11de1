//! Webhooks (contract section "Webhooks"): registration, the delivery
//! outbox, signed delivery with retries, and the SSRF policy.
//!
//! A job names webhooks in `webhook_ids`; when it reaches `completed`,
//! `failed` or `canceled`, an SQLite trigger (migration `0003_webhooks.sql`)
//! writes one outbox row per active webhook in the same transaction as the
//! status change. A delivery task started by [`Service::open`] sends due rows
//! (at most [`DELIVERY_CONCURRENCY`] at once, never holding up job
//! processing), records every attempt, and retries with backoff
//! ([`WebhookPolicy`]). Rows survive crashes: after a restart the deliveries
//! still owed are sent, an attempt cut short by the crash is recorded as
//! interrupted and made again (delivery is at least once: receivers
//! deduplicate on `event_id`).

mod delivery;
mod policy;

pub use delivery::{DELIVERY_CONCURRENCY, sign};
pub(crate) use delivery::{recover, spawn_delivery};
pub use policy::{MAX_BACKOFF, PolicyRefusal, WebhookPolicy};

use crate::error::{Result, ServiceError};
use crate::service::{Service, new_id};
use crate::store::{now, ts};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::Row;
use sqlx::sqlite::{SqlitePool, SqliteRow};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use utoipa::ToSchema;

/// Most webhooks one job may name.
pub const MAX_JOB_WEBHOOKS: usize = 16;
/// Longest accepted webhook URL, in bytes.
pub const MAX_URL_BYTES: usize = 2048;
/// Longest accepted webhook name, in characters.
pub const MAX_NAME_CHARS: usize = 200;
/// Most attempt records [`Service::webhook_deliveries`] returns.
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
    fn parse(s: &str) -> Result<Self> {
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

impl Service {
    /// Registers a webhook (`POST /v1/webhooks`) with a fresh 32-byte secret.
    ///
    /// The secret is stored in clear in the service database (it must be
    /// readable to sign deliveries) and returned only here.
    ///
    /// Errors: [`ServiceError::Validation`] on `url` (not an absolute URL,
    /// not http/https, no host, user info, over 2048 bytes) or `name` (over
    /// 200 characters); [`ServiceError::Forbidden`] when the host is an IP
    /// literal the [`WebhookPolicy`] refuses (host names are checked at every
    /// delivery, after resolution); [`ServiceError::Internal`] for database
    /// faults or no OS randomness.
    pub async fn create_webhook(&self, spec: WebhookSpec) -> Result<WebhookCreated> {
        let url = validate_url(&spec.url, &self.config().webhooks)?;
        let name = match spec.name.map(|n| n.trim().to_string()).filter(|n| !n.is_empty()) {
            Some(n) if n.chars().count() > MAX_NAME_CHARS => {
                return Err(ServiceError::validation("name", format!("at most {MAX_NAME_CHARS} characters")));
            }
            other => other,
        };
        let mut key = [0u8; 32];
        getrandom::fill(&mut key)
            .map_err(|e| ServiceError::Internal(format!("no OS randomness for a webhook secret: {e}")))?;
        let created = WebhookCreated {
            id: new_id("wh"),
            url: url.to_string(),
            secret: hex::encode(key),
            active: true,
            created_at: now(),
            name,
        };
        sqlx::query("INSERT INTO webhooks (id, url, name, secret, active, created_at) VALUES (?, ?, ?, ?, 1, ?)")
            .bind(&created.id)
            .bind(&created.url)
            .bind(&created.name)
            .bind(&created.secret)
            .bind(ts(created.created_at))
            .execute(self.pool())
            .await?;
        Ok(created)
    }

    /// Active webhooks, oldest first (`GET /v1/webhooks`); secrets are never listed.
    ///
    /// Errors: [`ServiceError::Internal`] for database faults.
    pub async fn list_webhooks(&self) -> Result<Vec<Webhook>> {
        let rows = sqlx::query("SELECT * FROM webhooks WHERE active = 1 ORDER BY seq").fetch_all(self.pool()).await?;
        rows.iter().map(row_to_webhook).collect()
    }

    /// Deletes a webhook (`DELETE /v1/webhooks/{id}`): it gets no further
    /// deliveries, its pending ones are marked failed ("webhook deleted"; an
    /// attempt under way at that moment still ends, and is not retried), and
    /// jobs that named it no longer owe it events. The row is kept so that
    /// [`Service::webhook_deliveries`] still answers. Returns the webhook with
    /// `active: false`.
    ///
    /// Errors: [`ServiceError::NotFound`] (kind `webhook`) for an unknown or
    /// already deleted ID; [`ServiceError::Internal`] for database faults.
    pub async fn delete_webhook(&self, id: &str) -> Result<Webhook> {
        let at = ts(now());
        let mut tx = crate::store::begin_immediate(self.pool()).await?;
        let row = sqlx::query("UPDATE webhooks SET active = 0, deleted_at = ? WHERE id = ? AND active = 1 RETURNING *")
            .bind(&at)
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| not_found(id))?;
        let webhook = row_to_webhook(&row)?;
        sqlx::query(
            "INSERT INTO webhook_attempts (event_id, webhook_id, job_id, type, attempt, status_code, error,
                                           duration_ms, attempted_at, state, next_attempt_at)
             SELECT event_id, webhook_id, job_id, type, 0, NULL, ?, 0, ?, 'failed', NULL
             FROM webhook_deliveries WHERE webhook_id = ? AND state = 'pending' AND in_flight = 0",
        )
        .bind(WEBHOOK_DELETED)
        .bind(&at)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE webhook_deliveries SET state = 'failed', last_error = ?
             WHERE webhook_id = ? AND state = 'pending' AND in_flight = 0",
        )
        .bind(WEBHOOK_DELETED)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(webhook)
    }

    /// Extension: the webhook's delivery attempts, newest first, at most
    /// [`MAX_DELIVERY_RECORDS`]. Works for deleted webhooks too. A delivery
    /// waiting for its first attempt has no record yet.
    ///
    /// Errors: [`ServiceError::NotFound`] (kind `webhook`) for an ID never
    /// registered; [`ServiceError::Internal`] for database faults.
    pub async fn webhook_deliveries(&self, id: &str) -> Result<Vec<WebhookDelivery>> {
        let pool = self.pool();
        let exists = sqlx::query("SELECT 1 FROM webhooks WHERE id = ?").bind(id).fetch_optional(pool).await?;
        if exists.is_none() {
            return Err(not_found(id));
        }
        let rows = sqlx::query("SELECT * FROM webhook_attempts WHERE webhook_id = ? ORDER BY seq DESC LIMIT ?")
            .bind(id)
            .bind(MAX_DELIVERY_RECORDS)
            .fetch_all(pool)
            .await?;
        rows.iter().map(row_to_delivery).collect()
    }

    fn pool(&self) -> &SqlitePool {
        &self.inner.pool
    }
}

/// The error text of deliveries dropped because their webhook was deleted.
pub(crate) const WEBHOOK_DELETED: &str = "webhook deleted; the delivery was dropped";

/// Checks a job's `webhook_ids`: each must be a registered, active webhook;
/// returns them without duplicates, in order.
///
/// Errors: [`ServiceError::Validation`] on `webhook_ids` for an unknown or
/// deleted ID, or more than [`MAX_JOB_WEBHOOKS`].
pub(crate) async fn check_job_webhooks(pool: &SqlitePool, ids: &[String]) -> Result<Vec<String>> {
    let mut unique: Vec<String> = Vec::new();
    for id in ids {
        if !unique.contains(id) {
            unique.push(id.clone());
        }
    }
    if unique.len() > MAX_JOB_WEBHOOKS {
        return Err(ServiceError::validation(
            "webhook_ids",
            format!("at most {MAX_JOB_WEBHOOKS} webhooks per job, got {}", unique.len()),
        ));
    }
    for id in &unique {
        let found =
            sqlx::query("SELECT 1 FROM webhooks WHERE id = ? AND active = 1").bind(id).fetch_optional(pool).await?;
        if found.is_none() {
            return Err(ServiceError::validation(
                "webhook_ids",
                format!("{id:?} is not a registered webhook (unknown or deleted)"),
            ));
        }
    }
    Ok(unique)
}

fn not_found(id: &str) -> ServiceError {
    ServiceError::NotFound { kind: "webhook", id: id.to_string() }
}

/// Parses and checks a webhook URL (see [`Service::create_webhook`]).
fn validate_url(raw: &str, policy: &WebhookPolicy) -> Result<reqwest::Url> {
    let bad = |m: &str| ServiceError::validation("url", m.to_string());
    let raw = raw.trim();
    if raw.len() > MAX_URL_BYTES {
        return Err(bad(&format!("at most {MAX_URL_BYTES} bytes")));
    }
    let url = reqwest::Url::parse(raw).map_err(|e| bad(&format!("not an absolute URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad(&format!("the scheme must be http or https, not {}", url.scheme())));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("must not carry user info (user:password@)"));
    }
    let ip = match url.host_str() {
        None | Some("") => return Err(bad("must name a host")),
        Some(host) => host_ip(host),
    };
    if let Some(ip) = ip {
        policy
            .check_ip(ip)
            .map_err(|e| ServiceError::Forbidden(format!("webhook URL refused by the server's policy: {e}")))?;
    }
    Ok(url)
}

/// The IP address of a URL host that is an IP literal (`127.0.0.1`, `[::1]`); `None` for a name.
pub(crate) fn host_ip(host: &str) -> Option<std::net::IpAddr> {
    host.trim_start_matches('[').trim_end_matches(']').parse().ok()
}

fn parse_time(s: &str) -> Result<OffsetDateTime> {
    OffsetDateTime::parse(s, &Rfc3339).map_err(|e| ServiceError::Internal(format!("stored time {s}: {e}")))
}

fn row_to_webhook(row: &SqliteRow) -> Result<Webhook> {
    Ok(Webhook {
        id: row.try_get("id")?,
        url: row.try_get("url")?,
        active: row.try_get::<i64, _>("active")? == 1,
        created_at: parse_time(&row.try_get::<String, _>("created_at")?)?,
        name: row.try_get("name")?,
    })
}

fn row_to_delivery(row: &SqliteRow) -> Result<WebhookDelivery> {
    let next: Option<String> = row.try_get("next_attempt_at")?;
    let status: Option<i64> = row.try_get("status_code")?;
    Ok(WebhookDelivery {
        event_id: row.try_get("event_id")?,
        webhook_id: row.try_get("webhook_id")?,
        job_id: row.try_get("job_id")?,
        kind: row.try_get("type")?,
        attempt: row.try_get::<i64, _>("attempt")? as u32,
        status_code: status.map(|s| s as u16),
        error: row.try_get("error")?,
        duration_ms: row.try_get::<i64, _>("duration_ms")?.max(0) as u64,
        attempted_at: parse_time(&row.try_get::<String, _>("attempted_at")?)?,
        next_attempt_at: next.as_deref().map(parse_time).transpose()?,
        state: DeliveryState::parse(&row.try_get::<String, _>("state")?)?,
    })
}
