//! The aggregator: applies the change log to the warehouse, incrementally or by a full rebuild.
//!
//! **Exactly once across two databases.** The aggregator's authoritative cursor lives in the
//! warehouse (`wh_state.applied_id`) and moves in the same warehouse transaction as the deltas it
//! covers, so a crash at any point either lands a whole batch with its cursor or nothing. The
//! copy in the operational database (`change_cursors`) only lets the log be pruned, and it is
//! written after the warehouse commits, so it can lag but never run ahead.
//!
//! **Several aggregators at once** (the `all` target, an `aggregator` Deployment, a CronJob and
//! both colours of a blue-green release) are safe: each refresh starts by locking the cursor row,
//! so they take turns and each batch is applied once.
//!
//! **Cost.** An incremental refresh reads the new log entries, nets them per rollup cell
//! ([`Batch`]), and touches only those cells, the affected agents' and products' dimension rows,
//! and the affected rows of the running totals and the original three tables.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, Utc};
use moon_db::sea_query::{Cond, Condition, Expr, ExprTrait, OnConflict, Query, Value};
use moon_db::{Backend, Db, DbError, Tx};

use super::delta::{Batch, FactKey, Sums};
use super::pseudonym::PseudonymKey;
use super::warehouse::{Flavor, REBUILT_TABLES, Warehouse};

/// The aggregator's name as a change-log consumer.
pub const CONSUMER: &str = "aggregator";

/// A rollup cell's key and sums, as the fact and staging tables name them.
const CELL_COLUMNS: [&str; 6] = ["sale_date", "agent_id", "product_id", "branch", "sales_count", "amount_cents"];

/// The fact table's primary key.
const FACT_KEY_COLUMNS: [&str; 4] = ["sale_date", "agent_id", "product_id", "branch"];

/// Rows per multi-row INSERT. Well inside every parameter limit, and small enough that a
/// statement and its values fit one TCP segment (~64 KiB on loopback): sqlx 0.9.0 does not set
/// TCP_NODELAY (sqlx#4335), so a message split across segments waits out a delayed ACK (40 ms).
const INSERT_CHUNK: usize = 250;

/// A place between two steps of a refresh where a test can make it fail, to show that a crash
/// anywhere leaves the warehouse consistent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// After the rollup cells were changed.
    AfterFacts,
    /// After the running totals were changed.
    AfterTotals,
    /// After the dimension rows were replaced.
    AfterDimensions,
    /// After the original three tables were rewritten.
    AfterLegacyTables,
    /// After the cursor moved, before the commit.
    BeforeCommit,
    /// After the warehouse committed, before the operational database heard of it.
    AfterCommit,
}

/// What a refresh did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing new in the change log.
    UpToDate {
        /// The cursor.
        applied_id: i64,
    },
    /// A batch of entries was applied.
    Incremental {
        /// Entries applied.
        entries: usize,
        /// Rollup cells changed.
        cells: usize,
        /// The cursor afterwards.
        applied_id: i64,
    },
    /// Everything was recomputed from the operational database.
    Rebuilt {
        /// Rollup cells written.
        cells: usize,
        /// Sales counted.
        sales: i64,
        /// The cursor afterwards.
        applied_id: i64,
    },
}

impl Outcome {
    /// The cursor after the refresh.
    pub fn applied_id(&self) -> i64 {
        match self {
            Outcome::UpToDate { applied_id }
            | Outcome::Incremental { applied_id, .. }
            | Outcome::Rebuilt { applied_id, .. } => *applied_id,
        }
    }
}

/// An agent as the warehouse knows it: no name, no contact details.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentDim {
    /// Operational id.
    pub agent_id: i64,
    /// Pseudonym.
    pub agent_key: String,
    /// Current team.
    pub team: String,
    /// Home branch.
    pub branch: String,
    /// Active flag.
    pub active: bool,
    /// Consent to per-agent analytics; without it the pseudonym is withheld too.
    pub analytics_consent: bool,
}

/// The key of every agent who has not consented to per-agent analytics: they cannot be told
/// apart in the warehouse, while their sales still count in every team, branch and product.
pub const WITHHELD: &str = "ag_withheld";

pub(crate) const DIM_AGENT_COLUMNS: [&str; 6] =
    ["agent_id", "agent_key", "team", "branch", "active", "analytics_consent"];

/// A dimension row from `(id, key, team, branch, active, consent)`.
pub(crate) fn agent_dim(row: AgentRow) -> (i64, AgentDim) {
    let (agent_id, agent_key, team, branch, active, analytics_consent) = row;
    (agent_id, AgentDim { agent_id, agent_key, team, branch, active, analytics_consent })
}

/// A product as the warehouse knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductDim {
    /// Operational id.
    pub product_id: i64,
    /// Line of business.
    pub product_type: String,
    /// Name.
    pub product_name: String,
    /// Target in cents.
    pub target_cents: i64,
}

/// Applies the change log to the warehouse.
#[derive(Debug, Clone)]
pub struct Aggregator {
    op: Db,
    wh: Warehouse,
    key: PseudonymKey,
    batch_size: u64,
    fault: Option<Fault>,
}

fn fail(step: Fault) -> DbError {
    DbError::Other(moon_db::sqlx::Error::Protocol(format!("injected fault {step:?}")))
}

/// Formats cents as the decimal text a NUMERIC column takes exactly.
fn decimal(cents: i64) -> String {
    moon_domain::Money::from_cents(cents).to_string()
}

