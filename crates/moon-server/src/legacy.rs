//! The original Flask services' routes, as thin adapters over the same use cases.
//!
//! Request bodies, status codes, field names and success messages are the original's, so
//! existing clients and smoke tests (`curl -f http://host/agent/get`) keep working. Listings are
//! JSON arrays with the original column names; amounts are strings with two decimals and dates
//! use the HTTP-date format that Flask's `jsonify` produced (`Sun, 10 Mar 2024 00:00:00 GMT`).
//! Unlike the original, bad input is a 4xx problem+json that also carries the original `message`
//! member.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, NaiveDate, Utc};
use moon_domain::Typed;
use serde::{Deserialize, Serialize};

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::agents::model::{Agent, CreateAgent, UpdateAgent};
use crate::notifications::{Notification, NotificationsState};
use crate::sales::model::{CreateSale, UpdateSale};
use axum::response::Response;
use moon_db::Db;
use moon_http::{ApiError, ApiJson, ApiResult, Principal};

/// `{"message": "..."}`, the original success body.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LegacyMessage {
    /// What happened.
    pub message: String,
}

fn ok(status: StatusCode, message: impl Into<String>) -> (StatusCode, Json<LegacyMessage>) {
    (status, Json(LegacyMessage { message: message.into() }))
}

/// Maps an error to the original's vocabulary: its not-found sentence, and `message` everywhere.
fn legacy(not_found: &'static str) -> impl Fn(ApiError) -> ApiError {
    move |e| {
        if e.status() == StatusCode::NOT_FOUND {
            ApiError::new(StatusCode::NOT_FOUND, "not_found", not_found).legacy()
        } else {
            e.legacy()
        }
    }
}

/// The date format of Flask's `jsonify` (`Sun, 10 Mar 2024 00:00:00 GMT`).
fn http_date(t: DateTime<Utc>) -> String {
    FlaskDate { day: t.date_naive(), time: t.time() }.to_string()
}

/// A time in Flask's format, written straight into the output: the listing of every sale
/// formats one per row, and chrono's `format` re-reads its pattern on every call.
struct FlaskDate {
    day: NaiveDate,
    time: chrono::NaiveTime,
}

impl FlaskDate {
    fn midnight(day: NaiveDate) -> Self {
        Self { day, time: chrono::NaiveTime::MIN }
    }
}

impl std::fmt::Display for FlaskDate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use chrono::{Datelike, Timelike};
        const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
        const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
        let (d, t) = (self.day, self.time);
        let weekday = DAYS[d.weekday().num_days_from_monday() as usize];
        let month = MONTHS[d.month0() as usize];
        write!(
            f,
            "{weekday}, {:02} {month} {:04} {:02}:{:02}:{:02} GMT",
            d.day(),
            d.year(),
            t.hour(),
            t.minute(),
            t.second()
        )
    }
}

/// Original clients sent ids as numbers or numeric strings (MySQL coerced them); accept both.
/// An id the original clients send as a number or a string of digits. A value that is neither
/// is handed on as invalid, so validation lists it with the request's other bad fields.
fn loose_id(v: &Option<serde_json::Value>) -> Option<Typed<i64>> {
    match v {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::Number(n)) => n.as_i64().map(Typed::Value),
        Some(serde_json::Value::String(s)) => s.trim().parse::<i64>().ok().map(Typed::Value),
        Some(_) => None,
    }
    .or_else(|| {
        v.as_ref().map(|_| Typed::Invalid { code: "invalid_id", message: String::from("must be a whole number") })
    })
}

/// Original agent routes.
pub fn agent_routes<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    Db: axum::extract::FromRef<S>,
    moon_domain::BusinessCalendar: axum::extract::FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(agent_add))
        .routes(routes!(agent_get))
        .routes(routes!(agent_update))
        .routes(routes!(agent_delete))
}

/// Original integration (sales) routes.
pub fn integration_routes<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    Db: axum::extract::FromRef<S>,
    moon_domain::BusinessCalendar: axum::extract::FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(integration_add))
        .routes(routes!(integration_get))
        .routes(routes!(integration_update))
        .routes(routes!(integration_delete))
}

/// Original notification routes.
pub fn notification_routes<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    Db: axum::extract::FromRef<S>,
    NotificationsState: axum::extract::FromRef<S>,
{
    OpenApiRouter::new().routes(routes!(notification_send)).routes(routes!(notification_get))
}

// ---- agents ---------------------------------------------------------------------------------

