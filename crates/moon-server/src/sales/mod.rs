//! The sales ledger over `/api/v1/sales` (part of the integration target).

pub mod import;
pub mod model;
pub mod repo;
pub mod service;
pub mod signals;
mod upload;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use moon_domain::{AgentCode, BusinessCalendar, FieldError, FieldErrors, parse_date};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use self::model::{CreateSale, Sale, SaleFilter, UpdateSale};
use moon_db::Db;
use moon_http::paging::{ListingSort, Paged};
use moon_http::{ApiError, ApiJson, ApiQuery, ApiResult, PageParams, Principal};

/// The component as the wiring sees it: its routes and the links `GET /` lists.
pub fn describe<S>() -> crate::component::Description<S>
where
    S: Clone + Send + Sync + 'static,
    Db: axum::extract::FromRef<S>,
    BusinessCalendar: axum::extract::FromRef<S>,
{
    crate::component::Description::new("integration", routes()).with_links(&[("sales", "/api/v1/sales")])
}

/// The component's routes.
fn routes<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    Db: axum::extract::FromRef<S>,
    BusinessCalendar: axum::extract::FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(list_sales, create_sale))
        .routes(routes!(get_sale, update_sale, delete_sale))
        .routes(routes!(upload::import_sales))
}

/// Today in the business time zone, for rejecting sales dated in the future: in UTC+05:30 a
/// sale dated today is today from local midnight, not from 05:30.
pub fn today(calendar: &BusinessCalendar) -> chrono::NaiveDate {
    calendar.today(chrono::Utc::now())
}

fn parse_opt_id(e: &mut FieldErrors, field: &str, raw: Option<&str>) -> Option<i64> {
    let raw = raw?.trim();
    e.take(
        raw.parse::<i64>()
            .map_err(|_| FieldError::new(field, "invalid_id", format!("{field} must be a whole number; got {raw:?}"))),
    )
}

impl SaleFilter {
    fn to_query(&self) -> ApiResult<repo::SaleQuery> {
        let mut e = FieldErrors::new();
        let q = repo::SaleQuery {
            agent_code: e.take_opt(
                self.agent_code.as_deref().map(|c| AgentCode::parse("agent_code", c).map(AgentCode::into_inner)),
            ),
            agent_id: parse_opt_id(&mut e, "agent_id", self.agent_id.as_deref()),
            product_id: parse_opt_id(&mut e, "product_id", self.product_id.as_deref()),
            branch: self.branch.clone(),
            team: self.team.clone(),
            from: e.take_opt(self.from.as_deref().map(|d| parse_date("from", d))),
            to: e.take_opt(self.to.as_deref().map(|d| parse_date("to", d))),
            policy_number: self.policy_number.clone(),
        };
        if let (Some(from), Some(to)) = (q.from, q.to)
            && from > to
        {
            e.push(FieldError::new("from", "invalid_range", format!("from ({from}) must not be after to ({to})")));
        }
        e.finish().map_err(ApiError::validation)?;
        Ok(q)
    }
}

/// List sales, filtered by agent, product, branch, team and date range, ordered by `sort` then id.
#[utoipa::path(get, path = "/api/v1/sales", tag = "sales", params(SaleFilter),
    responses((status = 200, body = Paged<Sale>), (status = 400, body = moon_http::error::Problem), (status = 422, body = moon_http::error::Problem)))]
async fn list_sales(
    State(db): State<Db>,
    principal: Principal,
    ApiQuery(filter): ApiQuery<SaleFilter>,
) -> ApiResult<Json<Paged<Sale>>> {
    let sort = filter.sort.unwrap_or_default();
    let page = PageParams { limit: filter.limit.clone(), cursor: filter.cursor.clone(), order: filter.order.clone() }
        .parse_sorted(sort.spec())?;
    let query = filter.to_query()?;
    let rows = repo::list_sorted(&db, &principal.scope, &query, &page).await?;
    Ok(Json(page.finish(rows, |s| (sort.keys_of(s), s.id))))
}

/// Record a sale.
#[utoipa::path(post, path = "/api/v1/sales", tag = "sales", request_body = CreateSale,
    responses((status = 201, body = Sale), (status = 409, description = "policy_number already used", body = moon_http::error::Problem), (status = 422, description = "Invalid field, unknown agent or product", body = moon_http::error::Problem)))]
async fn create_sale(
    State(db): State<Db>,
    State(calendar): State<BusinessCalendar>,
    principal: Principal,
    ApiJson(body): ApiJson<CreateSale>,
) -> ApiResult<(StatusCode, Json<Sale>)> {
    let fields = body.validate(today(&calendar)).map_err(ApiError::validation)?;
    let sale = service::create(&db, &principal, fields).await?;
    Ok((StatusCode::CREATED, Json(sale)))
}

/// Get one sale.
#[utoipa::path(get, path = "/api/v1/sales/{id}", tag = "sales", params(("id" = i64, Path, description = "Sale id")),
    responses((status = 200, body = Sale), (status = 404, body = moon_http::error::Problem)))]
async fn get_sale(State(db): State<Db>, principal: Principal, Path(id): Path<String>) -> ApiResult<Json<Sale>> {
    let id = moon_http::parse_id(&id)?;
    repo::get(&db, &principal.scope, id).await?.map(Json).ok_or_else(|| ApiError::not_found(format!("sale {id}")))
}

/// Change some fields of a sale.
#[utoipa::path(patch, path = "/api/v1/sales/{id}", tag = "sales", params(("id" = i64, Path, description = "Sale id")), request_body = UpdateSale,
    responses((status = 200, body = Sale), (status = 404, body = moon_http::error::Problem), (status = 409, body = moon_http::error::Problem), (status = 422, body = moon_http::error::Problem)))]
async fn update_sale(
    State(db): State<Db>,
    State(calendar): State<BusinessCalendar>,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UpdateSale>,
) -> ApiResult<Json<Sale>> {
    let id = moon_http::parse_id(&id)?;
    let fields = body.validate(today(&calendar)).map_err(ApiError::validation)?;
    Ok(Json(service::update(&db, &principal, id, fields).await?))
}

/// Delete a sale.
#[utoipa::path(delete, path = "/api/v1/sales/{id}", tag = "sales", params(("id" = i64, Path, description = "Sale id")),
    responses((status = 204, description = "Deleted"), (status = 404, body = moon_http::error::Problem)))]
async fn delete_sale(State(db): State<Db>, principal: Principal, Path(id): Path<String>) -> ApiResult<StatusCode> {
    let id = moon_http::parse_id(&id)?;
    service::delete(&db, &principal, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
