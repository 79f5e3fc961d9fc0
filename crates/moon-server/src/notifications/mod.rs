//! Notifications to agents over `/api/v1/notifications`: sending, the inbox, rules that write
//! on their own, and delivery (live stream, webhooks, e-mail). See
//! docs/adr/0008-notification-rules-and-delivery.md.

mod api;
pub mod broadcast;
pub mod deliveries;
pub mod digests;
pub mod email;
pub mod inbox;
pub mod pace;
pub mod pipeline;
pub mod quiet;
pub mod repo;
pub mod rules;
pub mod rules_api;
pub mod runner;
pub mod sales_reads;
pub mod schedule;
pub mod service;
pub mod settings;
pub mod stream;
pub mod webhooks;

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use moon_domain::{AgentCode, FieldError, FieldErrors, Message};
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::agents::model::AgentRef;
use moon_db::Db;
use moon_http::paging::Paged;
use moon_http::{ApiError, ApiJson, ApiQuery, ApiResult, PageParams, Principal};

/// The component as the wiring sees it: its routes, and its background jobs — the stream hub,
/// the rule runner, the target-due reminders and the delivery loop, each woken right after a
/// commit in this process and polling for other replicas' changes. The configured rules are
/// seeded here once if the database allows, and by the rule runner's first step otherwise.
pub async fn describe<S>(
    state: &NotificationsState,
    settings: Arc<settings::NotificationSettings>,
) -> anyhow::Result<crate::component::Description<S>>
where
    S: Clone + Send + Sync + 'static,
    moon_db::Db: axum::extract::FromRef<S>,
    NotificationsState: axum::extract::FromRef<S>,
{
    use anyhow::Context;
    use moon_jobs::{Pending, Schedule};
    let mailer = match &settings.smtp {
        Some(smtp) => Some(email::Mailer::new(smtp, settings.send_timeout())?),
        None => None,
    };
    let http = reqwest::Client::builder()
        .connect_timeout(settings.send_timeout())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .context("cannot build the webhook HTTP client")?;
    let (db, rt) = (state.db.clone(), state.notifications.clone());
    let mut rules = Some((settings.seed_rules(), settings.timezone.clone()));
    // Usually the database is ready now; if not, the rule runner seeds on its first step.
    if let Some((specs, timezone)) = &rules
        && let Ok(seeded) = rules_api::seed(&db, specs, timezone).await
    {
        if seeded > 0 {
            tracing::info!(rules = seeded, "notification rules created from the configuration");
        }
        rules = None;
    }
    // Rule-made notifications reached the inbox when their step committed.
    let told = || {
        let (rt, metrics) = (rt.clone(), state.metrics.clone());
        move |n: usize| {
            for _ in 0..n {
                metrics.count_delivery("inbox", "delivered");
            }
            rt.committed();
        }
    };
    let hub = Schedule::every("notification_stream", settings.stream_poll())
        .woken_by(rt.hub.wake_signal())
        .max_backoff(std::time::Duration::from_secs(5));
    // Woken after a successful request here (see `app::wake_rules`) and after every commit that
    // changed the log, here or, on PostgreSQL, in another process.
    db.wake_on_commit(&rt.rules_due);
    let rule_runner = Schedule::every("notification_rules", settings.rules_interval())
        .woken_by(rt.rules_due.clone())
        .settle(moon_jobs::COMMIT_SETTLE);
    let reminders = Schedule::every("notification_reminders", std::time::Duration::from_secs(15));
    let deliveries =
        Schedule::every("notification_deliveries", settings.delivery_interval()).woken_by(rt.deliveries_due.clone());
    let delivery_job = deliveries::DeliveryJob::new(
        db.clone(),
        settings.clone(),
        http,
        mailer,
        state.auth.clone(),
        state.metrics.clone(),
    );
    Ok(crate::component::Description::new("notification", routes())
        .with_links(&[("notifications", "/api/v1/notifications")])
        .with_job(Pending::job(stream::HubJob::new(rt.clone(), db.clone()), hub))
        .with_job(Pending::job(
            runner::RuleJob::new(runner::RuleRunner::new(db.clone(), rt.channels), rules, told()),
            rule_runner,
        ))
        .with_job(Pending::job(schedule::ReminderJob::new(db, rt.channels, told()), reminders))
        .with_job(Pending::job(delivery_job, deliveries)))
}

/// The component's routes.
fn routes<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    moon_db::Db: axum::extract::FromRef<S>,
    NotificationsState: axum::extract::FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(list_notifications, send_notification))
        .routes(routes!(get_notification, update_notification, delete_notification))
        .routes(routes!(stream::stream))
        .routes(routes!(post_broadcast))
        .merge(api::inbox::routes())
        .merge(api::rules::routes())
        .merge(api::webhooks::routes())
        .merge(api::deliveries::routes())
        .merge(api::digests::routes())
}

