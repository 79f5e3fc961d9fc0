//! The operational database as the aggregator sees it: every read it makes there (the change
//! log, the agents and products behind the dimensions, and the snapshot a rebuild starts from),
//! and its one write, the copy of the cursor that lets the change log be pruned.
//!
//! Reads of agents and products run in a snapshot transaction, so a batch's dimension rows are
//! consistent with each other even while writers are busy.

mod sqlite_scan;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, NaiveDate, Utc};
use moon_changelog::Entry;
use moon_db::sea_query::{Expr, ExprTrait, JoinType, Query};
use moon_db::{Db, DbError, Tx};

use crate::dialect::{self, CellScan};
use crate::dimension::{self, AgentDim, ProductDim, ProductRow, WITHHELD};
use crate::history_dims::{SourceTarget, TargetRow, target_row};
use crate::membership::{Memberships, Range};
use crate::pseudonym::PseudonymKey;
use crate::refresh::delta::{FactKey, Sums};

/// The aggregator's name as a change-log consumer.
pub const CONSUMER: &str = "aggregator";

/// Up to `limit` change-log entries after `applied`, in id order.
pub(crate) async fn log_after(op: &Db, applied: i64, limit: u64) -> Result<Vec<Entry>, DbError> {
    moon_changelog::read_after(op, applied, limit).await
}

/// The newest change-log id: one read of the sequence row, cheap enough to poll.
pub(crate) async fn last_id(op: &Db) -> Result<i64, DbError> {
    moon_changelog::last_id(op).await
}

/// When the oldest entry after `applied` was written, if there is one.
pub(crate) async fn oldest_after(op: &Db, applied: i64) -> Result<Option<DateTime<Utc>>, DbError> {
    moon_changelog::oldest_after(op, applied).await
}

/// The cursor last copied to the operational database (`None` before the first copy).
pub(crate) async fn published_cursor(op: &Db) -> Result<Option<i64>, DbError> {
    moon_changelog::cursor(op, CONSUMER).await
}

/// Tells the operational database how far the warehouse has got and prunes the entries every
/// consumer has applied; returns how many were pruned. The warehouse's cursor is the
/// authoritative one, so this copy may lag but never leads (ADR 0006).
pub(crate) async fn publish_cursor(op: &Db, applied_id: i64) -> Result<u64, DbError> {
    moon_changelog::save_cursor(op, CONSUMER, applied_id).await?;
    moon_changelog::prune(op).await
}

/// The operational database's view, read in one snapshot.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// Newest change-log entry the snapshot includes.
    pub last_id: i64,
    /// Every agent.
    pub agents: HashMap<i64, AgentDim>,
    /// Every product.
    pub products: HashMap<i64, ProductDim>,
    /// Every agent's membership history (agents without one: their current team and branch).
    pub memberships: Memberships,
    /// Every non-empty rollup cell, with the team of its agent on its day.
    pub facts: BTreeMap<FactKey, Sums>,
    /// The holiday list.
    pub holidays: BTreeSet<NaiveDate>,
    /// Every sales target, as the warehouse publishes it.
    pub targets: Vec<TargetRow>,
}

impl Snapshot {
    /// The first and last day the sales and targets span, if there are any.
    pub fn span(&self) -> Option<(NaiveDate, NaiveDate)> {
        let days = self.facts.keys().map(|k| (k.sale_date, k.sale_date));
        let periods = self.targets.iter().map(|t| (t.period_start, t.period_end));
        days.chain(periods).reduce(|(a, b), (c, d)| (Ord::min(a, c), Ord::max(b, d)))
    }
}

type FactRow = (NaiveDate, i64, i64, String, i64, i64);

impl Snapshot {
    /// Reads agents, products, the rollup of all sales and the change-log position in one
    /// snapshot, so they agree with each other even while sales are being written.
    pub async fn read(op: &Db, key: &PseudonymKey) -> Result<Self, DbError> {
        for _ in 0..5 {
            if let Some(snapshot) = Self::read_once(op, key).await? {
                return Ok(snapshot);
            }
        }
        Err(DbError::Other(moon_db::sqlx::Error::Protocol(String::from(
            "the database kept changing while the rebuild took its snapshot; the next refresh retries",
        ))))
    }

