//! A bulk data generator for benchmarks and load tests: `moon demo --agents N --sales M`.
//!
//! Rows go in as multi-row INSERTs in large transactions, far faster than the API, and without
//! one change-log entry per row: the load ends with a single `reload` entry, which tells every
//! consumer to rebuild from the source instead of replaying millions of entries.
//!
//! The data is deterministic for a given seed: agents spread over the demo branches and teams,
//! the five demo products, amounts from 5,000.00 to 60,000.00 and dates over the three years
//! before `today`.

use std::time::{Duration, Instant};

use chrono::NaiveDate;
use moon_db::sea_query::{Expr, ExprTrait, Query};
use moon_db::{Db, DbError};

use moon_changelog::Event;

const BRANCHES: &[&str] = &["Colombo", "Kandy", "Matara", "Galle", "Kurunegala", "Jaffna"];
const TEAMS: &[&str] = &["Alpha", "Beta", "Gamma", "Delta"];
/// Sales per transaction: big enough to amortise commits, small enough to show progress.
const SALES_PER_TX: usize = 50_000;
/// Rows per INSERT statement (9 values each, well within every backend's parameter limit).
const ROWS_PER_INSERT: usize = 500;

/// What a bulk load did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BulkSummary {
    /// Agents created (existing bulk agents are reused).
    pub agents_created: usize,
    /// Sales inserted.
    pub sales: u64,
    /// Wall-clock time.
    pub took: Duration,
}

/// Progress of a running load, reported about once a second.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    /// Sales inserted so far.
    pub done: u64,
    /// Sales to insert.
    pub total: u64,
    /// Time since the start.
    pub elapsed: Duration,
}

struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % std::cmp::max(n, 1)
    }
}

fn code(i: usize) -> String {
    format!("BLK{i:06}")
}

