//! Webhooks (contract section "Webhooks"): registration, the delivery
//! outbox, signed delivery with retries, and the SSRF policy.
//!
//! A job names webhooks in `webhook_ids`; when it reaches `completed`,
//! `failed` or `canceled`, an SQLite trigger (migration `0003_webhooks.sql`)
//! writes one outbox row per active webhook in the same transaction as the
//! status change. A delivery task started by [`crate::Service::open`] sends due rows
//! (at most [`DELIVERY_CONCURRENCY`] at once, never holding up job
//! processing), records every attempt, and retries with backoff
//! ([`WebhookPolicy`]). Rows survive crashes: after a restart the deliveries
//! still owed are sent, an attempt cut short by the crash is recorded as
//! interrupted and made again (delivery is at least once: receivers
//! deduplicate on `event_id`).

mod delivery;
mod model;
pub(crate) mod policy;

pub use delivery::{DELIVERY_CONCURRENCY, sign};
pub(crate) use delivery::{recover, spawn_delivery};
use model::host_ip;
pub use model::{
    DeliveryState, MAX_DELIVERY_RECORDS, MAX_JOB_WEBHOOKS, MAX_NAME_CHARS, MAX_URL_BYTES, Webhook, WebhookCreated,
    WebhookDelivery, WebhookEvent, WebhookSpec,
};
pub(crate) use model::{WEBHOOK_DELETED, Webhooks};
pub use policy::{MAX_BACKOFF, PolicyRefusal, WebhookPolicy};

use crate::error::{Result, ServiceError};
use crate::shared::new_id;
use crate::store::{DbRow, Pool};
use crate::store::{now, ts};
use sqlx::Row;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

impl Webhooks {
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
    pub(crate) async fn create_webhook(&self, spec: WebhookSpec) -> Result<WebhookCreated> {
        let url = validate_url(&spec.url, &self.core.config.webhooks)?;
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
        sqlx::query("INSERT INTO webhooks (id, url, name, secret, active, created_at) VALUES ($1, $2, $3, $4, 1, $5)")
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
    pub(crate) async fn list_webhooks(&self) -> Result<Vec<Webhook>> {
        let rows = sqlx::query("SELECT * FROM webhooks WHERE active = 1 ORDER BY seq").fetch_all(self.pool()).await?;
        rows.iter().map(row_to_webhook).collect()
    }

    /// Deletes a webhook (`DELETE /v1/webhooks/{id}`): it gets no further
    /// deliveries, its pending ones are marked failed ("webhook deleted"; an
    /// attempt under way at that moment still ends, and is not retried), and
    /// jobs that named it no longer owe it events. The row is kept so that
    /// [`crate::Service::webhook_deliveries`] still answers. Returns the webhook with
    /// `active: false`.
    ///
    /// Errors: [`ServiceError::NotFound`] (kind `webhook`) for an unknown or
    /// already deleted ID; [`ServiceError::Internal`] for database faults.
    pub(crate) async fn delete_webhook(&self, id: &str) -> Result<Webhook> {
        let at = ts(now());
        let mut tx = crate::store::begin_immediate(self.pool()).await?;
        let row =
            sqlx::query("UPDATE webhooks SET active = 0, deleted_at = $1 WHERE id = $2 AND active = 1 RETURNING *")
                .bind(&at)
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?
                .ok_or_else(|| not_found(id))?;
        let webhook = row_to_webhook(&row)?;
        sqlx::query(
            "INSERT INTO webhook_attempts (event_id, webhook_id, job_id, type, attempt, status_code, error,
                                           duration_ms, attempted_at, state, next_attempt_at)
             SELECT event_id, webhook_id, job_id, type, 0, NULL, $1, 0, $2, 'failed', NULL
             FROM webhook_deliveries WHERE webhook_id = $3 AND state = 'pending' AND in_flight = 0",
        )
        .bind(WEBHOOK_DELETED)
        .bind(&at)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE webhook_deliveries SET state = 'failed', last_error = $1
             WHERE webhook_id = $2 AND state = 'pending' AND in_flight = 0",
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
    pub(crate) async fn webhook_deliveries(&self, id: &str) -> Result<Vec<WebhookDelivery>> {
        let pool = self.pool();
        let exists = sqlx::query("SELECT 1 FROM webhooks WHERE id = $1").bind(id).fetch_optional(pool).await?;
        if exists.is_none() {
            return Err(not_found(id));
        }
        let rows = sqlx::query("SELECT * FROM webhook_attempts WHERE webhook_id = $1 ORDER BY seq DESC LIMIT $2")
            .bind(id)
            .bind(i64::from(MAX_DELIVERY_RECORDS))
            .fetch_all(pool)
            .await?;
        rows.iter().map(row_to_delivery).collect()
    }

    fn pool(&self) -> &Pool {
        &self.core.pool
    }
}

/// How many deliveries about job `job_id` are still to be made.
pub(crate) async fn owed_deliveries(pool: &Pool, job_id: &str) -> Result<i64> {
    Ok(sqlx::query_scalar("SELECT COUNT(*) FROM webhook_deliveries WHERE job_id = $1 AND state IN ('pending')")
        .bind(job_id)
        .fetch_one(pool)
        .await?)
}

/// Checks a job's `webhook_ids`: each must be a registered, active webhook;
/// returns them without duplicates, in order.
///
/// Errors: [`ServiceError::Validation`] on `webhook_ids` for an unknown or
/// deleted ID, or more than [`MAX_JOB_WEBHOOKS`].
pub(crate) async fn check_job_webhooks(pool: &Pool, ids: &[String]) -> Result<Vec<String>> {
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
            sqlx::query("SELECT 1 FROM webhooks WHERE id = $1 AND active = 1").bind(id).fetch_optional(pool).await?;
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

/// Parses and checks a webhook URL (see [`crate::Service::create_webhook`]).
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

fn parse_time(s: &str) -> Result<OffsetDateTime> {
    OffsetDateTime::parse(s, &Rfc3339).map_err(|e| ServiceError::Internal(format!("stored time {s}: {e}")))
}

fn row_to_webhook(row: &DbRow) -> Result<Webhook> {
    Ok(Webhook {
        id: row.try_get("id")?,
        url: row.try_get("url")?,
        active: row.try_get::<i64, _>("active")? == 1,
        created_at: parse_time(&row.try_get::<String, _>("created_at")?)?,
        name: row.try_get("name")?,
    })
}

fn row_to_delivery(row: &DbRow) -> Result<WebhookDelivery> {
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
