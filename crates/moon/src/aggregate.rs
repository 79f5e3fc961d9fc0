//! `moon aggregate`: bring the warehouse up to date once (a Kubernetes CronJob), on a cron
//! schedule (`--schedule "30 18 * * *"`, the original's nightly slot), rebuild it (`--full`) or
//! check it against the operational database (`--verify`).

use std::str::FromStr;
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use moon_analytics::{Aggregator, Outcome};

use crate::settings::{self, CommonArgs, ServeArgs};

/// Options of `moon aggregate`.
#[derive(Debug, Clone, Args)]
pub struct AggregateArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Rebuild the warehouse from scratch instead of applying the change log.
    #[arg(long, conflicts_with = "verify")]
    pub full: bool,
    /// Recompute every KPI from the operational database and compare it with the warehouse;
    /// print each difference and exit non-zero if there is one.
    #[arg(long)]
    pub verify: bool,
    /// Keep running and refresh on this cron schedule (UTC), e.g. "30 18 * * *".
    #[arg(long, env = "MOON_AGGREGATE_SCHEDULE")]
    pub schedule: Option<String>,
    /// Most change-log entries per refresh transaction.
    #[arg(long, default_value_t = 10_000)]
    pub batch: u64,
}

/// Runs the command; an error means a non-zero exit.
pub async fn run(args: AggregateArgs, shutdown: impl std::future::Future<Output = ()>) -> anyhow::Result<()> {
    let schedule = match &args.schedule {
        Some(spec) => Some(
            croner::Cron::from_str(spec)
                .with_context(|| format!("--schedule {spec:?} is not a cron expression such as \"30 18 * * *\""))?,
        ),
        None => None,
    };
    let config = settings::resolve(&ServeArgs::from(args.common.clone()))?;
    let db = moon_server::app::open_database(&config).await?;
    let aggregator = moon_server::app::open_aggregator(&config, &db).await?.with_batch_size(args.batch);
    eprintln!("warehouse: {}", moon_db::redact_url(&config.warehouse_url()));
    let (op, wh) = (db.clone(), aggregator.warehouse().db.clone());
    let result = match schedule {
        None => once(&aggregator, &args).await,
        Some(cron) => scheduled(aggregator, args, cron, shutdown).await,
    };
    wh.close().await;
    op.close().await;
    result
}

/// The next time `cron` fires.
fn next_run(cron: &croner::Cron) -> anyhow::Result<chrono::DateTime<chrono::Utc>> {
    cron.find_next_occurrence(&chrono::Utc::now(), false).context("the schedule never fires again")
}

/// One refresh (or verification) per occurrence of the schedule, as a `moon_jobs` job: a failed
/// run is reported and retried at the next occurrence, and the process stays up.
struct ScheduledRefresh {
    aggregator: Aggregator,
    args: AggregateArgs,
    cron: croner::Cron,
}

impl moon_jobs::Job for ScheduledRefresh {
    async fn step(&mut self) -> anyhow::Result<moon_jobs::Step> {
        let result = once(&self.aggregator, &self.args).await;
        if let Err(e) = &result {
            eprintln!("refresh failed: {e:#}");
        }
        if let Ok(next) = next_run(&self.cron) {
            eprintln!("next refresh at {next}");
        }
        result.map(|()| moon_jobs::Step::Idle)
    }
}

/// Refreshes on `cron` until `shutdown`; a refresh in progress finishes first.
async fn scheduled(
    aggregator: Aggregator,
    args: AggregateArgs,
    cron: croner::Cron,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    eprintln!("next refresh at {}", next_run(&cron)?);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let schedule = moon_jobs::Schedule::cron("aggregate", cron.clone());
    let runner = moon_jobs::run(ScheduledRefresh { aggregator, args, cron }, schedule, stopped, None);
    tokio::pin!(runner);
    tokio::select! {
        () = &mut runner => {}
        () = shutdown => {
            eprintln!("stopping (a refresh in progress finishes first)");
            let _ = stop.send(true);
            runner.await;
        }
    }
    Ok(())
}

async fn once(aggregator: &Aggregator, args: &AggregateArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    if args.verify {
        let report = aggregator.verify().await.context("verification could not run")?;
        for d in &report.differences {
            println!("{d}");
        }
        eprintln!(
            "verified {} rollup cells at change {} in {} ms: {} difference(s)",
            report.cells,
            report.applied_id,
            started.elapsed().as_millis(),
            report.differences.len()
        );
        if !report.differences.is_empty() {
            anyhow::bail!("the warehouse differs from the operational database; `moon aggregate --full` rebuilds it");
        }
        return Ok(());
    }
    let outcome = if args.full {
        eprintln!("rebuilding the warehouse from the operational database…");
        aggregator.rebuild().await.context("rebuild failed")?
    } else {
        let (mut batches, mut entries) = (0usize, 0usize);
        let outcome = aggregator
            .catch_up(|o| match o {
                Outcome::Incremental { entries: n, applied_id, .. } => {
                    batches += 1;
                    entries += n;
                    eprintln!("applied {n} changes (up to change {applied_id})");
                }
                Outcome::Rebuilt { cells, sales, applied_id } => {
                    eprintln!("rebuilt: {sales} sales in {cells} rollup cells (up to change {applied_id})");
                }
                Outcome::UpToDate { .. } => {}
            })
            .await
            .context("refresh failed")?;
        if batches > 0 {
            eprintln!("{entries} changes in {batches} batch(es)");
        }
        outcome
    };
    let pruned = aggregator.publish_cursor(outcome.applied_id()).await.context("cannot record progress")?;
    aggregator.warehouse().db.checkpoint().await.context("cannot checkpoint the warehouse")?;
    eprintln!(
        "warehouse up to date at change {} in {} ms; {} old change-log entries pruned",
        outcome.applied_id(),
        started.elapsed().as_millis(),
        pruned
    );
    Ok(())
}
