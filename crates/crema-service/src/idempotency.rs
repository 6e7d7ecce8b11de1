//! Idempotency records (the contract's "Idempotency" section): every `POST`
//! carries an `Idempotency-Key`; replaying it with the same body returns the
//! first response, with another body is `idempotency_key_reused` (422), and
//! while the first request still runs is `request_in_progress` (409).
//!
//! The HTTP layer drives it: [`crate::Service::idempotency_begin`] before running
//! the handler, then [`crate::Service::idempotency_finish`] with the response it
//! sent (any status below 500), or [`crate::Service::idempotency_abandon`] for a 5xx
//! or a request dropped half-way, which frees the key for a retry.
//!
//! Records are kept for [`crate::Config::idempotency_retention`] (24 h by
//! default) and purged after by a task that [`crate::Service::open`] starts (every
//! 5 minutes) or by [`crate::Service::purge_expired`]. At open, records left
//! `in_flight` by a dead process are deleted: their requests are not running.

use crate::error::{Result, ServiceError};
use crate::shared::Core;
use crate::store::Pool;
use crate::store::{now, ts};
use sqlx::Row;
use std::sync::{Arc, Weak};
use std::time::Duration;
use time::OffsetDateTime;

/// How often the purge task runs.
const PURGE_EVERY: Duration = Duration::from_secs(5 * 60);
/// The header name, used as the `field` of validation errors.
const FIELD: &str = "Idempotency-Key";

/// What [`crate::Service::idempotency_begin`] decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IdempotencyBegin {
    /// First use of the key: run the request, then call
    /// [`crate::Service::idempotency_finish`] or [`crate::Service::idempotency_abandon`].
    Proceed,
    /// The key was used with the same body and that request finished: send
    /// this status and body again, without running the request.
    Replay {
        /// The HTTP status code first sent.
        status: u16,
        /// The response body first sent (JSON bytes as written).
        body: Vec<u8>,
    },
}

/// The idempotency-records handle of a running service.
pub(crate) struct Idempotency {
    core: Arc<Core>,
}

impl Idempotency {
    /// A handle over the shared state.
    pub(crate) fn new(core: Arc<Core>) -> Idempotency {
        Idempotency { core }
    }

    /// Claims `key` within `scope` for a request whose body hashes to
    /// `request_hash`. Exactly one of several concurrent callers with the same
    /// scope and key gets [`IdempotencyBegin::Proceed`].
    ///
    /// `scope` = `"<key_id> <METHOD> <route pattern>"` built by the HTTP layer
    /// (keys are scoped per route and per API key); `request_hash` = SHA-256
    /// of the body (32 bytes, though any length is compared as given).
    ///
    /// Errors: [`ServiceError::Validation`] (`Idempotency-Key`) for a key that
    /// does not follow [`IDEMPOTENCY_KEY_PATTERN`];
    /// [`ServiceError::IdempotencyKeyReused`] when the key was used with a
    /// different body (checked first); [`ServiceError::RequestInProgress`]
    /// while the first request with this key runs; [`ServiceError::Internal`].
    pub(crate) async fn idempotency_begin(
        &self,
        scope: &str,
        key: &str,
        request_hash: &[u8],
    ) -> Result<IdempotencyBegin> {
        validate_key(key)?;
        let pool = &self.core.pool;
        // A record can vanish between the insert and the read (abandoned or
        // purged meanwhile); try again a few times.
        for _ in 0..5 {
            let created = now();
            let inserted = sqlx::query(
                "INSERT INTO idempotency_records (scope, key, request_hash, state, created_at, created_unix)
                 VALUES ($1, $2, $3, 'in_flight', $4, $5) ON CONFLICT (scope, key) DO NOTHING",
            )
            .bind(scope)
            .bind(key)
            .bind(request_hash)
            .bind(ts(created))
            .bind(created.unix_timestamp())
            .execute(pool)
            .await?
            .rows_affected();
            if inserted == 1 {
                return Ok(IdempotencyBegin::Proceed);
            }
            let Some(row) = sqlx::query(
                "SELECT request_hash, state, status, body FROM idempotency_records WHERE scope = $1 AND key = $2",
            )
            .bind(scope)
            .bind(key)
            .fetch_optional(pool)
            .await?
            else {
                continue;
            };
            let stored_hash: Vec<u8> = row.try_get("request_hash")?;
            if stored_hash != request_hash {
                return Err(ServiceError::IdempotencyKeyReused(key.to_string()));
            }
            let state: String = row.try_get("state")?;
            if state != "done" {
                return Err(ServiceError::RequestInProgress(key.to_string()));
            }
            let status: Option<i64> = row.try_get("status")?;
            let status = status
                .and_then(|s| u16::try_from(s).ok())
                .ok_or_else(|| ServiceError::Internal(format!("idempotency record {key:?} has no status")))?;
            let body: Option<Vec<u8>> = row.try_get("body")?;
            return Ok(IdempotencyBegin::Replay { status, body: body.unwrap_or_default() });
        }
        Err(ServiceError::RequestInProgress(key.to_string()))
    }

