//! `GET /api/v1/kpis/*`: KPIs from the warehouse as JSON, or as CSV with `?format=csv` or
//! `Accept: text/csv`.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use moon_domain::{FieldError, FieldErrors, Money, parse_date};
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use moon_analytics::Warehouse;
use moon_analytics::kpi::{self, Bucket, KpiFilter};
use moon_http::{ApiError, ApiQuery, ApiResult};

/// The KPI API as the wiring sees it: its routes, the links `GET /` lists, and a readiness
/// condition: the warehouse it reads answers.
pub fn describe<S>(state: &KpiState) -> crate::component::Description<S>
where
    S: Clone + Send + Sync + 'static,
    KpiState: axum::extract::FromRef<S>,
    crate::calendar::PlanningState: axum::extract::FromRef<S>,
{
    let mut description = crate::component::Description::new("aggregator", routes()).with_links(&[
        ("kpi_teams", "/api/v1/kpis/teams"),
        ("kpi_branches", "/api/v1/kpis/branches"),
        ("kpi_products", "/api/v1/kpis/products"),
        ("kpi_leaderboard", "/api/v1/kpis/leaderboard"),
        ("kpi_trend", "/api/v1/kpis/trend"),
    ]);
    if let Some(warehouse) = &state.warehouse {
        description = description.with_ready("warehouse", warehouse_ready(warehouse.clone()));
    }
    description
}

/// A readiness condition: the warehouse answers a trivial query.
pub fn warehouse_ready(warehouse: Warehouse) -> moon_http::health::ReadyCheck {
    std::sync::Arc::new(move || {
        let db = warehouse.db.clone();
        Box::pin(async move { db.ping().await.map_err(|e| format!("warehouse unreachable: {e}")) })
    })
}

/// The KPI routes.
fn routes<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    KpiState: axum::extract::FromRef<S>,
    crate::calendar::PlanningState: axum::extract::FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(teams))
        .routes(routes!(branches))
        .routes(routes!(products))
        .routes(routes!(leaderboard))
        .routes(routes!(trend))
}

/// Period, filters and format of a KPI request.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct KpiParams {
    /// First day, inclusive (`YYYY-MM-DD`); default: the beginning of the records.
    pub from: Option<String>,
    /// Last day, inclusive (`YYYY-MM-DD`); default: no end.
    pub to: Option<String>,
    /// Only sales credited to this branch.
    pub branch: Option<String>,
    /// Only sales made while their agent was in this team (team code): the team on the sale
    /// date, from the agents' membership history, so a past period counts the agents the team
    /// had then, whatever moves came later.
    #[param(example = "Beta")]
    pub team: Option<String>,
    /// Only sales of this product (id).
    pub product_id: Option<String>,
    /// Trend only: `day`, `week`, `month` (default), `quarter` or `year`.
    pub bucket: Option<String>,
    /// Leaderboard only: how many places, 1–500 (default 10).
    pub limit: Option<String>,
    /// `json` (default) or `csv`.
    pub format: Option<String>,
}

/// A validated KPI request, shared with the console's dashboard so both accept the same input.
pub(crate) struct Parsed {
    pub(crate) filter: KpiFilter,
    pub(crate) bucket: Bucket,
    pub(crate) limit: usize,
    csv: bool,
}

fn non_empty(s: &Option<String>) -> Option<String> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned)
}

