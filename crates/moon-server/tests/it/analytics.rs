//! Analytics end to end: the change log, the aggregator, the warehouse and the KPI API, on every
//! backend pair the suite can reach (SQLite→SQLite, PostgreSQL→PostgreSQL, MariaDB→PostgreSQL).

use std::time::Duration;

use crate::common::TestApp;
use moon_analytics::{Aggregator, Fault, Outcome};
use moon_db::sea_query::{Expr, ExprTrait, Query};
use moon_db::{Db, DbOptions};
use serde_json::{Value, json};

/// An aggregator of the test's own over the app's databases (the app's own loop is off in the
/// tests that use this, so the test decides when refreshes happen).
async fn aggregator(app: &TestApp) -> Aggregator {
    let db = Db::connect(&app.db.url, &DbOptions::default()).await.unwrap();
    moon_server::app::open_aggregator(&app.config, &db).await.unwrap()
}

async fn assert_verified(agg: &Aggregator) {
    let report = agg.verify().await.unwrap();
    assert!(report.differences.is_empty(), "warehouse differs from the source: {:#?}", report.differences);
}

fn total_count(b: &Value) -> i64 {
    b["items"].as_array().unwrap().iter().map(|r| r["sales_count"].as_i64().unwrap()).sum()
}

fn row<'a>(b: &'a Value, key: &str, value: &str) -> &'a Value {
    b["items"].as_array().unwrap().iter().find(|r| r[key] == value).unwrap_or_else(|| panic!("no {key}={value} in {b}"))
}

