//! The rule runner: reads the change log from its own cursor (`notification_rules` in
//! `change_cursors`) and turns sales that cross a milestone or reach a target into notifications.
//!
//! **Exactly once.** Each step is one transaction that locks the cursor row, reads the entries
//! after it, moves the running totals it keeps (`notification_totals`), writes the notifications
//! those moves call for, and advances the cursor. It all commits together or not at all, so a
//! crash repeats a step rather than skipping or doubling it; replicas take turns on the row lock.
//! Every rule-made notification also carries a dedupe key (rule, subject, period, threshold or
//! recipient) under a UNIQUE index, so a sale edited back and forth across a threshold is told
//! once per period, and nothing that bypassed the lock could double a message.
//!
//! **Where it starts.** On first start, after a bulk load (`Reload`), or when entries it needs
//! were pruned, the runner rebuilds its totals from the sales table, summed in a read snapshot
//! whose change-log position is exactly the changes those sums include (no lock is held, so
//! sales keep being recorded meanwhile), and goes on from that position: changes before it
//! notify nobody, which is what an installation that just switched rules on wants.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::Utc;
use moon_db::sea_query::{Expr, ExprTrait, LockType, OnConflict, Query};
use moon_db::{Db, DbError, Tx, insert_row};

use super::pipeline::{self, Channels, NewNotification};
use super::rules::{Fill, Period, Rule, RuleKind, TargetScope, render};
use moon_changelog::{Entry, Event, SaleFacts};

/// The runner's name in `change_cursors`.
pub const CONSUMER: &str = "notification_rules";

/// One (subject, period) running total: `agent:<id>`, `product:<id>` or
/// `product:<id>:branch:<name>`, and a period key such as `m:2026-11`.
type Key = (String, String);

/// What a step did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Nothing new after the cursor.
    Idle {
        /// The cursor.
        applied_id: i64,
    },
    /// Totals were rebuilt from the sales table; the cursor now stands at the log's end.
    Seeded {
        /// The cursor.
        applied_id: i64,
    },
    /// A batch of entries was applied.
    Applied {
        /// The cursor afterwards.
        applied_id: i64,
        /// Entries applied.
        entries: usize,
        /// Notifications written.
        created: usize,
    },
}

/// Applies the notification rules to the change log.
#[derive(Debug, Clone)]
pub struct RuleRunner {
    db: Db,
    channels: Channels,
    batch_size: u64,
}

/// A total that went up, with the sale that moved it.
struct Rise {
    key: Key,
    before: i64,
    after: i64,
    sale: SaleFacts,
    /// The trace of the request that recorded the sale, continued by the notification's webhooks.
    trace: Option<String>,
}

impl RuleRunner {
    /// A runner over `db`; `channels` says which outgoing channels exist in this process.
    pub fn new(db: Db, channels: Channels) -> Self {
        Self { db, channels, batch_size: 500 }
    }

    /// Most entries per step (each step is one transaction; SQLite writers wait for it).
    pub fn with_batch_size(mut self, n: u64) -> Self {
        self.batch_size = std::cmp::max(n, 1);
        self
    }

