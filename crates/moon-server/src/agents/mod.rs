//! The agent component: agent records over `/api/v1/agents`.

pub mod import;
pub mod model;
pub mod org;
pub mod repo;
pub mod service;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::http::StatusCode;
use axum::response::Response;
use moon_domain::AgentCode;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use self::model::{Agent, AgentFilter, CreateAgent, UpdateAgent};
use crate::file_import::{Format, ImportParams, ImportReport, csv_text};
use moon_db::Db;
use moon_domain::BusinessCalendar;
use moon_http::paging::{ListingSort, Paged};
use moon_http::{ApiError, ApiJson, ApiQuery, ApiResult, PageParams, Principal};

/// The component as the wiring sees it: its routes and the links `GET /` lists.
pub fn describe<S>() -> crate::component::Description<S>
where
    S: Clone + Send + Sync + 'static,
    Db: axum::extract::FromRef<S>,
    BusinessCalendar: axum::extract::FromRef<S>,
{
    crate::component::Description::new("agent", routes()).with_links(&[("agents", "/api/v1/agents")])
}

/// The component's routes: a table of contents.
fn routes<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    Db: axum::extract::FromRef<S>,
    BusinessCalendar: axum::extract::FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(list_agents, create_agent))
        .routes(routes!(import_agents))
        .routes(routes!(get_agent, update_agent, delete_agent))
        .routes(routes!(erase_agent))
        .routes(routes!(move_agent))
        .merge(org::routes())
}

/// Import agents from CSV (`text/csv`: `agent_code,first_name,last_name,branch,team` and
/// optionally `contact_number,email,active,analytics_consent,show_name_to_peers`) or JSON Lines
/// (`application/x-ndjson`, one `POST /api/v1/agents` body a line), up to 16 MiB. Every row is
/// validated as in a single create; a manager imports into their own branch. Agents that exist
/// with the same values are skipped, so a re-sent file adds nothing; one that exists with other
/// values is an error on its line. All or nothing unless `mode=partial`. The report lists every
/// problem by line; send `Accept: text/csv` for it as CSV.
#[utoipa::path(post, path = "/api/v1/agents/import", tag = "agents", params(ImportParams),
    request_body(content = String, description = "CSV or JSON Lines", content(
        (String = "text/csv", example = "agent_code,first_name,last_name,branch,team\nAGT900,Nimal,Perera,Colombo,Alpha\n"),
        (String = "application/x-ndjson", example = "{\"agent_code\":\"AGT900\",\"first_name\":\"Nimal\",\"last_name\":\"Perera\",\"branch\":\"Colombo\",\"team\":\"Alpha\"}\n"))),
    responses(
        (status = 200, description = "Imported; the report", body = ImportReport),
        (status = 400, body = moon_http::error::Problem),
        (status = 413, body = moon_http::error::Problem),
        (status = 415, body = moon_http::error::Problem),
        (status = 422, description = "The report, as problem+json `import_rejected`", body = moon_http::error::Problem)))]
async fn import_agents(
    State(db): State<Db>,
    principal: Principal,
    ApiQuery(params): ApiQuery<ImportParams>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let partial = params.partial()?;
    let format = Format::of_request(&headers)?;
    let bytes =
        axum::body::to_bytes(body, import::MAX_UPLOAD_BYTES).await.map_err(|_| moon_http::input::too_large())?;
    let text = csv_text(&bytes)?;
    let sha = import::sha256_hex(&bytes);
    let report = import::import(&db, &principal, text, format, partial, &sha).await?;
    Ok(report.respond(crate::file_import::wants_csv(&headers)))
}

impl AgentFilter {
    fn to_query(&self) -> ApiResult<repo::AgentQuery> {
        let agent_code = match self.agent_code.as_deref() {
            Some(raw) => Some(AgentCode::parse("agent_code", raw).map_err(ApiError::field)?.into_inner()),
            None => None,
        };
        Ok(repo::AgentQuery {
            branch: self.branch.clone(),
            team: self.team.clone(),
            agent_code,
            active: self.active,
            search: self.q.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned),
        })
    }

    fn page(&self) -> PageParams {
        PageParams { limit: self.limit.clone(), cursor: self.cursor.clone(), order: self.order.clone() }
    }
}

/// List agents, filtered, ordered by `sort` then id, and paged by both.
#[utoipa::path(get, path = "/api/v1/agents", tag = "agents", params(AgentFilter),
    responses((status = 200, body = Paged<Agent>), (status = 400, body = moon_http::error::Problem), (status = 422, body = moon_http::error::Problem)))]
