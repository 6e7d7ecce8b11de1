//! The delivery task: claims due outbox rows, checks the target against the
//! policy after resolving it, sends the signed event, records the attempt.

use super::model::{WEBHOOK_DELETED, WebhookEvent, Webhooks, host_ip};
use super::policy::WebhookPolicy;
use crate::error::{Result, ServiceError};
use crate::store::Pool;
use crate::store::{begin_immediate, now, ts};
use crate::types::ServiceEvent;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use sqlx::Row;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::sync::{Semaphore, broadcast};
use tokio::task::{JoinHandle, JoinSet};

/// Deliveries sent at once, across all webhooks.
pub const DELIVERY_CONCURRENCY: usize = 4;

/// Tries at recording one attempt's outcome before leaving it to the next
/// open (fewer while the service drains: one, so that shutdown is not held up).
const RECORD_TRIES: u32 = 8;
/// Wait before the second try at recording; doubled after each failure up to
/// [`RECORD_RETRY_MAX`]. The waits between eight tries add up to about 5 s
/// (each try may also wait up to the 5 s busy timeout for the write lock).
const RECORD_RETRY_FIRST: Duration = Duration::from_millis(50);
/// Longest wait between two tries at recording.
const RECORD_RETRY_MAX: Duration = Duration::from_secs(2);

/// Longest sleep of the delivery task with nothing due (it also wakes on
/// every job that ends and whenever an attempt finishes).
const IDLE_POLL: Duration = Duration::from_secs(30);

/// The `X-Turbo-Signature-256` header value for one attempt:
/// `sha256=` + lower-case hex HMAC-SHA256, keyed with the webhook secret's
/// 64 ASCII hex characters (as shown at creation), of the bytes
/// `"{timestamp}.{body}"`, where `timestamp` is the `X-Turbo-Timestamp`
/// header value and `body` the raw request body (contract, "Webhooks").
pub fn sign(secret: &str, timestamp: &str, body: &[u8]) -> String {
    // HMAC takes keys of any length; `new_from_slice` cannot fail for it.
    let mut mac = match <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()) {
        Ok(m) => m,
        Err(_) => unreachable!("HMAC accepts keys of any length"),
    };
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Unix milliseconds of `t`.
fn ms(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

/// On open: attempts a dead process left under way are recorded as
/// interrupted and made due again (or failed when they were the last
/// allowed). Returns how many there were.
pub(crate) async fn recover(pool: &Pool, policy: &WebhookPolicy) -> Result<u64> {
    let at = now();
    let max = i64::from(policy.max_attempts);
    let error = "interrupted: the service stopped during this attempt";
    let mut tx = begin_immediate(pool).await?;
    sqlx::query(
        "INSERT INTO webhook_attempts (event_id, webhook_id, job_id, type, attempt, status_code, error,
                                       duration_ms, attempted_at, state, next_attempt_at)
         SELECT event_id, webhook_id, job_id, type, attempts, NULL, $1, 0, $2,
                CASE WHEN attempts >= $3 THEN 'failed' ELSE 'pending' END,
                CASE WHEN attempts >= $4 THEN NULL ELSE $5 END
         FROM webhook_deliveries WHERE in_flight = 1 ORDER BY seq",
    )
    .bind(error)
    .bind(ts(at))
    .bind(max)
    .bind(max)
    .bind(ts(at))
    .execute(&mut *tx)
    .await?;
    let n = sqlx::query(
        "UPDATE webhook_deliveries SET in_flight = 0, last_error = $1, due_ms = $2,
                state = CASE WHEN attempts >= $3 THEN 'failed' ELSE state END
         WHERE in_flight = 1",
    )
    .bind(error)
    .bind(ms(at))
    .bind(max)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    tx.commit().await?;
    Ok(n)
}

/// Starts the delivery task. It stops once the service is draining and its
/// attempts under way have ended; [`crate::Service::shutdown`] waits for it.
pub(crate) fn spawn_delivery(inner: Arc<Webhooks>) -> JoinHandle<()> {
    let events = inner.core.events.subscribe();
    tokio::spawn(run(inner, events))
}

/// A due delivery, claimed for one attempt.
struct Claimed {
    event_id: String,
    webhook_id: String,
    job_id: String,
    kind: String,
    status: String,
    event_at: String,
    /// This attempt's number, 1-based.
    attempt: u32,
}