    /// Applies the next batch of the change log (or seeds); see the module docs.
    pub async fn step(&self) -> Result<Step, DbError> {
        let mut tx = self.db.begin().await?;
        let Some(applied) = lock_cursor(&mut tx).await? else {
            tx.rollback().await?;
            let at = seed(&self.db, None).await?;
            tracing::info!(applied_id = at, "notification rules start at the end of the change log");
            return Ok(Step::Seeded { applied_id: at });
        };
        let entries = moon_changelog::read_after_in(&mut tx, applied, self.batch_size).await?;
        let Some(first) = entries.first() else {
            tx.rollback().await?;
            return Ok(Step::Idle { applied_id: applied });
        };
        if first.id != applied + 1 || entries.iter().any(|e| e.event == Event::Reload) {
            tracing::warn!(
                applied,
                first = first.id,
                "change log pruned past the rule runner, or bulk-loaded; reseeding"
            );
            tx.rollback().await?;
            let at = seed(&self.db, Some(applied)).await?;
            return Ok(Step::Seeded { applied_id: at });
        }
        let last = entries.last().map_or(applied, |e| e.id);
        let rules: Vec<Rule> = super::rules_api::load(&mut tx)
            .await?
            .into_iter()
            .filter(|r| r.enabled && matches!(r.kind, RuleKind::Milestone | RuleKind::TargetAchieved))
            .collect();
        let (rises, changed) = apply_entries(&mut tx, &entries).await?;
        write_totals(&mut tx, &changed).await?;
        let created = if rules.is_empty() { Vec::new() } else { self.notify(&mut tx, &rules, &rises).await? };
        set_cursor(&mut tx, last).await?;
        if !created.is_empty() {
            let actor = crate::audit::Actor {
                id: String::from("system:notification_rules"),
                role: None,
                origin: moon_http::principal::Origin::default(),
            };
            let event = crate::audit::Event::on("notification.rules_fired", "change_log", last).with_detail(
                serde_json::json!({ "notifications": created, "entries": { "from": first.id, "to": last } }),
            );
            crate::audit::append(&mut tx, actor, event).await?;
        }
        tx.commit().await?;
        Ok(Step::Applied { applied_id: last, entries: entries.len(), created: created.len() })
    }

    /// Writes the notifications the rises call for; returns their ids.
    async fn notify(&self, tx: &mut Tx, rules: &[Rule], rises: &[Rise]) -> Result<Vec<i64>, DbError> {
        // (agent, dedupe, kind, message, trace of the causing request)
        let mut wanted: Vec<(i64, String, RuleKind, String, Option<&str>)> = Vec::new();
        let agent_ids: BTreeSet<i64> = rises.iter().map(|r| r.sale.agent_id).collect();
        let product_ids: BTreeSet<i64> = rises.iter().map(|r| r.sale.product_id).collect();
        let names = crate::agents::repo::first_names(tx, &agent_ids).await?;
        let products = super::sales_reads::products(tx, &product_ids).await?;
        let now = Utc::now();
        for rule in rules {
            for rise in rises {
                let (subject, period_key) = &rise.key;
                if *period_key != rule.period.key(rise.sale.sale_date) {
                    continue;
                }
                match rule.kind {
                    RuleKind::Milestone if *subject == agent_subject(rise.sale.agent_id) => {
                        // One sale carrying an agent past several thresholds tells the highest.
                        if let Some(&amount) = rule.crossed(rise.before, rise.after).last() {
                            let fill = Fill {
                                agent_name: names.get(&rise.sale.agent_id).cloned(),
                                amount: Some(moon_domain::Money::from_cents(amount)),
                                period: Some(rule.period.label(rise.sale.sale_date)),
                                ..Fill::default()
                            };
                            wanted.push((
                                rise.sale.agent_id,
                                format!("r{}:{subject}:{period_key}:{amount}", rule.id),
                                rule.kind,
                                render(&rule.template, &fill),
                                rise.trace.as_deref(),
                            ));
                        }
                    }
                    RuleKind::TargetAchieved => {
                        let expected = match rule.scope {
                            TargetScope::Company => product_subject(rise.sale.product_id),
                            TargetScope::Branch => branch_subject(rise.sale.product_id, &rise.sale.branch),
                        };
                        // "The current period": a back-dated sale completing an old period's
                        // target is no news.
                        if *subject != expected || rule.period.key(rule.today(now)) != *period_key {
                            continue;
                        }
                        let Some((name, target)) = products.get(&rise.sale.product_id) else { continue };
                        if !(rise.before < *target && rise.after >= *target) {
                            continue;
                        }
                        let fill = Fill {
                            product: Some(name.clone()),
                            amount: Some(moon_domain::Money::from_cents(rise.after)),
                            target: Some(moon_domain::Money::from_cents(*target)),
                            period: Some(rule.period.label(rise.sale.sale_date)),
                            remaining: Some(moon_domain::Money::from_cents(0)),
                            ..Fill::default()
                        };
                        let branch = (rule.scope == TargetScope::Branch).then_some(rise.sale.branch.as_str());
                        let range = rule.period.range(rise.sale.sale_date);
                        for agent in super::sales_reads::sellers(tx, rise.sale.product_id, range, branch).await? {
                            let fill = Fill { agent_name: names_for(tx, &names, agent).await?, ..fill.clone() };
                            wanted.push((
                                agent,
                                format!("r{}:{subject}:{period_key}:a{agent}", rule.id),
                                rule.kind,
                                render(&rule.template, &fill),
                                rise.trace.as_deref(),
                            ));
                        }
                    }
                    _ => {}
                }
            }
        }
        let mut created = Vec::new();
        for (agent_id, key, kind, message, trace) in wanted {
            let new = NewNotification {
                to: super::pipeline::Recipient::Agent(agent_id),
                message: &message,
                kind: kind.as_str(),
                dedupe_key: Some(key),
            };
            if let Some(n) = pipeline::create_traced(tx, self.channels, &new, trace).await? {
                created.push(n.id);
            }
        }
        Ok(created)
    }
}