/// The original agent body; unknown fields (such as `hire_date`) are ignored as before. Fields
/// are [`Typed`], so `"agent_code": 5` is listed with the request's other bad fields.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct LegacyAgentBody {
    #[schema(value_type = Option<String>)]
    agent_code: Option<Typed<String>>,
    #[schema(value_type = Option<String>)]
    first_name: Option<Typed<String>>,
    #[schema(value_type = Option<String>)]
    last_name: Option<Typed<String>>,
    #[schema(value_type = Option<String>)]
    branch: Option<Typed<String>>,
    #[schema(value_type = Option<String>)]
    team: Option<Typed<String>>,
    #[schema(value_type = Option<String>)]
    contact_number: Option<Typed<String>>,
    #[schema(value_type = Option<String>)]
    email: Option<Typed<String>>,
}

/// A row of `GET /agent/get`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LegacyAgentRow {
    agent_id: i64,
    agent_code: String,
    first_name: String,
    last_name: String,
    branch: String,
    team: String,
    contact_number: Option<String>,
    email: Option<String>,
    created_at: String,
}

/// Add an agent (original route).
#[utoipa::path(post, path = "/agent/add", tag = "legacy", request_body = LegacyAgentBody,
    responses((status = 201, body = LegacyMessage), (status = 409, body = moon_http::error::Problem), (status = 422, body = moon_http::error::Problem)))]
async fn agent_add(
    State(db): State<Db>,
    principal: Principal,
    ApiJson(b): ApiJson<LegacyAgentBody>,
) -> ApiResult<(StatusCode, Json<LegacyMessage>)> {
    let map = legacy("Agent not found.");
    let body = CreateAgent {
        agent_code: b.agent_code,
        first_name: b.first_name,
        last_name: b.last_name,
        branch: b.branch,
        team: b.team,
        contact_number: b.contact_number,
        email: b.email,
        active: None,
        // The original had no consent: agents added through it are left out of the leaderboard
        // until they opt in.
        analytics_consent: None,
        show_name_to_peers: None,
    };
    let new = body.validate().map_err(|e| map(ApiError::validation(e)))?;
    crate::agents::service::create(&db, &principal, new).await.map_err(|e| map(e.into()))?;
    Ok(ok(StatusCode::CREATED, "Agent added successfully."))
}

/// List every agent (original route), streamed from a cursor (see [`crate::json_array`]).
#[utoipa::path(get, path = "/agent/get", tag = "legacy", responses((status = 200, body = Vec<LegacyAgentRow>)))]
async fn agent_get(State(db): State<Db>, principal: Principal) -> ApiResult<Response> {
    let rows = crate::agents::repo::stream(&db, &principal.scope, &Default::default());
    crate::json_array::respond(rows, |a: Agent| LegacyAgentRow {
        agent_id: a.id,
        agent_code: a.agent_code,
        first_name: a.first_name,
        last_name: a.last_name,
        branch: a.branch,
        team: a.team,
        contact_number: a.contact_number,
        email: a.email,
        created_at: http_date(a.created_at),
    })
    .await
    .map_err(|e| ApiError::from(e).legacy())
}

/// Finds the agent a legacy path names: an agent code, or (as the very first version of the
/// original did) a numeric agent id.
async fn legacy_agent_id(db: &Db, principal: &Principal, key: &str) -> ApiResult<i64> {
    if let Ok(id) = key.parse::<i64>() {
        return Ok(id);
    }
    let code = moon_domain::AgentCode::parse("agent_code", key).map_err(|_| ApiError::not_found("agent"))?;
    crate::agents::service::id_for_code(db, principal, code.as_str()).await?.ok_or_else(|| ApiError::not_found("agent"))
}

/// Update an agent by code (original route); only the fields sent change.
#[utoipa::path(put, path = "/agent/update/{agent_code}", tag = "legacy", params(("agent_code" = String, Path, description = "Agent code (or numeric agent id)")), request_body = LegacyAgentBody,
    responses((status = 200, body = LegacyMessage), (status = 404, body = moon_http::error::Problem), (status = 409, body = moon_http::error::Problem), (status = 422, body = moon_http::error::Problem)))]
