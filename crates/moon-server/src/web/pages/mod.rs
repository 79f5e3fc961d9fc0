//! One module per page (or group of pages) of the console.

pub mod account;
pub mod admin;
pub mod agents;
pub mod dashboard;
pub mod notifications;
pub mod products;
pub mod sales;
pub mod sign_in;

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
