//! The warehouse writers: every statement that changes the warehouse, one module per kind of
//! table. They run inside the refresh's one warehouse transaction, so readers see all of a
//! refresh or none of it; where SQL differs by warehouse they ask [`crate::dialect`].

pub(crate) mod cursor;
pub(crate) mod dimensions;
pub(crate) mod facts;
pub(crate) mod history;
pub(crate) mod original_tables;
pub(crate) mod rollup_totals;

use std::collections::BTreeSet;

use moon_db::sea_query::{Expr, ExprTrait, Query};
use moon_db::{DbError, Tx};

/// Rows per multi-row INSERT. Well inside every parameter limit, and small enough that a
/// statement and its values fit one TCP segment (~64 KiB on loopback): sqlx 0.9.0 does not set
/// TCP_NODELAY (sqlx#4335), so a message split across segments waits out a delayed ACK (40 ms).
pub(crate) const INSERT_CHUNK: usize = 250;

/// Inserts rows into `table` in multi-row statements of [`INSERT_CHUNK`] rows.
pub(crate) async fn insert_rows<I, R>(
    tx: &mut Tx,
    table: &'static str,
    columns: &[&'static str],
    rows: I,
) -> Result<(), DbError>
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
pub(crate) async fn delete_ids(
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