/// The rule runner as a background job (see `moon_jobs`): seeds the configured rules once, then
/// one [`RuleRunner::step`] per job step. While the change log has not moved past what the
/// runner reached, a step costs one read of the sequence row instead of a write transaction.
pub struct RuleJob<F> {
    runner: RuleRunner,
    /// Rules from the configuration and the time zone they are written in, until seeded.
    seed: Option<(Vec<super::rules::RuleSpec>, String)>,
    reached: Option<i64>,
    after_commit: F,
}

impl<F: Fn(usize) + Send + Sync + 'static> RuleJob<F> {
    /// A job for `runner` that first seeds `rules` (when given); `after_commit(n)` is told how
    /// many notifications each applied batch wrote.
    pub fn new(runner: RuleRunner, rules: Option<(Vec<super::rules::RuleSpec>, String)>, after_commit: F) -> Self {
        Self { runner, seed: rules, reached: None, after_commit }
    }
}

impl<F: Fn(usize) + Send + Sync + 'static> moon_jobs::Job for RuleJob<F> {
    async fn step(&mut self) -> anyhow::Result<moon_jobs::Step> {
        if let Some((specs, timezone)) = &self.seed {
            let seeded = super::rules_api::seed(&self.runner.db, specs, timezone).await?;
            if seeded > 0 {
                tracing::info!(rules = seeded, "notification rules created from the configuration");
            }
            self.seed = None;
        }
        if let Some(at) = self.reached
            && moon_changelog::last_id(&self.runner.db).await.is_ok_and(|last| last == at)
        {
            return Ok(moon_jobs::Step::Idle);
        }
        match self.runner.step().await {
            Ok(Step::Idle { applied_id }) => {
                self.reached = Some(applied_id);
                Ok(moon_jobs::Step::Idle)
            }
            Ok(Step::Seeded { applied_id }) => {
                self.reached = Some(applied_id);
                Ok(moon_jobs::Step::More)
            }
            Ok(Step::Applied { applied_id, entries, created }) => {
                self.reached = Some(applied_id);
                (self.after_commit)(created);
                tracing::debug!(entries, created, "notification rules applied");
                Ok(moon_jobs::Step::More)
            }
            Err(e) => {
                self.reached = None;
                Err(anyhow::Error::new(e).context("notification rules failed"))
            }
        }
    }
}

fn agent_subject(id: i64) -> String {
    format!("agent:{id}")
}

fn product_subject(id: i64) -> String {
    format!("product:{id}")
}

fn branch_subject(id: i64, branch: &str) -> String {
    format!("product:{id}:branch:{branch}")
}

/// The totals a sale counts in: the agent's in every period, the product's and the product's
/// in the branch in every period but all-time (targets are per month, quarter or year).
fn keys(s: &SaleFacts) -> Vec<Key> {
    let mut out = Vec::with_capacity(10);
    for p in Period::EVERY {
        let pk = p.key(s.sale_date);
        out.push((agent_subject(s.agent_id), pk.clone()));
        if p != Period::All {
            out.push((product_subject(s.product_id), pk.clone()));
            out.push((branch_subject(s.product_id, &s.branch), pk));
        }
    }
    out
}

