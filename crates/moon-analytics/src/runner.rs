//! The background refresh loop of `moon serve`: polls the change log, refreshes, checkpoints
//! the warehouse when idle, publishes the cursor so the log can be pruned, and reports to
//! [`RefreshMetrics`].
//!
//! One pass of the loop is [`Poller::step`]; [`RefreshJob`] runs it as a `moon_jobs` job, so the
//! waiting, the backoff after failures (from the interval, doubling up to 30 s), the stop at
//! shutdown, the step metrics and the failure log lines are the same as every other loop's.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::aggregator::{Aggregator, Outcome};
use crate::source;

/// Where the refresh loop reports what it did. The serving process implements it over its
/// Prometheus registry; this crate stays headless and knows no HTTP or metrics library.
pub trait RefreshMetrics: Send + Sync {
    /// A refresh in `mode` (`incremental` or `full`) took `took`.
    fn observe_refresh(&self, mode: &'static str, took: Duration);
    /// A refresh failed and will be retried.
    fn refresh_failed(&self);
    /// The warehouse is `seconds` behind the oldest unapplied change, with `backlog` entries left.
    fn set_lag(&self, seconds: f64, backlog: i64);
}

/// The cursor is copied to the operational database (which also prunes the log) at most this
/// often: pruning deletes rows every writer's table shares, so it is done in bulk.
const PUBLISH_EVERY: Duration = Duration::from_secs(5);

/// The longest wait after repeated failures.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// What a pass found, which decides when the next one runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pass {
    /// Nothing new, or a batch that was not full: poll again after the interval.
    Idle,
    /// A full batch was applied, so more is waiting: go on at once.
    More,
}

/// The loop's state between passes.
pub struct Poller {
    aggregator: Aggregator,
    metrics: Option<Arc<dyn RefreshMetrics>>,
    /// The change-log position the warehouse last reached here. While the log has not moved past
    /// it, a pass costs one read of the sequence row, not a warehouse transaction.
    reached: Option<i64>,
    /// The furthest the warehouse is known to have got (kept when a refresh fails, unlike
    /// `reached`), from which the lag is computed while the warehouse cannot be asked.
    known: Option<i64>,
    /// The warehouse changed since its last checkpoint.
    dirty: bool,
    /// The cursor the operational database last heard of, and when.
    published: i64,
    last_publish: Option<Instant>,
}

impl Poller {
    /// A loop over `aggregator`, reporting to `metrics`.
    pub fn new(aggregator: Aggregator, metrics: Option<Arc<dyn RefreshMetrics>>) -> Self {
        Self { aggregator, metrics, reached: None, known: None, dirty: false, published: -1, last_publish: None }
    }

    /// One pass: when the change log has not moved, checkpoint and publish what is due;
    /// otherwise refresh once and report it.
    pub async fn step(&mut self) -> Result<Pass, moon_db::DbError> {
        let idle = match self.reached {
            Some(at) => source::last_id(&self.aggregator.op).await.is_ok_and(|last| last == at),
            None => false,
        };
        if idle {
            if std::mem::take(&mut self.dirty) {
                self.checkpoint().await;
            }
            if let Some(m) = &self.metrics {
                m.set_lag(0.0, 0);
            }
            if let Some(at) = self.reached {
                self.publish(at).await;
            }
            return Ok(Pass::Idle);
        }
        let started = Instant::now();
        let outcome = match self.aggregator.refresh().await {
            Ok(outcome) => outcome,
            Err(e) => {
                self.reached = None;
                if let Some(m) = &self.metrics {
                    m.refresh_failed();
                    // The lag keeps growing while refreshes fail (the warehouse is down, say):
                    // report it from the operational database, or the freshness alert is blind.
                    let applied = match self.known {
                        Some(at) => Ok(at),
                        None => self.aggregator.published_cursor().await,
                    };
                    match applied {
                        Ok(applied) => match self.aggregator.lag_after(applied).await {
                            Ok((lag, backlog)) => m.set_lag(lag, backlog),
                            Err(e) => tracing::debug!(error = %e, "cannot compute the aggregator lag"),
                        },
                        Err(e) => tracing::debug!(error = %e, "cannot read the published aggregator cursor"),
                    }
                }
                return Err(e);
            }
        };
        self.reached = Some(outcome.applied_id());
        self.known = Some(outcome.applied_id());
        let mode = match outcome {
            Outcome::UpToDate { .. } => None,
            Outcome::Incremental { .. } => Some("incremental"),
            Outcome::Rebuilt { .. } => Some("full"),
        };
        match mode {
            // Copy the warehouse's write-ahead log back while nothing is waiting.
            None if std::mem::take(&mut self.dirty) => self.checkpoint().await,
            None => {}
            Some(_) => self.dirty = true,
        }
        if let (Some(mode), Some(m)) = (mode, &self.metrics) {
            m.observe_refresh(mode, started.elapsed());
        }
        self.publish(outcome.applied_id()).await;
        if let Some(m) = &self.metrics
            && let Ok((lag, backlog)) = self.aggregator.lag_after(outcome.applied_id()).await
        {
            m.set_lag(lag, backlog);
        }
        Ok(match outcome {
            Outcome::Incremental { entries, .. } if entries as u64 >= self.aggregator.batch_size => Pass::More,
            _ => Pass::Idle,
        })
    }