/// The KPI API follows sales within a second, over any period, with ties, filters and CSV.
async fn kpis_follow_sales(app: &TestApp) {
    app.agent("K1", "Colombo", "Alpha").await;
    app.agent("K2", "Kandy", "Beta").await;
    let k3 = app.agent("K3", "Kandy", "Alpha").await;
    let p1 = app.product("Life Gold", "1000.00").await;
    let p2 = app.product("Motor Plus", "100.00").await;
    app.sale("K1", p1, "300.00", "2026-01-10").await;
    let s2 = app.sale("K2", p1, "700.00", "2026-02-15").await;
    app.sale("K3", p2, "50.00", "2026-02-20").await;
    app.sale("K2", p2, "25.50", "2026-03-01").await;

    let teams = app.wait_for("/api/v1/kpis/teams", Duration::from_secs(2), |b| total_count(b) == 4).await;
    assert_eq!(row(&teams, "team", "Beta")["total_sales"], "725.50");
    assert_eq!(row(&teams, "team", "Beta")["sales_count"], 2);
    assert_eq!(row(&teams, "team", "Alpha")["total_sales"], "350.00");
    assert_eq!(teams["items"][0]["team"], "Beta", "highest first");

    let (_, branches) = app.get("/api/v1/kpis/branches").await;
    assert_eq!(row(&branches, "branch", "Kandy")["total_sales"], "775.50");
    assert_eq!(row(&branches, "branch", "Colombo")["sales_count"], 1);

    let (_, products) = app.get("/api/v1/kpis/products").await;
    let life = row(&products, "product_name", "Life Gold");
    assert_eq!((life["total_sales"].as_str(), life["status"].as_str()), (Some("1000.00"), Some("Achieved")));
    assert_eq!(life["attainment_pct"], "100.00");
    let motor = row(&products, "product_name", "Motor Plus");
    assert_eq!((motor["status"].as_str(), motor["attainment_pct"].as_str()), (Some("Not Achieved"), Some("75.50")));

    let (_, feb) = app.get("/api/v1/kpis/teams?from=2026-02-01&to=2026-02-28").await;
    assert_eq!(feb["from"], "2026-02-01");
    assert_eq!(row(&feb, "team", "Beta")["total_sales"], "700.00");
    assert_eq!(row(&feb, "team", "Alpha")["total_sales"], "50.00");

    // A tie: K3 reaches K1's 300.00.
    app.sale("K3", p1, "250.00", "2026-03-05").await;
    let board = app.wait_for("/api/v1/kpis/leaderboard", Duration::from_secs(2), |b| total_count(b) == 5).await;
    let ranks: Vec<(i64, String)> = board["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["rank"].as_i64().unwrap(), r["total_sales"].as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(ranks, [(1, "725.50".into()), (2, "300.00".into()), (2, "300.00".into())]);
    for r in board["items"].as_array().unwrap() {
        let agent = r["agent"].as_str().unwrap();
        assert!(agent.starts_with("ag_") && !agent.contains('K'), "pseudonym only: {agent}");
    }
    let (_, alpha) = app.get("/api/v1/kpis/leaderboard?team=Alpha&limit=1").await;
    assert_eq!(alpha["items"].as_array().unwrap().len(), 1);
    assert_eq!(alpha["items"][0]["rank"], 1);

    let (_, trend) = app.get("/api/v1/kpis/trend?bucket=month").await;
    let months: Vec<(String, String)> = trend["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["period"].as_str().unwrap().to_owned(), r["total_sales"].as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(
        months,
        [("2026-01".into(), "300.00".into()), ("2026-02".into(), "750.00".into()), ("2026-03".into(), "275.50".into())]
    );
    let (_, quarters) = app.get("/api/v1/kpis/trend?bucket=quarter").await;
    assert_eq!(quarters["items"][0]["period"], "2026-Q1");
    assert_eq!(quarters["items"][0]["total_sales"], "1325.50");
    let (_, years) = app.get("/api/v1/kpis/trend?bucket=year&from=2025-06-01&to=2026-12-31").await;
    let years: Vec<(&str, &str)> = years["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["period"].as_str().unwrap(), r["total_sales"].as_str().unwrap()))
        .collect();
    assert_eq!(years, [("2025", "0.00"), ("2026", "1325.50")], "zero-filled years");
    // Months without sales inside the range are rows of 0, not gaps.
    let (_, filled) = app.get("/api/v1/kpis/trend?bucket=month&from=2025-12-15&to=2026-04-30").await;
    let labels: Vec<(&str, i64)> = filled["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["period"].as_str().unwrap(), r["sales_count"].as_i64().unwrap()))
        .collect();
    assert_eq!(labels.first(), Some(&("2025-12", 0)));
    assert_eq!(labels.last(), Some(&("2026-04", 0)));
    assert_eq!(labels.len(), 5);

    // CSV, by parameter and by Accept header.
    let r = app.client.get(app.url("/api/v1/kpis/branches?format=csv")).send().await.unwrap();
    assert_eq!(r.headers()["content-type"], "text/csv; charset=utf-8");
    let csv = r.text().await.unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines, ["branch,sales_count,total_sales", "Kandy,4,1025.50", "Colombo,1,300.00"]);
    let r = app.client.get(app.url("/api/v1/kpis/teams")).header("accept", "text/csv").send().await.unwrap();
    assert!(r.text().await.unwrap().starts_with("team,sales_count,total_sales\r\n"));

    // An agent moves team from March: their earlier sales stay with the old team, later ones
    // count for the new one (a sale counts for the team its agent had on the sale date).
    let (s, b) =
        app.post(&format!("/api/v1/agents/{k3}/moves"), json!({"team": "Beta", "effective_from": "2026-03-01"})).await;
    assert!((200..300).contains(&s), "{b}");
    app.wait_for("/api/v1/kpis/teams", Duration::from_secs(2), |b| {
        b["items"].as_array().unwrap().iter().any(|r| r["team"] == "Beta" && r["total_sales"] == "975.50")
    })
    .await;
    let (_, feb) = app.get("/api/v1/kpis/teams?from=2026-02-01&to=2026-02-28").await;
    assert_eq!(row(&feb, "team", "Alpha")["total_sales"], "50.00", "February keeps K3 in Alpha");
    // A sale changes and another is deleted.
    let (s, _) = app.patch(&format!("/api/v1/sales/{s2}"), json!({"amount": "100.00"})).await;
    assert_eq!(s, 200);
    let (s, _) = app.delete(&format!("/api/v1/sales/{s2}")).await;
    assert_eq!(s, 204);
    app.wait_for("/api/v1/kpis/branches", Duration::from_secs(2), |b| {
        b["items"].as_array().unwrap().iter().any(|r| r["branch"] == "Kandy" && r["total_sales"] == "325.50")
    })
    .await;

    // Bad input is a problem naming the field.
    let (s, b) = app.get("/api/v1/kpis/teams?from=2026-13-01").await;
    assert_eq!((s, b["errors"][0]["field"].as_str()), (422, Some("from")));
    let (s, _) = app.get("/api/v1/kpis/teams?from=2026-03-01&to=2026-02-01").await;
    assert_eq!(s, 422);
    let (s, b) = app.get("/api/v1/kpis/trend?bucket=decade").await;
    assert_eq!((s, b["errors"][0]["field"].as_str()), (422, Some("bucket")));
    let (s, _) = app.get("/api/v1/kpis/teams?colour=red").await;
    assert_eq!(s, 400);
    let (s, _) = app.get("/api/v1/kpis/leaderboard?limit=0").await;
    assert_eq!(s, 422);
}

on_every_backend!(kpis_follow_sales);

/// A deterministic pseudo-random sequence.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }

    fn pick<T: Clone>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize].clone()
    }
}

