//! The queries the notification component owns.

use chrono::{DateTime, Utc};
use moon_db::sea_query::{Expr, ExprTrait, Order, Query, SelectStatement, Value};
use moon_db::{Db, DbError, RowStream, Tx};

use super::Notification;
use moon_http::paging::keyset;
use moon_http::{Page, Scope};

/// Who a notification is for: an agent, or a user account (a manager need not be an agent).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Recipient {
    /// An agent, by id.
    Agent(i64),
    /// A user account, by id.
    User(i64),
}

impl Recipient {
    /// A short stable key (`a12`, `u3`) for dedupe keys.
    pub fn key(self) -> String {
        match self {
            Recipient::Agent(id) => format!("a{id}"),
            Recipient::User(id) => format!("u{id}"),
        }
    }
}

/// Conditions of a notification listing.
#[derive(Debug, Default, Clone)]
pub struct NotificationQuery {
    /// Only this agent's (code).
    pub agent_code: Option<String>,
    /// Only this agent's (id).
    pub agent_id: Option<i64>,
    /// Only unread (`true`) or only read (`false`).
    pub unread: Option<bool>,
    /// Only this kind.
    pub kind: Option<String>,
    /// Only notifications addressed to this user account (a manager's own inbox).
    pub user_id: Option<i64>,
    /// Only notifications addressed to agents (the original routes, whose rows name an agent).
    pub agents_only: bool,
}

/// Who is looking: the principal's scope over agents' notifications, and the user account
/// whose own notifications (addressed to the user, not to an agent) it also sees.
#[derive(Debug, Clone, Copy)]
pub struct Viewer<'a> {
    /// Which agents' notifications are visible.
    pub scope: &'a Scope,
    /// The viewer's user account, if any.
    pub user_id: Option<i64>,
}

impl Viewer<'static> {
    /// Everything (jobs, and reading back a row a use case just wrote).
    pub const ALL: Viewer<'static> = Viewer { scope: &Scope::All, user_id: None };
}

impl<'a> From<&'a moon_http::Principal> for Viewer<'a> {
    fn from(p: &'a moon_http::Principal) -> Self {
        Viewer { scope: &p.scope, user_id: p.user_id }
    }
}

/// The condition on `notifications` that keeps a viewer to the rows it may see: a branch sees
/// its agents' notifications, an agent their own, and everyone what is addressed to their user
/// account.
pub(super) fn in_scope(viewer: Viewer<'_>) -> Option<Expr> {
    let agents = match viewer.scope {
        Scope::All => return None,
        Scope::Branch(b) => {
            Expr::col(("notifications", "agent_id")).in_subquery(crate::agents::repo::ids_where("branch", b))
        }
        Scope::Agent(id) => Expr::col(("notifications", "agent_id")).eq(*id),
    };
    Some(match viewer.user_id {
        Some(u) => agents.or(Expr::col(("notifications", "user_id")).eq(u)),
        None => agents,
    })
}

fn base(viewer: Viewer<'_>) -> SelectStatement {
    let mut q = Query::select();
    q.columns(COLUMNS.map(|c| ("notifications", c)))
        .column(("agents", "agent_code"))
        .from("notifications")
        .left_join("agents", Expr::col(("agents", "id")).equals(("notifications", "agent_id")));
    q.and_where_option(in_scope(viewer));
    q
}

const COLUMNS: [&str; 7] = ["id", "agent_id", "user_id", "message", "kind", "created_at", "read_at"];

/// One page of notifications visible in `scope`. As for sales, the page is chosen from the
/// notifications table alone and then joined for the agent codes, so no backend sorts the whole
/// table before the LIMIT.
pub async fn list(
    db: &Db,
    viewer: Viewer<'_>,
    f: &NotificationQuery,
    page: &Page,
) -> Result<Vec<Notification>, DbError> {
    db.fetch_all(&listing(viewer, f, page)).await
}

