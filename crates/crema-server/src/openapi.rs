//! Extension `GET /v1/openapi.json`: the OpenAPI 3.1 description of this
//! server, generated from the handlers' and types' annotations (utoipa), so
//! it cannot drift from the code. `tests/openapi.rs` checks it against the
//! contract and against live responses.

use crate::routes::{downloads, events, health, jobs, profiles, uploads, watch, webhooks};
use axum::Json;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("API key").build()),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(crate::auth::SESSION_COOKIE))),
        );
    }
}

/// The document.
#[derive(OpenApi)]
#[openapi(
    info(title = "Crema /v1 (SOPHON-compatible encoding API)", description = "Contract: shared/api/v1.md. Extensions are marked in each operation's description."),
    paths(
        jobs::create, jobs::get, jobs::list, jobs::cancel, jobs::retry, jobs::output, jobs::remove, jobs::move_job,
        jobs::thumbnail,
        uploads::create, uploads::put_part, uploads::get, uploads::complete, uploads::delete, uploads::thumbnail,
        webhooks::create, webhooks::list, webhooks::delete, webhooks::deliveries,
        watch::create, watch::list, watch::get, watch::delete, watch::pause, watch::resume, watch::events,
        watch::files,
        downloads::file, downloads::in_folder,
        events::stream, profiles::list, health::healthz, health::readyz,
        crate::auth::login, crate::auth::logout,
    ),
    components(schemas(crate::error::ErrorEnvelope, crema_service::ServiceEvent)),
    modifiers(&Security),
    security(("bearer" = []), ("session" = [])),
)]
pub struct ApiDoc;

/// The OpenAPI document as JSON.
pub async fn serve() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