/// Moves the totals entry by entry; returns every rise (with the sale that caused it) and the
/// totals that changed.
///
/// A sale moves about ten totals (its agent, product and product-in-branch, each for every
/// period). Read and written one statement at a time, that was twenty statements per sale inside
/// the runner's write transaction, which on SQLite shares the one writer with the sales
/// themselves and cost more than recording the sale (BENCHMARKS.md, "Write path"). So the totals
/// a step needs are read together ([`read_totals`]) and written together ([`write_totals`]).
async fn apply_entries(tx: &mut Tx, entries: &[Entry]) -> Result<(Vec<Rise>, BTreeMap<Key, i64>), DbError> {
    let mut moves: Vec<(&Entry, BTreeMap<Key, i64>)> = Vec::new();
    for e in entries {
        let Event::Sale { before, after, .. } = &e.event else { continue };
        let mut deltas: BTreeMap<Key, i64> = BTreeMap::new();
        if let Some(s) = before {
            for k in keys(s) {
                *deltas.entry(k).or_default() -= s.amount_cents;
            }
        }
        if let Some(s) = after {
            for k in keys(s) {
                *deltas.entry(k).or_default() += s.amount_cents;
            }
        }
        deltas.retain(|_, d| *d != 0);
        moves.push((e, deltas));
    }
    let wanted: BTreeSet<&Key> = moves.iter().flat_map(|(_, d)| d.keys()).collect();
    let mut totals = read_totals(tx, &wanted).await?;
    let mut changed: BTreeMap<Key, i64> = BTreeMap::new();
    let mut rises = Vec::new();
    for (e, deltas) in moves {
        let Event::Sale { after, .. } = &e.event else { continue };
        for (key, delta) in deltas {
            let total = totals.entry(key.clone()).or_insert(0);
            let old = *total;
            *total += delta;
            changed.insert(key.clone(), *total);
            if delta > 0
                && let Some(s) = after
            {
                rises.push(Rise { key, before: old, after: *total, sale: s.clone(), trace: e.trace_context.clone() });
            }
        }
    }
    Ok((rises, changed))
}

/// Keys per statement when reading or writing totals: two values each, far below every
/// backend's parameter limit.
const TOTALS_PER_STATEMENT: usize = 400;

/// The stored totals among `keys` (absent ones are zero). Each chunk is one query over
/// `subject IN (…) AND period IN (…)`, which can return a few pairs not asked for; they are
/// filtered out here.
async fn read_totals(tx: &mut Tx, keys: &BTreeSet<&Key>) -> Result<BTreeMap<Key, i64>, DbError> {
    let mut out = BTreeMap::new();
    let wanted = keys;
    let keys: Vec<&Key> = keys.iter().copied().collect();
    for chunk in keys.chunks(TOTALS_PER_STATEMENT) {
        let subjects: BTreeSet<&str> = chunk.iter().map(|k| k.0.as_str()).collect();
        let periods: BTreeSet<&str> = chunk.iter().map(|k| k.1.as_str()).collect();
        let mut q = Query::select();
        q.columns(["subject", "period", "cents"])
            .from("notification_totals")
            .and_where(Expr::col("subject").is_in(subjects))
            .and_where(Expr::col("period").is_in(periods));
        for (subject, period, cents) in tx.fetch_all::<(String, String, i64)>(&q).await? {
            let key = (subject, period);
            if wanted.contains(&key) {
                out.insert(key, cents);
            }
        }
    }
    Ok(out)
}

/// Stores the new totals, inserting or replacing each in one statement per chunk. The runner
/// holds the cursor row's lock, so no other runner moves these totals meanwhile.
async fn write_totals(tx: &mut Tx, totals: &BTreeMap<Key, i64>) -> Result<(), DbError> {
    let rows: Vec<(&Key, &i64)> = totals.iter().collect();
    for chunk in rows.chunks(TOTALS_PER_STATEMENT) {
        let mut ins = Query::insert();
        ins.into_table("notification_totals").columns(["subject", "period", "cents"]);
        for ((subject, period), cents) in chunk {
            ins.values([subject.as_str().into(), period.as_str().into(), (**cents).into()])
                .map_err(|e| DbError::Other(moon_db::sqlx::Error::Protocol(e.to_string())))?;
        }
        ins.on_conflict(OnConflict::columns(["subject", "period"]).update_column("cents").to_owned());
        tx.execute(&ins).await?;
    }
    Ok(())
}

