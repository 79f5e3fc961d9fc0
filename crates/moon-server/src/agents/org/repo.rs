//! The queries on `org_units` and `agent_memberships`.

use chrono::NaiveDate;
use moon_db::sea_query::{Expr, ExprTrait, Query, SelectStatement, Value};
use moon_db::{Db, DbError, Tx, insert_row};
use moon_http::Page;
use moon_http::paging::keyset;

use super::model::{Membership, Unit, UnitKind, fold};

/// A unit with its region's code (`region`), read by a correlated subquery.
fn base() -> SelectStatement {
    let mut parent = Query::select();
    parent
        .column(("p", "code"))
        .from_as("org_units", "p")
        .and_where(Expr::col(("p", "id")).equals(("org_units", "parent_id")));
    let mut q = Query::select();
    q.columns(["id", "kind", "code", "name", "active", "created_at", "updated_at"].map(|c| ("org_units", c)))
        .expr_as(Expr::SubQuery(None, Box::new(parent.into())), "region")
        .from("org_units");
    q
}

/// One page of the units of a kind, by id.
pub async fn list(db: &Db, kind: UnitKind, active: Option<bool>, page: &Page) -> Result<Vec<Unit>, DbError> {
    let mut q = base();
    q.and_where(Expr::col(("org_units", "kind")).eq(kind.as_str()));
    if let Some(a) = active {
        q.and_where(Expr::col(("org_units", "active")).eq(a));
    }
    keyset(&mut q, ("org_units", "id"), page);
    db.fetch_all(&q).await
}

/// Every unit of a kind, by code; the organisation is small (hundreds of units, not millions).
pub async fn all(tx: &mut Tx, kind: UnitKind) -> Result<Vec<Unit>, DbError> {
    let mut q = base();
    q.and_where(Expr::col(("org_units", "kind")).eq(kind.as_str()))
        .order_by(("org_units", "code"), moon_db::sea_query::Order::Asc);
    tx.fetch_all(&q).await
}

/// One unit by id.
pub async fn get(db: &Db, kind: UnitKind, id: i64) -> Result<Option<Unit>, DbError> {
    let mut q = base();
    q.and_where(Expr::col(("org_units", "kind")).eq(kind.as_str())).and_where(Expr::col(("org_units", "id")).eq(id));
    db.fetch_optional(&q).await
}

/// One unit by id inside a transaction.
pub async fn find(tx: &mut Tx, kind: UnitKind, id: i64) -> Result<Option<Unit>, DbError> {
    let mut q = base();
    q.and_where(Expr::col(("org_units", "kind")).eq(kind.as_str())).and_where(Expr::col(("org_units", "id")).eq(id));
    tx.fetch_optional(&q).await
}

/// The unit a person's reference names: its code or its name, in any case and spacing.
pub async fn find_by_reference(tx: &mut Tx, kind: UnitKind, reference: &str) -> Result<Option<Unit>, DbError> {
    let key = fold(reference);
    let mut q = base();
    q.and_where(Expr::col(("org_units", "kind")).eq(kind.as_str()))
        .and_where(
            Expr::col(("org_units", "code_key"))
                .eq(key.as_str())
                .or(Expr::col(("org_units", "name_key")).eq(key.as_str())),
        )
        // A code match wins over another unit's name match.
        .order_by_expr(Expr::col(("org_units", "code_key")).eq(key.as_str()), moon_db::sea_query::Order::Desc)
        .limit(1);
    tx.fetch_optional(&q).await
}

/// Inserts a unit and returns its id.
pub async fn insert(
    tx: &mut Tx,
    kind: UnitKind,
    code: &str,
    name: &str,
    parent_id: Option<i64>,
    active: bool,
) -> Result<i64, DbError> {
    let now = moon_db::now();
    let stmt = insert_row(
        "org_units",
        vec![
            ("kind", kind.as_str().into()),
            ("code", code.into()),
            ("code_key", fold(code).into()),
            ("name", name.into()),
            ("name_key", fold(name).into()),
            ("parent_id", parent_id.into()),
            ("active", active.into()),
            ("created_at", now.into()),
            ("updated_at", now.into()),
        ],
    );
    tx.insert(&stmt).await
}

/// Changes a unit's name, region or active flag.
pub async fn update(
    tx: &mut Tx,
    id: i64,
    name: Option<&str>,
    parent_id: Option<Option<i64>>,
    active: Option<bool>,
) -> Result<(), DbError> {
    let mut values: Vec<(&str, Value)> = vec![("updated_at", moon_db::now().into())];
    if let Some(n) = name {
        values.push(("name", n.into()));
        values.push(("name_key", fold(n).into()));
    }
    if let Some(p) = parent_id {
        values.push(("parent_id", p.into()));
    }
    if let Some(a) = active {
        values.push(("active", a.into()));
    }
    let mut q = Query::update();
    q.table("org_units").values(values.into_iter().map(|(c, v)| (c, Expr::val(v)))).and_where(Expr::col("id").eq(id));
    tx.execute(&q).await?;
    Ok(())
}

