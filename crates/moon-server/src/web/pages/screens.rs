//! Wallboard screens on the organisation page (admins): the read-only wallboard tokens of branch
//! TVs, a form to issue one (its one-time link shown once, with a copy button) and a revoke
//! button per token that asks first. Same use cases as `/api/v1/wallboard-tokens`
//! ([`crate::auth::wallboard`]).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use maud::{Markup, html};
use serde::Deserialize;

use super::done_or_error;
use crate::auth::wallboard::{self, IssueWallboardToken, WallboardToken};
use crate::web::WebState;
use crate::web::context::Ctx;
use crate::web::form::{self, Input, Problems, given};
use crate::web::layout::{confirm_button, csrf_field};
use moon_http::ApiError;

/// Where the form posts; also what decides (through the policy) whether the section is shown.
pub const ISSUE: &str = "/organisation/wallboard-tokens";

/// The ids' prefix of the issue form, so they never clash with the unit form's `f-name`.
const PREFIX: &str = "wb";

/// The issue form as typed.
#[derive(Debug, Default, Deserialize)]
pub struct IssueForm {
    name: Option<String>,
    branch: Option<String>,
    expires_in_days: Option<String>,
}

/// What the section shows besides the list: the form as typed, its problems, a link made now.
#[derive(Debug, Default)]
pub struct Shown {
    /// The form as typed.
    pub form: IssueForm,
    /// Its problems.
    pub problems: Problems,
    /// The one-time link just issued (absolute when the request named its host).
    pub link: Option<String>,
}

fn v(s: &Option<String>) -> &str {
    s.as_deref().unwrap_or("")
}

/// The section, for admins; nothing for anyone else.
pub async fn section(state: &WebState, ctx: &Ctx, shown: &Shown) -> Result<Markup, ApiError> {
    if !ctx.may("POST", ISSUE) {
        return Ok(html! {});
    }
    let tokens = wallboard::list(&state.db).await.map_err(ApiError::from)?;
    let zone = state.calendar.zone;
    let when = |t: &chrono::DateTime<chrono::Utc>| t.with_timezone(&zone).format("%Y-%m-%d %H:%M").to_string();
    let p = &shown.problems;
    let f = &shown.form;
    Ok(html! {
        section.panel aria-labelledby="screens-h" {
            h2 #screens-h { "Wallboard screens (" (tokens.len()) ")" }
            p.hint { "A wallboard token lets a branch's TV show that branch's wallboard, and nothing else, without anyone signed in on it. Open its one-time link on the TV within 7 days; the TV then keeps a cookie until the token expires or is revoked." }
            @if let Some(link) = &shown.link {
                div.notice role="status" {
                    p { "Open this link on the TV (shown only now; it works once):" }
                    p { code.secret #new-screen-link { (link) } " "
                        button.secondary type="button" data-copy="new-screen-link" aria-describedby="screen-copy-status" hidden { "Copy" }
                        " " span #screen-copy-status role="status" {} }
                }
            }
            div.table-wrap {
                table #screens-table {
                    caption.sr-only { "Wallboard tokens of branch screens" }
                    thead { tr {
                        th scope="col" { "Screen" } th scope="col" { "Branch" } th scope="col" { "Prefix" }
                        th scope="col" { "Issued (" (zone.name()) ")" } th scope="col" { "Expires" }
                        th scope="col" { "Last seen" } th scope="col" { "Status" }
                    } }
                    tbody {
                        @for t in &tokens {
                            tr {
                                td { (t.name) } td { (t.branch) } td { code { (t.token_prefix) } }
                                td { (when(&t.created_at)) } td { (when(&t.expires_at)) }
                                td { (t.last_used_at.as_ref().map(when).unwrap_or_default()) }
                                td { (status(ctx, t)) }
                            }
                        }
                        @if tokens.is_empty() { tr { td colspan="7" { "No screens yet." } } }
                    }
                }
            }
            h3 #new-screen-h { "Issue a wallboard token" }
            form method="post" action=(ISSUE) novalidate aria-labelledby="new-screen-h" {
                (csrf_field(ctx))
                (p.summary_in(PREFIX))
                div.form-grid {
                    (form::input_in(PREFIX, Input { name: "name", label: "Screen (such as Colombo lobby TV)", value: v(&f.name), kind: "text", required: true }, p))
                    (form::input_in(PREFIX, Input { name: "branch", label: "Branch (code or name)", value: v(&f.branch), kind: "text", required: true }, p))
                    (form::input_in(PREFIX, Input { name: "expires_in_days", label: "Days until it expires (1-730; blank: 365)", value: v(&f.expires_in_days), kind: "text", required: false }, p))
                }
                button type="submit" { "Issue token" }
            }
        }
    })
}

