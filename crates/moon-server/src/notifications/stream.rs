//! The live stream: `GET /api/v1/notifications/stream`, server-sent events named `notification`
//! whose data is the notification's JSON, for the console an agent, manager or admin has open:
//! notifications to agents within the caller's scope, and those addressed to the caller's own
//! user account (a manager's alerts and digests); `?mine=true` keeps only the caller's own.
//!
//! One [`Hub`] per process reads new inbox rows by id and broadcasts them to the open streams.
//! A writer in this process wakes it right after commit (no wait at all); rows written by other
//! replicas are found by a short poll. Ids of concurrent transactions can commit out of order on
//! PostgreSQL and MySQL, so each poll looks a little behind its high-water mark and skips ids it
//! has already sent.

use std::collections::{BTreeSet, VecDeque};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use chrono::{DateTime, Utc};
use futures_util::Stream;
use moon_db::Db;
use moon_db::sea_query::{Expr, ExprTrait, Func, Order, Query};
use tokio::sync::{Notify, broadcast};

use super::Notification;
use super::NotificationsState;
use moon_http::{Principal, Scope};

/// How far behind its high-water mark each poll looks, for ids that commit late.
const LOOKBACK: i64 = 256;

/// A notification on its way to open streams, with what is needed to choose who may see it.
#[derive(Debug, Clone)]
pub struct Item {
    /// The notification.
    pub notification: Notification,
    /// The recipient agent's branch (managers see their branch); empty for a notification
    /// addressed to a user account.
    pub branch: String,
}

/// The process's fan-out point for live notifications.
#[derive(Debug)]
pub struct Hub {
    sender: broadcast::Sender<Arc<Item>>,
    wake: Arc<Notify>,
}

impl Default for Hub {
    fn default() -> Self {
        Self { sender: broadcast::channel(1024).0, wake: Arc::new(Notify::new()) }
    }
}

#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    agent_id: Option<i64>,
    user_id: Option<i64>,
    agent_code: Option<String>,
    message: String,
    kind: String,
    created_at: DateTime<Utc>,
    read_at: Option<DateTime<Utc>>,
    branch: Option<String>,
    stream: Option<bool>,
}

impl Hub {
    /// Tells the hub that notifications were just committed here.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// A receiver of everything broadcast from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Item>> {
        self.sender.subscribe()
    }

    /// What wakes the hub's job right after a commit in this process.
    pub fn wake_signal(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    async fn poll(&self, db: &Db, high: i64) -> Result<Vec<Row>, moon_db::DbError> {
        let mut q = Query::select();
        q.columns(
            ["id", "agent_id", "user_id", "message", "kind", "created_at", "read_at"].map(|c| ("notifications", c)),
        )
        .columns([("agents", "agent_code"), ("agents", "branch")])
        .column(("notification_preferences", "stream"))
        .from("notifications")
        // Left: a notification to a user account has no agent.
        .left_join("agents", Expr::col(("agents", "id")).equals(("notifications", "agent_id")))
        .left_join(
            "notification_preferences",
            Expr::col(("notification_preferences", "agent_id")).equals(("notifications", "agent_id")),
        )
        .and_where(Expr::col(("notifications", "id")).gt(high - LOOKBACK))
        .order_by(("notifications", "id"), Order::Asc)
        .limit(1000);
        db.fetch_all(&q).await
    }
}

/// The hub's reader as a background job (see `moon_jobs`): each step reads the notifications
/// committed since the last one and broadcasts them to the open streams.
pub struct HubJob {
    runtime: Arc<super::Runtime>,
    db: Db,
    /// The highest id seen; `None` until the first step has read where the table ends.
    high: Option<i64>,
    /// Ids already sent among the last few polls, oldest first in `order`.
    sent: BTreeSet<i64>,
    order: VecDeque<i64>,
}

