//! One runner for every background loop of the system.
//!
//! The aggregator, the notification rule runner, the target-due schedule, the delivery loop and
//! the live-stream hub each used to hand-write the same `tokio::select!` over a sleep, a wake-up
//! signal and a shutdown signal, with their own backoff and their own log lines. A [`Job`] now
//! only says what one step does; [`run`] decides when the next step happens:
//!
//! - after [`Step::More`] at once (a full batch means more is waiting);
//! - first at once, or, for a cron [`Trigger`], at its first occurrence;
//! - after [`Step::Idle`] at the next tick of its [`Trigger`], or earlier when its wake-up
//!   [`Notify`] fires (a commit in this process), though never sooner than
//!   [`Schedule::settle`] after the previous step began;
//! - after an error, with exponential backoff from the interval up to [`Schedule::max_backoff`],
//!   logged once per failure with the job's name;
//! - never again once the stop signal is set: a step that is running finishes first, so a job
//!   is never cut off halfway through a transaction.
//!
//! Every step is reported to [`JobMetrics`] (outcome and duration by job name), so an operator
//! sees every loop the same way. The crate knows no database, HTTP or metrics library.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// How long a job woken by commits gathers them before its next step (see
/// [`Schedule::settle`]). Under a stream of writes, the aggregator, the rule runner and the live
/// console's reader each ran one step per group-commit batch; on SQLite the first two also took
/// the one writer between batches. 10 ms keeps a sale's way to the KPIs well inside the 50 ms aim
/// while letting each step take the changes of many batches.
pub const COMMIT_SETTLE: Duration = Duration::from_millis(10);

/// What a step found, which decides when the next one runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Nothing more to do for now: wait for the trigger or a wake-up.
    Idle,
    /// More work is waiting: run again at once.
    More,
}

/// A background loop's body. `step` does one bounded piece of work; errors are retried with
/// backoff by the runner, so a step returns them rather than sleeping itself.
pub trait Job: Send + 'static {
    /// Runs one step.
    fn step(&mut self) -> impl Future<Output = anyhow::Result<Step>> + Send;
}

/// When a job's next step is due after an idle step.
#[derive(Debug, Clone)]
pub enum Trigger {
    /// Every so often (a poll).
    Every(Duration),
    /// At each occurrence of a cron expression, in UTC (`moon aggregate --schedule`).
    Cron(Box<croner::Cron>),
}

/// How a job is run.
#[derive(Debug, Clone)]
pub struct Schedule {
    /// The job's name, for logs and metrics (`aggregator`, `notification_rules`, ...).
    pub name: &'static str,
    /// When the next step is due after an idle one.
    pub trigger: Trigger,
    /// Wakes the job before its trigger (a change committed in this process).
    pub wake: Option<Arc<Notify>>,
    /// The longest wait after repeated failures.
    pub max_backoff: Duration,
    /// The least time between the starts of two steps when a wake-up (not a backlog) starts
    /// the second one.
    pub settle: Duration,
}

impl Schedule {
    /// A job polled every `interval`, backing off up to 30 s after failures.
    pub fn every(name: &'static str, interval: Duration) -> Self {
        Self {
            name,
            trigger: Trigger::Every(interval),
            wake: None,
            max_backoff: Duration::from_secs(30),
            settle: Duration::ZERO,
        }
    }

    /// A job run at each occurrence of `cron` (UTC); a failed run waits for the next occurrence.
    pub fn cron(name: &'static str, cron: croner::Cron) -> Self {
        Self {
            name,
            trigger: Trigger::Cron(Box::new(cron)),
            wake: None,
            max_backoff: Duration::from_secs(30),
            settle: Duration::ZERO,
        }
    }

    /// Also runs a step whenever `wake` is notified.
    pub fn woken_by(mut self, wake: Arc<Notify>) -> Self {
        self.wake = Some(wake);
        self
    }

    /// Lets a woken step wait until `gap` has passed since the previous step began. A job woken
    /// by every commit otherwise runs one step per commit under load, each paying its fixed cost
    /// (a transaction, a cursor, a commit) for a handful of changes, and on SQLite taking the one
    /// writer from the requests it follows. With a gap, the changes of many commits are handled
    /// in one step; an idle system still reacts at once, and a change waits at most `gap` more.
    pub fn settle(mut self, gap: Duration) -> Self {
        self.settle = gap;
        self
    }

    /// Backs off up to `limit` after repeated failures.
    pub fn max_backoff(mut self, limit: Duration) -> Self {
        self.max_backoff = limit;
        self
    }