    /// Records the response of a request that [`crate::Service::idempotency_begin`]
    /// let proceed, so that replays get `status` and `body`. Call it for every
    /// status below 500 (a 4xx is a final answer too). A record that is gone
    /// or already done is left alone (logged).
    ///
    /// Errors: [`ServiceError::Internal`] for the database.
    pub(crate) async fn idempotency_finish(&self, scope: &str, key: &str, status: u16, body: &[u8]) -> Result<()> {
        let r = sqlx::query(
            "UPDATE idempotency_records SET state = 'done', status = $1, body = $2
             WHERE scope = $3 AND key = $4 AND state = 'in_flight'",
        )
        .bind(i64::from(status))
        .bind(body)
        .bind(scope)
        .bind(key)
        .execute(&self.core.pool)
        .await?;
        if r.rows_affected() != 1 {
            tracing::warn!("idempotency record {key:?} ({scope}) was not in flight when its request finished");
        }
        Ok(())
    }

    /// Forgets an in-flight key (the request failed with a 5xx or was dropped):
    /// the same key may be sent again and will run. Done records stay.
    ///
    /// Errors: [`ServiceError::Internal`] for the database.
    pub(crate) async fn idempotency_abandon(&self, scope: &str, key: &str) -> Result<()> {
        sqlx::query("DELETE FROM idempotency_records WHERE scope = $1 AND key = $2 AND state = 'in_flight'")
            .bind(scope)
            .bind(key)
            .execute(&self.core.pool)
            .await?;
        Ok(())
    }

    /// Deletes idempotency records older than
    /// [`crate::Config::idempotency_retention`] and expired sessions; returns
    /// how many rows went. [`crate::Service::open`] runs it every 5 minutes.
    ///
    /// Errors: [`ServiceError::Internal`] for the database.
    pub(crate) async fn purge_expired(&self) -> Result<u64> {
        purge(&self.core).await
    }
}

/// The rule for an `Idempotency-Key` as a regular expression (the OpenAPI
/// document states it): 1..=255 visible ASCII characters, `!` to `~`, no
/// spaces (HTTP trims spaces around header values, so a key with them would
/// not arrive as sent).
pub const IDEMPOTENCY_KEY_PATTERN: &str = "^[!-~]{1,255}$";

/// Whether `key` follows [`IDEMPOTENCY_KEY_PATTERN`].
pub fn idempotency_key_is_valid(key: &str) -> bool {
    (1..=255).contains(&key.len()) && key.bytes().all(|b| (0x21..=0x7e).contains(&b))
}

fn validate_key(key: &str) -> Result<()> {
    if !idempotency_key_is_valid(key) {
        return Err(ServiceError::validation(
            FIELD,
            format!("must be 1..255 visible ASCII characters (! to ~, no spaces), got {} bytes", key.len()),
        ));
    }
    Ok(())
}

async fn purge(inner: &Core) -> Result<u64> {
    let retention = i64::try_from(inner.config.idempotency_retention.as_secs()).unwrap_or(i64::MAX);
    let cutoff = OffsetDateTime::now_utc().unix_timestamp().saturating_sub(retention);
    let r = sqlx::query("DELETE FROM idempotency_records WHERE created_unix < $1")
        .bind(cutoff)
        .execute(&inner.pool)
        .await?;
    Ok(r.rows_affected() + crate::auth::purge_sessions(&inner.pool).await?)
}

/// How old an in-flight record of a shared database must be before a
/// starting node drops it, in seconds: other nodes may be answering the
/// younger ones (no `/v1` request that takes an idempotency key runs this long).
const SHARED_IN_FLIGHT_STALE_SECONDS: i64 = 600;

/// At open: requests a dead process left in flight are not running any more.
/// On a shared database (`shared`) only records older than
/// [`SHARED_IN_FLIGHT_STALE_SECONDS`] go: the others may be other nodes' requests.
pub(crate) async fn clear_in_flight(pool: &Pool, shared: bool) -> Result<u64> {
    let cutoff = if shared { now().unix_timestamp() - SHARED_IN_FLIGHT_STALE_SECONDS } else { i64::MAX };
    let r = sqlx::query("DELETE FROM idempotency_records WHERE state = 'in_flight' AND created_unix < $1")
        .bind(cutoff)
        .execute(pool)
        .await?;
    Ok(r.rows_affected())
}

/// Starts the purge task: once now, then every [`PURGE_EVERY`], until the
/// service drains or is dropped.
pub(crate) fn spawn_purger(handle: &Arc<Idempotency>) {
    let weak: Weak<Idempotency> = Arc::downgrade(handle);
    tokio::spawn(async move {
        loop {
            {
                let Some(handle) = weak.upgrade() else { return };
                if handle.core.is_draining() || handle.core.pool.is_closed() {
                    return;
                }
                match purge(&handle.core).await {
                    Ok(0) => {}
                    Ok(n) => tracing::debug!("purged {n} expired idempotency records and sessions"),
                    Err(e) => tracing::warn!("purging expired idempotency records and sessions: {e}"),
                }
            }
            tokio::time::sleep(PURGE_EVERY).await;
        }
    });
}
