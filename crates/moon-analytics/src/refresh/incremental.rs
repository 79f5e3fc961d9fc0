//! Applying one batch of the change log in one warehouse transaction.
//!
//! **Exactly once across two databases.** The transaction starts by locking the cursor row, reads
//! the log after it, and moves it with the deltas it covers, so a crash at any point lands a whole
//! batch with its cursor or nothing, and concurrent aggregators take turns (ADR 0006).
//!
//! **Cost.** The batch is netted per daily cell ([`Batch`]) and only those cells, the affected
//! keys of each rollup, the dimension rows that changed and the affected rows of the original
//! three tables are touched.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use moon_db::{DbError, Tx};

use super::attribution::{Dims, EntitySums, moves};
use super::delta::{Batch, FactKey, Sums};
use super::{Phases, RebuildReason, history};
use crate::aggregator::{Aggregator, Fault, Outcome};
use crate::history_dims;
use crate::rollups::{self, Rollup, RollupKey, SALES_TABLES};
use crate::sinks;
use crate::sinks::{cursor, dimensions, facts, original_tables, rollup_totals};
use crate::source;

impl Aggregator {
    /// Applies the next batch; the reason instead when only a rebuild can bring the warehouse
    /// up to date.
    pub(crate) async fn incremental(&self) -> Result<Result<Outcome, RebuildReason>, DbError> {
        let mut phases = Phases::start();
        let mut tx = self.wh.db.begin().await?;
        let Some(applied) = cursor::lock(&mut tx).await? else {
            return Ok(Err(RebuildReason::NewWarehouse));
        };
        let entries = source::log_after(&self.op, applied, self.batch_size).await?;
        let Some(first) = entries.first() else {
            tx.rollback().await?;
            return Ok(Ok(Outcome::UpToDate { applied_id: applied }));
        };
        if first.id != applied + 1 {
            return Ok(Err(RebuildReason::Pruned { applied, first: first.id }));
        }
        let mut batch = Batch::from_entries(&entries);
        phases.mark("read_log");
        if batch.reload {
            return Ok(Err(RebuildReason::BulkLoad));
        }
        let old_agents = dimensions::read_agents(&mut tx, Some(&batch.agents)).await?;
        let new_agents = source::agents(&self.op, &self.key, &batch.agents).await?;
        let old_products = dimensions::read_products(&mut tx, Some(&batch.products)).await?;
        let new_products = source::products(&self.op, &batch.products).await?;
        let mut history = source::memberships(&self.op, &batch.agents, &new_agents).await?;
        // An agent no longer in the source keeps the team the warehouse knew.
        history.fill_from(old_agents.values());
        phases.mark("read_dimensions");
        let dialect = self.dialect(&tx);

        // The history the warehouse's cells of these agents follow: where the source's differs
        // (a move applied now, or one made since the entries of this batch were written), the
        // cells from the first day that differs are re-attributed before this batch's deltas,
        // which are keyed by the source's history, are added.
        let applied = history_dims::memberships_of(&sinks::history::read_memberships_of(&mut tx, &batch.agents).await?);
        let mut moved = BTreeMap::new();
        let mut history_changed = BTreeSet::new();
        for &agent in &batch.agents {
            if applied.of(agent) == history.of(agent) {
                continue;
            }
            history_changed.insert(agent);
            if applied.of(agent).is_empty() {
                moved.insert(agent, None);
            } else if let Some(from) = crate::membership::first_team_difference(applied.of(agent), history.of(agent)) {
                moved.insert(agent, from);
            }
        }
        batch.assign_teams(|agent, day| history.team_on(agent, day));
        for (k, s) in re_attribute(&mut tx, &moved, &history).await? {
            batch.facts.entry(k).or_default().add(s);
        }
        batch.facts.retain(|_, s| !s.is_zero());
        phases.mark("re_attribute");

        facts::add_deltas(&mut tx, dialect, &batch.facts).await?;
        self.check(Fault::AfterFacts)?;
        phases.mark("facts");

        let old = Dims { agents: vec![&old_agents], products: vec![&old_products] };
        let new = Dims { agents: vec![&new_agents], products: vec![&new_products] };
        let changed_keys = add_to_rollups(&mut tx, &batch.facts, &old, &new).await?;
        self.check(Fault::AfterTotals)?;
        phases.mark("totals");

        let agents_changed = dimensions::changed(&batch.agents, &old_agents, &new_agents);
        let products_changed = dimensions::changed(&batch.products, &old_products, &new_products);
        dimensions::write_agents(
            &mut tx,
            Some(&agents_changed),
            agents_changed.iter().filter_map(|id| new_agents.get(id)),
        )
        .await?;
        dimensions::write_products(
            &mut tx,
            dialect,
            Some(&products_changed),
            products_changed.iter().filter_map(|id| new_products.get(id)),
        )
        .await?;
        // The effective-dated and calendar dimensions: memberships of agents with an entry of
        // their own or a new row (their pseudonym may have changed), targets by id and of
        // re-keyed agents, and the days the batch reaches.
        let mut members: BTreeSet<i64> = batch.agent_changes.union(&agents_changed).copied().collect();
        members.extend(history_changed);
        let rows = history_dims::membership_rows(members.iter().filter_map(|id| new_agents.get(id)), &history);
        sinks::history::write_memberships(&mut tx, Some(&members), &rows).await?;
        let rekeyed: BTreeSet<i64> = agents_changed
            .iter()
            .filter(|id| old_agents.get(id).map(|a| &a.agent_key) != new_agents.get(id).map(|a| &a.agent_key))
            .copied()
            .collect();
        let targets = source::targets(&self.op, &self.key, &batch.targets, &rekeyed).await?;
        history::replace_targets(&mut tx, dialect, &batch.targets, &rekeyed, &targets).await?;
        let holidays = source::holidays(&self.op).await?;
        let span = batch.facts.keys().map(|k| (k.sale_date, k.sale_date)).reduce(|(a, b), (c, d)| (a.min(c), b.max(d)));
        history::update_dates(&mut tx, &self.calendar, &holidays, history::with_targets(span, &targets)).await?;
        self.check(Fault::AfterDimensions)?;
        phases.mark("dimensions");

        for t in SALES_TABLES {
            let keys = changed_keys.get(t.from.table).cloned().unwrap_or_default();
            original_tables::rewrite_sales(&mut tx, dialect, t, &keys).await?;
        }
        let mut names: BTreeSet<String> = old_products.values().map(|p| p.product_name.clone()).collect();
        names.extend(new_products.values().map(|p| p.product_name.clone()));
        original_tables::rewrite_product_targets(&mut tx, dialect, &names, &batch.products).await?;
        self.check(Fault::AfterLegacyTables)?;
        phases.mark("original_tables");

        cursor::set(&mut tx, batch.last_id, false).await?;
        self.check(Fault::BeforeCommit)?;
        tx.commit().await?;
        phases.mark("commit");
        tracing::debug!(entries = batch.entries, cells = batch.facts.len(), phases = %phases, "incremental refresh");
        self.check(Fault::AfterCommit)?;
        Ok(Ok(Outcome::Incremental { entries: batch.entries, cells: batch.facts.len(), applied_id: batch.last_id }))
    }
}

