//! The one way a notification comes into being, whoever makes it (a person through the API, a
//! rule, a schedule): stored in the inbox and fanned out to the outgoing channels in the caller's
//! transaction, so the message and its deliveries commit together or not at all.
//!
//! The inbox row is the record every channel starts from. Webhook and e-mail deliveries go to
//! the outbox (`notification_deliveries`) and are sent by [`super::deliveries`] after commit; the
//! live stream ([`super::stream`]) picks committed rows up by id.

use moon_db::sea_query::{Expr, ExprTrait, OnConflict, Query, Value};
use moon_db::{DbError, Tx, insert_row};
use serde::Serialize;

use super::Notification;

pub use super::repo::Recipient;

/// A notification about to be written.
#[derive(Debug, Clone)]
pub struct NewNotification<'a> {
    /// Recipient.
    pub to: Recipient,
    /// Text, already checked (1–1000 characters).
    pub message: &'a str,
    /// `manual`, `milestone`, `target_achieved`, `target_due`.
    pub kind: &'a str,
    /// For rule-made notifications: what makes it unique (rule, subject, period, …); a second
    /// notification with the same key is not written.
    pub dedupe_key: Option<String>,
}

/// Whether an e-mail channel exists in this process (SMTP configured), decided at start, and
/// the business time zone quiet hours are read in.
#[derive(Debug, Clone, Copy)]
pub struct Channels {
    /// E-mail deliveries are queued for recipients who chose e-mail.
    pub email: bool,
    /// The business time zone.
    pub zone: chrono_tz::Tz,
}

impl Default for Channels {
    fn default() -> Self {
        Self { email: false, zone: chrono_tz::UTC }
    }
}

/// The body a webhook receiver gets: a stable envelope around the notification.
#[derive(Debug, Serialize)]
pub struct WebhookEnvelope<'a> {
    /// `notification.<kind>`, such as `notification.milestone`.
    pub event: String,
    /// The notification, as `GET /api/v1/notifications/{id}` shows it.
    pub data: &'a Notification,
}

/// Writes a notification and queues its deliveries; `None` when its dedupe key was already used
/// (nothing is written then).
pub async fn create(
    tx: &mut Tx,
    channels: Channels,
    new: &NewNotification<'_>,
) -> Result<Option<Notification>, DbError> {
    create_traced(tx, channels, new, None).await
}

/// Like [`create`], for a notification caused by a traced request: `trace` (a W3C `traceparent`,
/// see `moon_http::trace_context::current`) is stored with its deliveries, which continue it.
pub async fn create_traced(
    tx: &mut Tx,
    channels: Channels,
    new: &NewNotification<'_>,
    trace: Option<&str>,
) -> Result<Option<Notification>, DbError> {
    if let Some(key) = &new.dedupe_key {
        let mut q = Query::select();
        q.column("id").from("notifications").and_where(Expr::col("dedupe_key").eq(key.as_str()));
        if tx.fetch_optional::<(i64,)>(&q).await?.is_some() {
            return Ok(None);
        }
    }
    let mut stmt = insert_row(
        "notifications",
        vec![
            (
                "agent_id",
                Value::BigInt(match new.to {
                    Recipient::Agent(id) => Some(id),
                    Recipient::User(_) => None,
                }),
            ),
            (
                "user_id",
                Value::BigInt(match new.to {
                    Recipient::User(id) => Some(id),
                    Recipient::Agent(_) => None,
                }),
            ),
            ("message", new.message.into()),
            ("kind", new.kind.into()),
            ("created_at", moon_db::now().into()),
            ("read_at", Value::ChronoDateTimeUtc(None)),
            ("dedupe_key", new.dedupe_key.clone().into()),
        ],
    );
    let id = if new.dedupe_key.is_some() {
        // The check above is exact under the runner's lock; the UNIQUE index is the backstop for
        // anything that writes without it, and makes a duplicate a no-op instead of an error.
        stmt.on_conflict(OnConflict::column("dedupe_key").do_nothing_on(["dedupe_key"]).to_owned());
        tx.execute(&stmt).await?;
        let mut q = Query::select();
        q.column("id").from("notifications").and_where(Expr::col("dedupe_key").eq(new.dedupe_key.clone()));
        match tx.fetch_optional::<(i64,)>(&q).await? {
            Some((id,)) => id,
            None => return Ok(None),
        }
    } else {
        tx.insert(&stmt).await?
    };
    let Some(n) = super::repo::find(tx, super::repo::Viewer::ALL, id).await? else {
        return Ok(None);
    };
    fan_out(tx, channels, new.to, &n, trace).await?;
    Ok(Some(n))
}

/// Queues a webhook delivery for every enabled subscription to this kind, and an e-mail when the
/// recipient chose e-mail and the server has an SMTP relay (the address is read when sending).
/// Inside the recipient's quiet hours both wait until the quiet hours end. Webhooks carry the
/// trace context of the request that caused the notification.
async fn fan_out(
    tx: &mut Tx,
    channels: Channels,
    to: Recipient,
    n: &Notification,
    trace: Option<&str>,
) -> Result<(), DbError> {
    let event = format!("notification.{}", n.kind);
    let subscriptions = super::webhooks::subscribed(tx, &event).await?;
    // The recipient's preferences only matter when something is to be delivered: the inbox
    // alone (no relay, no subscriber) costs no extra read, as before quiet hours existed.
    if subscriptions.is_empty() && !channels.email {
        return Ok(());
    }
    let envelope = WebhookEnvelope { event: event.clone(), data: n };
    let payload = serde_json::to_string(&envelope)
        .map_err(|e| DbError::Other(moon_db::sqlx::Error::Protocol(format!("cannot encode notification: {e}"))))?;
    let channel_prefs = super::inbox::channel_prefs(tx, to).await?;
    let now = moon_db::now();
    let due = channel_prefs.quiet.map_or(now, |q| q.release(now, channels.zone));
    for sub in subscriptions {
        tx.execute(&delivery_row(n.id, "webhook", Some(sub), &payload, due, trace)).await?;
    }
    // A digest is chosen one by one (and stopped from its mail's link): choosing it is
    // choosing its e-mail, whatever the general e-mail choice.
    if channels.email && (channel_prefs.email || n.kind == "digest") {
        tx.execute(&delivery_row(n.id, "email", None, &payload, due, None)).await?;
    }
    Ok(())
}

fn delivery_row(
    notification_id: i64,
    channel: &'static str,
    subscription: Option<i64>,
    payload: &str,
    due: chrono::DateTime<chrono::Utc>,
    trace: Option<&str>,
) -> moon_db::sea_query::InsertStatement {
    let now = moon_db::now();
    insert_row(
        "notification_deliveries",
        vec![
            ("notification_id", notification_id.into()),
            ("channel", channel.into()),
            ("subscription_id", subscription.into()),
            ("payload", payload.into()),
            ("status", "pending".into()),
            ("attempts", 0i64.into()),
            ("next_attempt_at", due.into()),
            ("created_at", now.into()),
            ("updated_at", now.into()),
            ("trace_context", trace.map(str::to_owned).into()),
        ],
    )
}

/// What one attempt came to.
#[derive(Debug)]
pub struct Attempt {
    /// Whether the receiver took it.
    pub ok: bool,
    /// HTTP status or SMTP code, when there was an answer.
    pub status: Option<i64>,
    /// What went wrong (no secrets, no bodies).
    pub error: Option<String>,
}
