//! The outbox of webhook and e-mail deliveries, and the loop that works it.
//!
//! Each row is one notification for one receiver. The loop claims due rows with a conditional
//! UPDATE (`claimed_until` in the past or empty, status pending), so replicas never send the same
//! row at the same time without needing `SKIP LOCKED` on every backend; a replica that dies
//! mid-send leaves a claim that expires, and the row is tried again. A failure schedules the next
//! attempt with exponential backoff and ±50% jitter; after `max_attempts` the row is parked as
//! `dead` until an admin redelivers it. Receivers should treat `Moon-Delivery` as an idempotency
//! key: a crash between a 2xx and our bookkeeping can repeat a call (at-least-once).

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::Context;

use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use moon_db::sea_query::{Expr, ExprTrait, Query};
use moon_db::{Db, DbError, Tx};
use serde::{Deserialize, Serialize};
use tracing::Instrument;

use super::pipeline::Attempt;
use super::settings::NotificationSettings;
use crate::auth::crypto::SealingKey;
use moon_http::metrics::Metrics;

/// One delivery, as the log shows it (without the payload's personal data).
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Delivery {
    /// Numeric id (the `Moon-Delivery` header).
    pub id: i64,
    /// The notification delivered.
    pub notification_id: i64,
    /// `webhook` or `email`.
    pub channel: String,
    /// The webhook subscription, for webhook deliveries.
    pub subscription_id: Option<i64>,
    /// `pending`, `succeeded` or `dead`.
    pub status: String,
    /// Attempts made.
    pub attempts: i64,
    /// When the next attempt is due (pending only).
    pub next_attempt_at: DateTime<Utc>,
    /// The last HTTP status (webhooks) or SMTP code (e-mail).
    pub last_status: Option<i64>,
    /// The last error, if the last attempt failed.
    pub last_error: Option<String>,
    /// When queued (UTC).
    pub created_at: DateTime<Utc>,
    /// When it succeeded.
    pub delivered_at: Option<DateTime<Utc>>,
}

pub(super) const COLUMNS: [&str; 11] = [
    "id",
    "notification_id",
    "channel",
    "subscription_id",
    "status",
    "attempts",
    "next_attempt_at",
    "last_status",
    "last_error",
    "created_at",
    "delivered_at",
];

/// Filters of `GET /api/v1/notifications/deliveries`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DeliveryFilter {
    /// `pending`, `succeeded` or `dead`.
    pub status: Option<String>,
    /// `webhook` or `email`.
    pub channel: Option<String>,
    /// One subscription's deliveries.
    pub subscription_id: Option<i64>,
    /// One notification's deliveries.
    pub notification_id: Option<i64>,
    /// Rows per page, 1–500 (default 50).
    pub limit: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// `asc` (default) or `desc` by id.
    pub order: Option<String>,
}

/// One page of the delivery log (`f.status` already checked), for the API and the console.
pub async fn list(db: &Db, f: &DeliveryFilter, page: &moon_http::Page) -> Result<Vec<Delivery>, DbError> {
    let mut q = Query::select();
    q.columns(COLUMNS).from("notification_deliveries");
    filtered(&mut q, f);
    moon_http::paging::keyset(&mut q, ("notification_deliveries", "id"), page);
    db.fetch_all(&q).await
}

/// How many deliveries the filter matches (the console shows it beside the page numbers).
pub async fn count(db: &Db, f: &DeliveryFilter) -> Result<i64, DbError> {
    let mut q = Query::select();
    q.expr(moon_db::sea_query::Func::count(Expr::col(("notification_deliveries", "id"))))
        .from("notification_deliveries");
    filtered(&mut q, f);
    Ok(db.fetch_optional::<(i64,)>(&q).await?.map_or(0, |(n,)| n))
}

/// The filter's conditions, shared by the page and its count.
fn filtered(q: &mut moon_db::sea_query::SelectStatement, f: &DeliveryFilter) {
    if let Some(s) = &f.status {
        q.and_where(Expr::col("status").eq(s.as_str()));
    }
    if let Some(c) = &f.channel {
        q.and_where(Expr::col("channel").eq(c.as_str()));
    }
    if let Some(id) = f.subscription_id {
        q.and_where(Expr::col("subscription_id").eq(id));
    }
    if let Some(id) = f.notification_id {
        q.and_where(Expr::col("notification_id").eq(id));
    }
}