/// How an attempt ended.
#[derive(Clone)]
enum Outcome {
    /// 2xx.
    Delivered(u16),
    /// Worth trying again (non-2xx, timeout, connection or resolution error).
    Retry(Option<u16>, String),
    /// Never worth trying again (policy refusal, webhook deleted, bad stored URL).
    Final(Option<u16>, String),
}

async fn run(inner: Arc<Webhooks>, mut events: broadcast::Receiver<ServiceEvent>) {
    let slots = Arc::new(Semaphore::new(DELIVERY_CONCURRENCY));
    let mut tasks = JoinSet::new();
    // Whether this node delivers (one node of a farm does; a single box always).
    let mut holder = !inner.core.config.resolved_database().is_shared();
    loop {
        if inner.core.is_draining() {
            break;
        }
        while tasks.try_join_next().is_some() {}
        let mut wait = IDLE_POLL;
        let was_holder = holder;
        holder = inner.core.hold_duty("webhooks").await;
        if holder && !was_holder {
            // Taken over from a node that stopped renewing the duty: its
            // attempts under way are interrupted, as after a restart.
            if let Err(e) = recover(&inner.core.pool, &inner.core.config.webhooks).await {
                tracing::warn!("webhook deliveries: cannot recover interrupted attempts: {e}");
            }
        }
        let free = if holder { slots.available_permits() } else { 0 };
        if free > 0 {
            match claim(&inner.core.pool, free).await {
                Ok(claimed) => {
                    for c in claimed {
                        let Ok(permit) = slots.clone().acquire_owned().await else { break };
                        let inner = inner.clone();
                        tasks.spawn(async move {
                            attempt(&inner, c).await;
                            drop(permit);
                            inner.wake.notify_one();
                        });
                    }
                }
                Err(e) => {
                    tracing::warn!("webhook deliveries: cannot read the outbox: {e}");
                    wait = Duration::from_secs(1);
                }
            }
            if let Ok(Some(due)) = next_due(&inner.core.pool).await {
                wait = wait.min(Duration::from_millis((due - ms(now())).max(0) as u64));
            }
        }
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            tokio::select! {
                _ = inner.wake.notified() => break,
                _ = tokio::time::sleep_until(deadline) => break,
                ev = events.recv() => match ev {
                    Ok(ServiceEvent::JobStateChanged { job }) if job.status.is_terminal() => break,
                    Err(broadcast::error::RecvError::Lagged(_)) => break,
                    Err(broadcast::error::RecvError::Closed) => {
                        tokio::time::sleep_until(deadline).await;
                        break;
                    }
                    Ok(_) => {}
                },
            }
        }
    }
    // Draining: let the attempts under way end (each is bounded by the policy timeout).
    while tasks.join_next().await.is_some() {}
}

/// Marks up to `limit` due deliveries in flight (attempt counted) and returns them.
async fn claim(pool: &Pool, limit: usize) -> Result<Vec<Claimed>> {
    let rows = sqlx::query(
        "UPDATE webhook_deliveries SET in_flight = 1, attempts = attempts + 1
         WHERE seq IN (SELECT seq FROM webhook_deliveries
                       WHERE state = 'pending' AND in_flight = 0 AND due_ms <= $1
                       ORDER BY due_ms, seq LIMIT $2)
         RETURNING event_id, webhook_id, job_id, type, status, event_at, attempts",
    )
    .bind(ms(now()))
    .bind(limit as i64)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Claimed {
                event_id: r.try_get("event_id")?,
                webhook_id: r.try_get("webhook_id")?,
                job_id: r.try_get("job_id")?,
                kind: r.try_get("type")?,
                status: r.try_get("status")?,
                event_at: r.try_get("event_at")?,
                attempt: r.try_get::<i64, _>("attempts")?.max(1) as u32,
            })
        })
        .collect()
}

/// When the earliest waiting delivery is due (Unix ms).
async fn next_due(pool: &Pool) -> Result<Option<i64>> {
    let row =
        sqlx::query("SELECT MIN(due_ms) AS due FROM webhook_deliveries WHERE state = 'pending' AND in_flight = 0")
            .fetch_one(pool)
            .await?;
    Ok(row.try_get("due")?)
}