async fn list_agents(
    State(db): State<Db>,
    principal: Principal,
    ApiQuery(filter): ApiQuery<AgentFilter>,
) -> ApiResult<Json<Paged<Agent>>> {
    let sort = filter.sort.unwrap_or_default();
    let page = filter.page().parse_sorted(sort.spec())?;
    let query = filter.to_query()?;
    let rows = repo::list_sorted(&db, &principal.scope, &query, &page).await?;
    Ok(Json(page.finish(rows, |a| (sort.keys_of(a), a.id))))
}

/// Create an agent.
#[utoipa::path(post, path = "/api/v1/agents", tag = "agents", request_body = CreateAgent,
    responses((status = 201, body = Agent), (status = 409, description = "agent_code already used", body = moon_http::error::Problem), (status = 422, body = moon_http::error::Problem)))]
async fn create_agent(
    State(db): State<Db>,
    principal: Principal,
    ApiJson(body): ApiJson<CreateAgent>,
) -> ApiResult<(StatusCode, Json<Agent>)> {
    let new = body.validate().map_err(ApiError::validation)?;
    let agent = service::create(&db, &principal, new).await?;
    Ok((StatusCode::CREATED, Json(agent)))
}

/// Get one agent.
#[utoipa::path(get, path = "/api/v1/agents/{id}", tag = "agents", params(("id" = i64, Path, description = "Agent id")),
    responses((status = 200, body = Agent), (status = 404, body = moon_http::error::Problem)))]
async fn get_agent(State(db): State<Db>, principal: Principal, Path(id): Path<String>) -> ApiResult<Json<Agent>> {
    let id = moon_http::parse_id(&id)?;
    repo::get(&db, &principal.scope, id).await?.map(Json).ok_or_else(|| ApiError::not_found(format!("agent {id}")))
}

/// Change some fields of an agent.
#[utoipa::path(patch, path = "/api/v1/agents/{id}", tag = "agents", params(("id" = i64, Path, description = "Agent id")), request_body = UpdateAgent,
    responses((status = 200, body = Agent), (status = 404, body = moon_http::error::Problem), (status = 409, body = moon_http::error::Problem), (status = 422, body = moon_http::error::Problem)))]
async fn update_agent(
    State(db): State<Db>,
    State(calendar): State<BusinessCalendar>,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UpdateAgent>,
) -> ApiResult<Json<Agent>> {
    let id = moon_http::parse_id(&id)?;
    let changes = body.validate().map_err(ApiError::validation)?;
    Ok(Json(service::update(&db, &principal, id, changes, calendar.today(chrono::Utc::now())).await?))
}

/// Delete an agent who has no sales.
#[utoipa::path(delete, path = "/api/v1/agents/{id}", tag = "agents", params(("id" = i64, Path, description = "Agent id")),
    responses((status = 204, description = "Deleted"), (status = 404, body = moon_http::error::Problem), (status = 409, description = "The agent has sales", body = moon_http::error::Problem)))]
async fn delete_agent(State(db): State<Db>, principal: Principal, Path(id): Path<String>) -> ApiResult<StatusCode> {
    let id = moon_http::parse_id(&id)?;
    service::delete(&db, &principal, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Erase an agent's personal data (right to erasure): names are replaced, contact details
/// removed and analytics consent withdrawn; the record, its code and its sales stay, so every
/// total stays right. Repeating it changes nothing more.
#[utoipa::path(post, path = "/api/v1/agents/{code}/erase", tag = "agents", params(("code" = String, Path, description = "Agent code")),
    responses((status = 200, body = Agent), (status = 404, body = moon_http::error::Problem)))]
async fn erase_agent(State(db): State<Db>, principal: Principal, Path(code): Path<String>) -> ApiResult<Json<Agent>> {
    let code = AgentCode::parse("code", &code).map_err(|_| ApiError::not_found(format!("agent {code}")))?;
    Ok(Json(service::erase(&db, &principal, code.as_str()).await?))
}

/// Move an agent to another team and/or home branch from a date (today by default); earlier
/// periods keep counting for the old ones. Answers the agent's history.
#[utoipa::path(post, path = "/api/v1/agents/{id}/moves", tag = "organisation",
    params(("id" = i64, Path, description = "Agent id")), request_body = org::model::MoveAgent,
    responses((status = 201, body = Vec<org::model::Membership>), (status = 403, body = moon_http::error::Problem), (status = 404, body = moon_http::error::Problem), (status = 422, body = moon_http::error::Problem)))]
async fn move_agent(
    State(db): State<Db>,
    State(calendar): State<BusinessCalendar>,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<org::model::MoveAgent>,
) -> ApiResult<(StatusCode, Json<Vec<org::model::Membership>>)> {
    let id = moon_http::parse_id(&id)?;
    let mv = body.validate().map_err(ApiError::validation)?;
    let today = calendar.today(chrono::Utc::now());
    Ok((StatusCode::CREATED, Json(service::move_agent(&db, &principal, id, &mv, today).await?)))
}