/// A NUMERIC(18,2) value from cents: exact decimal text on SQLite (its NUMERIC affinity converts
/// it), an integer divided as NUMERIC elsewhere (exact: cents have two decimals).
fn numeric(backend: Backend, cents: i64) -> Expr {
    match backend {
        Backend::Sqlite => Expr::val(decimal(cents)),
        _ => Expr::val(cents).cast_as("NUMERIC(18,2)").div(Expr::cust("100")),
    }
}

impl Aggregator {
    /// An aggregator from the operational database to `wh`.
    pub fn new(op: Db, wh: Warehouse, key: PseudonymKey) -> Self {
        Self { op, wh, key, batch_size: 10_000, fault: None }
    }

    /// Makes the next refreshes fail at `step` (tests only: shows crash safety).
    pub fn inject_fault(&mut self, step: Option<Fault>) {
        self.fault = step;
    }

    /// Most change-log entries applied per incremental refresh.
    pub fn with_batch_size(mut self, n: u64) -> Self {
        self.batch_size = std::cmp::max(n, 1);
        self
    }

    /// Speaks `flavor`'s SQL to the warehouse whatever it is. Redshift's subset (no `ON CONFLICT`,
    /// no `RETURNING`) runs on PostgreSQL and SQLite too, which is how the tests cover it without
    /// a Redshift cluster.
    pub fn with_flavor(mut self, flavor: Flavor) -> Self {
        self.wh.flavor = flavor;
        self
    }

    /// The warehouse this aggregator writes.
    pub fn warehouse(&self) -> &Warehouse {
        &self.wh
    }

    /// The operational database it reads.
    pub fn source(&self) -> &Db {
        &self.op
    }

    /// The pseudonym key in use.
    pub fn key(&self) -> &PseudonymKey {
        &self.key
    }

    fn check(&self, step: Fault) -> Result<(), DbError> {
        if self.fault == Some(step) { Err(fail(step)) } else { Ok(()) }
    }

    /// Applies the next batch of the change log, rebuilding instead when the warehouse is new,
    /// when entries it needs were pruned, or when a bulk load asked for it.
    pub async fn refresh(&self) -> Result<Outcome, DbError> {
        match self.incremental().await? {
            Some(outcome) => Ok(outcome),
            None => self.rebuild().await,
        }
    }

    /// Refreshes until the warehouse has caught up with the change log as it was at the start.
    pub async fn catch_up(&self, mut progress: impl FnMut(&Outcome)) -> Result<Outcome, DbError> {
        let target = moon_changelog::last_id(&self.op).await?;
        loop {
            let outcome = self.refresh().await?;
            progress(&outcome);
            if matches!(outcome, Outcome::UpToDate { .. }) || outcome.applied_id() >= target {
                return Ok(outcome);
            }
        }
    }

    /// Takes the cursor row's lock and reads it; `None` when the warehouse was never built.
    async fn lock_cursor(tx: &mut Tx) -> Result<Option<i64>, DbError> {
        let mut touch = Query::update();
        touch
            .table("wh_state")
            .value("refreshed_at", Expr::col("refreshed_at"))
            .and_where(Expr::col("consumer").eq(CONSUMER));
        tx.execute(&touch).await?;
        let mut q = Query::select();
        q.column("applied_id").from("wh_state").and_where(Expr::col("consumer").eq(CONSUMER));
        Ok(tx.fetch_optional::<(i64,)>(&q).await?.map(|(n,)| n))
    }

    /// The warehouse cursor: the last change-log entry it reflects (`None` before the first build).
    pub async fn applied_id(&self) -> Result<Option<i64>, DbError> {
        let mut q = Query::select();
        q.column("applied_id").from("wh_state").and_where(Expr::col("consumer").eq(CONSUMER));
        Ok(self.wh.db.fetch_optional::<(i64,)>(&q).await?.map(|(n,)| n))
    }