/// One attempt, start to record.
async fn attempt(inner: &Webhooks, c: Claimed) {
    let started = Instant::now();
    let policy = &inner.core.config.webhooks;
    let outcome = match target(&inner.core.pool, &c).await {
        Ok(Some(t)) => send(policy, &c, &t).await,
        Ok(None) => Outcome::Final(None, WEBHOOK_DELETED.into()),
        Err(e) => Outcome::Retry(None, format!("cannot read the delivery: {e}")),
    };
    let duration_ms = started.elapsed().as_millis() as i64;
    // The request is over: its record must not be lost to a passing database
    // fault, or the delivery stays in flight and is sent again at the next open.
    let mut wait = RECORD_RETRY_FIRST;
    for n in 1..=RECORD_TRIES {
        match record(&inner.core.pool, policy, &c, &outcome, duration_ms).await {
            Ok(()) => return,
            Err(e) if n < RECORD_TRIES && !inner.core.pool.is_closed() && !inner.core.is_draining() => {
                tracing::warn!(
                    "webhook delivery {}: recording attempt {} failed ({e}); retrying",
                    c.event_id,
                    c.attempt
                );
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(RECORD_RETRY_MAX);
            }
            Err(e) => {
                // The row stays in flight; the next open records the attempt
                // as interrupted and makes the delivery due again.
                tracing::error!(
                    "webhook delivery {}: cannot record attempt {} after {n} tries: {e}",
                    c.event_id,
                    c.attempt
                );
                return;
            }
        }
    }
}

/// What a delivery is sent to and with.
struct Target {
    url: String,
    secret: String,
    metadata: serde_json::Value,
}

/// The webhook's URL and secret and the job's metadata; `None` when the webhook was deleted.
async fn target(pool: &Pool, c: &Claimed) -> Result<Option<Target>> {
    let Some(row) = sqlx::query(
        "SELECT url, secret, (SELECT metadata_json FROM jobs WHERE id = $1) AS metadata_json
         FROM webhooks WHERE id = $2 AND active = 1",
    )
    .bind(&c.job_id)
    .bind(&c.webhook_id)
    .fetch_optional(pool)
    .await?
    else {
        return Ok(None);
    };
    let metadata: Option<String> = row.try_get("metadata_json")?;
    let metadata = match metadata {
        Some(m) => serde_json::from_str(&m)?,
        None => serde_json::json!({}),
    };
    Ok(Some(Target { url: row.try_get("url")?, secret: row.try_get("secret")?, metadata }))
}

fn install_crypto_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // Another part of the process may have installed one already: fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// Resolves and checks the target, then POSTs the signed event to the checked addresses only.
async fn send(policy: &WebhookPolicy, c: &Claimed, t: &Target) -> Outcome {
    let url = match reqwest::Url::parse(&t.url) {
        Ok(u) => u,
        Err(e) => return Outcome::Final(None, format!("the stored URL is invalid: {e}")),
    };
    let host = url.host_str().unwrap_or_default().to_string();
    let port = url.port_or_known_default().unwrap_or(80);
    let literal = host_ip(&host);
    let addrs: Vec<SocketAddr> = match literal {
        Some(ip) => vec![SocketAddr::new(ip, port)],
        None => match tokio::time::timeout(policy.timeout, tokio::net::lookup_host((host.as_str(), port))).await {
            Err(_) => {
                return Outcome::Retry(None, format!("resolving {host} took longer than {}", secs(policy.timeout)));
            }
            Ok(Err(e)) => return Outcome::Retry(None, format!("cannot resolve {host}: {e}")),
            Ok(Ok(a)) => a.collect(),
        },
    };
    if addrs.is_empty() {
        return Outcome::Retry(None, format!("{host} resolves to no address"));
    }
    for a in &addrs {
        if let Err(e) = policy.check_ip(a.ip()) {
            let via = if literal.is_some() { String::new() } else { format!("{host} resolves to ") };
            return Outcome::Final(None, format!("refused by the server's webhook policy: {via}{e}"));
        }
    }
    install_crypto_provider();
    let mut builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(policy.timeout)
        .connect_timeout(policy.timeout);
    if literal.is_none() {
        // Connect only to the addresses just checked: a second resolution
        // (DNS rebinding) cannot swap in another.
        builder = builder.resolve_to_addrs(&host, &addrs);
    }
    let client = match builder.build() {
        Ok(c) => c,
        Err(e) => return Outcome::Retry(None, format!("cannot set up the HTTP client: {}", error_chain(&e))),
    };
    let timestamp = parse_event_time(&c.event_at);
    let event = WebhookEvent {
        event_id: c.event_id.clone(),
        kind: c.kind.clone(),
        timestamp,
        job_id: c.job_id.clone(),
        status: c.status.clone(),
        metadata: t.metadata.clone(),
    };
    let body = match serde_json::to_vec(&event) {
        Ok(b) => b,
        Err(e) => return Outcome::Final(None, format!("cannot encode the event: {e}")),
    };
    let signed_at = ts(now());
    let signature = sign(&t.secret, &signed_at, &body);
    let sent = client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header("X-Turbo-Event-Id", &c.event_id)
        .header("X-Turbo-Timestamp", &signed_at)
        .header("X-Turbo-Signature-256", signature)
        .body(body)
        .send()
        .await;
    match sent {
        Ok(resp) if resp.status().is_success() => Outcome::Delivered(resp.status().as_u16()),
        Ok(resp) => {
            let s = resp.status();
            Outcome::Retry(Some(s.as_u16()), format!("HTTP {s}"))
        }
        Err(e) if e.is_timeout() => Outcome::Retry(None, format!("no response within {}", secs(policy.timeout))),
        Err(e) => Outcome::Retry(None, error_chain(&e)),
    }
}

