//! The lease keeper: every third of the lease it renews the leases of the
//! jobs this node runs, records the node's heartbeat, and requeues jobs whose
//! lease ran out on any node (a node that died or lost the database). A
//! worker whose job was taken from it learns so at its next progress write
//! (the write is fenced by node and attempt), stops the encode and publishes
//! nothing.

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
            }
            Err(e) => tracing::warn!("cannot requeue jobs whose lease ran out: {e}"),
        }
    }
}