    async fn incremental(&self) -> Result<Option<Outcome>, DbError> {
        let mut phases = Phases::start();
        let mut tx = self.wh.db.begin().await?;
        let Some(applied) = Self::lock_cursor(&mut tx).await? else {
            return Ok(None);
        };
        let entries = moon_changelog::read_after(&self.op, applied, self.batch_size).await?;
        let Some(first) = entries.first() else {
            tx.rollback().await?;
            return Ok(Some(Outcome::UpToDate { applied_id: applied }));
        };
        if first.id != applied + 1 {
            tracing::warn!(applied, first = first.id, "change-log entries were pruned past the warehouse; rebuilding");
            return Ok(None);
        }
        let batch = Batch::from_entries(&entries);
        phases.mark("read_log");
        if batch.reload {
            tracing::info!("a bulk load asked for a rebuild");
            return Ok(None);
        }
        let old_agents = read_dim_agents(&mut tx, &batch.agents).await?;
        let new_agents = source_agents(&self.op, &self.key, Some(&batch.agents)).await?;
        let old_products = read_dim_products(&mut tx, &batch.products).await?;
        let new_products = source_products(&self.op, Some(&batch.products)).await?;
        phases.mark("read_dimensions");

        apply_fact_deltas(&mut tx, &batch.facts, self.wh.flavor).await?;
        self.check(Fault::AfterFacts)?;
        phases.mark("facts");

        let mut teams: BTreeMap<String, Sums> = BTreeMap::new();
        let mut branches: BTreeMap<String, Sums> = BTreeMap::new();
        let mut products: BTreeMap<i64, Sums> = BTreeMap::new();
        let mut agents: BTreeMap<i64, Sums> = BTreeMap::new();
        for (k, s) in &batch.facts {
            agents.entry(k.agent_id).or_default().add(*s);
            // The team the agent's earlier sales are counted under: the warehouse's, if it has one.
            match old_agents.get(&k.agent_id).or_else(|| new_agents.get(&k.agent_id)) {
                Some(a) => teams.entry(a.team.clone()).or_default().add(*s),
                None => tracing::warn!(agent_id = k.agent_id, "sales of an unknown agent; --verify will report it"),
            }
            branches.entry(k.branch.clone()).or_default().add(*s);
            products.entry(k.product_id).or_default().add(*s);
        }
        agents.retain(|_, s| !s.is_zero());
        add_totals(&mut tx, "kpi_agent_totals", "agent_id", agents).await?;
        for (id, old) in &old_agents {
            let new_team = new_agents.get(id).map(|a| a.team.as_str());
            if new_team.is_some_and(|t| t != old.team) {
                // Everything the agent ever sold moves with them (this batch's sales included).
                let total = agent_totals(&mut tx, *id).await?;
                teams.entry(old.team.clone()).or_default().add(Sums { count: -total.count, cents: -total.cents });
                teams.entry(new_team.unwrap_or_default().to_owned()).or_default().add(total);
            }
        }
        teams.retain(|_, s| !s.is_zero());
        branches.retain(|_, s| !s.is_zero());
        products.retain(|_, s| !s.is_zero());
        let affected_teams: BTreeSet<String> = teams.keys().cloned().collect();
        let affected_branches: BTreeSet<String> = branches.keys().cloned().collect();
        add_totals(&mut tx, "kpi_team_totals", "team", teams).await?;
        add_totals(&mut tx, "kpi_branch_totals", "branch", branches).await?;
        add_totals(&mut tx, "kpi_product_totals", "product_id", products).await?;
        self.check(Fault::AfterTotals)?;
        phases.mark("totals");

        // Only dimension rows that differ are rewritten: a batch names every agent and product
        // its sales touch, but few of them changed.
        let agents_changed = changed(&batch.agents, &old_agents, &new_agents);
        let products_changed = changed(&batch.products, &old_products, &new_products);
        write_dim_agents(&mut tx, Some(&agents_changed), agents_changed.iter().filter_map(|id| new_agents.get(id)))
            .await?;
        write_dim_products(
            &mut tx,
            Some(&products_changed),
            products_changed.iter().filter_map(|id| new_products.get(id)),
        )
        .await?;
        self.check(Fault::AfterDimensions)?;
        phases.mark("dimensions");

        rewrite_totals_table(&mut tx, "team_sales_metrics", "team", "kpi_team_totals", &affected_teams).await?;
        rewrite_totals_table(&mut tx, "branch_sales_metrics", "branch", "kpi_branch_totals", &affected_branches)
            .await?;
        let mut names: BTreeSet<String> = old_products.values().map(|p| p.product_name.clone()).collect();
        names.extend(new_products.values().map(|p| p.product_name.clone()));
        rewrite_product_metrics(&mut tx, &names, &batch.products).await?;
        self.check(Fault::AfterLegacyTables)?;
        phases.mark("original_tables");

        set_cursor(&mut tx, batch.last_id, false).await?;
        self.check(Fault::BeforeCommit)?;
        tx.commit().await?;
        phases.mark("commit");
        tracing::debug!(entries = batch.entries, cells = batch.facts.len(), phases = %phases, "incremental refresh");
        self.check(Fault::AfterCommit)?;
        Ok(Some(Outcome::Incremental { entries: batch.entries, cells: batch.facts.len(), applied_id: batch.last_id }))
    }

    /// Recomputes the whole warehouse from one consistent snapshot of the operational database
    /// and replaces its contents in one transaction.
    pub async fn rebuild(&self) -> Result<Outcome, DbError> {
        let mut phases = Phases::start();
        let source = Snapshot::read(&self.op, &self.key).await?;
        phases.mark("read_source");
        let mut tx = self.wh.db.begin().await?;
        Self::lock_cursor(&mut tx).await?;
        for table in REBUILT_TABLES {
            let mut del = Query::delete();
            del.from_table(*table);
            tx.execute(&del).await?;
        }
        phases.mark("empty_tables");
        insert_facts(&mut tx, &source.facts).await?;
        self.check(Fault::AfterFacts)?;
        phases.mark("facts");
        let (teams, branches, products) = source.totals();
        add_totals(&mut tx, "kpi_agent_totals", "agent_id", source.agent_totals()).await?;
        add_totals(&mut tx, "kpi_team_totals", "team", teams).await?;
        add_totals(&mut tx, "kpi_branch_totals", "branch", branches).await?;
        add_totals(&mut tx, "kpi_product_totals", "product_id", products).await?;
        self.check(Fault::AfterTotals)?;
        write_dim_agents(&mut tx, None, source.agents.values()).await?;
        write_dim_products(&mut tx, None, source.products.values()).await?;
        self.check(Fault::AfterDimensions)?;
        rewrite_totals_table(&mut tx, "team_sales_metrics", "team", "kpi_team_totals", &BTreeSet::new()).await?;
        rewrite_totals_table(&mut tx, "branch_sales_metrics", "branch", "kpi_branch_totals", &BTreeSet::new()).await?;
        rewrite_product_metrics(&mut tx, &BTreeSet::new(), &BTreeSet::new()).await?;
        self.check(Fault::AfterLegacyTables)?;
        set_cursor(&mut tx, source.last_id, true).await?;
        self.check(Fault::BeforeCommit)?;
        phases.mark("the_rest");
        tx.commit().await?;
        phases.mark("commit");
        self.check(Fault::AfterCommit)?;
        tracing::info!(cells = source.facts.len(), phases = %phases, "warehouse rebuilt");
        let sales = source.facts.values().map(|s| s.count).sum();
        Ok(Outcome::Rebuilt { cells: source.facts.len(), sales, applied_id: source.last_id })
    }

