//! Analytics benchmark: full rebuild against the database's own GROUP BY queries, incremental
//! refresh after 1,000 changed sales, and sale-to-KPI freshness in a running server.
//!
//! ```text
//! cargo run --release -p moon-server --example analytics_bench -- \
//!     --op sqlite:///tmp/b/moon.db --wh sqlite:///tmp/b/warehouse.db --sales 10000000
//! ```
//!
//! The databases must be empty; `bench/analytics.sh` creates and drops them. Results are printed
//! as one Markdown table row per measurement, ready for BENCHMARKS.md.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[path = "common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use moon_analytics::Outcome;
use moon_db::Db;

struct Args {
    op: String,
    wh: String,
    sales: u64,
    agents: usize,
    changes: usize,
    rounds: usize,
    samples: usize,
}

fn args() -> Args {
    let mut a = Args {
        op: String::new(),
        wh: String::new(),
        sales: 10_000,
        agents: 1_000,
        changes: 1_000,
        rounds: 5,
        samples: 200,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--op" => a.op = value,
            "--wh" => a.wh = value,
            "--sales" => a.sales = value.parse().unwrap(),
            "--agents" => a.agents = value.parse().unwrap(),
            "--changes" => a.changes = value.parse().unwrap(),
            "--rounds" => a.rounds = value.parse().unwrap(),
            "--samples" => a.samples = value.parse().unwrap(),
            other => panic!("unknown flag {other}"),
        }
    }
    assert!(!a.op.is_empty() && !a.wh.is_empty(), "--op URL and --wh URL are required");
    a
}

/// The original system's three GROUP BY queries, timed on the operational database.
async fn original_queries(db: &Db) -> Duration {
    let started = Instant::now();
    let (teams, branches, products) = moon_analytics::verify::original_queries(db).await.unwrap();
    assert!(!teams.is_empty() && !products.is_empty() && !branches.is_empty());
    started.elapsed()
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(tracing_subscriber::EnvFilter::new("error,moon_analytics=debug"))
        .init();
    let a = args();
    let (config, db) = common::config(&a.op, &a.wh).await;
    let today = chrono::Utc::now().date_naive();
    moon_server::demo::load(&db, today).await.unwrap();
    let load = moon_server::bulk::load(&db, a.agents, a.sales, today, 2026, |p| {
        eprintln!("  loading: {} / {} sales", p.done, p.total);
    })
    .await
    .unwrap();
    eprintln!("loaded {} sales in {:.1} s", load.sales, load.took.as_secs_f64());
    let agg = moon_server::app::open_aggregator(&config, &db).await.unwrap();
    let pair = format!("{} → {}", db.backend().name(), agg.warehouse().flavor_name());
    let history = a.sales + 48;

    // Full rebuild against the three GROUP BY queries, best of two each (warm caches).
    let reference = original_queries(&db).await.min(original_queries(&db).await);
    let mut rebuild = Duration::MAX;
    let mut cells = 0;
    for _ in 0..2 {
        let started = Instant::now();
        if let Outcome::Rebuilt { cells: c, .. } = agg.rebuild().await.unwrap() {
            cells = c;
        }
        rebuild = rebuild.min(started.elapsed());
    }
    println!(
        "| {pair} | full rebuild | {history} sales, {cells} cells | {} ms | three GROUP BY queries: {} ms | {:.2}× |",
        common::ms(rebuild),
        common::ms(reference),
        rebuild.as_secs_f64() / reference.as_secs_f64()
    );

    // Incremental refresh after `changes` new sales written through the use cases.
    let mut times = Vec::new();
    for round in 0..a.rounds {
        moon_server::bulk::churn(&db, a.changes, today, 7 + round as u64).await.unwrap();
        let started = Instant::now();
        let outcome = agg.refresh().await.unwrap();
        times.push(started.elapsed());
        assert!(matches!(outcome, Outcome::Incremental { entries, .. } if entries == a.changes), "{outcome:?}");
    }
    assert!(agg.verify().await.unwrap().differences.is_empty(), "the warehouse must verify after the refreshes");
    times.sort();
    println!(
        "| {pair} | incremental refresh, {} changed sales | {history} sales | median {} ms, max {} ms | {} rounds | |",
        a.changes,
        common::ms(common::percentile(&times, 0.5)),
        common::ms(*times.last().unwrap()),
        a.rounds
    );

    // Sale-to-KPI freshness through a running server (200 ms aggregator poll).
    let server = moon_server::start(config.clone()).await.unwrap();
    let base = format!("http://{}", server.addr);
    let client = common::client_as(&db, "bench-admin", "admin", None).await;
    let count = |body: serde_json::Value| -> i64 {
        body["items"].as_array().unwrap().iter().map(|r| r["sales_count"].as_i64().unwrap()).sum()
    };
    let kpi = format!("{base}/api/v1/kpis/teams");
    let mut expected = {
        let started = Instant::now();
        loop {
            let before: serde_json::Value = client.get(&kpi).send().await.unwrap().json().await.unwrap();
            let n = count(before);
            if started.elapsed() > Duration::from_secs(2) {
                break n;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    };
    let mut fresh = Vec::new();
    for i in 0..a.samples {
        let body = serde_json::json!({"agent_code": "AGT001", "product_id": 1, "amount": "1000.00", "sale_date": today.to_string()});
        let started = Instant::now();
        let r = client.post(format!("{base}/api/v1/sales")).json(&body).send().await.unwrap();
        assert_eq!(r.status(), 201, "sample {i}");
        expected += 1;
        loop {
            let now: serde_json::Value = client.get(&kpi).send().await.unwrap().json().await.unwrap();
            if count(now) >= expected {
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(10), "sale {i} never reached the KPI API");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        fresh.push(started.elapsed());
    }
    fresh.sort();
    println!(
        "| {pair} | sale-to-KPI freshness (POST, poll /api/v1/kpis/teams) | {history} sales | p50 {} ms, p99 {} ms, max {} ms | {} samples | |",
        common::ms(common::percentile(&fresh, 0.5)),
        common::ms(common::percentile(&fresh, 0.99)),
        common::ms(*fresh.last().unwrap()),
        a.samples
    );
    server.shutdown().await.unwrap();
}
