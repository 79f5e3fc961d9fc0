//! Sales targets in the console: one period's targets in a table (admins everywhere, managers
//! those their scope shows), and for admins the forms that set one, copy a period forward,
//! import a CSV file with a report, and lock a finished period. Same use cases, validation and
//! refusals as `/api/v1/targets` ([`crate::sales_targets::service`]); the forms live in
//! [`forms`], the posts that act on a whole period in [`periods`].

pub mod delete;
mod forms;
pub mod periods;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::{Markup, html};
use moon_domain::{FieldError, Period, PeriodKind};
use serde::Deserialize;

use self::forms::Forms;
use super::see_other;
use crate::sales_targets::model::{SetTarget, Target};
use crate::sales_targets::repo::TargetQuery;
use crate::sales_targets::service;
use crate::web::WebState;
use crate::web::context::Ctx;
use crate::web::form::{self, Problems, given};
use crate::web::layout::{self, document, notice, respond};
use moon_http::{ApiError, Page};

/// The page's own address.
const PATH: &str = "/targets";

/// `?period=`: the period shown (default: this month).
#[derive(Debug, Default, Deserialize)]
pub struct PeriodQuery {
    period: Option<String>,
}

/// The set form's fields, as typed.
#[derive(Debug, Default, Deserialize)]
pub struct SetForm {
    scope_kind: Option<String>,
    scope_key: Option<String>,
    product: Option<String>,
    product_line: Option<String>,
    period: Option<String>,
    amount: Option<String>,
    policy_count: Option<String>,
    correction_reason: Option<String>,
}

fn v(s: &Option<String>) -> &str {
    s.as_deref().unwrap_or("")
}

/// This month in the business calendar.
fn this_month(state: &WebState) -> Period {
    let today = state.calendar.today(chrono::Utc::now());
    state.calendar.fiscal.period(PeriodKind::Month, today)
}

/// The period a request names, or this month; an unreadable one is an error on `field`.
fn period_of(state: &WebState, field: &str, raw: &Option<String>) -> Result<Period, FieldError> {
    match given(raw) {
        Some(p) => state.calendar.fiscal.parse(field, &p),
        None => Ok(this_month(state)),
    }
}

/// The address of the page showing `p`.
fn page_of(state: &WebState, p: Period) -> String {
    let label = state.calendar.fiscal.label(p);
    let q: String = form_urlencoded::Serializer::new(String::new()).append_pair("period", &label).finish();
    format!("{PATH}?{q}")
}

/// `GET /targets`.
pub async fn page(State(state): State<WebState>, ctx: Ctx, Query(q): Query<PeriodQuery>) -> Response {
    let mut forms = Forms::default();
    let period = match period_of(&state, "period", &q.period) {
        Ok(p) => p,
        Err(e) => {
            forms.shown_problems = Problems { fields: vec![e], general: None };
            forms.shown = q.period.clone();
            this_month(&state)
        }
    };
    let status = if forms.shown_problems.any() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    render(&state, &ctx, period, &forms, status).await
}

/// The period's targets the viewer may see, and whether a lock covers the period.
async fn targets_of(state: &WebState, ctx: &Ctx, period: Period) -> Result<(Vec<Target>, bool), ApiError> {
    let q = TargetQuery { period: Some(period), ..TargetQuery::default() };
    let page = Page { limit: moon_http::paging::MAX_LIMIT, after: None, descending: false };
    let rows = service::list(&state.db, &state.calendar, &ctx.principal, &q, &page).await?;
    let locks = crate::sales_targets::repo::locks_between(&state.db, period.start(), period.end())
        .await
        .map_err(ApiError::from)?;
    let locked = locks.iter().any(|l| l.period_start <= period.start() && l.period_end >= period.end());
    Ok((rows, locked))
}

/// Product names by id, for the table and the picker, and the product lines (the products'
/// types, each once, sorted) for the line picker.
async fn products(state: &WebState) -> Result<(Vec<(i64, String)>, Vec<String>), ApiError> {
    let all = Page { limit: moon_http::paging::MAX_LIMIT, after: None, descending: false };
    let rows = crate::products::repo::list(&state.db, None, &all).await.map_err(ApiError::from)?;
    let lines: std::collections::BTreeSet<String> = rows.iter().map(|p| p.product_type.clone()).collect();
    Ok((rows.into_iter().map(|p| (p.id, p.product_name)).collect(), lines.into_iter().collect()))
}

