//! Reading every sale out of an embedded SQLite database for a rebuild, fast.
//!
//! sqlx runs each SQLite connection on a worker thread and hands rows to the async task one at a
//! time, copying every value onto the heap. Over 10 million sales those hand-offs were most of a
//! rebuild: a `perf` profile of `moon aggregate --full` put about half of the samples in thread
//! wake-ups and malloc, against 1.7 s for SQLite to scan the table by itself. So SQLite packs the
//! sales of each id range into one text value (fields separated by U+001F, sales by U+001E) and
//! one row crosses per range. Stored text never contains either separator (the domain refuses
//! control characters); should a range not parse all the same, it is read again row by row.

use std::collections::HashMap;

use chrono::NaiveDate;
use moon_db::sea_query::{Expr, ExprTrait, Func, Query};
use moon_db::{DbError, Tx};

use crate::dialect;
use crate::refresh::delta::{FactKey, Sums};

/// Sales per packed value: about 300 KiB of text, few enough round trips to be negligible.
const SALES_PER_PACK: i64 = 10_000;

const FIELD: char = '\u{1f}';
const RECORD: char = '\u{1e}';

/// Rolls up the sales of agents whose id has remainder `part` modulo 2 (two such scans on two
/// connections use both cores and produce disjoint cells), reading `sales` in id ranges. The
/// cells' teams are left empty for the caller to assign from the membership history.
pub(super) async fn scan_cells(tx: &mut Tx, part: i64) -> Result<HashMap<FactKey, Sums>, DbError> {
    let mut q = Query::select();
    q.expr(Func::max(Expr::col("id"))).from("sales");
    let max_id = tx.fetch_optional::<(Option<i64>,)>(&q).await?.and_then(|(m,)| m).unwrap_or(0);
    let mut cells: HashMap<FactKey, Sums> = HashMap::new();
    let mut lo = 0;
    while lo < max_id {
        let hi = lo.saturating_add(SALES_PER_PACK);
        let mut q = Query::select();
        q.expr(dialect::packed_sales())
            .from("sales")
            .and_where(Expr::col("id").gt(lo))
            .and_where(Expr::col("id").lte(hi))
            .and_where(Expr::col("agent_id").modulo(2).eq(part));
        if let Some((Some(packed),)) = tx.fetch_optional::<(Option<String>,)>(&q).await? {
            let mut range = HashMap::new();
            if unpack(&packed, &mut range).is_some() {
                merge(&mut cells, range);
            } else {
                tracing::warn!(from = lo + 1, to = hi, "sales did not pack; reading them one by one");
                scan_rows(tx, part, lo, hi, &mut cells).await?;
            }
        }
        lo = hi;
    }
    Ok(cells)
}

/// Adds the cells of `packed` to `cells`; `None` if any sale in it does not parse.
fn unpack(packed: &str, cells: &mut HashMap<FactKey, Sums>) -> Option<()> {
    for sale in packed.split(RECORD) {
        let mut f = sale.splitn(5, FIELD);
        let sale_date = date(f.next()?)?;
        let agent_id = f.next()?.parse().ok()?;
        let product_id = f.next()?.parse().ok()?;
        let cents = f.next()?.parse().ok()?;
        let branch = f.next()?.to_owned();
        cells
            .entry(FactKey { sale_date, agent_id, product_id, branch, team: String::new() })
            .or_default()
            .add(Sums { count: 1, cents });
    }
    Some(())
}

/// `YYYY-MM-DD`, as SQLite stores a date; much cheaper than a general date parser per sale.
fn date(s: &str) -> Option<NaiveDate> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<u32>().ok();
    NaiveDate::from_ymd_opt(i32::try_from(num(0..4)?).ok()?, num(5..7)?, num(8..10)?)
}

fn merge(into: &mut HashMap<FactKey, Sums>, from: HashMap<FactKey, Sums>) {
    for (k, s) in from {
        into.entry(k).or_default().add(s);
    }
}

/// The slow path for one id range: a row per sale.
async fn scan_rows(
    tx: &mut Tx,
    part: i64,
    lo: i64,
    hi: i64,
    cells: &mut HashMap<FactKey, Sums>,
) -> Result<(), DbError> {
    let mut q = Query::select();
    q.columns(["sale_date", "agent_id", "product_id", "branch", "amount_cents"])
        .from("sales")
        .and_where(Expr::col("id").gt(lo))
        .and_where(Expr::col("id").lte(hi))
        .and_where(Expr::col("agent_id").modulo(2).eq(part));
    tx.for_each::<(NaiveDate, i64, i64, String, i64)>(&q, |(sale_date, agent_id, product_id, branch, cents)| {
        cells
            .entry(FactKey { sale_date, agent_id, product_id, branch, team: String::new() })
            .or_default()
            .add(Sums { count: 1, cents });
        Ok(())
    })
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_sales_roll_up_into_cells() {
        let packed = "2026-11-02\u{1f}7\u{1f}3\u{1f}150000\u{1f}Colombo\u{1e}\
                      2026-11-02\u{1f}7\u{1f}3\u{1f}2500\u{1f}Colombo\u{1e}\
                      2026-11-03\u{1f}7\u{1f}3\u{1f}100\u{1f}Kandy North";
        let mut cells = HashMap::new();
        assert!(unpack(packed, &mut cells).is_some());
        let key = |d: u32, b: &str| FactKey {
            sale_date: NaiveDate::from_ymd_opt(2026, 11, d).unwrap(),
            agent_id: 7,
            product_id: 3,
            branch: b.to_owned(),
            team: String::new(),
        };
        assert_eq!(cells.len(), 2);
        assert_eq!(cells[&key(2, "Colombo")], Sums { count: 2, cents: 152_500 });
        assert_eq!(cells[&key(3, "Kandy North")], Sums { count: 1, cents: 100 });
    }

    #[test]
    fn anything_unexpected_is_refused_not_guessed() {
        for bad in [
            "2026-11-02\u{1f}7\u{1f}3\u{1f}150000",
            "2026-11-32\u{1f}7\u{1f}3\u{1f}1\u{1f}Galle",
            "26-11-02\u{1f}7\u{1f}3\u{1f}1\u{1f}Galle",
            "2026-11-02\u{1f}x\u{1f}3\u{1f}1\u{1f}Galle",
            "2026-11-02\u{1f}7\u{1f}3\u{1f}1.5\u{1f}Galle",
        ] {
            assert!(unpack(bad, &mut HashMap::new()).is_none(), "{bad:?}");
        }
        assert_eq!(date("2024-02-29"), NaiveDate::from_ymd_opt(2024, 2, 29));
    }
}
