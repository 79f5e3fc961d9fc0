//! Notifications managers act on, on every backend: behind-pace alerts to the managers of the
//! branch (once per period, and "back on pace" once), even with two evaluations racing;
//! notifications addressed to user accounts in a manager's inbox; broadcasts scoped by role;
//! quiet hours deferring e-mail, with a real SMTP sink on loopback.

use std::time::Duration;

use crate::common::{TestApp, TestClient};
use moon_server::notifications::pipeline::Channels;
use moon_testkit::SmtpSink;
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

on_every_backend!(
    broadcasts_reach_every_active_agent_of_their_audience_within_the_callers_scope,
    the_demo_manager_is_alerted_about_what_falls_behind,
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
    evaluate_on(app, app.config.business.today(chrono::Utc::now())).await
}

/// [`evaluate`] on a given business date.
async fn evaluate_on(app: &TestApp, today: chrono::NaiveDate) -> usize {
    let wh = moon_analytics::Warehouse::open(&app.warehouse.url).await.unwrap();
    let c = &app.config;
    let channels = Channels { email: c.notifications.smtp.is_some(), zone: c.business.zone };
    let n = moon_server::pace_alerts::evaluate(&app.store, &wh, (&c.business, &c.target_bands), channels, today)
        .await
        .unwrap();
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
    // Nothing sold: Alpha is 100 % behind its expected-by-today. The server's own pace job (every
    // minute) may have told it first under a slow run, so what is checked is the inboxes below
    // (exactly one alert), not who wrote it.
    evaluate(app).await;
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

async fn broadcast_notes(app: &TestApp, agent: i64) -> Vec<Value> {
    let (s, b) = app.get(&format!("/api/v1/notifications?agent_id={agent}&kind=broadcast&limit=500")).await;
    assert_eq!(s, 200, "{b}");
    b["items"].as_array().cloned().unwrap_or_default()
}

async fn broadcasts_reach_every_active_agent_of_their_audience_within_the_callers_scope(app: &TestApp) {
    let c1 = app.agent("BC1", "Colombo", "Alpha").await;
    let c2 = app.agent("BC2", "Colombo", "Alpha").await;
    let c3 = app.agent("BC3", "Colombo", "Beta").await;
    let k1 = app.agent("BK1", "Kandy", "Alpha").await;
    let gone = app.agent("BC4", "Colombo", "Alpha").await;
    let (s, b) = app.patch(&format!("/api/v1/agents/{gone}"), json!({"active": false})).await;
    assert_eq!(s, 200, "{b}");
    // An administrator: a branch.
    let (s, b) = app.post("/api/v1/broadcasts", json!({"branch": "Colombo", "message": "Branch meeting at 4"})).await;
    assert_eq!(s, 201, "{b}");
    assert_eq!(b["delivered"], 3, "the three active Colombo agents: {b}");
    for a in [c1, c2, c3] {
        let got = broadcast_notes(app, a).await;
        assert_eq!(got.len(), 1);
        assert_eq!(got[0]["message"], "Branch meeting at 4");
    }
    assert!(broadcast_notes(app, k1).await.is_empty());
    assert!(broadcast_notes(app, gone).await.is_empty(), "inactive agents are not told");
    // A manager: a team means the team's agents of their own branch; nothing outside it.
    let manager = app.client_as("manager", Some("Colombo")).await;
    let (s, b) =
        manager.post("/api/v1/broadcasts", json!({"team": "Alpha", "message": "Alpha: push on renewals"})).await;
    assert_eq!(s, 201, "{b}");
    assert_eq!(b["delivered"], 2, "{b}");
    assert_eq!(b["audience"], "team:Alpha");
    assert!(broadcast_notes(app, k1).await.is_empty(), "Kandy's Alpha agent is not the Colombo manager's");
    for body in [
        json!({"branch": "Kandy", "message": "x"}),
        json!({"region": "West", "message": "x"}),
        json!({"everyone": true, "message": "x"}),
    ] {
        let (s, p) = manager.post("/api/v1/broadcasts", body.clone()).await;
        assert_eq!(s, 403, "{body}: {p}");
    }
    // Agents cannot broadcast at all.
    let agent = app.client_as("agent", Some("BC1")).await;
    assert_eq!(agent.post("/api/v1/broadcasts", json!({"branch": "Colombo", "message": "x"})).await.0, 403);
    // A region: the branches placed in it.
    let (_, list) = app.get("/api/v1/org/branches?limit=500").await;
    let kandy =
        list["items"].as_array().unwrap().iter().find(|u| u["code"] == "Kandy").unwrap()["id"].as_i64().unwrap();
    let (s, b) = app.patch(&format!("/api/v1/org/branches/{kandy}"), json!({"region": "West"})).await;
    assert_eq!(s, 200, "{b}");
    let (s, b) = app.post("/api/v1/broadcasts", json!({"region": "West", "message": "West region update"})).await;
    assert_eq!((s, b["delivered"].clone()), (201, json!(1)), "{b}");
    let (s, b) = app.post("/api/v1/broadcasts", json!({"everyone": true, "message": "Company news"})).await;
    assert_eq!((s, b["delivered"].clone()), (201, json!(4)), "{b}");
    // Bad requests write nothing.
    let before: usize = broadcast_notes(app, c1).await.len();
    for (body, field) in [
        (json!({"message": "no audience"}), "audience"),
        (json!({"branch": "Colombo", "team": "Alpha", "message": "two"}), "audience"),
        (json!({"branch": "Colombo"}), "message"),
        (json!({"branch": "Atlantis", "message": "x"}), "branch"),
        (json!({"team": "Gamma", "message": "nobody there"}), "audience"),
    ] {
        let (s, p) = app.post("/api/v1/broadcasts", body.clone()).await;
        assert_eq!(s, 422, "{body}: {p}");
        assert!(p["errors"].to_string().contains(field), "{body}: {p}");
    }
    assert_eq!(broadcast_notes(app, c1).await.len(), before);
    let (_, audit) = app.get("/api/v1/audit?action=notification.broadcast").await;
    assert!(audit.to_string().contains("team:Alpha"), "{audit}");
}

// ---- quiet hours and e-mail to managers ----------------------------------------------------------

async fn quiet_hours_defer_a_managers_email_and_others_get_it_at_once(backend: moon_db::Backend) {
    let sink = SmtpSink::start().await;
    let port = sink.port();
    let Some(app) = TestApp::spawn_with(backend, move |c| {
        c.notifications.smtp = Some(crate::common::loopback_smtp(port));
        c.notifications.delivery_interval_ms = 50;
        let all: Vec<String> = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"].map(String::from).to_vec();
        c.business = moon_domain::BusinessCalendar::new("Asia/Colombo", 1, Some(&all)).unwrap();
        c.notifications.pace_interval_ms = 3_600_000;
    })
    .await
    else {
        return;
    };
    scenario(&app).await;
    // Two Colombo managers with addresses; the first is in quiet hours now (Colombo time).
    let sleepy = app.client_as("manager", Some("Colombo")).await;
    let awake = app.client_as("manager", Some("Colombo")).await;
    let zone: chrono_tz::Tz = "Asia/Colombo".parse().unwrap();
    let now = chrono::Utc::now().with_timezone(&zone);
    let from = (now - chrono::Duration::hours(1)).format("%H:%M").to_string();
    let to = (now + chrono::Duration::hours(2)).format("%H:%M").to_string();
    for (client, address, quiet) in
        [(&sleepy, "sleepy@moon.test", json!({"from": from, "to": to})), (&awake, "awake@moon.test", Value::Null)]
    {
        let (s, p) =
            client.put("/api/v1/notifications/preferences", json!({"email": true, "quiet_hours": quiet})).await;
        assert_eq!(s, 200, "{p}");
        assert!(p["agent_id"].is_null(), "a manager's own preferences: {p}");
        let user = p["user_id"].as_i64().unwrap();
        let (s, u) = app.patch(&format!("/api/v1/users/{user}"), json!({"email": address})).await;
        assert_eq!(s, 200, "{u}");
        assert_eq!(u["email"], address);
    }
    let (_, p) = sleepy.get("/api/v1/notifications/preferences").await;
    assert_eq!(p["quiet_hours"], json!({"from": from, "to": to}), "{p}");
    let (s, p) =
        sleepy.put("/api/v1/notifications/preferences", json!({"quiet_hours": {"from": "25:00", "to": "x"}})).await;
    assert_eq!(s, 422, "{p}");
    assert_eq!(evaluate(&app).await, 2, "one alert per Colombo manager");
    let mail = sink.wait_for(1, WAIT).await.remove(0);
    assert_eq!(mail.to, ["awake@moon.test"], "{mail:?}");
    assert!(mail.text().contains("behind pace"), "{mail:?}");
    // The other waits until the end of their quiet hours, in the business time zone.
    // (The one sent is marked succeeded right after the sink has it.)
    let d = app
        .wait_for("/api/v1/notifications/deliveries?channel=email&status=pending", WAIT, |d| {
            d["items"].as_array().is_some_and(|i| i.len() == 1)
        })
        .await;
    let pending = d["items"].as_array().unwrap();
    let due = chrono::DateTime::parse_from_rfc3339(pending[0]["next_attempt_at"].as_str().unwrap()).unwrap();
    let due = due.with_timezone(&zone);
    assert_eq!(due.format("%H:%M").to_string(), to, "{d}");
    assert!(due > now && due <= now + chrono::Duration::hours(2), "{due} after {now}");
    assert_eq!(sink.messages().len(), 1, "nothing sent during quiet hours");
    app.stop().await;
}

mod quiet_email {
    macro_rules! quiet_on {
        ($($name:ident => $backend:ident),*) => {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                super::quiet_hours_defer_a_managers_email_and_others_get_it_at_once(moon_db::Backend::$backend).await;
            })*
        };
    }
    quiet_on!(sqlite => Sqlite, postgres => Postgres, mysql => MySql);
}