/// Every notification visible in `scope` matching `f`, in id order, streamed from a cursor
/// rather than collected, for the original `/notification/get`, which lists them all.
pub fn stream(db: &Db, viewer: Viewer<'_>, f: &NotificationQuery) -> RowStream<Notification> {
    db.stream(&listing(viewer, f, &Page::ALL))
}

/// The query of [`list`] and [`stream`].
fn listing(viewer: Viewer<'_>, f: &NotificationQuery, page: &Page) -> SelectStatement {
    let mut inner = Query::select();
    inner.columns(COLUMNS.map(|c| ("notifications", c))).from("notifications");
    inner.and_where_option(in_scope(viewer));
    if let Some(u) = f.user_id {
        inner.and_where(Expr::col(("notifications", "user_id")).eq(u));
    }
    if f.agents_only {
        inner.and_where(Expr::col(("notifications", "agent_id")).is_not_null());
    }
    if let Some(v) = &f.agent_code {
        inner.and_where(
            Expr::col(("notifications", "agent_id")).in_subquery(crate::agents::repo::ids_where("agent_code", v)),
        );
    }
    if let Some(v) = f.agent_id {
        inner.and_where(Expr::col(("notifications", "agent_id")).eq(v));
    }
    match f.unread {
        Some(true) => {
            inner.and_where(Expr::col(("notifications", "read_at")).is_null());
        }
        Some(false) => {
            inner.and_where(Expr::col(("notifications", "read_at")).is_not_null());
        }
        None => {}
    }
    if let Some(v) = &f.kind {
        inner.and_where(Expr::col(("notifications", "kind")).eq(v.as_str()));
    }
    keyset(&mut inner, ("notifications", "id"), page);
    let mut q = Query::select();
    q.columns(COLUMNS.map(|c| ("n", c)))
        .column(("agents", "agent_code"))
        .from_subquery(inner, "n")
        .left_join("agents", Expr::col(("agents", "id")).equals(("n", "agent_id")))
        .order_by(("n", "id"), if page.descending { Order::Desc } else { Order::Asc });
    q
}

/// One notification by id, if visible.
pub async fn get(db: &Db, viewer: Viewer<'_>, id: i64) -> Result<Option<Notification>, DbError> {
    let mut q = base(viewer);
    q.and_where(Expr::col(("notifications", "id")).eq(id));
    db.fetch_optional(&q).await
}

/// One notification by id inside a transaction, if visible.
pub async fn find(tx: &mut Tx, viewer: Viewer<'_>, id: i64) -> Result<Option<Notification>, DbError> {
    let mut q = base(viewer);
    q.and_where(Expr::col(("notifications", "id")).eq(id));
    tx.fetch_optional(&q).await
}

/// Changes the message and/or the read state.
pub async fn update(
    tx: &mut Tx,
    id: i64,
    message: Option<&str>,
    read_at: Option<Option<DateTime<Utc>>>,
) -> Result<bool, DbError> {
    let mut values: Vec<(&str, Value)> = Vec::new();
    if let Some(m) = message {
        values.push(("message", m.into()));
    }
    if let Some(r) = read_at {
        values.push(("read_at", Value::ChronoDateTimeUtc(r)));
    }
    if values.is_empty() {
        return Ok(true);
    }
    let mut q = Query::update();
    q.table("notifications")
        .values(values.into_iter().map(|(c, v)| (c, Expr::val(v))))
        .and_where(Expr::col("id").eq(id));
    Ok(tx.execute(&q).await? > 0)
}

/// Deletes notifications read before `before` (retention; their deliveries go with them).
/// Unread ones stay, however old: the agent has not seen them yet. Returns how many went.
pub async fn prune_read(db: &Db, before: DateTime<Utc>) -> Result<u64, DbError> {
    let mut del = Query::delete();
    del.from_table("notifications").and_where(Expr::col("read_at").lt(before));
    let mut tx = db.begin().await?;
    let n = tx.execute(&del).await?;
    tx.commit().await?;
    Ok(n)
}
