//! Notifications: staff send messages to agents of their scope, or broadcast to a team, branch
//! or region; a manager also reads the alerts addressed to them; an agent reads their inbox,
//! with the unread count, and marks messages read: one or all, by the page's script through the
//! API (`PATCH /api/v1/notifications/{id}`, `POST /api/v1/notifications/read_all`), so there is
//! one implementation of each. New notifications join the first page live (the script listens to
//! the API's stream).

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::html;
use serde::Deserialize;

use super::agents::PAGE_ROWS;
use super::see_other;
use crate::agents::repo::AgentQuery;
use crate::notifications::digests::preferences::{
    self, DigestChoiceUpdate, DigestPreferences, DigestPreferencesUpdate,
};
use crate::notifications::repo::{self, NotificationQuery};
use crate::web::WebState;
use crate::web::context::Ctx;
use crate::web::form::{self, Input, Problems, given};
use crate::web::layout::{self, csrf_field, document, notice, respond};
use moon_http::{ApiError, Page, PageParams, Role};

/// Paging, the unread filter and the notice after sending.
#[derive(Debug, Default, Deserialize)]
pub struct NotificationsQuery {
    /// `unread` to show only unread messages.
    show: Option<String>,
    cursor: Option<String>,
}

/// The send form's fields.
#[derive(Debug, Default, Deserialize)]
pub struct SendForm {
    agent_code: Option<String>,
    message: Option<String>,
}

/// The broadcast form's fields: who (`team`, `branch`, `region` or `everyone`), which one, and
/// the message.
#[derive(Debug, Default, Deserialize)]
pub struct BroadcastForm {
    audience: Option<String>,
    unit: Option<String>,
    text: Option<String>,
}

/// The digest form's fields (`on`/`off`, `HH:MM`, `mon`…`sun`), named as the API's errors name
/// them.
#[derive(Debug, Default, Deserialize)]
pub struct DigestForm {
    #[serde(rename = "daily.enabled")]
    daily_enabled: Option<String>,
    #[serde(rename = "daily.at")]
    daily_at: Option<String>,
    #[serde(rename = "weekly.enabled")]
    weekly_enabled: Option<String>,
    #[serde(rename = "weekly.day")]
    weekly_day: Option<String>,
    #[serde(rename = "weekly.at")]
    weekly_at: Option<String>,
}

/// `GET /notifications`.
pub async fn list(State(state): State<WebState>, ctx: Ctx, Query(q): Query<NotificationsQuery>) -> Response {
    let forms = (&SendForm::default(), &BroadcastForm::default());
    render(&state, &ctx, &q, forms, (&Problems::default(), &Problems::default()), StatusCode::OK).await
}

/// The "Your digests" form, filled with the person's current choice (or what they just sent).
fn digest_section(ctx: &Ctx, now: &DigestPreferences, sent: Option<&DigestForm>, problems: &Problems) -> maud::Markup {
    let on_off = [(String::from("on"), String::from("On")), (String::from("off"), String::from("Off"))];
    let days: Vec<(String, String)> = [
        ("mon", "Monday"),
        ("tue", "Tuesday"),
        ("wed", "Wednesday"),
        ("thu", "Thursday"),
        ("fri", "Friday"),
        ("sat", "Saturday"),
        ("sun", "Sunday"),
    ]
    .map(|(v, l)| (v.to_owned(), l.to_owned()))
    .to_vec();
    let flag = |b: bool| if b { "on" } else { "off" };
    let pick = |sent: Option<&Option<String>>, current: &str| -> String {
        sent.and_then(|v| v.clone()).unwrap_or_else(|| current.to_owned())
    };
    let daily_on = pick(sent.map(|f| &f.daily_enabled), flag(now.daily.enabled));
    let daily_at = pick(sent.map(|f| &f.daily_at), &now.daily.at);
    let weekly_on = pick(sent.map(|f| &f.weekly_enabled), flag(now.weekly.enabled));
    let weekly_day = pick(sent.map(|f| &f.weekly_day), now.weekly.day.as_deref().unwrap_or("mon"));
    let weekly_at = pick(sent.map(|f| &f.weekly_at), &now.weekly.at);
    html! {
        section.panel aria-labelledby="digests-h" {
            h2 #digests-h { "Your digests" }
            p { "A summary of the figures you look after, in your inbox and by e-mail, at a local time (" (now.timezone) ")." }
            form method="post" action="/notifications/digests" novalidate {
                (csrf_field(ctx))
                (problems.summary())
                div.form-grid {
                    (form::select("daily.enabled", "Daily digest", &on_off, &daily_on, problems))
                    (form::input(Input { name: "daily.at", label: "Daily at", value: &daily_at, kind: "time", required: false }, problems))
                    (form::select("weekly.enabled", "Weekly digest", &on_off, &weekly_on, problems))
                    (form::select("weekly.day", "Weekly on", &days, &weekly_day, problems))
                    (form::input(Input { name: "weekly.at", label: "Weekly at", value: &weekly_at, kind: "time", required: false }, problems))
                }
                button type="submit" { "Save digests" }
            }
        }
    }
}

