//! The console's live stream (issue 14 item 4) on SQLite, PostgreSQL and MariaDB/MySQL: a sale
//! reaches an open `/live/events` stream within a second as a small `change` event (no figures),
//! after which the fragment the page shows has a new ETag and an unchanged one is a `304`; a page
//! opens its stream from the cursor it was rendered at, so a notification written in between is
//! replayed, and a reconnect with `Last-Event-ID` gets only what came after; a manager's stream
//! carries no other branch's notification; without a session the stream is a 401. The same in
//! a browser (a sale on an open dashboard, a hidden tab's stream closed) is in
//! e2e/tests/live.test.mjs.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::common::TestApp;
use crate::web::{browser, page, sign_in_form};

on_every_backend_with!(
    without_mfa,
    |c: &mut moon_server::Config| c.security.mfa_required_roles.clear(),
    a_sale_reaches_an_open_stream_within_a_second_and_only_the_changed_fragment_is_sent_again,
    a_page_replays_what_landed_before_its_stream_opened_and_a_reconnect_only_what_came_after,
    a_managers_stream_carries_no_other_branchs_notification,
    the_stream_needs_a_session_and_a_well_formed_cursor,
);

fn today() -> String {
    chrono::Utc::now().date_naive().to_string()
}

/// Two branches with an agent each and a product; returns the product's id once the warehouse
/// has the first sale.
async fn scenario(app: &TestApp) -> i64 {
    app.agent("LV1", "Colombo", "Alpha").await;
    app.agent("LV2", "Kandy", "Gamma").await;
    let product = app.product("Live plan", "100.00").await;
    app.sale("LV1", product, "100.00", &today()).await;
    app.wait_for("/api/v1/kpis/trend?bucket=year", Duration::from_secs(20), |b| {
        b["items"]
            .as_array()
            .is_some_and(|i| i.iter().map(|r| r["sales_count"].as_i64().unwrap_or(0)).sum::<i64>() == 1)
    })
    .await;
    product
}

async fn signed_in(app: &TestApp, role: &str, bound_to: Option<&str>) -> String {
    let (_, name, password) = app.user(role, bound_to).await;
    sign_in_form(app, &name, &password).await
}

/// Opens `path` as the page's script does (the session cookie, `Last-Event-ID` when resuming).
async fn open(app: &TestApp, path: &str, cookie: &str, resume: Option<&str>) -> reqwest::Response {
    let mut r = browser().get(app.url(path)).header("cookie", cookie).header("accept", "text/event-stream");
    if let Some(id) = resume {
        r = r.header("last-event-id", id);
    }
    r.send().await.unwrap()
}

/// Reads the stream until `done` holds for what arrived, failing after `limit`.
async fn read_until(stream: &mut reqwest::Response, limit: Duration, done: impl Fn(&str) -> bool) -> String {
    let started = Instant::now();
    let mut text = String::new();
    while !done(&text) {
        let left = limit.checked_sub(started.elapsed()).unwrap_or_default();
        let chunk = tokio::time::timeout(left, stream.chunk()).await;
        let chunk = chunk.unwrap_or_else(|_| panic!("nothing more within {limit:?}; so far: {text}"));
        text.push_str(&String::from_utf8_lossy(&chunk.unwrap().expect("the stream stays open")));
    }
    text
}

/// The id of the last event in `text`.
fn last_id(text: &str) -> String {
    text.lines().rev().find_map(|l| l.strip_prefix("id: ")).expect("an event with an id").to_owned()
}

/// A live fragment with `If-None-Match`: status and ETag.
async fn fragment(app: &TestApp, path: &str, cookie: &str, etag: Option<&str>) -> (u16, String, String) {
    let mut r = browser().get(app.url(path)).header("cookie", cookie).header("accept", "text/html");
    if let Some(tag) = etag {
        r = r.header("if-none-match", tag);
    }
    let res = r.send().await.unwrap();
    let status = res.status().as_u16();
    let tag = res.headers().get("etag").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    (status, tag, res.text().await.unwrap())
}

