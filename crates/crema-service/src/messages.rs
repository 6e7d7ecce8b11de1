//! The one wire model of the live job stream, shared by every transport:
//! the HTTP server's `GET /v1/events` (server-sent events: the event name
//! is [`EventMessage::name`], the data [`EventMessage::sse_data`]) and the
//! desktop app's Tauri channel (the whole message, `type` beside the data).

use crate::types::{Job, Progress, ServiceEvent};
use serde::Serialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

/// One message of a job event stream, `{"type": NAME, …}`.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
#[serde(tag = "type")]
pub enum EventMessage {
    /// A job was submitted.
    #[serde(rename = "job.created")]
    JobCreated {
        /// The job as stored.
        job: Box<Job>,
    },
    /// A job changed status (also retry, cancel and requeue).
    #[serde(rename = "job.updated")]
    JobUpdated {
        /// The job after the change.
        job: Box<Job>,
    },
    /// Progress of a running job (the service sends at most 4 per second per
    /// job; a transport may send fewer).
    #[serde(rename = "job.progress")]
    JobProgress {
        /// The job's ID.
        job_id: String,
        /// The report.
        progress: Progress,
    },
    /// This subscriber fell behind and missed `missed` events: refetch the
    /// job list.
    #[serde(rename = "lagged")]
    Lagged {
        /// How many events were dropped for this subscriber.
        missed: u64,
    },
}

impl EventMessage {
    /// The message for a service event, as the service sent it (a network
    /// transport passes [`ServiceEvent::network_view`]).
    pub fn from_event(ev: &ServiceEvent) -> Self {
        match ev {
            ServiceEvent::JobCreated { job } => Self::JobCreated { job: job.clone() },
            ServiceEvent::JobStateChanged { job } => Self::JobUpdated { job: job.clone() },
            ServiceEvent::JobProgress { job_id, progress } => {
                Self::JobProgress { job_id: job_id.clone(), progress: progress.clone() }
            }
        }
    }

    /// The `type` value: `job.created`, `job.updated`, `job.progress`, `lagged`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::JobCreated { .. } => "job.created",
            Self::JobUpdated { .. } => "job.updated",
            Self::JobProgress { .. } => "job.progress",
            Self::Lagged { .. } => "lagged",
        }
    }

    /// The job the message is about (`None` for `lagged`).
    pub fn job_id(&self) -> Option<&str> {
        match self {
            Self::JobCreated { job } | Self::JobUpdated { job } => Some(&job.id),
            Self::JobProgress { job_id, .. } => Some(job_id),
            Self::Lagged { .. } => None,
        }
    }

    /// The `data:` of the server-sent event: the JobResponse itself for
    /// `job.created`/`job.updated`, `{job_id, progress}`, `{missed}`.
    pub fn sse_data(&self) -> Value {
        match self {
            Self::JobCreated { job } | Self::JobUpdated { job } => serde_json::to_value(job).unwrap_or(Value::Null),
            Self::JobProgress { job_id, progress } => json!({"job_id": job_id, "progress": progress}),
            Self::Lagged { missed } => json!({"missed": missed}),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_shapes_match_on_both_transports() {
        let ev = ServiceEvent::JobProgress { job_id: "job_a".into(), progress: Progress::queued() };
        let m = EventMessage::from_event(&ev);
        assert_eq!((m.name(), m.job_id()), ("job.progress", Some("job_a")));
        let whole = serde_json::to_value(&m).unwrap();
        assert_eq!(whole["type"], "job.progress");
        assert_eq!(whole["job_id"], "job_a");
        assert_eq!(whole["progress"]["phase"], "queued");
        // The SSE data is the message without its type.
        let mut rest = whole.clone();
        rest.as_object_mut().unwrap().remove("type");
        assert_eq!(m.sse_data(), rest);
        let lag = EventMessage::Lagged { missed: 3 };
        assert_eq!(serde_json::to_value(&lag).unwrap(), json!({"type": "lagged", "missed": 3}));
        assert_eq!(lag.sse_data(), json!({"missed": 3}));
        assert_eq!(lag.job_id(), None);
    }
}
