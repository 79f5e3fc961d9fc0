//! Live console views without polling: one server-sent event stream per open page
//! (`GET /live/events`) that names what changed, never the data, so the page refetches only the
//! fragment it shows, and an ETag that makes an unchanged fragment a `304`.
//!
//! - **One reader per process.** [`LiveJob`] is woken right after a commit that wrote the change
//!   log (and after each warehouse refresh), reads the new entries once and broadcasts one small
//!   [`Change`] to every open stream through a tokio broadcast channel. An open stream costs a
//!   channel receiver and a heartbeat, whatever the data size; no stream reads the database
//!   while it is idle.
//! - **Visible, not merely committed.** The dashboard and the homes read the KPI warehouse, which
//!   the aggregator fills from the change log a moment after the commit. A change is announced
//!   once the warehouse reflects it (its cursor), so the refetch shows it.
//! - **Two cursors in every event id**, `C.N`: the last change-log entry and the last
//!   notification the page has. A page embeds the pair it was rendered at and opens its stream
//!   from there; a reconnecting browser sends the pair back as `Last-Event-ID`. What was missed
//!   is replayed: the notifications themselves (up to [`crate::notifications::stream::REPLAY`]),
//!   and for figures one `change` event that tells the page to refetch.
//!
//! Why server-sent events and this fan-out: docs/adr/0023-live-console-events.md.

use std::collections::BTreeSet;
use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use maud::Markup;
use moon_changelog::Event as Logged;
use moon_db::Db;
use moon_http::{ApiError, Principal, Scope};
use serde::Deserialize;
use tokio::sync::{Notify, broadcast, watch};

use crate::notifications::Notification;
use crate::notifications::stream::{self as inbox_stream, Item};
use crate::web::WebState;

/// Most change-log entries read per step; more waiting makes the job step again at once.
const BATCH: u64 = 1000;
/// How often an idle stream sends a comment, so proxies and load balancers keep it open.
const HEARTBEAT: Duration = Duration::from_secs(15);

/// What a batch of committed changes touched: enough to tell whose views may have changed,
/// nothing a viewer could not see anyway (no amounts, no names).
#[derive(Debug, Clone, Default)]
pub struct Change {
    /// The newest change-log entry in the batch.
    pub id: i64,
    /// The kinds of record changed: `sale`, `agent`, `product`, `target`, `reload`.
    pub kinds: BTreeSet<&'static str>,
    /// The branches whose figures changed.
    pub branches: BTreeSet<String>,
    /// Something changed that may move every view (a product, a company or team target, a bulk
    /// load, or entries that were pruned before they were read).
    pub everywhere: bool,
}

impl Change {
    fn add(&mut self, event: &Logged) {
        let mut branch = |b: Option<&str>| {
            if let Some(b) = b {
                self.branches.insert(b.to_owned());
            }
        };
        let kind = match event {
            Logged::Sale { before, after, .. } => {
                branch(before.as_ref().map(|f| f.branch.as_str()));
                branch(after.as_ref().map(|f| f.branch.as_str()));
                "sale"
            }
            Logged::Agent { before, after, .. } => {
                branch(before.as_ref().map(|f| f.branch.as_str()));
                branch(after.as_ref().map(|f| f.branch.as_str()));
                "agent"
            }
            Logged::Target { before, after, .. } => {
                for facts in [before, after].into_iter().flatten() {
                    if facts.scope_kind == "branch" {
                        self.branches.insert(facts.scope_key.clone());
                    } else {
                        // A team, region, company or agent target: the branch is not in the entry.
                        self.everywhere = true;
                    }
                }
                "target"
            }
            Logged::Product { .. } => {
                self.everywhere = true;
                "product"
            }
            Logged::Reload => {
                self.everywhere = true;
                "reload"
            }
            // A kind a newer release writes: nothing this release shows depends on it.
            Logged::Unknown { .. } => return,
        };
        self.kinds.insert(kind);
    }

    /// Whether a viewer with `scope` may have a view this change moved: a manager hears of their
    /// branch (and of what moves everything); agents and company-wide viewers of everything (an
    /// agent's rank moves with any sale). The event carries no branch, so nothing leaks.
    pub fn concerns(&self, scope: &Scope) -> bool {
        match scope {
            Scope::Branch(mine) => self.everywhere || self.branches.iter().any(|b| b.eq_ignore_ascii_case(mine)),
            Scope::All | Scope::Agent(_) => true,
        }
    }
}

/// The process's fan-out point for console views: one broadcast of change batches, the entry
/// every view may show by now, and what wakes the reader.
#[derive(Debug)]
pub struct LiveHub {
    sender: broadcast::Sender<Arc<Change>>,
    wake: Arc<Notify>,
    visible: AtomicI64,
}

