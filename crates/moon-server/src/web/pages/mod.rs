//! One module per page (or group of pages) of the console.

pub mod account;
pub mod admin;
pub mod agents;
pub mod anomalies;
pub mod commission_plans;
pub mod dashboard;
pub mod home;
pub mod notifications;
pub mod organisation;
pub mod performance;
pub mod products;
pub mod sales;
pub mod sign_in;
pub mod wallboard;

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
