//! The targets page's posts that act on a whole period (admins): copy forward, import a CSV
//! file, lock. Each calls the one use case the API calls, so the console and
//! `/api/v1/targets/{copy,import,periods/…/lock}` refuse the same things in the same words.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use moon_domain::{FieldError, FieldErrors, Period};
use rust_decimal::Decimal;
use serde::Deserialize;

use super::forms::Forms;
use super::{page_of, period_of, render, this_month, v};
use crate::sales_targets::service;
use crate::web::WebState;
use crate::web::context::Ctx;
use crate::web::form::{self, Problems, given};
use crate::web::layout;
use crate::web::pages::see_other;
use moon_http::ApiError;

/// The copy form's fields, as typed.
#[derive(Debug, Default, Deserialize)]
pub struct CopyForm {
    pub(super) from: Option<String>,
    pub(super) to: Option<String>,
    pub(super) scale_percent: Option<String>,
}

/// The import form's fields: the CSV text and `all` or `partial`.
#[derive(Debug, Default, Deserialize)]
pub struct ImportForm {
    pub(super) csv: Option<String>,
    pub(super) mode: Option<String>,
}

/// The lock form's field.
#[derive(Debug, Default, Deserialize)]
pub struct LockForm {
    #[serde(rename = "lock_period")]
    pub(super) period: Option<String>,
}

/// `POST /targets/copy`: copies a period's targets forward, scaled; to the new period's page.
pub async fn copy(State(state): State<WebState>, ctx: Ctx, body: Bytes) -> Response {
    let f: CopyForm = match form::parse(&body) {
        Ok(f) => f,
        Err(e) => return layout::error_page(e.status(), e.detail()),
    };
    let done = async {
        let mut e = FieldErrors::new();
        if given(&f.from).is_none() {
            e.push(FieldError::required("from"));
        }
        let from = e.take_opt(given(&f.from).map(|p| state.calendar.fiscal.parse("from", &p)));
        let to = e.take_opt(given(&f.to).map(|p| state.calendar.fiscal.parse("to", &p)));
        let percent = e.take_opt(given(&f.scale_percent).map(|p| {
            crate::sales_targets::parse_percent(&serde_json::Value::String(p.trim_end_matches('%').to_owned()))
        }));
        e.finish().map_err(ApiError::validation)?;
        let from = from.ok_or_else(|| ApiError::field(FieldError::required("from")))?;
        let percent = percent.unwrap_or(Decimal::from(100));
        Ok::<_, ApiError>(service::copy(&state.db, &state.calendar, &ctx.principal, from, to, percent).await?)
    }
    .await;
    match done {
        Ok(r) => {
            let to = state.calendar.fiscal.parse("to", &r.to.label).unwrap_or_else(|_| this_month(&state));
            let text = format!(
                "Copied {} targets from {} to {} at {} %; {} {} had one already and kept it.",
                r.created,
                r.from.label,
                r.to.label,
                r.scale_percent,
                r.skipped_existing,
                if r.skipped_existing == 1 { "target" } else { "targets" },
            );
            see_other(&page_of(&state, to), &text)
        }
        Err(e) => {
            let period = period_of(&state, "from", &f.from).unwrap_or_else(|_| this_month(&state));
            let mut problems = Problems::from_error(&e);
            if e.code() == "period_locked" {
                let to = v(&f.to);
                problems = Problems {
                    fields: vec![FieldError::new(
                        "to",
                        "period_locked",
                        format!("{to} is locked: copy to an open period"),
                    )],
                    general: None,
                };
            }
            let forms = Forms { copy: f, copy_problems: problems, ..Forms::default() };
            render(&state, &ctx, period, &forms, e.status()).await
        }
    }
}

/// `POST /targets/import`: imports the CSV text, all or nothing unless `mode=partial`, and shows
/// the report on the page: 200 when something was written, 422 when rows were rejected.
pub async fn import(State(state): State<WebState>, ctx: Ctx, body: Bytes) -> Response {
    let f: ImportForm = match form::parse(&body) {
        Ok(f) => f,
        Err(e) => return layout::error_page(e.status(), e.detail()),
    };
    let partial = f.mode.as_deref() == Some("partial");
    let text = v(&f.csv).replace("\r\n", "\n");
    let period = this_month(&state);
    if text.trim().is_empty() {
        let problems = Problems {
            fields: vec![FieldError::new("csv", "required", "Choose a CSV file or paste its contents")],
            general: None,
        };
        let forms = Forms { import: f, import_problems: problems, ..Forms::default() };
        return render(&state, &ctx, period, &forms, StatusCode::UNPROCESSABLE_ENTITY).await;
    }
    match service::import(&state.db, &state.calendar, &ctx.principal, &text, partial).await {
        Ok(report) => {
            let status = if report.errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
            let forms = Forms { import: f, report: Some(report), ..Forms::default() };
            render(&state, &ctx, period, &forms, status).await
        }
        Err(e) => {
            let e = ApiError::from(e);
            let forms = Forms { import: f, import_problems: Problems::from_error(&e), ..Forms::default() };
            render(&state, &ctx, period, &forms, e.status()).await
        }
    }
}

/// `POST /targets/lock`: locks a finished period; back to that period's page.
pub async fn lock(State(state): State<WebState>, ctx: Ctx, body: Bytes) -> Response {
    let f: LockForm = match form::parse(&body) {
        Ok(f) => f,
        Err(e) => return layout::error_page(e.status(), e.detail()),
    };
    let today = state.calendar.today(chrono::Utc::now());
    let done = async {
        let raw = given(&f.period).ok_or_else(|| ApiError::field(FieldError::required("lock_period")))?;
        let period: Period = state.calendar.fiscal.parse("lock_period", &raw).map_err(ApiError::field)?;
        service::lock(&state.db, &state.calendar, &ctx.principal, period, today).await?;
        Ok::<_, ApiError>(period)
    }
    .await;
    match done {
        Ok(p) => {
            let label = state.calendar.fiscal.label(p);
            see_other(&page_of(&state, p), &format!("{label} is locked: its targets now change only as corrections."))
        }
        Err(e) => {
            let problems = if e.code() == "period_not_finished" {
                let message = format!("{} has not ended yet; only a finished period can be locked", v(&f.period));
                Problems { fields: vec![FieldError::new("lock_period", "period_not_finished", message)], general: None }
            } else {
                Problems::from_error(&e)
            };
            let forms = Forms { lock: f, lock_problems: problems, ..Forms::default() };
            render(&state, &ctx, this_month(&state), &forms, e.status()).await
        }
    }
}
