//! KPIs respect history (issue 13, item 2): a sale counts for the team and home branch its agent
//! had on the sale date, through incremental refreshes, rebuilds and `--verify`, and the
//! warehouse publishes the memberships, days and targets BI tools need to say the same.

use crate::common::TestApp;
use moon_analytics::{Aggregator, Outcome};
use moon_db::sea_query::{Expr, ExprTrait, Query};
use moon_db::{Db, DbOptions};
use serde_json::{Value, json};

async fn aggregator(app: &TestApp) -> Aggregator {
    let db = Db::connect(&app.db.url, &DbOptions::default()).await.unwrap();
    moon_server::app::open_aggregator(&app.config, &db).await.unwrap()
}

async fn assert_verified(agg: &Aggregator) {
    let report = agg.verify().await.unwrap();
    assert!(report.differences.is_empty(), "warehouse differs from the source: {:#?}", report.differences);
}

/// Team totals of a period from the KPI API, as (team, amount) sorted by team.
async fn teams(app: &TestApp, from: &str, to: &str) -> Vec<(String, String)> {
    let (s, b) = app.get(&format!("/api/v1/kpis/teams?from={from}&to={to}")).await;
    assert_eq!(s, 200, "{b}");
    let mut out: Vec<(String, String)> = b["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["team"].as_str().unwrap().to_owned(), r["total_sales"].as_str().unwrap().to_owned()))
        .collect();
    out.sort();
    out
}

fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter().map(|(a, b)| ((*a).to_owned(), (*b).to_owned())).collect()
}

async fn sale_without_branch(app: &TestApp, agent: &str, product: i64, amount: &str, date: &str) -> Value {
    let (s, b) = app
        .post("/api/v1/sales", json!({"agent_code": agent, "product_id": product, "amount": amount, "sale_date": date}))
        .await;
    assert_eq!(s, 201, "{b}");
    b
}