impl KpiParams {
    pub(crate) fn parse(&self, headers: &HeaderMap) -> ApiResult<Parsed> {
        let mut e = FieldErrors::new();
        let from = e.take_opt(non_empty(&self.from).map(|d| parse_date("from", &d)));
        let to = e.take_opt(non_empty(&self.to).map(|d| parse_date("to", &d)));
        if let (Some(from), Some(to)) = (from, to)
            && from > to
        {
            e.push(FieldError::new("from", "invalid_range", format!("from ({from}) must not be after to ({to})")));
        }
        let product_id = e.take_opt(non_empty(&self.product_id).map(|p| {
            p.parse::<i64>().map_err(|_| {
                FieldError::new("product_id", "invalid_id", format!("product_id must be a whole number; got {p:?}"))
            })
        }));
        let bucket = e
            .take_opt(non_empty(&self.bucket).map(|b| {
                Bucket::parse(&b).ok_or_else(|| {
                    FieldError::new(
                        "bucket",
                        "invalid_bucket",
                        format!("bucket must be day, week, month, quarter or year; got {b:?}"),
                    )
                })
            }))
            .unwrap_or_default();
        let limit = e
            .take_opt(non_empty(&self.limit).map(|l| match l.parse::<usize>() {
                Ok(n) if (1..=500).contains(&n) => Ok(n),
                _ => Err(FieldError::new("limit", "invalid_limit", format!("limit must be 1–500; got {l:?}"))),
            }))
            .unwrap_or(10);
        let format = non_empty(&self.format);
        let csv = match format.as_deref() {
            Some("csv") => true,
            Some("json") => false,
            Some(other) => {
                e.push(FieldError::new(
                    "format",
                    "invalid_format",
                    format!("format must be json or csv; got {other:?}"),
                ));
                false
            }
            None => headers
                .get(header::ACCEPT)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|a| a.split(',').any(|m| m.trim().starts_with("text/csv"))),
        };
        e.finish().map_err(ApiError::validation)?;
        let filter = KpiFilter { from, to, branch: non_empty(&self.branch), team: non_empty(&self.team), product_id };
        Ok(Parsed { filter, bucket, limit, csv })
    }
}

/// A KPI answer: the period asked for and its rows.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct KpiReport<T> {
    /// First day of the period, if bounded.
    pub from: Option<chrono::NaiveDate>,
    /// Last day of the period, if bounded.
    pub to: Option<chrono::NaiveDate>,
    /// The rows, highest total first (trend: oldest period first).
    pub items: Vec<T>,
    /// Rows left out because fewer agents than the configured minimum group size stand behind
    /// them: team and branch rows; leaderboard rows whose team or branch is that small; every
    /// trend period when the selection is; every product row when a branch or team filter
    /// selects that few.
    pub suppressed: usize,
}

/// What the KPI routes need: the warehouse they read (absent when this process serves no KPIs)
/// and the smallest group a team or branch row may stand for.
#[derive(Clone, Debug)]
pub struct KpiState {
    /// The warehouse, when this process serves KPIs.
    pub warehouse: Option<Warehouse>,
    /// KPI rows by team or branch backed by fewer agents than this are suppressed.
    pub min_group_size: u32,
}

fn warehouse(state: &KpiState) -> ApiResult<&Warehouse> {
    state.warehouse.as_ref().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "warehouse_unavailable",
            "this process does not serve KPIs; run the aggregator target",
        )
    })
}

/// Quotes a CSV field when needed (RFC 4180), and defuses text a spreadsheet would run as a
/// formula.
pub(crate) fn csv_field(raw: &str) -> String {
    let guarded = if raw.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{raw}") } else { raw.to_owned() };
    if guarded.contains([',', '"', '\n', '\r']) { format!("\"{}\"", guarded.replace('"', "\"\"")) } else { guarded }
}

/// Renders rows as CSV with a header, or as JSON.
fn respond<T: Serialize>(p: &Parsed, name: &str, columns: &[&str], items: Vec<T>, suppressed: usize) -> Response {
    if !p.csv {
        return axum::Json(KpiReport { from: p.filter.from, to: p.filter.to, items, suppressed }).into_response();
    }
    let mut out = columns.join(",");
    out.push_str("\r\n");
    for item in &items {
        let value = serde_json::to_value(item).unwrap_or_default();
        let cells: Vec<String> = columns
            .iter()
            .map(|c| match value.get(*c) {
                Some(serde_json::Value::String(s)) => csv_field(s),
                Some(serde_json::Value::Null) | None => String::new(),
                Some(v) => csv_field(&v.to_string()),
            })
            .collect();
        out.push_str(&cells.join(","));
        out.push_str("\r\n");
    }
    csv_response(out, name)
}

