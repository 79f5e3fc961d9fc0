//! Platform behaviour: schemas across backends, targets, readiness, demo data.

use std::collections::BTreeSet;

use crate::common::{Backend, TestApp, TestDb};
use moon_db::sqlx;
use moon_db::{Db, DbOptions};
use serde_json::{Value, json};

#[test]
fn migration_folders_list_the_same_migrations() {
    let [sqlite, postgres, mysql] = moon_db::migration_names();
    assert!(!sqlite.is_empty());
    assert_eq!(sqlite, postgres, "sqlite and postgres migrations differ");
    assert_eq!(sqlite, mysql, "sqlite and mysql migrations differ");
}

/// The application's tables, compared across backends.
const TABLES: [&str; 21] = [
    "agents",
    "products",
    "sales",
    "notifications",
    "change_log",
    "change_sequence",
    "change_cursors",
    "users",
    "sessions",
    "api_tokens",
    "recovery_codes",
    "sign_in_throttle",
    "server_secrets",
    "notification_rules",
    "notification_totals",
    "notification_preferences",
    "webhook_subscriptions",
    "notification_deliveries",
    "notification_pace_state",
    "user_notification_preferences",
    "wallboard_tokens",
];

/// (table, column, nullable) for every column of the application's tables.
async fn columns(db: &TestDb) -> BTreeSet<(String, String, bool)> {
    let tables = TABLES;
    let mut out = BTreeSet::new();
    match db.backend {
        Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(&db.url).await.unwrap();
            for t in tables {
                let rows: Vec<(String, i64)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "SELECT name, \"notnull\" FROM pragma_table_info('{t}')"
                )))
                .fetch_all(&pool)
                .await
                .unwrap();
                out.extend(rows.into_iter().map(|(c, nn)| {
                    let nullable = nn == 0 && c != "id";
                    (t.to_owned(), c, nullable)
                }));
            }
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
            let rows: Vec<(String, String, String)> = sqlx::query_as(
                "SELECT table_name::text, column_name::text, is_nullable::text FROM information_schema.columns WHERE table_schema = 'public' AND table_name = ANY($1)",
            )
            .bind(TABLES.to_vec())
            .fetch_all(&pool)
            .await
            .unwrap();
            out.extend(rows.into_iter().map(|(t, c, n)| (t, c, n == "YES")));
        }
        Backend::MySql => {
            let pool = sqlx::MySqlPool::connect(&db.url).await.unwrap();
            let rows: Vec<(String, String, String)> = sqlx::query_as(
                "SELECT CAST(table_name AS CHAR), CAST(column_name AS CHAR), CAST(is_nullable AS CHAR) FROM information_schema.columns WHERE table_schema = DATABASE()",
            )
            .fetch_all(&pool)
            .await
            .unwrap();
            out.extend(
                rows.into_iter().filter(|(t, _, _)| TABLES.contains(&t.as_str())).map(|(t, c, n)| (t, c, n == "YES")),
            );
        }
    }
    out
}

#[tokio::test]
async fn every_backend_gets_an_equivalent_schema() {
    let mut reference = None;
    for backend in [Backend::Sqlite, Backend::Postgres, Backend::MySql] {
        let Some(db) = TestDb::create(backend).await else { continue };
        let handle = Db::connect(&db.url, &DbOptions::default()).await.unwrap();
        handle.migrate().await.unwrap();
        handle.migrate().await.expect("migrating twice is a no-op");
        assert!(handle.migration_status().await.unwrap().is_current());
        handle.close().await;
        let cols = columns(&db).await;
        assert!(cols.len() >= 70, "{backend:?}: {cols:?}");
        match &reference {
            None => reference = Some(cols),
            Some(r) => assert_eq!(r, &cols, "{backend:?} schema differs from SQLite's"),
        }
    }
}

