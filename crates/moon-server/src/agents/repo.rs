//! The queries the agent component owns.

use moon_db::sea_query::{Expr, ExprTrait, Func, LikeExpr, Query, SelectStatement, Value};
use moon_db::{Db, DbError, RowStream, Tx, insert_row};

use super::model::{Agent, AgentChanges, NewAgent};
use moon_http::paging::{SortedPage, keyset_sorted};
use moon_http::{Page, Scope};

const COLUMNS: [&str; 14] = [
    "id",
    "agent_code",
    "first_name",
    "last_name",
    "branch",
    "team",
    "contact_number",
    "email",
    "active",
    "analytics_consent",
    "show_name_to_peers",
    "erased_at",
    "created_at",
    "updated_at",
];

/// Conditions of an agent listing, already validated.
#[derive(Debug, Default, Clone)]
pub struct AgentQuery {
    pub branch: Option<String>,
    pub team: Option<String>,
    pub agent_code: Option<String>,
    pub active: Option<bool>,
    pub search: Option<String>,
}

/// The condition on `agents` that keeps a principal to the agents it may see.
pub fn in_scope(scope: &Scope) -> Option<Expr> {
    match scope {
        Scope::All => None,
        Scope::Branch(b) => Some(Expr::col(("agents", "branch")).eq(b.as_str())),
        Scope::Agent(id) => Some(Expr::col(("agents", "id")).eq(*id)),
    }
}

fn base(scope: &Scope) -> SelectStatement {
    let mut q = Query::select();
    q.columns(COLUMNS.map(|c| ("agents", c))).from("agents").and_where_option(in_scope(scope));
    q
}

/// Ids of agents with `column = value`, as a subquery for `agent_id IN (…)` in the listings of
/// other components.
pub fn ids_where(column: &'static str, value: &str) -> SelectStatement {
    let mut q = Query::select();
    q.column("id").from("agents").and_where(Expr::col(column).eq(value));
    q
}

/// Escapes LIKE wildcards so a search for `50%` finds the text `50%`.
pub fn like_pattern(term: &str) -> LikeExpr {
    let escaped: String = term
        .to_lowercase()
        .chars()
        .flat_map(|c| match c {
            '%' | '_' | '!' => vec!['!', c],
            c => vec![c],
        })
        .collect();
    LikeExpr::new(format!("%{escaped}%")).escape('!')
}

/// One page of agents visible in `scope`, in id order.
pub async fn list(db: &Db, scope: &Scope, f: &AgentQuery, page: &Page) -> Result<Vec<Agent>, DbError> {
    list_sorted(db, scope, f, &SortedPage::by_id(*page)).await
}

/// One page of agents visible in `scope`, in the page's sort order, then id.
pub async fn list_sorted(db: &Db, scope: &Scope, f: &AgentQuery, page: &SortedPage) -> Result<Vec<Agent>, DbError> {
    db.fetch_all(&listing(scope, f, page)).await
}

/// Every agent visible in `scope` matching `f`, in id order, streamed from a cursor rather than
/// collected, for the original `/agent/get`, which lists them all.
pub fn stream(db: &Db, scope: &Scope, f: &AgentQuery) -> RowStream<Agent> {
    db.stream(&listing(scope, f, &SortedPage::by_id(Page::ALL)))
}

/// The query of [`list_sorted`] and [`stream`].
fn listing(scope: &Scope, f: &AgentQuery, page: &SortedPage) -> SelectStatement {
    let mut q = base(scope);
    if let Some(b) = &f.branch {
        q.and_where(Expr::col(("agents", "branch")).eq(b.as_str()));
    }
    if let Some(t) = &f.team {
        q.and_where(Expr::col(("agents", "team")).eq(t.as_str()));
    }
    if let Some(c) = &f.agent_code {
        q.and_where(Expr::col(("agents", "agent_code")).eq(c.as_str()));
    }
    if let Some(a) = f.active {
        q.and_where(Expr::col(("agents", "active")).eq(a));
    }
    if let Some(s) = &f.search {
        let pat = like_pattern(s);
        q.and_where(
            Expr::expr(Func::lower(Expr::col(("agents", "agent_code"))))
                .like(pat.clone())
                .or(Expr::expr(Func::lower(Expr::col(("agents", "first_name")))).like(pat.clone()))
                .or(Expr::expr(Func::lower(Expr::col(("agents", "last_name")))).like(pat)),
        );
    }
    keyset_sorted(&mut q, "agents", page);
    q
}

/// One agent by id, if visible in `scope`.
pub async fn get(db: &Db, scope: &Scope, id: i64) -> Result<Option<Agent>, DbError> {
    let mut q = base(scope);
    q.and_where(Expr::col(("agents", "id")).eq(id));
    db.fetch_optional(&q).await
}