/// A token's state in words, with the revoke button while it can still be used.
fn status(ctx: &Ctx, t: &WallboardToken) -> Markup {
    let now = chrono::Utc::now();
    html! {
        @if t.revoked_at.is_some() { "Revoked" }
        @else if t.expires_at <= now { "Expired" }
        @else {
            @if t.claimed_at.is_some() { "In use" } @else { "Link not opened yet" }
            " "
            (confirm_button(ctx, &format!("/organisation/wallboard-tokens/{}/revoke", t.id), &format!("Revoke {}", t.name), "danger",
                &format!("Revoke the wallboard token of {}? The screen goes blank at its next refresh.", t.name)))
        }
    }
}

/// The absolute address of a path on this server, as the request reached it (a TV needs the
/// whole address); the path alone when the request named no usable host.
fn absolute(state: &WebState, headers: &HeaderMap, path: &str) -> String {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).filter(|h| {
        !h.is_empty() && h.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'))
    });
    match host {
        Some(h) => {
            let scheme = if state.auth.config.sessions.secure_cookies { "https" } else { "http" };
            format!("{scheme}://{h}{path}")
        }
        None => path.to_owned(),
    }
}

/// `POST /organisation/wallboard-tokens`: issues a token and shows its link once.
pub async fn issue(State(state): State<WebState>, ctx: Ctx, headers: HeaderMap, body: Bytes) -> Response {
    let f: IssueForm = match form::parse(&body) {
        Ok(f) => f,
        Err(e) => return crate::web::layout::error_page(e.status(), e.detail()),
    };
    // A lifetime that is not a number is reported as out of range, with the other fields.
    let days = given(&f.expires_in_days).map(|d| d.parse::<u32>().unwrap_or(0));
    let request = IssueWallboardToken { name: given(&f.name), branch: given(&f.branch), expires_in_days: days };
    let issued = wallboard::issue(&state.db, &state.auth.branches, &ctx.principal, &request).await;
    match issued {
        Ok(t) => {
            let shown = Shown { link: Some(absolute(&state, &headers, &t.link)), ..Shown::default() };
            let ctx = Ctx {
                notice: Some(format!("Wallboard token for {} ({}) issued.", t.token.name, t.token.branch)),
                ..ctx
            };
            let mut res = super::organisation::render_with(&state, &ctx, &shown, StatusCode::CREATED).await;
            res.headers_mut().insert(header::CACHE_CONTROL, axum::http::HeaderValue::from_static("no-store"));
            res
        }
        Err(e) => {
            let e = ApiError::from(e);
            let shown = Shown { form: f, problems: Problems::from_error(&e), link: None };
            super::organisation::render_with(&state, &ctx, &shown, e.status()).await
        }
    }
}

/// `POST /organisation/wallboard-tokens/{id}/revoke`: revokes a token.
pub async fn revoke(State(state): State<WebState>, ctx: Ctx, Path(id): Path<String>) -> Response {
    let done = async {
        let id = moon_http::parse_id(&id)?;
        Ok::<_, ApiError>(wallboard::revoke(&state.db, id, &ctx.principal).await?)
    }
    .await;
    done_or_error(done, "/organisation", |t| format!("The wallboard token of {} is revoked.", t.name))
}
