//! Every rollup the warehouse keeps, declared once.
//!
//! Every KPI is a sum of sales (a count and an amount in cents) grouped some way. The daily
//! cells ([`CELLS`]: day × agent × product × branch) answer any period. A *rollup* is an
//! all-time running total of those cells grouped by one key (per agent, team, branch or
//! product): "all time" questions and the original system's tables then read a few rows instead
//! of summing millions of cells.
//!
//! This file is the only place that names a rollup's warehouse table, its key and how it groups
//! the cells, and everything that handles rollups reads it:
//!
//! - the schema creates a table per entry of [`ALL`] (`schema.rs`);
//! - an incremental refresh adds each batch's net deltas to every entry, and moves an agent's or
//!   a product's history between keys when a grouping follows their dimension row
//!   (`refresh/incremental.rs`, `refresh/attribution.rs`);
//! - a rebuild and `--verify` recompute every entry from one snapshot of the source with the same
//!   grouping (`refresh/rebuild.rs`, `verify.rs`);
//! - the KPI queries read an entry's table for all time, and sum the cells by the entry's
//!   grouping for a period or a filter (`kpi.rs`).
//!
//! So a new KPI is one entry in [`ALL`] and its query (ADR 0010).

use std::fmt;

use moon_db::sea_query::Value;

/// The daily cells: the rollup every other one is a sum of. Its sums are [`VALUES`], plus the
/// amount as a decimal for BI tools.
#[derive(Debug)]
pub struct Cells {
    /// The fact table.
    pub table: &'static str,
    /// Its primary key: the cell. The team is a function of the agent and the day (their team
    /// on that day), so it never splits a cell; it is part of the key so that re-attributing a
    /// moved agent's cells is an ordinary delta (minus under the old team, plus under the new).
    pub key: [&'static str; 5],
    /// The amount as `NUMERIC(18,2)`, written from the cents; only BI tools read it.
    pub amount: &'static str,
}

/// The daily rollup cells.
pub const CELLS: Cells = Cells {
    table: "fact_sales_daily",
    key: ["sale_date", "agent_id", "product_id", "branch", "team"],
    amount: "total_amount",
};

/// The monthly cells: the daily cells summed by calendar month (`month_start` is the month's
/// first day), same key otherwise. Written wherever the daily cells are (the incremental refresh,
/// re-attribution after a move, the rebuild) and compared by `--verify`, so that a period's
/// figures read about 30 times fewer rows for every whole month they span (ADR 0014; issue 13,
/// item 9). Only the days of a partly covered month are read from [`CELLS`].
pub const MONTHLY: Cells = Cells {
    table: "fact_sales_monthly",
    key: ["month_start", "agent_id", "product_id", "branch", "team"],
    amount: "total_amount",
};

/// The first day of the calendar month of `day`: a monthly cell's `month_start`.
pub fn month_of(day: chrono::NaiveDate) -> chrono::NaiveDate {
    use chrono::Datelike;
    day.with_day(1).unwrap_or(day)
}

/// The sums every cell and every rollup row holds, as exact integers: the number of sales and
/// their amount in cents.
pub const VALUES: [&str; 2] = ["sales_count", "amount_cents"];

/// How a rollup groups the daily cells.
///
/// Each grouping is a function of one of a cell's agent, product, branch or team, which is what
/// lets a rebuild sum the cells once per agent, product, branch and team and derive every rollup
/// from those sums (`refresh/attribution.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grouping {
    /// By the selling agent.
    Agent,
    /// By the product sold.
    Product,
    /// By the branch recorded on the sale. A sale changes branch only through a change-log
    /// entry of its own, so these totals never move otherwise.
    Branch,
    /// By the team recorded on the cell: the agent's team on the sale date, from their
    /// membership history. A move re-attributes only the moved agent's cells from its
    /// effective date (`refresh/incremental.rs`); earlier periods keep their team.
    Team,
    /// By the product's current line of business (`product_type` in its dimension row); a
    /// product moved to another line takes its history along.
    ProductLine,
}

/// Whose dimension row a grouping reads: a change to that row moves sales between keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Follows {
    /// The agent's (`dim_agent`).
    Agent,
    /// The product's (`dim_product`).
    Product,
}

/// What a rollup's key column holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    /// An operational id (`BIGINT`).
    Id,
    /// A name (`VARCHAR(100)`).
    Text,
}

impl Grouping {
    /// What the key column holds.
    pub fn key_type(self) -> KeyType {
        match self {
            Grouping::Agent | Grouping::Product => KeyType::Id,
            Grouping::Branch | Grouping::Team | Grouping::ProductLine => KeyType::Text,
        }
    }

    /// The dimension whose changes move this rollup's sales between keys; `None` when a key,
    /// once given to a cell, never changes.
    pub fn follows(self) -> Option<Follows> {
        match self {
            Grouping::Agent | Grouping::Product | Grouping::Branch | Grouping::Team => None,
            Grouping::ProductLine => Some(Follows::Product),
        }
    }
}