/// What the scope field suggests as it is typed: every agent the viewer may see (code, name) and
/// every active region, branch and team (code, kind).
async fn scope_choices(state: &WebState, ctx: &Ctx) -> Result<Vec<(String, String)>, ApiError> {
    use crate::agents::org::model::UnitKind;
    let mut out = Vec::new();
    let mut rows = crate::agents::repo::stream(&state.db, &ctx.principal.scope, &Default::default());
    while let Some(batch) = rows.next_batch().await {
        for a in batch? {
            out.push((a.agent_code, format!("agent {} {}", a.first_name, a.last_name)));
        }
    }
    let page = Page { limit: moon_http::paging::MAX_LIMIT, after: None, descending: false };
    for kind in UnitKind::ALL {
        for u in crate::agents::org::service::list(&state.db, kind, Some(true), &page).await? {
            out.push((u.code, format!("{} {}", kind.as_str(), u.name)));
        }
    }
    Ok(out)
}

/// Renders the page for `period` with the forms as submitted.
async fn render(state: &WebState, ctx: &Ctx, period: Period, forms: &Forms, status: StatusCode) -> Response {
    let loaded = async { Ok::<_, ApiError>((targets_of(state, ctx, period).await?, products(state).await?)) }.await;
    let ((rows, locked), (products, lines)) = match loaded {
        Ok(x) => x,
        Err(e) => return layout::error_page(e.status(), e.detail()),
    };
    let admin = ctx.may("POST", PATH);
    let choices = if admin { scope_choices(state, ctx).await } else { Ok(Vec::new()) };
    let choices = match choices {
        Ok(c) => c,
        Err(e) => return layout::error_page(e.status(), e.detail()),
    };
    let fiscal = state.calendar.fiscal;
    let label = fiscal.label(period);
    let product_name =
        |id: i64| products.iter().find(|(p, _)| *p == id).map_or_else(|| format!("product {id}"), |(_, n)| n.clone());
    let body = html! {
        (notice(ctx.notice.as_deref()))
        (period_picker(state, period, forms.shown.as_deref(), &forms.shown_problems))
        section.panel aria-labelledby="targets-h" {
            h2 #targets-h { "Targets for " (label) " (" (rows.len()) ")" }
            @if locked {
                p.hint #locked-note { "This period is locked: its targets change only as corrections with a reason." }
            }
            @if let Some(r) = &forms.refused { (delete::refusal(ctx, r)) }
            div.table-wrap {
                table #targets-table data-sortable {
                    caption.sr-only { "Sales targets for " (label) }
                    thead { tr {
                        th scope="col" { "Scope" } th scope="col" { "Who" } th scope="col" { "Product or line" }
                        th.num scope="col" { "Amount (" (state.currency) ")" } th.num scope="col" { "Policies" }
                        th scope="col" { "Locked" }
                        @if admin { th scope="col" data-nosort { "Delete" } }
                    } }
                    tbody {
                        @for t in &rows {
                            tr {
                                td { (t.scope_kind.as_str()) }
                                td { @if t.scope_key.is_empty() { "the company" } @else { (t.scope_key) } }
                                td { (t.product_id.map(product_name).or_else(|| t.product_line.clone()).unwrap_or_else(|| String::from("all products"))) }
                                td.num data-value=(t.amount) { (t.amount.grouped()) }
                                td.num { (t.policy_count.map_or_else(|| String::from("—"), |n| n.to_string())) }
                                td { @if t.locked { "Locked" } @else { "Open" } }
                                @if admin { td { (delete::button(ctx, t, &product_name)) } }
                            }
                        }
                        @if rows.is_empty() { tr { td colspan=(if admin { "7" } else { "6" }) { "No targets for " (label) " yet." } } }
                    }
                }
            }
        }
        @if admin {
            (form::datalist("scope-choices", &choices))
            (forms::set_form(state, ctx, period, &products, &lines, forms))
            (forms::copy_form(state, ctx, period, forms))
            (forms::import_form(ctx, forms))
            (forms::lock_form(state, ctx, period, forms))
        }
    };
    respond(status, document(Some(ctx), "Targets", body))
}