/// Takes the cursor row's lock and reads it; `None` before the runner's first step.
async fn lock_cursor(tx: &mut Tx) -> Result<Option<i64>, DbError> {
    let mut touch = Query::update();
    touch
        .table("change_cursors")
        .value("updated_at", Expr::col("updated_at"))
        .and_where(Expr::col("consumer").eq(CONSUMER));
    tx.execute(&touch).await?;
    let mut q = Query::select();
    // FOR UPDATE: under MariaDB's REPEATABLE READ a plain read could see an older snapshot.
    q.column("applied_id").from("change_cursors").and_where(Expr::col("consumer").eq(CONSUMER)).lock(LockType::Update);
    Ok(tx.fetch_optional::<(i64,)>(&q).await?.map(|(n,)| n))
}

async fn set_cursor(tx: &mut Tx, applied_id: i64) -> Result<(), DbError> {
    let mut up = Query::update();
    up.table("change_cursors")
        .values([("applied_id", Expr::val(applied_id)), ("updated_at", Expr::val(moon_db::now()))])
        .and_where(Expr::col("consumer").eq(CONSUMER));
    tx.execute(&up).await?;
    Ok(())
}

/// Rebuilds the totals from the sales table at the log's current end and registers (or moves)
/// the cursor there; returns the cursor's position afterwards. `registered` is the cursor the
/// caller found, if any.
///
/// The sales are summed in a read snapshot, whose change-log position is exactly the changes it
/// shows, so writers are never held up: over 10 million sales the sum takes many seconds, and
/// holding the change sequence (or SQLite's one writer) that long timed out every sale recorded
/// meanwhile. Only the short write of the totals and the cursor is a write transaction; if
/// another runner moved the cursor in between, its result stands and this one is dropped.
async fn seed(db: &Db, registered: Option<i64>) -> Result<i64, DbError> {
    let mut snapshot = db.begin_snapshot().await?;
    let at = moon_changelog::last_id_in(&mut snapshot).await?;
    let mut totals: BTreeMap<Key, i64> = BTreeMap::new();
    super::sales_reads::daily_sums(&mut snapshot, |s| {
        for k in keys(&s) {
            *totals.entry(k).or_default() += s.amount_cents;
        }
    })
    .await?;
    snapshot.rollback().await?;

    let mut tx = db.begin().await?;
    let now = lock_cursor(&mut tx).await?;
    if now != registered {
        tx.rollback().await?;
        return Ok(now.unwrap_or(at));
    }
    let mut del = Query::delete();
    del.from_table("notification_totals");
    tx.execute(&del).await?;
    let rows: Vec<(Key, i64)> = totals.into_iter().collect();
    for chunk in rows.chunks(500) {
        let mut ins = Query::insert();
        ins.into_table("notification_totals").columns(["subject", "period", "cents"]);
        for ((subject, period), cents) in chunk {
            ins.values([subject.as_str().into(), period.as_str().into(), (*cents).into()])
                .map_err(|e| DbError::Other(moon_db::sqlx::Error::Protocol(e.to_string())))?;
        }
        tx.execute(&ins).await?;
    }
    if registered.is_some() {
        set_cursor(&mut tx, at).await?;
    } else {
        // Two replicas registering at once: the loser's insert fails and its step is retried.
        tx.execute(&insert_row(
            "change_cursors",
            vec![("consumer", CONSUMER.into()), ("applied_id", at.into()), ("updated_at", moon_db::now().into())],
        ))
        .await?;
    }
    tx.commit().await?;
    Ok(at)
}

async fn names_for(tx: &mut Tx, known: &HashMap<i64, String>, id: i64) -> Result<Option<String>, DbError> {
    if let Some(n) = known.get(&id) {
        return Ok(Some(n.clone()));
    }
    Ok(crate::agents::repo::first_names(tx, &BTreeSet::from([id])).await?.remove(&id))
}
