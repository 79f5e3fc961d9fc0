//! One module per page (or group of pages) of the console.

pub mod account;
pub mod admin;
pub mod agents;
pub mod anomalies;
pub mod calendar;
pub mod commission_plans;
pub mod dashboard;
pub mod home;
pub mod notifications;
pub mod organisation;
pub mod performance;
pub mod products;
pub mod rules;
pub mod sales;
pub mod screens;
pub mod sign_in;
pub mod targets;
pub mod wallboard;
pub mod webhooks;

use axum::response::{IntoResponse, Redirect, Response};

/// After a successful form post: back to a page (post/redirect/get, so a reload does not send
/// the form again), with a confirmation carried in a short-lived cookie. Not in the URL: a link
/// from elsewhere could then put any text on our page.
pub fn see_other(path: &str, done: &str) -> Response {
    let mut res = Redirect::to(path).into_response();
    if let Some(cookie) = crate::web::notice_cookie(done) {
        res.headers_mut().insert(axum::http::header::SET_COOKIE, cookie);
    }
    res
}

/// The answer to a one-button post (switch, remove, send again): back to `path` with the
/// confirmation `said` words from the result, or a page saying why not.
pub fn done_or_error<T>(
    result: Result<T, moon_http::ApiError>,
    path: &str,
    said: impl FnOnce(&T) -> String,
) -> Response {
    match result {
        Ok(x) => see_other(path, &said(&x)),
        Err(e) => crate::web::layout::error_page(e.status(), e.detail()),
    }
}

/// A row's on/off switch (rules, webhooks): the state to set.
#[derive(Debug, Default, serde::Deserialize)]
pub struct SwitchForm {
    enabled: Option<String>,
}

impl SwitchForm {
    /// Whether the post asks to turn the row on.
    pub fn on(body: &axum::body::Bytes) -> Result<bool, moon_http::ApiError> {
        let f: SwitchForm = crate::web::form::parse(body)?;
        Ok(f.enabled.as_deref() == Some("true"))
    }
}

/// A row's status and change cells: on or off, a switch, and a remove button that asks
/// `question` first; `base` is the row's address (`/rules/4`), `what` names the row for screen
/// readers, so every button's name says which row it acts on.
pub fn switch_cells(
    ctx: &crate::web::context::Ctx,
    base: &str,
    enabled: bool,
    what: &str,
    question: &str,
) -> maud::Markup {
    use crate::web::layout::csrf_field;
    maud::html! {
        td { @if enabled { "On" } @else { "Off" } }
        td {
            form.inline method="post" action=(base) {
                (csrf_field(ctx))
                input type="hidden" name="enabled" value=(if enabled { "false" } else { "true" });
                button.secondary type="submit" { @if enabled { "Turn off" } @else { "Turn on" } span.sr-only { " " (what) } }
            }
            " "
            form.inline method="post" action=(format!("{base}/delete")) data-confirm=(question) {
                (csrf_field(ctx))
                button.danger type="submit" { "Remove" span.sr-only { " " (what) } }
            }
        }
    }
}

/// A 400 for a `sort` a table does not offer, naming those it does, as the API's answer does.
pub fn unknown_sort(table: &str, name: &str, offered: impl IntoIterator<Item = &'static str>) -> moon_http::ApiError {
    let offered: Vec<&str> = offered.into_iter().collect();
    let detail = format!("the {table} cannot be sorted by {name:?}; choose one of {}", offered.join(", "));
    moon_http::ApiError::bad_request("invalid_query", detail)
}

/// A 403 for a view the viewer's role or scope does not reach, saying why.
pub fn forbidden(detail: &str) -> moon_http::ApiError {
    moon_http::ApiError::new(axum::http::StatusCode::FORBIDDEN, "forbidden", detail)
}