/// One agent by code, if visible in `scope`.
pub async fn get_by_code(db: &Db, scope: &Scope, code: &str) -> Result<Option<Agent>, DbError> {
    let mut q = base(scope);
    q.and_where(Expr::col(("agents", "agent_code")).eq(code));
    db.fetch_optional(&q).await
}

/// One agent by code inside a transaction, if visible in `scope`.
pub async fn find_by_code(tx: &mut Tx, scope: &Scope, code: &str) -> Result<Option<Agent>, DbError> {
    let mut q = base(scope);
    q.and_where(Expr::col(("agents", "agent_code")).eq(code));
    tx.fetch_optional(&q).await
}

/// One agent by id inside a transaction, if visible in `scope`.
pub async fn find(tx: &mut Tx, scope: &Scope, id: i64) -> Result<Option<Agent>, DbError> {
    let mut q = base(scope);
    q.and_where(Expr::col(("agents", "id")).eq(id));
    tx.fetch_optional(&q).await
}

/// The attributes of an agent that KPIs group by, for the change log.
pub fn facts(a: &Agent) -> moon_changelog::AgentFacts {
    moon_changelog::AgentFacts {
        team: a.team.clone(),
        branch: a.branch.clone(),
        active: a.active,
        analytics_consent: a.analytics_consent,
        since: None,
    }
}

/// Inserts an agent and returns its id.
pub async fn insert(tx: &mut Tx, a: &NewAgent) -> Result<i64, DbError> {
    let now = moon_db::now();
    let stmt = insert_row(
        "agents",
        vec![
            ("agent_code", a.agent_code.as_str().into()),
            ("first_name", a.first_name.as_str().into()),
            ("last_name", a.last_name.as_str().into()),
            ("branch", a.branch.as_str().into()),
            ("team", a.team.as_str().into()),
            ("contact_number", a.contact_number.as_ref().map(|v| v.as_str().to_owned()).into()),
            ("email", a.email.as_ref().map(|v| v.as_str().to_owned()).into()),
            ("active", a.active.into()),
            ("analytics_consent", a.analytics_consent.into()),
            ("show_name_to_peers", a.show_name_to_peers.into()),
            ("created_at", now.into()),
            ("updated_at", now.into()),
        ],
    );
    tx.insert(&stmt).await
}

/// Applies changes to an agent; returns false if there was no such row.
pub async fn update(tx: &mut Tx, id: i64, c: &AgentChanges) -> Result<bool, DbError> {
    let mut values: Vec<(&str, Value)> = Vec::new();
    let text = |v: &dyn std::fmt::Display| Value::from(v.to_string());
    if let Some(v) = &c.agent_code {
        values.push(("agent_code", text(v)));
    }
    if let Some(v) = &c.first_name {
        values.push(("first_name", text(v)));
    }
    if let Some(v) = &c.last_name {
        values.push(("last_name", text(v)));
    }
    if let Some(v) = &c.branch {
        values.push(("branch", text(v)));
    }
    if let Some(v) = &c.team {
        values.push(("team", text(v)));
    }
    if let Some(v) = &c.contact_number {
        values.push(("contact_number", v.as_ref().map(|p| p.as_str().to_owned()).into()));
    }
    if let Some(v) = &c.email {
        values.push(("email", v.as_ref().map(|p| p.as_str().to_owned()).into()));
    }
    if let Some(v) = c.active {
        values.push(("active", v.into()));
    }
    if let Some(v) = c.analytics_consent {
        values.push(("analytics_consent", v.into()));
    }
    if let Some(v) = c.show_name_to_peers {
        values.push(("show_name_to_peers", v.into()));
    }
    values.push(("updated_at", moon_db::now().into()));
    let mut q = Query::update();
    q.table("agents").values(values.into_iter().map(|(c, v)| (c, Expr::val(v)))).and_where(Expr::col("id").eq(id));
    Ok(tx.execute(&q).await? > 0)
}

/// Replaces an agent's personal fields and withdraws their analytics consent; the record, its
/// code and its sales stay. Returns false if there was no such row.
pub async fn erase(tx: &mut Tx, id: i64) -> Result<bool, DbError> {
    let now = moon_db::now();
    let mut q = Query::update();
    q.table("agents")
        .values([
            ("first_name", Expr::val(ERASED)),
            ("last_name", Expr::val(ERASED)),
            ("contact_number", Expr::val(Option::<String>::None)),
            ("email", Expr::val(Option::<String>::None)),
            ("analytics_consent", Expr::val(false)),
            ("show_name_to_peers", Expr::val(false)),
            ("erased_at", Expr::val(now)),
            ("updated_at", Expr::val(now)),
        ])
        .and_where(Expr::col("id").eq(id));
    Ok(tx.execute(&q).await? > 0)
}

/// What an erased agent's names read.
pub const ERASED: &str = "[erased]";

