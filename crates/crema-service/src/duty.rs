//! Duties that must run once per farm (webhook delivery, retention, upload
//! expiry, watch folders): a row per duty in `duties`, held like a lease by
//! one node at a time. A leaf of the crate (it reaches only the store), so
//! [`crate::shared::Core::hold_duty`] can ask it from below every subsystem.

use crate::error::Result;
use crate::store::{Pool, now_ms};

/// Takes or keeps duty `duty` for node `me` until `ttl_ms` from now; true
/// while `me` holds it. A duty whose holder stopped renewing it (crashed,
/// cut off) passes to the next node that asks after it ran out, so at most
/// one node does the work at a time, give or take a holder that lost the
/// database longer than `ttl_ms` and has not noticed yet (its next call
/// answers false).
pub(crate) async fn hold_duty(pool: &Pool, duty: &str, me: &str, ttl_ms: i64) -> Result<bool> {
    let now = now_ms();
    let r = sqlx::query(
        "INSERT INTO duties (name, holder, until_ms) VALUES ($1, $2, $3)
         ON CONFLICT (name) DO UPDATE SET holder = $2, until_ms = $3
         WHERE duties.holder = $2 OR duties.until_ms < $4",
    )
    .bind(duty)
    .bind(me)
    .bind(now + ttl_ms)
    .bind(now)
    .execute(pool)
    .await?;
    Ok(r.rows_affected() == 1)
}