/// `POST /notifications/digests`: the person's digest choice, through the same use case as
/// `PUT /api/v1/notifications/digests`.
pub async fn digests(State(state): State<WebState>, ctx: Ctx, body: Bytes) -> Response {
    let f: DigestForm = match form::parse(&body) {
        Ok(f) => f,
        Err(e) => return layout::error_page(e.status(), e.detail()),
    };
    let on = |v: &Option<String>| given(v).map(|v| v == "on");
    let change = DigestPreferencesUpdate {
        daily: Some(DigestChoiceUpdate { enabled: on(&f.daily_enabled), day: None, at: given(&f.daily_at) }),
        weekly: Some(DigestChoiceUpdate {
            enabled: on(&f.weekly_enabled),
            day: given(&f.weekly_day),
            at: given(&f.weekly_at),
        }),
    };
    let n = &state.notify;
    match preferences::set(&n.db, &n.digests, &n.timezone, &ctx.principal, &change).await.map_err(ApiError::from) {
        Ok(_) => see_other("/notifications", "Digests saved."),
        Err(e) => {
            let forms = (&SendForm::default(), &BroadcastForm::default());
            let problems = (&Problems::default(), &Problems::default());
            let digest = Some((&f, Problems::from_error(&e)));
            render_with(&state, &ctx, &NotificationsQuery::default(), forms, problems, digest, e.status()).await
        }
    }
}

async fn render(
    state: &WebState,
    ctx: &Ctx,
    q: &NotificationsQuery,
    forms: (&SendForm, &BroadcastForm),
    problems: (&Problems, &Problems),
    status: StatusCode,
) -> Response {
    render_with(state, ctx, q, forms, problems, None, status).await
}

