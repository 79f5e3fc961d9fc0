//! Notifications managers act on, on every backend: behind-pace alerts to the managers of the
//! branch (once per period, and "back on pace" once), even with two evaluations racing;
//! notifications addressed to user accounts in a manager's inbox; broadcasts scoped by role;
//! quiet hours deferring e-mail, with a real SMTP sink on loopback.

use std::time::Duration;

use crate::common::{TestApp, TestClient};
use moon_server::notifications::pipeline::Channels;
use serde_json::{Value, json};

on_every_backend_with!(
    pace_config,
    |c: &mut moon_server::Config| {
        // Every day is a working day, so "today" always has expected-by-today above zero; the
        // job's own loop stays out of the way and the test drives evaluations itself.
        let all: Vec<String> = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"].map(String::from).to_vec();
        c.business = moon_domain::BusinessCalendar::new("UTC", 1, Some(&all)).unwrap();
        c.notifications.pace_interval_ms = 3_600_000;
    },
    a_team_behind_pace_tells_its_branch_managers_once_and_once_when_back,
    two_evaluations_at_once_alert_once,
    pace_rules_are_validated,
);

const WAIT: Duration = Duration::from_secs(30);

fn this_month() -> String {
    chrono::Utc::now().format("%Y-%m").to_string()
}

fn today() -> String {
    chrono::Utc::now().date_naive().to_string()
}

/// One evaluation of every behind-pace rule, as the job's step does it.
async fn evaluate(app: &TestApp) -> usize {
    let wh = moon_analytics::Warehouse::open(&app.warehouse.url).await.unwrap();
    let c = &app.config;
    let channels = Channels { email: false, zone: c.business.zone };
    let n =
        moon_server::pace_alerts::evaluate(&app.store, &wh, (&c.business, &c.target_bands), channels).await.unwrap();
    wh.db.close().await;
    n
}

async fn mine(client: &TestClient, kind: &str) -> Vec<Value> {
    let (s, b) = client.get(&format!("/api/v1/notifications?mine=true&kind={kind}&limit=500")).await;
    assert_eq!(s, 200, "{b}");
    b["items"].as_array().cloned().unwrap_or_default()
}

/// Team Alpha (two Colombo agents) with a target this month, a Kandy agent in Beta, and a
/// behind-pace rule on teams at 10 %.
async fn scenario(app: &TestApp) -> i64 {
    app.agent("PC1", "Colombo", "Alpha").await;
    app.agent("PC2", "Colombo", "Alpha").await;
    app.agent("PK1", "Kandy", "Beta").await;
    let (s, b) = app
        .post(
            "/api/v1/targets",
            json!({"scope_kind": "team", "scope_key": "Alpha", "period": this_month(), "amount": "3100.00"}),
        )
        .await;
    assert!(s == 201 || s == 200, "{b}");
    let (s, rule) = app
        .post(
            "/api/v1/notifications/rules",
            json!({"name": "teams behind", "kind": "behind_pace", "level": "team", "behind_percent": 10, "period": "month"}),
        )
        .await;
    assert_eq!(s, 201, "{rule}");
    assert_eq!(rule["pace"]["behind_bp"], 1000);
    app.product("Pace life", "100.00").await
}

async fn a_team_behind_pace_tells_its_branch_managers_once_and_once_when_back(app: &TestApp) {
    let product = scenario(app).await;
    let colombo = app.client_as("manager", Some("Colombo")).await;
    let kandy = app.client_as("manager", Some("Kandy")).await;
    // Nothing sold: Alpha is 100 % behind its expected-by-today.
    assert!(evaluate(app).await >= 1);
    let alerts = mine(&colombo, "behind_pace").await;
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert!(alerts[0]["message"].as_str().unwrap().contains("Alpha"), "{alerts:?}");
    assert!(alerts[0]["agent_id"].is_null() && alerts[0]["user_id"].is_i64(), "{alerts:?}");
    assert!(mine(&kandy, "behind_pace").await.is_empty(), "Kandy manages no Alpha agent");
    // The manager's unread count includes it; an agent's inbox does not show it.
    let (_, unread) = colombo.get("/api/v1/notifications/unread_count").await;
    assert!(unread["unread"].as_i64().unwrap() >= 1, "{unread}");
    // Still behind: no second alert this period.
    evaluate(app).await;
    assert_eq!(mine(&colombo, "behind_pace").await.len(), 1);
    // The whole month's target sold today: back on pace, once.
    app.sale("PC1", product, "3100.00", &today()).await;
    app.wait_for("/api/v1/performance?scope=team&key=Alpha", WAIT, |b| {
        b["items"][0]["figures"]["actual"] == json!("3100.00")
    })
    .await;
    evaluate(app).await;
    evaluate(app).await;
    let back = mine(&colombo, "back_on_pace").await;
    assert_eq!(back.len(), 1, "{back:?}");
    assert!(back[0]["message"].as_str().unwrap().contains("back on pace"), "{back:?}");
    assert_eq!(mine(&colombo, "behind_pace").await.len(), 1);
    // The manager marks it read through the same API an agent uses.
    let id = back[0]["id"].as_i64().unwrap();
    let (s, n) = colombo.patch(&format!("/api/v1/notifications/{id}"), json!({"read": true})).await;
    assert_eq!(s, 200, "{n}");
    assert!(n["read_at"].is_string());
    // Another manager cannot see it.
    assert_eq!(kandy.get(&format!("/api/v1/notifications/{id}")).await.0, 404);
    // Audited.
    let (_, audit) = app.get("/api/v1/audit?action=notification.behind_pace").await;
    assert!(audit.to_string().contains("notification.behind_pace"), "{audit}");
}

async fn two_evaluations_at_once_alert_once(app: &TestApp) {
    scenario(app).await;
    let colombo = app.client_as("manager", Some("Colombo")).await;
    let (a, b) = tokio::join!(evaluate(app), evaluate(app));
    assert_eq!(a + b, 1, "one alert in all, from whichever evaluation came first");
    assert_eq!(mine(&colombo, "behind_pace").await.len(), 1);
}

async fn pace_rules_are_validated(app: &TestApp) {
    let (s, p) = app
        .post(
            "/api/v1/notifications/rules",
            json!({"name": "bad", "kind": "behind_pace", "level": "planet", "behind_percent": 150}),
        )
        .await;
    assert_eq!(s, 422, "{p}");
    let fields: Vec<&str> = p["errors"].as_array().unwrap().iter().filter_map(|e| e["field"].as_str()).collect();
    assert!(fields.contains(&"level") && fields.contains(&"behind_percent"), "{p}");
    let (s, p) = app.post("/api/v1/notifications/rules", json!({"name": "bad", "kind": "behind_pace"})).await;
    assert_eq!(s, 422, "{p}");
    let (s, r) = app
        .post(
            "/api/v1/notifications/rules",
            json!({"name": "agents", "kind": "behind_pace", "level": "agent", "behind_percent": "12.5", "from_working_day": 3, "notify_agent": true}),
        )
        .await;
    assert_eq!(s, 201, "{r}");
    assert_eq!(r["pace"], json!({"level": "agent", "behind_bp": 1250, "from_working_day": 3, "notify_agent": true}));
    let id = r["id"].as_i64().unwrap();
    let (s, r) = app.patch(&format!("/api/v1/notifications/rules/{id}"), json!({"behind_percent": 20})).await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["pace"]["behind_bp"], 2000);
    assert_eq!(r["pace"]["from_working_day"], 3);
}
