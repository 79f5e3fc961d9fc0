//! Bulk import, external references, Idempotency-Key and integration tokens (issue 19, items
//! 4-6), on every backend.

use crate::common::TestApp;
use moon_db::sea_query::{Expr, ExprTrait, Func, Query};
use serde_json::{Value, json};

on_every_backend_with!(
    import_scenarios,
    |c| c.aggregate_interval = std::time::Duration::ZERO,
    idempotent_retries_replay_and_store_nothing_twice,
    a_retry_after_a_crash_never_writes_twice,
    external_references_are_unique_per_source_system,
    imports_validate_every_row_and_report_by_line,
    re_imports_add_nothing_and_the_change_log_carries_every_sale,
);

on_every_backend_with!(
    rate_classes,
    |c| {
        c.security.mfa_required_roles.clear();
        use moon_server::auth::ratelimit::{Limit, RateLimits};
        c.security.rate_limits.write = Limit { per_minute: 1, burst: 5 };
        c.security.rate_classes.insert(
            String::from("integration"),
            RateLimits { write: Limit { per_minute: 60_000, burst: 1_000 }, ..RateLimits::default() },
        );
    },
    integration_tokens_draw_on_their_own_rate_class,
);

async fn count(app: &TestApp, table: &str, cond: Option<Expr>) -> i64 {
    let mut q = Query::select();
    q.expr(Func::count(Expr::col("id"))).from(table.to_owned());
    q.and_where_option(cond);
    let (n,): (i64,) = app.store.fetch_optional(&q).await.unwrap().unwrap();
    n
}

async fn sales(app: &TestApp) -> i64 {
    count(app, "sales", None).await
}

async fn sale_entries(app: &TestApp) -> i64 {
    count(app, "change_log", Some(Expr::col("entity").eq("sale"))).await
}

async fn import_audits(app: &TestApp) -> i64 {
    count(app, "audit_log", Some(Expr::col("action").eq("sale.import"))).await
}

/// Sends a file to the import route; (status, content type, body text).
async fn upload(app: &TestApp, query: &str, content_type: &str, accept: &str, body: &str) -> (u16, String, String) {
    let request = app.request(reqwest::Method::POST, &format!("/api/v1/sales/import{query}"));
    crate::common::send_file(request, content_type, accept, body).await
}

async fn upload_json(app: &TestApp, query: &str, content_type: &str, body: &str) -> (u16, Value) {
    let request = app.request(reqwest::Method::POST, &format!("/api/v1/sales/import{query}"));
    crate::common::send_file_json(request, content_type, body).await
}

