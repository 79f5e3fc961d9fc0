//! Webhooks and their deliveries (admins): the receivers subscribed to notification events, a
//! form to subscribe one (a generated signing secret is shown once), per receiver a switch and
//! a remove button that asks first, and the delivery log, newest first, filtered by status and
//! receiver, counted and paged like the sales table, with "send again" for a dead or lost
//! delivery. Same use cases as `/api/v1/notifications/webhooks`
//! and `/api/v1/notifications/deliveries`.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::{Markup, html};
use serde::Deserialize;

use super::{SwitchForm, done_or_error, switch_cells};
use crate::notifications::deliveries::{self, Delivery, DeliveryFilter};
use crate::notifications::service;
use crate::notifications::webhooks::{self, EVENTS, Subscription, SubscriptionSpec};
use crate::web::WebState;
use crate::web::context::Ctx;
use crate::web::form::{self, Input, Problems, given};
use crate::web::layout::{self, confirm_button, csrf_field, document, notice, respond};
use moon_http::paging::Paged;
use moon_http::{ApiError, PageParams};

/// The delivery log's query: `status` and `receiver` filters (default: every status, every
/// receiver), and the keyset `cursor` of the page with its number `page` (as on /sales).
#[derive(Debug, Default, Deserialize)]
pub struct LogQuery {
    status: Option<String>,
    receiver: Option<String>,
    cursor: Option<String>,
    page: Option<String>,
}

/// The receiver filter: a webhook subscription, or the e-mail channel.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Receiver {
    Webhook(i64),
    Email,
}

impl Receiver {
    fn parse(raw: &Option<String>) -> Option<Self> {
        match given(raw)?.as_str() {
            "email" => Some(Self::Email),
            id => id.parse().ok().map(Self::Webhook),
        }
    }

    fn value(&self) -> String {
        match self {
            Self::Webhook(id) => id.to_string(),
            Self::Email => String::from("email"),
        }
    }
}

/// The subscribe form's single-valued fields (the events are read separately: one key per box).
#[derive(Debug, Default, Deserialize)]
struct WebhookForm {
    url: Option<String>,
    secret: Option<String>,
}

/// What the page shows besides the lists: the form as typed, its problems, a secret made now.
#[derive(Debug, Default)]
struct Shown {
    url: String,
    events: Vec<String>,
    problems: Problems,
    secret: Option<String>,
    status: Option<String>,
    receiver: Option<Receiver>,
    cursor: Option<String>,
    page_no: u64,
}

/// Rows of the delivery log on the page.
const DELIVERY_ROWS: u32 = 50;

/// `GET /webhooks`.
pub async fn page(State(state): State<WebState>, ctx: Ctx, Query(q): Query<LogQuery>) -> Response {
    let status = given(&q.status).filter(|s| ["pending", "succeeded", "dead"].contains(&s.as_str()));
    let cursor = given(&q.cursor);
    let page_no = cursor.as_ref().and_then(|_| given(&q.page)).and_then(|n| n.parse::<u64>().ok()).unwrap_or(1).max(1);
    let shown = Shown {
        status,
        receiver: Receiver::parse(&q.receiver),
        cursor,
        page_no,
        events: vec![String::from("*")],
        ..Shown::default()
    };
    render(&state, &ctx, &shown, StatusCode::OK).await
}

