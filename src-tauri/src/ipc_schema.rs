//! The desktop IPC's types as JSON Schema: what the Tauri commands return
//! and the event channel carries, published as the components of an
//! OpenAPI document (`ui/src/api/ipc.json`) from which the UI's TypeScript
//! types are generated (`ui/src/api/ipc.d.ts`, `npm run gen:types`), as the
//! HTTP API's are from `openapi.json`. A unit test fails when the committed
//! document is stale: `CREMA_UPDATE_OPENAPI=1 cargo test -p crema-desktop
//! ipc` rewrites it. Compiled for tests only: nothing at run time needs it.
//!
//! Types the HTTP API already publishes (Job, JobSpec, WatchRule…) are in
//! `openapi.json`; this document holds only the desktop's own and the event
//! message both transports share.

use utoipa::OpenApi;

/// The desktop IPC document (components only; commands are not HTTP paths).
#[derive(OpenApi)]
#[openapi(
    info(title = "Crema desktop IPC", description = "Types of the desktop app's Tauri commands and event channel."),
    components(schemas(
        crate::server::ServerStatus,
        crate::settings::Settings,
        crate::commands::SettingsReply,
        crate::commands::EncoderInfo,
        crate::commands::KeyInfo,
        crate::commands::ProbedFile,
        crate::error::CommandError,
        crema_service::EventMessage,
        crema_service::ApiKeyCreated,
    ))
)]
pub struct IpcDoc;

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn committed_ipc_document_is_current() {
        let doc = serde_json::to_string_pretty(&IpcDoc::openapi()).expect("serialize");
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../ui/src/api/ipc.json");
        if std::env::var_os("CREMA_UPDATE_OPENAPI").is_some() {
            std::fs::write(&path, format!("{doc}\n")).expect("write");
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed.trim_end() == doc.trim_end(),
            "{} is stale: run `CREMA_UPDATE_OPENAPI=1 cargo test -p crema-desktop ipc` and \
             `npm --prefix ui run gen:types`, then commit both",
            path.display()
        );
        // The shapes the UI relies on.
        let v: serde_json::Value = serde_json::from_str(&doc).unwrap();
        let schemas = &v["components"]["schemas"];
        for field in ["running", "listen", "url", "local_url", "lan_url", "error"] {
            assert!(schemas["ServerStatus"]["properties"][field].is_object(), "ServerStatus.{field}");
        }
        assert!(
            schemas["EventMessage"]["oneOf"].as_array().is_some_and(|a| a.len() == 4),
            "{}",
            schemas["EventMessage"]
        );
    }
}
