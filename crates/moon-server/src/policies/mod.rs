//! Policies over `/api/v1/policies` (served by the integration target, beside the sales they
//! mirror): policies with dated, signed transactions (new business, renewal, endorsement,
//! cancellation, lapse, reinstatement) and split credit exact to the cent (issue 15, slice 3).
//! The split is `moon_domain::credit`; the sale mirror is `mirror.rs`; see
//! `docs/adr/0024-policy-lifecycle-and-commissions.md`.

pub mod mirror;
pub mod model;
pub mod repo;
pub mod service;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use moon_db::Db;
use moon_domain::{AgentCode, BusinessCalendar, FieldError, FieldErrors};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use self::model::{CreatePolicy, CreateTransaction, Policy, PolicyFilter, PolicySummary, Status, Transactions};
use moon_http::paging::Paged;
use moon_http::{ApiError, ApiJson, ApiQuery, ApiResult, PageParams, Principal};

/// The component's part, as the wiring sees it.
pub fn describe<S>() -> crate::component::Description<S>
where
    S: Clone + Send + Sync + 'static,
    Db: axum::extract::FromRef<S>,
    BusinessCalendar: axum::extract::FromRef<S>,
{
    let api = OpenApiRouter::new()
        .routes(routes!(list_policies, create_policy))
        .routes(routes!(get_policy))
        .routes(routes!(list_transactions, add_transaction));
    crate::component::Description::new("integration", api).with_links(&[("policies", "/api/v1/policies")])
}

fn id_param(e: &mut FieldErrors, field: &str, raw: Option<&str>) -> Option<i64> {
    let raw = raw?.trim();
    e.take(raw.parse::<i64>().ok().filter(|i| *i > 0).ok_or_else(|| {
        FieldError::new(field, "invalid_id", format!("{field} must be a whole number above 0; got {raw:?}"))
    }))
}

impl PolicyFilter {
    /// The validated query, every bad parameter together.
    pub fn to_query(&self) -> Result<repo::PolicyQuery, ApiError> {
        let mut e = FieldErrors::new();
        let q = repo::PolicyQuery {
            policy_number: self.policy_number.as_deref().map(str::trim).map(str::to_owned),
            product_id: id_param(&mut e, "product_id", self.product_id.as_deref()),
            agent_code: e.take_opt(
                self.agent_code.as_deref().map(|c| AgentCode::parse("agent_code", c).map(AgentCode::into_inner)),
            ),
            agent_id: id_param(&mut e, "agent_id", self.agent_id.as_deref()),
            status: e.take_opt(self.status.as_deref().map(|s| Status::parse("status", s))),
        };
        e.finish().map_err(ApiError::validation)?;
        Ok(q)
    }
}

/// List the policies the caller may see (admins all; a manager those credited to their branch;
/// an agent those crediting them), by id, without their transactions.
#[utoipa::path(get, path = "/api/v1/policies", tag = "policies", params(PolicyFilter),
    responses((status = 200, body = Paged<PolicySummary>), (status = 400, body = moon_http::error::Problem), (status = 422, body = moon_http::error::Problem)))]
async fn list_policies(
    State(db): State<Db>,
    principal: Principal,
    ApiQuery(filter): ApiQuery<PolicyFilter>,
) -> ApiResult<Json<Paged<PolicySummary>>> {
    let page = PageParams { limit: filter.limit.clone(), cursor: filter.cursor.clone(), order: filter.order.clone() }
        .parse()?;
    let q = filter.to_query()?;
    let rows = service::list(&db, &principal, &q, &page).await?;
    Ok(Json(page.finish(rows, |p| p.id)))
}

/// Create a policy with its new-business transaction, crediting one or more agents by share
/// (basis points summing to 10000; the cents follow the largest-remainder rule and sum to the
/// premium exactly). Every bad field is listed in one 422.
#[utoipa::path(post, path = "/api/v1/policies", tag = "policies", request_body = CreatePolicy,
    responses((status = 201, body = Policy), (status = 409, description = "duplicate_policy_number", body = moon_http::error::Problem), (status = 422, body = moon_http::error::Problem)))]
async fn create_policy(
    State(db): State<Db>,
    State(calendar): State<BusinessCalendar>,
    principal: Principal,
    ApiJson(body): ApiJson<CreatePolicy>,
) -> ApiResult<(StatusCode, Json<Policy>)> {
    let today = crate::sales::today(&calendar);
    let policy = service::create(&db, &principal, &body, today).await?;
    Ok((StatusCode::CREATED, Json(policy)))
}

/// One policy with every transaction and its credits, if the caller may see it.
#[utoipa::path(get, path = "/api/v1/policies/{id}", tag = "policies", params(("id" = i64, Path, description = "Policy id")),
    responses((status = 200, body = Policy), (status = 404, body = moon_http::error::Problem)))]
async fn get_policy(State(db): State<Db>, principal: Principal, Path(id): Path<String>) -> ApiResult<Json<Policy>> {
    let id = moon_http::parse_id(&id)?;
    Ok(Json(service::get(&db, &principal, id).await?))
}

/// The transactions of a visible policy, oldest first, each with its credits.
#[utoipa::path(get, path = "/api/v1/policies/{id}/transactions", tag = "policies", params(("id" = i64, Path, description = "Policy id")),
    responses((status = 200, body = Transactions), (status = 404, body = moon_http::error::Problem)))]
async fn list_transactions(
    State(db): State<Db>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<Transactions>> {
    let id = moon_http::parse_id(&id)?;
    let policy = service::get(&db, &principal, id).await?;
    Ok(Json(Transactions { items: policy.transactions }))
}

/// Record a renewal, endorsement, cancellation, lapse or reinstatement (admins; managers on
/// policies credited to their branch). Signs: renewal and reinstatement above zero,
/// cancellation and lapse below (at most the premium in force), endorsement not zero.
/// Without `credits` the shares of the policy's last transaction are inherited. Answers the
/// policy with its new status, end date and transactions.
#[utoipa::path(post, path = "/api/v1/policies/{id}/transactions", tag = "policies", params(("id" = i64, Path, description = "Policy id")), request_body = CreateTransaction,
    responses((status = 201, body = Policy), (status = 404, body = moon_http::error::Problem), (status = 409, description = "policy_not_in_force, policy_in_force", body = moon_http::error::Problem), (status = 422, body = moon_http::error::Problem)))]
async fn add_transaction(
    State(db): State<Db>,
    State(calendar): State<BusinessCalendar>,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<CreateTransaction>,
) -> ApiResult<(StatusCode, Json<Policy>)> {
    let id = moon_http::parse_id(&id)?;
    let today = crate::sales::today(&calendar);
    let policy = service::add_transaction(&db, &principal, id, &body, today).await?;
    Ok((StatusCode::CREATED, Json(policy)))
}