    /// Tells the operational database how far the warehouse has got and prunes the change-log
    /// entries every consumer has applied. Returns the number pruned.
    pub async fn publish_cursor(&self, applied_id: i64) -> Result<u64, DbError> {
        moon_changelog::save_cursor(&self.op, CONSUMER, applied_id).await?;
        moon_changelog::prune(&self.op).await
    }

    /// Seconds since the oldest change the warehouse has not applied yet (0 when caught up).
    pub async fn lag(&self) -> Result<(f64, i64), DbError> {
        let applied = self.applied_id().await?.unwrap_or(0);
        let last = moon_changelog::last_id(&self.op).await?;
        let oldest = moon_changelog::oldest_after(&self.op, applied).await?;
        let lag = oldest.map_or(0.0, |t| std::cmp::max((Utc::now() - t).num_milliseconds(), 0) as f64 / 1000.0);
        Ok((lag, std::cmp::max(last - applied, 0)))
    }

    /// Runs refreshes until `stop` fires: polls the change log every `interval`, applies what is
    /// new, and publishes the cursor at most once per `publish_every`.
    pub async fn run(
        self,
        interval: Duration,
        metrics: Option<std::sync::Arc<dyn RefreshMetrics>>,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) {
        let publish_every = Duration::from_secs(5);
        let mut last_publish: Option<Instant> = None;
        let mut published = -1i64;
        let mut backoff = interval;
        let mut dirty = false;
        // The change-log position the warehouse last reached here. While the log has not moved
        // past it, polling costs one read of the sequence row, not a warehouse transaction.
        let mut reached: Option<i64> = None;
        loop {
            let idle = match reached {
                Some(at) => moon_changelog::last_id(&self.op).await.is_ok_and(|last| last == at),
                None => false,
            };
            if idle {
                if std::mem::take(&mut dirty)
                    && let Err(e) = self.wh.db.checkpoint().await
                {
                    tracing::warn!(error = %e, "warehouse checkpoint failed");
                }
                if let Some(m) = &metrics {
                    m.set_lag(0.0, 0);
                }
                if let Some(at) = reached.filter(|at| *at != published)
                    && last_publish.is_none_or(|t| t.elapsed() >= publish_every)
                {
                    match self.publish_cursor(at).await {
                        Ok(_) => {
                            published = at;
                            last_publish = Some(Instant::now());
                        }
                        Err(e) => tracing::warn!(error = %e, "cannot publish the aggregator cursor"),
                    }
                }
                tokio::select! {
                    _ = tokio::time::sleep(interval) => {}
                    _ = stop.changed() => return,
                }
                if *stop.borrow() {
                    return;
                }
                continue;
            }
            let started = Instant::now();
            match self.refresh().await {
                Ok(outcome) => {
                    backoff = interval;
                    reached = Some(outcome.applied_id());
                    // Copy the warehouse's write-ahead log back while nothing is waiting.
                    if matches!(outcome, Outcome::UpToDate { .. }) && std::mem::take(&mut dirty) {
                        if let Err(e) = self.wh.db.checkpoint().await {
                            tracing::warn!(error = %e, "warehouse checkpoint failed");
                        }
                    } else if !matches!(outcome, Outcome::UpToDate { .. }) {
                        dirty = true;
                    }
                    let mode = match outcome {
                        Outcome::UpToDate { .. } => None,
                        Outcome::Incremental { .. } => Some("incremental"),
                        Outcome::Rebuilt { .. } => Some("full"),
                    };
                    if let (Some(mode), Some(m)) = (mode, &metrics) {
                        m.observe_refresh(mode, started.elapsed());
                    }
                    let applied = outcome.applied_id();
                    let due = last_publish.is_none_or(|t| t.elapsed() >= publish_every);
                    if applied != published && due {
                        match self.publish_cursor(applied).await {
                            Ok(pruned) => {
                                published = applied;
                                last_publish = Some(Instant::now());
                                if pruned > 0 {
                                    tracing::debug!(pruned, "change log pruned");
                                }
                            }
                            Err(e) => tracing::warn!(error = %e, "cannot publish the aggregator cursor"),
                        }
                    }
                    if let Some(m) = &metrics
                        && let Ok((lag, backlog)) = self.lag().await
                    {
                        m.set_lag(lag, backlog);
                    }
                    // A full batch means more is waiting: go on at once.
                    if matches!(outcome, Outcome::Incremental { entries, .. } if entries as u64 >= self.batch_size) {
                        continue;
                    }
                }
                Err(e) => {
                    reached = None;
                    tracing::error!(error = %e, "warehouse refresh failed; retrying");
                    if let Some(m) = &metrics {
                        m.refresh_failed();
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(backoff) => {}
                _ = stop.changed() => return,
            }
            if *stop.borrow() {
                return;
            }
        }
    }
}

/// Where the refresh loop reports what it did. The serving process implements it over its
/// Prometheus registry; this crate stays headless and knows no HTTP or metrics library.
pub trait RefreshMetrics: Send + Sync {
    /// A refresh in `mode` (`incremental` or `full`) took `took`.
    fn observe_refresh(&self, mode: &'static str, took: Duration);
    /// A refresh failed and will be retried.
    fn refresh_failed(&self);
    /// The warehouse is `seconds` behind the oldest unapplied change, with `backlog` entries left.
    fn set_lag(&self, seconds: f64, backlog: i64);
}

/// Milliseconds spent in each step of a refresh, for the debug log.
struct Phases {
    last: Instant,
    done: Vec<(&'static str, f64)>,
}

impl Phases {
    fn start() -> Self {
        Self { last: Instant::now(), done: Vec::new() }
    }

    fn mark(&mut self, step: &'static str) {
        self.done.push((step, self.last.elapsed().as_secs_f64() * 1000.0));
        self.last = Instant::now();
    }
}

impl std::fmt::Display for Phases {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, (step, ms)) in self.done.iter().enumerate() {
            write!(f, "{}{step}={ms:.1}ms", if i == 0 { "" } else { " " })?;
        }
        Ok(())
    }
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
    /// Every non-empty rollup cell.
    pub facts: BTreeMap<FactKey, Sums>,
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
        let backend = tx.backend();
        let facts = if backend == moon_db::Backend::Sqlite {
            // In-process SQLite groups by sorting every row; scanning into hash maps is
            // faster (see sqlite_scan for how the rows travel), and two scans (even and odd agents: disjoint cells) use both
            // cores. The second scan's snapshot must be the first one's: every write moves the
            // change-log position, so equal positions mean equal data (a bulk load, which does
            // not, ends with a reload entry that triggers another rebuild).
            let mut other = op.begin_snapshot().await?;
            if moon_changelog::last_id_in(&mut other).await? != last_id {
                other.rollback().await?;
                tx.rollback().await?;
                return Ok(None);
            }
            let second = tokio::spawn(async move {
                let cells = super::sqlite_scan::scan_cells(&mut other, 1).await;
                let _ = other.rollback().await;
                cells
            });
            let first = super::sqlite_scan::scan_cells(&mut tx, 0).await?;
            let second = second
                .await
                .map_err(|e| DbError::Other(moon_db::sqlx::Error::Protocol(format!("rebuild scan failed: {e}"))))??;
            first.into_iter().chain(second).collect()
        } else {
            let mut q = Query::select();
            q.columns(["sale_date", "agent_id", "product_id", "branch"])
                .expr(Expr::col("id").count())
                .expr(moon_db::sum_i64(backend, Expr::col("amount_cents")))
                .from("sales")
                .group_by_columns(["sale_date", "agent_id", "product_id", "branch"]);
            let mut facts = BTreeMap::new();
            tx.for_each::<FactRow>(&q, |(sale_date, agent_id, product_id, branch, count, cents)| {
                facts.insert(FactKey { sale_date, agent_id, product_id, branch }, Sums { count, cents });
                Ok(())
            })
            .await?;
            facts
        };
        tx.rollback().await?;
        Ok(Some(Snapshot { last_id, agents, products, facts }))
    }

    /// Totals by agent.
    pub fn agent_totals(&self) -> BTreeMap<i64, Sums> {
        let mut agents: BTreeMap<i64, Sums> = BTreeMap::new();
        for (k, s) in &self.facts {
            agents.entry(k.agent_id).or_default().add(*s);
        }
        agents
    }

    /// Totals by team (the agent's current team), branch and product.
    #[allow(clippy::type_complexity)]
    pub fn totals(&self) -> (BTreeMap<String, Sums>, BTreeMap<String, Sums>, BTreeMap<i64, Sums>) {
        let (mut teams, mut branches, mut products) = (BTreeMap::new(), BTreeMap::new(), BTreeMap::new());
        for (k, s) in &self.facts {
            if let Some(a) = self.agents.get(&k.agent_id) {
                teams.entry(a.team.clone()).or_insert_with(Sums::default).add(*s);
            }
            branches.entry(k.branch.clone()).or_insert_with(Sums::default).add(*s);
            products.entry(k.product_id).or_insert_with(Sums::default).add(*s);
        }
        (teams, branches, products)
    }
}

type AgentRow = (i64, String, String, String, bool, bool);
type ProductRow = (i64, String, String, i64);

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
    let rows: Vec<AgentRow> = tx.fetch_all(&q).await?;
    Ok(rows
        .into_iter()
        .map(|(agent_id, code, team, branch, active, consent)| {
            let agent_key = if consent { key.of(&code) } else { String::from(WITHHELD) };
            agent_dim((agent_id, agent_key, team, branch, active, consent))
        })
        .collect())
}

