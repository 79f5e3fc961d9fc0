//! `moon aggregate --verify`: recompute every KPI from the operational database and compare it
//! with the warehouse, cell by cell.
//!
//! Everything the KPI API and BI tools read is compared: the daily cells (with the team of each
//! cell's agent on its day), the agent and product dimensions, the memberships, days and targets
//! (`dim_membership`, `dim_date`, `fact_target`), every rollup declared in [`crate::rollups`] (recomputed with the grouping its entry declares) and
//! the original three tables. The recomputation comes from one snapshot of the operational
//! database, taken when the warehouse has caught up with exactly that snapshot.

use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDate;

use moon_db::sea_query::{Expr, ExprTrait, Func, JoinType, Query};
use moon_db::{Db, DbError, Tx};

use crate::aggregator::Aggregator;
use crate::dialect::cents_of;
use crate::dimension::{AgentDim, ProductDim};
use crate::history_dims::{self, DateRow, MembershipRow, TargetRow};
use crate::refresh::attribution::{Dims, EntitySums};
use crate::rollups::{
    self, BRANCH_SALES_METRICS, CELLS, MONTHLY, PRODUCT, PRODUCT_TARGET_METRICS, RollupKey, SalesTable,
};
use crate::rollups::{TEAM_SALES_METRICS, VALUES};
use crate::sinks::original_tables::status;
use crate::sinks::{dimensions, facts, history, rollup_totals};
use crate::source::Snapshot;

/// Differences reported at most, per table; the count says how many there were in all.
const SHOWN: usize = 20;

/// What a verification found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    /// Rollup cells compared.
    pub cells: usize,
    /// The change-log position both sides were compared at.
    pub applied_id: i64,
    /// Each difference, readable by a person.
    pub differences: Vec<String>,
}

fn compare<K: Ord + std::fmt::Debug, V: PartialEq + std::fmt::Debug>(
    table: &str,
    expected: &BTreeMap<K, V>,
    actual: &BTreeMap<K, V>,
    out: &mut Vec<String>,
) {
    let mut found = 0usize;
    let mut note = |s: String| {
        found += 1;
        if found <= SHOWN {
            out.push(s);
        }
    };
    for (k, v) in expected {
        match actual.get(k) {
            None => note(format!("{table}: missing {k:?} (expected {v:?})")),
            Some(a) if a != v => note(format!("{table}: {k:?} is {a:?}, expected {v:?}")),
            Some(_) => {}
        }
    }
    for (k, a) in actual {
        if !expected.contains_key(k) {
            note(format!("{table}: unexpected {k:?} = {a:?}"));
        }
    }
    if found > SHOWN {
        out.push(format!("{table}: … and {} more differences", found - SHOWN));
    }
}

impl Aggregator {
    /// Brings the warehouse up to date, then compares it with a recomputation from the source.
    pub async fn verify(&self) -> Result<Report, DbError> {
        let mut attempts = 0;
        let source = loop {
            self.catch_up(|_| {}).await?;
            let snapshot = Snapshot::read(self.source(), self.key()).await?;
            let applied = self.applied_id().await?.unwrap_or(-1);
            attempts += 1;
            if applied == snapshot.last_id {
                break snapshot;
            }
            if attempts >= 5 {
                return Ok(Report {
                    cells: 0,
                    applied_id: applied,
                    differences: vec![format!(
                        "the source kept changing (warehouse at change {applied}, source at {}); verify again when writes pause",
                        snapshot.last_id
                    )],
                });
            }
        };
        let mut tx = self.warehouse().db.begin_snapshot().await?;
        let mut differences = Vec::new();

        compare(CELLS.table, &source.facts, &facts::read_all(&mut tx, &CELLS).await?, &mut differences);
        let monthly = facts::read_all(&mut tx, &MONTHLY).await?;
        compare(MONTHLY.table, &facts::by_month(&source.facts), &monthly, &mut differences);
        let mut q = Query::select();
        q.columns(CELLS.key)
            .expr(cents_of(CELLS.amount))
            .from(CELLS.table)
            .and_where(cents_of(CELLS.amount).ne(Expr::col(VALUES[1])))
            .limit(SHOWN as u64);
        for row in tx.fetch_all::<(chrono::NaiveDate, i64, i64, String, String, i64)>(&q).await? {
            differences.push(format!("{}: {} disagrees with {} at {row:?}", CELLS.table, CELLS.amount, VALUES[1]));
        }

        let agents: BTreeMap<i64, AgentDim> = source.agents.clone().into_iter().collect();
        let wh_agents: BTreeMap<i64, AgentDim> = dimensions::read_agents(&mut tx, None).await?.into_iter().collect();
        compare(crate::schema::DIM_AGENT, &agents, &wh_agents, &mut differences);
        let products: BTreeMap<i64, ProductDim> = source.products.clone().into_iter().collect();
        let wh_products: BTreeMap<i64, ProductDim> =
            dimensions::read_products(&mut tx, None).await?.into_iter().collect();
        compare(crate::schema::DIM_PRODUCT, &products, &wh_products, &mut differences);

        self.compare_history(&mut tx, &source, &mut differences).await?;

        let sums = EntitySums::of(&source.facts);
        let dims = Dims::of(&source);
        for rollup in rollups::ALL {
            let (expected, _unknown) = sums.group(rollup.grouping, &dims);
            let actual = rollup_totals::read_all(&mut tx, rollup).await?;
            compare(rollup.table, &expected, &actual, &mut differences);
        }

        let expected = original_tables(&source);
        let (actual, duplicates) = read_original_tables(&mut tx).await?;
        differences.extend(duplicates);
        compare(TEAM_SALES_METRICS.table, &expected.0, &actual.0, &mut differences);
        compare(BRANCH_SALES_METRICS.table, &expected.1, &actual.1, &mut differences);
        compare(PRODUCT_TARGET_METRICS, &expected.2, &actual.2, &mut differences);
        tx.rollback().await?;
        Ok(Report { cells: source.facts.len(), applied_id: source.last_id, differences })
    }
}