/// One delivery, in the caller's transaction.
pub(super) async fn find(tx: &mut Tx, id: i64) -> Result<Option<Delivery>, DbError> {
    let mut q = Query::select();
    q.columns(COLUMNS).from("notification_deliveries").and_where(Expr::col("id").eq(id));
    tx.fetch_optional(&q).await
}

/// Makes a delivery pending again with a fresh attempt budget, due now.
pub(super) async fn reset(tx: &mut Tx, id: i64) -> Result<u64, DbError> {
    let now = moon_db::now();
    let mut up = Query::update();
    up.table("notification_deliveries")
        .values([
            ("status", Expr::val("pending")),
            ("attempts", Expr::val(0i64)),
            ("next_attempt_at", Expr::val(now)),
            ("claimed_until", Expr::val(Option::<DateTime<Utc>>::None)),
            ("updated_at", Expr::val(now)),
        ])
        .and_where(Expr::col("id").eq(id));
    tx.execute(&up).await
}

/// The senders the loop uses.
pub struct Senders {
    /// HTTP client for webhooks (rustls, the process's one crypto provider).
    pub http: reqwest::Client,
    /// The SMTP sender, when configured.
    pub email: Option<super::email::Mailer>,
    /// Opens webhook secrets.
    pub key: SealingKey,
}

/// The outbox worker as a background job (see `moon_jobs`): each step claims and sends one
/// batch of due deliveries, and asks to run again at once while batches keep coming.
pub struct DeliveryJob {
    db: Db,
    settings: Arc<NotificationSettings>,
    http: reqwest::Client,
    email: Option<super::email::Mailer>,
    auth: Arc<crate::auth::AuthState>,
    metrics: Arc<Metrics>,
    /// Built on the first step: the sealing key lives in the database, which may not be
    /// migrated when the job starts.
    senders: Option<Senders>,
}

impl DeliveryJob {
    /// A job working `db`'s outbox with these clients; webhook secrets are opened with the
    /// server key from `auth`.
    pub fn new(
        db: Db,
        settings: Arc<NotificationSettings>,
        http: reqwest::Client,
        email: Option<super::email::Mailer>,
        auth: Arc<crate::auth::AuthState>,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self { db, settings, http, email, auth, metrics, senders: None }
    }
}

impl moon_jobs::Job for DeliveryJob {
    async fn step(&mut self) -> anyhow::Result<moon_jobs::Step> {
        let senders = match &mut self.senders {
            Some(s) => s,
            None => {
                let key = self.auth.key(&self.db).await.context("notifications waiting for the server key")?.clone();
                self.senders.insert(Senders { http: self.http.clone(), email: self.email.take(), key })
            }
        };
        let worked = work_once(&self.db, &self.settings, senders, &self.metrics)
            .await
            .map_err(|e| anyhow::Error::new(e).context("delivery loop failed"))?;
        Ok(if worked > 0 { moon_jobs::Step::More } else { moon_jobs::Step::Idle })
    }
}

#[derive(sqlx::FromRow)]
struct Due {
    id: i64,
    notification_id: i64,
    channel: String,
    subscription_id: Option<i64>,
    payload: String,
    attempts: i64,
    /// The causing request's `traceparent`, when it was traced.
    trace_context: Option<String>,
}

/// A webhook subscription's URL and opened secret, or why it cannot be sent to.
type Target = Result<(String, Vec<u8>), String>;