async fn a_sale_reaches_an_open_stream_within_a_second_and_only_the_changed_fragment_is_sent_again(app: &TestApp) {
    let product = scenario(app).await;
    let cookie = signed_in(app, "manager", Some("Colombo")).await;
    let dash = "/dashboard/live?range=month&branch=Colombo";
    let (s, first, html) = fragment(app, dash, &cookie, None).await;
    assert_eq!(s, 200, "{html}");
    assert!(first.starts_with("W/\""), "a weak ETag: {first:?}");
    let (s, tag, body) = fragment(app, dash, &cookie, Some(&first)).await;
    assert_eq!((s, tag.as_str(), body.as_str()), (304, first.as_str(), ""), "nothing changed: a 304");
    for path in ["/home/live", "/wallboard/live?branch=Colombo"] {
        let (s, tag, html) = fragment(app, path, &cookie, None).await;
        assert_eq!(s, 200, "{path}: {html}");
        let (s, _, _) = fragment(app, path, &cookie, Some(&tag)).await;
        assert_eq!(s, 304, "{path} unchanged");
    }

    let mut stream = open(app, "/live/events", &cookie, None).await;
    assert_eq!(stream.status(), 200);
    let h = stream.headers();
    assert!(h["content-type"].to_str().unwrap().starts_with("text/event-stream"), "{h:?}");
    assert_eq!(h["x-accel-buffering"], "no", "proxies must not buffer the stream");
    let started = Instant::now();
    app.sale("LV1", product, "2500.00", &today()).await;
    let text = read_until(&mut stream, Duration::from_secs(5), |t| t.contains("event: change")).await;
    let took = started.elapsed();
    assert!(took < Duration::from_secs(1), "sale to stream took {took:?}: {text}");
    let data = text.lines().find_map(|l| l.strip_prefix("data: ")).unwrap();
    let event: serde_json::Value = serde_json::from_str(data).unwrap();
    assert_eq!(event["kinds"], json!(["sale"]), "{event}");
    assert!(!data.contains("2500") && !data.contains("Colombo"), "names what changed, not the data: {data}");
    // The page refetches: the figures moved, so the old tag gets the new fragment, once.
    let (s, second, html) = fragment(app, dash, &cookie, Some(&first)).await;
    assert_eq!(s, 200);
    assert_ne!(second, first);
    assert!(html.contains("2,600.00"), "the fragment shows the sale: {html}");
    let (s, _, _) = fragment(app, dash, &cookie, Some(&second)).await;
    assert_eq!(s, 304);
}

async fn a_page_replays_what_landed_before_its_stream_opened_and_a_reconnect_only_what_came_after(app: &TestApp) {
    let product = scenario(app).await;
    let cookie = signed_in(app, "agent", Some("LV1")).await;
    let b = browser();
    let (s, _, html) = page(&b, app, "/home", Some(&cookie)).await;
    assert_eq!(s, 200, "{html}");
    let marker = "data-live-stream=\"";
    let start = html.find(marker).expect("the page names its stream") + marker.len();
    let src = html[start..].split('"').next().unwrap().replace("&amp;", "&");
    assert!(src.starts_with("/live/events?from="), "{src}");
    assert!(html.contains("data-live-src=\"/home/live\""), "the home refetches its view: {html}");
    // Between the page and its stream opening: a notification and a sale.
    let (s, b2) = app.post("/api/v1/notifications", json!({"agent_code": "LV1", "message": "before the stream"})).await;
    assert_eq!(s, 201, "{b2}");
    app.sale("LV1", product, "300.00", &today()).await;
    let mut stream = open(app, &src, &cookie, None).await;
    assert_eq!(stream.status(), 200);
    let text = read_until(&mut stream, Duration::from_secs(10), |t| {
        t.contains("before the stream") && t.contains("event: change")
    })
    .await;
    assert!(text.contains("event: notification"), "{text}");
    let resume = last_id(&text);
    drop(stream);
    // Away: another notification. Reconnecting with Last-Event-ID replays only that one.
    let (s, b2) = app.post("/api/v1/notifications", json!({"agent_code": "LV1", "message": "while away"})).await;
    assert_eq!(s, 201, "{b2}");
    let mut again = open(app, "/live/events", &cookie, Some(&resume)).await;
    let text = read_until(&mut again, Duration::from_secs(5), |t| t.contains("while away")).await;
    assert!(!text.contains("before the stream"), "replayed twice: {text}");
}

async fn a_managers_stream_carries_no_other_branchs_notification(app: &TestApp) {
    scenario(app).await;
    let cookie = signed_in(app, "manager", Some("Colombo")).await;
    let mut stream = open(app, "/live/events", &cookie, None).await;
    assert_eq!(stream.status(), 200);
    // Give the stream a moment to subscribe before the notifications are written.
    tokio::time::sleep(Duration::from_millis(100)).await;
    for (agent, message) in [("LV2", "for Kandy only"), ("LV1", "for Colombo")] {
        let (s, b) = app.post("/api/v1/notifications", json!({"agent_code": agent, "message": message})).await;
        assert_eq!(s, 201, "{b}");
    }
    // Every stream hears the hub's notifications in order: once Colombo's has arrived, a leaked
    // Kandy one would have arrived before it.
    let text = read_until(&mut stream, Duration::from_secs(5), |t| t.contains("for Colombo")).await;
    assert!(!text.contains("for Kandy") && !text.contains("LV2"), "leaked to another branch: {text}");
}

async fn the_stream_needs_a_session_and_a_well_formed_cursor(app: &TestApp) {
    let res = browser().get(app.url("/live/events")).header("accept", "text/event-stream").send().await.unwrap();
    assert_eq!(res.status(), 401, "no session: refused, not a sign-in page an EventSource cannot use");
    let cookie = signed_in(app, "analyst", None).await;
    for (query, status) in [("?from=1", 422), ("?from=-1.2", 422), ("?from=a.b", 422), ("?since=1.2", 400)] {
        let res = open(app, &format!("/live/events{query}"), &cookie, None).await;
        assert_eq!(res.status(), status, "{query}");
        assert!(res.headers()["content-type"].to_str().unwrap().contains("problem+json"), "{query}");
    }
    // A garbled Last-Event-ID (a proxy, an old page) is ignored: the stream starts from now.
    let res = open(app, "/live/events", &cookie, Some("not-a-cursor")).await;
    assert_eq!(res.status(), 200);
}
