//! Notification rules and delivery, on every backend: milestones and targets fire once at the
//! right moment (across edits back and forth, replicas, restarts and parallel runners), reminders
//! follow their schedule once, webhooks are signed, retried, parked and redelivered against a
//! real receiver on loopback, the live stream is fast, and e-mail reaches a real SMTP sink
//! (the test kit's, on loopback).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::common::TestApp;
use hmac::{Hmac, KeyInit, Mac};
use moon_db::sea_query::{Expr, ExprTrait, Query};
use moon_server::notifications::pipeline::Channels;
use moon_server::notifications::runner::{CONSUMER, RuleRunner};
use moon_testkit::SmtpSink;
use serde_json::{Value, json};
use sha2::Sha256;

on_every_backend!(
    a_milestone_is_told_once_even_when_a_sale_goes_back_and_forth,
    milestones_are_exact_across_replicas_restarts_and_parallel_runners,
    a_product_target_reached_tells_the_agents_who_sold_it_once,
    target_reminders_follow_the_schedule_once_with_what_remains,
    the_stream_delivers_a_milestone_to_its_agent_within_a_second,
    rules_and_preferences_are_validated_and_audited,
);

on_every_backend_with!(
    fast_retries,
    |c: &mut moon_server::Config| {
        c.notifications.backoff_ms = 50;
        c.notifications.backoff_max_ms = 200;
        c.notifications.delivery_interval_ms = 50;
        c.notifications.max_attempts = 4;
    },
    webhooks_are_signed_retried_after_500_and_stop_after_2xx,
    webhooks_park_dead_letters_and_redeliver_them,
    webhooks_continue_the_trace_of_the_request_that_caused_them,
);

fn today() -> String {
    chrono::Utc::now().date_naive().to_string()
}

