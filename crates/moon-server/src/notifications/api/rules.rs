//! The HTTP routes of the notification rules (see `super::super::rules_api` for its data).

use super::super::NotificationsState;
use super::super::rules::{Rule, RuleSpec};
use super::super::rules_api::*;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use moon_db::Db;
use moon_http::{ApiJson, ApiResult, Principal};

/// The routes of notification rules.
pub(in crate::notifications) fn routes<S>() -> utoipa_axum::router::OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    moon_db::Db: axum::extract::FromRef<S>,
    super::super::NotificationsState: axum::extract::FromRef<S>,
{
    use utoipa_axum::routes;
    utoipa_axum::router::OpenApiRouter::new().routes(routes!(list_rules, create_rule)).routes(routes!(
        get_rule,
        update_rule,
        delete_rule
    ))
}

/// List notification rules.
#[utoipa::path(get, path = "/api/v1/notifications/rules", tag = "notifications",
    responses((status = 200, body = Vec<Rule>)))]
async fn list_rules(State(db): State<Db>) -> ApiResult<Json<Vec<Rule>>> {
    Ok(Json(all(&db).await?))
}

/// Create a rule.
#[utoipa::path(post, path = "/api/v1/notifications/rules", tag = "notifications", request_body = RuleSpec,
    responses((status = 201, body = Rule), (status = 409, body = moon_http::error::Problem), (status = 422, body = moon_http::error::Problem)))]
async fn create_rule(
    State(state): State<NotificationsState>,
    principal: Principal,
    ApiJson(body): ApiJson<RuleSpec>,
) -> ApiResult<(StatusCode, Json<Rule>)> {
    let stored = super::super::service::create_rule(&state.db, &principal, &body, &state.timezone).await?;
    Ok((StatusCode::CREATED, Json(stored)))
}

/// Get one rule.
#[utoipa::path(get, path = "/api/v1/notifications/rules/{id}", tag = "notifications", params(("id" = i64, Path, description = "Rule id")),
    responses((status = 200, body = Rule), (status = 404, body = moon_http::error::Problem)))]
async fn get_rule(State(db): State<Db>, Path(id): Path<String>) -> ApiResult<Json<Rule>> {
    let id = moon_http::parse_id(&id)?;
    Ok(Json(super::super::service::rule(&db, id).await?))
}

/// Change a rule (enable or disable it, thresholds, schedule, template, …); its kind is fixed.
#[utoipa::path(patch, path = "/api/v1/notifications/rules/{id}", tag = "notifications", params(("id" = i64, Path, description = "Rule id")), request_body = RuleSpec,
    responses((status = 200, body = Rule), (status = 404, body = moon_http::error::Problem), (status = 409, body = moon_http::error::Problem), (status = 422, body = moon_http::error::Problem)))]
async fn update_rule(
    State(state): State<NotificationsState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<RuleSpec>,
) -> ApiResult<Json<Rule>> {
    let id = moon_http::parse_id(&id)?;
    Ok(Json(super::super::service::update_rule(&state.db, &principal, id, &body, &state.timezone).await?))
}

/// Delete a rule (the notifications it made stay).
#[utoipa::path(delete, path = "/api/v1/notifications/rules/{id}", tag = "notifications", params(("id" = i64, Path, description = "Rule id")),
    responses((status = 204, description = "Deleted"), (status = 404, body = moon_http::error::Problem)))]
async fn delete_rule(State(db): State<Db>, principal: Principal, Path(id): Path<String>) -> ApiResult<StatusCode> {
    let id = moon_http::parse_id(&id)?;
    super::super::service::delete_rule(&db, &principal, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
