//! The business calendar over `/api/v1/calendar` (served by the integration target): the
//! configured zone, fiscal year and working week, today's periods, and the holiday list.
//! The calendar logic itself is pure and lives in `moon_domain::calendar`; this component keeps
//! the holidays and the configuration the server runs with.

pub mod repo;
pub mod service;

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::NaiveDate;
use moon_domain::{Bands, BusinessCalendar, Period, PeriodKind, parse_date};
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::file_import::{ImportParams, ImportReport, csv_text};
use moon_db::Db;
use moon_http::{ApiError, ApiJson, ApiQuery, ApiResult, Principal};

/// What the planning components (calendar, sales targets) need: the database, the business
/// calendar the server is configured with, and the attainment bands.
#[derive(Debug, Clone)]
pub struct PlanningState {
    /// The operational database.
    pub db: Db,
    /// Zone, fiscal year start and working week.
    pub calendar: BusinessCalendar,
    /// Attainment bands (`[targets] bands`).
    pub bands: Arc<Bands>,
}

impl PlanningState {
    /// The business date now.
    pub fn today(&self) -> NaiveDate {
        self.calendar.today(chrono::Utc::now())
    }
}

/// The component as the wiring sees it.
pub fn describe<S>() -> crate::component::Description<S>
where
    S: Clone + Send + Sync + 'static,
    PlanningState: axum::extract::FromRef<S>,
{
    let api = OpenApiRouter::new()
        .routes(routes!(get_calendar))
        .routes(routes!(list_holidays, add_holiday))
        .routes(routes!(delete_holiday))
        .routes(routes!(import_holidays));
    crate::component::Description::new("integration", api).with_links(&[("calendar", "/api/v1/calendar")])
}

/// A day off.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Holiday {
    /// The date.
    pub date: NaiveDate,
    /// Such as `Vesak Full Moon Poya Day`.
    pub name: String,
}

/// One period of the fiscal calendar as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct PeriodInfo {
    /// `2026-11`, `FY2026 Q4` or `FY2026`.
    pub label: String,
    /// `month`, `quarter` or `year`.
    pub kind: PeriodKind,
    /// First day.
    pub start: NaiveDate,
    /// Last day (inclusive).
    pub end: NaiveDate,
}

impl PeriodInfo {
    /// The period with its label under `calendar`'s fiscal year.
    pub fn of(calendar: &BusinessCalendar, p: Period) -> Self {
        Self { label: calendar.fiscal.label(p), kind: p.kind(), start: p.start(), end: p.end() }
    }
}

/// A current period with its working days.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CurrentPeriod {
    /// The period.
    #[serde(flatten)]
    pub period: PeriodInfo,
    /// Working days in the whole period (holidays excluded).
    pub working_days: u32,
    /// Working days elapsed by the end of today.
    pub working_days_elapsed: u32,
    /// The previous period.
    pub previous: PeriodInfo,
    /// The same period a year earlier.
    pub same_period_last_year: PeriodInfo,
}

/// The calendar in force.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CalendarInfo {
    /// IANA zone that decides "today" and period boundaries.
    pub time_zone: String,
    /// Month (1–12) the fiscal year starts in; a fiscal year is named by the year it ends in.
    pub fiscal_year_start_month: u32,
    /// Working weekdays (`mon` … `sun`).
    pub working_days: Vec<&'static str>,
    /// Today in the business zone.
    pub today: NaiveDate,
    /// The month, quarter and year containing today.
    pub month: CurrentPeriod,
    /// See `month`.
    pub quarter: CurrentPeriod,
    /// See `month`.
    pub year: CurrentPeriod,
    /// Attainment band thresholds in percent.
    #[schema(value_type = Vec<String>)]
    pub attainment_bands: Vec<String>,
}

/// The business calendar: zone, fiscal year, working week and today's periods with their
/// working days.
#[utoipa::path(get, path = "/api/v1/calendar", tag = "calendar", responses((status = 200, body = CalendarInfo)))]
async fn get_calendar(State(state): State<PlanningState>) -> ApiResult<Json<CalendarInfo>> {
    let cal = state.calendar;
    let today = state.today();
    let year = cal.fiscal.period(PeriodKind::Year, today);
    let holidays = repo::dates(&state.db, year.same_period_last_year().start(), year.end())
        .await
        .map_err(crate::error::Error::from)?;
    let current = |kind| {
        let p = cal.fiscal.period(kind, today);
        CurrentPeriod {
            period: PeriodInfo::of(&cal, p),
            working_days: cal.working_days_in(p, &holidays),
            working_days_elapsed: cal.working_days_elapsed(p, today, &holidays),
            previous: PeriodInfo::of(&cal, p.previous()),
            same_period_last_year: PeriodInfo::of(&cal, p.same_period_last_year()),
        }
    };
    Ok(Json(CalendarInfo {
        time_zone: cal.zone.name().to_owned(),
        fiscal_year_start_month: cal.fiscal.month(),
        working_days: cal.week.names(),
        today,
        month: current(PeriodKind::Month),
        quarter: current(PeriodKind::Quarter),
        year: current(PeriodKind::Year),
        attainment_bands: state.bands.thresholds().iter().map(ToString::to_string).collect(),
    }))
}

