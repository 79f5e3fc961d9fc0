//! Scheduled digests on every backend: each role's scope in the inbox and in a real e-mail
//! (HTML with a plain-text alternative, through the SMTP sink on loopback), the unsubscribe link
//! (works once; forged, altered and other-purpose tokens refused), exactly once with two
//! schedulers running at once, and a missed slot sent once on recovery, marked late. The time
//! zone arithmetic (a zone without daylight saving, London on the days its clocks change) is
//! unit-tested beside `notifications/digests/schedule.rs`.

use std::time::Duration;

use chrono::{DateTime, Utc};
use moon_server::notifications::digests::schedule::Slot;
use moon_server::notifications::pipeline::Channels;
use moon_testkit::SmtpSink;
use serde_json::{Value, json};

use crate::common::{TestApp, TestClient};

const WAIT: Duration = Duration::from_secs(30);

fn every_day(c: &mut moon_server::Config) {
    // Every day a working day, so expected-by-today is above zero whenever the test runs; the
    // server's own digest and pace loops stay out of the way, the test drives the clock.
    let all: Vec<String> = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"].map(String::from).to_vec();
    c.business = moon_domain::BusinessCalendar::new("UTC", 1, Some(&all)).unwrap();
    c.notifications.pace_interval_ms = 3_600_000;
    c.notifications.digests.interval_ms = 3_600_000;
    c.notifications.digests.public_url = Some(String::from("https://moon.test/"));
}

on_every_backend_with!(
    digest_config,
    crate::notifications_digests::every_day,
    two_schedulers_at_once_send_each_digest_once,
    a_missed_slot_is_sent_once_on_recovery_marked_late,
    digest_choices_are_validated_and_kept,
    a_managers_own_stream_carries_their_digest,
    the_demo_manager_receives_a_monday_digest,
    the_console_chooses_digests_with_errors_beside_fields,
);

/// One run of the digest job at `now`, as its step does it; the key signs the links as the
/// server's does (the same key, stored in the same database).
async fn run_at(app: &TestApp, now: DateTime<Utc>) -> usize {
    let c = &app.config;
    let wh = moon_analytics::Warehouse::open(&app.warehouse.url).await.unwrap();
    let inputs = moon_server::digest_job::Inputs {
        db: app.store.clone(),
        warehouse: wh,
        calendar: c.business,
        bands: c.target_bands.clone(),
        min_group: c.min_group_size,
        channels: Channels { email: c.notifications.smtp.is_some(), zone: c.business.zone },
        settings: std::sync::Arc::new(c.notifications.digests.clone()),
        base_url: String::from("https://moon.test"),
    };
    let auth =
        moon_server::auth::AuthState::load(&app.store, &c.security, moon_server::app::branch_check()).await.unwrap();
    let key = auth.key(&app.store).await.unwrap();
    let n = moon_server::digest_job::run_due(&inputs, key, now).await.unwrap();
    inputs.warehouse.db.close().await;
    n
}

async fn mine(client: &TestClient) -> Vec<Value> {
    let (s, b) = client.get("/api/v1/notifications?mine=true&kind=digest&limit=500").await;
    assert_eq!(s, 200, "{b}");
    b["items"].as_array().cloned().unwrap_or_default()
}

/// A daily digest at the next whole minute, chosen by `client`; the moment just after it.
async fn daily_next_minute(client: &TestClient) -> DateTime<Utc> {
    let slot = Utc::now() + chrono::Duration::minutes(1);
    let at = slot.format("%H:%M").to_string();
    let (s, p) = client.put("/api/v1/notifications/digests", json!({"daily": {"enabled": true, "at": at}})).await;
    assert_eq!(s, 200, "{p}");
    assert_eq!(p["daily"], json!({"enabled": true, "day": null, "at": at, "default": false}), "{p}");
    slot + chrono::Duration::seconds(30)
}

