//! The holiday calendar: the working-day exceptions pace and "working days left" count with.
//! Admins and managers read a year's list; admins add and remove holidays. Same use cases as
//! `/api/v1/calendar/holidays` ([`crate::calendar::service`]).

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::Datelike;
use maud::html;
use serde::Deserialize;

use super::{done_or_error, see_other};
use crate::calendar::{Holiday, repo, service};
use crate::web::WebState;
use crate::web::context::Ctx;
use crate::web::form::{self, Input, Problems, given};
use crate::web::layout::{self, confirm_button, csrf_field, document, notice, respond};
use moon_http::ApiError;

/// `?year=`: the calendar year shown (default: this one).
#[derive(Debug, Default, Deserialize)]
pub struct YearQuery {
    year: Option<String>,
}

/// The add form's fields, as typed.
#[derive(Debug, Default, Deserialize)]
pub struct HolidayForm {
    date: Option<String>,
    name: Option<String>,
}

fn v(s: &Option<String>) -> &str {
    s.as_deref().unwrap_or("")
}

fn this_year(state: &WebState) -> i32 {
    state.calendar.today(chrono::Utc::now()).year()
}

/// `GET /calendar`.
pub async fn page(State(state): State<WebState>, ctx: Ctx, Query(q): Query<YearQuery>) -> Response {
    let year = given(&q.year).and_then(|y| y.parse::<i32>().ok()).filter(|y| (1900..=9999).contains(y));
    render(
        &state,
        &ctx,
        year.unwrap_or_else(|| this_year(&state)),
        &HolidayForm::default(),
        &Problems::default(),
        StatusCode::OK,
    )
    .await
}

async fn render(
    state: &WebState,
    ctx: &Ctx,
    year: i32,
    new: &HolidayForm,
    problems: &Problems,
    status: StatusCode,
) -> Response {
    let range = chrono::NaiveDate::from_ymd_opt(year, 1, 1).zip(chrono::NaiveDate::from_ymd_opt(year, 12, 31));
    let holidays = match range {
        Some((from, to)) => repo::list(&state.db, Some(from), Some(to)).await.map_err(ApiError::from),
        None => Ok(Vec::new()),
    };
    let holidays: Vec<Holiday> = match holidays {
        Ok(h) => h,
        Err(e) => return layout::error_page(e.status(), e.detail()),
    };
    let admin = ctx.may("POST", "/calendar/holidays");
    let weekdays = state.calendar.week.names();
    let body = html! {
        (notice(ctx.notice.as_deref()))
        p.hint {
            "Working days are " (weekdays.join(", ")) ", in the time zone " (state.calendar.zone.name())
            ". Holidays below are days off: pace and \"per remaining working day\" figures skip them."
        }
        nav.pager aria-label="Years" {
            a href=(format!("/calendar?year={}", year - 1)) { "« " (year - 1) }
            a href=(format!("/calendar?year={}", year + 1)) { (year + 1) " »" }
        }
        section.panel aria-labelledby="holidays-h" {
            h2 #holidays-h { "Holidays in " (year) " (" (holidays.len()) ")" }
            div.table-wrap {
                table #holidays-table {
                    caption.sr-only { "Holidays in " (year) }
                    thead { tr {
                        th scope="col" { "Date" } th scope="col" { "Day" } th scope="col" { "Name" }
                        @if admin { th scope="col" { "Remove" } }
                    } }
                    tbody {
                        @for h in &holidays {
                            tr {
                                td { (h.date) } td { (h.date.format("%A")) } td { (h.name) }
                                @if admin {
                                    td { (confirm_button(ctx, &format!("/calendar/holidays/{}/delete", h.date),
                                        &format!("Remove {}", h.date), "danger",
                                        &format!("Remove the holiday {} on {}? It becomes a working day again.", h.name, h.date))) }
                                }
                            }
                        }
                        @if holidays.is_empty() { tr { td colspan="4" { "No holidays listed for " (year) "." } } }
                    }
                }
            }
        }
        @if admin {
            section.panel aria-labelledby="new-holiday-h" {
                h2 #new-holiday-h { "Add a holiday" }
                form method="post" action="/calendar/holidays" novalidate {
                    (csrf_field(ctx))
                    (problems.summary())
                    div.form-grid {
                        (form::input(Input { name: "date", label: "Date", value: v(&new.date), kind: "date", required: true }, problems))
                        (form::input(Input { name: "name", label: "Name", value: v(&new.name), kind: "text", required: true }, problems))
                    }
                    button type="submit" { "Add holiday" }
                }
                p.hint { "A whole list is imported with " code { "moon calendar holidays import FILE.csv" } " or " code { "POST /api/v1/calendar/holidays/import" } "." }
            }
        }
    };
    respond(status, document(Some(ctx), "Holiday calendar", body))
}

/// `POST /calendar/holidays`: adds a holiday (admins); back to its year.
pub async fn add(State(state): State<WebState>, ctx: Ctx, body: Bytes) -> Response {
    let f: HolidayForm = match form::parse(&body) {
        Ok(f) => f,
        Err(e) => return layout::error_page(e.status(), e.detail()),
    };
    let added = async {
        let h =
            service::validate(given(&f.date).as_deref(), given(&f.name).as_deref()).map_err(ApiError::validation)?;
        Ok::<_, ApiError>(service::add(&state.db, &ctx.principal, &h).await?)
    }
    .await;
    match added {
        Ok(h) => see_other(&format!("/calendar?year={}", h.date.year()), &format!("{} on {} added.", h.name, h.date)),
        Err(e) => {
            let mut problems = Problems::from_error(&e);
            if e.code() == "duplicate_holiday" {
                problems = Problems {
                    fields: vec![moon_domain::FieldError::new("date", "duplicate_holiday", e.detail())],
                    general: None,
                };
            }
            let year = moon_domain::parse_date("date", v(&f.date)).map_or_else(|_| this_year(&state), |d| d.year());
            render(&state, &ctx, year, &f, &problems, e.status()).await
        }
    }
}

/// `POST /calendar/holidays/{date}/delete`: removes a holiday (admins).
pub async fn remove(State(state): State<WebState>, ctx: Ctx, Path(date): Path<String>) -> Response {
    let done = async {
        let date = moon_domain::parse_date("date", &date).map_err(ApiError::field)?;
        service::delete(&state.db, &ctx.principal, date).await?;
        Ok::<_, ApiError>(date)
    }
    .await;
    let year = done.as_ref().map_or_else(|_| this_year(&state), |d| d.year());
    done_or_error(done, &format!("/calendar?year={year}"), |d| format!("The holiday on {d} was removed."))
}