async fn render(state: &WebState, ctx: &Ctx, shown: &Shown, status: StatusCode) -> Response {
    let loaded = async {
        let subs = webhooks::all(&state.db).await?;
        let filter = DeliveryFilter {
            status: shown.status.clone(),
            channel: (shown.receiver == Some(Receiver::Email)).then(|| String::from("email")),
            subscription_id: match shown.receiver {
                Some(Receiver::Webhook(id)) => Some(id),
                _ => None,
            },
            ..DeliveryFilter::default()
        };
        let page = PageParams {
            limit: Some(DELIVERY_ROWS.to_string()),
            cursor: shown.cursor.clone(),
            order: Some(String::from("desc")),
        }
        .parse()?;
        let rows = deliveries::list(&state.db, &filter, &page).await?;
        let total = deliveries::count(&state.db, &filter).await?;
        Ok::<_, ApiError>((subs, page.finish(rows, |d| d.id), total))
    }
    .await;
    let (subs, log, total) = match loaded {
        Ok(x) => x,
        Err(e) => return layout::error_page(e.status(), e.detail()),
    };
    let body = html! {
        (notice(ctx.notice.as_deref()))
        @if let Some(s) = &shown.secret {
            div.notice role="status" {
                p { "The receiver's signing secret (shown only now; it verifies the " code { "Moon-Signature" } " header):" }
                p { code.secret #new-secret { (s) } " "
                    button.secondary type="button" data-copy="new-secret" aria-describedby="copy-status" hidden { "Copy" }
                    " " span #copy-status role="status" {} }
            }
        }
        (subscriptions(ctx, &subs))
        (subscribe_form(ctx, shown))
        (delivery_log(ctx, &subs, &log, total, shown))
    };
    respond(status, document(Some(ctx), "Webhooks and deliveries", body))
}

fn subscriptions(ctx: &Ctx, subs: &[Subscription]) -> Markup {
    html! {
        section.panel aria-labelledby="webhooks-h" {
            h2 #webhooks-h { "Receivers (" (subs.len()) ")" }
            div.table-wrap {
                table #webhooks-table {
                    caption.sr-only { "Webhook receivers" }
                    thead { tr {
                        th scope="col" { "URL" } th scope="col" { "Events" } th scope="col" { "Status" } th scope="col" { "Change" }
                    } }
                    tbody {
                        @for s in subs {
                            tr {
                                td.wrap { (s.url) } td { (s.events.join(", ")) }
                                (switch_cells(ctx, &format!("/webhooks/{}", s.id), s.enabled, &s.url,
                                    &format!("Remove the receiver {} and its delivery log?", s.url)))
                            }
                        }
                        @if subs.is_empty() { tr { td colspan="4" { "No receivers yet." } } }
                    }
                }
            }
        }
    }
}

fn subscribe_form(ctx: &Ctx, shown: &Shown) -> Markup {
    let p = &shown.problems;
    let err = p.on("events");
    html! {
        section.panel aria-labelledby="new-webhook-h" {
            h2 #new-webhook-h { "Add a receiver" }
            form method="post" action="/webhooks" novalidate {
                (csrf_field(ctx))
                (p.summary())
                div.form-grid {
                    (form::input(Input { name: "url", label: "Receiver URL (http:// or https://)", value: &shown.url, kind: "url", required: true }, p))
                    (form::input(Input { name: "secret", label: "Signing secret (blank: one is generated)", value: "", kind: "password", required: false }, p))
                }
                fieldset #f-events {
                    legend { "Events" }
                    @for (i, ev) in EVENTS.iter().enumerate() {
                        div.field.check {
                            input id=(format!("f-event-{i}")) type="checkbox" name="events" value=(ev) checked[shown.events.iter().any(|e| e == ev)]
                                aria-invalid=[err.map(|_| "true")] aria-describedby=[err.map(|_| "f-events-error")];
                            label for=(format!("f-event-{i}")) { @if *ev == "*" { "every event (*)" } @else { (ev) } }
                        }
                    }
                    @if let Some(e) = err { p.error #f-events-error { (e.message) } }
                }
                button type="submit" { "Add receiver" }
            }
        }
    }
}

fn delivery_log(ctx: &Ctx, subs: &[Subscription], paged: &Paged<Delivery>, total: i64, shown: &Shown) -> Markup {
    let log = &paged.items;
    let filters: Vec<(String, String)> = ["", "pending", "succeeded", "dead"]
        .iter()
        .map(|s| ((*s).to_owned(), if s.is_empty() { String::from("every status") } else { (*s).to_owned() }))
        .collect();
    let mut receivers =
        vec![(String::new(), String::from("every receiver")), (String::from("email"), String::from("e-mail"))];
    receivers.extend(subs.iter().map(|s| (s.id.to_string(), format!("#{} {}", s.id, s.url))));
    let receiver = shown.receiver.as_ref().map(Receiver::value).unwrap_or_default();
    let pages = (total.max(0) as u64).div_ceil(u64::from(DELIVERY_ROWS)).max(1);
    let keep = [("status", shown.status.clone()), ("receiver", Some(receiver.clone()))];
    html! {
        section.panel aria-labelledby="deliveries-h" {
            h2 #deliveries-h { "Deliveries" }
            form.filters method="get" action="/webhooks" role="search" aria-label="Deliveries" {
                (form::filter_select("status", "Status", &filters, shown.status.as_deref().unwrap_or("")))
                (form::filter_select("receiver", "Receiver", &receivers, &receiver))
                button type="submit" { "Show" }
            }
            p #deliveries-count role="status" {
                strong { (moon_domain::group_thousands(&total.to_string())) } @if total == 1 { " delivery" } @else { " deliveries" }
                ", newest first · page " (shown.page_no) " of " (moon_domain::group_thousands(&pages.to_string()))
            }
            div.table-wrap {
                table #deliveries-table {
                    caption.sr-only { "Webhook and e-mail deliveries, newest first" }
                    thead { tr {
                        th.num scope="col" { "Id" } th scope="col" { "Channel" } th scope="col" { "Status" }
                        th.num scope="col" { "Attempts" } th scope="col" { "Last answer" } th scope="col" { "Queued (UTC)" }
                        th scope="col" { "Again" }
                    } }
                    tbody {
                        @for d in log {
                            tr {
                                td.num { (d.id) }
                                td { (d.channel) @if let Some(s) = d.subscription_id { " #" (s) } }
                                td { span class=(format!("status-{}", d.status)) { (d.status) } }
                                td.num { (d.attempts) }
                                td.wrap { (d.last_status.map_or_else(String::new, |s| s.to_string())) " " (d.last_error.as_deref().unwrap_or("")) }
                                td { (d.created_at.format("%Y-%m-%d %H:%M")) }
                                td {
                                    @if d.status != "pending" {
                                        (confirm_button(ctx, &format!("/webhooks/deliveries/{}/redeliver", d.id),
                                            &format!("Send {} again", d.id), "secondary",
                                            &format!("Send delivery {} again?", d.id)))
                                    }
                                }
                            }
                        }
                        @if log.is_empty() { tr { td colspan="7" { "No deliveries." } } }
                    }
                }
            }
            (crate::web::layout::numbered_pager(("/webhooks", "#deliveries-h", "Pages of deliveries"), &keep, paged.page.next_cursor.as_deref(), shown.page_no, pages))
        }
    }
}