/// Deletes an agent (and, by cascade, their notifications); returns false if there was no row.
/// An agent some sale names is kept by that reference: [`DbError::ForeignKeyViolation`].
pub async fn delete(tx: &mut Tx, id: i64) -> Result<bool, DbError> {
    let mut q = Query::delete();
    q.from_table("agents").and_where(Expr::col("id").eq(id));
    Ok(tx.execute(&q).await? > 0)
}

/// First names of these agents by id, for addressing notifications (unknown ids are left out).
pub async fn first_names(
    tx: &mut Tx,
    ids: &std::collections::BTreeSet<i64>,
) -> Result<std::collections::HashMap<i64, String>, DbError> {
    if ids.is_empty() {
        return Ok(std::collections::HashMap::new());
    }
    let mut q = Query::select();
    q.columns(["id", "first_name"]).from("agents").and_where(Expr::col("id").is_in(ids.iter().copied()));
    Ok(tx.fetch_all::<(i64, String)>(&q).await?.into_iter().collect())
}

/// The branches that have an active agent.
pub async fn active_branches(tx: &mut Tx) -> Result<Vec<String>, DbError> {
    let mut q = Query::select();
    q.distinct().column("branch").from("agents").and_where(Expr::col("active").eq(true));
    Ok(tx.fetch_all::<(String,)>(&q).await?.into_iter().map(|(b,)| b).collect())
}

/// Active agents as (id, first name), in one branch or (`None`) the whole company.
pub async fn active_first_names(tx: &mut Tx, branch: Option<&str>) -> Result<Vec<(i64, String)>, DbError> {
    let mut q = Query::select();
    q.columns(["id", "first_name"]).from("agents").and_where(Expr::col("active").eq(true));
    if let Some(b) = branch {
        q.and_where(Expr::col("branch").eq(b));
    }
    tx.fetch_all(&q).await
}

/// One change of a consent flag, as `agent_consent_history` keeps it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct ConsentChange {
    /// Which flag: `analytics_consent` or `show_name_to_peers`.
    pub field: String,
    /// The value before (`null` when the agent was created with it).
    pub old_value: Option<bool>,
    /// The value after.
    pub new_value: bool,
    /// Who changed it (`user:<id>`, `operator`).
    pub changed_by: String,
    /// The action that changed it, such as `agent.update`.
    pub action: String,
    /// When (UTC).
    pub changed_at: chrono::DateTime<chrono::Utc>,
}

/// Records, in the caller's transaction, each consent flag that differs between `before` (none
/// for a new agent) and `after`, so the history can never disagree with the change it describes.
pub async fn record_consent(
    tx: &mut Tx,
    before: Option<&Agent>,
    after: &Agent,
    by: &str,
    action: &str,
) -> Result<(), DbError> {
    let now = moon_db::now();
    let flags = [
        ("analytics_consent", before.map(|b| b.analytics_consent), after.analytics_consent),
        ("show_name_to_peers", before.map(|b| b.show_name_to_peers), after.show_name_to_peers),
    ];
    for (field, old, new) in flags {
        if old == Some(new) {
            continue;
        }
        let stmt = insert_row(
            "agent_consent_history",
            vec![
                ("agent_id", after.id.into()),
                ("field", field.into()),
                ("old_value", old.into()),
                ("new_value", new.into()),
                ("changed_by", by.into()),
                ("action", action.into()),
                ("changed_at", now.into()),
            ],
        );
        tx.insert(&stmt).await?;
    }
    Ok(())
}

/// An agent's consent history, oldest first.
pub async fn consent_history(db: &Db, agent_id: i64) -> Result<Vec<ConsentChange>, DbError> {
    let mut q = Query::select();
    q.columns(["field", "old_value", "new_value", "changed_by", "action", "changed_at"])
        .from("agent_consent_history")
        .and_where(Expr::col("agent_id").eq(agent_id))
        .order_by("id", moon_db::sea_query::Order::Asc);
    db.fetch_all(&q).await
}

/// Ids of the active agents in these branches (all when `None`) and, if given, this team: the
/// recipients of a broadcast.
pub async fn active_in(tx: &mut Tx, branches: Option<&[String]>, team: Option<&str>) -> Result<Vec<i64>, DbError> {
    let mut q = Query::select();
    q.column("id")
        .from("agents")
        .and_where(Expr::col("active").eq(true))
        .order_by("id", moon_db::sea_query::Order::Asc);
    if let Some(bs) = branches {
        q.and_where(Expr::col("branch").is_in(bs.iter().map(String::as_str)));
    }
    if let Some(t) = team {
        q.and_where(Expr::col("team").eq(t));
    }
    Ok(tx.fetch_all::<(i64,)>(&q).await?.into_iter().map(|(id,)| id).collect())
}