    /// One attempt; `None` when a write came between the snapshots of the two scans.
    async fn read_once(op: &Db, key: &PseudonymKey) -> Result<Option<Self>, DbError> {
        let mut tx = op.begin_snapshot().await?;
        let last_id = moon_changelog::last_id_in(&mut tx).await?;
        let agents = agents_query(&mut tx, key, None).await?;
        let products = products_query(&mut tx, None).await?;
        let mut memberships = memberships_query(&mut tx, None).await?;
        memberships.fill_from(agents.values());
        let holidays = holidays_query(&mut tx).await?;
        let targets = targets_query(&mut tx, key, None).await?;
        let facts = match dialect::cell_scan(tx.backend()) {
            CellScan::Packed => {
                // Two scans (even and odd agents: disjoint cells) use both cores. The second
                // scan's snapshot must be the first one's: every write moves the change-log
                // position, so equal positions mean equal data (a bulk load, which does not,
                // ends with a reload entry that triggers another rebuild).
                let mut other = op.begin_snapshot().await?;
                if moon_changelog::last_id_in(&mut other).await? != last_id {
                    other.rollback().await?;
                    tx.rollback().await?;
                    return Ok(None);
                }
                let second = tokio::spawn(async move {
                    let cells = sqlite_scan::scan_cells(&mut other, 1).await;
                    let _ = other.rollback().await;
                    cells
                });
                let first = sqlite_scan::scan_cells(&mut tx, 0).await?;
                let second = second.await.map_err(|e| {
                    DbError::Other(moon_db::sqlx::Error::Protocol(format!("rebuild scan failed: {e}")))
                })??;
                first.into_iter().chain(second).map(|(k, s)| with_team(&memberships, k, s)).collect()
            }
            CellScan::GroupBy => {
                grouped_cells(&mut tx).await?.into_iter().map(|(k, s)| with_team(&memberships, k, s)).collect()
            }
        };
        tx.rollback().await?;
        Ok(Some(Snapshot { last_id, agents, products, memberships, facts, holidays, targets }))
    }
}

/// A cell with its agent's team on its day.
fn with_team(m: &Memberships, mut k: FactKey, s: Sums) -> (FactKey, Sums) {
    k.team = m.team_on(k.agent_id, k.sale_date).unwrap_or_default().to_owned();
    (k, s)
}

/// Every cell of the daily rollup, grouped by the database; teams left empty.
async fn grouped_cells(tx: &mut Tx) -> Result<Vec<(FactKey, Sums)>, DbError> {
    let backend = tx.backend();
    let mut q = Query::select();
    q.columns(["sale_date", "agent_id", "product_id", "branch"])
        .expr(Expr::col("id").count())
        .expr(moon_db::sum_i64(backend, Expr::col("amount_cents")))
        .from("sales")
        .group_by_columns(["sale_date", "agent_id", "product_id", "branch"]);
    let mut facts = Vec::new();
    tx.for_each::<FactRow>(&q, |(sale_date, agent_id, product_id, branch, count, cents)| {
        facts.push((FactKey { sale_date, agent_id, product_id, branch, team: String::new() }, Sums { count, cents }));
        Ok(())
    })
    .await?;
    Ok(facts)
}

type SourceAgentRow = (i64, String, String, String, bool, bool);

/// Agents as dimension rows (all, or those in `ids`), under their pseudonym or [`WITHHELD`].
async fn agents_query(
    tx: &mut Tx,
    key: &PseudonymKey,
    ids: Option<&BTreeSet<i64>>,
) -> Result<HashMap<i64, AgentDim>, DbError> {
    let mut q = Query::select();
    q.columns(["id", "agent_code", "team", "branch", "active", "analytics_consent"]).from("agents");
    if let Some(ids) = ids {
        q.and_where(Expr::col("id").is_in(ids.iter().copied()));
    }
    let rows: Vec<SourceAgentRow> = tx.fetch_all(&q).await?;
    Ok(rows
        .into_iter()
        .map(|(agent_id, code, team, branch, active, consent)| {
            let agent_key = if consent { key.of(&code) } else { String::from(WITHHELD) };
            dimension::agent_dim((agent_id, agent_key, team, branch, active, consent))
        })
        .collect())
}

/// Products as dimension rows (all, or those in `ids`).
async fn products_query(tx: &mut Tx, ids: Option<&BTreeSet<i64>>) -> Result<HashMap<i64, ProductDim>, DbError> {
    let mut q = Query::select();
    q.columns(["id", "product_type", "product_name", "target_amount_cents"]).from("products");
    if let Some(ids) = ids {
        q.and_where(Expr::col("id").is_in(ids.iter().copied()));
    }
    let rows: Vec<ProductRow> = tx.fetch_all(&q).await?;
    Ok(rows.into_iter().map(dimension::product_dim).collect())
}

/// The agents in `ids` as they are now.
pub(crate) async fn agents(
    op: &Db,
    key: &PseudonymKey,
    ids: &BTreeSet<i64>,
) -> Result<HashMap<i64, AgentDim>, DbError> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let mut tx = op.begin_snapshot().await?;
    let out = agents_query(&mut tx, key, Some(ids)).await;
    tx.rollback().await?;
    out
}

type MembershipRow = (i64, Option<NaiveDate>, Option<NaiveDate>, String, String);