/// The event time as stored; the current time if it cannot be read (never expected).
fn parse_event_time(s: &str) -> OffsetDateTime {
    OffsetDateTime::parse(s, &Rfc3339).unwrap_or_else(|e| {
        tracing::warn!("webhook event time {s:?} unreadable ({e}); using now");
        now()
    })
}

fn secs(d: Duration) -> String {
    format!("{} s", d.as_secs_f64())
}

/// An error and its causes, `": "`-joined (reqwest's own text names only the URL).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let s = c.to_string();
        if !text.contains(&s) {
            text.push_str(": ");
            text.push_str(&s);
        }
        cause = c.source();
    }
    text
}

/// Writes the attempt record and the delivery's new state in one transaction.
async fn record(pool: &Pool, policy: &WebhookPolicy, c: &Claimed, outcome: &Outcome, duration_ms: i64) -> Result<()> {
    let at = now();
    let mut tx = begin_immediate(pool).await?;
    let active = sqlx::query("SELECT 1 FROM webhooks WHERE id = $1 AND active = 1")
        .bind(&c.webhook_id)
        .fetch_optional(&mut *tx)
        .await?
        .is_some();
    let (state, code, error, next) = match outcome.clone() {
        Outcome::Delivered(code) => ("delivered", Some(code), None, None),
        Outcome::Final(code, error) => ("failed", code, Some(error), None),
        Outcome::Retry(code, error) if c.attempt >= policy.max_attempts => {
            ("failed", code, Some(format!("{error}; gave up after {} attempts", c.attempt)), None)
        }
        Outcome::Retry(code, error) if !active => ("failed", code, Some(format!("{error}; {WEBHOOK_DELETED}")), None),
        Outcome::Retry(code, error) => {
            let next = at + policy.backoff(c.attempt);
            ("pending", code, Some(error), Some(next))
        }
    };
    sqlx::query(
        "INSERT INTO webhook_attempts (event_id, webhook_id, job_id, type, attempt, status_code, error,
                                       duration_ms, attempted_at, state, next_attempt_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(&c.event_id)
    .bind(&c.webhook_id)
    .bind(&c.job_id)
    .bind(&c.kind)
    .bind(i64::from(c.attempt))
    .bind(code.map(i64::from))
    .bind(&error)
    .bind(duration_ms)
    .bind(ts(at))
    .bind(state)
    .bind(next.map(ts))
    .execute(&mut *tx)
    .await?;
    let updated = sqlx::query(
        "UPDATE webhook_deliveries SET state = $1, in_flight = 0, due_ms = $2, last_status_code = $3, last_error = $4
         WHERE event_id = $5",
    )
    .bind(state)
    .bind(ms(next.unwrap_or(at)))
    .bind(code.map(i64::from))
    .bind(&error)
    .bind(&c.event_id)
    .execute(&mut *tx)
    .await?;
    if updated.rows_affected() != 1 {
        return Err(ServiceError::Internal(format!("delivery {} vanished", c.event_id)));
    }
    tx.commit().await?;
    Ok(())
}
