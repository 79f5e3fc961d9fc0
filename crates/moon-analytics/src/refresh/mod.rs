//! Bringing the warehouse up to date: incrementally from the change log when it can be
//! replayed, by a full rebuild from the source when it cannot.
//!
//! | module | what |
//! | --- | --- |
//! | [`delta`] | a batch of change-log entries netted into deltas per daily cell |
//! | `attribution` | which key of each rollup a cell's sales count under, and what moves |
//! | `history` | keeping `dim_membership`, `dim_date` and `fact_target` current |
//! | `incremental` | applying one batch: cells, rollups, dimensions, original tables, cursor |
//! | `rebuild` | recomputing everything from one snapshot of the source |

pub mod delta;

pub(crate) mod attribution;
pub(crate) mod history;
mod incremental;
mod rebuild;

use std::time::Instant;

use moon_db::DbError;

use crate::aggregator::{Aggregator, Outcome};

/// Why replaying the change log cannot bring the warehouse up to date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RebuildReason {
    /// The warehouse was never built (no cursor).
    NewWarehouse,
    /// Entries after the cursor were pruned: the warehouse fell behind the log.
    Pruned {
        /// The cursor.
        applied: i64,
        /// The oldest entry left.
        first: i64,
    },
    /// A bulk load wrote a `reload` entry instead of one entry per row.
    BulkLoad,
}

impl Aggregator {
    /// Applies the next batch of the change log, rebuilding instead when the warehouse is new,
    /// when entries it needs were pruned, or when a bulk load asked for it.
    pub async fn refresh(&self) -> Result<Outcome, DbError> {
        match self.incremental().await? {
            Ok(outcome) => Ok(outcome),
            Err(reason) => {
                match reason {
                    RebuildReason::NewWarehouse => {}
                    RebuildReason::Pruned { applied, first } => {
                        tracing::warn!(applied, first, "change-log entries were pruned past the warehouse; rebuilding");
                    }
                    RebuildReason::BulkLoad => tracing::info!("a bulk load asked for a rebuild"),
                }
                self.rebuild().await
            }
        }
    }

    /// Refreshes until the warehouse has caught up with the change log as it was at the start.
    pub async fn catch_up(&self, mut progress: impl FnMut(&Outcome)) -> Result<Outcome, DbError> {
        let target = crate::source::last_id(&self.op).await?;
        loop {
            let outcome = self.refresh().await?;
            progress(&outcome);
            if matches!(outcome, Outcome::UpToDate { .. }) || outcome.applied_id() >= target {
                return Ok(outcome);
            }
        }
    }
}

/// Milliseconds spent in each step of a refresh, for the debug log.
pub(crate) struct Phases {
    last: Instant,
    done: Vec<(&'static str, f64)>,
}

impl Phases {
    pub fn start() -> Self {
        Self { last: Instant::now(), done: Vec::new() }
    }

    pub fn mark(&mut self, step: &'static str) {
        self.done.push((step, self.last.elapsed().as_secs_f64() * 1000.0));
        self.last = Instant::now();
    }
}

impl std::fmt::Display for Phases {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, (step, ms)) in self.done.iter().enumerate() {
            write!(f, "{}{step}={ms:.1}ms", if i == 0 { "" } else { " " })?;
        }
        Ok(())
    }
}