/// Claims and sends one batch of due deliveries; returns how many were attempted.
pub async fn work_once(
    db: &Db,
    settings: &NotificationSettings,
    senders: &Senders,
    metrics: &Metrics,
) -> Result<usize, DbError> {
    let now = moon_db::now();
    let free = || Expr::col("claimed_until").is_null().or(Expr::col("claimed_until").lt(now));
    let mut q = Query::select();
    q.column("id")
        .from("notification_deliveries")
        .and_where(Expr::col("status").eq("pending"))
        .and_where(Expr::col("next_attempt_at").lte(now))
        .and_where(free())
        .order_by("next_attempt_at", moon_db::sea_query::Order::Asc)
        .limit(256);
    let candidates: Vec<i64> = db.fetch_all::<(i64,)>(&q).await?.into_iter().map(|(id,)| id).collect();
    if candidates.is_empty() {
        return Ok(0);
    }
    // One conditional UPDATE claims what no other replica holds; its claim time (with random
    // microseconds) then tells which rows this claim won.
    let lease = chrono::Duration::from_std(settings.send_timeout() * 2).unwrap_or(chrono::Duration::seconds(60));
    let jitter =
        crate::auth::crypto::random_bytes::<3>().map_or(0, |b| i64::from(u32::from_le_bytes([b[0], b[1], b[2], 0])));
    let token = now + lease + chrono::Duration::microseconds(jitter % 1_000_000);
    let mut tx = db.begin().await?;
    let mut up = Query::update();
    up.table("notification_deliveries")
        .value("claimed_until", token)
        .and_where(Expr::col("id").is_in(candidates.iter().copied()))
        .and_where(Expr::col("status").eq("pending"))
        .and_where(free());
    tx.execute(&up).await?;
    let mut q = Query::select();
    q.columns(["id", "notification_id", "channel", "subscription_id", "payload", "attempts", "trace_context"])
        .from("notification_deliveries")
        .and_where(Expr::col("id").is_in(candidates.iter().copied()))
        .and_where(Expr::col("claimed_until").eq(token));
    let claimed: Vec<Due> = tx.fetch_all(&q).await?;
    tx.commit().await?;
    let n = claimed.len();
    let mut targets: HashMap<i64, Target> = HashMap::new();
    let subscriptions: std::collections::BTreeSet<i64> = claimed.iter().filter_map(|d| d.subscription_id).collect();
    for sub in subscriptions {
        targets.insert(sub, target(db, senders, sub).await);
    }
    let targets = &targets;
    let results: Vec<(Due, Attempt)> = futures_util::stream::iter(claimed)
        .map(|d| async move {
            let attempt = send(db, settings, senders, targets, &d).await;
            (d, attempt)
        })
        .buffer_unordered(16)
        .collect()
        .await;
    record(db, settings, metrics, results).await?;
    Ok(n)
}

/// Writes the outcome of a batch: successes together (one UPDATE per answer status), each
/// failure with its own next attempt.
async fn record(
    db: &Db,
    settings: &NotificationSettings,
    metrics: &Metrics,
    results: Vec<(Due, Attempt)>,
) -> Result<(), DbError> {
    let now = moon_db::now();
    let mut succeeded: HashMap<Option<i64>, Vec<i64>> = HashMap::new();
    let mut tx = db.begin().await?;
    for (d, a) in results {
        let channel: &'static str = if d.channel == "email" { "email" } else { "webhook" };
        if a.ok {
            metrics.count_delivery(channel, "delivered");
            succeeded.entry(a.status).or_default().push(d.id);
            continue;
        }
        let attempts = d.attempts + 1;
        let mut up = Query::update();
        up.table("notification_deliveries")
            .values([
                ("attempts", Expr::val(attempts)),
                ("last_status", Expr::val(a.status)),
                ("last_error", Expr::val(a.error.clone())),
                ("claimed_until", Expr::val(Option::<DateTime<Utc>>::None)),
                ("updated_at", Expr::val(now)),
            ])
            .and_where(Expr::col("id").eq(d.id));
        if attempts >= i64::from(std::cmp::max(settings.max_attempts, 1)) {
            up.value("status", "dead");
            metrics.count_delivery(channel, "dead");
            tracing::warn!(
                delivery = d.id,
                notification = d.notification_id,
                channel,
                attempts,
                "delivery parked as dead"
            );
        } else {
            up.value("next_attempt_at", now + backoff(settings, attempts));
            metrics.count_delivery(channel, "failed");
        }
        tx.execute(&up).await?;
    }
    for (status, ids) in succeeded {
        let mut up = Query::update();
        up.table("notification_deliveries")
            .values([
                ("status", Expr::val("succeeded")),
                ("attempts", Expr::col("attempts").add(1)),
                ("last_status", Expr::val(status)),
                ("last_error", Expr::val(Option::<String>::None)),
                ("claimed_until", Expr::val(Option::<DateTime<Utc>>::None)),
                ("updated_at", Expr::val(now)),
                ("delivered_at", Expr::val(now)),
            ])
            .and_where(Expr::col("id").is_in(ids));
        tx.execute(&up).await?;
    }
    tx.commit().await
}