/// Waits until the rule runner has applied the whole change log.
async fn caught_up(app: &TestApp) {
    let started = Instant::now();
    loop {
        let last = moon_changelog::last_id(&app.store).await.unwrap();
        let mut q = Query::select();
        q.column("applied_id").from("change_cursors").and_where(Expr::col("consumer").eq(CONSUMER));
        let applied = app.store.fetch_optional::<(i64,)>(&q).await.unwrap().map(|(n,)| n);
        if applied == Some(last) {
            return;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "rule runner stuck at {applied:?}, log at {last}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Notifications of `kind` to the agent (id), oldest first.
async fn notes(app: &TestApp, agent: i64, kind: &str) -> Vec<Value> {
    let (s, b) = app.get(&format!("/api/v1/notifications?agent_id={agent}&kind={kind}&limit=500")).await;
    assert_eq!(s, 200, "{b}");
    b["items"].as_array().cloned().unwrap_or_default()
}

async fn wait_for_notes(app: &TestApp, agent: i64, kind: &str, n: usize) -> Vec<Value> {
    let started = Instant::now();
    loop {
        let got = notes(app, agent, kind).await;
        if got.len() >= n {
            return got;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "expected {n} {kind} notifications, have {got:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn set_amount(app: &TestApp, sale: i64, amount: &str) {
    let (s, b) = app.patch(&format!("/api/v1/sales/{sale}"), json!({"amount": amount})).await;
    assert_eq!(s, 200, "{b}");
}

async fn a_milestone_is_told_once_even_when_a_sale_goes_back_and_forth(app: &TestApp) {
    // The runner seeds at the end of the log when it starts: begin once it has.
    caught_up(app).await;
    let agent = app.agent("AGT001", "Colombo", "Alpha").await;
    let product = app.product("Life Basic", "9000000").await;
    app.sale("AGT001", product, "30000.00", &today()).await;
    let sale = app.sale("AGT001", product, "10000.00", &today()).await;
    caught_up(app).await;
    assert!(notes(app, agent, "milestone").await.is_empty(), "40,000 crosses no milestone");
    set_amount(app, sale, "25000.00").await; // 55,000: crosses 50,000
    let first = wait_for_notes(app, agent, "milestone", 1).await;
    assert_eq!(
        first[0]["message"],
        format!("Test has reached 50000.00 sales milestone for {}!", chrono::Utc::now().format("%B %Y"))
    );
    for amount in ["5000.00", "26000.00", "1000.00", "29000.00"] {
        set_amount(app, sale, amount).await;
    }
    caught_up(app).await;
    assert_eq!(notes(app, agent, "milestone").await.len(), 1, "back and forth across 50,000 tells once");
    // A sale dated last year counts in that year's period, not this month's.
    let old = chrono::Utc::now().date_naive() - chrono::Duration::days(400);
    app.sale("AGT001", product, "60000.00", &old.to_string()).await;
    caught_up(app).await;
    let all = notes(app, agent, "milestone").await;
    assert_eq!(all.len(), 2, "the old month's own 50,000 milestone: {all:?}");
    // One sale past several thresholds tells the highest only.
    let older = old - chrono::Duration::days(100);
    app.sale("AGT001", product, "160000.00", &older.to_string()).await;
    caught_up(app).await;
    let all = notes(app, agent, "milestone").await;
    assert_eq!(all.len(), 3, "{all:?}");
    assert!(all[2]["message"].as_str().unwrap().starts_with("Test has reached 150000.00 sales milestone"), "{all:?}");
    // The inbox counts them; mark all read empties it.
    let own = app.client_as("agent", Some("AGT001")).await;
    let (s, b) = own.get("/api/v1/notifications/unread_count").await;
    assert_eq!((s, b["unread"].as_i64()), (200, Some(3)), "{b}");
    let (s, b) = own.post("/api/v1/notifications/read_all", json!({})).await;
    assert_eq!((s, b["marked"].as_i64()), (200, Some(3)), "{b}");
    assert_eq!(own.get("/api/v1/notifications/unread_count").await.1["unread"], 0);
}

async fn milestones_are_exact_across_replicas_restarts_and_parallel_runners(app: &TestApp) {
    // The runner seeds at the end of the log when it starts: begin once it has.
    caught_up(app).await;
    let product = app.product("Vehicle Plus", "90000000").await;
    let mut agents = Vec::new();
    for code in ["AGT011", "AGT012", "AGT013"] {
        agents.push((code, app.agent(code, "Kandy", "Beta").await));
    }
    // A second replica with its own rule runner, and two more runners stepping as fast as they can.
    let mut replica = Some(moon_server::start(app.config.clone()).await.unwrap());
    let stop = Arc::new(AtomicBool::new(false));
    let mut runners = Vec::new();
    for _ in 0..2 {
        let (db, stop) = (app.store.clone(), stop.clone());
        runners.push(tokio::spawn(async move {
            let runner = RuleRunner::new(db, Channels::default()).with_batch_size(3);
            while !stop.load(Ordering::SeqCst) {
                runner.step().await.unwrap();
            }
        }));
    }
    // 8 × 20,000 = 160,000 each: 50,000, 100,000 and 150,000 crossed once per agent.
    for round in 0..8 {
        for (code, _) in &agents {
            app.sale(code, product, "20000.00", &today()).await;
        }
        if round == 3 {
            // A restart in between: the replica stops mid-stream and comes back.
            replica.take().unwrap().shutdown().await.unwrap();
            replica = Some(moon_server::start(app.config.clone()).await.unwrap());
        }
    }
    caught_up(app).await;
    stop.store(true, Ordering::SeqCst);
    for r in runners {
        r.await.unwrap();
    }
    replica.take().unwrap().shutdown().await.unwrap();
    // A runner of a freshly started process finds nothing left to do.
    let fresh = RuleRunner::new(app.store.clone(), Channels::default());
    assert!(matches!(fresh.step().await.unwrap(), moon_server::notifications::runner::Step::Idle { .. }));
    for (code, id) in &agents {
        let got = notes(app, *id, "milestone").await;
        let amounts: Vec<String> = got
            .iter()
            .map(|n| n["message"].as_str().unwrap().split(' ').nth(3).unwrap_or_default().to_owned())
            .collect();
        assert_eq!(amounts, ["50000.00", "100000.00", "150000.00"], "{code}: {got:?}");
    }
}

async fn a_product_target_reached_tells_the_agents_who_sold_it_once(app: &TestApp) {
    // The runner seeds at the end of the log when it starts: begin once it has.
    caught_up(app).await;
    let a = app.agent("AGT021", "Galle", "Gamma").await;
    let b = app.agent("AGT022", "Galle", "Gamma").await;
    let bystander = app.agent("AGT023", "Galle", "Gamma").await;
    let product = app.product("Health Family", "1000.00").await;
    app.sale("AGT021", product, "600.00", &today()).await;
    caught_up(app).await;
    assert!(notes(app, a, "target_achieved").await.is_empty());
    let last = app.sale("AGT022", product, "500.00", &today()).await;
    let got = wait_for_notes(app, a, "target_achieved", 1).await;
    assert!(got[0]["message"].as_str().unwrap().starts_with("Health Family target of 1000.00 achieved"), "{got:?}");
    wait_for_notes(app, b, "target_achieved", 1).await;
    set_amount(app, last, "100.00").await;
    set_amount(app, last, "900.00").await;
    caught_up(app).await;
    assert_eq!(notes(app, a, "target_achieved").await.len(), 1);
    assert_eq!(notes(app, b, "target_achieved").await.len(), 1);
    assert!(notes(app, bystander, "target_achieved").await.is_empty(), "only those who sold it");
}

async fn rule_id(app: &TestApp, name: &str) -> i64 {
    let (_, rules) = app.get("/api/v1/notifications/rules").await;
    rules.as_array().unwrap().iter().find(|r| r["name"] == name).unwrap()["id"].as_i64().unwrap()
}

async fn target_reminders_follow_the_schedule_once_with_what_remains(app: &TestApp) {
    // The runner seeds at the end of the log when it starts: begin once it has.
    caught_up(app).await;
    // Only the rule this test makes.
    let default = rule_id(app, "weekly-target-reminder").await;
    assert_eq!(app.patch(&format!("/api/v1/notifications/rules/{default}"), json!({"enabled": false})).await.0, 200);
    let agents = [app.agent("AGT031", "Matara", "Delta").await, app.agent("AGT032", "Matara", "Delta").await];
    let behind = app.product("Life Gold", "5000.00").await;
    let met = app.product("Life Silver", "100.00").await;
    app.sale("AGT031", behind, "1500.00", &today()).await;
    app.sale("AGT031", met, "100.00", &today()).await;
    let (s, rule) = app
        .post(
            "/api/v1/notifications/rules",
            json!({"name": "daily-reminder", "kind": "target_due", "schedule": "0 9 * * *", "timezone": "Asia/Colombo"}),
        )
        .await;
    assert_eq!(s, 201, "{rule}");
    // Not before the next 09:00 in Colombo…
    let now = chrono::Utc::now();
    let fire = |at: chrono::DateTime<chrono::Utc>| {
        let db = app.store.clone();
        async move { moon_server::notifications::schedule::fire_due(&db, Channels::default(), at).await.unwrap() }
    };
    let early = fire(now).await;
    assert_eq!(early, 0, "a new rule does not fire for occurrences already past");
    // …and a day later, once, however many replicas look at the same moment.
    let later = now + chrono::Duration::days(1) + chrono::Duration::minutes(1);
    let (x, y) = tokio::join!(fire(later), fire(later));
    assert_eq!(x + y, 2, "one reminder per active agent for the one product behind its target");
    assert_eq!(fire(later).await, 0);
    for agent in agents {
        let got = notes(app, agent, "target_due").await;
        assert_eq!(got.len(), 1, "{got:?}");
        let text = got[0]["message"].as_str().unwrap();
        assert!(
            text.starts_with("Reminder: Life Gold sales target for") && text.contains("3500.00 remaining"),
            "{text}"
        );
    }
}

async fn the_stream_delivers_a_milestone_to_its_agent_within_a_second(app: &TestApp) {
    // The runner seeds at the end of the log when it starts: begin once it has.
    caught_up(app).await;
    app.agent("AGT041", "Colombo", "Alpha").await;
    app.agent("AGT042", "Colombo", "Alpha").await;
    let product = app.product("Life Stream", "9000000").await;
    app.sale("AGT041", product, "49000.00", &today()).await;
    caught_up(app).await;
    let own = app.client_as("agent", Some("AGT041")).await;
    let other = app.client_as("agent", Some("AGT042")).await;
    let mut mine = own.request(reqwest::Method::GET, "/api/v1/notifications/stream").send().await.unwrap();
    let mut theirs = other.request(reqwest::Method::GET, "/api/v1/notifications/stream").send().await.unwrap();
    assert_eq!(mine.status(), 200);
    assert_eq!(mine.headers()["content-type"], "text/event-stream");
    let started = Instant::now();
    app.sale("AGT041", product, "2000.00", &today()).await;
    let mut text = String::new();
    let event = loop {
        let chunk = tokio::time::timeout(Duration::from_secs(5), mine.chunk()).await.expect("an event in time");
        text.push_str(&String::from_utf8_lossy(&chunk.unwrap().unwrap()));
        if let Some(line) = text.lines().find(|l| l.starts_with("data: ")) {
            break serde_json::from_str::<Value>(&line["data: ".len()..]).unwrap();
        }
    };
    let took = started.elapsed();
    assert!(text.contains("event: notification"), "{text}");
    assert_eq!((event["kind"].as_str(), event["agent_code"].as_str()), (Some("milestone"), Some("AGT041")));
    assert!(took < Duration::from_secs(1), "sale to stream took {took:?}");
    // A console that reconnects with Last-Event-ID gets what it missed, and only its own.
    drop(mine);
    app.post("/api/v1/notifications", json!({"agent_code": "AGT042", "message": "not yours"})).await;
    app.post("/api/v1/notifications", json!({"agent_code": "AGT041", "message": "while you were away"})).await;
    // Another agent's stream carries nothing of the milestone (keep-alives only). The hub sends
    // every stream the same sequence, in order, so once their own later notification has arrived,
    // a leaked milestone would have arrived before it.
    let mut seen = String::new();
    while !seen.contains("not yours") {
        let chunk = tokio::time::timeout(Duration::from_secs(5), theirs.chunk()).await.expect("their own event");
        seen.push_str(&String::from_utf8_lossy(&chunk.unwrap().unwrap()));
    }
    assert!(!seen.contains("AGT041"), "leaked to another agent: {seen}");
    let mut again = own
        .request(reqwest::Method::GET, "/api/v1/notifications/stream")
        .header("last-event-id", event["id"].to_string())
        .send()
        .await
        .unwrap();
    let mut text = String::new();
    while !text.contains("\n\n") {
        let chunk = tokio::time::timeout(Duration::from_secs(5), again.chunk()).await.expect("a replayed event");
        text.push_str(&String::from_utf8_lossy(&chunk.unwrap().unwrap()));
    }
    assert!(text.contains("while you were away") && !text.contains("not yours"), "{text}");
}

async fn rules_and_preferences_are_validated_and_audited(app: &TestApp) {
    let (s, b) = app
        .post(
            "/api/v1/notifications/rules",
            json!({"name": "x", "kind": "milestone", "template": "{agent_name} {nope}", "thresholds": ["-5"]}),
        )
        .await;
    assert_eq!(s, 422, "{b}");
    let fields: Vec<&str> = b["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert!(fields.contains(&"template") && fields.contains(&"thresholds[0]"), "{b}");
    let (s, b) = app
        .post(
            "/api/v1/notifications/rules",
            json!({"name": "monthly-milestones", "kind": "milestone", "every": "1000"}),
        )
        .await;
    assert_eq!((s, b["code"].as_str()), (409, Some("duplicate_rule_name")), "{b}");
    let (s, r) = app
        .post(
            "/api/v1/notifications/rules",
            json!({"name": "every-10k", "kind": "milestone", "every": "10000", "period": "year"}),
        )
        .await;
    assert_eq!(s, 201, "{r}");
    let id = r["id"].as_i64().unwrap();
    let (s, b) = app.patch(&format!("/api/v1/notifications/rules/{id}"), json!({"kind": "target_due"})).await;
    assert_eq!((s, b["errors"][0]["code"].as_str()), (422, Some("immutable")), "{b}");
    let (s, b) = app.patch(&format!("/api/v1/notifications/rules/{id}"), json!({"enabled": false})).await;
    assert_eq!((s, b["enabled"].as_bool()), (200, Some(false)), "{b}");
    assert_eq!(app.delete(&format!("/api/v1/notifications/rules/{id}")).await.0, 204);
    let (_, audit) = app.get("/api/v1/audit?entity=notification_rule").await;
    let actions: Vec<&str> = audit["items"].as_array().unwrap().iter().filter_map(|e| e["action"].as_str()).collect();
    for a in ["notification_rule.create", "notification_rule.update", "notification_rule.delete"] {
        assert!(actions.contains(&a), "{a} missing from {actions:?}");
    }
    // Preferences: an agent for themself; defaults stream on, e-mail off.
    let agent = app.agent("AGT051", "Colombo", "Alpha").await;
    app.agent("AGT052", "Kandy", "Beta").await;
    let own = app.client_as("agent", Some("AGT051")).await;
    let (s, p) = own.get("/api/v1/notifications/preferences").await;
    assert_eq!((s, p), (200, json!({"agent_id": agent, "stream": true, "email": false, "quiet_hours": null})));
    let (s, p) = own.put("/api/v1/notifications/preferences", json!({"email": true})).await;
    assert_eq!((s, p["email"].as_bool(), p["stream"].as_bool()), (200, Some(true), Some(true)));
    let (s, _) = own.put("/api/v1/notifications/preferences", json!({"email": "yes"})).await;
    assert_eq!(s, 422);
    let other = app.get("/api/v1/agents?agent_code=AGT052").await.1["items"][0]["id"].as_i64().unwrap();
    let (s, _) = own.get(&format!("/api/v1/notifications/preferences?agent_id={other}")).await;
    assert_eq!(s, 404, "another agent's preferences look absent");
    let manager = app.client_as("manager", Some("Kandy")).await;
    assert_eq!(manager.get(&format!("/api/v1/notifications/preferences?agent_id={agent}")).await.0, 404);
    assert_eq!(manager.get(&format!("/api/v1/notifications/preferences?agent_id={other}")).await.0, 200);
}

// ---- webhooks ----------------------------------------------------------------------------------

/// One call the receiver saw.
#[derive(Debug, Clone)]
struct Call {
    delivery: String,
    signed: bool,
    body: Value,
    traceparent: Option<String>,
}

/// A real HTTP receiver on loopback: verifies signatures as the docs tell receivers to, answers
/// 500 while `failing` says so (or for the first `fail_first` calls), 204 otherwise.
#[derive(Clone, Default)]
struct Receiver {
    calls: Arc<std::sync::Mutex<Vec<Call>>>,
    fail_first: Arc<AtomicUsize>,
    failing: Arc<AtomicBool>,
    secret: Arc<String>,
}

impl Receiver {
    async fn start(secret: &str) -> (String, Receiver) {
        let r = Receiver { secret: Arc::new(secret.to_owned()), ..Receiver::default() };
        let router = axum::Router::new().route("/hook", axum::routing::post(receive)).with_state(r.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await });
        (url, r)
    }

    fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }

    async fn wait_calls(&self, n: usize) -> Vec<Call> {
        let started = Instant::now();
        loop {
            let c = self.calls();
            if c.len() >= n {
                return c;
            }
            assert!(started.elapsed() < Duration::from_secs(20), "expected {n} calls, got {c:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// What a receiver does: recompute HMAC-SHA256 over "<t>.<body>" and compare, and refuse stale
/// timestamps.
fn verify(secret: &str, header: &str, body: &[u8]) -> bool {
    let mut t = None;
    let mut v1 = None;
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", x)) => t = x.parse::<i64>().ok(),
            Some(("v1", x)) => v1 = Some(x.to_owned()),
            _ => {}
        }
    }
    let (Some(t), Some(v1)) = (t, v1) else { return false };
    if (chrono::Utc::now().timestamp() - t).abs() > 300 {
        return false;
    }
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    let Ok(given) = hex::decode(v1) else { return false };
    mac.verify_slice(&given).is_ok()
}

async fn receive(
    axum::extract::State(r): axum::extract::State<Receiver>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> axum::http::StatusCode {
    let header = headers.get("moon-signature").and_then(|v| v.to_str().ok()).unwrap_or_default();
    let call = Call {
        delivery: headers.get("moon-delivery").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned(),
        signed: verify(&r.secret, header, &body),
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        traceparent: headers.get("traceparent").and_then(|v| v.to_str().ok()).map(str::to_owned),
    };
    r.calls.lock().unwrap().push(call);
    let first = r.fail_first.load(Ordering::SeqCst);
    if first > 0 {
        r.fail_first.store(first - 1, Ordering::SeqCst);
        return axum::http::StatusCode::INTERNAL_SERVER_ERROR;
    }
    if r.failing.load(Ordering::SeqCst) {
        axum::http::StatusCode::INTERNAL_SERVER_ERROR
    } else {
        axum::http::StatusCode::NO_CONTENT
    }
}

const SECRET: &str = "whsec_0123456789abcdef";

async fn subscribe(app: &TestApp, url: &str, events: Value) -> i64 {
    let (s, b) =
        app.post("/api/v1/notifications/webhooks", json!({"url": url, "events": events, "secret": SECRET})).await;
    assert_eq!(s, 201, "{b}");
    assert!(b["secret"].is_null(), "a secret the client chose is never echoed: {b}");
    assert!(!b.to_string().contains(SECRET));
    b["id"].as_i64().unwrap()
}

async fn deliveries(app: &TestApp, sub: i64) -> Vec<Value> {
    let (s, b) = app.get(&format!("/api/v1/notifications/deliveries?subscription_id={sub}")).await;
    assert_eq!(s, 200, "{b}");
    b["items"].as_array().cloned().unwrap()
}

async fn wait_delivery(app: &TestApp, sub: i64, status: &str) -> Value {
    let started = Instant::now();
    loop {
        let d = deliveries(app, sub).await;
        if let Some(x) = d.iter().find(|d| d["status"] == status) {
            return x.clone();
        }
        assert!(started.elapsed() < Duration::from_secs(20), "no {status} delivery: {d:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until no delivery matching `filter` (query parameters of the delivery log) is pending:
/// each has reached a terminal state (succeeded or dead), so none is being sent or due to be.
/// With the rule runner caught up (no notification, hence no delivery, still to come), whatever a
/// receiver has seen by then is all it will see.
async fn settled(app: &TestApp, filter: &str) {
    let started = Instant::now();
    loop {
        let (s, b) = app.get(&format!("/api/v1/notifications/deliveries?status=pending&{filter}")).await;
        assert_eq!(s, 200, "{b}");
        if b["items"].as_array().is_some_and(Vec::is_empty) {
            return;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "deliveries still pending: {b}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn webhooks_are_signed_retried_after_500_and_stop_after_2xx(app: &TestApp) {
    // The runner seeds at the end of the log when it starts: begin once it has.
    caught_up(app).await;
    let (url, receiver) = Receiver::start(SECRET).await;
    let sub = subscribe(app, &url, json!(["notification.milestone"])).await;
    receiver.fail_first.store(2, Ordering::SeqCst);
    let agent = app.agent("AGT061", "Colombo", "Alpha").await;
    let product = app.product("Life Hook", "9000000").await;
    // A manual message is not an event this subscription takes.
    app.post("/api/v1/notifications", json!({"agent_id": agent, "message": "hello"})).await;
    app.sale("AGT061", product, "51000.00", &today()).await;
    let calls = receiver.wait_calls(3).await;
    assert!(calls.iter().all(|c| c.signed), "every call is signed: {calls:?}");
    assert!(calls.iter().all(|c| c.delivery == calls[0].delivery), "retries are the same delivery");
    assert_eq!(calls[0].body["event"], "notification.milestone");
    assert_eq!(calls[0].body["data"]["agent_code"], "AGT061");
    let done = wait_delivery(app, sub, "succeeded").await;
    assert_eq!((done["attempts"].as_i64(), done["last_status"].as_i64()), (Some(3), Some(204)), "{done}");
    caught_up(app).await;
    settled(app, &format!("subscription_id={sub}")).await;
    assert_eq!(receiver.calls().len(), 3, "no calls after a 2xx");
    let (_, metrics) = app.get("/metrics").await;
    let text = metrics.as_str().unwrap_or_default().to_owned();
    assert!(text.contains("channel=\"webhook\",outcome=\"failed\""), "{text}");
    assert!(text.contains("channel=\"webhook\",outcome=\"delivered\""), "{text}");
    // A wrong secret would not verify.
    assert!(!verify("whsec_wrong_wrong_wrong", "t=1,v1=00", b"{}"));
}

async fn webhooks_park_dead_letters_and_redeliver_them(app: &TestApp) {
    // The runner seeds at the end of the log when it starts: begin once it has.
    caught_up(app).await;
    let (url, receiver) = Receiver::start(SECRET).await;
    let sub = subscribe(app, &url, json!(["*"])).await;
    receiver.failing.store(true, Ordering::SeqCst);
    let agent = app.agent("AGT071", "Colombo", "Alpha").await;
    app.post("/api/v1/notifications", json!({"agent_id": agent, "message": "Target due this week."})).await;
    let dead = wait_delivery(app, sub, "dead").await;
    assert_eq!(dead["attempts"].as_i64(), Some(4), "{dead}");
    assert_eq!(dead["last_error"], "receiver answered 500");
    caught_up(app).await;
    settled(app, &format!("subscription_id={sub}")).await;
    assert_eq!(receiver.calls().len(), 4, "nothing after the limit");
    let (_, listed) = app.get("/api/v1/notifications/deliveries?status=dead").await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
    // The receiver recovers; an admin redelivers.
    receiver.failing.store(false, Ordering::SeqCst);
    let (s, b) = app.post(&format!("/api/v1/notifications/deliveries/{}/redeliver", dead["id"]), json!({})).await;
    assert_eq!((s, b["status"].as_str()), (200, Some("pending")), "{b}");
    let calls = receiver.wait_calls(5).await;
    assert!(calls[4].signed);
    assert_eq!(calls[4].body["data"]["message"], "Target due this week.");
    wait_delivery(app, sub, "succeeded").await;
    let (s, _) = app.post("/api/v1/notifications/deliveries/999999/redeliver", json!({})).await;
    assert_eq!(s, 404);
}

/// A sale posted with a W3C `traceparent` crosses a milestone; the rule runner (a background job,
/// long after the request) writes the notification and the outbox sends it: the webhook still
/// carries the client's trace. So does a manual notification's; an untraced one carries none.
/// No tracing backend runs in this process, so the header is continued verbatim (the receiver
/// becomes a child of the client's span); with the `otel` build, moon's own span sits between.
async fn webhooks_continue_the_trace_of_the_request_that_caused_them(app: &TestApp) {
    caught_up(app).await;
    let (url, receiver) = Receiver::start(SECRET).await;
    subscribe(app, &url, json!(["*"])).await;
    let agent = app.agent("AGT081", "Colombo", "Alpha").await;
    let product = app.product("Life Traced", "9000000").await;
    let sale_trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let sale_parent = format!("00-{sale_trace}-00f067aa0ba902b7-01");
    let body = json!({"agent_code": "AGT081", "product_id": product, "amount": "51000.00", "sale_date": today()});
    let (s, b) = app.admin().with_header("traceparent", &sale_parent).post("/api/v1/sales", body).await;
    assert_eq!(s, 201, "{b}");
    let manual_parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00";
    let (s, b) = app
        .admin()
        .with_header("traceparent", manual_parent)
        .post("/api/v1/notifications", json!({"agent_id": agent, "message": "traced"}))
        .await;
    assert_eq!(s, 201, "{b}");
    // A malformed header is not carried anywhere.
    let (s, b) = app
        .admin()
        .with_header("traceparent", "00-not-a-trace-01")
        .post("/api/v1/notifications", json!({"agent_id": agent, "message": "untraced"}))
        .await;
    assert_eq!(s, 201, "{b}");
    let calls = receiver.wait_calls(3).await;
    let find = |pick: &dyn Fn(&Call) -> bool| calls.iter().find(|c| pick(c)).cloned().expect("the call");
    let milestone = find(&|c| c.body["event"] == "notification.milestone");
    let traceparent = milestone.traceparent.expect("the milestone's webhook carries a traceparent");
    let fields: Vec<&str> = traceparent.split('-').collect();
    assert_eq!(fields.len(), 4, "{traceparent}");
    assert_eq!(fields[1], sale_trace, "the trace id the client sent on POST /api/v1/sales");
    assert_eq!(traceparent, sale_parent, "continued verbatim without a tracing backend");
    let manual = find(&|c| c.body["data"]["message"] == "traced");
    assert_eq!(manual.traceparent.as_deref(), Some(manual_parent));
    let untraced = find(&|c| c.body["data"]["message"] == "untraced");
    assert_eq!(untraced.traceparent, None);
    assert!(calls.iter().all(|c| c.signed), "{calls:?}");
}

// ---- e-mail --------------------------------------------------------------------------------------

async fn email_reaches_the_agents_who_chose_it(backend: moon_db::Backend) {
    let sink = SmtpSink::start().await;
    let port = sink.port();
    let Some(app) = TestApp::spawn_with(backend, move |c| {
        c.notifications.smtp = Some(crate::common::loopback_smtp(port));
        c.notifications.delivery_interval_ms = 50;
    })
    .await
    else {
        return;
    };
    caught_up(&app).await;
    let keen = app.agent("AGT081", "Colombo", "Alpha").await;
    let quiet = app.agent("AGT082", "Colombo", "Alpha").await;
    for (id, address) in [(keen, "nimal@moon.test"), (quiet, "ruwan@moon.test")] {
        let (s, b) = app.patch(&format!("/api/v1/agents/{id}"), json!({"email": address})).await;
        assert_eq!(s, 200, "{b}");
    }
    let (s, b) = app.put(&format!("/api/v1/notifications/preferences?agent_id={keen}"), json!({"email": true})).await;
    assert_eq!(s, 200, "{b}");
    app.post("/api/v1/notifications", json!({"agent_id": keen, "message": "Nimal has reached 150k sales milestone!"}))
        .await;
    app.post("/api/v1/notifications", json!({"agent_id": quiet, "message": "Not by e-mail"})).await;
    let mail = sink.wait_for(1, Duration::from_secs(20)).await.remove(0);
    assert_eq!(mail.to, ["nimal@moon.test"], "{mail:?}");
    let text = mail.text();
    assert!(text.contains("nimal@moon.test") && text.contains("Nimal has reached 150k sales milestone!"), "{text}");
    let (_, d) = app.get("/api/v1/notifications/deliveries?channel=email").await;
    let items = d["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "only the agent who chose e-mail: {d}");
    settled(&app, "channel=email").await;
    assert_eq!(sink.messages().len(), 1);
    app.stop().await;
}

mod email {
    macro_rules! email_on {
        ($($name:ident => $backend:ident),*) => {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                super::email_reaches_the_agents_who_chose_it(moon_db::Backend::$backend).await;
            })*
        };
    }
    email_on!(sqlite => Sqlite, postgres => Postgres, mysql => MySql);
}
