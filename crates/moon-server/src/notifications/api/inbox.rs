//! The HTTP routes of the notification inbox (see `super::super::inbox` for its data).

use super::super::NotificationsState;
use super::super::inbox::*;
use axum::Json;
use axum::extract::State;
use moon_db::Db;
use moon_http::{ApiJson, ApiQuery, ApiResult, Principal};

/// The routes of the inbox and preferences.
pub(in crate::notifications) fn routes<S>() -> utoipa_axum::router::OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    moon_db::Db: axum::extract::FromRef<S>,
    super::super::NotificationsState: axum::extract::FromRef<S>,
{
    use utoipa_axum::routes;
    utoipa_axum::router::OpenApiRouter::new()
        .routes(routes!(unread_count))
        .routes(routes!(read_all))
        .routes(routes!(get_preferences, put_preferences))
}

/// Unread notifications in an inbox.
#[utoipa::path(get, path = "/api/v1/notifications/unread_count", tag = "notifications", params(InboxParams),
    responses((status = 200, body = Unread), (status = 404, body = moon_http::error::Problem)))]
async fn unread_count(
    State(db): State<Db>,
    principal: Principal,
    ApiQuery(p): ApiQuery<InboxParams>,
) -> ApiResult<Json<Unread>> {
    let unread = super::super::service::unread_count(&db, &principal, p.agent_id).await?;
    Ok(Json(Unread { unread }))
}

/// Mark every unread notification in an inbox read (now).
#[utoipa::path(post, path = "/api/v1/notifications/read_all", tag = "notifications", params(InboxParams),
    responses((status = 200, body = Marked), (status = 404, body = moon_http::error::Problem)))]
async fn read_all(
    State(db): State<Db>,
    principal: Principal,
    ApiQuery(p): ApiQuery<InboxParams>,
) -> ApiResult<Json<Marked>> {
    let marked = super::super::service::read_all(&db, &principal, p.agent_id).await?;
    Ok(Json(Marked { marked }))
}

/// An agent's channels.
#[utoipa::path(get, path = "/api/v1/notifications/preferences", tag = "notifications", params(InboxParams),
    responses((status = 200, body = Preferences), (status = 404, body = moon_http::error::Problem), (status = 422, body = moon_http::error::Problem)))]
async fn get_preferences(
    State(state): State<NotificationsState>,
    principal: Principal,
    ApiQuery(p): ApiQuery<InboxParams>,
) -> ApiResult<Json<Preferences>> {
    Ok(Json(super::super::service::preferences(&state.db, &principal, p.agent_id).await?))
}

/// Choose channels: an agent for themself, staff for an agent in their scope.
#[utoipa::path(put, path = "/api/v1/notifications/preferences", tag = "notifications", params(InboxParams), request_body = PreferencesUpdate,
    responses((status = 200, body = Preferences), (status = 404, body = moon_http::error::Problem), (status = 422, body = moon_http::error::Problem)))]
async fn put_preferences(
    State(state): State<NotificationsState>,
    principal: Principal,
    ApiQuery(p): ApiQuery<InboxParams>,
    ApiJson(body): ApiJson<PreferencesUpdate>,
) -> ApiResult<Json<Preferences>> {
    Ok(Json(super::super::service::set_preferences(&state.db, &principal, p.agent_id, &body).await?))
}