#[tokio::test]
async fn a_target_serves_only_its_components() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| c.components = moon_server::targets::resolve("agent").unwrap())
        .await
        .unwrap();
    assert_eq!(app.get("/api/v1/agents").await.0, 200);
    assert_eq!(app.get("/agent/get").await.0, 200);
    assert_eq!(app.get("/healthz").await.0, 200);
    let (s, p) = app.get("/api/v1/sales").await;
    assert_eq!((s, p["code"].as_str()), (404, Some("route_not_found")));
    assert_eq!(app.get("/notification/get").await.0, 404);
    let (_, doc) = app.get("/api/v1/openapi.json").await;
    let paths = doc["paths"].as_object().unwrap();
    assert!(
        paths.contains_key("/api/v1/agents") && !paths.contains_key("/api/v1/sales"),
        "the document describes only what is served"
    );
    app.stop().await;
}

#[tokio::test]
async fn readiness_fails_until_the_database_is_migrated() {
    let db = TestDb::create(Backend::Sqlite).await.unwrap();
    let handle = Db::connect(&db.url, &DbOptions::default()).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(moon_server::serve(
        moon_server::Config::for_database(db.url.clone()),
        handle.clone(),
        listener,
        async {
            let _ = stopped.await;
        },
    ));
    let client = reqwest::Client::new();
    let ready = client.get(format!("http://{addr}/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    assert_eq!(
        client.get(format!("http://{addr}/healthz")).send().await.unwrap().status(),
        200,
        "alive though not ready"
    );
    handle.migrate().await.unwrap();
    assert_eq!(client.get(format!("http://{addr}/readyz")).send().await.unwrap().status(), 200);
    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}

async fn demo_is_idempotent(app: &TestApp) {
    let db = Db::connect(&app.db.url, &DbOptions::default()).await.unwrap();
    let today = chrono::NaiveDate::from_ymd_opt(2026, 11, 26).unwrap();
    let first = moon_server::demo::load(&db, today).await.unwrap();
    assert_eq!((first.agents, first.products, first.notifications), (10, 5, 3));
    assert!(first.sales >= 40, "{first:?}");
    let again = moon_server::demo::load(&db, today).await.unwrap();
    assert_eq!(again, moon_server::demo::DemoSummary::default(), "a second load adds nothing");
    db.close().await;
    let (_, agents) = app.get("/api/v1/agents?agent_code=AGT004").await;
    assert_eq!(agents["items"][0]["first_name"], "Anura");
    // The demo's one agent who changed team, three months back; loading again moved nothing.
    let (_, history) = app.get(&format!("/api/v1/agents/{}/memberships", agents["items"][0]["id"])).await;
    let ranges: Vec<(Value, Value, Value)> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["team"].clone(), m["valid_from"].clone(), m["valid_to"].clone()))
        .collect();
    assert_eq!(
        ranges,
        [(json!("Alpha"), Value::Null, json!("2026-08-01")), (json!("Beta"), json!("2026-08-01"), Value::Null)],
        "{history}"
    );
    let (_, products) = app.get("/api/v1/products").await;
    let platinum = products["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["product_name"] == "Life Insurance - Platinum Plan")
        .unwrap();
    assert_eq!(platinum["target_amount"], "120000.00");
    let (s, _) = app
        .post(
            "/api/v1/sales",
            json!({"agent_code": "AGT005", "product_id": platinum["id"], "amount": "1", "sale_date": "2026-11-01"}),
        )
        .await;
    assert_eq!(s, 201, "the demo data is usable through the API");
    // Targets for every agent, team, branch, region, the company and each product, for the
    // previous and current month and quarter and the fiscal year: 31 × 5.
    let calendar = moon_domain::BusinessCalendar::default();
    let db = Db::connect(&app.db.url, &DbOptions::default()).await.unwrap();
    let planned = moon_server::demo::planning(&db, &calendar, today).await.unwrap();
    assert_eq!(planned.targets, 155, "{planned:?}");
    assert_eq!(moon_server::demo::planning(&db, &calendar, today).await.unwrap().targets, 0, "idempotent");
    db.close().await;
    for (kind, key, amount) in [
        ("team", "Alpha", "300000.00"),
        ("team", "Beta", "600000.00"),
        ("branch", "Colombo", "450000.00"),
        ("agent", "AGT009", "150000.00"),
    ] {
        let (_, t) = app.get(&format!("/api/v1/targets?scope_kind={kind}&scope_key={key}&period=2026-11")).await;
        let amounts: Vec<&Value> = t["items"].as_array().unwrap().iter().map(|t| &t["amount"]).collect();
        assert_eq!(amounts, [amount], "{kind} {key}: {t}");
    }
}

