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

/// After a successful form post: back to a page, with a confirmation (post/redirect/get, so a
/// reload does not send the form again).
pub fn see_other(path: &str, done: &str) -> Response {
    let q: String = form_urlencoded::Serializer::new(String::new()).append_pair("done", done).finish();
    let sep = if path.contains('?') { '&' } else { '?' };
    Redirect::to(&format!("{path}{sep}{q}")).into_response()
}
