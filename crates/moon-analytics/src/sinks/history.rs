//! The effective-dated and calendar tables (`dim_membership`, `dim_date`, `fact_target`): rows
//! replaced per agent, day or target, and read back for `--verify`.

use std::collections::BTreeSet;

use chrono::NaiveDate;
use moon_db::sea_query::{Expr, ExprTrait, Func, Query};
use moon_db::{DbError, Tx};

use super::{delete_ids, insert_rows};
use crate::dialect::Dialect;
use crate::history_dims::{DateRow, MembershipRow, TargetRow};
use crate::schema::{
    DIM_DATE, DIM_DATE_COLUMNS, DIM_MEMBERSHIP, DIM_MEMBERSHIP_COLUMNS, FACT_TARGET, FACT_TARGET_COLUMNS,
};

/// Replaces the membership rows of the agents in `ids` (or fills an emptied table when `None`).
pub(crate) async fn write_memberships(
    tx: &mut Tx,
    ids: Option<&BTreeSet<i64>>,
    rows: &[MembershipRow],
) -> Result<(), DbError> {
    if let Some(ids) = ids {
        delete_ids(tx, DIM_MEMBERSHIP, "agent_id", ids).await?;
    }
    let values = rows.iter().map(|r| {
        [
            Expr::val(r.agent_id),
            Expr::val(r.valid_from),
            Expr::val(r.agent_key.as_str()),
            Expr::val(r.team.as_str()),
            Expr::val(r.branch.as_str()),
            Expr::val(r.valid_to),
            Expr::val(r.is_current),
        ]
    });
    insert_rows(tx, DIM_MEMBERSHIP, &DIM_MEMBERSHIP_COLUMNS, values).await
}

type MembershipTuple = (i64, NaiveDate, String, String, String, NaiveDate, bool);

/// Every membership row, ordered.
pub(crate) async fn read_memberships(tx: &mut Tx) -> Result<Vec<MembershipRow>, DbError> {
    let mut q = Query::select();
    q.columns(DIM_MEMBERSHIP_COLUMNS).from(DIM_MEMBERSHIP);
    read(tx, &q).await
}

/// The membership rows of the agents in `ids`.
pub(crate) async fn read_memberships_of(tx: &mut Tx, ids: &BTreeSet<i64>) -> Result<Vec<MembershipRow>, DbError> {
    let mut out = Vec::new();
    let list: Vec<i64> = ids.iter().copied().collect();
    for chunk in list.chunks(super::INSERT_CHUNK) {
        let mut q = Query::select();
        q.columns(DIM_MEMBERSHIP_COLUMNS)
            .from(DIM_MEMBERSHIP)
            .and_where(Expr::col("agent_id").is_in(chunk.iter().copied()));
        out.extend(read(tx, &q).await?);
    }
    Ok(out)
}

async fn read(tx: &mut Tx, q: &moon_db::sea_query::SelectStatement) -> Result<Vec<MembershipRow>, DbError> {
    let rows: Vec<MembershipTuple> = tx.fetch_all(q).await?;
    let mut out: Vec<MembershipRow> = rows
        .into_iter()
        .map(|(agent_id, valid_from, agent_key, team, branch, valid_to, is_current)| MembershipRow {
            agent_id,
            valid_from,
            agent_key,
            team,
            branch,
            valid_to,
            is_current,
        })
        .collect();
    out.sort();
    Ok(out)
}

/// The first and last day `dim_date` covers, if any.
pub(crate) async fn date_range(tx: &mut Tx) -> Result<Option<(NaiveDate, NaiveDate)>, DbError> {
    let mut q = Query::select();
    q.expr(Func::min(Expr::col("calendar_date"))).expr(Func::max(Expr::col("calendar_date"))).from(DIM_DATE);
    let row: Option<(Option<NaiveDate>, Option<NaiveDate>)> = tx.fetch_optional(&q).await?;
    Ok(row.and_then(|(a, b)| a.zip(b)))
}

/// The days `dim_date` marks as holidays.
pub(crate) async fn holidays(tx: &mut Tx) -> Result<BTreeSet<NaiveDate>, DbError> {
    let mut q = Query::select();
    q.column("calendar_date").from(DIM_DATE).and_where(Expr::col("is_holiday").eq(true));
    let rows: Vec<(NaiveDate,)> = tx.fetch_all(&q).await?;
    Ok(rows.into_iter().map(|(d,)| d).collect())
}

