//! Credentials (contract, "Authentication"): `Authorization: Bearer <api key>`
//! or the `sophon_api_session` cookie, on every `/v1` route except downloads.
//! The browser login that exchanges a key for the cookie lives here too.

use crate::AppState;
use crate::error::{ApiError, ApiResult};
use axum::Json;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum_extra::TypedHeader;
use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::{Cookie, SameSite};
use axum_extra::headers::Authorization;
use axum_extra::headers::authorization::Bearer;
use axum_extra::typed_header::TypedHeaderRejection;
use crema_service::ServiceError;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

/// Name of the browser session cookie (contract, "Authentication").
pub const SESSION_COOKIE: &str = "sophon_api_session";

/// Middleware: authenticates the request and stores the
/// [`crema_service::Principal`] in its extensions, or answers `401 unauthorized`.
/// A Bearer header, when present, decides alone (a bad key is not rescued by a cookie).
pub async fn require(
    State(state): State<AppState>,
    bearer: Result<TypedHeader<Authorization<Bearer>>, TypedHeaderRejection>,
    jar: CookieJar,
    mut req: Request,
    next: Next,
) -> Response {
    let principal = match bearer {
        Ok(TypedHeader(auth)) => state.service.authenticate_key(auth.token()).await,
        Err(r) if !r.is_missing() => {
            Err(ServiceError::Unauthorized("the Authorization header must be `Bearer <api key>`".into()))
        }
        Err(_) => from_cookie(&state, &jar).await,
    };
    match principal {
        Ok(p) => {
            req.extensions_mut().insert(p);
            next.run(req).await
        }
        Err(e) => ApiError::from(e).into_response(),
    }
}

async fn from_cookie(state: &AppState, jar: &CookieJar) -> Result<crema_service::Principal, ServiceError> {
    if let Some(cookie) = jar.get(SESSION_COOKIE) {
        state.service.authenticate_session(cookie.value()).await
    } else {
        Err(ServiceError::Unauthorized(
            "no credential: send `Authorization: Bearer <api key>` (create one with `crema keys create`)".into(),
        ))
    }
}

/// Body of `POST /auth/login`.
#[derive(Deserialize, ToSchema)]
pub struct LoginRequest {
    /// An API key (`crema_sk_…`).
    pub api_key: String,
}

/// `200` body of `POST /auth/login`.
#[derive(Serialize, ToSchema)]
pub struct LoginResponse {
    /// ID of the key the session belongs to.
    pub key_id: String,
    /// When the session cookie expires (RFC 3339 UTC).
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

/// Extension: exchanges an API key for the `sophon_api_session` cookie
/// (HttpOnly, SameSite=Strict, Secure when served over TLS) for the browser UI.
#[utoipa::path(post, path = "/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = LoginResponse), (status = 400, body = crate::error::ErrorEnvelope),
              (status = 401, body = crate::error::ErrorEnvelope)))]
pub async fn login(
    State(state): State<AppState>,
    jar: CookieJar,
    body: Result<Json<LoginRequest>, axum::extract::rejection::JsonRejection>,
) -> ApiResult<(CookieJar, Json<LoginResponse>)> {
    let Json(body) = body?;
    let session = state.service.create_session(&body.api_key).await?;
    let max_age = (session.expires_at - OffsetDateTime::now_utc()).max(time::Duration::ZERO);
    let cookie = Cookie::build((SESSION_COOKIE, session.value))
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(state.tls)
        .path("/")
        .max_age(max_age)
        .build();
    Ok((jar.add(cookie), Json(LoginResponse { key_id: session.key_id, expires_at: session.expires_at })))
}

/// Extension: ends the browser session and clears the cookie. Always `204`.
#[utoipa::path(post, path = "/auth/logout", tag = "auth", responses((status = 204)))]
pub async fn logout(State(state): State<AppState>, jar: CookieJar) -> ApiResult<(CookieJar, StatusCode)> {
    if let Some(c) = jar.get(SESSION_COOKIE) {
        state.service.delete_session(c.value()).await?;
    }
    Ok((jar.remove(Cookie::build(SESSION_COOKIE).path("/")), StatusCode::NO_CONTENT))
}
