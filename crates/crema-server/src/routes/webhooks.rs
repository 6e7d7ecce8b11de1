//! `/v1/webhooks` (contract, "Webhooks").

use crate::AppState;
use crate::error::{ApiResult, ErrorEnvelope};
use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use crema_service::{Webhook, WebhookCreated, WebhookDelivery, WebhookSpec};
use serde::Serialize;
use utoipa::ToSchema;

/// `GET /v1/webhooks` body.
#[derive(Serialize, ToSchema)]
pub struct WebhookList {
    /// Registered webhooks (secrets are never shown again).
    pub webhooks: Vec<Webhook>,
}

/// Extension: `GET /v1/webhooks/{id}/deliveries` body.
#[derive(Serialize, ToSchema)]
pub struct DeliveryList {
    /// Every delivery attempt, newest first.
    pub deliveries: Vec<WebhookDelivery>,
}

/// Registers a webhook; the `secret` (64 hex chars) is shown only in this response.
#[utoipa::path(post, path = "/v1/webhooks", tag = "webhooks", request_body = WebhookSpec,
    params(("Idempotency-Key" = String, Header, description = "required on every POST")),
    responses((status = 201, body = WebhookCreated), (status = 400, body = ErrorEnvelope),
              (status = 403, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)))]
pub async fn create(
    State(state): State<AppState>,
    body: Result<Json<WebhookSpec>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<WebhookCreated>)> {
    let Json(spec) = body?;
    Ok((StatusCode::CREATED, Json(state.service.create_webhook(spec).await?)))
}

/// Registered webhooks.
#[utoipa::path(get, path = "/v1/webhooks", tag = "webhooks", responses((status = 200, body = WebhookList)))]
pub async fn list(State(state): State<AppState>) -> ApiResult<Json<WebhookList>> {
    Ok(Json(WebhookList { webhooks: state.service.list_webhooks().await? }))
}

/// Removes a webhook; deliveries still owed to it are dropped; `204` (contract, "Webhooks").
#[utoipa::path(delete, path = "/v1/webhooks/{id}", tag = "webhooks", params(("id" = String, Path)),
    responses((status = 204, description = "removed"), (status = 404, body = ErrorEnvelope)))]
pub async fn delete(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<axum::http::StatusCode> {
    state.service.delete_webhook(&id).await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}

/// Extension: the webhook's delivery attempts, newest first.
#[utoipa::path(get, path = "/v1/webhooks/{id}/deliveries", tag = "webhooks", params(("id" = String, Path)),
    responses((status = 200, body = DeliveryList), (status = 404, body = ErrorEnvelope)))]
pub async fn deliveries(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<DeliveryList>> {
    Ok(Json(DeliveryList { deliveries: state.service.webhook_deliveries(&id).await? }))
}