/// "This month" is never empty, even when the demo is started on a Saturday the 1st.
async fn demo_month_is_never_empty(app: &TestApp) {
    let db = Db::connect(&app.db.url, &DbOptions::default()).await.unwrap();
    let saturday = chrono::NaiveDate::from_ymd_opt(2026, 8, 1).unwrap();
    moon_server::demo::load(&db, saturday).await.unwrap();
    db.close().await;
    let (_, sales) = app.get("/api/v1/sales?from=2026-08-01&to=2026-08-31").await;
    let dates: Vec<&Value> = sales["items"].as_array().unwrap().iter().map(|s| &s["sale_date"]).collect();
    assert_eq!(dates, [&json!("2026-08-01")], "{sales}");
    let (_, all) = app.get("/api/v1/sales?from=2025-07-01&to=2025-07-31&limit=500").await;
    assert!(all["items"].as_array().unwrap().len() >= 20, "thirteen months of history: {all}");
}

on_every_backend!(demo_is_idempotent, demo_month_is_never_empty);

#[tokio::test]
async fn a_request_past_its_deadline_is_a_503_problem() {
    use moon_db::sqlx::Connection;
    let app = TestApp::spawn_with(Backend::Sqlite, |c| c.request_timeout = std::time::Duration::from_millis(300))
        .await
        .unwrap();
    app.agent("AGT001", "Colombo", "Alpha").await;
    let product = app.product("Life Basic", "60000").await;
    // Another process holds SQLite's write lock, so the sale waits (up to the 5 s busy timeout).
    let mut other = sqlx::SqliteConnection::connect(&app.db.url).await.unwrap();
    sqlx::query("BEGIN IMMEDIATE").execute(&mut other).await.unwrap();
    let started = std::time::Instant::now();
    let (s, p) = app
        .post(
            "/api/v1/sales",
            json!({"agent_code": "AGT001", "product_id": product, "amount": "1", "sale_date": "2024-01-01"}),
        )
        .await;
    assert_eq!((s, p["code"].as_str()), (503, Some("request_timeout")), "{p}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(3),
        "answered at the deadline, not after the busy timeout"
    );
    sqlx::query("ROLLBACK").execute(&mut other).await.unwrap();
    app.stop().await;
}

#[tokio::test]
async fn the_root_url_lists_what_this_target_serves() {
    let app =
        TestApp::spawn_with(Backend::Sqlite, |c| c.components = moon_server::targets::resolve("integration").unwrap())
            .await
            .unwrap();
    let (s, index) = app.get("/").await;
    assert_eq!(s, 200);
    assert_eq!(index["components"], json!(["integration"]));
    assert_eq!(index["links"]["sales"], "/api/v1/sales");
    assert!(index["links"].get("agents").is_none());
    app.stop().await;
}

