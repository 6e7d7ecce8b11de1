//! Extension `GET /v1/events`: server-sent events of job changes
//! (WHATWG HTML, "Server-sent events"). Event names:
//! - `job.created` — data: the JobResponse;
//! - `job.updated` — data: the JobResponse after a status change (also retry,
//!   cancel, requeue);
//! - `job.progress` — data: `{"job_id", "progress"}`, at most 4 per second per job;
//! - `lagged` — data: `{"missed": n}`: this client fell behind and missed
//!   events; refetch with `GET /v1/jobs`.
//!
//! `?job_id=job_…` limits the stream to one job. A comment is sent every 15 s
//! to keep proxies from closing an idle stream.

use crate::AppState;
use crate::error::{ApiResult, ErrorEnvelope};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use crema_service::ServiceEvent;
use futures_util::Stream;
use serde::Deserialize;
use std::convert::Infallible;
use std::time::Duration;
use tokio_stream::StreamExt as _;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
use utoipa::IntoParams;

/// Query of `GET /v1/events`.
#[derive(Deserialize, IntoParams)]
pub struct EventsQuery {
    /// Only events of this job.
    pub job_id: Option<String>,
}

/// The event stream (`text/event-stream`).
#[utoipa::path(get, path = "/v1/events", tag = "events", params(EventsQuery),
    responses((status = 200, content_type = "text/event-stream",
               description = "events job.created, job.updated (JobResponse), job.progress ({job_id, progress}), lagged"),
              (status = 400, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope, description = "unknown job_id")))]
pub async fn stream(
    State(state): State<AppState>,
    q: Result<Query<EventsQuery>, QueryRejection>,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let Query(q) = q?;
    // Subscribe first, then check: no event of a job created in between is lost.
    let rx = state.service.subscribe();
    if let Some(id) = &q.job_id {
        // An unknown job would stream nothing forever: 404 instead.
        state.service.get(id).await?;
    }
    let only = q.job_id;
    let events = BroadcastStream::new(rx).filter_map(move |item| {
        let ev = match item {
            Ok(ev) => ev,
            Err(BroadcastStreamRecvError::Lagged(n)) => {
                return Some(Ok(Event::default().event("lagged").data(format!("{{\"missed\":{n}}}"))));
            }
        };
        let ev = ev.network_view();
        let (name, job_id, data) = match &ev {
            ServiceEvent::JobCreated { job } => ("job.created", job.id.as_str(), serde_json::to_string(job)),
            ServiceEvent::JobStateChanged { job } => ("job.updated", job.id.as_str(), serde_json::to_string(job)),
            ServiceEvent::JobProgress { job_id, progress } => (
                "job.progress",
                job_id.as_str(),
                serde_json::to_string(&serde_json::json!({"job_id": job_id, "progress": progress})),
            ),
        };
        if only.as_deref().is_some_and(|o| o != job_id) {
            return None;
        }
        let data = data.ok()?;
        Some(Ok(Event::default().event(name).data(data)))
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}
