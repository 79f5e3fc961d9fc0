//! Keeping `dim_membership`, `dim_date` and `fact_target` current, in the same warehouse
//! transaction as the cells they describe.
//!
//! - **Memberships** are rewritten for the agents with a change-log entry of their own (a move,
//!   a consent change that changes their pseudonym): a handful of rows per agent.
//! - **Days** are added when a batch's sales or targets fall outside the fiscal years covered,
//!   and re-flagged when the holiday list changed (the list is small: it is compared whole).
//! - **Targets** are rewritten by id from the change log's target entries, and for agents whose
//!   pseudonym changed.

use std::collections::BTreeSet;

use chrono::NaiveDate;
use moon_db::{DbError, Tx};
use moon_domain::BusinessCalendar;

use crate::dialect::Dialect;
use crate::history_dims::{self, DateRow, TargetRow};
use crate::sinks::history as sink;

/// Adds the days of the fiscal years `span` reaches that `dim_date` lacks, and rewrites the days
/// whose holiday flag differs from `holidays`. Returns how many day rows were written.
pub(crate) async fn update_dates(
    tx: &mut Tx,
    calendar: &BusinessCalendar,
    holidays: &BTreeSet<NaiveDate>,
    span: Option<(NaiveDate, NaiveDate)>,
) -> Result<usize, DbError> {
    let row = |d| history_dims::date_row(d, calendar, holidays);
    let mut new: Vec<DateRow> = Vec::new();
    let mut changed: Vec<DateRow> = Vec::new();
    match (sink::date_range(tx).await?, span) {
        (None, None) => {}
        (None, Some((first, last))) => {
            let (from, to) = history_dims::covered(calendar, first, last);
            new.extend(history_dims::days(from, to).map(row));
        }
        (Some((lo, hi)), span) => {
            if let Some((first, last)) = span {
                let (from, to) = history_dims::covered(calendar, first.min(lo), last.max(hi));
                new.extend(history_dims::days(from, to).filter(|d| *d < lo || *d > hi).map(row));
            }
            let flagged = sink::holidays(tx).await?;
            let now: BTreeSet<NaiveDate> = holidays.range(lo..=hi).copied().collect();
            changed.extend(flagged.symmetric_difference(&now).map(|d| row(*d)));
        }
    }
    sink::write_dates(tx, false, &new).await?;
    sink::write_dates(tx, true, &changed).await?;
    Ok(new.len() + changed.len())
}

/// The days a set of targets spans, joined with `span`.
pub(crate) fn with_targets(
    span: Option<(NaiveDate, NaiveDate)>,
    targets: &[TargetRow],
) -> Option<(NaiveDate, NaiveDate)> {
    targets
        .iter()
        .map(|t| (t.period_start, t.period_end))
        .chain(span)
        .reduce(|(a, b), (c, d)| (Ord::min(a, c), Ord::max(b, d)))
}

/// Rewrites the target rows of `ids` and of the agents in `agents` with `rows`.
pub(crate) async fn replace_targets(
    tx: &mut Tx,
    dialect: Dialect,
    ids: &BTreeSet<i64>,
    agents: &BTreeSet<i64>,
    rows: &[TargetRow],
) -> Result<(), DbError> {
    if ids.is_empty() && agents.is_empty() {
        return Ok(());
    }
    sink::write_targets(tx, dialect, Some((ids, agents)), rows).await
}