impl Default for LiveHub {
    fn default() -> Self {
        Self { sender: broadcast::channel(256).0, wake: Arc::new(Notify::new()), visible: AtomicI64::new(0) }
    }
}

impl LiveHub {
    /// What wakes the reader: a commit that wrote the change log, a warehouse refresh.
    pub fn wake_signal(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// The newest change-log entry the views reflect and the streams were told of.
    pub fn visible(&self) -> i64 {
        self.visible.load(Ordering::Acquire)
    }

    /// A receiver of every batch from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Change>> {
        self.sender.subscribe()
    }

    /// Announces `change` and makes its id the visible one.
    fn publish(&self, change: Change) {
        self.visible.fetch_max(change.id, Ordering::AcqRel);
        // No receivers is fine: no console view is open.
        let _ = self.sender.send(Arc::new(change));
    }
}

/// The hub's reader as a background job: each step reads the change-log entries the views
/// reflect now and were not announced yet, and broadcasts them as one [`Change`].
pub struct LiveJob {
    hub: Arc<LiveHub>,
    db: Db,
    warehouse: Option<moon_analytics::Warehouse>,
    /// The newest entry announced; `None` until the first step has read where the log is.
    high: Option<i64>,
}

impl LiveJob {
    /// A job feeding `hub` from `db`; with a warehouse, an entry is announced once it reflects it.
    pub fn new(hub: Arc<LiveHub>, db: Db, warehouse: Option<moon_analytics::Warehouse>) -> Self {
        Self { hub, db, warehouse, high: None }
    }

    /// The newest entry every view can show: the log's end, or the warehouse's cursor if older.
    async fn reflected(&self) -> anyhow::Result<i64> {
        use anyhow::Context;
        let last = moon_changelog::last_id(&self.db).await.context("live views reading the change log's end")?;
        Ok(match &self.warehouse {
            Some(wh) => {
                let applied = wh.applied_id().await.context("live views reading the warehouse cursor")?;
                std::cmp::min(last, applied.unwrap_or(0))
            }
            None => last,
        })
    }
}

impl moon_jobs::Job for LiveJob {
    async fn step(&mut self) -> anyhow::Result<moon_jobs::Step> {
        use anyhow::Context;
        let reflected = self.reflected().await?;
        let Some(high) = self.high else {
            // Streams hear what is new from now on; a page rendered earlier asks with its cursor.
            self.high = Some(reflected);
            self.hub.visible.fetch_max(reflected, Ordering::AcqRel);
            return Ok(moon_jobs::Step::Idle);
        };
        if reflected <= high {
            return Ok(moon_jobs::Step::Idle);
        }
        if self.hub.sender.receiver_count() == 0 {
            // No view is open: nothing to read the entries for. A stream opening meanwhile
            // either finds `visible` moved (and refetches) or hears this "reload" and refetches.
            let mut change = Change { id: reflected, everywhere: true, ..Change::default() };
            change.kinds.insert("reload");
            self.high = Some(reflected);
            self.hub.publish(change);
            return Ok(moon_jobs::Step::Idle);
        }
        let entries =
            moon_changelog::read_after(&self.db, high, BATCH).await.context("live views reading the change log")?;
        let mut change = Change { id: high, ..Change::default() };
        let mut read = 0;
        for entry in entries.iter().take_while(|e| e.id <= reflected) {
            if entry.id != change.id + 1 {
                // Entries in between were pruned before this process read them.
                change.everywhere = true;
            }
            change.add(&entry.event);
            change.id = entry.id;
            read += 1;
        }
        let more = read as u64 == BATCH;
        if read == 0 {
            // Everything up to `reflected` was pruned: say so, views refetch.
            change.everywhere = true;
            change.kinds.insert("reload");
            change.id = reflected;
        }
        self.high = Some(change.id);
        self.hub.publish(change);
        Ok(if more { moon_jobs::Step::More } else { moon_jobs::Step::Idle })
    }
}

/// Where a stream starts or resumes: the newest change-log entry and notification the page has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    /// The newest change-log entry the page reflects.
    pub change: i64,
    /// The newest notification the page has.
    pub notification: i64,
}

impl Cursor {
    /// Reads `C.N` (two non-negative integers), as pages embed it and event ids carry it.
    pub fn parse(text: &str) -> Option<Self> {
        let (c, n) = text.trim().split_once('.')?;
        let (change, notification) = (c.parse::<i64>().ok()?, n.parse::<i64>().ok()?);
        (change >= 0 && notification >= 0).then_some(Self { change, notification })
    }