/// `POST /webhooks`: subscribes a receiver and shows a generated secret once.
pub async fn create(State(state): State<WebState>, ctx: Ctx, body: Bytes) -> Response {
    let f: WebhookForm = match form::parse(&body) {
        Ok(f) => f,
        Err(e) => return layout::error_page(e.status(), e.detail()),
    };
    let events: Vec<String> =
        form_urlencoded::parse(&body).filter(|(k, _)| k == "events").map(|(_, v)| v.into_owned()).collect();
    let spec =
        SubscriptionSpec { url: given(&f.url), events: Some(events.clone()), secret: given(&f.secret), enabled: None };
    let made = async {
        let checked = webhooks::check(&spec, true).map_err(ApiError::validation)?;
        Ok::<_, ApiError>(service::create_subscription(&state.notify, &ctx.principal, checked).await?)
    }
    .await;
    match made {
        Ok((sub, secret)) => {
            let shown = Shown { secret, events: vec![String::from("*")], ..Shown::default() };
            let ctx = Ctx { notice: Some(format!("Receiver {} added.", sub.url)), ..ctx };
            render(&state, &ctx, &shown, StatusCode::CREATED).await
        }
        Err(e) => {
            let mut problems = Problems::from_error(&e);
            for p in &mut problems.fields {
                if p.field.starts_with("events") {
                    p.field = String::from("events");
                }
            }
            let shown = Shown { url: f.url.unwrap_or_default(), events, problems, ..Shown::default() };
            render(&state, &ctx, &shown, e.status()).await
        }
    }
}

/// `POST /webhooks/{id}`: turns a receiver on or off.
pub async fn switch(State(state): State<WebState>, ctx: Ctx, Path(id): Path<String>, body: Bytes) -> Response {
    let done = async {
        let id = moon_http::parse_id(&id)?;
        let spec = SubscriptionSpec { enabled: Some(SwitchForm::on(&body)?), ..SubscriptionSpec::default() };
        let checked = webhooks::check(&spec, false).map_err(ApiError::validation)?;
        Ok::<_, ApiError>(service::update_subscription(&state.notify, &ctx.principal, id, checked).await?)
    }
    .await;
    done_or_error(done, "/webhooks", |s| format!("Receiver {} is {}.", s.url, if s.enabled { "on" } else { "off" }))
}

/// `POST /webhooks/{id}/delete`: removes a receiver and its delivery log.
pub async fn remove(State(state): State<WebState>, ctx: Ctx, Path(id): Path<String>) -> Response {
    let done = async {
        let id = moon_http::parse_id(&id)?;
        service::delete_subscription(&state.db, &ctx.principal, id).await?;
        Ok::<_, ApiError>(id)
    }
    .await;
    done_or_error(done, "/webhooks", |_| String::from("Receiver removed."))
}

/// `POST /webhooks/deliveries/{id}/redeliver`: queues a delivery again.
pub async fn redeliver(State(state): State<WebState>, ctx: Ctx, Path(id): Path<String>) -> Response {
    let done = async {
        let id = moon_http::parse_id(&id)?;
        Ok::<_, ApiError>(service::redeliver(&state.notify, &ctx.principal, id).await?)
    }
    .await;
    done_or_error(done, "/webhooks", |d| format!("Delivery {} is queued again.", d.id))
}
