//! Sales targets per fiscal period over `/api/v1/targets` (served by the integration target):
//! a target is a scope (company, region, branch, team or agent), optionally a product or a
//! product line, a month, quarter or year of the fiscal calendar, an amount and optionally a
//! policy count. Not to be confused with `targets.rs`, the deployment targets of a process.

pub mod model;
pub mod repo;
pub mod service;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use moon_domain::{FieldError, FieldErrors, Money, PeriodKind, parse_date};
use rust_decimal::Decimal;
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use self::model::{CorrectionBody, ScopeKind, SetTarget, Target, UpdateTarget};
use self::service::{CopyReport, PeriodLock};
use crate::calendar::PlanningState;
use crate::file_import::{ImportParams, ImportReport, csv_text};
use moon_http::paging::Paged;
use moon_http::{ApiError, ApiJson, ApiQuery, ApiResult, PageParams, Principal};

/// The component as the wiring sees it.
pub fn describe<S>() -> crate::component::Description<S>
where
    S: Clone + Send + Sync + 'static,
    PlanningState: axum::extract::FromRef<S>,
{
    let api = OpenApiRouter::new()
        .routes(routes!(list_targets, set_target))
        .routes(routes!(get_target, update_target, delete_target))
        .routes(routes!(import_targets))
        .routes(routes!(copy_targets))
        .routes(routes!(lock_period));
    crate::component::Description::new("integration", api).with_links(&[("targets", "/api/v1/targets")])
}

/// Filters of `GET /api/v1/targets`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TargetFilter {
    /// company, region, branch, team or agent.
    pub scope_kind: Option<String>,
    /// A region, branch or team code or an agent code (case-insensitive).
    pub scope_key: Option<String>,
    /// Only targets of this product.
    pub product_id: Option<String>,
    /// Only targets of this line of business.
    pub product_line: Option<String>,
    /// Exactly this period: `2026-11`, `FY2026 Q4`, `FY2026` or `kind:start`.
    pub period: Option<String>,
    /// Only months, quarters or years.
    pub period_kind: Option<String>,
    /// Periods starting on or after this date.
    pub from: Option<String>,
    /// Periods ending on or before this date.
    pub to: Option<String>,
    /// Rows per page, 1–500 (default 50).
    pub limit: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// `asc` (default) or `desc` by id.
    pub order: Option<String>,
}

impl TargetFilter {
    fn to_query(&self, state: &PlanningState) -> Result<repo::TargetQuery, ApiError> {
        let mut e = FieldErrors::new();
        let q = repo::TargetQuery {
            scope_kind: e.take_opt(self.scope_kind.as_deref().map(|k| ScopeKind::parse("scope_kind", k))),
            scope_key: self.scope_key.as_deref().map(str::trim).map(str::to_owned),
            product_id: e.take_opt(self.product_id.as_deref().map(|p| {
                p.trim().parse::<i64>().map_err(|_| {
                    FieldError::new("product_id", "invalid_id", format!("product_id must be a whole number; got {p:?}"))
                })
            })),
            product_line: self.product_line.as_deref().map(str::trim).map(str::to_owned),
            period: e.take_opt(self.period.as_deref().map(|p| state.calendar.fiscal.parse("period", p))),
            period_kind: e.take_opt(self.period_kind.as_deref().map(|k| PeriodKind::parse("period_kind", k))),
            from: e.take_opt(self.from.as_deref().map(|d| parse_date("from", d))),
            to: e.take_opt(self.to.as_deref().map(|d| parse_date("to", d))),
        };
        e.finish().map_err(ApiError::validation)?;
        Ok(q)
    }
}

/// List the targets the caller may see, with filters and paging.
#[utoipa::path(get, path = "/api/v1/targets", tag = "targets", params(TargetFilter),
    responses((status = 200, body = Paged<Target>), (status = 400, body = moon_http::error::Problem), (status = 422, body = moon_http::error::Problem)))]
