//! Service calls the shell needs that are not on `main` yet.
//!
//! TODO(lead, at merge): the lead engineer is adding `Service::profile_list`,
//! `Service::remove_job`, `Service::move_job`, `Service::thumbnail_jpeg` and
//! `Service::probe_facts` to `crema_service`. Each function below is the one
//! place that calls them: replace its body with the commented call. Until
//! then the four job/media ones return `unsupported`, and `profile_list`
//! maps the profiles here exactly as `GET /v1/profiles` does.

use crate::error::{CmdResult, CommandError};
use crema_service::Service;
use serde_json::{Value, json};
use std::path::Path;

/// The `GET /v1/profiles` body: `{"profiles": [{id, name, description,
/// group, codec, bit_depth, speed, source}]}`.
pub fn profile_list(service: &Service) -> CmdResult<Value> {
    // TODO(lead): Ok(serde_json::to_value(service.profile_list())?)
    fn wire<T: serde::Serialize>(v: &T) -> Value {
        serde_json::to_value(v).unwrap_or(Value::Null)
    }
    let profiles: Vec<Value> = service
        .profiles()
        .iter()
        .map(|p| {
            json!({
                "id": p.id,
                "name": p.name,
                "description": p.description,
                "group": wire(&p.group),
                "codec": wire(&p.codec),
                "bit_depth": p.bit_depth,
                "speed": p.speed.as_ref().map(wire),
                "source": p.source,
            })
        })
        .collect();
    Ok(json!({ "profiles": profiles }))
}

/// Removes a terminal job from the list (and its files, as the service decides).
pub async fn remove_job(_service: &Service, _id: &str) -> CmdResult<Value> {
    // TODO(lead): Ok(serde_json::to_value(_service.remove_job(_id).await?).map_err(internal)?)
    Err(CommandError::unsupported("removing jobs is not available in this build yet"))
}

/// Moves a queued job to `position` (0 = next to run).
pub async fn move_job(_service: &Service, _id: &str, _position: u32) -> CmdResult<Value> {
    // TODO(lead): Ok(serde_json::to_value(_service.move_job(_id, _position).await?).map_err(internal)?)
    Err(CommandError::unsupported("reordering the queue is not available in this build yet"))
}

/// Source facts of a file before it is queued (resolution, frame rate,
/// duration, codec, bit depth/HDR, audio tracks).
pub async fn probe_facts(_service: &Service, _path: &Path) -> CmdResult<Value> {
    // TODO(lead): Ok(serde_json::to_value(_service.probe_facts(_path).await?).map_err(internal)?)
    Err(CommandError::unsupported("reading file details is not available in this build yet"))
}

/// A poster-frame JPEG of a file.
pub async fn thumbnail_jpeg(_service: &Service, _path: &Path) -> CmdResult<Vec<u8>> {
    // TODO(lead): Ok(_service.thumbnail_jpeg(_path).await?)
    Err(CommandError::unsupported("thumbnails are not available in this build yet"))
}

/// For the TODO bodies: a JSON conversion that cannot fail for service types.
#[allow(dead_code)]
pub fn internal(e: serde_json::Error) -> CommandError {
    CommandError::internal(format!("cannot encode the reply: {e}"))
}