    async fn checkpoint(&self) {
        if let Err(e) = self.aggregator.wh.db.checkpoint().await {
            tracing::warn!(error = %e, "warehouse checkpoint failed");
        }
    }

    /// Copies the cursor `at` to the operational database, unless it is there already or the
    /// last copy was less than [`PUBLISH_EVERY`] ago.
    async fn publish(&mut self, at: i64) {
        if at == self.published || self.last_publish.is_some_and(|t| t.elapsed() < PUBLISH_EVERY) {
            return;
        }
        match self.aggregator.publish_cursor(at).await {
            Ok(pruned) => {
                self.published = at;
                self.last_publish = Some(Instant::now());
                if pruned > 0 {
                    tracing::debug!(pruned, "change log pruned");
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot publish the aggregator cursor"),
        }
    }
}

/// The aggregator as a background job of `moon serve`: waits for the pseudonym key (the
/// operational database may not be migrated yet; readiness says so meanwhile), then one
/// [`Poller::step`] per job step.
pub struct RefreshJob {
    state: JobState,
}

enum JobState {
    /// Not started: the key is read (or generated) on the first step that can.
    Waiting {
        op: moon_db::Db,
        wh: crate::Warehouse,
        configured_key: Option<String>,
        metrics: Option<Arc<dyn RefreshMetrics>>,
    },
    Running(Box<Poller>),
}

impl RefreshJob {
    /// A job refreshing `wh` from `op`, with the configured pseudonym key or the stored one.
    pub fn new(
        op: moon_db::Db,
        wh: crate::Warehouse,
        configured_key: Option<String>,
        metrics: Option<Arc<dyn RefreshMetrics>>,
    ) -> Self {
        Self { state: JobState::Waiting { op, wh, configured_key, metrics } }
    }

    /// The schedule the serving process runs it on: every `interval`, backing off to 30 s.
    pub fn schedule(interval: Duration) -> moon_jobs::Schedule {
        moon_jobs::Schedule::every("aggregator", interval).max_backoff(MAX_BACKOFF)
    }
}

impl moon_jobs::Job for RefreshJob {
    async fn step(&mut self) -> anyhow::Result<moon_jobs::Step> {
        if let JobState::Waiting { op, wh, configured_key, metrics } = &self.state {
            let key = crate::PseudonymKey::load(op, configured_key.as_deref())
                .await
                .map_err(|e| anyhow::Error::new(e).context("aggregator waiting for the database"))?;
            let aggregator = Aggregator::new(op.clone(), wh.clone(), key);
            self.state = JobState::Running(Box::new(Poller::new(aggregator, metrics.clone())));
        }
        let JobState::Running(poller) = &mut self.state else { return Ok(moon_jobs::Step::Idle) };
        match poller.step().await {
            Ok(Pass::More) => Ok(moon_jobs::Step::More),
            Ok(Pass::Idle) => Ok(moon_jobs::Step::Idle),
            Err(e) => Err(anyhow::Error::new(e).context("warehouse refresh failed")),
        }
    }
}