impl HubJob {
    /// A job feeding `runtime`'s hub from `db`.
    pub fn new(runtime: Arc<super::Runtime>, db: Db) -> Self {
        Self { runtime, db, high: None, sent: BTreeSet::new(), order: VecDeque::new() }
    }
}

impl moon_jobs::Job for HubJob {
    async fn step(&mut self) -> anyhow::Result<moon_jobs::Step> {
        let high = match self.high {
            Some(h) => h,
            None => {
                // Streams show what is new from now on: start at the table's end.
                let mut q = Query::select();
                q.expr(Func::max(Expr::col("id"))).from("notifications");
                let r = self.db.fetch_optional::<(Option<i64>,)>(&q).await;
                let start =
                    r.map_err(|e| anyhow::Error::new(e).context("notification stream waiting for the database"))?;
                *self.high.insert(start.and_then(|(m,)| m).unwrap_or(0))
            }
        };
        let hub = &self.runtime.hub;
        let rows = hub
            .poll(&self.db, high)
            .await
            .map_err(|e| anyhow::Error::new(e).context("notification stream poll failed"))?;
        for row in rows {
            self.high = Some(std::cmp::max(self.high.unwrap_or(0), row.id));
            if !self.sent.insert(row.id) {
                continue;
            }
            self.order.push_back(row.id);
            while self.order.len() > 4 * LOOKBACK as usize {
                if let Some(old) = self.order.pop_front() {
                    self.sent.remove(&old);
                }
            }
            if row.stream == Some(false) {
                continue;
            }
            let item = Item {
                notification: Notification {
                    id: row.id,
                    agent_id: row.agent_id,
                    agent_code: row.agent_code,
                    user_id: row.user_id,
                    message: row.message,
                    kind: row.kind,
                    created_at: row.created_at,
                    read_at: row.read_at,
                },
                branch: row.branch.unwrap_or_default(),
            };
            // No receivers is fine: nobody has a stream open.
            let _ = hub.sender.send(Arc::new(item));
        }
        Ok(moon_jobs::Step::Idle)
    }
}

/// Who a stream is for: the caller's scope over agents' notifications, their user account,
/// and whether they asked for their own only (`mine`).
#[derive(Debug, Clone)]
pub struct Audience {
    /// The caller's scope over agents' notifications.
    pub scope: Scope,
    /// The caller's user account, if any.
    pub user_id: Option<i64>,
    /// Only what is the caller's own: an agent's own notifications, or those addressed to a
    /// staff member's account (the console's inbox).
    pub mine: bool,
}

/// Whether the stream's caller may see (and asked for) this notification: one addressed to a
/// user account only by that user; one to an agent by the agent and, unless `mine`, by whoever
/// has the agent in scope.
pub fn visible(who: &Audience, n: &Notification, branch: &str) -> bool {
    if let Some(u) = n.user_id {
        return who.user_id == Some(u);
    }
    match &who.scope {
        Scope::Agent(id) => Some(*id) == n.agent_id,
        _ if who.mine => false,
        Scope::All => true,
        Scope::Branch(b) => b == branch,
    }
}

/// Query of the stream.
#[derive(Debug, Default, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StreamParams {
    /// `true`: only what is addressed to the caller (their user account; an agent's own).
    pub mine: Option<bool>,
}

/// One notification as a server-sent event: name `notification`, id = the notification's id (so
/// a reconnecting browser sends it back as `Last-Event-ID`), data = its JSON.
fn event(n: &Notification) -> Event {
    event_with_id(n, n.id.to_string())
}

/// One notification as a server-sent event named `notification` with the given event id (the
/// console's stream carries two cursors in its ids).
pub fn event_with_id(n: &Notification, id: String) -> Event {
    Event::default()
        .event("notification")
        .id(id)
        .json_data(n)
        .unwrap_or_else(|_| Event::default().comment("unencodable notification"))
}

/// Most notifications replayed to a reconnecting client; the inbox has the rest.
pub const REPLAY: u32 = 200;

