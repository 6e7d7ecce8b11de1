//! Extension `GET /v1/profiles`: the profiles this server knows.

use crate::AppState;
use axum::Json;
use axum::extract::State;
use crema_service::ProfileList;

/// The profiles (ids, descriptions, groups, codec, bit depth, speed).
#[utoipa::path(get, path = "/v1/profiles", tag = "profiles", responses((status = 200, body = ProfileList)))]
pub async fn list(State(state): State<AppState>) -> Json<ProfileList> {
    Json(state.service.profile_list())
}