async fn render_with(
    state: &WebState,
    ctx: &Ctx,
    q: &NotificationsQuery,
    (new, cast): (&SendForm, &BroadcastForm),
    (problems, cast_problems): (&Problems, &Problems),
    digest: Option<(&DigestForm, Problems)>,
    status: StatusCode,
) -> Response {
    let staff = ctx.may("POST", "/notifications");
    // Analysts receive no digests (and never reach this page); the operator has no account.
    let digest_choice = if ctx.may("POST", "/notifications/digests") {
        let n = &state.notify;
        preferences::get(&n.db, &n.digests, &n.timezone, &ctx.principal).await.ok()
    } else {
        None
    };
    let no_problems = Problems::default();
    let digest_problems = digest.as_ref().map_or(&no_problems, |(_, p)| p);
    let loaded = async {
        let page = PageParams { limit: Some(PAGE_ROWS.into()), cursor: q.cursor.clone(), order: Some("desc".into()) }
            .parse()?;
        let query = NotificationQuery {
            unread: (q.show.as_deref() == Some("unread")).then_some(true),
            ..NotificationQuery::default()
        };
        let rows = repo::list(&state.db, (&ctx.principal).into(), &query, &page).await?;
        let agents = if staff {
            let all = Page { limit: moon_http::paging::MAX_LIMIT, after: None, descending: false };
            crate::agents::repo::list(
                &state.db,
                &ctx.principal.scope,
                &AgentQuery { active: Some(true), ..AgentQuery::default() },
                &all,
            )
            .await?
        } else {
            Vec::new()
        };
        Ok::<_, ApiError>((page.finish(rows, |n| n.id), agents))
    }
    .await;
    let (paged, agents) = match loaded {
        Ok(x) => x,
        Err(e) => return layout::error_page(e.status(), e.detail()),
    };
    let mut choices = vec![(String::new(), String::from("Choose an agent"))];
    choices.extend(
        agents.iter().map(|a| (a.agent_code.clone(), format!("{} — {} {}", a.agent_code, a.first_name, a.last_name))),
    );
    let mut audiences = vec![
        (String::from("branch"), String::from("Branch")),
        (String::from("team"), String::from("Team (in your branch, for a manager)")),
    ];
    if ctx.role() == Role::Admin {
        audiences.push((String::from("region"), String::from("Region")));
        audiences.push((String::from("everyone"), String::from("Everyone")));
    }
    let own_branch = match &ctx.principal.scope {
        moon_http::Scope::Branch(b) => b.as_str(),
        _ => "",
    };
    let inbox = ctx.role() == Role::Agent;
    let title = if inbox { "Inbox" } else { "Notifications" };
    let body = html! {
        (notice(ctx.notice.as_deref()))
        @if let Some(n) = ctx.unread {
            p #inbox-unread role="status" { "You have " strong { (n) } " unread " (if n == 1 { "message" } else { "messages" }) "." }
        }
        @if inbox && ctx.inbox_api {
            p { button.secondary type="button" data-read-all=(crate::web::context::READ_ALL) hidden { "Mark all read" } }
        }
        @if staff {
            section.panel aria-labelledby="send-h" {
                h2 #send-h { "Send a notification" }
                form method="post" action="/notifications" novalidate {
                    (csrf_field(ctx))
                    (problems.summary())
                    div.form-grid {
                        (form::select("agent_code", "To", &choices, new.agent_code.as_deref().unwrap_or(""), problems))
                        (form::input(Input { name: "message", label: "Message", value: new.message.as_deref().unwrap_or(""), kind: "text", required: true }, problems))
                    }
                    button type="submit" { "Send" }
                }
            }
            section.panel aria-labelledby="broadcast-h" {
                h2 #broadcast-h { "Broadcast" }
                form method="post" action="/notifications/broadcast" novalidate {
                    (csrf_field(ctx))
                    (cast_problems.summary())
                    div.form-grid {
                        (form::select("audience", "To every agent of", &audiences, cast.audience.as_deref().unwrap_or("branch"), cast_problems))
                        (form::input(Input { name: "unit", label: "Team, branch or region", value: cast.unit.as_deref().unwrap_or(own_branch), kind: "text", required: false }, cast_problems))
                        (form::input(Input { name: "text", label: "Broadcast message", value: cast.text.as_deref().unwrap_or(""), kind: "text", required: true }, cast_problems))
                    }
                    button type="submit" { "Broadcast" }
                }
            }
        }
        @if let Some(choice) = &digest_choice {
            (digest_section(ctx, choice, digest.as_ref().map(|(f, _)| *f), digest_problems))
        }
        nav aria-label="Filter" {
            a href="/notifications" aria-current=[(q.show.is_none()).then_some("true")] { "All" } " · "
            a href="/notifications?show=unread" aria-current=[(q.show.as_deref() == Some("unread")).then_some("true")] { "Unread only" }
        }
        div.table-wrap {
            table #notifications-table data-sortable {
                caption.sr-only { (title) }
                thead { tr {
                    th scope="col" { "Sent" } @if !inbox { th scope="col" { "To" } } th scope="col" { "Message" } th scope="col" { "Status" }
                } }
                // The first page of an inbox takes new notifications from the live stream.
                tbody data-live-rows=[(inbox && ctx.inbox_api && given(&q.cursor).is_none()).then_some("true")] {
                    @for n in &paged.items {
                        tr data-id=(n.id) {
                            td { (n.created_at.format("%Y-%m-%d %H:%M")) }
                            @if !inbox { td { (recipient(n, ctx.principal.user_id)) } }
                            td { (n.message) }
                            td {
                                @if n.read_at.is_some() { "Read" } @else {
                                    strong { "Unread" }
                                    @if inbox && ctx.inbox_api { " " button.secondary type="button" data-mark-read=(n.id) hidden { "Mark read" } }
                                }
                            }
                        }
                    }
                    @if paged.items.is_empty() { tr data-empty { td colspan="4" { "No notifications." } } }
                }
            }
        }
        (layout::pager("/notifications", &[("show", q.show.clone())], paged.page.next_cursor.as_deref(), given(&q.cursor).is_some()))
    };
    respond(status, document(Some(ctx), title, body))
}

