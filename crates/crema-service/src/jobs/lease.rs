//! The lease keeper: every third of the lease it renews the leases of the
//! jobs this node runs, records the node's heartbeat, and requeues jobs whose
//! lease ran out on any node (a node that died or lost the database). A
//! worker whose job was taken from it learns so at its next progress write
//! (the write is fenced by node and attempt), stops the encode and publishes
//! nothing. On PostgreSQL it also carries the LISTEN/NOTIFY wake-ups between nodes.

use super::state::JobsState;
use std::sync::Weak;
use std::time::Duration;

/// Runs until the service is dropped or drains.
pub(super) async fn keep(state: Weak<JobsState>, lease: Duration) {
    let tick = (lease / 3).max(Duration::from_millis(200));
    loop {
        tokio::time::sleep(tick).await;
        let Some(inner) = state.upgrade() else { return };
        if inner.core.is_draining() {
            return;
        }
        if let Err(e) = inner.store.renew_leases().await {
            tracing::warn!("cannot renew job leases: {e}");
        }
        if let Err(e) = crate::nodes::beat(&inner.core.pool, &inner.core.config.node_name).await {
            tracing::warn!("cannot record this node's heartbeat: {e}");
        }
        match inner.store.reap_expired().await {
            Ok((0, 0)) => {}
            Ok((requeued, failed)) => {
                tracing::info!("jobs whose lease ran out: {requeued} requeued, {failed} failed");
                inner.wake.notify_waiters();
                announce(&inner).await;
            }
            Err(e) => tracing::warn!("cannot requeue jobs whose lease ran out: {e}"),
        }
    }
}

/// The PostgreSQL channel on which nodes announce queued work.
const CHANNEL: &str = "crema_jobs";

/// Farm mode: tells the other nodes that a job was queued (`NOTIFY`), so an
/// idle worker elsewhere starts it at once instead of at its next poll.
/// Errors are logged; polling is the safety net.
pub(super) async fn announce(state: &JobsState) {
    if crate::store::backend(&state.core.pool) != crate::store::Backend::Postgres {
        return;
    }
    if let Err(e) = sqlx::query("SELECT pg_notify($1, '')").bind(CHANNEL).execute(&state.core.pool).await {
        tracing::debug!("cannot announce a queued job: {e}");
    }
}

/// Farm mode: wakes this node's idle workers whenever another node announces
/// queued work (`LISTEN crema_jobs`), reconnecting after a lost connection.
/// Ends when the service is dropped or drains.
pub(super) async fn listen(state: Weak<JobsState>, url: String) {
    loop {
        let mut listener = match sqlx::postgres::PgListener::connect(&url).await {
            Ok(l) => l,
            Err(e) => {
                tracing::debug!("LISTEN {CHANNEL}: cannot connect: {e}");
                tokio::time::sleep(Duration::from_secs(5)).await;
                match state.upgrade() {
                    Some(s) if !s.core.is_draining() => continue,
                    _ => return,
                }
            }
        };
        if let Err(e) = listener.listen(CHANNEL).await {
            tracing::debug!("LISTEN {CHANNEL}: {e}");
            tokio::time::sleep(Duration::from_secs(5)).await;
            continue;
        }
        loop {
            let got = tokio::time::timeout(Duration::from_secs(5), listener.recv()).await;
            let Some(inner) = state.upgrade() else { return };
            if inner.core.is_draining() {
                return;
            }
            match got {
                Ok(Ok(_)) => inner.wake.notify_waiters(),
                Ok(Err(e)) => {
                    tracing::debug!("LISTEN {CHANNEL}: {e}; reconnecting");
                    break;
                }
                Err(_) => {} // quiet: look at the draining flag again
            }
        }
    }
}
