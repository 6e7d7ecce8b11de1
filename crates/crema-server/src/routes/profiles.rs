//! Extension `GET /v1/profiles`: the profiles this server knows.

use crate::AppState;
use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

/// One profile.
#[derive(Serialize, ToSchema)]
pub struct ProfileInfo {
    /// Profile ID, as used in `POST /v1/jobs`.
    pub id: String,
    /// Short display name.
    pub name: String,
    /// What the profile is for, in plain words.
    pub description: String,
    /// UI group: `standard`, `hq`, `10bit`, `hq-10bit` or `auto`.
    pub group: String,
    /// Output codec of single files (`hevc` or `h264`).
    pub codec: String,
    /// Output bit depth (8 or 10).
    pub bit_depth: u8,
    /// Speed tier (`fast`, `medium`, `slow`); `null` for `auto` profiles.
    pub speed: Option<String>,
    /// Built-in (`profiles/…toml`) or the user file it came from.
    pub source: String,
}

/// `GET /v1/profiles` body.
#[derive(Serialize, ToSchema)]
pub struct ProfileList {
    /// Every profile, built-ins first, in a stable order.
    pub profiles: Vec<ProfileInfo>,
}

fn wire<T: Serialize>(v: &T) -> String {
    serde_json::to_value(v).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
}

/// The profiles.
#[utoipa::path(get, path = "/v1/profiles", tag = "profiles", responses((status = 200, body = ProfileList)))]
pub async fn list(State(state): State<AppState>) -> Json<ProfileList> {
    let profiles = state
        .service
        .profiles()
        .iter()
        .map(|p| ProfileInfo {
            id: p.id.clone(),
            name: p.name.clone(),
            description: p.description.clone(),
            group: wire(&p.group),
            codec: wire(&p.codec),
            bit_depth: p.bit_depth,
            speed: p.speed.as_ref().map(wire),
            source: p.source.clone(),
        })
        .collect();
    Json(ProfileList { profiles })
}