    /// The cursor a page rendered now embeds.
    pub async fn now(state: &WebState) -> Result<Self, ApiError> {
        let notification = if state.serves_notifications {
            inbox_stream::newest_id(&state.db).await.map_err(crate::error::Error::from)?
        } else {
            0
        };
        Ok(Self { change: state.live.visible(), notification })
    }
}

impl std::fmt::Display for Cursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.change, self.notification)
    }
}

/// The stream's query string.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventsQuery {
    /// The cursor the page was rendered at (`C.N`); `Last-Event-ID`, when sent, wins.
    from: Option<String>,
}

/// A `change` event: the newest entry, the kinds of record changed, whether the page missed
/// some (then it simply refetches).
fn change_event(cursor: Cursor, kinds: &BTreeSet<&'static str>, missed: bool) -> Event {
    let data = serde_json::json!({ "change": cursor.change, "kinds": kinds, "missed": missed });
    Event::default().event("change").id(cursor.to_string()).data(data.to_string())
}

/// What a stream holds between events.
struct Open {
    cursor: Cursor,
    scope: Scope,
    /// Whose notifications the page shows: an agent's own; for staff, those addressed to their
    /// account and those of the agents in their scope.
    audience: inbox_stream::Audience,
    changes: broadcast::Receiver<Arc<Change>>,
    /// `None` once the notification hub is gone (this process serves no notifications).
    notes: Option<broadcast::Receiver<Arc<Item>>>,
    stopping: watch::Receiver<bool>,
    hub: Arc<LiveHub>,
}

impl Open {
    /// The next event for this viewer, or `None` when the server stops.
    async fn next(&mut self) -> Option<Event> {
        loop {
            if *self.stopping.borrow() {
                return None;
            }
            tokio::select! {
                r = self.changes.recv() => match r {
                    Ok(change) if change.id > self.cursor.change => {
                        self.cursor.change = change.id;
                        if change.concerns(&self.scope) {
                            return Some(change_event(self.cursor, &change.kinds, false));
                        }
                    }
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        // Batches were skipped: the page refetches once.
                        self.cursor.change = std::cmp::max(self.cursor.change, self.hub.visible());
                        return Some(change_event(self.cursor, &BTreeSet::new(), true));
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                },
                r = next_note(&mut self.notes) => match r {
                    Ok(item) if item.notification.id > self.cursor.notification
                        && inbox_stream::visible(&self.audience, &item.notification, &item.branch) => {
                        self.cursor.notification = item.notification.id;
                        return Some(inbox_stream::event_with_id(&item.notification, self.cursor.to_string()));
                    }
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        // The inbox still has everything; the badge catches up on the next page.
                        tracing::debug!(skipped = n, "console stream lagged behind notifications");
                    }
                    // No notifications any more: only figures are live.
                    Err(broadcast::error::RecvError::Closed) => self.notes = None,
                },
                _ = self.stopping.changed() => return None,
            }
        }
    }
}