/// Filters of `GET /api/v1/calendar/holidays`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct HolidayFilter {
    /// Only holidays on or after this date (`YYYY-MM-DD`).
    pub from: Option<String>,
    /// Only holidays on or before this date.
    pub to: Option<String>,
    /// Only holidays of this calendar year (instead of from/to).
    pub year: Option<String>,
}

impl HolidayFilter {
    fn range(&self) -> Result<(Option<NaiveDate>, Option<NaiveDate>), ApiError> {
        let mut e = moon_domain::FieldErrors::new();
        let from = e.take_opt(self.from.as_deref().map(|d| parse_date("from", d)));
        let to = e.take_opt(self.to.as_deref().map(|d| parse_date("to", d)));
        let year = e.take_opt(self.year.as_deref().map(|y| {
            y.trim()
                .parse::<i32>()
                .ok()
                .and_then(|y| Some((NaiveDate::from_ymd_opt(y, 1, 1)?, NaiveDate::from_ymd_opt(y, 12, 31)?)))
                .ok_or_else(|| {
                    moon_domain::FieldError::new(
                        "year",
                        "invalid_year",
                        format!("year must be a year such as 2026; got {y:?}"),
                    )
                })
        }));
        e.finish().map_err(ApiError::validation)?;
        Ok(match year {
            Some((f, t)) => (Some(from.map_or(f, |d| d.max(f))), Some(to.map_or(t, |d| d.min(t)))),
            None => (from, to),
        })
    }
}

/// The holidays (every signed-in user), by date.
#[utoipa::path(get, path = "/api/v1/calendar/holidays", tag = "calendar", params(HolidayFilter),
    responses((status = 200, body = Vec<Holiday>), (status = 422, body = moon_http::error::Problem)))]
async fn list_holidays(
    State(state): State<PlanningState>,
    ApiQuery(filter): ApiQuery<HolidayFilter>,
) -> ApiResult<Json<Vec<Holiday>>> {
    let (from, to) = filter.range()?;
    Ok(Json(repo::list(&state.db, from, to).await.map_err(crate::error::Error::from)?))
}

/// Body of `POST /api/v1/calendar/holidays`.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewHoliday {
    /// Required: `YYYY-MM-DD`.
    pub date: Option<String>,
    /// Required: the holiday's name.
    pub name: Option<String>,
}

/// Add a holiday (admins).
#[utoipa::path(post, path = "/api/v1/calendar/holidays", tag = "calendar", request_body = NewHoliday,
    responses((status = 201, body = Holiday), (status = 409, body = moon_http::error::Problem), (status = 422, body = moon_http::error::Problem)))]
async fn add_holiday(
    State(state): State<PlanningState>,
    principal: Principal,
    ApiJson(body): ApiJson<NewHoliday>,
) -> ApiResult<(StatusCode, Json<Holiday>)> {
    let h = service::validate(body.date.as_deref(), body.name.as_deref()).map_err(ApiError::validation)?;
    Ok((StatusCode::CREATED, Json(service::add(&state.db, &principal, &h).await?)))
}

/// Remove a holiday (admins).
#[utoipa::path(delete, path = "/api/v1/calendar/holidays/{date}", tag = "calendar", params(("date" = String, Path, description = "The holiday's date, YYYY-MM-DD")),
    responses((status = 204, description = "Removed"), (status = 404, body = moon_http::error::Problem)))]
async fn delete_holiday(
    State(state): State<PlanningState>,
    principal: Principal,
    Path(date): Path<String>,
) -> ApiResult<StatusCode> {
    let date = parse_date("date", &date).map_err(ApiError::field)?;
    service::delete(&state.db, &principal, date).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Import holidays from CSV (`date,name`; `#` lines are comments) with a validation report
/// (admins). All or nothing unless `mode=partial`.
#[utoipa::path(post, path = "/api/v1/calendar/holidays/import", tag = "calendar", params(ImportParams),
    request_body(content = String, content_type = "text/csv"),
    responses((status = 200, body = ImportReport), (status = 422, description = "The report, as problem+json `import_rejected`", body = moon_http::error::Problem)))]
async fn import_holidays(
    State(state): State<PlanningState>,
    principal: Principal,
    ApiQuery(params): ApiQuery<ImportParams>,
    body: Bytes,
) -> ApiResult<ImportReport> {
    let partial = params.partial()?;
    Ok(service::import(&state.db, &principal, csv_text(&body)?, partial).await?)
}