/// One rollup: an all-time running total of the daily cells by one key.
#[derive(Debug)]
pub struct Rollup {
    /// Its warehouse table: the key column followed by [`VALUES`]; a key whose count reaches
    /// zero has no row.
    pub table: &'static str,
    /// The key column.
    pub key: &'static str,
    /// How cells are grouped, which also says how the refresh, the rebuild, `--verify` and the
    /// period queries compute the key of a cell.
    pub grouping: Grouping,
}

/// Sales per agent: the leaderboard's all-time figures, and what moves with an agent who
/// changes team.
pub const AGENT: Rollup = Rollup { table: "kpi_agent_totals", key: "agent_id", grouping: Grouping::Agent };
/// Sales per team (the agents' team on each sale date).
pub const TEAM: Rollup = Rollup { table: "kpi_team_totals", key: "team", grouping: Grouping::Team };
/// Sales per branch credited.
pub const BRANCH: Rollup = Rollup { table: "kpi_branch_totals", key: "branch", grouping: Grouping::Branch };
/// Sales per product: product attainment, and what moves with a product that changes line.
pub const PRODUCT: Rollup = Rollup { table: "kpi_product_totals", key: "product_id", grouping: Grouping::Product };

/// Every rollup the warehouse keeps. The refresh, the rebuild, `--verify` and the schema loop
/// over this list.
pub const ALL: &[&Rollup] = &[&AGENT, &TEAM, &BRANCH, &PRODUCT];

/// The rollup holding one agent's or one product's whole history: what moves when a grouping
/// that [`Follows`] them sees their dimension row change.
pub fn per(whose: Follows) -> &'static Rollup {
    match whose {
        Follows::Agent => &AGENT,
        Follows::Product => &PRODUCT,
    }
}

/// One of the original system's `(name, total_sales)` tables, fed from a rollup's rows with
/// sales: the original's inner join and `GROUP BY` gave no row to a key without sales.
#[derive(Debug)]
pub struct SalesTable {
    /// The original table name.
    pub table: &'static str,
    /// Its key column (the same name as the rollup's).
    pub key: &'static str,
    /// The rollup it copies.
    pub from: &'static Rollup,
}

/// The original `team_sales_metrics`.
pub const TEAM_SALES_METRICS: SalesTable = SalesTable { table: "team_sales_metrics", key: "team", from: &TEAM };
/// The original `branch_sales_metrics`.
pub const BRANCH_SALES_METRICS: SalesTable = SalesTable { table: "branch_sales_metrics", key: "branch", from: &BRANCH };
/// The original system's two sales tables.
pub const SALES_TABLES: &[&SalesTable] = &[&TEAM_SALES_METRICS, &BRANCH_SALES_METRICS];

/// The original `product_target_metrics (product_name, target_amount, total_sales, status)`:
/// every product of `dim_product` with its [`PRODUCT`] total, 0 when it has no sales (the
/// original's `LEFT JOIN`).
pub const PRODUCT_TARGET_METRICS: &str = "product_target_metrics";

/// A rollup's key value: an id or a name, as [`KeyType`] says.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RollupKey {
    /// An operational id.
    Id(i64),
    /// A name.
    Text(String),
}

/// Shown as the bare value, so a `--verify` report reads `"Alpha"` or `7`.
impl fmt::Debug for RollupKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RollupKey::Id(id) => write!(f, "{id}"),
            RollupKey::Text(name) => write!(f, "{name:?}"),
        }
    }
}

impl From<RollupKey> for Value {
    fn from(k: RollupKey) -> Value {
        match k {
            RollupKey::Id(id) => id.into(),
            RollupKey::Text(name) => name.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rollup_has_its_own_table() {
        let mut tables: Vec<&str> = ALL.iter().map(|r| r.table).collect();
        tables.push(CELLS.table);
        tables.push(MONTHLY.table);
        tables.extend(SALES_TABLES.iter().map(|t| t.table));
        tables.push(PRODUCT_TARGET_METRICS);
        let count = tables.len();
        tables.sort_unstable();
        tables.dedup();
        assert_eq!(tables.len(), count, "a table is declared twice");
    }

    #[test]
    fn what_moves_is_kept_as_a_rollup() {
        for r in ALL {
            if let Some(whose) = r.grouping.follows() {
                let per = per(whose);
                assert!(
                    ALL.iter().any(|x| x.table == per.table),
                    "{} moves by {}, which is not kept",
                    r.table,
                    per.table
                );
                assert_eq!(per.grouping.follows(), None, "{} must not move itself", per.table);
            }
        }
    }

    #[test]
    fn original_tables_copy_declared_rollups() {
        for t in SALES_TABLES {
            assert!(ALL.iter().any(|r| r.table == t.from.table), "{} copies an undeclared rollup", t.table);
            assert_eq!(t.from.grouping.key_type(), KeyType::Text, "{} has a name column", t.table);
        }
    }
}