const TEAMS: &[&str] = &["Alpha", "Beta", "Gamma"];
const BRANCHES: &[&str] = &["Colombo", "Kandy", "Galle"];

fn amount(rng: &mut Rng) -> String {
    format!("{}.{:02}", 1 + rng.below(5000), rng.below(100))
}

fn date(rng: &mut Rng) -> String {
    format!("2026-{:02}-{:02}", 1 + rng.below(10), 1 + rng.below(28))
}

/// A random history of inserts, updates of every field, deletes, team moves and target changes,
/// refreshed at random moments and batch sizes; the warehouse must equal a recomputation.
async fn random_changes_match_a_recomputation(app: &TestApp) {
    random_history(app, aggregator(app).await).await;
}

/// The same with the SQL the aggregator sends to Redshift (delete-and-insert instead of
/// `ON CONFLICT`), run on the suite's own warehouse.
async fn random_changes_in_redshift_sql_match_a_recomputation(app: &TestApp) {
    random_history(app, aggregator(app).await.with_flavor(moon_analytics::Flavor::Redshift)).await;
}

async fn random_history(app: &TestApp, agg: Aggregator) {
    let seed = std::env::var("MOON_TEST_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(20_261_126);
    let mut rng = Rng(seed);
    let mut agents = Vec::new();
    for i in 0..6 {
        let code = format!("R{i}");
        let id = app.agent(&code, rng.pick(BRANCHES), rng.pick(TEAMS)).await;
        agents.push((code, id));
    }
    let mut products = Vec::new();
    for i in 0..3 {
        products.push(app.product(&format!("Random product {i}"), &amount(&mut rng)).await);
    }
    let mut sales: Vec<i64> = Vec::new();
    let (mut dated_moves, mut targets) = (0usize, 0usize);
    for step in 0..160 {
        if step < 110 && rng.below(6) == 0 {
            // A move dated inside the sales' year (later as the history goes on), so that
            // sales on both sides of it are re-attributed; one dated before the agent's
            // current range is refused, and one to the same team changes nothing.
            let (_, id) = rng.pick(&agents);
            let from = format!("2026-{:02}-{:02}", 1 + step * 9 / 160, 1 + rng.below(28));
            let body = json!({"team": rng.pick(TEAMS), "branch": rng.pick(BRANCHES), "effective_from": from});
            let (s, b) = app.post(&format!("/api/v1/agents/{id}/moves"), body).await;
            assert!((200..300).contains(&s) || s == 422, "{b}");
            dated_moves += usize::from(s < 300);
            continue;
        }
        match rng.below(10) {
            0..=3 => {
                let (code, _) = rng.pick(&agents);
                let body = json!({"agent_code": code, "product_id": rng.pick(&products), "amount": amount(&mut rng),
                    "sale_date": date(&mut rng), "branch": rng.pick(BRANCHES)});
                let (s, b) = app.post("/api/v1/sales", body).await;
                assert_eq!(s, 201, "{b}");
                sales.push(b["id"].as_i64().unwrap());
            }
            4..=5 if !sales.is_empty() => {
                let id = rng.pick(&sales);
                let body = match rng.below(5) {
                    0 => json!({"amount": amount(&mut rng)}),
                    1 => json!({"product_id": rng.pick(&products)}),
                    2 => json!({"sale_date": date(&mut rng)}),
                    3 => json!({"branch": rng.pick(BRANCHES)}),
                    _ => json!({"agent_code": rng.pick(&agents).0}),
                };
                let (s, b) = app.patch(&format!("/api/v1/sales/{id}"), body).await;
                assert_eq!(s, 200, "{b}");
            }
            6 if !sales.is_empty() => {
                let i = rng.below(sales.len() as u64) as usize;
                let id = sales.swap_remove(i);
                let (s, _) = app.delete(&format!("/api/v1/sales/{id}")).await;
                assert_eq!(s, 204);
            }
            // A move effective today (after every dated one: a move cannot precede the
            // agent's current range).
            7 if step >= 110 => {
                let (_, id) = rng.pick(&agents);
                let (s, b) = app.patch(&format!("/api/v1/agents/{id}"), json!({"team": rng.pick(TEAMS)})).await;
                assert_eq!(s, 200, "{b}");
            }
            8 if rng.below(2) == 0 => {
                let id = rng.pick(&products);
                let (s, b) =
                    app.patch(&format!("/api/v1/products/{id}"), json!({"target_amount": amount(&mut rng)})).await;
                assert_eq!(s, 200, "{b}");
            }
            8 => {
                // A sales target for an agent or a team and a month: set, or changed when one exists.
                let body = if rng.below(2) == 0 {
                    json!({"scope_kind": "agent", "scope_key": rng.pick(&agents).0})
                } else {
                    json!({"scope_kind": "team", "scope_key": rng.pick(TEAMS)})
                };
                let mut body = body;
                body["period"] = json!(format!("2026-{:02}", 1 + rng.below(10)));
                body["amount"] = json!(amount(&mut rng));
                let (s, b) = app.post("/api/v1/targets", body).await;
                assert!((200..300).contains(&s) || s == 409, "{b}");
                targets += usize::from(s < 300);
            }
            _ => {
                // Refresh now, sometimes in small batches.
                let batch = [1u64, 3, 10_000][rng.below(3) as usize];
                agg.clone().with_batch_size(batch).refresh().await.unwrap_or_else(|e| panic!("step {step}: {e}"));
            }
        }
    }
    assert!(dated_moves > 0 && targets > 0, "the scenario moved agents ({dated_moves}) and set targets ({targets})");
    let outcome = agg.catch_up(|_| {}).await.unwrap();
    assert!(matches!(outcome, Outcome::Incremental { .. } | Outcome::UpToDate { .. }), "{outcome:?}");
    assert_verified(&agg).await;
    assert_original_tables_match_original_queries(app, &agg).await;
    // A rebuild from scratch gives the same warehouse.
    assert!(matches!(agg.rebuild().await.unwrap(), Outcome::Rebuilt { .. }));
    assert_verified(&agg).await;
}

/// The original system's three queries, run on the operational database.
async fn assert_original_tables_match_original_queries(app: &TestApp, agg: &Aggregator) {
    let op = Db::connect(&app.db.url, &DbOptions::default()).await.unwrap();
    let (teams, branches, products) = moon_analytics::verify::original_queries(&op).await.unwrap();
    let mut tx = agg.warehouse().db.begin_snapshot().await.unwrap();
    let ((wh_teams, wh_branches, wh_products), duplicates) =
        moon_analytics::verify::read_original_tables(&mut tx).await.unwrap();
    tx.rollback().await.unwrap();
    assert!(duplicates.is_empty(), "{duplicates:?}");
    assert_eq!(wh_teams, teams, "team_sales_metrics");
    assert_eq!(wh_branches, branches, "branch_sales_metrics");
    assert_eq!(wh_products, products, "product_target_metrics");
    assert!(!teams.is_empty() && !products.is_empty(), "the scenario produced data");
    op.close().await;
}

/// A refresh that fails between any two of its steps leaves the warehouse as it was; the next
/// one applies the batch exactly once.
async fn a_failed_refresh_loses_and_doubles_nothing(app: &TestApp) {
    app.agent("F1", "Colombo", "Alpha").await;
    let f2 = app.agent("F2", "Kandy", "Beta").await;
    let p = app.product("Fault product", "500.00").await;
    let mut agg = aggregator(app).await;
    agg.refresh().await.unwrap();
    let faults = [
        Fault::AfterFacts,
        Fault::AfterTotals,
        Fault::AfterDimensions,
        Fault::AfterLegacyTables,
        Fault::BeforeCommit,
        Fault::AfterCommit,
    ];
    for (i, fault) in faults.into_iter().enumerate() {
        let sale = app.sale("F1", p, &format!("{}.25", 10 + i), &format!("2026-05-{:02}", 1 + i)).await;
        app.patch(&format!("/api/v1/sales/{sale}"), json!({"agent_code": "F2"})).await;
        app.patch(&format!("/api/v1/agents/{f2}"), json!({"team": TEAMS[i % 3]})).await;
        app.patch(&format!("/api/v1/products/{p}"), json!({"target_amount": format!("{}.00", 100 + i)})).await;
        agg.inject_fault(Some(fault));
        assert!(agg.refresh().await.is_err(), "{fault:?} was injected");
        agg.inject_fault(None);
        assert_verified(&agg).await;
    }
    // The same for a rebuild.
    app.sale("F2", p, "99.99", "2026-06-01").await;
    for fault in [Fault::AfterFacts, Fault::AfterLegacyTables, Fault::BeforeCommit] {
        agg.inject_fault(Some(fault));
        assert!(agg.rebuild().await.is_err());
    }
    agg.inject_fault(None);
    assert_verified(&agg).await;
    // A refresh abandoned mid-flight (the process dies) changes nothing either.
    app.sale("F1", p, "12.34", "2026-06-02").await;
    let busy = agg.clone();
    let task = tokio::spawn(async move { busy.refresh().await });
    task.abort();
    let _ = task.await;
    assert_verified(&agg).await;
}

/// Several aggregators at once (both colours, a CronJob and a Deployment) apply each change once.
async fn concurrent_aggregators_apply_each_change_once(app: &TestApp) {
    app.agent("C1", "Colombo", "Alpha").await;
    app.agent("C2", "Galle", "Gamma").await;
    let p = app.product("Concurrent product", "1000.00").await;
    let first = aggregator(app).await;
    first.refresh().await.unwrap();
    for i in 0..40 {
        app.sale(if i % 2 == 0 { "C1" } else { "C2" }, p, &format!("{}.50", 10 + i), "2026-04-04").await;
    }
    let a = first.clone().with_batch_size(3);
    let b = aggregator(app).await.with_batch_size(5);
    let (ra, rb) = tokio::join!(a.catch_up(|_| {}), b.catch_up(|_| {}));
    ra.unwrap();
    rb.unwrap();
    assert_verified(&first).await;
    let (teams, _) = moon_analytics::kpi::teams(&first.warehouse().db, &Default::default(), 1).await.unwrap();
    assert_eq!(teams.iter().map(|t| t.sales_count).sum::<i64>(), 40);
}

/// Once the warehouse has applied the log and said so, the entries are pruned; a warehouse
/// that falls behind the pruned log rebuilds instead of missing changes.
async fn applied_entries_are_pruned(app: &TestApp) {
    app.agent("P1", "Colombo", "Alpha").await;
    let p = app.product("Pruned product", "10.00").await;
    app.sale("P1", p, "5.00", "2026-02-02").await;
    let agg = aggregator(app).await;
    let applied = agg.catch_up(|_| {}).await.unwrap().applied_id();
    let op = Db::connect(&app.db.url, &DbOptions::default()).await.unwrap();
    let count = || async {
        let mut q = Query::select();
        q.expr(Expr::col("id").count()).from("change_log");
        op.fetch_optional::<(i64,)>(&q).await.unwrap().unwrap().0
    };
    assert!(count().await > 0);
    let pruned = agg.publish_cursor(applied).await.unwrap();
    assert!(pruned > 0);
    assert_eq!(count().await, 0);
    // A fresh warehouse cannot replay pruned entries: it rebuilds from the source.
    let other = moon_analytics::Warehouse::open(&app.warehouse.url).await.unwrap();
    let mut tx = other.db.begin().await.unwrap();
    let mut up = Query::update();
    up.table("wh_state").value("applied_id", 0).and_where(Expr::col("consumer").eq("aggregator"));
    tx.execute(&up).await.unwrap();
    tx.commit().await.unwrap();
    app.sale("P1", p, "6.00", "2026-02-03").await;
    assert!(matches!(agg.refresh().await.unwrap(), Outcome::Rebuilt { .. }));
    assert_verified(&agg).await;
    op.close().await;
}

/// `--verify` is a check that can fail: a warehouse edited behind the aggregator's back is
/// reported, and a rebuild repairs it.
async fn verify_reports_a_tampered_warehouse(app: &TestApp) {
    app.agent("T1", "Colombo", "Alpha").await;
    let p = app.product("Tamper product", "10.00").await;
    app.sale("T1", p, "5.00", "2026-02-02").await;
    let agg = aggregator(app).await;
    agg.catch_up(|_| {}).await.unwrap();
    assert_verified(&agg).await;
    for (table, column) in [
        ("fact_sales_daily", "amount_cents"),
        ("fact_sales_monthly", "sales_count"),
        ("kpi_team_totals", "sales_count"),
    ] {
        let mut tx = agg.warehouse().db.begin().await.unwrap();
        let mut up = Query::update();
        up.table(table).value(column, Expr::col(column).add(1));
        tx.execute(&up).await.unwrap();
        tx.commit().await.unwrap();
        let report = agg.verify().await.unwrap();
        assert!(report.differences.iter().any(|d| d.starts_with(table)), "{table}: {:?}", report.differences);
        agg.rebuild().await.unwrap();
        assert_verified(&agg).await;
    }
    let mut tx = agg.warehouse().db.begin().await.unwrap();
    tx.execute_sql("DELETE FROM team_sales_metrics").await.unwrap();
    tx.commit().await.unwrap();
    let report = agg.verify().await.unwrap();
    assert!(
        report.differences.iter().any(|d| d.starts_with("team_sales_metrics: missing")),
        "{:?}",
        report.differences
    );
}

/// A rebuild counts every sale exactly, even one whose text holds the separators the SQLite
/// rebuild packs sales with (stored before validation existed, say): that range is read again row
/// by row.
async fn a_rebuild_reads_sales_with_unusual_text(app: &TestApp) {
    app.agent("U1", "Colombo", "Alpha").await;
    let product = app.product("Unusual", "100.00").await;
    let odd = app.sale("U1", product, "10.00", "2026-03-01").await;
    app.sale("U1", product, "20.00", "2026-03-01").await;
    app.sale("U1", product, "30.00", "2026-03-02").await;
    let mut up = Query::update();
    up.table("sales").value("branch", "Odd\u{1e}branch\u{1f}name").and_where(Expr::col("id").eq(odd));
    let mut tx = app.store.begin().await.unwrap();
    tx.execute(&up).await.unwrap();
    tx.commit().await.unwrap();
    let agg = aggregator(app).await;
    assert!(matches!(agg.rebuild().await.unwrap(), Outcome::Rebuilt { sales: 3, .. }));
    assert_verified(&agg).await;
    let (s, b) = app.get("/api/v1/kpis/branches").await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(row(&b, "branch", "Odd\u{1e}branch\u{1f}name")["sales_count"], 1, "{b}");
    assert_eq!(row(&b, "branch", "Colombo")["sales_count"], 2, "{b}");
}

// The server's own refresh loop is off in these: the test decides when refreshes happen.
on_every_backend_with!(
    manual,
    |c: &mut moon_server::Config| c.aggregate_interval = std::time::Duration::ZERO,
    verify_reports_a_tampered_warehouse,
    random_changes_match_a_recomputation,
    random_changes_in_redshift_sql_match_a_recomputation,
    a_rebuild_reads_sales_with_unusual_text,
    a_failed_refresh_loses_and_doubles_nothing,
    concurrent_aggregators_apply_each_change_once,
    applied_entries_are_pruned,
);
