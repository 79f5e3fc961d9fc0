//! Commission plans over `/api/v1/commission-plans` (served by the integration target, beside
//! the products they pay on): effective-dated, versioned plans per role and product, product
//! line or all products, with tiers, a cap, a clawback rule and contests (issue 15, item 4).
//! The rules and their arithmetic are `moon_domain::commission`; see
//! `docs/adr/0024-policy-lifecycle-and-commissions.md`.

pub mod model;
pub mod repo;
pub mod service;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use moon_domain::{FieldError, FieldErrors, parse_date};
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use self::model::{Applicable, CreatePlan, NewVersion, Plan, PlanRole, RetirePlan};
use crate::calendar::PlanningState;
use moon_http::paging::Paged;
use moon_http::{ApiError, ApiJson, ApiQuery, ApiResult, PageParams, Principal};

/// The component's part, as the wiring sees it.
pub fn describe<S>() -> crate::component::Description<S>
where
    S: Clone + Send + Sync + 'static,
    PlanningState: axum::extract::FromRef<S>,
{
    let api = OpenApiRouter::new()
        .routes(routes!(list_plans, create_plan))
        .routes(routes!(applicable_plan))
        .routes(routes!(get_plan))
        .routes(routes!(add_version))
        .routes(routes!(retire_plan));
    crate::component::Description::new("integration", api)
        .with_links(&[("commission_plans", "/api/v1/commission-plans")])
}

/// Filters of `GET /api/v1/commission-plans`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PlanFilter {
    /// agent or manager.
    pub role: Option<String>,
    /// Only the plan of this product.
    pub product_id: Option<String>,
    /// Only the plan of this line of business.
    pub product_line: Option<String>,
    /// Rows per page, 1–500 (default 50).
    pub limit: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// `asc` (default) or `desc` by id.
    pub order: Option<String>,
}

fn id_param(field: &str, raw: &str) -> Result<i64, FieldError> {
    raw.trim().parse::<i64>().ok().filter(|i| *i > 0).ok_or_else(|| {
        FieldError::new(field, "invalid_id", format!("{field} must be a whole number above 0; got {raw:?}"))
    })
}

impl PlanFilter {
    /// The validated query, every bad parameter together.
    pub fn to_query(&self) -> Result<repo::PlanQuery, ApiError> {
        let mut e = FieldErrors::new();
        let q = repo::PlanQuery {
            role: e.take_opt(self.role.as_deref().map(|r| PlanRole::parse("role", r))),
            product_id: e.take_opt(self.product_id.as_deref().map(|p| id_param("product_id", p))),
            product_line: self.product_line.as_deref().map(str::trim).map(str::to_owned),
        };
        e.finish().map_err(ApiError::validation)?;
        Ok(q)
    }
}

/// List the plans the caller may read (admins and analysts all; managers those paying managers
/// and agents; agents those paying agents), each with every version.
#[utoipa::path(get, path = "/api/v1/commission-plans", tag = "commissions", params(PlanFilter),
    responses((status = 200, body = Paged<Plan>), (status = 400, body = moon_http::error::Problem), (status = 422, body = moon_http::error::Problem)))]
async fn list_plans(
    State(state): State<PlanningState>,
    principal: Principal,
    ApiQuery(filter): ApiQuery<PlanFilter>,
) -> ApiResult<Json<Paged<Plan>>> {
    let page = PageParams { limit: filter.limit.clone(), cursor: filter.cursor.clone(), order: filter.order.clone() }
        .parse()?;
    let q = filter.to_query()?;
    let rows = service::list(&state.db, &principal, &q, &page, state.today()).await?;
    Ok(Json(page.finish(rows, |p| p.id)))
}

/// Create a plan with its first version (admins). One plan per role and product, line or all
/// products; every bad field is listed in one 422.
#[utoipa::path(post, path = "/api/v1/commission-plans", tag = "commissions", request_body = CreatePlan,
    responses((status = 201, body = Plan), (status = 409, description = "duplicate_plan", body = moon_http::error::Problem), (status = 422, body = moon_http::error::Problem)))]
async fn create_plan(
    State(state): State<PlanningState>,
    principal: Principal,
    ApiJson(body): ApiJson<CreatePlan>,
) -> ApiResult<(StatusCode, Json<Plan>)> {
    let plan = service::create(&state.db, &principal, &body, state.today()).await?;
    Ok((StatusCode::CREATED, Json(plan)))
}

