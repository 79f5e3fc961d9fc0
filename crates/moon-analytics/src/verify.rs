//! `moon aggregate --verify`: recompute every KPI from the operational database and compare it
//! with the warehouse, cell by cell.
//!
//! Everything the KPI API and BI tools read is compared: the daily rollup, both dimensions, the
//! running totals and the original three tables. The recomputation comes from one snapshot of the
//! operational database, taken when the warehouse has caught up with exactly that snapshot.

use std::collections::{BTreeMap, HashMap};

use moon_db::DbError;
use moon_db::sea_query::{Expr, ExprTrait, Query};

use super::aggregator::{AgentDim, Aggregator, ProductDim, Snapshot};
use super::delta::{FactKey, Sums};

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

/// A NUMERIC(18,2) column as exact cents on SQLite (REAL underneath), PostgreSQL and Redshift.
fn cents_of(column: &'static str) -> Expr {
    Expr::cust(format!("CAST(ROUND({column} * 100) AS BIGINT)"))
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
        let wh = &self.warehouse().db;
        let mut tx = wh.begin_snapshot().await?;
        let mut differences = Vec::new();

        let mut facts: BTreeMap<FactKey, Sums> = BTreeMap::new();
        let mut q = Query::select();
        q.columns(["sale_date", "agent_id", "product_id", "branch", "sales_count", "amount_cents"])
            .from("fact_sales_daily");
        tx.for_each::<(chrono::NaiveDate, i64, i64, String, i64, i64)>(
            &q,
            |(sale_date, agent_id, product_id, branch, count, cents)| {
                facts.insert(FactKey { sale_date, agent_id, product_id, branch }, Sums { count, cents });
                Ok(())
            },
        )
        .await?;
        compare("fact_sales_daily", &source.facts, &facts, &mut differences);

        let mut q = Query::select();
        q.columns(["sale_date", "agent_id", "product_id", "branch"])
            .expr(cents_of("total_amount"))
            .from("fact_sales_daily")
            .and_where(cents_of("total_amount").ne(Expr::col("amount_cents")))
            .limit(SHOWN as u64);
        for row in tx.fetch_all::<(chrono::NaiveDate, i64, i64, String, i64)>(&q).await? {
            differences.push(format!("fact_sales_daily: total_amount disagrees with amount_cents at {row:?}"));
        }

        let agents: BTreeMap<i64, AgentDim> = source.agents.clone().into_iter().collect();
        let mut q = Query::select();
        q.columns(super::aggregator::DIM_AGENT_COLUMNS).from("dim_agent");
        let wh_agents: BTreeMap<i64, AgentDim> = tx
            .fetch_all::<(i64, String, String, String, bool, bool)>(&q)
            .await?
            .into_iter()
            .map(super::aggregator::agent_dim)
            .collect();
        compare("dim_agent", &agents, &wh_agents, &mut differences);

        let products: BTreeMap<i64, ProductDim> = source.products.clone().into_iter().collect();
        let mut q = Query::select();
        q.columns(["product_id", "product_type", "product_name", "target_cents"]).from("dim_product");
        let wh_products: BTreeMap<i64, ProductDim> = tx
            .fetch_all::<(i64, String, String, i64)>(&q)
            .await?
            .into_iter()
            .map(|(product_id, product_type, product_name, target_cents)| {
                (product_id, ProductDim { product_id, product_type, product_name, target_cents })
            })
            .collect();
        compare("dim_product", &products, &wh_products, &mut differences);

        let (teams, branches, product_totals) = source.totals();
        let read_totals = |table: &'static str, key: &'static str| {
            let mut q = Query::select();
            q.columns([key, "sales_count", "amount_cents"]).from(table);
            q
        };
        let wh_teams: BTreeMap<String, Sums> = tx
            .fetch_all::<(String, i64, i64)>(&read_totals("kpi_team_totals", "team"))
            .await?
            .into_iter()
            .map(|(k, count, cents)| (k, Sums { count, cents }))
            .collect();
        compare("kpi_team_totals", &teams, &wh_teams, &mut differences);
        let wh_branches: BTreeMap<String, Sums> = tx
            .fetch_all::<(String, i64, i64)>(&read_totals("kpi_branch_totals", "branch"))
            .await?
            .into_iter()
            .map(|(k, count, cents)| (k, Sums { count, cents }))
            .collect();
        compare("kpi_branch_totals", &branches, &wh_branches, &mut differences);
        let wh_product_totals: BTreeMap<i64, Sums> = tx
            .fetch_all::<(i64, i64, i64)>(&read_totals("kpi_product_totals", "product_id"))
            .await?
            .into_iter()
            .map(|(k, count, cents)| (k, Sums { count, cents }))
            .collect();
        compare("kpi_product_totals", &product_totals, &wh_product_totals, &mut differences);
        let wh_agent_totals: BTreeMap<i64, Sums> = tx
            .fetch_all::<(i64, i64, i64)>(&read_totals("kpi_agent_totals", "agent_id"))
            .await?
            .into_iter()
            .map(|(k, count, cents)| (k, Sums { count, cents }))
            .collect();
        compare("kpi_agent_totals", &source.agent_totals(), &wh_agent_totals, &mut differences);

        let expected = original_tables(&source);
        let (actual, duplicates) = read_original_tables(&mut tx).await?;
        differences.extend(duplicates);
        compare("team_sales_metrics", &expected.0, &actual.0, &mut differences);
        compare("branch_sales_metrics", &expected.1, &actual.1, &mut differences);
        compare("product_target_metrics", &expected.2, &actual.2, &mut differences);
        tx.rollback().await?;
        Ok(Report { cells: source.facts.len(), applied_id: source.last_id, differences })
    }
}

