//! The organisation: regions, branches and teams as records (`/api/v1/org/{kind}`), and each
//! agent's effective-dated membership of a team and a home branch
//! (`/api/v1/agents/{id}/memberships`, `/api/v1/agents/{id}/moves`).
//!
//! It lives inside the agent component because it owns the agents' history: a membership is
//! part of an agent's record, and the agent row's `branch` and `team` columns hold the codes of
//! the current membership so the original routes and managers' scopes keep reading them.

pub mod model;
pub mod repo;
pub mod service;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use self::model::{CreateUnit, Membership, Unit, UnitFilter, UnitKind, UpdateUnit};
use moon_db::Db;
use moon_http::paging::Paged;
use moon_http::{ApiError, ApiJson, ApiQuery, ApiResult, PageParams, Principal};

/// The organisation's routes, merged into the agent component's.
pub fn routes<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    Db: axum::extract::FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(list_units, create_unit))
        .routes(routes!(get_unit, update_unit))
        .routes(routes!(list_memberships))
}

fn kind(raw: &str) -> ApiResult<UnitKind> {
    UnitKind::parse(raw)
        .ok_or_else(|| ApiError::not_found(format!("organisation collection {raw:?} (regions, branches or teams)")))
}

/// List the regions, branches or teams, by id.
#[utoipa::path(get, path = "/api/v1/org/{kind}", tag = "organisation",
    params(("kind" = String, Path, description = "`regions`, `branches` or `teams`"), UnitFilter),
    responses((status = 200, body = Paged<Unit>), (status = 400, body = moon_http::error::Problem), (status = 404, body = moon_http::error::Problem)))]
async fn list_units(
    State(db): State<Db>,
    _principal: Principal,
    Path(raw): Path<String>,
    ApiQuery(filter): ApiQuery<UnitFilter>,
) -> ApiResult<Json<Paged<Unit>>> {
    let kind = kind(&raw)?;
    let page = PageParams { limit: filter.limit.clone(), cursor: filter.cursor.clone(), order: filter.order.clone() }
        .parse()?;
    let rows = service::list(&db, kind, filter.active, &page).await?;
    Ok(Json(page.finish(rows, |u| u.id)))
}

/// Create a region, branch or team (administrators).
#[utoipa::path(post, path = "/api/v1/org/{kind}", tag = "organisation",
    params(("kind" = String, Path, description = "`regions`, `branches` or `teams`")), request_body = CreateUnit,
    responses((status = 201, body = Unit), (status = 403, body = moon_http::error::Problem), (status = 409, description = "code or name already used", body = moon_http::error::Problem), (status = 422, body = moon_http::error::Problem)))]
async fn create_unit(
    State(db): State<Db>,
    principal: Principal,
    Path(raw): Path<String>,
    ApiJson(body): ApiJson<CreateUnit>,
) -> ApiResult<(StatusCode, Json<Unit>)> {
    let kind = kind(&raw)?;
    let new = body.validate(kind).map_err(ApiError::validation)?;
    Ok((StatusCode::CREATED, Json(service::create(&db, &principal, new).await?)))
}

/// Get one region, branch or team.
#[utoipa::path(get, path = "/api/v1/org/{kind}/{id}", tag = "organisation",
    params(("kind" = String, Path, description = "`regions`, `branches` or `teams`"), ("id" = i64, Path, description = "Unit id")),
    responses((status = 200, body = Unit), (status = 404, body = moon_http::error::Problem)))]
async fn get_unit(
    State(db): State<Db>,
    _principal: Principal,
    Path((raw, id)): Path<(String, String)>,
) -> ApiResult<Json<Unit>> {
    let kind = kind(&raw)?;
    let id = moon_http::parse_id(&id)?;
    Ok(Json(service::get(&db, kind, id).await?))
}

/// Rename, re-parent, activate or deactivate a unit (administrators). The code never changes.
#[utoipa::path(patch, path = "/api/v1/org/{kind}/{id}", tag = "organisation",
    params(("kind" = String, Path, description = "`regions`, `branches` or `teams`"), ("id" = i64, Path, description = "Unit id")), request_body = UpdateUnit,
    responses((status = 200, body = Unit), (status = 403, body = moon_http::error::Problem), (status = 404, body = moon_http::error::Problem), (status = 409, body = moon_http::error::Problem), (status = 422, body = moon_http::error::Problem)))]
async fn update_unit(
    State(db): State<Db>,
    principal: Principal,
    Path((raw, id)): Path<(String, String)>,
    ApiJson(body): ApiJson<UpdateUnit>,
) -> ApiResult<Json<Unit>> {
    let kind = kind(&raw)?;
    let id = moon_http::parse_id(&id)?;
    let changes = body.validate(kind).map_err(ApiError::validation)?;
    Ok(Json(service::update(&db, &principal, kind, id, changes).await?))
}

/// An agent's team and home-branch history, oldest first.
#[utoipa::path(get, path = "/api/v1/agents/{id}/memberships", tag = "organisation",
    params(("id" = i64, Path, description = "Agent id")),
    responses((status = 200, body = Vec<Membership>), (status = 404, body = moon_http::error::Problem)))]
async fn list_memberships(
    State(db): State<Db>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<Membership>>> {
    let id = moon_http::parse_id(&id)?;
    Ok(Json(service::history(&db, &principal, id).await?))
}