/// Parameters of `GET /api/v1/commission-plans/applicable`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ApplicableParams {
    /// Required: the product sold.
    pub product_id: Option<String>,
    /// agent (default) or manager.
    pub role: Option<String>,
    /// The day of the sale, `YYYY-MM-DD` (default: the business today).
    pub date: Option<String>,
}

/// The plan that pays a role for a product on a day, with the version in force that day: the
/// product's own plan, else its line's, else the all-products plan. In the answer,
/// `plan.current_version` is the version in force on that day. 404 when none applies.
#[utoipa::path(get, path = "/api/v1/commission-plans/applicable", tag = "commissions", params(ApplicableParams),
    responses((status = 200, body = Applicable), (status = 404, body = moon_http::error::Problem), (status = 422, body = moon_http::error::Problem)))]
async fn applicable_plan(
    State(state): State<PlanningState>,
    principal: Principal,
    ApiQuery(params): ApiQuery<ApplicableParams>,
) -> ApiResult<Json<Applicable>> {
    let mut e = FieldErrors::new();
    let product_id = match params.product_id.as_deref() {
        None => {
            e.push(FieldError::required("product_id"));
            None
        }
        Some(p) => e.take(id_param("product_id", p)),
    };
    let role = e.take_opt(params.role.as_deref().map(|r| PlanRole::parse("role", r))).unwrap_or(PlanRole::Agent);
    let date = e.take_opt(params.date.as_deref().map(|d| parse_date("date", d)));
    e.finish().map_err(ApiError::validation)?;
    let product_id = product_id.ok_or_else(|| ApiError::field(FieldError::required("product_id")))?;
    let none = || ApiError::not_found(format!("commission plan for {} on product {product_id}", role.as_str()));
    if service::readable_roles(&principal).is_some_and(|roles| !roles.contains(&role)) {
        return Err(none());
    }
    let on = date.unwrap_or_else(|| state.today());
    service::applicable(&state.db, role, product_id, on).await?.map(Json).ok_or_else(none)
}

/// One plan with every version, if the caller may read it.
#[utoipa::path(get, path = "/api/v1/commission-plans/{id}", tag = "commissions", params(("id" = i64, Path, description = "Plan id")),
    responses((status = 200, body = Plan), (status = 404, body = moon_http::error::Problem)))]
async fn get_plan(
    State(state): State<PlanningState>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<Plan>> {
    let id = moon_http::parse_id(&id)?;
    Ok(Json(service::get(&state.db, &principal, id, state.today()).await?))
}

/// Add a version (admins): new rules from a date after the latest version's. Earlier versions
/// stay as they were.
#[utoipa::path(post, path = "/api/v1/commission-plans/{id}/versions", tag = "commissions", params(("id" = i64, Path, description = "Plan id")), request_body = NewVersion,
    responses((status = 201, body = Plan), (status = 404, body = moon_http::error::Problem), (status = 409, body = moon_http::error::Problem), (status = 422, body = moon_http::error::Problem)))]
async fn add_version(
    State(state): State<PlanningState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<NewVersion>,
) -> ApiResult<(StatusCode, Json<Plan>)> {
    let id = moon_http::parse_id(&id)?;
    let plan = service::add_version(&state.db, &principal, id, &body, state.today()).await?;
    Ok((StatusCode::CREATED, Json(plan)))
}

/// Retire a plan from a date (admins): a version that pays nothing. A later version revives it.
#[utoipa::path(post, path = "/api/v1/commission-plans/{id}/retire", tag = "commissions", params(("id" = i64, Path, description = "Plan id")), request_body = RetirePlan,
    responses((status = 200, body = Plan), (status = 404, body = moon_http::error::Problem), (status = 409, description = "already_retired", body = moon_http::error::Problem), (status = 422, body = moon_http::error::Problem)))]
async fn retire_plan(
    State(state): State<PlanningState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<RetirePlan>,
) -> ApiResult<Json<Plan>> {
    let id = moon_http::parse_id(&id)?;
    Ok(Json(service::retire(&state.db, &principal, id, &body, state.today()).await?))
}