    /// How long to wait after an idle step, or `None` when the trigger never fires again.
    fn idle_wait(&self) -> Option<Duration> {
        match &self.trigger {
            Trigger::Every(interval) => Some(*interval),
            Trigger::Cron(cron) => {
                let now = chrono::Utc::now();
                let next = cron.find_next_occurrence(&now, false).ok()?;
                Some((next - now).to_std().unwrap_or_default())
            }
        }
    }

    /// The first wait after a failure, doubled on each further failure.
    fn first_backoff(&self) -> Duration {
        match &self.trigger {
            Trigger::Every(interval) => (*interval).max(Duration::from_millis(10)),
            Trigger::Cron(_) => Duration::from_secs(1),
        }
    }
}

/// Where the runner reports each step. The serving process implements it over its Prometheus
/// registry.
pub trait JobMetrics: Send + Sync {
    /// A step of `job` ended with `outcome` (`idle`, `more` or `failed`) after `took`.
    fn observe_step(&self, job: &'static str, outcome: &'static str, took: Duration);
}

/// Runs `job` until `stop` is set (or its sender is dropped): see the crate documentation for
/// when steps run.
pub async fn run(
    mut job: impl Job,
    schedule: Schedule,
    mut stop: watch::Receiver<bool>,
    metrics: Option<Arc<dyn JobMetrics>>,
) {
    let name = schedule.name;
    let mut backoff = schedule.first_backoff();
    let mut failures = 0u32;
    tracing::debug!(job = name, "job started");
    // A scheduled job first waits for its first occurrence; a polled one starts at once.
    if matches!(schedule.trigger, Trigger::Cron(_)) {
        let Some(wait) = schedule.idle_wait() else { return };
        if !pause(wait, schedule.wake.as_deref(), &mut stop).await {
            return;
        }
    }
    loop {
        if *stop.borrow() {
            break;
        }
        let started = Instant::now();
        let result = job.step().await;
        let outcome = match &result {
            Ok(Step::Idle) => "idle",
            Ok(Step::More) => "more",
            Err(_) => "failed",
        };
        if let Some(m) = &metrics {
            m.observe_step(name, outcome, started.elapsed());
        }
        let wait = match result {
            Ok(step) => {
                if failures > 0 {
                    tracing::info!(job = name, failures, "job recovered");
                }
                failures = 0;
                backoff = schedule.first_backoff();
                match step {
                    Step::More => continue,
                    Step::Idle => match schedule.idle_wait() {
                        Some(wait) => wait,
                        None => {
                            tracing::warn!(job = name, "the job's schedule never fires again; stopping it");
                            break;
                        }
                    },
                }
            }
            Err(e) => {
                failures += 1;
                tracing::error!(job = name, failures, retry_in_ms = backoff.as_millis() as u64, error = %format!("{e:#}"), "job step failed");
                let wait = match &schedule.trigger {
                    // A scheduled job that failed tries again at its next occurrence.
                    Trigger::Cron(_) => schedule.idle_wait().unwrap_or(schedule.max_backoff),
                    Trigger::Every(_) => backoff,
                };
                backoff = (backoff * 2).min(schedule.max_backoff);
                wait
            }
        };
        if !pause(wait, schedule.wake.as_deref(), &mut stop).await {
            break;
        }
        let since = started.elapsed();
        if since < schedule.settle {
            if !pause(schedule.settle - since, None, &mut stop).await {
                break;
            }
            // Wake-ups while gathering are answered by the step about to run: drop the one
            // stored for them, or it would start a second step for nothing right after.
            if let Some(wake) = schedule.wake.as_deref() {
                tokio::select! {
                    biased;
                    () = wake.notified() => {}
                    () = std::future::ready(()) => {}
                }
            }
        }
    }
    tracing::debug!(job = name, "job stopped");
}

/// Waits `wait`, or until woken; false when the stop signal came instead.
async fn pause(wait: Duration, wake: Option<&Notify>, stop: &mut watch::Receiver<bool>) -> bool {
    let woken = async {
        match wake {
            Some(n) => n.notified().await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        () = tokio::time::sleep(wait) => {}
        () = woken => {}
        changed = stop.changed() => {
            // A dropped sender means nobody can stop us any more: treat it as a stop.
            if changed.is_err() {
                return false;
            }
        }
    }
    !*stop.borrow()
}

/// A job and its schedule, held until the wiring starts it: lets a component describe its
/// background work as data before anything runs.
pub struct Pending {
    name: &'static str,
    start: Box<dyn FnOnce(&mut JobSet) + Send>,
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pending").field("name", &self.name).finish_non_exhaustive()
    }
}

