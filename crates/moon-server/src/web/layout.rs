//! The page shell every console page shares: landmarks, a skip link, the role-aware navigation,
//! and the HTML response around it.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::{DOCTYPE, Markup, html};

use super::context::Ctx;

/// Navigation entries; each is shown only to roles the policy table lets open it.
const NAV: &[(&str, &str)] = &[
    ("/home", "Home"),
    ("/dashboard", "Dashboard"),
    ("/performance", "Performance"),
    ("/agents", "Agents"),
    ("/organisation", "Organisation"),
    ("/sales", "Sales"),
    ("/products", "Products & targets"),
    ("/targets", "Targets"),
    ("/calendar", "Holidays"),
    ("/rules", "Notification rules"),
    ("/webhooks", "Webhooks"),
    ("/notifications", "Notifications"),
    ("/users", "Users"),
    ("/tokens", "API tokens"),
    ("/audit", "Audit log"),
    ("/access-review", "Access review"),
    ("/anomalies", "Anomalies"),
    ("/commission-plans", "Commission plans"),
];

/// An HTML response; pages are personal, so never cached.
pub fn respond(status: StatusCode, body: Markup) -> Response {
    let mut res = (status, body.into_string()).into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// The console's live stream for this page, from the cursor it was rendered at.
pub fn live_stream(ctx: &Ctx) -> Option<String> {
    ctx.live_from.as_ref().map(|from| format!("/live/events?from={from}"))
}

/// A page's `<head>`: the stylesheet, the one script, and the CSRF token for the script's calls.
pub fn head(csrf: Option<&str>, title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            @if let Some(token) = csrf {
                meta name="csrf-token" content=(token);
            }
            title { (title) " · MoonInsurance" }
            link rel="stylesheet" href="/assets/console.css";
            script src="/assets/console.js" defer {}
        }
    }
}

/// The document around a page's main content. `ctx` is absent before sign-in.
pub fn document(ctx: Option<&Ctx>, title: &str, main: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(ctx.and_then(|c| c.csrf.as_deref()), title))
            body data-live-stream=[ctx.and_then(live_stream)] data-inbox=[ctx.filter(|c| c.inbox_api).map(|_| "on")] {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    a.brand href="/home" { "MoonInsurance" }
                    @if let Some(ctx) = ctx {
                        @if !ctx.must_enrol { (nav(ctx)) }
                        div.who {
                            span { (ctx.username) " (" (ctx.role()) ")" }
                            a href="/account/mfa" aria-current=[(ctx.path == "/account/mfa").then_some("page")] { "Two-step verification" }
                            (post_button(ctx, "/sign-out", "Sign out", "link"))
                        }
                    }
                }
                main #main tabindex="-1" {
                    h1 { (title) }
                    (main)
                }
                @if ctx.is_some_and(|c| c.inbox_api) {
                    // Where the script announces notifications that arrive while the page is open.
                    div #live-notices .toasts role="region" aria-live="polite" aria-label="New notifications" {}
                }
            }
        }
    }
}