/// Reads a subscription's URL and opens its secret, once per batch.
async fn target(db: &Db, senders: &Senders, sub: i64) -> Target {
    match super::webhooks::target(db, sub).await {
        Ok(Some((url, sealed))) => match senders.key.open(&super::webhooks::seal_context(sub), &sealed) {
            Ok(secret) => Ok((url, secret)),
            Err(_) => Err(String::from("the subscription's secret cannot be opened")),
        },
        Ok(None) => Err(String::from("the subscription was deleted")),
        Err(e) => Err(format!("cannot read the subscription: {e}")),
    }
}

/// The delay before attempt `attempts + 1`: base × 2^(attempts − 1), capped, times a random
/// factor in [0.5, 1.5) so receivers recovering from an outage are not hit in lockstep.
pub fn backoff(settings: &NotificationSettings, attempts: i64) -> chrono::Duration {
    let exp = u32::try_from(attempts.saturating_sub(1).clamp(0, 30)).unwrap_or(30);
    let base = std::cmp::min(settings.backoff_ms.saturating_mul(1u64 << exp), settings.backoff_max_ms);
    let jitter = crate::auth::crypto::random_bytes::<2>().map_or(0.5, |b| f64::from(u16::from_le_bytes(b)) / 65536.0);
    // Milliseconds scaled by a factor: the one place a float is right (a delay, not money).
    let ms = (base as f64 * (0.5 + jitter)) as i64;
    chrono::Duration::milliseconds(std::cmp::max(ms, 1))
}

async fn send(
    db: &Db,
    settings: &NotificationSettings,
    senders: &Senders,
    targets: &HashMap<i64, Target>,
    d: &Due,
) -> Attempt {
    let fail = |e: String| Attempt { ok: false, status: None, error: Some(e) };
    match d.channel.as_str() {
        "webhook" => {
            let Some(Some(target)) = d.subscription_id.map(|s| targets.get(&s)) else {
                return fail(String::from("no subscription"));
            };
            let (url, secret) = match target {
                Ok(t) => t,
                Err(e) => return fail(e.clone()),
            };
            let t = Utc::now().timestamp();
            let signature = super::webhooks::signature(secret, t, d.payload.as_bytes());
            let event = serde_json::from_str::<serde_json::Value>(&d.payload)
                .ok()
                .and_then(|v| v.get("event").and_then(|e| e.as_str()).map(str::to_owned))
                .unwrap_or_default();
            let mut request = senders
                .http
                .post(url)
                .timeout(settings.send_timeout())
                .header("content-type", "application/json")
                .header("user-agent", concat!("MoonInsurance-Webhooks/", env!("CARGO_PKG_VERSION")))
                .header("moon-signature", signature)
                .header("moon-event", event)
                .header("moon-delivery", d.id.to_string());
            // The receiver joins the trace of the request that caused the notification (or, for
            // one nobody traced, moon's trace of this delivery).
            let span = tracing::info_span!("webhook", delivery = d.id);
            for (name, value) in moon_http::trace_context::continued(d.trace_context.as_deref(), &span) {
                request = request.header(name, value);
            }
            let res = request.body(d.payload.clone()).send().instrument(span).await;
            match res {
                Ok(r) => {
                    let status = i64::from(r.status().as_u16());
                    let ok = r.status().is_success();
                    Attempt { ok, status: Some(status), error: (!ok).then(|| format!("receiver answered {status}")) }
                }
                // Without the URL: it may carry credentials in its query.
                Err(e) => fail(format!("request failed: {}", e.without_url())),
            }
        }
        "email" => match &senders.email {
            Some(m) => m.send(db, d.notification_id).await,
            None => fail(String::from("no SMTP relay is configured")),
        },
        other => fail(format!("unknown channel {other}")),
    }
}

/// Deletes finished deliveries (delivered, or dead after their last attempt) last touched
/// before `before` (retention): their payloads copy the notification and its recipient, and
/// nothing will send them again. Pending ones stay whatever their age. Returns how many went.
pub async fn prune_finished(db: &Db, before: DateTime<Utc>) -> Result<u64, DbError> {
    let mut del = Query::delete();
    del.from_table("notification_deliveries")
        .and_where(Expr::col("status").is_in(["delivered", "dead"]))
        .and_where(Expr::col("updated_at").lt(before));
    let mut tx = db.begin().await?;
    let n = tx.execute(&del).await?;
    tx.commit().await?;
    Ok(n)
}
