//! The daily cells (`fact_sales_daily`) and their monthly sums (`fact_sales_monthly`): net
//! deltas added in place, or every cell of a rebuild. Both tables are always written together,
//! from the same deltas, so the monthly cells are the daily cells summed by month by
//! construction (and `--verify` checks it).

use std::collections::BTreeMap;

use moon_db::sea_query::{Cond, Condition, Expr, ExprTrait, OnConflict, Query};
use moon_db::{DbError, Tx};

use super::insert_rows;
use crate::dialect::Dialect;
use crate::refresh::delta::{FactKey, Sums};
use crate::rollups::{CELLS, Cells, MONTHLY, VALUES, month_of};

/// Cells per statement when reading or deleting by key: each key is five parameters.
const KEYS_PER_STATEMENT: usize = 200;

/// Rows per multi-row INSERT of cells; see [`super::INSERT_CHUNK`].
const INSERT_CHUNK: usize = super::INSERT_CHUNK;

/// A cell's key and sums, in the order rows are read.
type CellRow = (chrono::NaiveDate, i64, i64, String, String, i64, i64);

/// The columns a cell is written with: key, sums, amount.
fn columns(cells: &Cells) -> Vec<&'static str> {
    cells.key.into_iter().chain(VALUES).chain([cells.amount]).collect()
}

/// Daily cells (or deltas) summed into monthly ones: the day becomes its month's first day.
/// Deltas that cancel within a month (a move re-attributing cells inside it, say) leave nothing.
pub(crate) fn by_month(daily: &BTreeMap<FactKey, Sums>) -> BTreeMap<FactKey, Sums> {
    let mut out: BTreeMap<FactKey, Sums> = BTreeMap::new();
    for (k, s) in daily {
        out.entry(FactKey { sale_date: month_of(k.sale_date), ..k.clone() }).or_default().add(*s);
    }
    out.retain(|_, s| !s.is_zero());
    out
}

/// Matches exactly the given cells by their primary key: an OR of key equalities, which SQLite,
/// PostgreSQL and Redshift all answer from the key (no scan of the fact table), unlike a join
/// against a staging table whose statistics the planner does not know.
fn cells_matching<'a>(cells: &Cells, keys: impl Iterator<Item = &'a FactKey>) -> Condition {
    let [day, agent, product, branch, team] = cells.key;
    keys.fold(Cond::any(), |any, k| {
        any.add(
            Cond::all()
                .add(Expr::col(day).eq(k.sale_date))
                .add(Expr::col(agent).eq(k.agent_id))
                .add(Expr::col(product).eq(k.product_id))
                .add(Expr::col(branch).eq(k.branch.as_str()))
                .add(Expr::col(team).eq(k.team.as_str())),
        )
    })
}

/// Adds net deltas to cells. Cost follows the number of cells changed, not the size of the
/// table.
///
/// Where the dialect allows, each delta is added in place with `INSERT … ON CONFLICT DO
/// UPDATE`: one key lookup per cell, and the product index is left alone for cells that
/// already exist (their indexed columns do not change). Deleting and re-inserting instead
/// dirtied a table page and an index page per cell, which over a 10-million-sale history made
/// the refresh and its commit grow with history (BENCHMARKS.md). On Redshift the cells are read,
/// deleted and inserted with their new sums. Either way, a cell whose count reaches zero is
/// removed.
///
/// The same deltas, summed by month, are added to the monthly cells.
pub(crate) async fn add_deltas(tx: &mut Tx, dialect: Dialect, deltas: &BTreeMap<FactKey, Sums>) -> Result<(), DbError> {
    add_deltas_to(tx, dialect, &CELLS, deltas).await?;
    add_deltas_to(tx, dialect, &MONTHLY, &by_month(deltas)).await
}

/// [`add_deltas`] for one table of cells.
async fn add_deltas_to(
    tx: &mut Tx,
    dialect: Dialect,
    table: &Cells,
    deltas: &BTreeMap<FactKey, Sums>,
) -> Result<(), DbError> {
    if deltas.is_empty() {
        return Ok(());
    }
    if !dialect.adds_in_place() {
        return replace_cells(tx, dialect, table, deltas).await;
    }
    let sum = |col: &str| format!("{table}.{col} + excluded.{col}", table = table.table);
    let on_conflict = OnConflict::columns(table.key)
        .values([
            (VALUES[0], Expr::cust(sum(VALUES[0]))),
            (VALUES[1], Expr::cust(sum(VALUES[1]))),
            (table.amount, Expr::cust(dialect.numeric_sql(&sum(VALUES[1])))),
        ])
        .to_owned();
    let columns = columns(table);
    let cells: Vec<(&FactKey, &Sums)> = deltas.iter().collect();
    for chunk in cells.chunks(INSERT_CHUNK) {
        let mut ins = Query::insert();
        ins.into_table(table.table).columns(columns.iter().copied());
        for (k, s) in chunk {
            ins.values_panic(row(dialect, k, s));
        }
        ins.on_conflict(on_conflict.clone());
        tx.execute(&ins).await?;
    }
    // Only a cell that lost sales can have reached zero.
    let shrunk: Vec<&FactKey> = deltas.iter().filter(|(_, s)| s.count < 0).map(|(k, _)| k).collect();
    for chunk in shrunk.chunks(KEYS_PER_STATEMENT) {
        let mut del = Query::delete();
        del.from_table(table.table).cond_where(
            Cond::all().add(cells_matching(table, chunk.iter().copied())).add(Expr::col(VALUES[0]).eq(0i64)),
        );
        tx.execute(&del).await?;
    }
    Ok(())
}