/// A CSV body as a download named `name.csv`.
pub(crate) fn csv_response(out: String, name: &str) -> Response {
    let mut res = out.into_response();
    let headers = res.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8"));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}.csv\"")) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    res
}

/// Sales by team, with counts. A sale counts for the team its agent belonged to on the sale
/// date, so `from`/`to` over last quarter answer "how did each team do, counting only the
/// agents it had then".
#[utoipa::path(get, path = "/api/v1/kpis/teams", tag = "kpis", params(KpiParams),
    responses((status = 200, description = "The KPI rows; CSV with format=csv or Accept: text/csv", content((KpiReport<kpi::TeamRow> = "application/json"), (String = "text/csv"))), (status = 422, body = moon_http::error::Problem)))]
async fn teams(
    State(state): State<KpiState>,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<KpiParams>,
) -> ApiResult<Response> {
    let p = q.parse(&headers)?;
    let (rows, suppressed) = kpi::teams(&warehouse(&state)?.db, &p.filter, state.min_group_size).await?;
    Ok(respond(&p, "sales-by-team", &["team", "sales_count", "total_sales"], rows, suppressed))
}

/// Sales by branch (as recorded on each sale), with counts.
#[utoipa::path(get, path = "/api/v1/kpis/branches", tag = "kpis", params(KpiParams),
    responses((status = 200, description = "The KPI rows; CSV with format=csv or Accept: text/csv", content((KpiReport<kpi::BranchRow> = "application/json"), (String = "text/csv"))), (status = 422, body = moon_http::error::Problem)))]
async fn branches(
    State(state): State<KpiState>,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<KpiParams>,
) -> ApiResult<Response> {
    let p = q.parse(&headers)?;
    let (rows, suppressed) = kpi::branches(&warehouse(&state)?.db, &p.filter, state.min_group_size).await?;
    Ok(respond(&p, "sales-by-branch", &["branch", "sales_count", "total_sales"], rows, suppressed))
}

/// Target against actual per product, with status and attainment.
#[utoipa::path(get, path = "/api/v1/kpis/products", tag = "kpis", params(KpiParams),
    responses((status = 200, description = "The KPI rows; CSV with format=csv or Accept: text/csv", content((KpiReport<kpi::ProductRow> = "application/json"), (String = "text/csv"))), (status = 422, body = moon_http::error::Problem)))]
async fn products(
    State(state): State<KpiState>,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<KpiParams>,
) -> ApiResult<Response> {
    let p = q.parse(&headers)?;
    let (rows, suppressed) = kpi::products(&warehouse(&state)?.db, &p.filter, state.min_group_size).await?;
    let columns = [
        "product_id",
        "product_name",
        "product_type",
        "target_amount",
        "total_sales",
        "sales_count",
        "status",
        "attainment_pct",
    ];
    Ok(respond(&p, "target-vs-actual", &columns, rows, suppressed))
}

/// The agent leaderboard (`limit` places, up to 500); ties share a rank. Agents appear under
/// their pseudonym; `name` is added for callers who may see it: admins, a manager for the agents
/// of their branch, an agent for themself. Analysts and CSV exports for BI get pseudonyms only.
#[utoipa::path(get, path = "/api/v1/kpis/leaderboard", tag = "kpis", params(KpiParams),
    responses((status = 200, description = "The KPI rows; CSV with format=csv or Accept: text/csv", content((KpiReport<kpi::LeaderRow> = "application/json"), (String = "text/csv"))), (status = 422, body = moon_http::error::Problem)))]
async fn leaderboard(
    State(state): State<KpiState>,
    State(planning): State<crate::calendar::PlanningState>,
    principal: moon_http::Principal,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<KpiParams>,
) -> ApiResult<Response> {
    let p = q.parse(&headers)?;
    let (mut rows, suppressed) =
        kpi::leaderboard(&warehouse(&state)?.db, &p.filter, p.limit, state.min_group_size).await?;
    if !p.csv {
        name_leaders(&planning.db, &principal, &mut rows).await?;
    }
    Ok(respond(&p, "leaderboard", &["rank", "agent", "team", "branch", "sales_count", "total_sales"], rows, suppressed))
}