async fn idempotent_retries_replay_and_store_nothing_twice(app: &TestApp) {
    app.agent("IDM001", "Colombo", "Alpha").await;
    let product = app.product("Idem Life", "1000.00").await;
    let body = json!({"agent_code": "IDM001", "product_id": product, "amount": "100.00", "sale_date": "2024-01-05"});
    let keyed = app.admin().with_header("idempotency-key", "retry-1");
    let before = sales(app).await;
    let entries = sale_entries(app).await;

    let first = keyed.request(reqwest::Method::POST, "/api/v1/sales").json(&body).send().await.unwrap();
    assert_eq!(first.status(), 201);
    assert!(first.headers().get("idempotent-replayed").is_none());
    let first: Value = first.json().await.unwrap();
    let again = keyed.request(reqwest::Method::POST, "/api/v1/sales").json(&body).send().await.unwrap();
    assert_eq!(again.status(), 201, "a retry gets the original status");
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again.json::<Value>().await.unwrap(), first, "and the original body");
    assert_eq!(sales(app).await, before + 1, "the retry stored nothing");
    assert_eq!(sale_entries(app).await, entries + 1, "nor a second change-log entry");

    // The same key with another body is a client error, and stores nothing either.
    let other = json!({"agent_code": "IDM001", "product_id": product, "amount": "999.00", "sale_date": "2024-01-05"});
    let (s, p) = keyed.post("/api/v1/sales", other).await;
    assert_eq!((s, p["code"].as_str()), (422, Some("idempotency_key_reused")), "{p}");
    assert_eq!(sales(app).await, before + 1);

    // A key belongs to its principal: another caller's same key is a new request.
    let manager = app.client_as("manager", Some("Colombo")).await.with_header("idempotency-key", "retry-1");
    let (s, _) = manager.post("/api/v1/sales", body.clone()).await;
    assert_eq!(s, 201);
    assert_eq!(sales(app).await, before + 2);

    // Errors are answers too: a retry of a 422 gets the same 422.
    let bad = app.admin().with_header("idempotency-key", "bad-1");
    let (s1, p1) = bad.post("/api/v1/sales", json!({"amount": "x"})).await;
    let (s2, p2) = bad.post("/api/v1/sales", json!({"amount": "x"})).await;
    assert_eq!((s1, s2), (422, 422));
    assert_eq!(p1, p2);

    // Every POST of the API takes it: an agent created twice with one key exists once.
    let agent = json!({"agent_code": "IDM002", "first_name": "I", "last_name": "D", "branch": "Kandy", "team": "Beta"});
    let a = app.admin().with_header("idempotency-key", "agent-1");
    let (s1, b1) = a.post("/api/v1/agents", agent.clone()).await;
    let (s2, b2) = a.post("/api/v1/agents", agent).await;
    assert_eq!((s1, s2), (201, 201), "{b2}");
    assert_eq!(b1["id"], b2["id"]);

    // Concurrent duplicates: one writes, the others are told it is in progress or get its answer.
    let racing = app.admin().with_header("idempotency-key", "race-1");
    let body = json!({"agent_code": "IDM001", "product_id": product, "amount": "7.00", "sale_date": "2024-01-06"});
    let before = sales(app).await;
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let c = racing.clone();
            let b = body.clone();
            tokio::spawn(async move { c.post("/api/v1/sales", b).await })
        })
        .collect();
    let mut created = Vec::new();
    for t in tasks {
        let (s, b) = t.await.unwrap();
        match s {
            201 => created.push(b["id"].clone()),
            409 => assert_eq!(b["code"], "idempotency_in_progress", "{b}"),
            other => panic!("unexpected {other}: {b}"),
        }
    }
    assert!(!created.is_empty());
    assert!(created.iter().all(|id| *id == created[0]), "every 201 names the same sale: {created:?}");
    assert_eq!(sales(app).await, before + 1, "concurrent duplicates wrote once");

    let (s, p) = app.admin().with_header("idempotency-key", "bad key with spaces").post("/api/v1/sales", body).await;
    assert_eq!((s, p["code"].as_str()), (400, Some("invalid_idempotency_key")));
}

/// Makes the key's row look as a process that died after claiming it would leave it: no answer,
/// and claimed longer ago than a request can run.
async fn abandon(app: &TestApp, key: &str) {
    let mut q = Query::update();
    q.table("idempotency_keys")
        .value("status_code", Option::<i32>::None)
        .value("content_type", Option::<String>::None)
        .value("response_body", Option::<String>::None)
        .value("created_at", moon_db::now() - chrono::Duration::minutes(6))
        .and_where(Expr::col("idem_key").eq(key));
    let mut tx = app.store.begin().await.unwrap();
    assert_eq!(tx.execute(&q).await.unwrap(), 1, "the key {key} has a row");
    tx.commit().await.unwrap();
}

