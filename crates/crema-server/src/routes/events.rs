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
use crema_service::EventMessage;
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
#[into_params(parameter_in = Query)]
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
        // The service's one wire model; SSE puts its `type` in the event name.
        let msg = match item {
            Ok(ev) => EventMessage::from_event(&ev.network_view()),
            Err(BroadcastStreamRecvError::Lagged(missed)) => EventMessage::Lagged { missed },
        };
        if let (Some(o), Some(id)) = (only.as_deref(), msg.job_id())
            && o != id
        {
            return None;
        }
        Some(Ok(Event::default().event(msg.name()).data(msg.sse_data().to_string())))
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}