/// What the notification routes need of the server: the database, this process's runtime
/// (stream hub, wake-up signals, channels), the security state (the sealing key of webhook
/// secrets) and the business time zone that rules are written in.
#[derive(Clone, Debug)]
pub struct NotificationsState {
    /// The operational database.
    pub db: moon_db::Db,
    /// Stream hub and wake-up signals.
    pub notifications: Arc<Runtime>,
    /// Keys (webhook secrets are sealed with the server key).
    pub auth: Arc<crate::auth::AuthState>,
    /// The time zone rules are evaluated in.
    pub timezone: Arc<str>,
    /// Counts inbox deliveries.
    pub metrics: Arc<moon_http::metrics::Metrics>,
    /// Who receives which digest by default (`[notifications.digests]`).
    pub digests: Arc<digests::DigestSettings>,
}

/// What the notification component shares between handlers and its background loops in one
/// process: the live-stream hub and the signals that wake the loops after a commit.
#[derive(Debug, Default)]
pub struct Runtime {
    /// Broadcasts new notifications to open streams.
    pub hub: stream::Hub,
    /// Wakes the rule runner: a change was just committed in this process, so the change log
    /// likely has news (other replicas' changes are found by polling).
    pub rules_due: Arc<tokio::sync::Notify>,
    /// Wakes the delivery loop (new or redelivered deliveries).
    pub deliveries_due: Arc<tokio::sync::Notify>,
    /// The channels this process queues for.
    pub channels: pipeline::Channels,
    /// Set when the server stops, so open streams end and shutdown is not held up by them.
    pub stopping: tokio::sync::watch::Sender<bool>,
}

impl Runtime {
    /// A runtime whose queued channels are `channels`.
    pub fn new(channels: pipeline::Channels) -> Self {
        Self { channels, ..Self::default() }
    }

    /// Call after committing new notifications: streams and deliveries go at once.
    pub fn committed(&self) {
        self.hub.wake();
        self.deliveries_due.notify_one();
    }
}

/// A message to an agent, or to a user account (a manager's alerts, which need not be an agent).
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Notification {
    /// Numeric id.
    pub id: i64,
    /// The recipient agent's id; null when the recipient is a user.
    pub agent_id: Option<i64>,
    /// The recipient agent's code; null when the recipient is a user.
    pub agent_code: Option<String>,
    /// The recipient user's id; null when the recipient is an agent.
    pub user_id: Option<i64>,
    /// The text.
    pub message: String,
    /// Where it came from: `manual` for messages sent by a person, `broadcast` for one sent to
    /// many; `milestone`, `target_achieved`, `target_due`, `behind_pace` or `back_on_pace` for
    /// those a rule wrote; `digest` for a scheduled digest.
    pub kind: String,
    /// When sent (UTC).
    pub created_at: DateTime<Utc>,
    /// When the agent read it; null while unread.
    pub read_at: Option<DateTime<Utc>>,
}

/// Body of `POST /api/v1/notifications`.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendNotification {
    /// The recipient's code; give this or `agent_id`.
    pub agent_code: Option<String>,
    /// The recipient's id; give this or `agent_code`.
    pub agent_id: Option<i64>,
    /// Required: 1–1000 characters.
    pub message: Option<String>,
}

/// Body of `PATCH /api/v1/notifications/{id}`.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateNotification {
    /// `true` marks it read (now), `false` unread.
    pub read: Option<bool>,
    /// Corrected text.
    pub message: Option<String>,
}

/// Filters of `GET /api/v1/notifications`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct NotificationFilter {
    /// Only notifications to this agent (code).
    pub agent_code: Option<String>,
    /// Only notifications to this agent (id).
    pub agent_id: Option<i64>,
    /// `true`: only unread; `false`: only read.
    pub unread: Option<bool>,
    /// Only this kind, such as `manual`.
    pub kind: Option<String>,
    /// `true`: only what is addressed to the caller's own user account (a manager's alerts).
    pub mine: Option<bool>,
    /// Rows per page, 1–500 (default 50).
    pub limit: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// `asc` (default) or `desc` by id.
    pub order: Option<String>,
}

/// Validates a send request into (recipient, message).
pub fn validate_send(
    agent_code: Option<&str>,
    agent_id: Option<i64>,
    message: Option<&str>,
) -> Result<(AgentRef, Message), Vec<FieldError>> {
    let mut e = FieldErrors::new();
    let agent = match (agent_code, agent_id) {
        (Some(_), Some(_)) => {
            e.push(FieldError::new("agent_code", "ambiguous", "give either agent_code or agent_id, not both"));
            None
        }
        (Some(c), None) => e.take(AgentCode::parse("agent_code", c)).map(AgentRef::Code),
        (None, Some(id)) => Some(AgentRef::Id(id)),
        (None, None) => {
            e.push(FieldError::new("agent_code", "required", "agent_code (or agent_id) is required"));
            None
        }
    };
    let message = match message {
        Some(m) => e.take(Message::parse("message", m)),
        None => {
            e.push(FieldError::required("message"));
            None
        }
    };
    e.finish()?;
    match (agent, message) {
        (Some(a), Some(m)) => Ok((a, m)),
        _ => Err(vec![FieldError::new("body", "invalid", "the notification is incomplete")]),
    }
}