/// Adds the names the caller may see to leaderboard rows (the warehouse holds pseudonyms only).
async fn name_leaders(
    db: &moon_db::Db,
    principal: &moon_http::Principal,
    rows: &mut [kpi::LeaderRow],
) -> ApiResult<()> {
    if principal.role == moon_http::Role::Analyst || rows.is_empty() {
        return Ok(());
    }
    let ids: Vec<i64> = rows.iter().map(|r| r.agent_id).collect();
    let agents = crate::performance::repo::agents(db, &ids).await.map_err(crate::error::Error::from)?;
    for r in rows.iter_mut() {
        if let Some(a) = agents.iter().find(|a| a.id == r.agent_id)
            && crate::performance::service::sees_name(principal, a)
        {
            r.name = Some(a.name.clone());
        }
    }
    Ok(())
}

/// Totals per day, week, month, quarter or year, zero-filled: a period without sales is a row
/// with 0, from the period of `from` (or the first sale) to that of `to` (or the last).
#[utoipa::path(get, path = "/api/v1/kpis/trend", tag = "kpis", params(KpiParams),
    responses((status = 200, description = "The KPI rows; CSV with format=csv or Accept: text/csv", content((KpiReport<kpi::TrendRow> = "application/json"), (String = "text/csv"))), (status = 422, body = moon_http::error::Problem)))]
async fn trend(
    State(state): State<KpiState>,
    State(planning): State<crate::calendar::PlanningState>,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<KpiParams>,
) -> ApiResult<Response> {
    let p = q.parse(&headers)?;
    let (mut rows, suppressed) =
        kpi::trend(&warehouse(&state)?.db, &p.filter, (p.bucket, planning.calendar.fiscal), state.min_group_size)
            .await?;
    target_series(&planning, &p, &mut rows).await?;
    Ok(respond(&p, "trend", &["period", "start", "sales_count", "total_sales", "target"], rows, suppressed))
}

/// Puts the targets of the trend's scope on its axis: the company's, or the branch's or team's
/// filtered on (both filters: no single scope, no series), for all products or the product
/// filtered on; one target per month, quarter or year bucket whose first day a target's
/// period starts on.
async fn target_series(
    planning: &crate::calendar::PlanningState,
    p: &Parsed,
    rows: &mut [kpi::TrendRow],
) -> ApiResult<()> {
    use crate::sales_targets::model::{ScopeKind, Subject};
    let kind = match p.bucket {
        Bucket::Month => moon_domain::PeriodKind::Month,
        Bucket::Quarter => moon_domain::PeriodKind::Quarter,
        Bucket::Year => moon_domain::PeriodKind::Year,
        Bucket::Day | Bucket::Week => return Ok(()),
    };
    let (scope, key) = match (&p.filter.branch, &p.filter.team) {
        (None, None) => (ScopeKind::Company, String::new()),
        (Some(b), None) => (ScopeKind::Branch, b.clone()),
        (None, Some(t)) => (ScopeKind::Team, t.clone()),
        (Some(_), Some(_)) => return Ok(()),
    };
    let subject = p.filter.product_id.map_or(Subject::All, Subject::Product);
    for r in rows.iter_mut() {
        let Ok(period) = planning.calendar.fiscal.period_at("period", kind, r.start) else { continue };
        let targets = crate::performance::repo::targets(&planning.db, scope, &subject, period)
            .await
            .map_err(crate::error::Error::from)?;
        r.target = targets.get(&crate::agents::org::model::fold(&key)).map(|t| Money::from_cents(t.0));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::csv_field;

    #[test]
    fn csv_fields_are_quoted_and_formulas_defused() {
        assert_eq!(csv_field("Alpha"), "Alpha");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=SUM(A1)"), "'=SUM(A1)");
    }
}