/// Quoted-printable decoding, enough for the test to read the mail as sent.
fn unquote(raw: &str) -> String {
    let joined = raw.replace("=\r\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'='
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&joined[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The mail sent to `address`, decoded.
fn mail_to(sink: &SmtpSink, address: &str) -> String {
    let all = sink.messages();
    let found: Vec<String> = all.iter().filter(|m| m.to == [address]).map(|m| unquote(&m.text())).collect();
    assert_eq!(found.len(), 1, "one mail to {address}: {all:?}");
    found.into_iter().next().unwrap_or_default()
}

fn token_in(mail: &str) -> String {
    const LINK: &str = "https://moon.test/unsubscribe/digest?token=";
    let start = mail.find(LINK).expect("the unsubscribe link") + LINK.len();
    mail[start..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_' || *c == '.').collect()
}

async fn set_address(app: &TestApp, client: &TestClient, address: &str) {
    let (_, me) = client.get("/api/v1/notifications/digests").await;
    let (path, id) = match me["user_id"].as_i64() {
        Some(u) => ("users", u),
        None => ("agents", me["agent_id"].as_i64().unwrap()),
    };
    let (s, b) = app.patch(&format!("/api/v1/{path}/{id}"), json!({"email": address})).await;
    assert_eq!(s, 200, "{b}");
}

async fn digests_hold_each_roles_scope_in_the_inbox_and_by_mail(backend: moon_db::Backend) {
    let sink = SmtpSink::start().await;
    let port = sink.port();
    let Some(app) = TestApp::spawn_with(backend, move |c| {
        every_day(c);
        c.notifications.smtp = Some(crate::common::loopback_smtp(port));
        c.notifications.delivery_interval_ms = 50;
    })
    .await
    else {
        return;
    };
    app.agent("DC1", "Colombo", "Alpha").await;
    app.agent("DC2", "Colombo", "Beta").await;
    app.agent("DK1", "Kandy", "Gamma").await;
    let month = Utc::now().format("%Y-%m").to_string();
    let (s, b) = app
        .post(
            "/api/v1/targets",
            json!({"scope_kind": "team", "scope_key": "Alpha", "period": month, "amount": "3100.00"}),
        )
        .await;
    assert!(s == 201 || s == 200, "{b}");
    let product = app.product("Digest life", "100.00").await;
    app.sale("DK1", product, "250.00", &Utc::now().date_naive().to_string()).await;
    app.wait_for("/api/v1/performance?scope=branch&key=Kandy", WAIT, |b| {
        b["items"][0]["figures"]["actual"] == json!("250.00")
    })
    .await;
    let manager = app.client_as("manager", Some("Colombo")).await;
    let agent = app.client_as("agent", Some("DC1")).await;
    let admin = app.admin();
    let mut due = Utc::now();
    for (client, address) in [(&manager, "manager@moon.test"), (&agent, "dc1@moon.test"), (&admin, "admin@moon.test")] {
        set_address(&app, client, address).await;
        due = daily_next_minute(client).await;
    }
    assert_eq!(run_at(&app, due).await, 3, "the manager's, the agent's and the admin's");
    // The inbox: one digest each, addressed to the manager's account and to the agent.
    let theirs = mine(&manager).await;
    assert_eq!(theirs.len(), 1, "{theirs:?}");
    let line = theirs[0]["message"].as_str().unwrap();
    assert!(line.starts_with("Daily digest for Colombo"), "{line}");
    assert!(line.contains("Behind pace: Alpha"), "Alpha sold nothing against its target: {line}");
    let (_, own) = agent.get("/api/v1/notifications?kind=digest").await;
    assert_eq!(own["items"].as_array().unwrap().len(), 1, "{own}");
    // The mails: multipart/alternative, text and HTML, each within its reader's scope.
    let sent = sink.wait_for(3, WAIT).await;
    assert_eq!(sent.len(), 3, "{sent:?}");
    let to_manager = mail_to(&sink, "manager@moon.test");
    assert!(to_manager.contains("multipart/alternative"), "{to_manager}");
    assert!(to_manager.contains("text/plain") && to_manager.contains("text/html"), "{to_manager}");
    assert!(to_manager.contains("Subject: MoonInsurance: Daily digest for Colombo"), "{to_manager}");
    for seen in ["Alpha", "Beta", "<h2>Teams</h2>", "Behind pace", "3100.00"] {
        assert!(to_manager.contains(seen), "the manager sees {seen}: {to_manager}");
    }
    for unseen in ["Kandy", "Gamma", "DK1", "250.00"] {
        assert!(!to_manager.contains(unseen), "the manager does not see {unseen}: {to_manager}");
    }
    let to_admin = mail_to(&sink, "admin@moon.test");
    for seen in ["the company", "Colombo", "Kandy", "<h2>Branches</h2>", "250.00"] {
        assert!(to_admin.contains(seen), "the admin sees {seen}: {to_admin}");
    }
    let to_agent = mail_to(&sink, "dc1@moon.test");
    assert!(to_agent.contains("your targets") && to_agent.contains("Test DC1"), "{to_agent}");
    for unseen in ["DC2", "Beta", "Kandy", "Gamma", "Teams"] {
        assert!(!to_agent.contains(unseen), "the agent does not see {unseen}: {to_agent}");
    }
    // The link: the GET asks and changes nothing; the POST unsubscribes, once.
    let token = token_in(&to_manager);
    let web = reqwest::Client::new();
    let url = format!("{}/unsubscribe/digest", app.base);
    let page = web.get(format!("{url}?token={token}")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("<form method=\"post\"") && html.contains("<button"), "{html}");
    let (_, p) = manager.get("/api/v1/notifications/digests").await;
    assert_eq!(p["daily"]["enabled"], true, "a GET of the link changes nothing: {p}");
    let post = |t: String| {
        let (web, url) = (web.clone(), url.clone());
        async move {
            // The token alphabet (base64url, '.', hex) needs no escaping in a form.
            let r = web
                .post(url)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(format!("token={t}"))
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    // Refused: altered, forged for another sent digest, of another purpose, an API token.
    let mut altered = token.clone();
    let last = altered.pop().unwrap();
    altered.push(if last == 'a' { 'b' } else { 'a' });
    let key = {
        use moon_db::sea_query::{Expr, ExprTrait, Query};
        let mut q = Query::select();
        q.column("claim_key").from("digest_sends").and_where(Expr::col("recipient").like("a%"));
        let (k,): (String,) = app.store.fetch_optional(&q).await.unwrap().unwrap();
        k
    };
    let auth = moon_server::auth::AuthState::load(&app.store, &app.config.security, moon_server::app::branch_check())
        .await
        .unwrap();
    let signing = auth.key(&app.store).await.unwrap();
    let other_purpose = moon_server::notifications::digests::token::sign_for(signing, "moon.other.v1", &key);
    let (_, mac) = token.split_once('.').unwrap();
    let forged = format!("{}.{mac}", base64_url(&key));
    for bad in [altered, other_purpose, forged, app.admin_token.clone(), String::new()] {
        let (s, body) = post(bad.clone()).await;
        assert_eq!(s, 400, "{bad}: {body}");
        assert!(body.contains("invalid_unsubscribe_link"), "problem+json for a client: {body}");
    }
    let (_, p) = manager.get("/api/v1/notifications/digests").await;
    assert_eq!(p["daily"]["enabled"], true, "refused links change nothing: {p}");
    let (s, body) = post(token.clone()).await;
    assert_eq!(s, 200, "{body}");
    assert!(body.contains("Unsubscribed"), "{body}");
    let (_, p) = manager.get("/api/v1/notifications/digests").await;
    assert_eq!(p["daily"]["enabled"], false, "{p}");
    let at = (due - chrono::Duration::seconds(30)).format("%H:%M").to_string();
    assert_eq!(p["daily"]["at"], json!(at), "the schedule is kept for switching it on again: {p}");
    let (s, body) = post(token.clone()).await;
    assert_eq!(s, 410, "a link works once: {body}");
    // A browser is shown a page instead.
    let r = web.get(format!("{url}?token=x{token}")).header("accept", "text/html").send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("<h1>This link does not work</h1>"));
    let (_, audit) = app.get("/api/v1/audit?action=notification.digest_unsubscribe").await;
    assert_eq!(audit["items"].as_array().map_or(0, Vec::len), 1, "{audit}");
    // The next day: the agent and the admin get theirs, the manager no more.
    // (The manager's default weekly digest may fall due in that day too: it is another digest.)
    assert!(run_at(&app, due + chrono::Duration::days(1)).await >= 2);
    let daily = |n: &Vec<Value>| n.iter().filter(|n| n["message"].as_str().unwrap().starts_with("Daily")).count();
    assert_eq!(daily(&mine(&manager).await), 1, "no daily digest after unsubscribing");
    let (_, own) = agent.get("/api/v1/notifications?kind=digest").await;
    assert_eq!(own["items"].as_array().unwrap().len(), 2, "{own}");
    app.stop().await;
}

fn base64_url(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s.as_bytes())
}

mod scope_and_mail {
    macro_rules! digest_mail_on {
        ($($name:ident => $backend:ident),*) => {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                super::digests_hold_each_roles_scope_in_the_inbox_and_by_mail(moon_db::Backend::$backend).await;
            })*
        };
    }
    digest_mail_on!(sqlite => Sqlite, postgres => Postgres, mysql => MySql);
}

async fn two_schedulers_at_once_send_each_digest_once(app: &TestApp) {
    app.agent("TS1", "Colombo", "Alpha").await;
    let manager = app.client_as("manager", Some("Colombo")).await;
    // Only the daily digest, so the weekly default cannot fall due in the hours looked at.
    let (s, p) = manager.put("/api/v1/notifications/digests", json!({"weekly": {"enabled": false}})).await;
    assert_eq!(s, 200, "{p}");
    let due = daily_next_minute(&manager).await;
    let (a, b) = tokio::join!(run_at(app, due), run_at(app, due));
    assert_eq!(a + b, 1, "one digest in all, from whichever scheduler claimed the slot");
    // A restart (or a retry) at the same moment, or later the same day: nothing more.
    assert_eq!(run_at(app, due).await, 0);
    assert_eq!(run_at(app, due + chrono::Duration::hours(3)).await, 0);
    assert_eq!(mine(&manager).await.len(), 1);
    let (_, audit) = app.get("/api/v1/audit?action=notification.digest_sent").await;
    assert_eq!(audit["items"].as_array().map_or(0, Vec::len), 1, "{audit}");
}

async fn a_missed_slot_is_sent_once_on_recovery_marked_late(app: &TestApp) {
    app.agent("ML1", "Colombo", "Alpha").await;
    // The managers' default: weekly, Monday 08:30 (business time zone), with no choice made.
    let manager = app.client_as("manager", Some("Colombo")).await;
    let (_, p) = manager.get("/api/v1/notifications/digests").await;
    assert_eq!(p["weekly"], json!({"enabled": true, "day": "mon", "at": "08:30", "default": true}), "{p}");
    assert_eq!(p["daily"]["enabled"], false, "{p}");
    let monday = Slot::parse_config("s", "weekly mon 08:30").unwrap().unwrap();
    // The process was down over two Mondays: on recovery, the latest one only, marked late.
    let second = monday.latest(Utc::now() + chrono::Duration::days(14), app.config.business.zone);
    let recovered = second + chrono::Duration::hours(3);
    assert_eq!(run_at(app, recovered).await, 1);
    assert_eq!(run_at(app, recovered).await, 0, "sent once");
    let got = mine(&manager).await;
    assert_eq!(got.len(), 1, "{got:?}");
    let line = got[0]["message"].as_str().unwrap();
    assert!(line.starts_with("Weekly digest for Colombo"), "{line}");
    assert!(line.contains("(late: due Monday 08:30)"), "{line}");
    // The next Monday, on time: not late.
    let next = second + chrono::Duration::days(7) + chrono::Duration::minutes(1);
    assert_eq!(run_at(app, next).await, 1);
    let got = mine(&manager).await;
    assert_eq!(got.len(), 2);
    assert!(got.iter().filter(|n| n["message"].as_str().unwrap().contains("late")).count() == 1, "{got:?}");
}

async fn digest_choices_are_validated_and_kept(app: &TestApp) {
    let manager = app.client_as("manager", Some("Colombo")).await;
    let (s, p) = manager
        .put(
            "/api/v1/notifications/digests",
            json!({"daily": {"at": "25:00", "day": "mon"}, "weekly": {"day": "funday", "at": "8:30"}}),
        )
        .await;
    assert_eq!(s, 422, "{p}");
    let fields: Vec<&str> = p["errors"].as_array().unwrap().iter().filter_map(|e| e["field"].as_str()).collect();
    for f in ["daily.at", "daily.day", "weekly.day", "weekly.at"] {
        assert!(fields.contains(&f), "{f} in {p}");
    }
    let (s, p) = manager.put("/api/v1/notifications/digests", json!({"weekly": {"enabled": "yes"}})).await;
    assert_eq!(s, 422, "{p}");
    let (s, p) = manager.put("/api/v1/notifications/digests", json!({"weekly": {"day": "fri", "at": "17:00"}})).await;
    assert_eq!(s, 200, "{p}");
    assert_eq!(p["weekly"], json!({"enabled": true, "day": "fri", "at": "17:00", "default": false}), "{p}");
    assert_eq!(p["timezone"], "UTC");
    let (_, again) = manager.get("/api/v1/notifications/digests").await;
    assert_eq!(again, p);
    let (s, p) = manager.put("/api/v1/notifications/digests", json!({"weekly": {"enabled": false}})).await;
    assert_eq!(s, 200, "{p}");
    assert_eq!(p["weekly"], json!({"enabled": false, "day": "fri", "at": "17:00", "default": false}), "{p}");
    // An agent's own; an analyst has none.
    app.agent("DV1", "Colombo", "Alpha").await;
    let agent = app.client_as("agent", Some("DV1")).await;
    let (s, p) = agent.get("/api/v1/notifications/digests").await;
    assert_eq!(s, 200, "{p}");
    assert!(p["agent_id"].is_i64() && p["weekly"]["enabled"] == false, "agents have no digest by default: {p}");
    let analyst = app.client_as("analyst", None).await;
    assert_eq!(analyst.get("/api/v1/notifications/digests").await.0, 403);
    let (_, audit) = app.get("/api/v1/audit?action=notification.digest_preferences").await;
    assert_eq!(audit["items"].as_array().map_or(0, Vec::len), 2, "{audit}");
}

async fn a_managers_own_stream_carries_their_digest(app: &TestApp) {
    let colombo = app.agent("SS1", "Colombo", "Alpha").await;
    let manager = app.client_as("manager", Some("Colombo")).await;
    let (s, p) = manager.put("/api/v1/notifications/digests", json!({"weekly": {"enabled": false}})).await;
    assert_eq!(s, 200, "{p}");
    let due = daily_next_minute(&manager).await;
    let (_, me) = manager.get("/api/v1/notifications/digests").await;
    let user_id = me["user_id"].as_i64().unwrap();
    let mut own = manager.request(reqwest::Method::GET, "/api/v1/notifications/stream?mine=true").send().await.unwrap();
    assert_eq!(own.status(), 200);
    let mut branch = manager.request(reqwest::Method::GET, "/api/v1/notifications/stream").send().await.unwrap();
    // An agent's notification (the branch's) and the manager's own digest.
    let (s, b) = app.post("/api/v1/notifications", json!({"agent_id": colombo, "message": "Agent news"})).await;
    assert_eq!(s, 201, "{b}");
    assert_eq!(run_at(app, due).await, 1);
    async fn until(r: &mut reqwest::Response, needle: &str) -> String {
        let mut seen = String::new();
        while !seen.contains(needle) {
            match tokio::time::timeout(WAIT, r.chunk()).await {
                Ok(Ok(Some(c))) => seen.push_str(&String::from_utf8_lossy(&c)),
                other => panic!("the stream ended or stalled before {needle:?}: {other:?}; saw {seen}"),
            }
        }
        seen
    }
    let mine_events = until(&mut own, "Daily digest for").await;
    assert!(mine_events.contains(&format!("\"user_id\":{user_id}")), "{mine_events}");
    assert!(!mine_events.contains("Agent news"), "mine=true: only the manager's own: {mine_events}");
    let all = until(&mut branch, "Daily digest for").await;
    assert!(all.contains("Agent news"), "the branch stream carries the branch's agents and the manager's own: {all}");
    // Another manager's stream does not carry it.
    let other = app.client_as("manager", Some("Colombo")).await;
    let (_, theirs) = other.get("/api/v1/notifications?mine=true&kind=digest").await;
    assert_eq!(theirs["items"].as_array().map_or(0, Vec::len), 0, "{theirs}");
    let (_, unread) = manager.get("/api/v1/notifications/unread_count").await;
    assert!(unread["unread"].as_i64().unwrap() >= 1, "{unread}");
}

async fn the_demo_manager_receives_a_monday_digest(app: &TestApp) {
    let today = app.config.business.today(Utc::now());
    moon_server::demo::load(&app.store, today).await.unwrap();
    moon_server::demo::planning(&app.store, &app.config.business, today).await.unwrap();
    moon_server::demo::users(&app.store).await.unwrap();
    let manager = moon_server::auth::users::account_by_name(&app.store, "demo-manager").await.unwrap().unwrap();
    assert!(run_at(app, Utc::now()).await >= 1);
    let theirs = |b: &Value| -> Vec<Value> {
        b["items"].as_array().unwrap().iter().filter(|n| n["user_id"].as_i64() == Some(manager.id)).cloned().collect()
    };
    let (_, b) = app.get("/api/v1/notifications?kind=digest&limit=500").await;
    let got = theirs(&b);
    assert_eq!(got.len(), 1, "{b}");
    let line = got[0]["message"].as_str().unwrap();
    assert!(line.starts_with("Weekly digest for Colombo"), "{line}");
    // Loading the demo again and running again sends nothing more; the address is set for mail.
    moon_server::demo::users(&app.store).await.unwrap();
    run_at(app, Utc::now()).await;
    let (_, b) = app.get("/api/v1/notifications?kind=digest&limit=500").await;
    assert_eq!(theirs(&b).len(), 1, "{b}");
    let (_, u) = app.get(&format!("/api/v1/users/{}", manager.id)).await;
    assert_eq!(u["email"], "demo-manager@moon.example", "{u}");
}

async fn the_console_chooses_digests_with_errors_beside_fields(app: &TestApp) {
    use crate::web::{browser, csrf_of, page, post_form, sign_in_form};
    app.agent("CW1", "Colombo", "Alpha").await;
    let (_, name, password) = app.user("agent", Some("CW1")).await;
    let cookie = sign_in_form(app, &name, &password).await;
    let b = browser();
    let (s, _, html) = page(&b, app, "/notifications", Some(&cookie)).await;
    assert_eq!(s, 200, "{html}");
    assert!(html.contains("<h2 id=\"digests-h\">Your digests</h2>"), "{html}");
    let csrf = csrf_of(&html);
    let fields = |at: &'static str| -> Vec<(&'static str, String)> {
        vec![
            ("csrf_token", csrf.clone()),
            ("daily.enabled", String::from("on")),
            ("daily.at", String::from(at)),
            ("weekly.enabled", String::from("off")),
            ("weekly.day", String::from("wed")),
            ("weekly.at", String::from("09:15")),
        ]
    };
    let bad = fields("7 am");
    let bad: Vec<(&str, &str)> = bad.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (s, _, html) = post_form(&b, app, "/notifications/digests", &cookie, &bad).await;
    assert_eq!(s, 422, "{html}");
    assert!(
        html.contains("7 am") && html.contains("aria-invalid=\"true\""),
        "the value kept, the field marked: {html}"
    );
    let good = fields("06:45");
    let good: Vec<(&str, &str)> = good.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (s, to, _) = post_form(&b, app, "/notifications/digests", &cookie, &good).await;
    assert_eq!(s, 303, "{to}");
    let (_, me) = app.bearer(&token_of(app, &name).await).get("/api/v1/notifications/digests").await;
    assert_eq!(me["daily"], json!({"enabled": true, "day": null, "at": "06:45", "default": false}), "{me}");
    assert_eq!(me["weekly"], json!({"enabled": false, "day": "wed", "at": "09:15", "default": false}), "{me}");
}

/// An API token for an existing user (by name).
async fn token_of(app: &TestApp, name: &str) -> String {
    let account = moon_server::auth::users::account_by_name(&app.store, name).await.unwrap().unwrap();
    let (_, token) =
        moon_server::auth::token::create(&app.store, account.id, "tests", None, &moon_http::Principal::operator())
            .await
            .unwrap();
    token
}