async fn products_query(tx: &mut Tx, ids: Option<&BTreeSet<i64>>) -> Result<HashMap<i64, ProductDim>, DbError> {
    let mut q = Query::select();
    q.columns(["id", "product_type", "product_name", "target_amount_cents"]).from("products");
    if let Some(ids) = ids {
        q.and_where(Expr::col("id").is_in(ids.iter().copied()));
    }
    let rows: Vec<ProductRow> = tx.fetch_all(&q).await?;
    Ok(rows
        .into_iter()
        .map(|(product_id, product_type, product_name, target_cents)| {
            (product_id, ProductDim { product_id, product_type, product_name, target_cents })
        })
        .collect())
}

async fn source_agents(
    op: &Db,
    key: &PseudonymKey,
    ids: Option<&BTreeSet<i64>>,
) -> Result<HashMap<i64, AgentDim>, DbError> {
    if ids.is_some_and(BTreeSet::is_empty) {
        return Ok(HashMap::new());
    }
    let mut tx = op.begin_snapshot().await?;
    let out = agents_query(&mut tx, key, ids).await;
    tx.rollback().await?;
    out
}

async fn source_products(op: &Db, ids: Option<&BTreeSet<i64>>) -> Result<HashMap<i64, ProductDim>, DbError> {
    if ids.is_some_and(BTreeSet::is_empty) {
        return Ok(HashMap::new());
    }
    let mut tx = op.begin_snapshot().await?;
    let out = products_query(&mut tx, ids).await;
    tx.rollback().await?;
    out
}