/// The notifications `who` may see with an id above `after`, oldest first, at most [`REPLAY`]:
/// what a stream that was away since `after` missed.
pub async fn missed(db: &Db, who: &Audience, after: i64) -> moon_http::ApiResult<Vec<Notification>> {
    let page = moon_http::Page { limit: REPLAY, after: Some(after), descending: false };
    let mut rows = super::repo::list(
        db,
        super::repo::Viewer { scope: &who.scope, user_id: who.user_id },
        &super::repo::NotificationQuery {
            // An agent's own are their agent's rows (the scope keeps to them); staff's own are
            // those addressed to their account.
            user_id: (who.mine && !matches!(who.scope, Scope::Agent(_))).then(|| who.user_id.unwrap_or(-1)),
            ..Default::default()
        },
        &page,
    )
    .await?;
    rows.truncate(REPLAY as usize);
    // The replay's rows were chosen by scope; the same visibility as the live ones.
    rows.retain(|n| n.user_id.is_some() || !who.mine || matches!(who.scope, Scope::Agent(_)));
    rows.retain(|n| n.user_id.is_none() || n.user_id == who.user_id);
    Ok(rows)
}

/// The newest notification's id (0 when there is none): where a page's stream starts, so a
/// notification written between the page and its stream opening is replayed, not lost.
pub async fn newest_id(db: &Db) -> Result<i64, moon_db::DbError> {
    let mut q = Query::select();
    q.expr(Func::max(Expr::col("id"))).from("notifications");
    Ok(db.fetch_optional::<(Option<i64>,)>(&q).await?.and_then(|(m,)| m).unwrap_or(0))
}

/// Live notifications (server-sent events, event `notification`, data: the notification's
/// JSON): an agent's own, a manager's branch, every agent's for admins, and what is addressed
/// to the caller's own user account (`mine=true`: only that). A client that reconnects with
/// `Last-Event-ID` first gets what it missed (up to 200), then the live ones.
#[utoipa::path(get, path = "/api/v1/notifications/stream", tag = "notifications",
    params(StreamParams, ("Last-Event-ID" = Option<i64>, Header, description = "The id of the last event received: replay what came after it")),
    responses((status = 200, description = "An event stream of notifications", content_type = "text/event-stream")))]
pub async fn stream(
    State(state): State<NotificationsState>,
    principal: Principal,
    headers: axum::http::HeaderMap,
    moon_http::ApiQuery(params): moon_http::ApiQuery<StreamParams>,
) -> moon_http::ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let who = Audience { scope: principal.scope.clone(), user_id: principal.user_id, mine: params.mine == Some(true) };
    // Subscribe before reading the replay, so nothing falls between the two.
    let rx = state.notifications.hub.subscribe();
    let stopping = state.notifications.stopping.subscribe();
    let last_seen =
        headers.get("last-event-id").and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<i64>().ok());
    let replay = match last_seen {
        Some(after) => missed(&state.db, &who, after).await?,
        None => Vec::new(),
    };
    // Live events at or below what was replayed were already sent.
    let floor = replay.last().map_or(last_seen.unwrap_or(0), |n| n.id);
    let replayed = futures_util::stream::iter(replay.iter().map(|n| Ok(event(n))).collect::<Vec<_>>());
    let live = futures_util::stream::unfold((rx, who, stopping), move |(mut rx, who, mut stopping)| async move {
        loop {
            if *stopping.borrow() {
                return None;
            }
            let received = tokio::select! {
                r = rx.recv() => r,
                _ = stopping.changed() => return None,
            };
            match received {
                Ok(item) if item.notification.id > floor && visible(&who, &item.notification, &item.branch) => {
                    return Some((Ok(event(&item.notification)), (rx, who, stopping)));
                }
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    // A slow client skips ahead; the inbox still has everything.
                    tracing::debug!(skipped = n, "notification stream client lagged");
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    });
    Ok(Sse::new(futures_util::StreamExt::chain(replayed, live))
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}
