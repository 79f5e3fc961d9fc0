//! `GET /anomalies` and `POST /anomalies/{id}/dismiss` (admins): the anomaly findings with why
//! each fired, and a dismissal that asks for a reason first. Same use cases as
//! `/api/v1/anomalies`.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::{Markup, html};
use serde::Deserialize;

use super::see_other;
use crate::anomalies::{repo, routes};
use crate::web::WebState;
use crate::web::context::Ctx;
use crate::web::form::{self, given};
use crate::web::layout::{self, csrf_field, document, notice, respond};
use moon_http::ApiError;

/// Findings shown on one page.
const ROWS: u32 = 200;

/// The page's filter.
#[derive(Debug, Default, Deserialize)]
pub struct AnomalyQuery {
    status: Option<String>,
    kind: Option<String>,
}

/// The dismissal form.
#[derive(Debug, Default, Deserialize)]
pub struct DismissForm {
    reason: Option<String>,
}

/// A dismissal behind a disclosure: the first click opens the reason field, the submit does it.
fn dismiss_form(ctx: &Ctx, a: &repo::Anomaly) -> Markup {
    let field = format!("reason-{}", a.id);
    html! {
        details.confirm {
            summary { "Dismiss…" }
            form.inline method="post" action=(format!("/anomalies/{}/dismiss", a.id)) {
                (csrf_field(ctx))
                label for=(field) { "Why is anomaly " (a.id) " no concern?" }
                input id=(field) name="reason" type="text" required maxlength="500";
                button.danger type="submit" { "Yes, dismiss" }
            }
        }
    }
}

/// `GET /anomalies`.
pub async fn page(State(state): State<WebState>, ctx: Ctx, Query(q): Query<AnomalyQuery>) -> Response {
    let status = given(&q.status);
    let kind = given(&q.kind);
    let query = match routes::parse_query(status.as_deref(), kind.as_deref()) {
        Ok(query) => query,
        Err(errors) => {
            let text = errors.iter().map(|e| e.message.clone()).collect::<Vec<_>>().join("; ");
            return layout::error_page(StatusCode::UNPROCESSABLE_ENTITY, &text);
        }
    };
    let page = moon_http::Page { limit: ROWS, after: None, descending: true };
    let rows = match repo::list(&state.db, &query, &page).await {
        Ok(rows) => rows,
        Err(e) => {
            let e = ApiError::from(e);
            return layout::error_page(e.status(), e.detail());
        }
    };
    let zone = state.calendar.zone;
    let shown = status.as_deref().unwrap_or("open");
    let kinds: Vec<&str> = crate::anomalies::detect::Kind::ALL.iter().map(|k| k.as_str()).collect();
    let body = html! {
        (notice(ctx.notice.as_deref()))
        form.filters.panel method="get" action="/anomalies" role="search" {
            div.field {
                label for="status" { "Status" }
                select #status name="status" {
                    @for s in ["open", "dismissed", "all"] { option value=(s) selected[s == shown] { (s) } }
                }
            }
            div.field {
                label for="kind" { "Detector" }
                select #kind name="kind" {
                    option value="" { "all" }
                    @for k in &kinds { option value=(k) selected[kind.as_deref() == Some(*k)] { (k) } }
                }
            }
            div.field { button type="submit" { "Filter" } }
        }
        p #anomaly-summary { (rows.len()) " finding(s)." }
        div.table-wrap {
            table #anomalies-table data-sortable {
                caption.sr-only { "Anomaly findings" }
                thead { tr {
                    th.num scope="col" { "Id" } th scope="col" { "Found (" (zone.name()) ")" } th scope="col" { "Detector" }
                    th scope="col" { "Subject" } th scope="col" { "Window" } th scope="col" { "Why" }
                    th scope="col" data-nosort { "Status" }
                } }
                tbody { @for a in &rows { tr data-anomaly=(a.id) {
                    td.num { (a.id) } td { (a.detected_at.with_timezone(&zone).format("%Y-%m-%d %H:%M:%S")) }
                    td { (a.kind) } td { (a.subject) } td { (a.window_key) } td { (a.why) }
                    td {
                        @if a.status == "open" { (dismiss_form(&ctx, a)) }
                        @else { "Dismissed" @if let Some(r) = &a.dismiss_reason { ": " (r) } }
                    }
                } } }
            }
        }
        p.muted { "Thresholds are set under " code { "[anomalies]" } " in moon.toml; see the README." }
    };
    respond(StatusCode::OK, document(Some(&ctx), "Anomalies", body))
}

/// `POST /anomalies/{id}/dismiss`.
pub async fn dismiss(State(state): State<WebState>, ctx: Ctx, Path(id): Path<String>, body: Bytes) -> Response {
    let done = async {
        let id = moon_http::parse_id(&id)?;
        let f: DismissForm = form::parse(&body)?;
        let reason = routes::parse_reason(f.reason.as_deref().unwrap_or("")).map_err(ApiError::field)?;
        routes::dismiss(&state.db, &ctx.principal, id, &reason).await
    }
    .await;
    match done {
        Ok(a) => see_other("/anomalies", &format!("Anomaly {} dismissed.", a.anomaly.id)),
        Err(e) => layout::error_page(e.status(), e.detail()),
    }
}
