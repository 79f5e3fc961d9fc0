//! The original system's three tables, with their original names and columns, so existing BI
//! dashboards keep working: `team_sales_metrics` and `branch_sales_metrics` copy a rollup's
//! rows, `product_target_metrics` joins the product rollup to the product dimension. They are
//! rewritten from the exact rollups, only for the keys a batch changed.

use std::collections::BTreeSet;

use moon_db::sea_query::{Expr, ExprTrait, Query};
use moon_db::{DbError, Tx};

use super::{INSERT_CHUNK, insert_rows};
use crate::dialect::Dialect;
use crate::rollups::{PRODUCT, PRODUCT_TARGET_METRICS, RollupKey, SalesTable, VALUES};
use crate::schema::DIM_PRODUCT;

/// Rewrites the rows of `t` for `keys` from its rollup, or all rows when `keys` is empty. A key
/// without sales has no row, as the original's inner join and `GROUP BY` gave none.
pub(crate) async fn rewrite_sales(
    tx: &mut Tx,
    dialect: Dialect,
    t: &SalesTable,
    keys: &BTreeSet<RollupKey>,
) -> Result<(), DbError> {
    let all = keys.is_empty();
    let key_list: Vec<&RollupKey> = keys.iter().collect();
    let chunks: Vec<&[&RollupKey]> = if all { vec![&[]] } else { key_list.chunks(INSERT_CHUNK).collect() };
    for chunk in chunks {
        let mut del = Query::delete();
        del.from_table(t.table);
        let mut q = Query::select();
        q.columns([t.from.key, VALUES[1]]).from(t.from.table);
        if !all {
            del.and_where(Expr::col(t.key).is_in(chunk.iter().map(|k| (*k).clone())));
            q.and_where(Expr::col(t.from.key).is_in(chunk.iter().map(|k| (*k).clone())));
        }
        tx.execute(&del).await?;
        let rows: Vec<(String, i64)> = tx.fetch_all(&q).await?;
        let rows = rows.into_iter().map(|(k, cents)| [Expr::val(k), dialect.numeric(cents)]);
        insert_rows(tx, t.table, &[t.key, "total_sales"], rows).await?;
    }
    Ok(())
}

/// `Achieved` when the total reaches the target, as the original computed it.
pub(crate) fn status(total_cents: i64, target_cents: i64) -> &'static str {
    if total_cents >= target_cents { "Achieved" } else { "Not Achieved" }
}

/// Rewrites `product_target_metrics` rows: those named `names` (old and new names of the
/// products in `ids`), or all rows when both are empty. Every product has a row, with 0 sales
/// when it has none, as the original's `LEFT JOIN` gave.
pub(crate) async fn rewrite_product_targets(
    tx: &mut Tx,
    dialect: Dialect,
    names: &BTreeSet<String>,
    ids: &BTreeSet<i64>,
) -> Result<(), DbError> {
    let all = names.is_empty() && ids.is_empty();
    let mut del = Query::delete();
    del.from_table(PRODUCT_TARGET_METRICS);
    if !all {
        del.and_where(Expr::col("product_name").is_in(names.iter().map(String::as_str)));
    }
    tx.execute(&del).await?;
    let mut q = Query::select();
    q.columns([(DIM_PRODUCT, "product_name"), (DIM_PRODUCT, "target_cents")])
        .expr(Expr::col((PRODUCT.table, VALUES[1])))
        .from(DIM_PRODUCT)
        .left_join(PRODUCT.table, Expr::col((PRODUCT.table, PRODUCT.key)).equals((DIM_PRODUCT, "product_id")));
    if !all {
        q.and_where(Expr::col((DIM_PRODUCT, "product_id")).is_in(ids.iter().copied()));
    }
    let rows: Vec<(String, i64, Option<i64>)> = tx.fetch_all(&q).await?;
    let rows = rows.into_iter().map(|(name, target, total)| {
        let total = total.unwrap_or(0);
        [Expr::val(name), dialect.numeric(target), dialect.numeric(total), Expr::val(status(total, target))]
    });
    insert_rows(tx, PRODUCT_TARGET_METRICS, &["product_name", "target_amount", "total_sales", "status"], rows).await
}