async fn list_targets(
    State(state): State<PlanningState>,
    principal: Principal,
    ApiQuery(filter): ApiQuery<TargetFilter>,
) -> ApiResult<Json<Paged<Target>>> {
    let page = PageParams { limit: filter.limit.clone(), cursor: filter.cursor.clone(), order: filter.order.clone() }
        .parse()?;
    let q = filter.to_query(&state)?;
    let rows = service::list(&state.db, &state.calendar, &principal, &q, &page).await?;
    Ok(Json(page.finish(rows, |t| t.id)))
}

/// Set a target (admins): creates it (201), or replaces the amount and count of the target with
/// the same scope, product or line, and period (200). A locked period needs a correction.
#[utoipa::path(post, path = "/api/v1/targets", tag = "targets", request_body = SetTarget,
    responses((status = 201, body = Target), (status = 200, description = "An existing target was replaced", body = Target),
        (status = 409, description = "period_locked", body = moon_http::error::Problem), (status = 422, body = moon_http::error::Problem)))]
async fn set_target(
    State(state): State<PlanningState>,
    principal: Principal,
    ApiJson(body): ApiJson<SetTarget>,
) -> ApiResult<(StatusCode, Json<Target>)> {
    let (fields, reason) = body.validate(&state.calendar).map_err(ApiError::validation)?;
    let (target, outcome) = service::set(&state.db, &state.calendar, &principal, &fields, reason.as_deref()).await?;
    let status = if outcome == service::Outcome::Created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(target)))
}

/// One target, if the caller may see it.
#[utoipa::path(get, path = "/api/v1/targets/{id}", tag = "targets", params(("id" = i64, Path, description = "Target id")),
    responses((status = 200, body = Target), (status = 404, body = moon_http::error::Problem)))]
async fn get_target(
    State(state): State<PlanningState>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<Target>> {
    let id = moon_http::parse_id(&id)?;
    Ok(Json(service::get(&state.db, &state.calendar, &principal, id).await?))
}

/// Change a target's amount or policy count (admins). A locked period needs a correction.
#[utoipa::path(patch, path = "/api/v1/targets/{id}", tag = "targets", params(("id" = i64, Path, description = "Target id")), request_body = UpdateTarget,
    responses((status = 200, body = Target), (status = 404, body = moon_http::error::Problem), (status = 409, body = moon_http::error::Problem), (status = 422, body = moon_http::error::Problem)))]
async fn update_target(
    State(state): State<PlanningState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UpdateTarget>,
) -> ApiResult<Json<Target>> {
    let id = moon_http::parse_id(&id)?;
    let mut e = FieldErrors::new();
    let amount = e.take_opt(body.amount.as_ref().map(|a| Money::parse_json("amount", a)));
    let count = match &body.policy_count {
        None => None,
        Some(None) => Some(None),
        Some(Some(v)) if v.is_null() => Some(None),
        Some(Some(v)) => e.take(model::policy_count("policy_count", v)).map(Some),
    };
    let reason = model::correction(&mut e, body.correction.as_ref());
    e.finish().map_err(ApiError::validation)?;
    Ok(Json(service::update(&state.db, &state.calendar, &principal, id, amount, count, reason.as_deref()).await?))
}

/// Options of `DELETE /api/v1/targets/{id}`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DeleteParams {
    /// Required when the period is locked: why the target is deleted anyway (a correction).
    pub correction_reason: Option<String>,
}

/// Delete a target (admins). A locked period needs `correction_reason`.
#[utoipa::path(delete, path = "/api/v1/targets/{id}", tag = "targets", params(("id" = i64, Path, description = "Target id"), DeleteParams),
    responses((status = 204, description = "Deleted"), (status = 404, body = moon_http::error::Problem), (status = 409, body = moon_http::error::Problem)))]
