//! Anomaly detection (issue 17, item 4): each detector fires on a crafted case with a finding
//! that says why, admins are told in their inbox, findings are deduplicated and dismissed with an
//! audited reason, only admins see them, and the demo data raises nothing.

use std::time::Duration;

use crate::common::TestApp;
use moon_db::sea_query::{Expr, ExprTrait, Func, Query};
use serde_json::{Value, json};

/// Detection on, every second, with thresholds a scenario reaches quickly where it needs to.
fn fast(c: &mut moon_server::Config) {
    c.anomalies.enabled = true;
    c.anomalies.interval_seconds = 1;
}

/// Waits until the detection job has run once (its scans start from the end of the data then),
/// so what a scenario records next is new to it.
async fn detection_started(app: &TestApp) {
    let started = std::time::Instant::now();
    loop {
        let mut q = Query::select();
        q.expr(Func::count(Expr::col("name"))).from("anomaly_cursors");
        let (n,): (i64,) = app.store.fetch_optional(&q).await.unwrap().unwrap();
        if n >= 2 {
            return;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "the detection job never ran");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the sales scan has passed sale `id` (so a finding it would make exists by now).
async fn scanned(app: &TestApp, id: i64) {
    let started = std::time::Instant::now();
    loop {
        let mut q = Query::select();
        q.column("position").from("anomaly_cursors").and_where(Expr::col("name").eq("sales"));
        let (p,): (i64,) = app.store.fetch_optional(&q).await.unwrap().unwrap();
        if p >= id {
            return;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "the sales scan never reached sale {id}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Findings (all statuses) until one of each of `kinds` is there.
async fn findings(app: &TestApp, kinds: &[&str]) -> Vec<Value> {
    let started = std::time::Instant::now();
    loop {
        let (s, b) = app.get("/api/v1/anomalies?status=all&limit=500").await;
        assert_eq!(s, 200, "{b}");
        let items = b["items"].as_array().unwrap().clone();
        let missing: Vec<&&str> = kinds.iter().filter(|k| !items.iter().any(|i| i["kind"] == **k)).collect();
        if missing.is_empty() {
            return items;
        }
        assert!(started.elapsed() < Duration::from_secs(45), "still missing {missing:?} after 45 s: {items:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn of<'a>(items: &'a [Value], kind: &str) -> Vec<&'a Value> {
    items.iter().filter(|i| i["kind"] == kind).collect()
}

fn day(app: &TestApp, back: i64) -> String {
    (app.config.business.today(chrono::Utc::now()) - chrono::Duration::days(back)).to_string()
}

async fn admin_id(app: &TestApp) -> i64 {
    let (s, me) = app.get("/api/v1/auth/me").await;
    assert_eq!(s, 200, "{me}");
    me["user"]["id"].as_i64().unwrap_or_else(|| panic!("no id in {me}"))
}

async fn anomaly_notifications(app: &TestApp, user: i64) -> Vec<String> {
    let mut q = Query::select();
    q.column("message")
        .from("notifications")
        .and_where(Expr::col("user_id").eq(user))
        .and_where(Expr::col("kind").eq("anomaly"));
    app.store.fetch_all::<(String,)>(&q).await.unwrap().into_iter().map(|(m,)| m).collect()
}

/// A sale 50 times the agent's usual amount, two look-alike sales, a sale dated 400 days back
/// and a branch day far above its weekday pattern: each is found, explained, and the admin hears.
async fn data_detectors_explain_what_fired(app: &TestApp) {
    detection_started(app).await;
    app.agent("ANOM1", "Galle", "Alpha").await;
    let product = app.product("Anomaly Life", "1000000.00").await;
    // The agent's history: one sale on the same weekday for twelve weeks before the big day,
    // and ten more on other days, 40,000–46,000 each.
    let big_day = 2;
    for k in 1..=12 {
        app.sale("ANOM1", product, &format!("{}.00", 40_000 + k * 500), &day(app, big_day + 7 * k)).await;
    }
    for k in 1..=10 {
        app.sale("ANOM1", product, &format!("{}.00", 41_000 + k * 300), &day(app, big_day + 7 * k + 1)).await;
    }
    let big = app.sale("ANOM1", product, "2500000.00", &day(app, big_day)).await;
    let first = app.sale("ANOM1", product, "41100.00", &day(app, 3)).await;
    let second = app.sale("ANOM1", product, "41100.00", &day(app, 3)).await;
    let old = app.sale("ANOM1", product, "42000.00", &day(app, 400)).await;
    findings(app, &["sale_amount_outlier", "duplicate_sale", "sale_far_in_past", "branch_day_outlier"]).await;
    // Findings of one step are stored one by one: wait for the big day's branch finding itself.
    let big_window = day(app, big_day);
    let items = app
        .wait_for("/api/v1/anomalies?status=all&limit=500", Duration::from_secs(30), |b| {
            b["items"]
                .as_array()
                .unwrap()
                .iter()
                .any(|i| i["kind"] == "branch_day_outlier" && i["window"] == big_window)
        })
        .await["items"]
        .as_array()
        .unwrap()
        .clone();

    let outlier = of(&items, "sale_amount_outlier");
    assert_eq!(outlier.len(), 1, "only the big sale is far off: {items:?}");
    let o = outlier[0];
    assert_eq!(o["subject"], format!("sale:{big}"));
    assert_eq!(o["status"], "open");
    let why = o["why"].as_str().unwrap();
    assert!(why.starts_with("amount 2,500,000.00 is ") && why.contains("MADs above agent ANOM1's median"), "{why}");
    assert!(why.contains("over 22 sales"), "{why}");
    assert_eq!(o["figures"]["amount"], "2500000.00");
    assert_eq!(o["figures"]["history"], 22);

    let dup = of(&items, "duplicate_sale");
    assert_eq!(dup.len(), 1, "{items:?}");
    assert!(dup[0]["why"].as_str().unwrap().contains(&format!("ids {first}, {second}")), "{}", dup[0]["why"]);
    assert_eq!(dup[0]["window"], day(app, 3));

    let past = of(&items, "sale_far_in_past");
    assert_eq!(past.len(), 1, "{items:?}");
    // Told per principal and day, naming the sales; the one backdated sale is the only one listed.
    assert_eq!(past[0]["window"], day(app, 0));
    assert_eq!(past[0]["figures"]["sale_ids"], serde_json::json!([old]));
    assert_eq!(past[0]["figures"]["sales"], 1);
    let why = past[0]["why"].as_str().unwrap();
    assert!(why.starts_with(&format!("{} recorded 1 sale on ", past[0]["subject"].as_str().unwrap())), "{why}");
    assert!(why.contains(&format!("400 days before it was recorded (sales {old}; first of agent ANOM1)")), "{why}");

    // (The look-alikes' day may fire too: two sales against a history of single ones.)
    let branch: Vec<&Value> =
        of(&items, "branch_day_outlier").into_iter().filter(|f| f["window"] == day(app, big_day)).collect();
    assert_eq!(branch.len(), 1, "{items:?}");
    assert_eq!(branch[0]["subject"], "branch:Galle");
    assert!(branch[0]["why"].as_str().unwrap().contains("MADs above its median"), "{}", branch[0]["why"]);

    // Every finding reached the admin's inbox, saying why.
    let admin = admin_id(app).await;
    let inbox = anomaly_notifications(app, admin).await;
    for i in &items {
        let tag = format!("Anomaly #{} ({})", i["id"], i["kind"].as_str().unwrap());
        assert!(inbox.iter().any(|m| m.starts_with(&tag)), "{tag} not in {inbox:?}");
    }
    assert!(inbox.iter().any(|m| m.contains("amount 2,500,000.00")), "{inbox:?}");
}

/// Dismissing takes a reason, is audited and happens once; a finding is stored once per kind,
/// subject and window; the open count is a Prometheus series; only admins see findings.
async fn dismissal_dedup_metric_and_access(app: &TestApp) {
    detection_started(app).await;
    app.agent("ANOM2", "Kandy", "Beta").await;
    let product = app.product("Anomaly Vehicle", "1000000.00").await;
    app.sale("ANOM2", product, "30000.00", &day(app, 1)).await;
    app.sale("ANOM2", product, "30000.00", &day(app, 1)).await;
    let items = findings(app, &["duplicate_sale"]).await;
    let id = of(&items, "duplicate_sale")[0]["id"].as_i64().unwrap();
    let metrics = app.anonymous().request(reqwest::Method::GET, "/metrics").send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("moon_anomalies_open{kind=\"duplicate_sale\"} 1"), "{metrics}");
    assert!(metrics.contains("moon_anomalies_found_total{kind=\"duplicate_sale\"} 1"), "{metrics}");

    // A third look-alike the same day is the same finding: nothing new is stored.
    let third = app.sale("ANOM2", product, "30000.00", &day(app, 1)).await;
    scanned(app, third).await;
    let (_, all) = app.get("/api/v1/anomalies?status=all&kind=duplicate_sale").await;
    assert_eq!(all["items"].as_array().unwrap().len(), 1, "{all}");

    // Bad filters and reasons are named.
    let (s, b) = app.get("/api/v1/anomalies?status=maybe&kind=nonsense").await;
    assert_eq!(s, 422, "{b}");
    let fields: Vec<&str> = b["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert!(fields.contains(&"status") && fields.contains(&"kind"), "{b}");
    let (s, b) = app.post(&format!("/api/v1/anomalies/{id}/dismiss"), json!({"reason": "  "})).await;
    assert_eq!(s, 422, "{b}");
    let (s, _) = app.post("/api/v1/anomalies/999999/dismiss", json!({"reason": "x"})).await;
    assert_eq!(s, 404);

    // Analysts and managers never see findings, nor dismiss them.
    for role in [("analyst", None), ("manager", Some("Kandy")), ("agent", Some("ANOM2"))] {
        let c = app.client_as(role.0, role.1).await;
        assert_eq!(c.get("/api/v1/anomalies").await.0, 403, "{}", role.0);
        assert_eq!(c.post(&format!("/api/v1/anomalies/{id}/dismiss"), json!({"reason": "x"})).await.0, 403);
    }

    let (s, b) =
        app.post(&format!("/api/v1/anomalies/{id}/dismiss"), json!({"reason": "agent re-keyed one policy"})).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["status"], "dismissed");
    assert_eq!(b["dismiss_reason"], "agent re-keyed one policy");
    let (s, _) = app.post(&format!("/api/v1/anomalies/{id}/dismiss"), json!({"reason": "again"})).await;
    assert_eq!(s, 409);
    let (_, open) = app.get("/api/v1/anomalies").await;
    assert!(open["items"].as_array().unwrap().iter().all(|i| i["id"] != id), "{open}");
    let (_, trail) = app.get(&format!("/api/v1/audit?action=anomaly.dismiss&entity=anomaly&entity_id={id}")).await;
    let entries = trail["items"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{trail}");
    assert_eq!(entries[0]["changes"]["reason"], "agent re-keyed one policy");
    app.wait_for("/api/v1/anomalies?status=dismissed", Duration::from_secs(10), |b| {
        b["items"].as_array().unwrap().iter().any(|i| i["id"] == id)
    })
    .await;
}

on_every_backend_with!(data, super::super::fast, data_detectors_explain_what_fired, dismissal_dedup_metric_and_access);

/// Low thresholds and no sign-in locks, so the security scenario stays short; the loopback
/// peer is a trusted proxy, so `X-Forwarded-For` names the client.
fn security(c: &mut moon_server::Config) {
    fast(c);
    c.security.throttle.account_free_failures = 1000;
    c.security.throttle.ip_free_failures = 1000;
    c.security.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    c.anomalies.failed_sign_ins.account_failures = 4;
    c.anomalies.failed_sign_ins.address_failures = 6;
    c.anomalies.token_addresses.addresses = 3;
    c.anomalies.permission_denied.count = 5;
    c.anomalies.sales_burst.count = 5;
}

/// Failed sign-ins (per account and per address), a sign-in from a new address, one token from
/// many addresses, a burst of refusals and a burst of sales are each found.
async fn security_detectors_fire(app: &TestApp) {
    detection_started(app).await;
    let (user, name, password) = app.user("manager", Some("Colombo")).await;
    // A success clears an account's failures (the throttle's rule), so the guessed account is
    // another one.
    let (_, guessed, _) = app.user("manager", Some("Kandy")).await;
    let from = |ip: &str| app.anonymous().with_header("x-forwarded-for", ip);
    for _ in 0..4 {
        assert_eq!(from("192.0.2.50").sign_in(&guessed, "wrong password").await.status(), 401);
    }
    for _ in 0..2 {
        assert_eq!(from("192.0.2.50").sign_in("nobody-at-all", "wrong").await.status(), 401);
    }
    assert_eq!(from("203.0.113.7").sign_in(&name, &password).await.status(), 200);
    assert_eq!(from("203.0.113.7").sign_in(&name, &password).await.status(), 200);
    assert_eq!(from("198.51.100.9").sign_in(&name, &password).await.status(), 200);

    app.agent("ANOM3", "Colombo", "Alpha").await;
    let (s, t) = app.post("/api/v1/tokens", json!({"name": "ci"})).await;
    assert_eq!(s, 201, "{t}");
    let secret = t["secret"].as_str().unwrap().to_owned();
    for ip in ["198.51.100.1", "198.51.100.2", "198.51.100.3"] {
        let (s, b) = app.bearer(&secret).with_header("x-forwarded-for", ip).get("/api/v1/agents").await;
        assert_eq!(s, 200, "{b}");
    }
    let analyst = app.client_as("analyst", None).await;
    for _ in 0..5 {
        assert_eq!(analyst.get("/api/v1/users").await.0, 403);
    }
    let product = app.product("Anomaly Health", "1000000.00").await;
    for k in 0..5 {
        app.sale("ANOM3", product, &format!("{}.00", 10_000 + k), &day(app, 1)).await;
    }

    let items = findings(
        app,
        &[
            "failed_sign_ins_account",
            "failed_sign_ins_address",
            "new_sign_in_address",
            "token_many_addresses",
            "permission_denied_burst",
            "sales_burst",
        ],
    )
    .await;
    let account = of(&items, "failed_sign_ins_account");
    assert_eq!(account.len(), 1, "the unknown name failed twice only: {items:?}");
    assert_eq!(account[0]["subject"], format!("account:{guessed}"));
    assert!(account[0]["why"].as_str().unwrap().starts_with("4 failed sign-ins for account:"), "{}", account[0]["why"]);
    let address = of(&items, "failed_sign_ins_address");
    assert_eq!(address[0]["subject"], "address:192.0.2.50");
    let new = of(&items, "new_sign_in_address");
    assert_eq!(new.len(), 1, "the first sign-in has no pattern; the second came from a known address: {items:?}");
    assert_eq!(new[0]["subject"], format!("user:{user} from 198.51.100.9"));
    assert!(new[0]["why"].as_str().unwrap().contains("none of their 2 earlier sign-ins"), "{}", new[0]["why"]);
    let tokens = of(&items, "token_many_addresses");
    assert_eq!(tokens.len(), 1, "{items:?}");
    assert!(tokens[0]["why"].as_str().unwrap().contains("198.51.100.1, 198.51.100.2, 198.51.100.3"));
    let denied = of(&items, "permission_denied_burst");
    assert_eq!(denied.len(), 1, "{items:?}");
    assert!(denied[0]["why"].as_str().unwrap().starts_with("5 requests refused (403)"), "{}", denied[0]["why"]);
    let burst = of(&items, "sales_burst");
    assert_eq!(burst.len(), 1, "{items:?}");
    assert!(burst[0]["why"].as_str().unwrap().contains("sales recorded"), "{}", burst[0]["why"]);
}

on_every_backend_with!(signals, super::super::security, security_detectors_fire);

/// The demo data (thirteen months of sales, loaded by the operator) raises no finding.
async fn the_demo_data_raises_nothing(app: &TestApp) {
    detection_started(app).await;
    let today = app.config.business.today(chrono::Utc::now());
    moon_server::demo::load(&app.store, today).await.unwrap();
    let mut q = Query::select();
    q.expr(Func::max(Expr::col("id"))).from("sales");
    let (last,): (Option<i64>,) = app.store.fetch_optional(&q).await.unwrap().unwrap();
    scanned(app, last.unwrap()).await;
    // One more interval, for the security detectors.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (s, b) = app.get("/api/v1/anomalies?status=all").await;
    assert_eq!(s, 200);
    assert_eq!(b["items"], json!([]), "the demo is ordinary: {b}");
}

on_every_backend_with!(demo, super::super::fast, the_demo_data_raises_nothing);

/// The console page lists findings with why they fired, dismisses one after asking for a reason
/// (with the CSRF token), and is refused to anyone but admins.
async fn the_console_page_lists_and_dismisses(app: &TestApp) {
    use crate::web::{browser, csrf_of, page, post_form, sign_in_form};
    detection_started(app).await;
    app.agent("ANOM4", "Matara", "Gamma").await;
    let product = app.product("Anomaly Console", "1000000.00").await;
    app.sale("ANOM4", product, "12345.00", &day(app, 1)).await;
    app.sale("ANOM4", product, "12345.00", &day(app, 1)).await;
    let items = findings(app, &["duplicate_sale"]).await;
    let id = of(&items, "duplicate_sale")[0]["id"].as_i64().unwrap();

    let (_, admin_name, admin_pw) = app.user("admin", None).await;
    let cookie = sign_in_form(app, &admin_name, &admin_pw).await;
    let b = browser();
    let (s, _, html) = page(&b, app, "/anomalies", Some(&cookie)).await;
    assert_eq!(s, 200, "{html}");
    assert!(html.contains("href=\"/anomalies\""), "the navigation offers the page to admins");
    let start = html.find(&format!("data-anomaly=\"{id}\"")).expect("a row for the finding");
    let row = &html[start..start + html[start..].find("</tr>").unwrap()];
    assert!(row.contains("2 sales of 12,345.00 by agent ANOM4") && row.contains("Yes, dismiss"), "{row}");
    let csrf = csrf_of(&html);
    let path = format!("/anomalies/{id}/dismiss");
    let (s, _, _) = post_form(&b, app, &path, &cookie, &[("reason", "known")]).await;
    assert_eq!(s, 403, "no CSRF token, no dismissal");
    let (s, _, _) = post_form(&b, app, &path, &cookie, &[("csrf_token", &csrf), ("reason", " ")]).await;
    assert_eq!(s, 422, "a reason is required");
    let (s, _, _) = post_form(&b, app, &path, &cookie, &[("csrf_token", &csrf), ("reason", "two real policies")]).await;
    assert_eq!(s, 303);
    let (_, _, html) = page(&b, app, "/anomalies?status=dismissed", Some(&cookie)).await;
    assert!(html.contains("Dismissed: two real policies"), "{html}");
    let analyst = app.client_as("analyst", None).await;
    let r = analyst.request(reqwest::Method::GET, "/anomalies").header("accept", "text/html").send().await.unwrap();
    assert_eq!(r.status(), 403);
}

fn console(c: &mut moon_server::Config) {
    fast(c);
    c.security.mfa_required_roles.clear();
}

on_every_backend_with!(web_console, super::super::console, the_console_page_lists_and_dismisses);

/// An admin who chose e-mail gets each finding by e-mail too, through the delivery pipeline.
async fn admins_who_chose_email_get_findings_by_email(backend: moon_db::Backend) {
    let sink = moon_testkit::SmtpSink::start().await;
    let port = sink.port();
    let Some(app) = TestApp::spawn_with(backend, move |c| {
        fast(c);
        c.notifications.smtp = Some(crate::common::loopback_smtp(port));
        c.notifications.delivery_interval_ms = 50;
    })
    .await
    else {
        return;
    };
    detection_started(&app).await;
    let (s, p) = app.put("/api/v1/notifications/preferences", json!({"email": true})).await;
    assert_eq!(s, 200, "{p}");
    let admin = p["user_id"].as_i64().unwrap();
    let (s, u) = app.patch(&format!("/api/v1/users/{admin}"), json!({"email": "admin@moon.test"})).await;
    assert_eq!(s, 200, "{u}");
    app.agent("ANOM5", "Jaffna", "Zeta").await;
    let product = app.product("Anomaly Mail", "1000000.00").await;
    app.sale("ANOM5", product, "777.00", &day(&app, 1)).await;
    app.sale("ANOM5", product, "777.00", &day(&app, 1)).await;
    let mail = sink.wait_for(1, Duration::from_secs(30)).await.remove(0);
    assert_eq!(mail.to, ["admin@moon.test"], "{mail:?}");
    assert!(mail.text().contains("duplicate_sale") && mail.text().contains("2 sales of 777.00"), "{mail:?}");
    app.stop().await;
}

mod email {
    macro_rules! email_on {
        ($($name:ident => $backend:ident),*) => {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                super::admins_who_chose_email_get_findings_by_email(moon_db::Backend::$backend).await;
            })*
        };
    }
    email_on!(sqlite => Sqlite, postgres => Postgres, mysql => MySql);
}