async fn read_dim_agents(tx: &mut Tx, ids: &BTreeSet<i64>) -> Result<HashMap<i64, AgentDim>, DbError> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let mut q = Query::select();
    q.columns(DIM_AGENT_COLUMNS).from("dim_agent").and_where(Expr::col("agent_id").is_in(ids.iter().copied()));
    let rows: Vec<AgentRow> = tx.fetch_all(&q).await?;
    Ok(rows.into_iter().map(agent_dim).collect())
}

async fn read_dim_products(tx: &mut Tx, ids: &BTreeSet<i64>) -> Result<HashMap<i64, ProductDim>, DbError> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let mut q = Query::select();
    q.columns(["product_id", "product_type", "product_name", "target_cents"])
        .from("dim_product")
        .and_where(Expr::col("product_id").is_in(ids.iter().copied()));
    let rows: Vec<ProductRow> = tx.fetch_all(&q).await?;
    Ok(rows
        .into_iter()
        .map(|(product_id, product_type, product_name, target_cents)| {
            (product_id, ProductDim { product_id, product_type, product_name, target_cents })
        })
        .collect())
}

/// One agent's running totals, as kept in `kpi_agent_totals`.
async fn agent_totals(tx: &mut Tx, agent_id: i64) -> Result<Sums, DbError> {
    let mut q = Query::select();
    q.columns(["sales_count", "amount_cents"]).from("kpi_agent_totals").and_where(Expr::col("agent_id").eq(agent_id));
    let row: Option<(i64, i64)> = tx.fetch_optional(&q).await?;
    Ok(row.map_or_else(Sums::default, |(count, cents)| Sums { count, cents }))
}

/// Rollup cells per statement when reading or deleting by key: each key is four parameters.
const KEYS_PER_STATEMENT: usize = 200;

/// Matches exactly the given cells by their primary key: an OR of key equalities, which SQLite,
/// PostgreSQL and Redshift all answer from the key (no scan of the fact table), unlike a join
/// against a staging table whose statistics the planner does not know.
fn cells_matching<'a>(keys: impl Iterator<Item = &'a FactKey>) -> Condition {
    keys.fold(Cond::any(), |any, k| {
        any.add(
            Cond::all()
                .add(Expr::col("sale_date").eq(k.sale_date))
                .add(Expr::col("agent_id").eq(k.agent_id))
                .add(Expr::col("product_id").eq(k.product_id))
                .add(Expr::col("branch").eq(k.branch.as_str())),
        )
    })
}

/// Adds net deltas to rollup cells. Cost follows the number of cells changed, not the size of
/// the table.
///
/// SQLite and PostgreSQL add in place with `INSERT … ON CONFLICT DO UPDATE`: one key lookup per
/// cell, and the product index is left alone for cells that already exist (their indexed columns
/// do not change). Deleting and re-inserting instead dirtied a table page and an index page per
/// cell, which over a 10-million-sale history made the refresh and its commit grow with history
/// (BENCHMARKS.md). Redshift has no `ON CONFLICT`, so there the cells are read, deleted and
/// inserted with their new sums. Either way, a cell whose count reaches zero is removed.
async fn apply_fact_deltas(tx: &mut Tx, deltas: &BTreeMap<FactKey, Sums>, flavor: Flavor) -> Result<(), DbError> {
    if deltas.is_empty() {
        return Ok(());
    }
    if flavor == Flavor::Redshift {
        return replace_fact_cells(tx, deltas).await;
    }
    let backend = tx.backend();
    let sum = |col: &str| format!("fact_sales_daily.{col} + excluded.{col}");
    let total = match backend {
        // The same text `decimal()` writes, so the column's NUMERIC affinity stores the same value.
        Backend::Sqlite => {
            let x = sum("amount_cents");
            format!("printf('%s%d.%02d', CASE WHEN {x} < 0 THEN '-' ELSE '' END, abs({x}) / 100, abs({x}) % 100)")
        }
        _ => format!("CAST({} AS NUMERIC(18,2)) / 100", sum("amount_cents")),
    };
    let on_conflict = OnConflict::columns(FACT_KEY_COLUMNS)
        .values([
            ("sales_count", Expr::cust(sum("sales_count"))),
            ("amount_cents", Expr::cust(sum("amount_cents"))),
            ("total_amount", Expr::cust(total)),
        ])
        .to_owned();
    let columns: Vec<&'static str> = CELL_COLUMNS.into_iter().chain(["total_amount"]).collect();
    let cells: Vec<(&FactKey, &Sums)> = deltas.iter().collect();
    for chunk in cells.chunks(INSERT_CHUNK) {
        let mut ins = Query::insert();
        ins.into_table("fact_sales_daily").columns(columns.iter().copied());
        for (k, s) in chunk {
            ins.values_panic(fact_row(backend, k, s));
        }
        ins.on_conflict(on_conflict.clone());
        tx.execute(&ins).await?;
    }
    // Only a cell that lost sales can have reached zero.
    let shrunk: Vec<&FactKey> = deltas.iter().filter(|(_, s)| s.count < 0).map(|(k, _)| k).collect();
    for chunk in shrunk.chunks(KEYS_PER_STATEMENT) {
        let mut del = Query::delete();
        del.from_table("fact_sales_daily")
            .cond_where(cells_matching(chunk.iter().copied()).add(Expr::col("sales_count").eq(0i64)));
        tx.execute(&del).await?;
    }
    Ok(())
}

