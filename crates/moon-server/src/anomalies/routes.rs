//! `GET /api/v1/anomalies` and `POST /api/v1/anomalies/{id}/dismiss` (admins only: findings
//! name addresses, accounts and pay-related amounts; the policy table says so).

use axum::Json;
use axum::extract::{Path, State};
use moon_db::Db;
use moon_domain::FieldError;
use moon_http::error::Problem;
use moon_http::paging::Paged;
use moon_http::{ApiError, ApiJson, ApiQuery, ApiResult, PageParams, Principal};
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::detect::Kind;
use super::repo::{self, AnomalyQuery, AnomalyView};

/// The anomaly routes.
pub fn routes<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    Db: axum::extract::FromRef<S>,
{
    OpenApiRouter::new().routes(routes!(list_anomalies)).routes(routes!(dismiss_anomaly))
}

/// Filters of `GET /api/v1/anomalies`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AnomalyParams {
    /// `open` (default), `dismissed` or `all`.
    pub status: Option<String>,
    /// Only this detector (`sale_amount_outlier`, `failed_sign_ins_account`, …).
    pub kind: Option<String>,
    /// Findings per page, 1–500 (default 50), newest first.
    pub limit: Option<String>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Reads the filters, naming every bad one.
pub fn parse_query(status: Option<&str>, kind: Option<&str>) -> Result<AnomalyQuery, Vec<FieldError>> {
    let mut errors = Vec::new();
    let status = match status.map(str::trim) {
        None | Some("") | Some("open") => Some(String::from("open")),
        Some("dismissed") => Some(String::from("dismissed")),
        Some("all") => None,
        Some(_) => {
            errors.push(FieldError::new("status", "invalid_choice", "status must be open, dismissed or all"));
            None
        }
    };
    let kind = match kind.map(str::trim).filter(|k| !k.is_empty()) {
        None => None,
        Some(k) => match Kind::parse(k) {
            Some(k) => Some(k.as_str().to_owned()),
            None => {
                errors.push(FieldError::new(
                    "kind",
                    "invalid_choice",
                    format!(
                        "kind must be one of {}",
                        Kind::ALL.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(", ")
                    ),
                ));
                None
            }
        },
    };
    if errors.is_empty() { Ok(AnomalyQuery { status, kind }) } else { Err(errors) }
}

/// Anomaly findings, newest first: what fired, about what, why, and whether it was dismissed.
#[utoipa::path(get, path = "/api/v1/anomalies", tag = "audit", params(AnomalyParams),
    responses((status = 200, body = Paged<AnomalyView>), (status = 400, body = Problem), (status = 422, body = Problem)))]
async fn list_anomalies(
    State(db): State<Db>,
    ApiQuery(p): ApiQuery<AnomalyParams>,
) -> ApiResult<Json<Paged<AnomalyView>>> {
    let page =
        PageParams { limit: p.limit.clone(), cursor: p.cursor.clone(), order: Some(String::from("desc")) }.parse();
    let query = parse_query(p.status.as_deref(), p.kind.as_deref());
    let (page, query) = match (page, query) {
        (Ok(page), Ok(query)) => (page, query),
        (page, query) => {
            let mut all = page.err().map(|e| e.field_errors().to_vec()).unwrap_or_default();
            all.extend(query.err().unwrap_or_default());
            return Err(ApiError::validation(all));
        }
    };
    let rows = repo::list(&db, &query, &page).await?;
    let paged = page.finish(rows, |r| r.id);
    Ok(Json(Paged { items: paged.items.into_iter().map(AnomalyView::from).collect(), page: paged.page }))
}

/// Why a finding is dismissed.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Dismissal {
    /// The reason, 1–500 characters (kept with the finding and in the audit trail).
    pub reason: String,
}

/// Checks a dismissal's reason.
pub fn parse_reason(raw: &str) -> Result<String, FieldError> {
    let reason = raw.trim();
    if reason.is_empty() || reason.chars().count() > 500 {
        return Err(FieldError::new("reason", "invalid_length", "reason must be 1 to 500 characters"));
    }
    Ok(reason.to_owned())
}

/// Dismisses a finding with a reason, which the audit trail records with who dismissed it.
pub async fn dismiss(db: &Db, principal: &Principal, id: i64, reason: &str) -> ApiResult<AnomalyView> {
    let mut tx = db.begin().await?;
    if !repo::dismiss(&mut tx, id, &principal.id, reason).await? {
        tx.rollback().await?;
        return Err(match repo::get(db, id).await? {
            Some(_) => ApiError::new(
                axum::http::StatusCode::CONFLICT,
                "already_dismissed",
                format!("anomaly {id} was already dismissed"),
            ),
            None => ApiError::not_found(format!("anomaly {id}")),
        });
    }
    let event =
        crate::audit::Event::on("anomaly.dismiss", "anomaly", id).with_detail(serde_json::json!({"reason": reason}));
    crate::audit::append(&mut tx, principal, event).await?;
    tx.commit().await?;
    let row = repo::get(db, id).await?.ok_or_else(|| ApiError::not_found(format!("anomaly {id}")))?;
    Ok(AnomalyView::from(row))
}

/// Dismiss a finding with a reason (audited); a dismissed finding stays listed with
/// `status=dismissed` and its window does not fire again.
#[utoipa::path(post, path = "/api/v1/anomalies/{id}/dismiss", tag = "audit", params(("id" = i64, Path, description = "Anomaly id")),
    request_body = Dismissal,
    responses((status = 200, body = AnomalyView), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn dismiss_anomaly(
    State(db): State<Db>,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Dismissal>,
) -> ApiResult<Json<AnomalyView>> {
    let id = moon_http::parse_id(&id)?;
    let reason = parse_reason(&body.reason).map_err(ApiError::field)?;
    Ok(Json(dismiss(&db, &principal, id, &reason).await?))
}
