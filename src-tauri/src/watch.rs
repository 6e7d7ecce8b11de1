//! Watch-folder commands for the Settings panel: the same rules as
//! `crema watch` and `/v1/watch-folders`, managed by the local user.
//!
//! Rules added here use [`Service::add_watch_rule`](crema_service::Service::add_watch_rule)
//! as [`Origin::Local`](crema_service::Origin::Local), without the network callers' source-root check (the
//! person at the window may watch any folder they can read), like
//! `crema watch add`. Payloads are the HTTP bodies' shapes: a `WatchRuleSpec`
//! in, `WatchRule`s and `WatchEvent`s out.

use crate::error::{CmdResult, CommandError};
use crate::state::Desktop;
use crema_service::{WatchEvent, WatchRule, WatchRuleSpec};
use serde_json::Value;
use tauri::State;

type Ctx<'a> = State<'a, Desktop>;

/// Decisions `watch_events` returns when the UI gives no `limit`.
pub const DEFAULT_EVENTS: u32 = 20;

/// `watch_list` → every rule with its counts, oldest first.
#[tauri::command(rename_all = "snake_case")]
pub async fn watch_list(state: Ctx<'_>) -> CmdResult<Vec<WatchRule>> {
    Ok(state.service.list_watch_rules().await?)
}

/// `watch_add {spec}` (a `POST /v1/watch-folders` body) → the stored rule,
/// defaults filled in. It starts at once.
#[tauri::command(rename_all = "snake_case")]
pub async fn watch_add(state: Ctx<'_>, spec: Value) -> CmdResult<WatchRule> {
    let spec = parse_spec(spec)?;
    Ok(state.service.add_watch_rule(spec, crema_service::Origin::Local).await?)
}

/// `watch_remove {id}` → the rule as it was: it stops, its unfinished jobs
/// are canceled, placed outputs stay.
#[tauri::command(rename_all = "snake_case")]
pub async fn watch_remove(state: Ctx<'_>, id: String) -> CmdResult<WatchRule> {
    Ok(state.service.remove_watch_rule(&id).await?)
}

/// `watch_pause {id}` → the paused rule (nothing new is taken).
#[tauri::command(rename_all = "snake_case")]
pub async fn watch_pause(state: Ctx<'_>, id: String) -> CmdResult<WatchRule> {
    Ok(state.service.pause_watch_rule(&id).await?)
}

/// `watch_resume {id}` → the resumed rule.
#[tauri::command(rename_all = "snake_case")]
pub async fn watch_resume(state: Ctx<'_>, id: String) -> CmdResult<WatchRule> {
    Ok(state.service.resume_watch_rule(&id).await?)
}

/// `watch_events {id, limit?}` → the rule's latest decisions, newest first
/// (`limit` 1..=1000, default [`DEFAULT_EVENTS`]).
#[tauri::command(rename_all = "snake_case")]
pub async fn watch_events(state: Ctx<'_>, id: String, limit: Option<u32>) -> CmdResult<Vec<WatchEvent>> {
    Ok(state.service.watch_events(&id, Some(limit.unwrap_or(DEFAULT_EVENTS)), None).await?)
}

/// The UI's rule → a [`WatchRuleSpec`]; a bad shape is `validation_error`
/// naming `spec` with serde's sentence (unknown field, missing `profile`…).
fn parse_spec(spec: Value) -> CmdResult<WatchRuleSpec> {
    serde_json::from_value(spec).map_err(|e| CommandError::invalid("spec", e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crema_service::{FailureAction, SuccessAction};
    use serde_json::json;

    #[test]
    fn specs_parse_as_the_http_body() {
        let spec = parse_spec(json!({
            "folder": "/srv/ingest",
            "recursive": true,
            "profile": "sophon-cortado",
            "output_dir": "/srv/out",
            "on_success": {"action": "move", "dir": null},
            "on_failure": {"action": "leave"},
            "settle_seconds": 5.0
        }))
        .unwrap();
        assert_eq!(spec.folder, std::path::PathBuf::from("/srv/ingest"));
        assert!(spec.recursive);
        assert!(spec.take_existing);
        assert_eq!(spec.on_success, SuccessAction::Move { dir: None });
        assert_eq!(spec.on_failure, FailureAction::Leave);
        assert_eq!(spec.settle_seconds, Some(5.0));

        let minimal = parse_spec(json!({"folder": "/srv/ingest", "profile": "sophon-auto"})).unwrap();
        assert_eq!(minimal.on_success, SuccessAction::Leave);
        assert_eq!(minimal.output_dir, None);
    }

    #[test]
    fn bad_specs_are_validation_errors() {
        let e = parse_spec(json!({"folder": "/srv/ingest"})).unwrap_err();
        assert_eq!(e.code, crema_service::ErrorCode::ValidationError);
        assert!(e.message.starts_with("spec: "), "{}", e.message);
        assert!(e.message.contains("profile"), "{}", e.message);
        let e = parse_spec(json!({"folder": "/a", "profile": "p", "colour": "red"})).unwrap_err();
        assert!(e.message.contains("colour"), "{}", e.message);
        let e = parse_spec(json!({"folder": "/a", "profile": "p", "on_failure": {"action": "delete"}})).unwrap_err();
        assert_eq!(e.code, crema_service::ErrorCode::ValidationError);
    }
}
