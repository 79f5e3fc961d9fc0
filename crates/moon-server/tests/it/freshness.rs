//! Freshness without the poll (issue 19, item 9): a commit wakes the aggregator at once, so the
//! KPIs follow a sale although the poll interval here is ten minutes. On PostgreSQL a commit
//! made through another handle on the database (another process, as far as the server can
//! tell) reaches it through `LISTEN`/`NOTIFY`; SQLite and MariaDB fall back to the interval.

use std::time::Duration;

use crate::common::TestApp;
use serde_json::Value;

/// Well under the poll, with room for a loaded machine.
const WITHIN: Duration = Duration::from_secs(5);

fn sales_counted(b: &Value) -> i64 {
    b["items"].as_array().unwrap().iter().map(|r| r["sales_count"].as_i64().unwrap()).sum()
}

async fn kpis_follow_a_commit_without_waiting_for_the_poll(app: &TestApp) {
    app.agent("FR1", "Colombo", "Alpha").await;
    let product = app.product("Fresh", "100.00").await;
    // Let the aggregator's first (start-up) step pass; from now on it sleeps for ten minutes (the configured interval),
    // far longer than the test may take: only a wake-up can explain a refresh.
    tokio::time::sleep(Duration::from_millis(300)).await;
    app.sale("FR1", product, "10.00", "2026-01-02").await;
    app.wait_for("/api/v1/kpis/branches", WITHIN, |b| sales_counted(b) == 1).await;
    app.sale("FR1", product, "15.00", "2026-01-03").await;
    let b = app.wait_for("/api/v1/kpis/branches", WITHIN, |b| sales_counted(b) == 2).await;
    assert_eq!(b["items"][0]["total_sales"], "25.00", "{b}");
    if app.store.backend() == moon_db::Backend::Postgres {
        // Written through another connection pool with its own signal: the server hears of it
        // only through the database.
        let today = chrono::Utc::now().date_naive();
        moon_server::bulk::load(&app.store, 2, 40, today, 9, |_| {}).await.unwrap();
        app.wait_for("/api/v1/kpis/branches", WITHIN, |b| sales_counted(b) == 42).await;
    }
}

on_every_backend_with!(
    slow_poll,
    |c: &mut moon_server::Config| c.aggregate_interval = std::time::Duration::from_secs(600),
    kpis_follow_a_commit_without_waiting_for_the_poll,
);