fn nav(ctx: &Ctx) -> Markup {
    html! {
        nav aria-label="Main" {
            ul {
                @for (href, label) in NAV {
                    @if ctx.may("GET", href) {
                        li {
                            a href=(href) aria-current=[ctx.path.starts_with(href).then_some("page")] {
                                (label)
                                @if *href == "/notifications" {
                                    @if let Some(n) = ctx.unread {
                                        " " span.badge #unread-count { (n) } span.sr-only { " unread" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// A one-button form that posts to `action` with the CSRF token (sign-out, deactivate, revoke).
pub fn post_button(ctx: &Ctx, action: &str, label: &str, class: &str) -> Markup {
    html! {
        form.inline method="post" action=(action) {
            (csrf_field(ctx))
            button type="submit" class=(class) { (label) }
        }
    }
}

/// A one-button form for a change that cannot be undone from the page (deactivate, delete,
/// revoke): the browser asks `question` first (the script reads `data-confirm`), and a
/// "no" sends nothing.
pub fn confirm_button(ctx: &Ctx, action: &str, label: &str, class: &str, question: &str) -> Markup {
    html! {
        form.inline method="post" action=(action) data-confirm=(question) {
            (csrf_field(ctx))
            button type="submit" class=(class) { (label) }
        }
    }
}

/// The hidden field carrying the session's CSRF token.
pub fn csrf_field(ctx: &Ctx) -> Markup {
    html! {
        @if let Some(token) = &ctx.csrf {
            input type="hidden" name=(crate::auth::middleware::CSRF_FIELD) value=(token);
        }
    }
}

/// A page explaining a refusal or failure, without navigation (the viewer may not be known).
pub fn error_page(status: StatusCode, detail: &str) -> Response {
    let title = status.canonical_reason().unwrap_or("Error");
    let body = html! {
        p.alert role="alert" { (detail) }
        p { a href="/dashboard" { "Back to the dashboard" } " · " a href="/sign-in" { "Sign in" } }
    };
    respond(status, document(None, title, body))
}

/// A short confirmation shown at the top of a page after a change.
pub fn notice(text: Option<&str>) -> Markup {
    html! {
        @if let Some(t) = text.filter(|t| !t.is_empty()) {
            p.notice role="status" { (t) }
        }
    }
}

/// `base` with the non-empty parameters of `keep` as its query string.
fn href(base: &str, keep: &[(&str, Option<String>)]) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in keep {
        if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
            s.append_pair(k, v);
        }
    }
    format!("{base}?{}", s.finish())
}

/// Links to the next page (keyset cursor) and back to the first, keeping the other parameters.
pub fn pager(base: &str, keep: &[(&str, Option<String>)], next_cursor: Option<&str>, on_later_page: bool) -> Markup {
    let link = |cursor: Option<&str>| {
        let mut params = keep.to_vec();
        params.push(("cursor", cursor.map(str::to_owned)));
        href(base, &params)
    };
    html! {
        nav.pager aria-label="Pages" {
            @if on_later_page { a href=(link(None)) { "« First page" } }
            @if let Some(c) = next_cursor { a href=(link(Some(c))) rel="next" { "Next page »" } }
        }
    }
}

/// Links to the first and the next page of a keyset-paged table with the page number of each
/// ("Page 3 of 40"), keeping the filters; `fragment` (`#id` or empty) brings the reader back to
/// the table when it is not at the top of the page, and `label` names the pages for screen
/// readers. A page is reached from the one before it, so the next link carries the cursor and
/// the number of the page it opens.
pub fn numbered_pager(
    (base, fragment, label): (&str, &str, &str),
    keep: &[(&str, Option<String>)],
    next_cursor: Option<&str>,
    page_no: u64,
    pages: u64,
) -> Markup {
    let link = |cursor: Option<&str>, page: u64| {
        let mut params = keep.to_vec();
        params.push(("cursor", cursor.map(str::to_owned)));
        params.push(("page", cursor.map(|_| page.to_string())));
        format!("{}{fragment}", href(base, &params))
    };
    html! {
        nav.pager aria-label=(label) {
            @if page_no > 1 { a href=(link(None, 1)) { "« Page 1" } }
            span aria-current="page" { "Page " (page_no) " of " (pages) }
            @if let Some(c) = next_cursor { a href=(link(Some(c), page_no + 1)) rel="next" { "Page " (page_no + 1) " »" } }
        }
    }
}

/// How a paged table is ordered on the server, for headers that change it.
pub struct TableSort<'a> {
    /// The page's path.
    pub base: &'a str,
    /// The filters to keep when the order changes (not the cursor: a new order starts over).
    pub filters: &'a [(&'a str, Option<String>)],
    /// The `sort=` name in effect.
    pub active: &'a str,
    /// Whether it is descending.
    pub descending: bool,
}

impl TableSort<'_> {
    /// A column header that orders the whole listing by `sort` on the server, across pages. It is
    /// a link, so it works by keyboard and without script; on the active column it reverses the
    /// order, and `aria-sort` tells assistive technology which column is in effect.
    pub fn header(&self, sort: &str, label: &str, numeric: bool) -> Markup {
        let active = self.active == sort;
        let next_descending = active && !self.descending;
        let mut params = self.filters.to_vec();
        params.push(("sort", Some(sort.to_owned())));
        params.push(("order", Some(String::from(if next_descending { "desc" } else { "asc" }))));
        let state = active.then_some(if self.descending { "descending" } else { "ascending" });
        let arrow = match state {
            Some("descending") => " ▼",
            Some(_) => " ▲",
            None => "",
        };
        html! {
            th scope="col" class=[numeric.then_some("num")] aria-sort=[state] {
                a.sort href=(href(self.base, &params)) { (label) span aria-hidden="true" { (arrow) } }
            }
        }
    }
}