async fn agent_update(
    State(db): State<Db>,
    State(calendar): State<moon_domain::BusinessCalendar>,
    principal: Principal,
    Path(key): Path<String>,
    ApiJson(b): ApiJson<LegacyAgentBody>,
) -> ApiResult<Json<LegacyMessage>> {
    let map = legacy("Agent not found.");
    let id = legacy_agent_id(&db, &principal, &key).await.map_err(&map)?;
    let body = UpdateAgent {
        agent_code: b.agent_code,
        first_name: b.first_name,
        last_name: b.last_name,
        branch: b.branch,
        team: b.team,
        contact_number: b.contact_number.map(Some),
        email: b.email.map(Some),
        active: None,
        analytics_consent: None,
        show_name_to_peers: None,
    };
    let changes = body.validate().map_err(|e| map(ApiError::validation(e)))?;
    let today = calendar.today(chrono::Utc::now());
    crate::agents::service::update(&db, &principal, id, changes, today).await.map_err(|e| map(e.into()))?;
    Ok(Json(LegacyMessage { message: String::from("Agent updated successfully.") }))
}

/// Delete an agent by code (original route); an agent with sales is kept (409).
#[utoipa::path(delete, path = "/agent/delete/{agent_code}", tag = "legacy", params(("agent_code" = String, Path, description = "Agent code (or numeric agent id)")),
    responses((status = 200, body = LegacyMessage), (status = 404, body = moon_http::error::Problem), (status = 409, body = moon_http::error::Problem)))]
async fn agent_delete(
    State(db): State<Db>,
    principal: Principal,
    Path(key): Path<String>,
) -> ApiResult<Json<LegacyMessage>> {
    let map = legacy("Agent not found.");
    let id = legacy_agent_id(&db, &principal, &key).await.map_err(&map)?;
    crate::agents::service::delete(&db, &principal, id).await.map_err(|e| map(e.into()))?;
    Ok(Json(LegacyMessage { message: String::from("Agent deleted successfully.") }))
}

// ---- sales ----------------------------------------------------------------------------------

/// The original sale body.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct LegacySaleBody {
    #[schema(value_type = Option<String>)]
    agent_code: Option<Typed<String>>,
    #[schema(value_type = Option<i64>)]
    product_id: Option<serde_json::Value>,
    #[schema(value_type = Option<String>)]
    amount: Option<serde_json::Value>,
    #[schema(value_type = Option<String>)]
    sale_date: Option<Typed<String>>,
    #[schema(value_type = Option<String>)]
    branch: Option<Typed<String>>,
}

/// A row of `GET /integration/get`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LegacySaleRow {
    sale_id: i64,
    agent_code: String,
    amount: String,
    sale_date: String,
    branch: String,
    product_id: i64,
}

/// Record a sale (original route).
#[utoipa::path(post, path = "/integration/add", tag = "legacy", request_body = LegacySaleBody,
    responses((status = 201, body = LegacyMessage), (status = 422, body = moon_http::error::Problem)))]
async fn integration_add(
    State(db): State<Db>,
    State(calendar): State<moon_domain::BusinessCalendar>,
    principal: Principal,
    ApiJson(b): ApiJson<LegacySaleBody>,
) -> ApiResult<(StatusCode, Json<LegacyMessage>)> {
    let map = legacy("Sale record not found.");
    let body = CreateSale {
        agent_code: b.agent_code,
        agent_id: None,
        product_id: loose_id(&b.product_id),
        amount: b.amount,
        sale_date: b.sale_date,
        branch: b.branch,
        policy_number: None,
        ..CreateSale::default()
    };
    let fields = body.validate(crate::sales::today(&calendar)).map_err(|e| map(ApiError::validation(e)))?;
    crate::sales::service::create(&db, &principal, fields).await.map_err(|e| map(e.into()))?;
    Ok(ok(StatusCode::CREATED, "Sale record added successfully."))
}

/// List every sale (original route), streamed from a cursor (see [`crate::json_array`]).
#[utoipa::path(get, path = "/integration/get", tag = "legacy", responses((status = 200, body = Vec<LegacySaleRow>)))]
async fn integration_get(State(db): State<Db>, principal: Principal) -> ApiResult<Response> {
    let rows = crate::sales::repo::stream_original(&db, &principal.scope);
    crate::json_array::respond(rows, OriginalSaleJson).await.map_err(|e| ApiError::from(e).legacy())
}

/// A row of `GET /integration/get` serialized from the database row without copying it: the
/// shape of [`LegacySaleRow`].
struct OriginalSaleJson(crate::sales::repo::OriginalSale);

/// A value serialized as the string its `Display` writes, without an intermediate `String`.
struct Shown<T>(T);

impl<T: std::fmt::Display> Serialize for Shown<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&self.0)
    }
}