/// The deltas that move the cells of agents whose team changed (`moved`: agent → first day
/// affected, `None` for all) to the team `history` gives their day: minus under the team a cell
/// has, plus under the one it should have. Only those agents' cells from that day are read, and
/// only cells whose team differs change, so a move costs what it re-attributes, and earlier
/// periods are never touched. Checking against the history rather than applying the entry's
/// team also makes it idempotent and correct for several moves in one batch.
async fn re_attribute(
    tx: &mut Tx,
    moved: &BTreeMap<i64, Option<chrono::NaiveDate>>,
    history: &crate::membership::Memberships,
) -> Result<BTreeMap<FactKey, Sums>, DbError> {
    let mut deltas: BTreeMap<FactKey, Sums> = BTreeMap::new();
    for (&agent, &from) in moved {
        for (k, s) in facts::read_agent(tx, agent, from).await? {
            let Some(team) = history.team_on(agent, k.sale_date) else { continue };
            if team == k.team {
                continue;
            }
            let to = FactKey { team: team.to_owned(), ..k.clone() };
            deltas.entry(k).or_default().add(Sums { count: -s.count, cents: -s.cents });
            deltas.entry(to).or_default().add(s);
        }
    }
    Ok(deltas)
}

/// Adds a batch's net cell deltas to every declared rollup, and moves the whole history of an
/// agent or product whose dimension row changed between keys of the rollups that follow it.
/// Returns the keys each rollup changed, by table.
///
/// A cell's sales count under the key its agent or product has in the warehouse (`old`), if it
/// has a row there, else under the source's (`new`): then moving the history, this batch's sales
/// included, from the old key to the new one leaves every sale under the new key. The rollups
/// whose keys never move are written first, because the histories that move are read from them.
async fn add_to_rollups(
    tx: &mut Tx,
    cells: &BTreeMap<FactKey, Sums>,
    old: &Dims<'_>,
    new: &Dims<'_>,
) -> Result<HashMap<&'static str, BTreeSet<RollupKey>>, DbError> {
    let sums = EntitySums::of(cells);
    let lookup = Dims {
        agents: old.agents.iter().chain(&new.agents).copied().collect(),
        products: old.products.iter().chain(&new.products).copied().collect(),
    };
    let (fixed, moving): (Vec<&&Rollup>, Vec<&&Rollup>) =
        rollups::ALL.iter().partition(|r| r.grouping.follows().is_none());
    let mut changed = HashMap::new();
    for rollup in fixed.into_iter().chain(moving) {
        let (mut deltas, unknown) = sums.group(rollup.grouping, &lookup);
        for id in unknown {
            tracing::warn!(id, rollup = rollup.table, "sales of an unknown agent or product; --verify will report it");
        }
        for m in moves(rollup.grouping, old, new) {
            let Some(whose) = rollup.grouping.follows() else { continue };
            let total = rollup_totals::read_one(tx, rollups::per(whose), RollupKey::Id(m.id)).await?;
            deltas.entry(m.from).or_default().add(Sums { count: -total.count, cents: -total.cents });
            deltas.entry(m.to).or_default().add(total);
        }
        deltas.retain(|_, s| !s.is_zero());
        changed.insert(rollup.table, deltas.keys().cloned().collect());
        rollup_totals::add(tx, rollup, deltas).await?;
    }
    Ok(changed)
}