/// List notifications (an inbox when filtered by agent and `unread=true`).
#[utoipa::path(get, path = "/api/v1/notifications", tag = "notifications", params(NotificationFilter),
    responses((status = 200, body = Paged<Notification>), (status = 400, body = moon_http::error::Problem), (status = 422, body = moon_http::error::Problem)))]
async fn list_notifications(
    State(db): State<Db>,
    principal: Principal,
    ApiQuery(filter): ApiQuery<NotificationFilter>,
) -> ApiResult<Json<Paged<Notification>>> {
    let page = PageParams { limit: filter.limit.clone(), cursor: filter.cursor.clone(), order: filter.order.clone() }
        .parse()?;
    let agent_code = match filter.agent_code.as_deref() {
        Some(c) => Some(AgentCode::parse("agent_code", c).map_err(ApiError::field)?.into_inner()),
        None => None,
    };
    let q = repo::NotificationQuery {
        agent_code,
        agent_id: filter.agent_id,
        unread: filter.unread,
        kind: filter.kind.clone(),
        user_id: match filter.mine {
            Some(true) => Some(principal.user_id.unwrap_or(-1)),
            _ => None,
        },
        agents_only: false,
    };
    let rows = repo::list(&db, (&principal).into(), &q, &page).await?;
    Ok(Json(page.finish(rows, |n| n.id)))
}

/// Send a notification to an agent.
#[utoipa::path(post, path = "/api/v1/notifications", tag = "notifications", request_body = SendNotification,
    responses((status = 201, body = Notification), (status = 422, body = moon_http::error::Problem)))]
async fn send_notification(
    State(state): State<NotificationsState>,
    principal: Principal,
    ApiJson(body): ApiJson<SendNotification>,
) -> ApiResult<(StatusCode, Json<Notification>)> {
    let (to, message) = validate_send(body.agent_code.as_deref(), body.agent_id, body.message.as_deref())
        .map_err(ApiError::validation)?;
    Ok((StatusCode::CREATED, Json(service::send(&state, &principal, &to, &message).await?)))
}

/// Send one message to every active agent of a team, a branch, a region or the company (a
/// manager: their own branch, or a team within it), in one transaction.
#[utoipa::path(post, path = "/api/v1/broadcasts", tag = "notifications", request_body = broadcast::BroadcastRequest,
    responses((status = 201, body = broadcast::BroadcastResult), (status = 403, body = moon_http::error::Problem), (status = 422, body = moon_http::error::Problem)))]
async fn post_broadcast(
    State(state): State<NotificationsState>,
    principal: Principal,
    ApiJson(body): ApiJson<broadcast::BroadcastRequest>,
) -> ApiResult<(StatusCode, Json<broadcast::BroadcastResult>)> {
    Ok((StatusCode::CREATED, Json(broadcast::send(&state, &principal, &body).await?)))
}

/// Get one notification.
#[utoipa::path(get, path = "/api/v1/notifications/{id}", tag = "notifications", params(("id" = i64, Path, description = "Notification id")),
    responses((status = 200, body = Notification), (status = 404, body = moon_http::error::Problem)))]
async fn get_notification(
    State(db): State<Db>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<Notification>> {
    let id = moon_http::parse_id(&id)?;
    Ok(Json(service::get(&db, &principal, id).await?))
}

/// Mark a notification read or unread, or correct its text.
#[utoipa::path(patch, path = "/api/v1/notifications/{id}", tag = "notifications", params(("id" = i64, Path, description = "Notification id")), request_body = UpdateNotification,
    responses((status = 200, body = Notification), (status = 404, body = moon_http::error::Problem), (status = 422, body = moon_http::error::Problem)))]
async fn update_notification(
    State(db): State<Db>,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UpdateNotification>,
) -> ApiResult<Json<Notification>> {
    let id = moon_http::parse_id(&id)?;
    let message = match body.message.as_deref() {
        Some(m) => Some(Message::parse("message", m).map_err(ApiError::field)?),
        None => None,
    };
    Ok(Json(service::update(&db, &principal, id, message.as_ref(), body.read).await?))
}

/// Delete a notification.
#[utoipa::path(delete, path = "/api/v1/notifications/{id}", tag = "notifications", params(("id" = i64, Path, description = "Notification id")),
    responses((status = 204, description = "Deleted"), (status = 404, body = moon_http::error::Problem)))]
async fn delete_notification(
    State(db): State<Db>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let id = moon_http::parse_id(&id)?;
    service::delete(&db, &principal, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Deletes row `id` of `table` and records `action` on `entity` with the row as it was, in the
/// caller's transaction: the shape every delete of this component shares.
pub(crate) async fn delete_audited<T: Serialize>(
    tx: &mut moon_db::Tx,
    principal: &Principal,
    (table, action, entity): (&'static str, &'static str, &'static str),
    id: i64,
    before: &T,
) -> Result<(), moon_db::DbError> {
    let mut del = moon_db::sea_query::Query::delete();
    del.from_table(table).and_where(moon_db::sea_query::ExprTrait::eq(moon_db::sea_query::Expr::col("id"), id));
    tx.execute(&del).await?;
    crate::audit::append(tx, principal, crate::audit::Event::on(action, entity, id).with_diff(Some(before), None)).await
}
