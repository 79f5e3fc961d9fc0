//! The audit trail on every backend: what is recorded, who may read it, and that editing or
//! deleting history is detected.

use crate::common::TestApp;
use moon_db::sea_query::{Expr, ExprTrait, Query};
use serde_json::{Value, json};

async fn entries(app: &TestApp, query: &str) -> Vec<Value> {
    let (s, b) = app.get(&format!("/api/v1/audit?{query}")).await;
    assert_eq!(s, 200, "{b}");
    b["items"].as_array().unwrap().clone()
}

/// A busy log: mutations of every kind, security events and concurrent writers; the chain stays
/// whole, the entries say who did what, and personal values never appear.
async fn a_busy_log_verifies_and_masks_personal_data(app: &TestApp) {
    let id = app.agent("AU1", "Colombo", "Alpha").await;
    let (s, _) = app.patch(&format!("/api/v1/agents/{id}"), json!({"first_name": "Kasun", "team": "Beta"})).await;
    assert_eq!(s, 200);
    let p = app.product("Audit product", "100.00").await;
    let sale = app.sale("AU1", p, "12.50", "2026-05-01").await;
    app.patch(&format!("/api/v1/sales/{sale}"), json!({"amount": "13.00"})).await;
    app.delete(&format!("/api/v1/sales/{sale}")).await;
    app.post("/api/v1/notifications", json!({"agent_code": "AU1", "message": "Kasun did well"})).await;
    // Security events: a failed sign-in and a refused route.
    let r = app.anonymous().sign_in("nobody-here", "wrong password 123").await;
    assert_eq!(r.status(), 401);
    let agent = app.client_as("agent", Some("AU1")).await;
    let (s, _) = agent.get("/api/v1/audit").await;
    assert_eq!(s, 403, "only admins read the audit trail");
    // Concurrent writers append without breaking the chain.
    let mut writers = Vec::new();
    for i in 0..12 {
        let client = app.admin();
        writers.push(tokio::spawn(async move {
            client
                .post("/api/v1/sales", json!({"agent_code": "AU1", "product_id": p, "amount": format!("{}.00", 20 + i), "sale_date": "2026-05-02"}))
                .await
        }));
    }
    for w in writers {
        assert_eq!(w.await.unwrap().0, 201);
    }

    let verdict = moon_server::audit::verify(&app.store).await.unwrap();
    assert_eq!(verdict.broken, None);
    assert!(verdict.entries >= 20, "{verdict:?}");

    let updates = entries(app, "action=agent.update").await;
    assert_eq!(updates.len(), 1);
    let u = &updates[0];
    assert!(u["actor"].as_str().unwrap().starts_with("user:"));
    assert_eq!(u["actor_role"], "admin");
    assert_eq!(u["entity_id"], id.to_string());
    assert_eq!(u["changes"]["team"], json!({"before": "Alpha", "after": "Beta"}));
    assert_eq!(u["changes"]["first_name"], json!({"before": "***", "after": "***"}));
    assert!(u["request_id"].as_str().is_some_and(|r| !r.is_empty()));
    assert!(u["source_ip"].as_str().is_some_and(|ip| ip.starts_with("127.")));
    let denied = entries(app, "action=auth.permission_denied").await;
    assert_eq!(denied[0]["actor_role"], "agent");
    assert_eq!(entries(app, "action=auth.sign_in_failed").await[0]["actor"], "anonymous");
    assert_eq!(entries(app, "entity=sale&action=sale.").await.len(), 15, "3 changes of one sale + 12 new ones");
    let all = entries(app, "limit=500").await;
    let text = Value::Array(all.clone()).to_string();
    assert!(!text.contains("Kasun") && !text.contains("nobody-here"), "personal data in the trail: {text}");
    // Newest first, paged by cursor.
    let (_, first) = app.get("/api/v1/audit?limit=5").await;
    let cursor = first["page"]["next_cursor"].as_str().unwrap().to_owned();
    let (_, second) = app.get(&format!("/api/v1/audit?limit=5&cursor={cursor}")).await;
    assert!(second["items"][0]["id"].as_i64().unwrap() < first["items"][4]["id"].as_i64().unwrap() + 1);
    let (s, _) = app.get("/api/v1/audit?from=yesterday").await;
    assert_eq!(s, 422);
}