impl Aggregator {
    /// Compares `dim_membership`, `fact_target` and `dim_date` with the snapshot. `dim_date`
    /// must cover the fiscal years of the snapshot's sales and targets; it may cover more (days
    /// are never taken away when a sale is), and every day it has must match the calendar and
    /// the holiday list.
    async fn compare_history(&self, tx: &mut Tx, source: &Snapshot, out: &mut Vec<String>) -> Result<(), DbError> {
        let by_range = |rows: Vec<MembershipRow>| -> BTreeMap<(i64, NaiveDate), MembershipRow> {
            rows.into_iter().map(|r| ((r.agent_id, r.valid_from), r)).collect()
        };
        let expected = by_range(history_dims::membership_rows(source.agents.values(), &source.memberships));
        let actual = by_range(history::read_memberships(tx).await?);
        compare(crate::schema::DIM_MEMBERSHIP, &expected, &actual, out);

        let by_id =
            |rows: Vec<TargetRow>| -> BTreeMap<i64, TargetRow> { rows.into_iter().map(|t| (t.target_id, t)).collect() };
        let actual = by_id(history::read_targets(tx).await?);
        compare(crate::schema::FACT_TARGET, &by_id(source.targets.clone()), &actual, out);

        let actual: BTreeMap<NaiveDate, DateRow> =
            history::read_dates(tx).await?.into_iter().map(|r| (r.day, r)).collect();
        let mut days: Vec<NaiveDate> = actual.keys().copied().collect();
        if let Some((first, last)) = source.span() {
            let (from, to) = history_dims::covered(&self.calendar, first, last);
            days.extend(history_dims::days(from, to));
        }
        let expected: BTreeMap<NaiveDate, DateRow> =
            days.into_iter().map(|d| (d, history_dims::date_row(d, &self.calendar, &source.holidays))).collect();
        compare(crate::schema::DIM_DATE, &expected, &actual, out);
        Ok(())
    }
}

/// The original system's three tables, keyed by their first column: team → total cents;
/// branch → total cents; product name → (target cents, total cents, status).
pub type OriginalTables = (BTreeMap<String, i64>, BTreeMap<String, i64>, BTreeMap<String, (i64, i64, String)>);

/// What the original's three queries give on the snapshot: teams and branches with sales only,
/// every product with 0 when it has none.
pub fn original_tables(s: &Snapshot) -> OriginalTables {
    let sums = EntitySums::of(&s.facts);
    let dims = Dims::of(s);
    let sales = |t: &SalesTable| -> BTreeMap<String, i64> {
        sums.group(t.from.grouping, &dims)
            .0
            .into_iter()
            .filter(|(_, v)| v.count > 0)
            .filter_map(|(k, v)| match k {
                RollupKey::Text(name) => Some((name, v.cents)),
                RollupKey::Id(_) => None,
            })
            .collect()
    };
    let by_id: HashMap<RollupKey, i64> =
        sums.group(PRODUCT.grouping, &dims).0.into_iter().map(|(k, v)| (k, v.cents)).collect();
    let products = s
        .products
        .values()
        .map(|p| {
            let total = by_id.get(&RollupKey::Id(p.product_id)).copied().unwrap_or(0);
            (p.product_name.clone(), (p.target_cents, total, status(total, p.target_cents).to_owned()))
        })
        .collect();
    (sales(&TEAM_SALES_METRICS), sales(&BRANCH_SALES_METRICS), products)
}

fn unique<V>(table: &str, rows: Vec<(String, V)>, duplicates: &mut Vec<String>) -> BTreeMap<String, V> {
    let mut out = BTreeMap::new();
    for (k, v) in rows {
        if out.contains_key(&k) {
            duplicates.push(format!("{table}: more than one row for {k:?}"));
        }
        out.insert(k, v);
    }
    out
}

