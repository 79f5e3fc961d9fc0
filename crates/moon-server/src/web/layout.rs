//! The page shell every console page shares: landmarks, a skip link, the role-aware navigation,
//! and the HTML response around it.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::{DOCTYPE, Markup, html};

use super::context::Ctx;

/// Navigation entries; each is shown only to roles the policy table lets open it.
const NAV: &[(&str, &str)] = &[
    ("/dashboard", "Dashboard"),
    ("/agents", "Agents"),
    ("/sales", "Sales"),
    ("/products", "Products & targets"),
    ("/notifications", "Notifications"),
    ("/users", "Users"),
    ("/tokens", "API tokens"),
    ("/audit", "Audit log"),
];

/// An HTML response; pages are personal, so never cached.
pub fn respond(status: StatusCode, body: Markup) -> Response {
    let mut res = (status, body.into_string()).into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// The document around a page's main content. `ctx` is absent before sign-in.
pub fn document(ctx: Option<&Ctx>, title: &str, main: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                @if let Some(token) = ctx.and_then(|c| c.csrf.as_deref()) {
                    meta name="csrf-token" content=(token);
                }
                title { (title) " · MoonInsurance" }
                link rel="stylesheet" href="/assets/console.css";
                script src="/assets/console.js" defer {}
            }
            body {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    a.brand href="/dashboard" { "MoonInsurance" }
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
                                        " " span.badge #unread-count aria-label=(format!("{n} unread")) { (n) }
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

/// Links to the next page (keyset cursor) and back to the first, keeping the other parameters.
pub fn pager(base: &str, keep: &[(&str, Option<String>)], next_cursor: Option<&str>, on_later_page: bool) -> Markup {
    let link = |cursor: Option<&str>| {
        let mut s = form_urlencoded::Serializer::new(String::new());
        for (k, v) in keep {
            if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
                s.append_pair(k, v);
            }
        }
        if let Some(c) = cursor {
            s.append_pair("cursor", c);
        }
        format!("{base}?{}", s.finish())
    };
    html! {
        nav.pager aria-label="Pages" {
            @if on_later_page { a href=(link(None)) { "« First page" } }
            @if let Some(c) = next_cursor { a href=(link(Some(c))) rel="next" { "Next page »" } }
        }
    }
}