async fn the_demo_manager_is_alerted_about_what_falls_behind(app: &TestApp) {
    // A fixed business date: the demo's sales are a function of the date, so the figures (and
    // who is behind) are the same on every run.
    let today = chrono::NaiveDate::from_ymd_opt(2026, 11, 20).unwrap();
    moon_server::demo::load(&app.store, today).await.unwrap();
    moon_server::demo::planning(&app.store, &app.config.business, today).await.unwrap();
    moon_server::demo::users(&app.store).await.unwrap();
    // The warehouse has every demo sale before the figures are read.
    let (sales,): (i64,) = {
        use moon_db::sea_query::{Expr, Func, Query};
        let mut q = Query::select();
        q.expr(Func::count(Expr::col("id"))).from("sales");
        app.store.fetch_optional(&q).await.unwrap().unwrap()
    };
    app.wait_for("/api/v1/kpis/branches", Duration::from_secs(120), |b| {
        b["items"].as_array().unwrap().iter().map(|r| r["sales_count"].as_i64().unwrap()).sum::<i64>() == sales
    })
    .await;
    let written = evaluate_on(app, today).await;
    let states: Vec<(String, String)> = {
        use moon_db::sea_query::Query;
        let mut q = Query::select();
        q.columns(["subject", "state"]).from("notification_pace_state");
        app.store.fetch_all(&q).await.unwrap()
    };
    assert!(written >= 1, "pace states: {states:?}");
    let manager = moon_server::auth::users::account_by_name(&app.store, "demo-manager").await.unwrap().unwrap();
    let (s, b) = app.get("/api/v1/notifications?kind=behind_pace&limit=500").await;
    assert_eq!(s, 200, "{b}");
    let theirs: Vec<&Value> =
        b["items"].as_array().unwrap().iter().filter(|n| n["user_id"].as_i64() == Some(manager.id)).collect();
    assert!(!theirs.is_empty(), "the demo manager has a behind-pace alert: {b}");
    // Loading the demo again adds no second pair of rules.
    moon_server::demo::load(&app.store, today).await.unwrap();
    let (_, rules) = app.get("/api/v1/notifications/rules").await;
    let pace = rules.as_array().map_or(0, |r| r.iter().filter(|r| r["kind"] == "behind_pace").count());
    assert_eq!(pace, 2, "{rules}");
}
