//! Extension `GET /v1/nodes`: the Crema nodes sharing this server's database
//! (one on a single box; every `crema serve` of a farm on PostgreSQL).

use crate::AppState;
use crate::error::ApiError;
use axum::Json;
use axum::extract::State;
use crema_service::NodeInfo;
use serde::Serialize;
use utoipa::ToSchema;

/// The node list.
#[derive(Serialize, ToSchema)]
pub struct NodeList {
    /// The node answering this request (`--node-name`).
    pub this_node: String,
    /// Every node that ever ran against this database, by name.
    pub data: Vec<NodeInfo>,
}

/// Nodes with their state (`online`, `stopped`, `lost`), last heartbeat,
/// workers, running jobs and encoders. Extension (not in the SOPHON contract).
#[utoipa::path(get, path = "/v1/nodes", tag = "nodes", responses((status = 200, body = NodeList)))]
pub async fn list(State(state): State<AppState>) -> Result<Json<NodeList>, ApiError> {
    let data = state.service.nodes().await?;
    Ok(Json(NodeList { this_node: state.service.node_name().to_string(), data }))
}