/// How many agents are currently members of a unit (as branch or team).
pub async fn current_members(tx: &mut Tx, kind: UnitKind, id: i64) -> Result<i64, DbError> {
    let column = if kind == UnitKind::Team { "team_id" } else { "branch_id" };
    let mut q = Query::select();
    q.expr(Expr::col("id").count())
        .from("agent_memberships")
        .and_where(Expr::col(column).eq(id))
        .and_where(Expr::col("valid_to").is_null());
    Ok(tx.fetch_optional::<(i64,)>(&q).await?.map_or(0, |(n,)| n))
}

/// How many branches sit under a region.
pub async fn branches_in_region(tx: &mut Tx, region_id: i64) -> Result<i64, DbError> {
    let mut q = Query::select();
    q.expr(Expr::col("id").count())
        .from("org_units")
        .and_where(Expr::col("kind").eq(UnitKind::Branch.as_str()))
        .and_where(Expr::col("parent_id").eq(region_id))
        .and_where(Expr::col("active").eq(true));
    Ok(tx.fetch_optional::<(i64,)>(&q).await?.map_or(0, |(n,)| n))
}

fn memberships_query() -> SelectStatement {
    let mut q = Query::select();
    q.columns(["id", "agent_id", "valid_from", "valid_to"].map(|c| ("agent_memberships", c)))
        .expr_as(Expr::col(("b", "code")), "branch")
        .expr_as(Expr::col(("b", "name")), "branch_name")
        .expr_as(Expr::col(("t", "code")), "team")
        .expr_as(Expr::col(("t", "name")), "team_name")
        .from("agent_memberships")
        .join_as(
            moon_db::sea_query::JoinType::InnerJoin,
            "org_units",
            "b",
            Expr::col(("b", "id")).equals(("agent_memberships", "branch_id")),
        )
        .join_as(
            moon_db::sea_query::JoinType::InnerJoin,
            "org_units",
            "t",
            Expr::col(("t", "id")).equals(("agent_memberships", "team_id")),
        );
    q
}

/// An agent's membership ranges, oldest first (the open start first).
pub async fn memberships(tx: &mut Tx, agent_id: i64) -> Result<Vec<Membership>, DbError> {
    let mut q = memberships_query();
    q.and_where(Expr::col(("agent_memberships", "agent_id")).eq(agent_id))
        .order_by_expr(Expr::col(("agent_memberships", "valid_from")).is_null(), moon_db::sea_query::Order::Desc)
        .order_by(("agent_memberships", "valid_from"), moon_db::sea_query::Order::Asc);
    tx.fetch_all(&q).await
}

/// Starts a membership range.
pub async fn insert_membership(
    tx: &mut Tx,
    agent_id: i64,
    branch_id: i64,
    team_id: i64,
    valid_from: Option<NaiveDate>,
) -> Result<i64, DbError> {
    let stmt = insert_row(
        "agent_memberships",
        vec![
            ("agent_id", agent_id.into()),
            ("branch_id", branch_id.into()),
            ("team_id", team_id.into()),
            ("valid_from", valid_from.into()),
            ("valid_to", Option::<NaiveDate>::None.into()),
            ("created_at", moon_db::now().into()),
        ],
    );
    tx.insert(&stmt).await
}

/// Ends an agent's current range on `valid_to` (exclusive).
pub async fn close_current(tx: &mut Tx, agent_id: i64, valid_to: NaiveDate) -> Result<u64, DbError> {
    let mut q = Query::update();
    q.table("agent_memberships")
        .value("valid_to", valid_to)
        .and_where(Expr::col("agent_id").eq(agent_id))
        .and_where(Expr::col("valid_to").is_null());
    tx.execute(&q).await
}

/// Replaces the team and branch of the current range in place (a move effective on the day the
/// range began, which would otherwise leave an empty range behind).
pub async fn replace_current(tx: &mut Tx, agent_id: i64, branch_id: i64, team_id: i64) -> Result<u64, DbError> {
    let mut q = Query::update();
    q.table("agent_memberships")
        .values([("branch_id", Expr::val(branch_id)), ("team_id", Expr::val(team_id))])
        .and_where(Expr::col("agent_id").eq(agent_id))
        .and_where(Expr::col("valid_to").is_null());
    tx.execute(&q).await
}

/// Agents with no membership at all (made by a release before organisation records, or
/// during a rollout by the previous one), as (id, branch text, team text).
pub async fn agents_without_membership(tx: &mut Tx) -> Result<Vec<(i64, String, String)>, DbError> {
    let mut has = Query::select();
    has.column("agent_id").from("agent_memberships");
    let mut q = Query::select();
    q.columns(["id", "branch", "team"])
        .from("agents")
        .and_where(Expr::col("id").not_in_subquery(has))
        .order_by("id", moon_db::sea_query::Order::Asc);
    tx.fetch_all(&q).await
}

/// Points an agent row at new current codes (the columns the original routes and scopes read).
pub async fn set_agent_codes(tx: &mut Tx, agent_id: i64, branch: &str, team: &str) -> Result<(), DbError> {
    let mut q = Query::update();
    q.table("agents")
        .values([("branch", Expr::val(branch)), ("team", Expr::val(team)), ("updated_at", Expr::val(moon_db::now()))])
        .and_where(Expr::col("id").eq(agent_id));
    tx.execute(&q).await?;
    Ok(())
}