/// The next notification broadcast, or never when there is no hub to hear from.
async fn next_note(
    notes: &mut Option<broadcast::Receiver<Arc<Item>>>,
) -> Result<Arc<Item>, broadcast::error::RecvError> {
    match notes {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// `GET /live/events?from=C.N`: the console's live stream (server-sent events). `change`: the
/// figures a view shows may have moved (data: `{"change": id, "kinds": [...], "missed": bool}`);
/// `notification`: a notification the viewer may see (data: its JSON). Every event's id is the
/// cursor `C.N` to resume from; a comment every 15 s keeps proxies from closing an idle stream.
pub async fn events(
    State(state): State<WebState>,
    principal: Principal,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let q: EventsQuery = serde_urlencoded::from_str(raw.as_deref().unwrap_or_default())
        .map_err(|e| ApiError::bad_request("invalid_query", format!("the stream does not know a parameter: {e}")))?;
    // Subscribe before reading what was missed, so nothing falls between the two.
    let changes = state.live.subscribe();
    let notes = state.notify.notifications.hub.subscribe();
    let stopping = state.notify.notifications.stopping.subscribe();
    let resume = headers.get("last-event-id").and_then(|v| v.to_str().ok()).and_then(Cursor::parse);
    let from = match (resume, q.from.as_deref()) {
        (Some(c), _) => c,
        (None, Some(text)) => Cursor::parse(text).ok_or_else(|| {
            ApiError::validation(vec![moon_domain::FieldError::new(
                "from",
                "invalid",
                "from must be two whole numbers joined by a dot, as the page gives it",
            )])
        })?,
        (None, None) => Cursor::now(&state).await?,
    };
    let mut cursor = from;
    let mut first: Vec<Result<Event, Infallible>> = Vec::new();
    let visible = state.live.visible();
    if visible > cursor.change {
        cursor.change = visible;
        first.push(Ok(change_event(cursor, &BTreeSet::new(), true)));
    }
    // An agent hears their own notifications; staff hear those addressed to their account and
    // those of the agents in their scope (a manager: their branch's milestones).
    let audience = inbox_stream::Audience { scope: principal.scope.clone(), user_id: principal.user_id, mine: false };
    // A wallboard screen hears its branch's changes only: notifications name people and are
    // nothing a TV shows.
    let hears_notes = principal.role != moon_http::Role::Wallboard;
    if state.serves_notifications && hears_notes {
        for n in inbox_stream::missed(&state.db, &audience, cursor.notification).await? {
            cursor.notification = std::cmp::max(cursor.notification, n.id);
            first.push(Ok(notification_event(&n, cursor)));
        }
    }
    let open = Open {
        cursor,
        scope: principal.scope.clone(),
        audience,
        changes,
        notes: hears_notes.then_some(notes),
        stopping,
        hub: state.live.clone(),
    };
    let live = futures_util::stream::unfold(open, |mut open| async move {
        let event = open.next().await?;
        Some((Ok::<_, Infallible>(event), open))
    });
    let body = futures_util::StreamExt::chain(futures_util::stream::iter(first), live);
    let mut res = Sse::new(body).keep_alive(KeepAlive::new().interval(HEARTBEAT)).into_response();
    // nginx (and ingress-nginx) would otherwise buffer the stream and deliver events in lumps.
    res.headers_mut().insert("x-accel-buffering", HeaderValue::from_static("no"));
    res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(res)
}

fn notification_event(n: &Notification, cursor: Cursor) -> Event {
    inbox_stream::event_with_id(n, cursor.to_string())
}

/// The version of everything a live fragment reads: the business date and the newest change
/// the views reflect. It starts each fragment's ETag, so a refetch with nothing new since costs a
/// `304` without rendering.
pub fn version(state: &WebState) -> String {
    format!("{}.{}", crate::sales::today(&state.calendar), state.live.visible())
}

/// `304 Not Modified` when the page already has the fragment of this `version` (its
/// `If-None-Match` names it): nothing that fragment reads has changed since.
pub fn unchanged(headers: &HeaderMap, version: &str) -> Option<Response> {
    let sent = headers.get(header::IF_NONE_MATCH)?.to_str().ok()?;
    let prefix = format!("W/\"{version}-");
    sent.split(',').any(|t| t.trim().starts_with(&prefix)).then(|| not_modified(sent.trim()))
}

fn not_modified(tag: &str) -> Response {
    let mut res = StatusCode::NOT_MODIFIED.into_response();
    if let Ok(v) = HeaderValue::from_str(tag) {
        res.headers_mut().insert(header::ETAG, v);
    }
    res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// A rendered fragment with its ETag (`W/"<version>-<digest of the HTML>"`): `304` without a
/// body when `If-None-Match` already names it (the figures moved elsewhere, not in this view).
pub fn tagged(headers: &HeaderMap, version: &str, status: StatusCode, markup: Markup) -> Response {
    use sha2::Digest;
    let html = markup.into_string();
    if status != StatusCode::OK {
        return html_response(status, html);
    }
    let digest = sha2::Sha256::digest(html.as_bytes());
    let short: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    let tag = format!("W/\"{version}-{short}\"");
    let sent = headers.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()).unwrap_or_default();
    if sent.split(',').any(|t| t.trim() == tag) {
        return not_modified(&tag);
    }
    let mut res = html_response(status, html);
    if let Ok(v) = HeaderValue::from_str(&tag) {
        res.headers_mut().insert(header::ETAG, v);
    }
    res
}

/// An HTML fragment with the headers of the console's pages, built here so that this module needs
/// nothing of the page layout (which reads this module's cursor for every page).
fn html_response(status: StatusCode, html: String) -> Response {
    let mut res = (status, html).into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_anything_else() {
        let c = Cursor { change: 12, notification: 3 };
        assert_eq!(Cursor::parse(&c.to_string()), Some(c));
        for bad in ["", "12", "12.", ".3", "-1.3", "1.-3", "a.b", "1.2.3", "99999999999999999999.1"] {
            assert_eq!(Cursor::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_manager_hears_of_their_branch_and_of_what_moves_everything() {
        let mut c = Change { id: 5, ..Change::default() };
        c.branches.insert(String::from("Colombo"));
        assert!(c.concerns(&Scope::Branch(String::from("Colombo"))));
        assert!(!c.concerns(&Scope::Branch(String::from("Jaffna"))));
        assert!(c.concerns(&Scope::All));
        c.everywhere = true;
        assert!(c.concerns(&Scope::Branch(String::from("Jaffna"))));
    }
}
