//! The rollup tables (`kpi_*_totals`): one row per key with its exact sums, for every rollup
//! declared in [`crate::rollups`].

use std::collections::BTreeMap;

use moon_db::sea_query::{Expr, ExprTrait, Query, SelectStatement};
use moon_db::{DbError, Tx};

use super::{INSERT_CHUNK, insert_rows};
use crate::refresh::delta::Sums;
use crate::rollups::{KeyType, Rollup, RollupKey, VALUES};

/// Reads rows of `rollup` selected by `q` (key column first, then [`VALUES`]), decoding the key
/// as its declared type.
async fn fetch(tx: &mut Tx, rollup: &Rollup, q: &SelectStatement) -> Result<Vec<(RollupKey, Sums)>, DbError> {
    Ok(match rollup.grouping.key_type() {
        KeyType::Id => tx
            .fetch_all::<(i64, i64, i64)>(q)
            .await?
            .into_iter()
            .map(|(k, count, cents)| (RollupKey::Id(k), Sums { count, cents }))
            .collect(),
        KeyType::Text => tx
            .fetch_all::<(String, i64, i64)>(q)
            .await?
            .into_iter()
            .map(|(k, count, cents)| (RollupKey::Text(k), Sums { count, cents }))
            .collect(),
    })
}

fn select(rollup: &Rollup) -> SelectStatement {
    let mut q = Query::select();
    q.column(rollup.key).columns(VALUES).from(rollup.table);
    q
}

/// Adds deltas to a rollup's rows, deleting rows whose count reaches zero. The rows are read,
/// deleted and inserted with their sums, which every warehouse accepts; a batch touches few
/// keys, so this costs little.
pub(crate) async fn add(tx: &mut Tx, rollup: &Rollup, deltas: BTreeMap<RollupKey, Sums>) -> Result<(), DbError> {
    if deltas.is_empty() {
        return Ok(());
    }
    let keys: Vec<RollupKey> = deltas.keys().cloned().collect();
    let mut current: BTreeMap<RollupKey, Sums> = BTreeMap::new();
    for chunk in keys.chunks(INSERT_CHUNK) {
        let mut q = select(rollup);
        q.and_where(Expr::col(rollup.key).is_in(chunk.iter().cloned()));
        current.extend(fetch(tx, rollup, &q).await?);
        let mut del = Query::delete();
        del.from_table(rollup.table).and_where(Expr::col(rollup.key).is_in(chunk.iter().cloned()));
        tx.execute(&del).await?;
    }
    let mut merged: Vec<(RollupKey, Sums)> = Vec::new();
    for (k, d) in deltas {
        let mut s = current.remove(&k).unwrap_or_default();
        s.add(d);
        if s.count != 0 {
            merged.push((k, s));
        }
    }
    let rows = merged.into_iter().map(|(k, s)| [Expr::val(k), Expr::val(s.count), Expr::val(s.cents)]);
    insert_rows(tx, rollup.table, &[rollup.key, VALUES[0], VALUES[1]], rows).await
}

/// One key's sums; zero when it has no row.
pub(crate) async fn read_one(tx: &mut Tx, rollup: &Rollup, key: RollupKey) -> Result<Sums, DbError> {
    let mut q = select(rollup);
    q.and_where(Expr::col(rollup.key).eq(key));
    Ok(fetch(tx, rollup, &q).await?.into_iter().next().map_or_else(Sums::default, |(_, s)| s))
}

/// Every row of a rollup, for `--verify`.
pub(crate) async fn read_all(tx: &mut Tx, rollup: &Rollup) -> Result<BTreeMap<RollupKey, Sums>, DbError> {
    Ok(fetch(tx, rollup, &select(rollup)).await?.into_iter().collect())
}
