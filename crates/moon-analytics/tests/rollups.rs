//! The declared rollups end to end, on SQLite: a rebuild fills every one of them, `--verify`
//! recomputes every one of them, and a row changed behind the aggregator's back in any of them
//! is reported. (The moon-server suite covers the same pipeline through the API on every
//! backend pair.)

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::PathBuf;

use moon_analytics::rollups::{self, Rollup};
use moon_analytics::{Aggregator, Outcome, PseudonymKey, Warehouse};
use moon_db::{Db, DbOptions};

/// A directory removed when the test ends.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
        let dir = std::env::temp_dir().join(format!("moon-analytics-{name}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    fn url(&self, file: &str) -> String {
        format!("sqlite://{}", self.0.join(file).display())
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Three agents in two teams, two products, and sales over two branches and several days,
/// written straight into the operational tables (a rebuild reads them from there).
async fn aggregator(dir: &TempDir) -> Aggregator {
    let op = Db::connect(&dir.url("moon.db"), &DbOptions::default()).await.unwrap();
    op.migrate().await.unwrap();
    let now = "'2026-11-01 00:00:00'";
    let mut tx = op.begin().await.unwrap();
    for (id, code, branch, team) in
        [(1, "A1", "Colombo", "Alpha"), (2, "A2", "Kandy", "Beta"), (3, "A3", "Kandy", "Alpha")]
    {
        tx.execute_sql(format!(
            "INSERT INTO agents (id, agent_code, first_name, last_name, branch, team, active, created_at, updated_at, \
             analytics_consent) VALUES ({id}, '{code}', 'F', 'L', '{branch}', '{team}', TRUE, {now}, {now}, TRUE)"
        ))
        .await
        .unwrap();
    }
    for (id, line, name, target) in [(1, "Life", "Life Gold", 100_000), (2, "Motor", "Motor Plus", 5_000)] {
        tx.execute_sql(format!(
            "INSERT INTO products (id, product_type, product_name, target_amount_cents, created_at, updated_at) \
             VALUES ({id}, '{line}', '{name}', {target}, {now}, {now})"
        ))
        .await
        .unwrap();
    }
    let sales = [
        (1, 1, 30_000, "2026-01-10", "Colombo"),
        (2, 1, 70_000, "2026-02-15", "Kandy"),
        (3, 2, 5_000, "2026-02-20", "Kandy"),
        (2, 2, 2_550, "2026-03-01", "Kandy"),
        (3, 1, 25_000, "2026-03-05", "Colombo"),
        (3, 1, 1_000, "2026-03-05", "Colombo"),
    ];
    for (agent, product, cents, day, branch) in sales {
        tx.execute_sql(format!(
            "INSERT INTO sales (agent_id, product_id, amount_cents, sale_date, branch, created_at, updated_at) \
             VALUES ({agent}, {product}, {cents}, '{day}', '{branch}', {now}, {now})"
        ))
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    let wh = Warehouse::open(&dir.url("warehouse.db")).await.unwrap();
    Aggregator::new(op, wh, PseudonymKey::from_secret("rollup test key"))
}

async fn differences(agg: &Aggregator) -> Vec<String> {
    agg.verify().await.unwrap().differences
}

async fn rows(agg: &Aggregator, rollup: &Rollup) -> i64 {
    let mut q = moon_db::sea_query::Query::select();
    q.expr(moon_db::sea_query::Expr::cust("COUNT(*)")).from(rollup.table);
    agg.warehouse().db.fetch_optional::<(i64,)>(&q).await.unwrap().unwrap().0
}

#[tokio::test]
async fn verify_covers_every_declared_rollup() {
    let dir = TempDir::new("verify");
    let agg = aggregator(&dir).await;
    assert!(matches!(agg.rebuild().await.unwrap(), Outcome::Rebuilt { sales: 6, .. }));
    assert_eq!(differences(&agg).await, Vec::<String>::new());
    for rollup in rollups::ALL {
        assert!(rows(&agg, rollup).await > 0, "{} was not filled", rollup.table);
        let mut tx = agg.warehouse().db.begin().await.unwrap();
        tx.execute_sql(format!("UPDATE {} SET sales_count = sales_count + 1", rollup.table)).await.unwrap();
        tx.commit().await.unwrap();
        let found = differences(&agg).await;
        assert!(found.iter().any(|d| d.starts_with(rollup.table)), "{}: {found:?}", rollup.table);
        agg.rebuild().await.unwrap();
        assert_eq!(differences(&agg).await, Vec::<String>::new(), "a rebuild repairs {}", rollup.table);
    }
    agg.source().close().await;
    agg.warehouse().db.close().await;
}

#[tokio::test]
async fn all_time_kpis_read_the_rollups_and_agree_with_the_cells() {
    let dir = TempDir::new("kpis");
    let agg = aggregator(&dir).await;
    agg.rebuild().await.unwrap();
    let wh = &agg.warehouse().db;
    let all_time = moon_analytics::kpi::KpiFilter::default();
    // A filter that keeps everything takes the other path: summing the daily cells.
    let cells =
        moon_analytics::kpi::KpiFilter { from: chrono::NaiveDate::from_ymd_opt(2000, 1, 1), ..all_time.clone() };
    let (teams, _) = moon_analytics::kpi::teams(wh, &all_time, 1).await.unwrap();
    assert_eq!(teams, moon_analytics::kpi::teams(wh, &cells, 1).await.unwrap().0);
    let figures: Vec<(String, i64, String)> =
        teams.iter().map(|t| (t.team.clone(), t.sales_count, t.total_sales.to_string())).collect();
    assert_eq!(figures, [("Beta".into(), 2, "725.50".into()), ("Alpha".into(), 4, "610.00".into())]);
    let (branches, _) = moon_analytics::kpi::branches(wh, &all_time, 1).await.unwrap();
    assert_eq!(branches, moon_analytics::kpi::branches(wh, &cells, 1).await.unwrap().0);
    assert_eq!(
        moon_analytics::kpi::products(wh, &all_time, 1).await.unwrap(),
        moon_analytics::kpi::products(wh, &cells, 1).await.unwrap()
    );
    let choices = moon_analytics::kpi::filter_choices(wh).await.unwrap();
    assert_eq!(
        (choices.branches, choices.teams),
        (vec!["Colombo".into(), "Kandy".into()], vec!["Alpha".into(), "Beta".into()])
    );
    agg.source().close().await;
    wh.close().await;
}

/// What the refresh loop reported, as the serving process's metrics would see it.
#[derive(Default)]
struct Recorded {
    lag: std::sync::Mutex<Option<(f64, i64)>>,
    failures: std::sync::atomic::AtomicU32,
}

impl moon_analytics::RefreshMetrics for Recorded {
    fn observe_refresh(&self, _mode: &'static str, _took: std::time::Duration) {}
    fn refresh_failed(&self) {
        self.failures.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
    fn set_lag(&self, seconds: f64, backlog: i64) {
        *self.lag.lock().unwrap() = Some((seconds, backlog));
    }
}

impl Recorded {
    fn lag(&self) -> (f64, i64) {
        self.lag.lock().unwrap().expect("no lag reported")
    }
}

/// Freshness monitoring must not go blind while the warehouse is down (issue 18, finding 12):
/// the lag is reported from the oldest change the warehouse has not applied, read from the
/// operational database, whether or not the refresh succeeds, and also by a loop that never
/// reached the warehouse since it started.
#[tokio::test]
async fn lag_keeps_growing_while_the_warehouse_is_unreachable() {
    use moon_analytics::runner::Poller;
    use std::sync::Arc;

    let dir = TempDir::new("lag");
    let agg = aggregator(&dir).await;
    let op = agg.source().clone();
    let wh = agg.warehouse().db.clone();
    let fresh_start = agg.clone();
    let metrics = Arc::new(Recorded::default());
    let mut poller = Poller::new(agg, Some(metrics.clone()));
    poller.step().await.unwrap();
    assert_eq!(metrics.lag(), (0.0, 0), "caught up after the first build");

    // A change written two minutes ago that the warehouse has not applied.
    let last = moon_changelog::last_id(&op).await.unwrap();
    let mut tx = op.begin().await.unwrap();
    tx.execute(&moon_db::insert_row(
        "change_log",
        vec![
            ("id", (last + 1).into()),
            ("entity", "reload".into()),
            ("entity_id", 0_i64.into()),
            ("changed_at", (moon_db::now() - chrono::Duration::seconds(120)).into()),
        ],
    ))
    .await
    .unwrap();
    tx.execute_sql(format!("UPDATE change_sequence SET last_id = {}", last + 1)).await.unwrap();
    tx.commit().await.unwrap();

    // The warehouse goes away: every statement on it fails from now on.
    wh.close().await;
    assert!(poller.step().await.is_err(), "a refresh cannot succeed without the warehouse");
    assert_eq!(metrics.failures.load(std::sync::atomic::Ordering::SeqCst), 1);
    let (lag, backlog) = metrics.lag();
    assert!((120.0..600.0).contains(&lag), "lag {lag} s while the warehouse is down");
    assert_eq!(backlog, 1);

    // A process started while the warehouse is down knows only the cursor published to the
    // operational database, and still reports the same lag.
    let restarted = Arc::new(Recorded::default());
    let mut poller = Poller::new(fresh_start, Some(restarted.clone()));
    assert!(poller.step().await.is_err());
    let (lag, backlog) = restarted.lag();
    assert!((120.0..600.0).contains(&lag), "lag {lag} s after a restart while the warehouse is down");
    assert_eq!(backlog, 1);
    op.close().await;
}
