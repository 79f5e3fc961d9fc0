//! The aggregator: applies the change log to the warehouse, incrementally or by a full rebuild.
//!
//! This module holds the handle and what a refresh reports; the work is split by what it
//! touches: [`crate::source`] reads the operational database, [`crate::refresh`] decides and
//! computes, [`crate::sinks`] writes the warehouse, and [`crate::runner`] polls in the
//! background.
//!
//! **Several aggregators at once** (the `all` target, an `aggregator` Deployment, a CronJob and
//! both colours of a blue-green release) are safe: each refresh starts by locking the cursor row,
//! so they take turns and each batch is applied once.

use chrono::Utc;
use moon_db::{Db, DbError, Tx};
use moon_domain::BusinessCalendar;

use crate::dialect::{Dialect, Flavor};
use crate::pseudonym::PseudonymKey;
use crate::sinks::cursor;
use crate::source;
use crate::warehouse::Warehouse;

pub use crate::source::CONSUMER;

/// A place between two steps of a refresh where a test can make it fail, to show that a crash
/// anywhere leaves the warehouse consistent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// After the rollup cells were changed.
    AfterFacts,
    /// After the running totals were changed.
    AfterTotals,
    /// After the dimension rows were replaced.
    AfterDimensions,
    /// After the original three tables were rewritten.
    AfterLegacyTables,
    /// After the cursor moved, before the commit.
    BeforeCommit,
    /// After the warehouse committed, before the operational database heard of it.
    AfterCommit,
}

/// What a refresh did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing new in the change log.
    UpToDate {
        /// The cursor.
        applied_id: i64,
    },
    /// A batch of entries was applied.
    Incremental {
        /// Entries applied.
        entries: usize,
        /// Rollup cells changed.
        cells: usize,
        /// The cursor afterwards.
        applied_id: i64,
    },
    /// Everything was recomputed from the operational database.
    Rebuilt {
        /// Rollup cells written.
        cells: usize,
        /// Sales counted.
        sales: i64,
        /// The cursor afterwards.
        applied_id: i64,
    },
}

impl Outcome {
    /// The cursor after the refresh.
    pub fn applied_id(&self) -> i64 {
        match self {
            Outcome::UpToDate { applied_id }
            | Outcome::Incremental { applied_id, .. }
            | Outcome::Rebuilt { applied_id, .. } => *applied_id,
        }
    }
}

/// Applies the change log to the warehouse.
#[derive(Debug, Clone)]
pub struct Aggregator {
    pub(crate) op: Db,
    pub(crate) wh: Warehouse,
    pub(crate) key: PseudonymKey,
    pub(crate) batch_size: u64,
    pub(crate) calendar: BusinessCalendar,
    fault: Option<Fault>,
}

impl Aggregator {
    /// An aggregator from the operational database to `wh`.
    pub fn new(op: Db, wh: Warehouse, key: PseudonymKey) -> Self {
        Self { op, wh, key, batch_size: 10_000, calendar: BusinessCalendar::default(), fault: None }
    }

    /// The business calendar `dim_date` follows (fiscal year start, working week); the holidays
    /// come from the operational database. The default is January and Monday to Friday. After
    /// changing it, rebuild the warehouse (`moon aggregate --full`): days already written keep
    /// the calendar they were written with, and `--verify` reports them.
    pub fn with_calendar(mut self, calendar: BusinessCalendar) -> Self {
        self.calendar = calendar;
        self
    }

    /// Makes the next refreshes fail at `step` (tests only: shows crash safety).
    pub fn inject_fault(&mut self, step: Option<Fault>) {
        self.fault = step;
    }

    /// Most change-log entries applied per incremental refresh.
    pub fn with_batch_size(mut self, n: u64) -> Self {
        self.batch_size = std::cmp::max(n, 1);
        self
    }

    /// Speaks `flavor`'s SQL to the warehouse whatever it is. Redshift's subset (no `ON CONFLICT`,
    /// no `RETURNING`) runs on PostgreSQL and SQLite too, which is how the tests cover it without
    /// a Redshift cluster.
    pub fn with_flavor(mut self, flavor: Flavor) -> Self {
        self.wh.flavor = flavor;
        self
    }

    /// The warehouse this aggregator writes.
    pub fn warehouse(&self) -> &Warehouse {
        &self.wh
    }

    /// The operational database it reads.
    pub fn source(&self) -> &Db {
        &self.op
    }

    /// The pseudonym key in use.
    pub fn key(&self) -> &PseudonymKey {
        &self.key
    }

    /// Fails when a test injected a fault at `step`.
    pub(crate) fn check(&self, step: Fault) -> Result<(), DbError> {
        if self.fault == Some(step) {
            Err(DbError::Other(moon_db::sqlx::Error::Protocol(format!("injected fault {step:?}"))))
        } else {
            Ok(())
        }
    }

    /// The SQL of a warehouse transaction: its connection's engine and this aggregator's flavor.
    pub(crate) fn dialect(&self, tx: &Tx) -> Dialect {
        Dialect::new(tx.backend(), self.wh.flavor)
    }

    /// The warehouse cursor: the last change-log entry it reflects (`None` before the first build).
    pub async fn applied_id(&self) -> Result<Option<i64>, DbError> {
        cursor::read(&self.wh.db).await
    }

    /// Tells the operational database how far the warehouse has got and prunes the change-log
    /// entries every consumer has applied. Returns the number pruned.
    pub async fn publish_cursor(&self, applied_id: i64) -> Result<u64, DbError> {
        source::publish_cursor(&self.op, applied_id).await
    }

    /// Seconds since the oldest change the warehouse has not applied yet (0 when caught up),
    /// and the number of entries not applied.
    pub async fn lag(&self) -> Result<(f64, i64), DbError> {
        let applied = self.applied_id().await?.unwrap_or(0);
        self.lag_after(applied).await
    }

    /// Like [`Aggregator::lag`] for a warehouse known to have applied everything up to
    /// `applied`, read from the operational database alone: it still answers while the
    /// warehouse is unreachable, which is when the figure matters most.
    pub async fn lag_after(&self, applied: i64) -> Result<(f64, i64), DbError> {
        let last = source::last_id(&self.op).await?;
        let oldest = source::oldest_after(&self.op, applied).await?;
        let lag = oldest.map_or(0.0, |t| std::cmp::max((Utc::now() - t).num_milliseconds(), 0) as f64 / 1000.0);
        Ok((lag, std::cmp::max(last - applied, 0)))
    }

    /// The furthest the warehouse is known to have got without asking it: the cursor last copied
    /// to the operational database (0 before the first copy).
    pub async fn published_cursor(&self) -> Result<i64, DbError> {
        Ok(source::published_cursor(&self.op).await?.unwrap_or(0))
    }
}
