//! `/api/v1/wallboard-tokens`: issue, list and revoke the read-only tokens of branch TVs
//! ([`super::wallboard`]). Admins only, by the policy table.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::SecurityState;
use super::wallboard::{self, IssueWallboardToken, IssuedWallboardToken, WallboardToken};
use moon_http::error::Problem;
use moon_http::{ApiJson, ApiResult, Principal};

/// The routes of wallboard tokens.
pub fn routes<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    SecurityState: axum::extract::FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(list_wallboard_tokens, issue_wallboard_token))
        .routes(routes!(revoke_wallboard_token))
}

/// List wallboard tokens, newest first (admins).
#[utoipa::path(get, path = "/api/v1/wallboard-tokens", tag = "tokens",
    responses((status = 200, body = Vec<WallboardToken>)))]
async fn list_wallboard_tokens(State(state): State<SecurityState>) -> ApiResult<Json<Vec<WallboardToken>>> {
    Ok(Json(wallboard::list(&state.db).await?))
}

/// Issue a read-only wallboard token for one branch (admins). The answer holds the one-time
/// link for the TV (`/wallboard/tv?token=…`, to be opened within 7 days); it is not stored and
/// cannot be shown again.
#[utoipa::path(post, path = "/api/v1/wallboard-tokens", tag = "tokens", request_body = IssueWallboardToken,
    responses((status = 201, body = IssuedWallboardToken), (status = 422, body = Problem)))]
async fn issue_wallboard_token(
    State(state): State<SecurityState>,
    principal: Principal,
    ApiJson(body): ApiJson<IssueWallboardToken>,
) -> ApiResult<Response> {
    let issued = wallboard::issue(&state.db, &state.auth.branches, &principal, &body).await?;
    let mut res = (StatusCode::CREATED, Json(issued)).into_response();
    res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(res)
}

/// Revoke a wallboard token (admins): its screen is refused from its next request.
#[utoipa::path(delete, path = "/api/v1/wallboard-tokens/{id}", tag = "tokens",
    params(("id" = i64, Path, description = "Wallboard token id")),
    responses((status = 200, body = WallboardToken), (status = 404, body = Problem)))]
async fn revoke_wallboard_token(
    State(state): State<SecurityState>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<WallboardToken>> {
    let id = moon_http::parse_id(&id)?;
    Ok(Json(wallboard::revoke(&state.db, id, &principal).await?))
}