async fn a_retry_after_a_crash_never_writes_twice(app: &TestApp) {
    app.agent("IDC001", "Colombo", "Alpha").await;
    let product = app.product("Crash Life", "1000.00").await;
    let body = json!({"agent_code": "IDC001", "product_id": product, "amount": "250.00", "sale_date": "2024-02-05"});

    // The process died after the sale committed, before it kept the answer: the retry is told
    // what happened, and nothing is written again.
    let first = app.admin().with_header("idempotency-key", "crash-1").with_header("x-request-id", "crash-req-1");
    let (s, sale) = first.post("/api/v1/sales", body.clone()).await;
    assert_eq!(s, 201, "{sale}");
    abandon(app, "crash-1").await;
    let before = sales(app).await;
    let retry = app.admin().with_header("idempotency-key", "crash-1").with_header("x-request-id", "crash-req-2");
    let (s, p) = retry.post("/api/v1/sales", body.clone()).await;
    assert_eq!((s, p["code"].as_str()), (409, Some("idempotency_answer_lost")), "{p}");
    let detail = p["detail"].as_str().unwrap();
    assert!(detail.contains(&format!("sale {}", sale["id"])), "names the sale: {detail}");
    assert_eq!(sales(app).await, before, "the retry wrote nothing");
    let (s2, p2) = retry.post("/api/v1/sales", body.clone()).await;
    assert_eq!((s2, &p2), (409, &p), "every later retry is told the same");
    let other = json!({"agent_code": "IDC001", "product_id": product, "amount": "1.00", "sale_date": "2024-02-05"});
    let (s, p) = app.admin().with_header("idempotency-key", "crash-1").post("/api/v1/sales", other).await;
    assert_eq!((s, p["code"].as_str()), (422, Some("idempotency_key_reused")), "{p}");

    // The process died before its write committed (a 422 writes nothing; its row made to look
    // abandoned): the retry runs, once.
    let doomed = app.admin().with_header("idempotency-key", "crash-2").with_header("x-request-id", "crash-req-3");
    let (s, _) = doomed.post("/api/v1/sales", json!({"agent_code": "IDC001", "amount": "x"})).await;
    assert_eq!(s, 422);
    let mut reclaim = Query::update();
    reclaim
        .table("idempotency_keys")
        .value("request_hash", "0".repeat(64))
        .and_where(Expr::col("idem_key").eq("crash-2"));
    let mut tx = app.store.begin().await.unwrap();
    tx.execute(&reclaim).await.unwrap();
    tx.commit().await.unwrap();
    abandon(app, "crash-2").await;
    let before = sales(app).await;
    let (s, p) = doomed.post("/api/v1/sales", body.clone()).await;
    assert_eq!(s, 201, "an abandoned claim that wrote nothing is taken over: {p}");
    let (s, again) = doomed.post("/api/v1/sales", body).await;
    assert_eq!((s, &again), (201, &p), "and its answer is kept");
    assert_eq!(sales(app).await, before + 1);
}

async fn external_references_are_unique_per_source_system(app: &TestApp) {
    app.agent("EXT001", "Galle", "Gamma").await;
    let product = app.product("Ext Life", "1000.00").await;
    let sale = |source: &str, reference: &str| {
        json!({"agent_code": "EXT001", "product_id": product, "amount": "10.00", "sale_date": "2024-02-01",
               "source_system": source, "external_ref": reference})
    };
    let (s, first) = app.post("/api/v1/sales", sale("policy-admin", "PA-1")).await;
    assert_eq!(s, 201, "{first}");
    assert_eq!((first["source_system"].as_str(), first["external_ref"].as_str()), (Some("policy-admin"), Some("PA-1")));
    let id = first["id"].as_i64().unwrap();
    let (s, p) = app.post("/api/v1/sales", sale("policy-admin", "PA-1")).await;
    assert_eq!((s, p["code"].as_str()), (409, Some("duplicate_external_ref")), "{p}");
    assert!(p["detail"].as_str().unwrap().contains(&format!("sale {id}")), "the 409 names the existing sale: {p}");
    let (s, _) = app.post("/api/v1/sales", sale("broker-feed", "PA-1")).await;
    assert_eq!(s, 201, "the same reference from another system is another sale");
    let (_, got) = app.get(&format!("/api/v1/sales/{id}")).await;
    assert_eq!(got["external_ref"], "PA-1");

    let (s, p) = app
        .post(
            "/api/v1/sales",
            json!({"agent_code": "EXT001", "product_id": product, "amount": "10.00", "sale_date": "2024-02-01", "external_ref": "PA-2"}),
        )
        .await;
    assert_eq!(s, 422);
    assert_eq!(p["errors"][0]["field"], "source_system", "{p}");
}

