//! Retention (issue 17, item 3): old sessions, throttle rows and applied change-log entries are
//! removed and counted; recent ones stay; the audit trail is cut only behind a signed
//! checkpoint and still verifies afterwards.

use std::time::Duration;

use crate::common::TestApp;
use chrono::Utc;
use moon_db::sea_query::{Expr, ExprTrait, Func, Query};
use moon_server::retention::{RetentionSettings, run};

const KEY: &str = "a checkpoint key of at least thirty-two characters";

async fn count(app: &TestApp, table: &'static str) -> i64 {
    let mut q = Query::select();
    q.expr(Func::count(Expr::col(moon_db::sea_query::Asterisk))).from(table);
    app.store.fetch_optional::<(i64,)>(&q).await.unwrap().unwrap().0
}

async fn backdate(app: &TestApp, table: &'static str, column: &'static str, days: i64) {
    let mut q = Query::update();
    q.table(table).value(column, Utc::now() - chrono::Duration::days(days));
    let mut tx = app.store.begin().await.unwrap();
    tx.execute(&q).await.unwrap();
    tx.commit().await.unwrap();
}

/// Waits until every change-log consumer has applied the whole log.
async fn consumers_caught_up(app: &TestApp) {
    let started = std::time::Instant::now();
    loop {
        let mut min = Query::select();
        min.expr(Func::min(Expr::col("applied_id"))).from("change_cursors");
        let applied = app.store.fetch_optional::<(Option<i64>,)>(&min).await.unwrap().and_then(|r| r.0).unwrap_or(0);
        let last = moon_changelog::last_id(&app.store).await.unwrap();
        if applied >= last && last > 0 {
            return;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "consumers did not catch up: {applied} < {last}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Old sessions, idle throttle rows and applied change-log entries go, counted per table; a
/// fresh throttle row stays; the audit trail is left alone without a checkpoint. (A failed
/// sign-in also forgets throttle rows older than an hour; retention covers the quiet times.)
async fn retention_removes_old_rows_and_reports_counts(app: &TestApp) {
    app.agent("RET1", "Colombo", "Alpha").await;
    app.agent("RET2", "Colombo", "Alpha").await;
    let (_, name, pw) = app.user("analyst", None).await;
    assert_eq!(app.anonymous().sign_in(&name, &pw).await.status(), 200);
    assert_eq!(app.anonymous().sign_in(&name, "wrong password!!").await.status(), 401);
    let sessions = count(app, "sessions").await;
    let throttles = count(app, "sign_in_throttle").await;
    assert!(sessions >= 1 && throttles >= 1, "{sessions} sessions, {throttles} throttle rows");
    backdate(app, "sessions", "expires_at", 40).await;
    backdate(app, "sign_in_throttle", "last_failure_at", 40).await;
    consumers_caught_up(app).await;
    backdate(app, "change_log", "changed_at", 40).await;
    let entries = count(app, "change_log").await;
    assert!(entries >= 2);
    let audit_before = count(app, "audit_log").await;

    let report = run(&app.store, &RetentionSettings::default(), Utc::now()).await.unwrap();
    assert_eq!(report.removed["sessions"], sessions as u64, "{report:?}");
    assert_eq!(report.removed["sign_in_throttle"], throttles as u64, "{report:?}");
    assert_eq!(report.removed["change_log"], entries as u64, "{report:?}");
    assert_eq!(report.removed["notification_deliveries"], 0);
    assert!(report.skipped.contains_key("audit_log") && report.skipped.contains_key("notifications"), "{report:?}");
    assert_eq!(count(app, "sessions").await, 0);
    assert_eq!(count(app, "sign_in_throttle").await, 0);
    assert_eq!(count(app, "change_log").await, 0);
    assert!(count(app, "audit_log").await >= audit_before, "nothing left the audit trail");
    // A fresh failure is recent: a second run keeps it, and finds nothing else to remove.
    assert_eq!(app.anonymous().sign_in(&name, "wrong password!!").await.status(), 401);
    let again = run(&app.store, &RetentionSettings::default(), Utc::now()).await.unwrap();
    assert_eq!(again.removed.values().sum::<u64>(), 0, "{again:?}");
    assert!(count(app, "sign_in_throttle").await >= 1, "the recent failure is kept");
}

/// Audit entries older than the retention go only behind a signed checkpoint; afterwards the
/// chain verifies from its horizon, the checkpoint still matches, and an edit is still caught.
async fn audit_pruning_keeps_the_chain_verifiable(app: &TestApp) {
    for code in ["AUD1", "AUD2", "AUD3"] {
        app.agent(code, "Galle", "Gamma").await;
    }
    let checkpoint = moon_server::audit::checkpoint(&app.store).await.unwrap().unwrap();
    let line = checkpoint.sign(KEY.as_bytes()).unwrap();
    app.agent("AUD4", "Galle", "Gamma").await;
    let total = count(app, "audit_log").await;
    // Six years on, with five years' retention: every entry is old enough.
    let later = Utc::now() + chrono::Duration::days(6 * 365);
    let mut settings = RetentionSettings { audit_years: 5, ..Default::default() };

    // Without the checkpoint nothing is pruned.
    let report = run(&app.store, &settings, later).await.unwrap();
    assert!(report.skipped["audit_log"].contains("checkpoint"), "{report:?}");
    assert_eq!(count(app, "audit_log").await, total);

    // A checkpoint under another key is refused, and nothing is pruned.
    settings.audit_checkpoint = Some(moon_server::Secret::new(line.clone()));
    settings.audit_checkpoint_key = Some(moon_server::Secret::new("another key of at least thirty-two characters"));
    assert!(run(&app.store, &settings, later).await.is_err());
    assert_eq!(count(app, "audit_log").await, total);

    settings.audit_checkpoint_key = Some(moon_server::Secret::new(KEY));
    let report = run(&app.store, &settings, later).await.unwrap();
    // Everything before the checkpoint's entry goes; it and what followed stay, plus the
    // entry that records the pruning.
    let pruned = (checkpoint.last_id - 1) as u64;
    assert_eq!(report.removed["audit_log"], pruned, "{report:?}");
    assert_eq!(count(app, "audit_log").await, total - pruned as i64 + 1);
    let v = moon_server::audit::verify(&app.store).await.unwrap();
    assert_eq!(v.broken, None, "{v:?}");
    let v = moon_server::audit::verify_against(&app.store, &checkpoint).await.unwrap();
    assert_eq!(v.broken, None, "{v:?}");
    let horizon = moon_server::audit::horizon(&app.store).await.unwrap().unwrap();
    assert_eq!(horizon.first_id, checkpoint.last_id);
    let (_, trail) = app.get("/api/v1/audit?action=audit.prune").await;
    assert_eq!(trail["items"].as_array().unwrap().len(), 1, "{trail}");

    // The chain still shows an edit after the horizon.
    let mut edit = Query::update();
    edit.table("audit_log").value("actor", "user:999").and_where(Expr::col("id").eq(horizon.first_id));
    let mut tx = app.store.begin().await.unwrap();
    tx.execute(&edit).await.unwrap();
    tx.commit().await.unwrap();
    let v = moon_server::audit::verify(&app.store).await.unwrap();
    assert_eq!(v.broken.map(|b| b.0), Some(horizon.first_id));
}

on_every_backend!(audit_pruning_keeps_the_chain_verifiable, retention_prunes_old_deliveries_and_read_notifications);

// Without the aggregator in process, which prunes applied entries as soon as it has them, the
// change log keeps them for retention to decide (the notification rules are its consumer).
on_every_backend_with!(
    without_aggregator,
    |c: &mut moon_server::Config| c.aggregate_interval = std::time::Duration::ZERO,
    retention_removes_old_rows_and_reports_counts
);

/// Inserts a delivery row of notification `note` with `status`, last touched `days` ago.
async fn delivery(app: &TestApp, note: i64, status: &str, days: i64) -> i64 {
    use moon_db::sea_query::Value;
    let at = Utc::now() - chrono::Duration::days(days);
    let stmt = moon_db::insert_row(
        "notification_deliveries",
        vec![
            ("notification_id", Value::from(note)),
            ("channel", Value::from("email")),
            ("payload", Value::from("{\"message\":\"hello\"}")),
            ("status", Value::from(status)),
            ("attempts", Value::from(1_i64)),
            ("next_attempt_at", Value::from(at)),
            ("created_at", Value::from(at)),
            ("updated_at", Value::from(at)),
        ],
    );
    let mut tx = app.store.begin().await.unwrap();
    let id = tx.insert(&stmt).await.unwrap();
    tx.commit().await.unwrap();
    id
}

async fn ids(app: &TestApp, table: &'static str) -> Vec<i64> {
    let mut q = Query::select();
    q.column("id").from(table).order_by("id", moon_db::sea_query::Order::Asc);
    app.store.fetch_all::<(i64,)>(&q).await.unwrap().into_iter().map(|(i,)| i).collect()
}

/// Finished deliveries older than the limit go and recent or unfinished ones stay; notifications
/// read longer ago than the limit go, and recently read and unread ones stay.
async fn retention_prunes_old_deliveries_and_read_notifications(app: &TestApp) {
    app.agent("RET3", "Colombo", "Alpha").await;
    let mut notes = Vec::new();
    for text in ["read long ago", "read today", "unread"] {
        let (s, n) =
            app.post("/api/v1/notifications", serde_json::json!({"agent_code": "RET3", "message": text})).await;
        assert_eq!(s, 201, "{n}");
        notes.push(n["id"].as_i64().unwrap());
    }
    for id in &notes[..2] {
        let (s, b) = app.patch(&format!("/api/v1/notifications/{id}"), serde_json::json!({"read": true})).await;
        assert_eq!(s, 200, "{b}");
    }
    let mut q = Query::update();
    q.table("notifications")
        .value("read_at", Utc::now() - chrono::Duration::days(40))
        .and_where(Expr::col("id").eq(notes[0]));
    let mut tx = app.store.begin().await.unwrap();
    tx.execute(&q).await.unwrap();
    tx.commit().await.unwrap();
    let before = ids(app, "notification_deliveries").await;
    let old_delivered = delivery(app, notes[2], "delivered", 100).await;
    let old_dead = delivery(app, notes[2], "dead", 100).await;
    let recent = delivery(app, notes[2], "delivered", 10).await;
    let pending = delivery(app, notes[2], "pending", 100).await;

    let settings = RetentionSettings { read_notifications_days: 30, ..RetentionSettings::default() };
    let report = run(&app.store, &settings, Utc::now()).await.unwrap();
    assert_eq!(report.removed["notifications"], 1, "{report:?}");
    assert_eq!(report.removed["notification_deliveries"], 2, "{report:?}");
    let left = ids(app, "notifications").await;
    assert!(!left.contains(&notes[0]) && left.contains(&notes[1]) && left.contains(&notes[2]), "{left:?}");
    let mut expected = before;
    expected.extend([recent, pending]);
    assert_eq!(ids(app, "notification_deliveries").await, expected);
    assert!(![old_delivered, old_dead].iter().any(|d| expected.contains(d)));
}