/// The GET form choosing the period shown.
fn period_picker(state: &WebState, period: Period, typed: Option<&str>, problems: &Problems) -> Markup {
    let label = state.calendar.fiscal.label(period);
    let previous = state.calendar.fiscal.label(period.previous());
    let next = state.calendar.fiscal.label(period.next());
    let link = |l: &str| page_of(state, state.calendar.fiscal.parse("period", l).unwrap_or(period));
    let err = problems.on("period");
    let shown = if err.is_some() { typed.unwrap_or_default().to_owned() } else { label.clone() };
    html! {
        form.filters method="get" action=(PATH) role="search" aria-label="Period" {
            div.field.invalid[err.is_some()] {
                label for="q-period" { "Period (2026-11, FY2026 Q4 or FY2026)" }
                input #q-period type="text" name="period" value=(shown) aria-invalid=[err.map(|_| "true")]
                    aria-describedby=[err.map(|_| "q-period-error")];
                @if let Some(e) = err { p.error #q-period-error { (e.message) } }
            }
            button type="submit" { "Show" }
            " " a href=(link(&previous)) { "« " (previous) }
            " " a href=(link(&next)) { (next) " »" }
        }
    }
}

/// A set form's errors as the page shows them: the correction's reason under its own field
/// name, and a refusal for a locked period beside that field, worded for people.
fn set_problems(e: &ApiError, period: &str) -> Problems {
    if e.code() == "period_locked" {
        let message =
            format!("The period {period} is locked. To change it anyway, give the reason for this correction.");
        return Problems {
            fields: vec![FieldError::new("correction_reason", "period_locked", message)],
            general: None,
        };
    }
    let mut p = Problems::from_error(e);
    for f in &mut p.fields {
        if f.field == "product_line" && f.code == "ambiguous" {
            f.message = String::from("Choose a product or a product line, not both");
        }
        if f.field == "correction.reason" {
            f.field = String::from("correction_reason");
            f.message = String::from("Give the reason for this correction (at most 500 characters)");
        }
    }
    p
}

/// `POST /targets`: sets one target (admins); back to its period's page.
pub async fn set(State(state): State<WebState>, ctx: Ctx, body: Bytes) -> Response {
    let f: SetForm = match form::parse(&body) {
        Ok(f) => f,
        Err(e) => return layout::error_page(e.status(), e.detail()),
    };
    let request = SetTarget {
        scope_kind: given(&f.scope_kind),
        scope_key: given(&f.scope_key),
        product: given(&f.product).map(serde_json::Value::String),
        product_line: given(&f.product_line),
        period: given(&f.period),
        amount: given(&f.amount).map(|a| serde_json::Value::String(form::ungroup_amount(&a))),
        policy_count: given(&f.policy_count).map(|c| serde_json::Value::String(c.replace(',', ""))),
        correction: given(&f.correction_reason)
            .map(|r| crate::sales_targets::model::CorrectionBody { reason: Some(r) }),
    };
    let saved = async {
        let (fields, reason) = request.validate(&state.calendar).map_err(ApiError::validation)?;
        let (t, _) = service::set(&state.db, &state.calendar, &ctx.principal, &fields, reason.as_deref()).await?;
        Ok::<_, ApiError>((t, fields.period))
    }
    .await;
    match saved {
        Ok((t, p)) => {
            let who = if t.scope_key.is_empty() { String::from("the company") } else { t.scope_key.clone() };
            let done = format!("Target for {who} in {} set to {} {}.", t.period, t.amount.grouped(), state.currency);
            see_other(&page_of(&state, p), &done)
        }
        Err(e) => {
            let period = period_of(&state, "period", &f.period).unwrap_or_else(|_| this_month(&state));
            let forms = Forms {
                set: f,
                set_problems: set_problems(&e, &state.calendar.fiscal.label(period)),
                ..Forms::default()
            };
            render(&state, &ctx, period, &forms, e.status()).await
        }
    }
}