/// Makes sure `n` bulk agents (`BLK000001`…) exist; returns (ids with their branch, created).
async fn ensure_agents(db: &Db, n: usize) -> Result<(Vec<(i64, &'static str)>, usize), DbError> {
    let mut q = Query::select();
    q.columns(["agent_code", "id"]).from("agents").and_where(Expr::col("agent_code").like("BLK%"));
    let existing: std::collections::HashMap<String, i64> =
        db.fetch_all::<(String, i64)>(&q).await?.into_iter().collect();
    let now = moon_db::now();
    let mut tx = db.begin().await?;
    let mut created = 0;
    let mut out = Vec::with_capacity(n);
    let mut events = Vec::new();
    for i in 1..=n {
        let branch = BRANCHES[i % BRANCHES.len()];
        let team = TEAMS[(i / BRANCHES.len()) % TEAMS.len()];
        let id = match existing.get(&code(i)) {
            Some(id) => *id,
            None => {
                let stmt = moon_db::insert_row(
                    "agents",
                    vec![
                        ("agent_code", code(i).into()),
                        ("first_name", "Bulk".into()),
                        ("last_name", format!("Agent {i}").into()),
                        ("branch", branch.into()),
                        ("team", team.into()),
                        ("contact_number", Option::<String>::None.into()),
                        ("email", Option::<String>::None.into()),
                        ("active", true.into()),
                        ("analytics_consent", true.into()),
                        ("created_at", now.into()),
                        ("updated_at", now.into()),
                    ],
                );
                created += 1;
                let id = tx.insert(&stmt).await?;
                let facts = moon_changelog::AgentFacts {
                    team: team.to_owned(),
                    branch: branch.to_owned(),
                    active: true,
                    analytics_consent: true,
                    since: None,
                };
                events.push(Event::Agent { id, before: None, after: Some(facts) });
                id
            }
        };
        out.push((id, branch));
    }
    moon_changelog::record(&mut tx, &events).await?;
    tx.commit().await?;
    Ok((out, created))
}

/// Inserts `sales` generated sales over `agents` bulk agents and the demo products (which must
/// exist: load the demo set first), then appends one `reload` change-log entry.
pub async fn load(
    db: &Db,
    agents: usize,
    sales: u64,
    today: NaiveDate,
    seed: u64,
    mut progress: impl FnMut(Progress),
) -> anyhow::Result<BulkSummary> {
    let started = Instant::now();
    let (agent_ids, agents_created) = ensure_agents(db, agents.max(1)).await?;
    // The bulk agents were inserted directly: give them their organisation records too.
    crate::organisation::run(db).await.map_err(anyhow::Error::new)?;
    let mut q = Query::select();
    q.column("id").from("products").order_by("id", moon_db::sea_query::Order::Asc);
    let products: Vec<i64> = db.fetch_all::<(i64,)>(&q).await?.into_iter().map(|(id,)| id).collect();
    if products.is_empty() {
        anyhow::bail!("no products exist: load the demo data first (moon demo without --sales)");
    }
    let mut rng = Lcg(seed);
    let now = moon_db::now();
    let mut done = 0u64;
    let mut last_report = Instant::now();
    while done < sales {
        let in_tx = std::cmp::min(sales - done, SALES_PER_TX as u64) as usize;
        let mut tx = db.begin().await?;
        let mut left = in_tx;
        while left > 0 {
            let rows = left.min(ROWS_PER_INSERT);
            let mut ins = Query::insert();
            ins.into_table("sales").columns(crate::sales::repo::SALE_COLUMNS[1..].iter().copied());
            for _ in 0..rows {
                let (agent_id, branch) = agent_ids[rng.below(agent_ids.len() as u64) as usize];
                let product = products[rng.below(products.len() as u64) as usize];
                let cents = (5_000 + 250 * rng.below(221) as i64) * 100;
                let date = today - chrono::Duration::days(rng.below(3 * 365) as i64);
                ins.values([
                    agent_id.into(),
                    product.into(),
                    cents.into(),
                    date.into(),
                    branch.into(),
                    Option::<String>::None.into(),
                    now.into(),
                    now.into(),
                    Option::<String>::None.into(),
                    Option::<String>::None.into(),
                ])
                .map_err(|e| anyhow::anyhow!("cannot build the bulk insert: {e}"))?;
            }
            tx.execute(&ins).await?;
            left -= rows;
        }
        tx.commit().await?;
        done += in_tx as u64;
        if last_report.elapsed() >= Duration::from_secs(1) || done == sales {
            progress(Progress { done, total: sales, elapsed: started.elapsed() });
            last_report = Instant::now();
        }
    }
    let mut tx = db.begin().await?;
    moon_changelog::record(&mut tx, &[Event::Reload]).await?;
    tx.commit().await?;
    // The rows went in without their policy mirrors: the start-up backfill's batches add them.
    crate::policies::mirror::backfill(db).await?;
    Ok(BulkSummary { agents_created, sales: done, took: started.elapsed() })
}

/// Deletes `n` sales chosen by id from those of bulk agents and records `n` new ones, through
/// the same use cases as the API (one transaction and change-log entry each): a realistic
/// batch of changed sales for the incremental-refresh benchmark.
pub async fn churn(db: &Db, n: usize, today: NaiveDate, seed: u64) -> anyhow::Result<()> {
    use crate::agents::model::AgentRef;
    use crate::sales::model::SaleFields;
    let op = moon_http::Principal::operator();
    let mut rng = Lcg(seed);
    let mut q = Query::select();
    q.column("id").from("products");
    let products: Vec<i64> = db.fetch_all::<(i64,)>(&q).await?.into_iter().map(|(id,)| id).collect();
    let mut q = Query::select();
    q.column("id").from("agents").and_where(Expr::col("agent_code").like("BLK%"));
    let agents: Vec<i64> = db.fetch_all::<(i64,)>(&q).await?.into_iter().map(|(id,)| id).collect();
    if products.is_empty() || agents.is_empty() {
        anyhow::bail!("no bulk data to change: run moon demo --agents N --sales M first");
    }
    for _ in 0..n {
        let fields = SaleFields {
            agent: Some(AgentRef::Id(agents[rng.below(agents.len() as u64) as usize])),
            product_id: Some(products[rng.below(products.len() as u64) as usize]),
            amount: Some(moon_domain::Money::from_cents((1_000 + rng.below(50_000) as i64) * 100)),
            sale_date: Some(today - chrono::Duration::days(rng.below(365) as i64)),
            branch: None,
            policy_number: None,
            external: None,
        };
        crate::sales::service::create(db, &op, fields)
            .await
            .map_err(|e| anyhow::Error::new(e).context("cannot record a sale"))?;
    }
    Ok(())
}