/// A move with an effective date leaves earlier periods as they were, incrementally and after a
/// rebuild; the moved agent's later sales count for the new team, and a sale backdated before
/// the move counts for the old team and (without a branch) the old home branch.
async fn a_move_leaves_past_periods_unchanged(app: &TestApp) {
    let h1 = app.agent("H1", "Colombo", "Alpha").await;
    app.agent("H2", "Colombo", "Alpha").await;
    app.agent("H3", "Kandy", "Beta").await;
    let p = app.product("History product", "1000.00").await;
    app.sale("H1", p, "100.00", "2026-03-10").await;
    app.sale("H2", p, "10.00", "2026-03-11").await;
    app.sale("H1", p, "200.00", "2026-08-10").await;
    app.sale("H3", p, "50.00", "2026-03-15").await;
    let agg = aggregator(app).await;
    agg.catch_up(|_| {}).await.unwrap();
    let q1 = pairs(&[("Alpha", "110.00"), ("Beta", "50.00")]);
    assert_eq!(teams(app, "2026-01-01", "2026-03-31").await, q1);
    assert_eq!(teams(app, "2026-07-01", "2026-09-30").await, pairs(&[("Alpha", "200.00")]));

    // H1 moves to Beta in Kandy from 1 July.
    let (s, b) = app
        .post(
            &format!("/api/v1/agents/{h1}/moves"),
            json!({"team": "Beta", "branch": "Kandy", "effective_from": "2026-07-01"}),
        )
        .await;
    assert!((200..300).contains(&s), "{b}");
    let outcome = agg.catch_up(|_| {}).await.unwrap();
    assert!(matches!(outcome, Outcome::Incremental { .. }), "a move is applied incrementally: {outcome:?}");
    assert_eq!(teams(app, "2026-01-01", "2026-03-31").await, q1, "the first quarter is unchanged");
    assert_eq!(teams(app, "2026-07-01", "2026-09-30").await, pairs(&[("Beta", "200.00")]), "after the move: Beta");

    // A sale backdated before the move: the old team, and the old home branch by default.
    let back = sale_without_branch(app, "H1", p, "30.00", "2026-05-05").await;
    assert_eq!(back["branch"], "Colombo", "home branch on the sale date: {back}");
    let later = sale_without_branch(app, "H1", p, "5.00", "2026-08-20").await;
    assert_eq!(later["branch"], "Kandy", "{later}");
    agg.catch_up(|_| {}).await.unwrap();
    assert_eq!(teams(app, "2026-04-01", "2026-06-30").await, pairs(&[("Alpha", "30.00")]));
    assert_eq!(teams(app, "2026-07-01", "2026-09-30").await, pairs(&[("Beta", "205.00")]));
    // All time: Alpha 100 + 10 + 30, Beta 50 + 200 + 5, from the running totals.
    let (_, all) = app.get("/api/v1/kpis/teams").await;
    let all: Vec<(String, String)> = {
        let mut v: Vec<(String, String)> = all["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| (r["team"].as_str().unwrap().to_owned(), r["total_sales"].as_str().unwrap().to_owned()))
            .collect();
        v.sort();
        v
    };
    assert_eq!(all, pairs(&[("Alpha", "140.00"), ("Beta", "255.00")]));
    assert_verified(&agg).await;

    // A rebuild from one snapshot of sales and memberships gives the same figures.
    assert!(matches!(agg.rebuild().await.unwrap(), Outcome::Rebuilt { .. }));
    assert_eq!(teams(app, "2026-01-01", "2026-03-31").await, q1, "the rebuild agrees");
    assert_eq!(teams(app, "2026-07-01", "2026-09-30").await, pairs(&[("Beta", "205.00")]));
    assert_verified(&agg).await;
}

/// `--verify` covers the cells' teams, the memberships, the days and the targets: it passes
/// after moves and target changes, and fails when any of them is edited behind its back.
async fn verify_covers_memberships_days_and_targets(app: &TestApp) {
    let v1 = app.agent("V1", "Colombo", "Alpha").await;
    app.agent("V2", "Kandy", "Beta").await;
    let p = app.product("Verify product", "500.00").await;
    app.sale("V1", p, "40.00", "2026-02-02").await;
    app.sale("V1", p, "60.00", "2026-09-09").await;
    let agg = aggregator(app).await;
    agg.catch_up(|_| {}).await.unwrap();
    let (s, b) =
        app.post(&format!("/api/v1/agents/{v1}/moves"), json!({"team": "Beta", "effective_from": "2026-06-01"})).await;
    assert!((200..300).contains(&s), "{b}");
    let (s, b) = app
        .post(
            "/api/v1/targets",
            json!({"scope_kind": "agent", "scope_key": "V1", "period": "2026-09", "amount": "75.00"}),
        )
        .await;
    assert!((200..300).contains(&s), "{b}");
    let target = b["id"].as_i64().unwrap();
    let (s, b) = app
        .post(
            "/api/v1/targets",
            json!({"scope_kind": "team", "scope_key": "Beta", "period": "2026-09", "amount": "900.00"}),
        )
        .await;
    assert!((200..300).contains(&s), "{b}");
    agg.catch_up(|_| {}).await.unwrap();
    assert_verified(&agg).await;

    let wh = &agg.warehouse().db;
    // Two ranges for V1, under the same pseudonym as dim_agent; no agent code anywhere.
    let mut q = Query::select();
    q.columns(["team", "agent_key", "is_current"]).from("dim_membership").and_where(Expr::col("agent_id").eq(v1));
    q.order_by("valid_from", moon_db::sea_query::Order::Asc);
    let ranges: Vec<(String, String, bool)> = wh.fetch_all(&q).await.unwrap();
    assert_eq!(ranges.iter().map(|r| (r.0.as_str(), r.2)).collect::<Vec<_>>(), [("Alpha", false), ("Beta", true)]);
    let mut q = Query::select();
    q.column("agent_key").from("dim_agent").and_where(Expr::col("agent_id").eq(v1));
    let (key,): (String,) = wh.fetch_optional(&q).await.unwrap().unwrap();
    assert!(ranges.iter().all(|r| r.1 == key) && key.starts_with("ag_"), "{ranges:?} vs {key}");
    let mut q = Query::select();
    q.columns(["scope_key", "amount_cents"]).from("fact_target").and_where(Expr::col("target_id").eq(target));
    let (scope_key, cents): (String, i64) = wh.fetch_optional(&q).await.unwrap().unwrap();
    assert_eq!((scope_key, cents), (key.clone(), 7500), "an agent target names the pseudonym");
    // The days cover the fiscal year of the sales and targets.
    let mut q = Query::select();
    q.expr(Expr::col("calendar_date").count()).from("dim_date");
    let (days,): (i64,) = wh.fetch_optional(&q).await.unwrap().unwrap();
    assert_eq!(days, 365, "2026 is covered, day by day");

    // A target changes and one is deleted: still verified.
    let (s, b) = app.patch(&format!("/api/v1/targets/{target}"), json!({"amount": "80.00"})).await;
    assert_eq!(s, 200, "{b}");
    agg.catch_up(|_| {}).await.unwrap();
    assert_verified(&agg).await;

    for (table, column, value) in [
        ("fact_sales_daily", "team", "Gamma"),
        ("dim_membership", "team", "Gamma"),
        ("fact_target", "amount_cents", "1"),
        ("dim_date", "is_working_day", "x"),
    ] {
        let mut tx = wh.begin().await.unwrap();
        let mut up = Query::update();
        let v: moon_db::sea_query::Value = match value {
            "1" => 1i64.into(),
            "x" => true.into(),
            s => s.into(),
        };
        up.table(table).value(column, v);
        tx.execute(&up).await.unwrap();
        tx.commit().await.unwrap();
        let report = agg.verify().await.unwrap();
        assert!(report.differences.iter().any(|d| d.starts_with(table)), "{table}: {:?}", report.differences);
        agg.rebuild().await.unwrap();
        assert_verified(&agg).await;
    }
}

/// "How did team Beta do last quarter, counting only the agents it had then?": one call, and
/// its answer does not change when agents join or leave Beta afterwards.
async fn a_team_quarter_counts_only_its_members_then(app: &TestApp) {
    let w1 = app.agent("W1", "Colombo", "Beta").await;
    let w2 = app.agent("W2", "Colombo", "Alpha").await;
    let p = app.product("Quarter product", "500.00").await;
    app.sale("W1", p, "70.00", "2026-05-05").await;
    app.sale("W2", p, "30.00", "2026-05-06").await;
    let agg = aggregator(app).await;
    agg.catch_up(|_| {}).await.unwrap();
    let before = teams(app, "2026-04-01", "2026-06-30").await;
    assert_eq!(before, pairs(&[("Alpha", "30.00"), ("Beta", "70.00")]));
    // W1 leaves Beta, W2 joins it, both from 1 July.
    let (s, b) =
        app.post(&format!("/api/v1/agents/{w1}/moves"), json!({"team": "Alpha", "effective_from": "2026-07-01"})).await;
    assert!((200..300).contains(&s), "{b}");
    let (s, b) = app.patch(&format!("/api/v1/agents/{w2}"), json!({"team": "Beta"})).await;
    assert_eq!(s, 200, "{b}");
    agg.catch_up(|_| {}).await.unwrap();
    assert_eq!(teams(app, "2026-04-01", "2026-06-30").await, before);
    let (_, beta) = app.get("/api/v1/kpis/teams?from=2026-04-01&to=2026-06-30&team=Beta").await;
    assert_eq!(beta["items"].as_array().unwrap().len(), 1, "{beta}");
    assert_eq!(beta["items"][0]["total_sales"], "70.00", "{beta}");
    assert_verified(&agg).await;
}

/// A cell that loses one of its sales keeps the others (the refresh once deleted every cell
/// that shrank, whatever was left in it).
async fn a_cell_keeps_its_other_sales_when_one_goes(app: &TestApp) {
    app.agent("C1", "Colombo", "Alpha").await;
    let p = app.product("Cell product", "100.00").await;
    app.sale("C1", p, "10.00", "2026-04-04").await;
    let second = app.sale("C1", p, "20.00", "2026-04-04").await;
    let agg = aggregator(app).await;
    agg.catch_up(|_| {}).await.unwrap();
    let (s, _) = app.delete(&format!("/api/v1/sales/{second}")).await;
    assert_eq!(s, 204);
    assert!(matches!(agg.catch_up(|_| {}).await.unwrap(), Outcome::Incremental { .. }));
    assert_eq!(teams(app, "2026-04-01", "2026-04-30").await, pairs(&[("Alpha", "10.00")]));
    assert_verified(&agg).await;
}

on_every_backend_with!(
    manual,
    |c: &mut moon_server::Config| c.aggregate_interval = std::time::Duration::ZERO,
    a_move_leaves_past_periods_unchanged,
    verify_covers_memberships_days_and_targets,
    a_team_quarter_counts_only_its_members_then,
    a_cell_keeps_its_other_sales_when_one_goes,
);