impl Serialize for OriginalSaleJson {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let s = &self.0;
        let mut out = serializer.serialize_struct("LegacySaleRow", 6)?;
        out.serialize_field("sale_id", &s.id)?;
        out.serialize_field("agent_code", &s.agent_code)?;
        out.serialize_field("amount", &Shown(moon_domain::Money::from_cents(s.amount_cents)))?;
        out.serialize_field("sale_date", &Shown(FlaskDate::midnight(s.sale_date)))?;
        out.serialize_field("branch", &s.branch)?;
        out.serialize_field("product_id", &s.product_id)?;
        out.end()
    }
}

/// Update a sale (original route); only the fields sent change.
#[utoipa::path(put, path = "/integration/update/{sale_id}", tag = "legacy", params(("sale_id" = i64, Path, description = "Sale id")), request_body = LegacySaleBody,
    responses((status = 200, body = LegacyMessage), (status = 404, body = moon_http::error::Problem), (status = 422, body = moon_http::error::Problem)))]
async fn integration_update(
    State(db): State<Db>,
    State(calendar): State<moon_domain::BusinessCalendar>,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<LegacySaleBody>,
) -> ApiResult<Json<LegacyMessage>> {
    let map = legacy("Sale record not found.");
    let id = moon_http::parse_id(&id).map_err(&map)?;
    let body = UpdateSale {
        agent_code: b.agent_code,
        agent_id: None,
        product_id: loose_id(&b.product_id),
        amount: b.amount,
        sale_date: b.sale_date,
        branch: b.branch,
        policy_number: None,
    };
    let fields = body.validate(crate::sales::today(&calendar)).map_err(|e| map(ApiError::validation(e)))?;
    crate::sales::service::update(&db, &principal, id, fields).await.map_err(|e| map(e.into()))?;
    Ok(Json(LegacyMessage { message: String::from("Sale record updated successfully.") }))
}

/// Delete a sale (original route).
#[utoipa::path(delete, path = "/integration/delete/{sale_id}", tag = "legacy", params(("sale_id" = i64, Path, description = "Sale id")),
    responses((status = 200, body = LegacyMessage), (status = 404, body = moon_http::error::Problem)))]
async fn integration_delete(
    State(db): State<Db>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<LegacyMessage>> {
    let map = legacy("Sale record not found.");
    let id = moon_http::parse_id(&id).map_err(&map)?;
    crate::sales::service::delete(&db, &principal, id).await.map_err(|e| map(e.into()))?;
    Ok(Json(LegacyMessage { message: String::from("Sale record deleted successfully.") }))
}

// ---- notifications --------------------------------------------------------------------------

/// The original notification body.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct LegacyNotificationBody {
    agent_code: Option<String>,
    message: Option<String>,
}

/// A row of `GET /notification/get`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LegacyNotificationRow {
    id: i64,
    agent_code: String,
    message: String,
    sent_at: String,
}

/// Send a notification (original route).
#[utoipa::path(post, path = "/notification/send", tag = "legacy", request_body = LegacyNotificationBody,
    responses((status = 201, body = LegacyMessage), (status = 422, body = moon_http::error::Problem)))]
async fn notification_send(
    State(state): State<NotificationsState>,
    principal: Principal,
    ApiJson(b): ApiJson<LegacyNotificationBody>,
) -> ApiResult<(StatusCode, Json<LegacyMessage>)> {
    let map = legacy("Agent not found.");
    let (to, message) = crate::notifications::validate_send(b.agent_code.as_deref(), None, b.message.as_deref())
        .map_err(|e| map(ApiError::validation(e)))?;
    let n = crate::notifications::service::send(&state, &principal, &to, &message).await.map_err(|e| map(e.into()))?;
    Ok(ok(StatusCode::CREATED, format!("Notification sent to agent {}.", n.agent_code.unwrap_or_default())))
}

/// List every notification (original route), streamed from a cursor (see
/// [`crate::json_array`]).
#[utoipa::path(get, path = "/notification/get", tag = "legacy", responses((status = 200, body = Vec<LegacyNotificationRow>)))]
async fn notification_get(State(db): State<Db>, principal: Principal) -> ApiResult<Response> {
    // The original rows name an agent: notifications to user accounts are not theirs to show.
    let viewer = crate::notifications::repo::Viewer { scope: &principal.scope, user_id: None };
    let only_agents = crate::notifications::repo::NotificationQuery { agents_only: true, ..Default::default() };
    let rows = crate::notifications::repo::stream(&db, viewer, &only_agents);
    crate::json_array::respond(rows, |n: Notification| LegacyNotificationRow {
        id: n.id,
        agent_code: n.agent_code.unwrap_or_default(),
        message: n.message,
        sent_at: http_date(n.created_at),
    })
    .await
    .map_err(|e| ApiError::from(e).legacy())
}