/// Replaces the rows of the days in `rows` (only those days): new days, or days whose holiday
/// flag changed.
pub(crate) async fn write_dates(tx: &mut Tx, replace: bool, rows: &[DateRow]) -> Result<(), DbError> {
    if replace {
        let days: Vec<NaiveDate> = rows.iter().map(|r| r.day).collect();
        for chunk in days.chunks(super::INSERT_CHUNK) {
            let mut del = Query::delete();
            del.from_table(DIM_DATE).and_where(Expr::col("calendar_date").is_in(chunk.iter().copied()));
            tx.execute(&del).await?;
        }
    }
    let values = rows.iter().map(|r| {
        [
            Expr::val(r.day),
            Expr::val(r.year),
            Expr::val(r.month),
            Expr::val(r.iso_year),
            Expr::val(r.iso_week),
            Expr::val(r.day_of_week),
            Expr::val(r.fiscal_year),
            Expr::val(r.fiscal_quarter),
            Expr::val(r.fiscal_quarter_start),
            Expr::val(r.is_working_day),
            Expr::val(r.is_holiday),
        ]
    });
    insert_rows(tx, DIM_DATE, &DIM_DATE_COLUMNS, values).await
}

type DateTuple = (NaiveDate, i64, i64, i64, i64, i64, i64, i64, NaiveDate, bool, bool);

/// Every day's row, ordered.
pub(crate) async fn read_dates(tx: &mut Tx) -> Result<Vec<DateRow>, DbError> {
    let mut q = Query::select();
    q.columns(DIM_DATE_COLUMNS).from(DIM_DATE).order_by("calendar_date", moon_db::sea_query::Order::Asc);
    let rows: Vec<DateTuple> = tx.fetch_all(&q).await?;
    Ok(rows
        .into_iter()
        .map(
            |(day, year, month, iso_year, iso_week, day_of_week, fiscal_year, fiscal_quarter, start, work, holiday)| {
                DateRow {
                    day,
                    year,
                    month,
                    iso_year,
                    iso_week,
                    day_of_week,
                    fiscal_year,
                    fiscal_quarter,
                    fiscal_quarter_start: start,
                    is_working_day: work,
                    is_holiday: holiday,
                }
            },
        )
        .collect())
}

/// Deletes the targets in `ids` and the targets of the agents in `agents`, then writes `rows`
/// (what the source has for them now).
pub(crate) async fn write_targets(
    tx: &mut Tx,
    dialect: Dialect,
    ids: Option<(&BTreeSet<i64>, &BTreeSet<i64>)>,
    rows: &[TargetRow],
) -> Result<(), DbError> {
    if let Some((ids, agents)) = ids {
        delete_ids(tx, FACT_TARGET, "target_id", ids).await?;
        delete_ids(tx, FACT_TARGET, "agent_id", agents).await?;
    }
    let columns: Vec<&'static str> = FACT_TARGET_COLUMNS.into_iter().chain(["target_amount"]).collect();
    let values = rows.iter().map(|t| {
        [
            Expr::val(t.target_id),
            Expr::val(t.scope_kind.as_str()),
            Expr::val(t.scope_key.as_str()),
            Expr::val(t.agent_id),
            Expr::val(t.product_id),
            Expr::val(t.product_line.clone()),
            Expr::val(t.period_kind.as_str()),
            Expr::val(t.period_start),
            Expr::val(t.period_end),
            Expr::val(t.amount_cents),
            Expr::val(t.policy_count),
            dialect.numeric(t.amount_cents),
        ]
    });
    insert_rows(tx, FACT_TARGET, &columns, values).await
}

type TargetTuple =
    (i64, String, String, Option<i64>, Option<i64>, Option<String>, String, NaiveDate, NaiveDate, i64, Option<i64>);

/// Every target row, ordered by id.
pub(crate) async fn read_targets(tx: &mut Tx) -> Result<Vec<TargetRow>, DbError> {
    let mut q = Query::select();
    q.columns(FACT_TARGET_COLUMNS).from(FACT_TARGET).order_by("target_id", moon_db::sea_query::Order::Asc);
    let rows: Vec<TargetTuple> = tx.fetch_all(&q).await?;
    Ok(rows
        .into_iter()
        .map(|(target_id, scope_kind, scope_key, agent_id, product_id, product_line, period_kind, s, e, cents, n)| {
            TargetRow {
                target_id,
                scope_kind,
                scope_key,
                agent_id,
                product_id,
                product_line,
                period_kind,
                period_start: s,
                period_end: e,
                amount_cents: cents,
                policy_count: n,
            }
        })
        .collect())
}