/// The original system's three tables, keyed by their first column: team → total cents;
/// branch → total cents; product name → (target cents, total cents, status).
pub type OriginalTables = (BTreeMap<String, i64>, BTreeMap<String, i64>, BTreeMap<String, (i64, i64, String)>);

/// What the original's three queries give on the snapshot: teams and branches with sales only,
/// every product with 0 when it has none.
pub fn original_tables(s: &Snapshot) -> OriginalTables {
    let (teams, branches, products) = s.totals();
    let teams = teams.into_iter().filter(|(_, v)| v.count > 0).map(|(k, v)| (k, v.cents)).collect();
    let branches = branches.into_iter().filter(|(_, v)| v.count > 0).map(|(k, v)| (k, v.cents)).collect();
    let by_id: HashMap<i64, Sums> = products.into_iter().collect();
    let products = s
        .products
        .values()
        .map(|p| {
            let total = by_id.get(&p.product_id).map_or(0, |s| s.cents);
            let status = if total >= p.target_cents { "Achieved" } else { "Not Achieved" };
            (p.product_name.clone(), (p.target_cents, total, status.to_owned()))
        })
        .collect();
    (teams, branches, products)
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

/// Reads the original three tables from the warehouse, amounts as exact cents, and names any
/// key that has more than one row.
pub async fn read_original_tables(tx: &mut moon_db::Tx) -> Result<(OriginalTables, Vec<String>), DbError> {
    let mut duplicates = Vec::new();
    let mut q = Query::select();
    q.column("team").expr(cents_of("total_sales")).from("team_sales_metrics");
    let teams = unique("team_sales_metrics", tx.fetch_all::<(String, i64)>(&q).await?, &mut duplicates);
    let mut q = Query::select();
    q.column("branch").expr(cents_of("total_sales")).from("branch_sales_metrics");
    let branches = unique("branch_sales_metrics", tx.fetch_all::<(String, i64)>(&q).await?, &mut duplicates);
    let mut q = Query::select();
    q.column("product_name")
        .expr(cents_of("target_amount"))
        .expr(cents_of("total_sales"))
        .column("status")
        .from("product_target_metrics");
    let rows = tx
        .fetch_all::<(String, i64, i64, String)>(&q)
        .await?
        .into_iter()
        .map(|(name, target, total, status)| (name, (target, total, status)))
        .collect();
    let products = unique("product_target_metrics", rows, &mut duplicates);
    Ok(((teams, branches, products), duplicates))
}

/// The original system's three aggregation queries, run as written against the operational
/// database: the reference the original tables are tested against and the rebuild is timed
/// against.
///
/// ```sql
/// SELECT a.team, SUM(s.amount) FROM agents a JOIN sales s ON … GROUP BY a.team;
/// SELECT branch, SUM(amount) FROM sales GROUP BY branch;
/// SELECT p.product_name, p.target_amount, COALESCE(SUM(s.amount), 0), CASE … END
///   FROM products p LEFT JOIN sales s ON … GROUP BY p.product_id;
/// ```
pub async fn original_queries(op: &moon_db::Db) -> Result<OriginalTables, DbError> {
    use moon_db::sum_i64;
    let b = op.backend();
    let mut q = Query::select();
    q.column(("agents", "team"))
        .expr(sum_i64(b, Expr::col(("sales", "amount_cents"))))
        .from("agents")
        .inner_join("sales", Expr::col(("sales", "agent_id")).equals(("agents", "id")))
        .group_by_col(("agents", "team"));
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
            let status = if total >= target { "Achieved" } else { "Not Achieved" };
            (name, (target, total, status.to_owned()))
        })
        .collect();
    Ok((teams, branches, products))
}