impl Pending {
    /// `job`, to be run on `schedule` once started.
    pub fn job(job: impl Job, schedule: Schedule) -> Self {
        Self { name: schedule.name, start: Box::new(move |set: &mut JobSet| set.spawn(job, schedule)) }
    }

    /// The job's name.
    pub fn name(&self) -> &'static str {
        self.name
    }
}

/// Background jobs started together and stopped together: the wiring spawns each component's
/// jobs here and stops them all at shutdown.
pub struct JobSet {
    stop: watch::Sender<bool>,
    tasks: Vec<(&'static str, JoinHandle<()>)>,
    metrics: Option<Arc<dyn JobMetrics>>,
}

impl std::fmt::Debug for JobSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobSet").field("jobs", &self.names()).finish_non_exhaustive()
    }
}

impl JobSet {
    /// An empty set reporting to `metrics`.
    pub fn new(metrics: Option<Arc<dyn JobMetrics>>) -> Self {
        Self { stop: watch::channel(false).0, tasks: Vec::new(), metrics }
    }

    /// Starts `job` on its own task.
    pub fn spawn(&mut self, job: impl Job, schedule: Schedule) {
        let name = schedule.name;
        let task = tokio::spawn(run(job, schedule, self.stop.subscribe(), self.metrics.clone()));
        self.tasks.push((name, task));
    }