fn codes(report: &Value) -> Vec<(u64, String, String)> {
    report["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["line"].as_u64().unwrap(),
                e["field"].as_str().unwrap().to_owned(),
                e["code"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

async fn imports_validate_every_row_and_report_by_line(app: &TestApp) {
    app.agent("IMP001", "Colombo", "Alpha").await;
    let product = app.product("Imp Life", "1000.00").await;
    let file = format!(
        "agent_code,product_id,amount,sale_date,policy_number\n\
         IMP001,{product},100.00,2024-03-01,\n\
         IMP001,x,abc,2024-13-01,\n\
         NOBODY,{product},5.00,2024-03-02,\n\
         IMP001,{product},12.50,2024-03-03,POL-IMP-1\n"
    );
    let before = sales(app).await;
    let audits = import_audits(app).await;

    // All or nothing (the default): every problem reported, nothing written.
    let (s, p) = upload_json(app, "", "text/csv", &file).await;
    assert_eq!((s, p["code"].as_str()), (422, Some("import_rejected")), "{p}");
    assert_eq!(
        codes(&p),
        [
            (3, String::from("product_id"), String::from("invalid_type")),
            (3, String::from("amount"), String::from("invalid_amount")),
            (3, String::from("sale_date"), String::from("invalid_date")),
            (4, String::from("agent_code"), String::from("unknown_agent")),
        ]
    );
    assert_eq!((p["report"]["rows_read"].as_u64(), p["report"]["rejected"].as_u64()), (Some(4), Some(2)));
    assert_eq!(p["report"]["applied"], false);
    assert_eq!(sales(app).await, before, "all or nothing wrote nothing");
    assert_eq!(import_audits(app).await, audits + 1, "one audit entry per import, rejected ones too");

    // Valid rows: the good ones go in, the report as CSV names the others.
    let (s, ct, csv) = upload(app, "?mode=valid_rows", "text/csv", "text/csv", &file).await;
    assert_eq!(s, 200, "{csv}");
    assert!(ct.starts_with("text/csv"), "{ct}");
    assert!(csv.contains("accepted=2") && csv.contains("rejected=2"), "{csv}");
    assert!(csv.contains("line,field,code,message\n"), "{csv}");
    assert!(csv.contains("\n3,product_id,invalid_type,"), "{csv}");
    assert!(csv.contains("\n4,agent_code,unknown_agent,"), "{csv}");
    assert_eq!(sales(app).await, before + 2);
    assert_eq!(import_audits(app).await, audits + 2);

    // JSON Lines, with the same rules; a policy number already used is refused by line.
    let lines = format!(
        "{{\"agent_code\":\"IMP001\",\"product_id\":{product},\"amount\":\"1.00\",\"sale_date\":\"2024-03-04\",\"external_ref\":\"J-1\"}}\n\
         {{\"agent_code\":\"IMP001\",\"product_id\":{product},\"amount\":\"2.00\",\"sale_date\":\"2024-03-04\",\"policy_number\":\"POL-IMP-1\"}}\n\
         not json\n"
    );
    let (s, p) = upload_json(app, "?mode=valid_rows&source_system=feed", "application/x-ndjson", &lines).await;
    assert_eq!(s, 200, "{p}");
    assert_eq!(
        codes(&p),
        [
            (2, String::from("policy_number"), String::from("duplicate_policy_number")),
            (3, String::from("row"), String::from("invalid_json"))
        ]
    );
    assert_eq!(p["accepted"], 1);
    let (_, list) = app.get("/api/v1/sales?limit=100").await;
    let j1 = list["items"].as_array().unwrap().iter().find(|s| s["external_ref"] == "J-1").cloned().unwrap();
    assert_eq!(j1["source_system"], "feed", "external_ref without source_system takes the import's");

    let (s, p) = upload_json(app, "?mode=sometimes", "text/csv", &file).await;
    assert_eq!((s, p["errors"][0]["field"].as_str()), (400, Some("mode")), "{p}");
    let (s, p) = upload_json(app, "", "application/pdf", "%PDF").await;
    assert_eq!((s, p["code"].as_str()), (415, Some("unsupported_media_type")));
    let (s, p) = upload_json(app, "", "text/csv", "agent_code,colour\n").await;
    assert_eq!(s, 422, "{p}");
    assert_eq!(codes(&p), [(1, String::from("colour"), String::from("unknown_column"))]);
}

async fn re_imports_add_nothing_and_the_change_log_carries_every_sale(app: &TestApp) {
    app.agent("REI001", "Kandy", "Beta").await;
    let product = app.product("Rei Life", "1000.00").await;
    let (s, known) = app
        .post(
            "/api/v1/sales",
            json!({"agent_code": "REI001", "product_id": product, "amount": "3.00", "sale_date": "2024-04-01",
                   "source_system": "pa", "external_ref": "K-1"}),
        )
        .await;
    assert_eq!(s, 201, "{known}");
    let mut file = String::from("agent_code,product_id,amount,sale_date,source_system,external_ref\n");
    file.push_str(&format!("REI001,{product},3.00,2024-04-01,pa,K-1\n"));
    for i in 0..120 {
        file.push_str(&format!("REI001,{product},{}.00,2024-04-02,pa,R-{i}\n", i + 1));
    }
    let mut plain = String::from("agent_code,product_id,amount,sale_date\n");
    for i in 0..30 {
        plain.push_str(&format!("REI001,{product},{}.25,2024-04-03\n", i + 1));
    }
    let before = sales(app).await;
    let entries = sale_entries(app).await;

    let (s, p) = upload_json(app, "", "text/csv", &file).await;
    assert_eq!(s, 200, "{p}");
    assert_eq!(
        (p["accepted"].as_u64(), p["duplicates"].as_u64()),
        (Some(120), Some(1)),
        "a known reference is a duplicate"
    );
    assert_eq!(sales(app).await, before + 120);
    assert_eq!(sale_entries(app).await, entries + 120, "one change-log entry per imported sale");

    let (s, p) = upload_json(app, "?mode=valid_rows", "text/csv", &file).await;
    assert_eq!(s, 200, "{p}");
    assert_eq!((p["accepted"].as_u64(), p["duplicates"].as_u64()), (Some(0), Some(121)), "{p}");

    // A file without references: its lines are its keys.
    let (_, p) = upload_json(app, "?mode=valid_rows", "text/csv", &plain).await;
    assert_eq!(p["accepted"], 30, "{p}");
    let (_, p) = upload_json(app, "?mode=valid_rows", "text/csv", &plain).await;
    assert_eq!((p["accepted"].as_u64(), p["duplicates"].as_u64()), (Some(0), Some(30)), "{p}");
    assert_eq!(sales(app).await, before + 150);
    assert_eq!(sale_entries(app).await, entries + 150);
}

async fn integration_tokens_draw_on_their_own_rate_class(app: &TestApp) {
    // Four writes of the five-write burst (shared by the address in the default class) go to
    // the set-up and the token checks below, so a person's second sale finds it empty.
    app.agent("RTC001", "Matara", "Delta").await;
    let product = app.product("Rate Life", "1000.00").await;
    let body = json!({"agent_code": "RTC001", "product_id": product, "amount": "1.00", "sale_date": "2024-05-01"});
    let (user_id, _, _) = app.user("manager", Some("Matara")).await;
    let (_, secret) = moon_server::auth::token::create_with_class(
        &app.store,
        user_id,
        "policy-admin feed",
        None,
        Some("integration"),
        &moon_http::Principal::operator(),
    )
    .await
    .unwrap();
    let system = app.bearer(&secret);
    for i in 0..20 {
        let (s, p) = system.post("/api/v1/sales", body.clone()).await;
        assert_eq!(s, 201, "write {i} of the integration token: {p}");
    }

    // Only admins create such tokens, and only for configured classes.
    let (s, p) =
        app.post("/api/v1/tokens", json!({"name": "feed", "user_id": user_id, "rate_class": "integration"})).await;
    assert_eq!(s, 201, "{p}");
    assert_eq!(p["token"]["rate_class"], "integration");
    let (s, p) = app.post("/api/v1/tokens", json!({"name": "feed", "rate_class": "nope"})).await;
    assert_eq!((s, p["errors"][0]["code"].as_str()), (422, Some("unknown_rate_class")), "{p}");
    let manager = app.bearer(&secret);
    let (s, _) = manager.post("/api/v1/tokens", json!({"name": "mine", "rate_class": "integration"})).await;
    assert_eq!(s, 403);

    let person = app.client_as("manager", Some("Matara")).await;
    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(person.post("/api/v1/sales", body.clone()).await.0);
    }
    assert!(statuses.contains(&429), "a person's token keeps the default limit: {statuses:?}");
    let (s, _) = system.post("/api/v1/sales", body).await;
    assert_eq!(s, 201, "the system is not held back by the people's buckets");
    let audit = count(app, "audit_log", Some(Expr::col("action").eq("token.create"))).await;
    assert!(audit >= 3, "token creations are audited");
}