/// Editing an entry, deleting one in the middle or deleting the last is detected, and the
/// verdict names the first broken entry.
async fn tampering_is_detected(app: &TestApp) {
    app.agent("TA1", "Kandy", "Gamma").await;
    for team in ["Delta", "Alpha", "Beta", "Gamma"] {
        let (_, list) = app.get("/api/v1/agents?agent_code=TA1").await;
        let id = list["items"][0]["id"].as_i64().unwrap();
        app.patch(&format!("/api/v1/agents/{id}"), json!({"team": team})).await;
    }
    assert_eq!(moon_server::audit::verify(&app.store).await.unwrap().broken, None);

    let edit = |id: i64| {
        let mut q = Query::update();
        q.table("audit_log").value("actor", "user:999").and_where(Expr::col("id").eq(id));
        q
    };
    let mut tx = app.store.begin().await.unwrap();
    tx.execute(&edit(3)).await.unwrap();
    tx.commit().await.unwrap();
    let v = moon_server::audit::verify(&app.store).await.unwrap();
    assert_eq!(v.broken.as_ref().map(|b| b.0), Some(3), "{v:?}");

    // Deleting an entry in the middle.
    let mut tx = app.store.begin().await.unwrap();
    let mut undo = Query::update();
    undo.table("audit_log").value("actor", "x").and_where(Expr::col("id").eq(-1i64));
    tx.execute(&undo).await.unwrap();
    let mut del = Query::delete();
    del.from_table("audit_log").and_where(Expr::col("id").lte(3));
    tx.execute(&del).await.unwrap();
    tx.commit().await.unwrap();
    let v = moon_server::audit::verify(&app.store).await.unwrap();
    assert_eq!(v.broken.as_ref().map(|b| b.0), Some(1), "{v:?}");
    assert!(v.broken.unwrap().1.contains("missing"));
}

/// Deleting the newest entry (no successor to break) is caught through the sequence.
async fn deleting_the_newest_entry_is_detected(app: &TestApp) {
    app.agent("TB1", "Galle", "Gamma").await;
    app.agent("TB2", "Galle", "Gamma").await;
    assert_eq!(moon_server::audit::verify(&app.store).await.unwrap().broken, None);
    let mut last = Query::select();
    last.expr(Expr::col("id").max()).from("audit_log");
    let (newest,): (i64,) = app.store.fetch_optional(&last).await.unwrap().unwrap();
    let mut tx = app.store.begin().await.unwrap();
    let mut del = Query::delete();
    del.from_table("audit_log").and_where(Expr::col("id").eq(newest));
    tx.execute(&del).await.unwrap();
    tx.commit().await.unwrap();
    let v = moon_server::audit::verify(&app.store).await.unwrap();
    assert_eq!(v.broken.as_ref().map(|b| b.0), Some(newest), "{v:?}");
}

/// Cutting the tail off and lowering the sequence row to match leaves a chain that verifies;
/// a signed checkpoint taken before catches it, and catches a chain rewritten from scratch.
async fn a_checkpoint_catches_truncation_and_rewriting(app: &TestApp) {
    use moon_server::audit::{Checkpoint, checkpoint, verify_against};
    for code in ["TC1", "TC2", "TC3"] {
        app.agent(code, "Galle", "Gamma").await;
    }
    let key = b"a checkpoint key kept outside the database";
    let taken = checkpoint(&app.store).await.unwrap().unwrap();
    assert!(taken.last_id >= 3);
    let line = taken.sign(key).unwrap();
    assert!(line.starts_with("moon-audit-checkpoint/v1 last_id="), "{line}");
    let opened = Checkpoint::open(&format!("2026-12-06T10:00:00Z INFO {line}"), key).unwrap();
    assert_eq!(opened, taken, "a log prefix is ignored; microseconds survive");
    assert!(Checkpoint::open(&line, b"another key that is also long enough!!").is_err(), "signed");
    let forged = line.replacen(&format!("last_id={}", taken.last_id), "last_id=1", 1);
    assert!(Checkpoint::open(&forged, key).is_err(), "a changed line fails its signature");
    assert_eq!(verify_against(&app.store, &taken).await.unwrap().broken, None, "intact");
    app.agent("TC4", "Galle", "Gamma").await;
    assert_eq!(verify_against(&app.store, &taken).await.unwrap().broken, None, "new entries are fine");

    // Truncate: delete every entry from the checkpoint's on, and lower the sequence to match.
    let mut tx = app.store.begin().await.unwrap();
    let mut del = Query::delete();
    del.from_table("audit_log").and_where(Expr::col("id").gte(taken.last_id));
    tx.execute(&del).await.unwrap();
    let mut seq = Query::update();
    seq.table("change_sequence").value("last_id", taken.last_id - 1).and_where(Expr::col("name").eq("audit_log"));
    tx.execute(&seq).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(moon_server::audit::verify(&app.store).await.unwrap().broken, None, "the gap the checkpoint closes");
    let v = verify_against(&app.store, &taken).await.unwrap();
    assert_eq!(v.broken.as_ref().map(|b| b.0), Some(taken.last_id), "{v:?}");
    assert!(v.broken.unwrap().1.contains("cut short"));

    // Rewrite: new entries under the old ids make a chain that verifies on its own.
    while checkpoint(&app.store).await.unwrap().unwrap().last_id < taken.last_id {
        app.agent(&format!("TR{}", checkpoint(&app.store).await.unwrap().unwrap().last_id), "Galle", "Gamma").await;
    }
    assert_eq!(moon_server::audit::verify(&app.store).await.unwrap().broken, None);
    let v = verify_against(&app.store, &taken).await.unwrap();
    assert_eq!(v.broken.as_ref().map(|b| b.0), Some(taken.last_id), "{v:?}");
    assert!(v.broken.unwrap().1.contains("rewritten"));
}

on_every_backend!(
    a_busy_log_verifies_and_masks_personal_data,
    tampering_is_detected,
    deleting_the_newest_entry_is_detected,
    a_checkpoint_catches_truncation_and_rewriting
);