/// Redshift's way of adding deltas: reads the cells the deltas touch, deletes them and inserts
/// the sums, dropping cells that reach zero; plain SQL without `ON CONFLICT` or `RETURNING`.
async fn replace_fact_cells(tx: &mut Tx, deltas: &BTreeMap<FactKey, Sums>) -> Result<(), DbError> {
    let keys: Vec<&FactKey> = deltas.keys().collect();
    let mut merged: BTreeMap<FactKey, Sums> = deltas.clone();
    for chunk in keys.chunks(KEYS_PER_STATEMENT) {
        let mut q = Query::select();
        q.columns(CELL_COLUMNS).from("fact_sales_daily").cond_where(cells_matching(chunk.iter().copied()));
        let old = tx.fetch_all::<FactRow>(&q).await?;
        let mut del = Query::delete();
        del.from_table("fact_sales_daily").cond_where(cells_matching(chunk.iter().copied()));
        tx.execute(&del).await?;
        for (sale_date, agent_id, product_id, branch, count, cents) in old {
            merged.entry(FactKey { sale_date, agent_id, product_id, branch }).or_default().add(Sums { count, cents });
        }
    }
    merged.retain(|_, s| s.count != 0);
    insert_facts(tx, &merged).await
}

/// Inserts rows into `table` in multi-row statements of [`INSERT_CHUNK`] rows.
async fn insert_rows<I, R>(tx: &mut Tx, table: &'static str, columns: &[&'static str], rows: I) -> Result<(), DbError>
where
    I: IntoIterator<Item = R>,
    R: IntoIterator<Item = Expr>,
{
    let rows: Vec<R> = rows.into_iter().collect();
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let mut ins = Query::insert();
        ins.into_table(table).columns(columns.iter().copied());
        for row in rows.by_ref().take(INSERT_CHUNK) {
            ins.values_panic(row);
        }
        tx.execute(&ins).await?;
    }
    Ok(())
}

/// Deletes the rows of `table` whose `key_col` is one of `ids`.
async fn delete_ids(
    tx: &mut Tx,
    table: &'static str,
    key_col: &'static str,
    ids: &BTreeSet<i64>,
) -> Result<(), DbError> {
    let list: Vec<i64> = ids.iter().copied().collect();
    for chunk in list.chunks(INSERT_CHUNK) {
        let mut del = Query::delete();
        del.from_table(table).and_where(Expr::col(key_col).is_in(chunk.iter().copied()));
        tx.execute(&del).await?;
    }
    Ok(())
}

/// Writes every cell of a rebuild.
async fn insert_facts(tx: &mut Tx, facts: &BTreeMap<FactKey, Sums>) -> Result<(), DbError> {
    let backend = tx.backend();
    let columns: Vec<&'static str> = CELL_COLUMNS.into_iter().chain(["total_amount"]).collect();
    insert_rows(tx, "fact_sales_daily", &columns, facts.iter().map(|(k, s)| fact_row(backend, k, s))).await
}

/// One cell's values, in the order of [`CELL_COLUMNS`] followed by `total_amount`.
fn fact_row(backend: Backend, k: &FactKey, s: &Sums) -> [Expr; 7] {
    [
        Expr::val(k.sale_date),
        Expr::val(k.agent_id),
        Expr::val(k.product_id),
        Expr::val(k.branch.as_str()),
        Expr::val(s.count),
        Expr::val(s.cents),
        numeric(backend, s.cents),
    ]
}

/// Adds deltas to a running-totals table keyed by one column, deleting rows that reach zero.
async fn add_totals<K>(
    tx: &mut Tx,
    table: &'static str,
    key_col: &'static str,
    deltas: BTreeMap<K, Sums>,
) -> Result<(), DbError>
where
    K: Ord + Clone + Into<Value> + Send,
    (K, i64, i64): moon_db::FromAnyRow,
{
    if deltas.is_empty() {
        return Ok(());
    }
    let keys: Vec<K> = deltas.keys().cloned().collect();
    let mut current: BTreeMap<K, Sums> = BTreeMap::new();
    for chunk in keys.chunks(INSERT_CHUNK) {
        let mut q = Query::select();
        q.columns([key_col, "sales_count", "amount_cents"])
            .from(table)
            .and_where(Expr::col(key_col).is_in(chunk.iter().cloned()));
        for (k, count, cents) in tx.fetch_all::<(K, i64, i64)>(&q).await? {
            current.insert(k, Sums { count, cents });
        }
        let mut del = Query::delete();
        del.from_table(table).and_where(Expr::col(key_col).is_in(chunk.iter().cloned()));
        tx.execute(&del).await?;
    }
    let mut merged: Vec<(K, Sums)> = Vec::new();
    for (k, d) in deltas {
        let mut s = current.remove(&k).unwrap_or_default();
        s.add(d);
        if s.count != 0 {
            merged.push((k, s));
        }
    }
    let rows = merged.into_iter().map(|(k, s)| [Expr::val(k.into()), Expr::val(s.count), Expr::val(s.cents)]);
    insert_rows(tx, table, &[key_col, "sales_count", "amount_cents"], rows).await
}

fn agent_row(a: &AgentDim) -> [Expr; 6] {
    [
        Expr::val(a.agent_id),
        Expr::val(a.agent_key.as_str()),
        Expr::val(a.team.as_str()),
        Expr::val(a.branch.as_str()),
        Expr::val(a.active),
        Expr::val(a.analytics_consent),
    ]
}

fn product_row(backend: Backend, p: &ProductDim) -> [Expr; 5] {
    [
        Expr::val(p.product_id),
        Expr::val(p.product_type.as_str()),
        Expr::val(p.product_name.as_str()),
        numeric(backend, p.target_cents),
        Expr::val(p.target_cents),
    ]
}