async fn delete_target(
    State(state): State<PlanningState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiQuery(params): ApiQuery<DeleteParams>,
) -> ApiResult<StatusCode> {
    let id = moon_http::parse_id(&id)?;
    let mut e = FieldErrors::new();
    let body = params.correction_reason.map(|r| CorrectionBody { reason: Some(r) });
    let reason = model::correction(&mut e, body.as_ref());
    e.finish().map_err(ApiError::validation)?;
    service::delete(&state.db, &state.calendar, &principal, id, reason.as_deref()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Import targets from CSV with a validation report (admins). Columns: `scope_kind`,
/// `scope_key`, `product` (id or name), `product_line`, `period`, `amount`, `policy_count`.
/// All or nothing unless `mode=partial`.
#[utoipa::path(post, path = "/api/v1/targets/import", tag = "targets", params(ImportParams),
    request_body(content = String, content_type = "text/csv"),
    responses((status = 200, body = ImportReport), (status = 422, description = "The report, as problem+json `import_rejected`", body = moon_http::error::Problem)))]
async fn import_targets(
    State(state): State<PlanningState>,
    principal: Principal,
    ApiQuery(params): ApiQuery<ImportParams>,
    body: Bytes,
) -> ApiResult<ImportReport> {
    let partial = params.partial()?;
    Ok(service::import(&state.db, &state.calendar, &principal, csv_text(&body)?, partial).await?)
}

/// Body of `POST /api/v1/targets/copy`.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CopyTargets {
    /// Required: the period to copy, such as `2026-11`.
    pub from: Option<String>,
    /// The period to write; default: the one after `from`.
    pub to: Option<String>,
    /// New amounts (and counts) as a percentage of the old: `110` adds 10 %. Default 100.
    #[schema(value_type = Option<String>)]
    pub scale_percent: Option<serde_json::Value>,
}

/// Copy a period's targets forward (admins), optionally scaled, leaving targets the new period
/// already has.
#[utoipa::path(post, path = "/api/v1/targets/copy", tag = "targets", request_body = CopyTargets,
    responses((status = 200, body = CopyReport), (status = 409, body = moon_http::error::Problem), (status = 422, body = moon_http::error::Problem)))]
async fn copy_targets(
    State(state): State<PlanningState>,
    principal: Principal,
    ApiJson(body): ApiJson<CopyTargets>,
) -> ApiResult<Json<CopyReport>> {
    let mut e = FieldErrors::new();
    if body.from.is_none() {
        e.push(FieldError::required("from"));
    }
    let fiscal = state.calendar.fiscal;
    let from = e.take_opt(body.from.as_deref().map(|p| fiscal.parse("from", p)));
    let to = e.take_opt(body.to.as_deref().map(|p| fiscal.parse("to", p)));
    let percent = e.take_opt(body.scale_percent.as_ref().map(parse_percent)).unwrap_or(Decimal::from(100));
    e.finish().map_err(ApiError::validation)?;
    let from = from.ok_or_else(|| ApiError::field(FieldError::required("from")))?;
    Ok(Json(service::copy(&state.db, &state.calendar, &principal, from, to, percent).await?))
}

/// A percentage as a JSON number or string, read exactly.
pub fn parse_percent(v: &serde_json::Value) -> Result<Decimal, FieldError> {
    let text = match v {
        serde_json::Value::Number(n) => n.to_string(),
        serde_json::Value::String(s) => s.trim().to_owned(),
        _ => String::new(),
    };
    text.parse::<Decimal>().map_err(|_| {
        FieldError::new(
            "scale_percent",
            "invalid_percent",
            format!("scale_percent must be a number such as 110 or 97.5; got {v}"),
        )
    })
}

/// Lock a finished period (admins): afterwards its targets (and those of the months or quarters
/// inside it) change only as corrections with a reason.
#[utoipa::path(post, path = "/api/v1/targets/periods/{period}/lock", tag = "targets", params(("period" = String, Path, description = "`2026-11`, `FY2026 Q4`, `FY2026` or `kind:start`")),
    responses((status = 200, body = PeriodLock), (status = 409, description = "period_not_finished", body = moon_http::error::Problem), (status = 422, body = moon_http::error::Problem)))]
async fn lock_period(
    State(state): State<PlanningState>,
    principal: Principal,
    Path(period): Path<String>,
) -> ApiResult<Json<PeriodLock>> {
    let period = state.calendar.fiscal.parse("period", &period).map_err(ApiError::field)?;
    Ok(Json(service::lock(&state.db, &state.calendar, &principal, period, state.today()).await?))
}