#[tokio::test]
async fn metrics_count_requests_by_route_template() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    assert_eq!(app.get("/api/v1/agents/1").await.0, 404);
    assert_eq!(app.get("/api/v1/agents/2").await.0, 404);
    assert_eq!(app.get("/api/v1/agents").await.0, 200);
    assert_eq!(app.get("/no/such/route/42").await.0, 404);
    let r = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("application/openmetrics-text"));
    let text = r.text().await.unwrap();
    let count = |labels: &str| sample(&text, &format!("moon_http_request_duration_seconds_count{{{labels}}}"));
    assert_eq!(
        count(r#"method="GET",route="/api/v1/agents/{id}",status="4xx""#),
        2,
        "ids collapse into the route template"
    );
    assert_eq!(count(r#"method="GET",route="/api/v1/agents",status="2xx""#), 1);
    assert_eq!(count(r#"method="GET",route="unmatched",status="4xx""#), 1);
    assert!(!text.contains("/api/v1/agents/1"), "no raw paths in labels");
    assert!(text.contains("moon_http_requests_in_flight"));
    assert!(text.contains(r#"moon_db_pool_connections{pool="write",state="idle"}"#), "{text}");
    assert!(text.contains(r#"moon_build_info{version=""#));
    assert!(text.trim_end().ends_with("# EOF"));
    app.stop().await;
}

#[tokio::test]
async fn notification_deliveries_are_counted_by_channel_and_outcome() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    app.agent("DL1", "Colombo", "Alpha").await;
    for text in ["one", "two"] {
        let (s, _) = app.post("/api/v1/notifications", json!({"agent_code": "DL1", "message": text})).await;
        assert_eq!(s, 201);
    }
    let (s, _) = app.post("/notification/send", json!({"agent_code": "DL1", "message": "three"})).await;
    assert!(s < 300, "{s}");
    let text = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert_eq!(sample(&text, r#"moon_notification_deliveries_total{channel="inbox",outcome="delivered"}"#), 3);
    app.stop().await;
}

/// The value of one series (name and labels exactly as exposed) in a `/metrics` text.
/// A 429 is counted apart from other 4xx (issue 18, finding 14), so an alert or a dashboard can
/// tell a rate limit from clients' mistakes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limited_requests_are_counted_apart_from_other_4xx() {
    use moon_server::auth::ratelimit::Limit;
    let app = TestApp::spawn_with(Backend::Sqlite, |c| c.security.rate_limits.read = Limit { per_minute: 6, burst: 2 })
        .await
        .unwrap();
    assert_eq!(app.get("/api/v1/agents/999").await.0, 404);
    let mut limited = 0;
    for _ in 0..4 {
        if app.get("/api/v1/products").await.0 == 429 {
            limited += 1;
        }
    }
    assert!(limited >= 2, "the read bucket of 2 let {} of 4 requests through", 4 - limited);
    let text = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert_eq!(
        sample(&text, r#"moon_http_rate_limited_total{method="GET",route="/api/v1/products"}"#),
        limited,
        "{text}"
    );
    assert!(
        !text.contains(r#"moon_http_rate_limited_total{method="GET",route="/api/v1/agents/{id}"}"#),
        "a 404 is not a rate limit"
    );
    app.stop().await;
}

fn sample(text: &str, series: &str) -> u64 {
    let prefix = format!("{series} ");
    text.lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .unwrap_or_else(|| panic!("no series {series}:\n{text}"))
        .parse()
        .unwrap()
}

/// Reads `moon_db_query_errors_total` of one kind from `/metrics`.
async fn query_errors(app: &TestApp, kind: &str) -> u64 {
    let text = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    sample(&text, &format!("moon_db_query_errors_total{{kind=\"{kind}\"}}"))
}

#[tokio::test]
async fn a_failed_statement_counts_as_a_query_error_by_kind() {
    for backend in [Backend::Sqlite, Backend::Postgres, Backend::MySql] {
        let Some(app) = TestApp::spawn(backend).await else { continue };
        assert_eq!(query_errors(&app, "unique_violation").await, 0, "{backend:?}");
        app.agent("AGT001", "Colombo", "Alpha").await;
        let product = app.product("Life", "1000.00").await;
        let sale = json!({"agent_code": "AGT001", "product_id": product, "amount": "10.00",
            "sale_date": "2026-01-05", "policy_number": "POL-1"});
        assert_eq!(app.post("/api/v1/sales", sale.clone()).await.0, 201, "{backend:?}");
        // Only the unique constraint catches a duplicate policy number (no look-up first); the
        // component turns the violation into its own 409, and the statement still counts.
        assert_eq!(app.post("/api/v1/sales", sale).await.0, 409, "{backend:?}");
        assert_eq!(query_errors(&app, "unique_violation").await, 1, "{backend:?}");
        assert_eq!(query_errors(&app, "foreign_key").await, 0, "{backend:?}");
        assert_eq!(query_errors(&app, "unavailable").await, 0, "{backend:?}");
        app.stop().await;
    }
}