/// Who a row is addressed to: the agent's code, or "you" / "user N" for a user account's.
fn recipient(n: &crate::notifications::Notification, viewer: Option<i64>) -> String {
    match (&n.agent_code, n.user_id) {
        (Some(code), _) => code.clone(),
        (None, Some(u)) if Some(u) == viewer => String::from("you"),
        (None, Some(u)) => format!("user {u}"),
        (None, None) => String::new(),
    }
}

/// `POST /notifications`: sends a message to an agent (staff).
pub async fn send(State(state): State<WebState>, ctx: Ctx, body: Bytes) -> Response {
    let f: SendForm = match form::parse(&body) {
        Ok(f) => f,
        Err(e) => return layout::error_page(e.status(), e.detail()),
    };
    let sent = match crate::notifications::validate_send(given(&f.agent_code).as_deref(), None, f.message.as_deref()) {
        Ok((to, message)) => crate::notifications::service::send(&state.notify, &ctx.principal, &to, &message)
            .await
            .map_err(ApiError::from),
        Err(errors) => Err(ApiError::validation(errors)),
    };
    match sent {
        Ok(n) => see_other("/notifications", &format!("Sent to {}.", n.agent_code.unwrap_or_default())),
        Err(e) => {
            let forms = (&f, &BroadcastForm::default());
            let problems = (&Problems::from_error(&e), &Problems::default());
            render(&state, &ctx, &NotificationsQuery::default(), forms, problems, e.status()).await
        }
    }
}

/// `POST /notifications/broadcast`: one message to every agent of a team, branch or region (or
/// everyone), through the same use case as `POST /api/v1/broadcasts`.
pub async fn broadcast(State(state): State<WebState>, ctx: Ctx, body: Bytes) -> Response {
    let f: BroadcastForm = match form::parse(&body) {
        Ok(f) => f,
        Err(e) => return layout::error_page(e.status(), e.detail()),
    };
    let unit = given(&f.unit);
    let mut req = crate::notifications::broadcast::BroadcastRequest { message: f.text.clone(), ..Default::default() };
    match f.audience.as_deref() {
        Some("team") => req.team = unit,
        Some("region") => req.region = unit,
        Some("everyone") => req.everyone = Some(true),
        _ => req.branch = unit,
    }
    match crate::notifications::broadcast::send(&state.notify, &ctx.principal, &req).await.map_err(ApiError::from) {
        Ok(r) => see_other("/notifications", &format!("Broadcast to {}: {} agents.", r.audience, r.delivered)),
        Err(e) => {
            let forms = (&SendForm::default(), &f);
            let problems = (&Problems::default(), &Problems::from_error(&e));
            render(&state, &ctx, &NotificationsQuery::default(), forms, problems, e.status()).await
        }
    }
}