/// Replaces the dimension rows of the agents in `ids` (all rows when `ids` is `None`) with
/// `current`.
async fn write_dim_agents<'a>(
    tx: &mut Tx,
    ids: Option<&BTreeSet<i64>>,
    current: impl Iterator<Item = &'a AgentDim>,
) -> Result<(), DbError> {
    if let Some(ids) = ids {
        delete_ids(tx, "dim_agent", "agent_id", ids).await?;
    }
    insert_rows(tx, "dim_agent", &DIM_AGENT_COLUMNS, current.map(agent_row)).await
}

/// The ids among `ids` whose warehouse row (`old`) is not what the source says now (`new`).
fn changed<T: PartialEq>(ids: &BTreeSet<i64>, old: &HashMap<i64, T>, new: &HashMap<i64, T>) -> BTreeSet<i64> {
    ids.iter().copied().filter(|id| old.get(id) != new.get(id)).collect()
}

/// Like [`write_dim_agents`], for products.
async fn write_dim_products<'a>(
    tx: &mut Tx,
    ids: Option<&BTreeSet<i64>>,
    current: impl Iterator<Item = &'a ProductDim>,
) -> Result<(), DbError> {
    if let Some(ids) = ids {
        delete_ids(tx, "dim_product", "product_id", ids).await?;
    }
    let backend = tx.backend();
    let columns = ["product_id", "product_type", "product_name", "target_amount", "target_cents"];
    insert_rows(tx, "dim_product", &columns, current.map(|p| product_row(backend, p))).await
}

/// Rewrites rows of `team_sales_metrics` or `branch_sales_metrics` from the exact running
/// totals: the rows for `keys`, or all rows when `keys` is empty. A key without sales has no
/// row, as the original's inner join and GROUP BY gave none.
async fn rewrite_totals_table(
    tx: &mut Tx,
    table: &'static str,
    key_col: &'static str,
    totals: &'static str,
    keys: &BTreeSet<String>,
) -> Result<(), DbError> {
    let all = keys.is_empty();
    let key_list: Vec<&String> = keys.iter().collect();
    let chunks: Vec<&[&String]> = if all { vec![&[]] } else { key_list.chunks(INSERT_CHUNK).collect() };
    for chunk in chunks {
        let mut del = Query::delete();
        del.from_table(table);
        let mut q = Query::select();
        q.columns([key_col, "amount_cents"]).from(totals);
        if !all {
            del.and_where(Expr::col(key_col).is_in(chunk.iter().map(|k| k.as_str())));
            q.and_where(Expr::col(key_col).is_in(chunk.iter().map(|k| k.as_str())));
        }
        tx.execute(&del).await?;
        let rows: Vec<(String, i64)> = tx.fetch_all(&q).await?;
        let backend = tx.backend();
        let rows = rows.into_iter().map(|(k, cents)| [Expr::val(k), numeric(backend, cents)]);
        insert_rows(tx, table, &[key_col, "total_sales"], rows).await?;
    }
    Ok(())
}

/// Rewrites `product_target_metrics` rows: those named `names` (old and new names of the
/// products in `ids`), or all rows when both are empty. Every product has a row, with 0 sales
/// when it has none, as the original's LEFT JOIN gave.
async fn rewrite_product_metrics(tx: &mut Tx, names: &BTreeSet<String>, ids: &BTreeSet<i64>) -> Result<(), DbError> {
    let all = names.is_empty() && ids.is_empty();
    let mut del = Query::delete();
    del.from_table("product_target_metrics");
    if !all {
        del.and_where(Expr::col("product_name").is_in(names.iter().map(String::as_str)));
    }
    tx.execute(&del).await?;
    let mut q = Query::select();
    q.columns([("dim_product", "product_name"), ("dim_product", "target_cents")])
        .expr(Expr::col(("kpi_product_totals", "amount_cents")))
        .from("dim_product")
        .left_join(
            "kpi_product_totals",
            Expr::col(("kpi_product_totals", "product_id")).equals(("dim_product", "product_id")),
        );
    if !all {
        q.and_where(Expr::col(("dim_product", "product_id")).is_in(ids.iter().copied()));
    }
    let rows: Vec<(String, i64, Option<i64>)> = tx.fetch_all(&q).await?;
    let b = tx.backend();
    let rows = rows.into_iter().map(|(name, target, total)| {
        let total = total.unwrap_or(0);
        let status = if total >= target { "Achieved" } else { "Not Achieved" };
        [Expr::val(name), numeric(b, target), numeric(b, total), Expr::val(status)]
    });
    insert_rows(tx, "product_target_metrics", &["product_name", "target_amount", "total_sales", "status"], rows).await
}

async fn set_cursor(tx: &mut Tx, applied_id: i64, rebuilt: bool) -> Result<(), DbError> {
    let now: DateTime<Utc> = moon_db::now();
    let mut up = Query::update();
    up.table("wh_state").value("applied_id", applied_id).value("refreshed_at", now);
    if rebuilt {
        up.value("rebuilt_at", now);
    }
    up.and_where(Expr::col("consumer").eq(CONSUMER));
    if tx.execute(&up).await? == 0 {
        let ins = moon_db::insert_row(
            "wh_state",
            vec![
                ("consumer", CONSUMER.into()),
                ("applied_id", applied_id.into()),
                ("refreshed_at", now.into()),
                ("rebuilt_at", now.into()),
            ],
        );
        tx.execute(&ins).await?;
    }
    Ok(())
}