/// One of the original `(name, total_sales)` tables, in cents.
async fn read_sales_table(
    tx: &mut Tx,
    t: &SalesTable,
    duplicates: &mut Vec<String>,
) -> Result<BTreeMap<String, i64>, DbError> {
    let mut q = Query::select();
    q.column(t.key).expr(cents_of("total_sales")).from(t.table);
    Ok(unique(t.table, tx.fetch_all::<(String, i64)>(&q).await?, duplicates))
}

/// Reads the original three tables from the warehouse, amounts as exact cents, and names any
/// key that has more than one row.
pub async fn read_original_tables(tx: &mut Tx) -> Result<(OriginalTables, Vec<String>), DbError> {
    let mut duplicates = Vec::new();
    let teams = read_sales_table(tx, &TEAM_SALES_METRICS, &mut duplicates).await?;
    let branches = read_sales_table(tx, &BRANCH_SALES_METRICS, &mut duplicates).await?;
    let mut q = Query::select();
    q.column("product_name")
        .expr(cents_of("target_amount"))
        .expr(cents_of("total_sales"))
        .column("status")
        .from(PRODUCT_TARGET_METRICS);
    let rows = tx
        .fetch_all::<(String, i64, i64, String)>(&q)
        .await?
        .into_iter()
        .map(|(name, target, total, status)| (name, (target, total, status)))
        .collect();
    let products = unique(PRODUCT_TARGET_METRICS, rows, &mut duplicates);
    Ok(((teams, branches, products), duplicates))
}

/// The original system's three aggregation queries, run as written against the operational
/// database: the reference the original tables are tested against and the rebuild is timed
/// against.
///
/// The team query counts each sale for the team of its agent on the sale date (the original
/// joined on the current team, which rewrote a team's past whenever an agent moved; ADR 0010):
///
/// ```sql
/// SELECT COALESCE(t.code, a.team), SUM(s.amount) FROM agents a JOIN sales s ON …
///   LEFT JOIN agent_memberships m ON m.agent_id = s.agent_id AND <m covers s.sale_date>
///   LEFT JOIN org_units t ON t.id = m.team_id GROUP BY 1;
/// SELECT branch, SUM(amount) FROM sales GROUP BY branch;
/// SELECT p.product_name, p.target_amount, COALESCE(SUM(s.amount), 0), CASE … END
///   FROM products p LEFT JOIN sales s ON … GROUP BY p.product_id;
/// ```
pub async fn original_queries(op: &Db) -> Result<OriginalTables, DbError> {
    use moon_db::sum_i64;
    let b = op.backend();
    let mut q = Query::select();
    // The team on the sale date: the membership range covering it, else (an agent without
    // recorded history) the agent's current team.
    let team = Func::coalesce([Expr::col(("t", "code")), Expr::col(("agents", "team"))]);
    q.expr(team.clone())
        .expr(sum_i64(b, Expr::col(("sales", "amount_cents"))))
        .from("agents")
        .inner_join("sales", Expr::col(("sales", "agent_id")).equals(("agents", "id")))
        .join_as(
            JoinType::LeftJoin,
            "agent_memberships",
            "m",
            Expr::col(("m", "agent_id"))
                .equals(("sales", "agent_id"))
                .and(
                    Expr::col(("m", "valid_from"))
                        .is_null()
                        .or(Expr::col(("m", "valid_from")).lte(Expr::col(("sales", "sale_date")))),
                )
                .and(
                    Expr::col(("m", "valid_to"))
                        .is_null()
                        .or(Expr::col(("m", "valid_to")).gt(Expr::col(("sales", "sale_date")))),
                ),
        )
        .join_as(JoinType::LeftJoin, "org_units", "t", Expr::col(("t", "id")).equals(("m", "team_id")))
        .add_group_by([team.into()]);
    let teams = op.fetch_all::<(String, i64)>(&q).await?.into_iter().collect();
    let mut q = Query::select();
    q.column("branch").expr(sum_i64(b, Expr::col("amount_cents"))).from("sales").group_by_col("branch");
    let branches = op.fetch_all::<(String, i64)>(&q).await?.into_iter().collect();
    let mut q = Query::select();
    q.columns([("products", "id"), ("products", "product_name"), ("products", "target_amount_cents")])
        .expr(sum_i64(b, Expr::col(("sales", "amount_cents"))))
        .from("products")
        .left_join("sales", Expr::col(("sales", "product_id")).equals(("products", "id")))
        .group_by_columns([("products", "id"), ("products", "product_name"), ("products", "target_amount_cents")]);
    let products = op
        .fetch_all::<(i64, String, i64, Option<i64>)>(&q)
        .await?
        .into_iter()
        .map(|(_, name, target, total)| {
            let total = total.unwrap_or(0);
            (name, (target, total, status(total, target).to_owned()))
        })
        .collect();
    Ok((teams, branches, products))
}