/// The membership ranges (all, or of the agents in `ids`) with their team and branch codes.
async fn memberships_query(tx: &mut Tx, ids: Option<&BTreeSet<i64>>) -> Result<Memberships, DbError> {
    let mut q = Query::select();
    q.columns([("m", "agent_id"), ("m", "valid_from"), ("m", "valid_to"), ("t", "code"), ("b", "code")])
        .from_as("agent_memberships", "m")
        .join_as(JoinType::InnerJoin, "org_units", "t", Expr::col(("t", "id")).equals(("m", "team_id")))
        .join_as(JoinType::InnerJoin, "org_units", "b", Expr::col(("b", "id")).equals(("m", "branch_id")));
    if let Some(ids) = ids {
        q.and_where(Expr::col(("m", "agent_id")).is_in(ids.iter().copied()));
    }
    let rows: Vec<MembershipRow> = tx.fetch_all(&q).await?;
    Ok(Memberships::from_rows(
        rows.into_iter()
            .map(|(agent, valid_from, valid_to, team, branch)| (agent, Range { valid_from, valid_to, team, branch })),
    ))
}

/// The membership history of the agents in `ids` as it is now; an agent without recorded
/// ranges gets one from `current` (their current row), if there.
pub(crate) async fn memberships(
    op: &Db,
    ids: &BTreeSet<i64>,
    current: &HashMap<i64, AgentDim>,
) -> Result<Memberships, DbError> {
    if ids.is_empty() {
        return Ok(Memberships::default());
    }
    let mut tx = op.begin_snapshot().await?;
    let out = memberships_query(&mut tx, Some(ids)).await;
    tx.rollback().await?;
    let mut out = out?;
    out.fill_from(current.values());
    Ok(out)
}

/// The holiday list.
async fn holidays_query(tx: &mut Tx) -> Result<BTreeSet<NaiveDate>, DbError> {
    let mut q = Query::select();
    q.column("holiday_date").from("holidays");
    let rows: Vec<(NaiveDate,)> = tx.fetch_all(&q).await?;
    Ok(rows.into_iter().map(|(d,)| d).collect())
}

/// The holiday list as it is now.
pub(crate) async fn holidays(op: &Db) -> Result<BTreeSet<NaiveDate>, DbError> {
    let mut tx = op.begin_snapshot().await?;
    let out = holidays_query(&mut tx).await;
    tx.rollback().await?;
    out
}

/// Targets as the warehouse publishes them: all, or those in `only.0` and those of the agents
/// in `only.1`. An agent target names the agent by code; the warehouse gets their pseudonym.
async fn targets_query(
    tx: &mut Tx,
    key: &PseudonymKey,
    only: Option<(&BTreeSet<i64>, &BTreeSet<i64>)>,
) -> Result<Vec<TargetRow>, DbError> {
    let mut q = Query::select();
    q.columns(
        [
            "id",
            "scope_kind",
            "scope_key",
            "product_id",
            "product_line",
            "period_kind",
            "period_start",
            "period_end",
            "amount_cents",
            "policy_count",
        ]
        .map(|c| ("t", c)),
    )
    .columns([("a", "id"), ("a", "analytics_consent")])
    .from_as("sales_targets", "t")
    .join_as(
        JoinType::LeftJoin,
        "agents",
        "a",
        Expr::col(("t", "scope_kind")).eq("agent").and(Expr::col(("a", "agent_code")).equals(("t", "scope_key"))),
    );
    if let Some((ids, agents)) = only {
        if ids.is_empty() && agents.is_empty() {
            return Ok(Vec::new());
        }
        q.cond_where(
            moon_db::sea_query::Cond::any()
                .add(Expr::col(("t", "id")).is_in(ids.iter().copied()))
                .add(Expr::col(("a", "id")).is_in(agents.iter().copied())),
        );
    }
    let rows: Vec<SourceTarget> = tx.fetch_all(&q).await?;
    let mut out: Vec<TargetRow> = rows.into_iter().map(|t| target_row(t, |code| key.of(code))).collect();
    out.sort();
    Ok(out)
}

/// The targets in `ids` and those of the agents in `agents`, as they are now.
pub(crate) async fn targets(
    op: &Db,
    key: &PseudonymKey,
    ids: &BTreeSet<i64>,
    agents: &BTreeSet<i64>,
) -> Result<Vec<TargetRow>, DbError> {
    if ids.is_empty() && agents.is_empty() {
        return Ok(Vec::new());
    }
    let mut tx = op.begin_snapshot().await?;
    let out = targets_query(&mut tx, key, Some((ids, agents))).await;
    tx.rollback().await?;
    out
}

/// The products in `ids` as they are now.
pub(crate) async fn products(op: &Db, ids: &BTreeSet<i64>) -> Result<HashMap<i64, ProductDim>, DbError> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let mut tx = op.begin_snapshot().await?;
    let out = products_query(&mut tx, Some(ids)).await;
    tx.rollback().await?;
    out
}