    /// The names of the jobs started, in start order.
    pub fn names(&self) -> Vec<&'static str> {
        self.tasks.iter().map(|(n, _)| *n).collect()
    }

    /// Starts a job described earlier.
    pub fn start(&mut self, pending: Pending) {
        (pending.start)(self);
    }

    /// Signals every job to stop and waits for each to finish its current step.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for (name, task) in self.tasks {
            if let Err(e) = task.await {
                tracing::error!(job = name, error = %e, "job task ended abnormally");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    /// Counts steps; fails the first `fail` ones; reports `More` while `more` is positive.
    struct Counter {
        steps: Arc<AtomicU32>,
        fail: u32,
        more: u32,
    }

    impl Job for Counter {
        async fn step(&mut self) -> anyhow::Result<Step> {
            self.steps.fetch_add(1, Ordering::SeqCst);
            if self.fail > 0 {
                self.fail -= 1;
                anyhow::bail!("not yet");
            }
            if self.more > 0 {
                self.more -= 1;
                return Ok(Step::More);
            }
            Ok(Step::Idle)
        }
    }

    #[derive(Default)]
    struct Seen(Mutex<Vec<(&'static str, &'static str)>>);

    impl JobMetrics for Seen {
        fn observe_step(&self, job: &'static str, outcome: &'static str, _: Duration) {
            self.0.lock().unwrap().push((job, outcome));
        }
    }

    /// Lets the paused clock run until the job's task has nothing left to do at this instant.
    async fn settle() {
        for _ in 0..50 {
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test(start_paused = true)]
    async fn more_runs_at_once_and_idle_waits_for_the_interval() {
        let steps = Arc::new(AtomicU32::new(0));
        let seen = Arc::new(Seen::default());
        let mut set = JobSet::new(Some(seen.clone()));
        set.spawn(
            Counter { steps: steps.clone(), fail: 0, more: 2 },
            Schedule::every("counter", Duration::from_secs(5)),
        );
        settle().await;
        assert_eq!(steps.load(Ordering::SeqCst), 3, "two More steps run back to back, then one Idle");
        tokio::time::advance(Duration::from_secs(4)).await;
        settle().await;
        assert_eq!(steps.load(Ordering::SeqCst), 3, "nothing before the interval");
        tokio::time::advance(Duration::from_secs(1)).await;
        settle().await;
        assert_eq!(steps.load(Ordering::SeqCst), 4);
        set.shutdown().await;
        let seen = seen.0.lock().unwrap().clone();
        assert_eq!(seen, [("counter", "more"), ("counter", "more"), ("counter", "idle"), ("counter", "idle")]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_wake_up_runs_a_step_before_the_interval() {
        let steps = Arc::new(AtomicU32::new(0));
        let wake = Arc::new(Notify::new());
        let mut set = JobSet::new(None);
        let schedule = Schedule::every("woken", Duration::from_secs(60)).woken_by(wake.clone());
        set.spawn(Counter { steps: steps.clone(), fail: 0, more: 0 }, schedule);
        settle().await;
        assert_eq!(steps.load(Ordering::SeqCst), 1);
        wake.notify_one();
        settle().await;
        assert_eq!(steps.load(Ordering::SeqCst), 2, "woken long before the minute is up");
        set.shutdown().await;
    }

    #[tokio::test(start_paused = true)]
    async fn a_settled_job_gathers_wake_ups_into_one_step() {
        let steps = Arc::new(AtomicU32::new(0));
        let wake = Arc::new(Notify::new());
        let mut set = JobSet::new(None);
        let schedule = Schedule::every("settled", Duration::from_secs(60))
            .woken_by(wake.clone())
            .settle(Duration::from_millis(20));
        set.spawn(Counter { steps: steps.clone(), fail: 0, more: 0 }, schedule);
        settle().await;
        assert_eq!(steps.load(Ordering::SeqCst), 1);
        for _ in 0..5 {
            wake.notify_one();
            tokio::time::advance(Duration::from_millis(3)).await;
            settle().await;
        }
        assert_eq!(steps.load(Ordering::SeqCst), 1, "15 ms after the first step: still gathering");
        tokio::time::advance(Duration::from_millis(5)).await;
        settle().await;
        assert_eq!(steps.load(Ordering::SeqCst), 2, "five wake-ups, one step, 20 ms after the previous began");
        tokio::time::advance(Duration::from_millis(100)).await;
        settle().await;
        assert_eq!(steps.load(Ordering::SeqCst), 2, "no wake-up left over");
        wake.notify_one();
        settle().await;
        assert_eq!(steps.load(Ordering::SeqCst), 3, "after a quiet spell a wake-up runs at once");
        set.shutdown().await;
    }

    #[tokio::test(start_paused = true)]
    async fn failures_back_off_exponentially_up_to_the_limit() {
        let steps = Arc::new(AtomicU32::new(0));
        let mut set = JobSet::new(None);
        let schedule = Schedule::every("flaky", Duration::from_secs(1)).max_backoff(Duration::from_secs(3));
        set.spawn(Counter { steps: steps.clone(), fail: 10, more: 0 }, schedule);
        settle().await;
        // Failures at t=0, then after waits of 1 s, 2 s, 3 s (capped), 3 s.
        let mut expected = vec![(0, 1)];
        for (t, n) in [(1, 2), (3, 3), (6, 4), (9, 5)] {
            expected.push((t, n));
        }
        let mut now = 0;
        for (t, n) in expected.into_iter().skip(1) {
            tokio::time::advance(Duration::from_secs(t - now) - Duration::from_millis(1)).await;
            settle().await;
            assert_eq!(steps.load(Ordering::SeqCst), n - 1, "not yet at {t} s");
            tokio::time::advance(Duration::from_millis(1)).await;
            settle().await;
            assert_eq!(steps.load(Ordering::SeqCst), n, "step {n} at {t} s");
            now = t;
        }
        set.shutdown().await;
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_stops_a_waiting_job_at_once() {
        let steps = Arc::new(AtomicU32::new(0));
        let mut set = JobSet::new(None);
        set.spawn(
            Counter { steps: steps.clone(), fail: 0, more: 0 },
            Schedule::every("idle", Duration::from_secs(3600)),
        );
        settle().await;
        assert_eq!(set.names(), ["idle"]);
        // Returns without the hour passing: the stop signal ends the wait.
        tokio::time::timeout(Duration::from_secs(1), set.shutdown()).await.expect("stopped within a second");
        assert_eq!(steps.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_cron_job_waits_for_its_next_occurrence() {
        let cron: croner::Cron = "0 0 1 1 *".parse().unwrap();
        let schedule = Schedule::cron("yearly", cron);
        let wait = schedule.idle_wait().unwrap();
        assert!(wait <= Duration::from_secs(366 * 24 * 3600), "{wait:?}");
        assert_eq!(schedule.first_backoff(), Duration::from_secs(1));
        // It does not run at start: the first step waits for the occurrence.
        let steps = Arc::new(AtomicU32::new(0));
        let mut set = JobSet::new(None);
        set.spawn(Counter { steps: steps.clone(), fail: 0, more: 0 }, schedule);
        settle().await;
        assert_eq!(steps.load(Ordering::SeqCst), 0, "nothing before the first occurrence");
        set.shutdown().await;
    }
}