/// Redshift's way of adding deltas: reads the cells the deltas touch, deletes them and inserts
/// the sums, dropping cells that reach zero; plain SQL without `ON CONFLICT` or `RETURNING`.
async fn replace_cells(
    tx: &mut Tx,
    dialect: Dialect,
    table: &Cells,
    deltas: &BTreeMap<FactKey, Sums>,
) -> Result<(), DbError> {
    let keys: Vec<&FactKey> = deltas.keys().collect();
    let mut merged: BTreeMap<FactKey, Sums> = deltas.clone();
    for chunk in keys.chunks(KEYS_PER_STATEMENT) {
        let mut q = Query::select();
        q.columns(table.key.into_iter().chain(VALUES))
            .from(table.table)
            .cond_where(cells_matching(table, chunk.iter().copied()));
        let old = tx.fetch_all::<CellRow>(&q).await?;
        let mut del = Query::delete();
        del.from_table(table.table).cond_where(cells_matching(table, chunk.iter().copied()));
        tx.execute(&del).await?;
        for (sale_date, agent_id, product_id, branch, team, count, cents) in old {
            merged
                .entry(FactKey { sale_date, agent_id, product_id, branch, team })
                .or_default()
                .add(Sums { count, cents });
        }
    }
    merged.retain(|_, s| s.count != 0);
    insert_into(tx, dialect, table, &merged).await
}

/// Writes cells that are not in the table yet (every cell of a rebuild), and their monthly sums.
pub(crate) async fn insert(tx: &mut Tx, dialect: Dialect, cells: &BTreeMap<FactKey, Sums>) -> Result<(), DbError> {
    insert_into(tx, dialect, &CELLS, cells).await?;
    insert_into(tx, dialect, &MONTHLY, &by_month(cells)).await
}

async fn insert_into(
    tx: &mut Tx,
    dialect: Dialect,
    table: &Cells,
    cells: &BTreeMap<FactKey, Sums>,
) -> Result<(), DbError> {
    insert_rows(tx, table.table, &columns(table), cells.iter().map(|(k, s)| row(dialect, k, s))).await
}

/// One cell's values, in the order of [`columns`].
fn row(dialect: Dialect, k: &FactKey, s: &Sums) -> [Expr; 8] {
    [
        Expr::val(k.sale_date),
        Expr::val(k.agent_id),
        Expr::val(k.product_id),
        Expr::val(k.branch.as_str()),
        Expr::val(k.team.as_str()),
        Expr::val(s.count),
        Expr::val(s.cents),
        dialect.numeric(s.cents),
    ]
}

/// Every cell of `table` (the daily or the monthly ones), for `--verify`.
pub(crate) async fn read_all(tx: &mut Tx, table: &Cells) -> Result<BTreeMap<FactKey, Sums>, DbError> {
    let mut q = Query::select();
    q.columns(table.key.into_iter().chain(VALUES)).from(table.table);
    read(tx, &q).await
}

/// One agent's cells from `from` on (all of them when `None`): what a move of that agent may
/// re-attribute. The key leads with the day, so the scan starts at `from` and skips the
/// agent's earlier history.
pub(crate) async fn read_agent(
    tx: &mut Tx,
    agent_id: i64,
    from: Option<chrono::NaiveDate>,
) -> Result<BTreeMap<FactKey, Sums>, DbError> {
    let mut q = Query::select();
    q.columns(CELLS.key.into_iter().chain(VALUES)).from(CELLS.table).and_where(Expr::col("agent_id").eq(agent_id));
    if let Some(d) = from {
        q.and_where(Expr::col("sale_date").gte(d));
    }
    read(tx, &q).await
}

async fn read(tx: &mut Tx, q: &moon_db::sea_query::SelectStatement) -> Result<BTreeMap<FactKey, Sums>, DbError> {
    let mut cells = BTreeMap::new();
    tx.for_each::<CellRow>(q, |(sale_date, agent_id, product_id, branch, team, count, cents)| {
        cells.insert(FactKey { sale_date, agent_id, product_id, branch, team }, Sums { count, cents });
        Ok(())
    })
    .await?;
    Ok(cells)
}
