//! Recomputing the whole warehouse from one consistent snapshot of the operational database,
//! replacing its contents in one transaction: for a new warehouse, after entries it needed were
//! pruned, after a bulk load, and on `moon aggregate --full`.

use std::collections::BTreeSet;

use moon_db::DbError;
use moon_db::sea_query::Query;

use super::attribution::{Dims, EntitySums};
use super::{Phases, history};
use crate::aggregator::{Aggregator, Fault, Outcome};
use crate::history_dims;
use crate::rollups::{self, SALES_TABLES};
use crate::schema;
use crate::sinks;
use crate::sinks::{cursor, dimensions, facts, original_tables, rollup_totals};
use crate::source::Snapshot;

impl Aggregator {
    /// Recomputes the whole warehouse from one consistent snapshot of the operational database
    /// and replaces its contents in one transaction.
    pub async fn rebuild(&self) -> Result<Outcome, DbError> {
        let mut phases = Phases::start();
        let source = Snapshot::read(&self.op, &self.key).await?;
        phases.mark("read_source");
        let mut tx = self.wh.db.begin().await?;
        cursor::lock(&mut tx).await?;
        for table in schema::rebuilt_tables() {
            let mut del = Query::delete();
            del.from_table(table);
            tx.execute(&del).await?;
        }
        phases.mark("empty_tables");
        let dialect = self.dialect(&tx);
        facts::insert(&mut tx, dialect, &source.facts).await?;
        self.check(Fault::AfterFacts)?;
        phases.mark("facts");
        let sums = EntitySums::of(&source.facts);
        let dims = Dims::of(&source);
        for rollup in rollups::ALL {
            let (totals, _unknown) = sums.group(rollup.grouping, &dims);
            rollup_totals::add(&mut tx, rollup, totals).await?;
        }
        self.check(Fault::AfterTotals)?;
        dimensions::write_agents(&mut tx, None, source.agents.values()).await?;
        dimensions::write_products(&mut tx, dialect, None, source.products.values()).await?;
        let members = history_dims::membership_rows(source.agents.values(), &source.memberships);
        sinks::history::write_memberships(&mut tx, None, &members).await?;
        sinks::history::write_targets(&mut tx, dialect, None, &source.targets).await?;
        history::update_dates(&mut tx, &self.calendar, &source.holidays, source.span()).await?;
        self.check(Fault::AfterDimensions)?;
        for t in SALES_TABLES {
            original_tables::rewrite_sales(&mut tx, dialect, t, &BTreeSet::new()).await?;
        }
        original_tables::rewrite_product_targets(&mut tx, dialect, &BTreeSet::new(), &BTreeSet::new()).await?;
        self.check(Fault::AfterLegacyTables)?;
        cursor::set(&mut tx, source.last_id, true).await?;
        self.check(Fault::BeforeCommit)?;
        phases.mark("the_rest");
        tx.commit().await?;
        phases.mark("commit");
        self.check(Fault::AfterCommit)?;
        tracing::info!(cells = source.facts.len(), phases = %phases, "warehouse rebuilt");
        let sales = source.facts.values().map(|s| s.count).sum();
        Ok(Outcome::Rebuilt { cells: source.facts.len(), sales, applied_id: source.last_id })
    }
}
