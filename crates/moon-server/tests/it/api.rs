//! One behavioural suite over HTTP, run on SQLite, PostgreSQL and MariaDB/MySQL.

use crate::common::TestApp;
use reqwest::Method;
use serde_json::{Value, json};

on_every_backend!(
    agents_have_a_full_lifecycle,
    agent_validation_reports_every_bad_field,
    malformed_requests_get_the_right_4xx,
    duplicate_agent_code_is_a_conflict,
    parallel_creates_of_one_agent_code_have_one_winner,
    agents_filter_search_and_page_stably,
    products_have_a_full_lifecycle,
    sales_validate_references_dates_and_amounts,
    money_is_exact,
    sales_filter_by_date_range_agent_product_branch_and_team,
    sales_can_be_changed_and_deleted,
    records_with_sales_cannot_be_deleted,
    notifications_have_an_inbox,
    original_agent_routes_answer_as_before,
    original_integration_routes_answer_as_before,
    original_notification_routes_answer_as_before,
    health_and_readiness,
    unknown_routes_and_methods_are_problems,
    every_documented_route_exists,
);

fn cents(amount: &Value) -> i64 {
    let s = amount.as_str().expect("amounts are strings");
    let (whole, frac) = s.split_once('.').expect("two decimals");
    assert_eq!(frac.len(), 2, "{s}");
    whole.parse::<i64>().unwrap() * 100 + frac.parse::<i64>().unwrap()
}

fn fields(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .map(|a| a.iter().map(|e| e["field"].as_str().unwrap().to_owned()).collect())
        .unwrap_or_default()
}

async fn agents_have_a_full_lifecycle(app: &TestApp) {
    let (s, a) = app
        .post(
            "/api/v1/agents",
            json!({"agent_code": "agt004", "first_name": "Anura", "last_name": "Jayasinghe", "branch": "Colombo", "team": "Alpha",
                   "contact_number": "0771234567", "email": "anura@Example.com"}),
        )
        .await;
    assert_eq!(s, 201, "{a}");
    assert_eq!(a["agent_code"], "AGT004", "codes are upper-cased");
    assert_eq!(a["email"], "anura@example.com");
    assert_eq!(a["active"], true);
    let id = a["id"].as_i64().unwrap();

    let (s, got) = app.get(&format!("/api/v1/agents/{id}")).await;
    assert_eq!((s, &got), (200, &a));

    let (s, p) =
        app.patch(&format!("/api/v1/agents/{id}"), json!({"team": "Beta", "email": null, "active": false})).await;
    assert_eq!(s, 200, "{p}");
    assert_eq!((p["team"].as_str(), p["email"].is_null(), p["active"].as_bool()), (Some("Beta"), true, Some(false)));
    assert_eq!(p["first_name"], "Anura", "absent fields are unchanged");

    let (s, _) = app.delete(&format!("/api/v1/agents/{id}")).await;
    assert_eq!(s, 204);
    let (s, nf) = app.get(&format!("/api/v1/agents/{id}")).await;
    assert_eq!((s, nf["code"].as_str()), (404, Some("not_found")));
    let (s, _) = app.get("/api/v1/agents/not-a-number").await;
    assert_eq!(s, 404);
}

async fn agent_validation_reports_every_bad_field(app: &TestApp) {
    let (s, p) = app.post("/api/v1/agents", json!({})).await;
    assert_eq!((s, p["code"].as_str()), (422, Some("validation_failed")));
    assert_eq!(fields(&p), ["agent_code", "first_name", "last_name", "branch", "team"]);

    let (s, p) = app
        .post(
            "/api/v1/agents",
            json!({"agent_code": "1 bad", "first_name": " ", "last_name": "x".repeat(101), "branch": "Colombo", "team": "A",
                   "email": "not-an-email", "contact_number": "12"}),
        )
        .await;
    assert_eq!(s, 422);
    assert_eq!(fields(&p), ["agent_code", "first_name", "last_name", "contact_number", "email"]);

    let (s, p) = app.post("/api/v1/agents", json!({"agent_code": "AGT1", "first_name": 5})).await;
    assert_eq!(
        (s, fields(&p)),
        (422, ["first_name", "last_name", "branch", "team"].map(String::from).to_vec()),
        "a wrong type names its field, listed with every other bad field: {p}"
    );
    assert_eq!(p["errors"][0]["code"], "invalid_type", "{p}");
    let (s, p) = app.post("/api/v1/agents", json!({"agent_code": "AGT1", "agentcode": "x"})).await;
    assert_eq!(s, 422, "unknown fields are refused: {p}");
    let (_, list) = app.get("/api/v1/agents").await;
    assert_eq!(list["items"].as_array().unwrap().len(), 0, "nothing half-written");
}

async fn malformed_requests_get_the_right_4xx(app: &TestApp) {
    let raw = |body: &'static str, ct: Option<&'static str>| {
        let mut r = app.client.post(app.url("/api/v1/agents")).body(body);
        if let Some(ct) = ct {
            r = r.header("content-type", ct);
        }
        r
    };
    let r = raw("{\"agent_code\": ", Some("application/json")).send().await.unwrap();
    assert_eq!(r.status(), 400);
    let p: Value = r.json().await.unwrap();
    assert_eq!(p["code"], "malformed_json");
    let r = raw("{}", None).send().await.unwrap();
    assert_eq!(r.status(), 415);
    let r = raw("{} trailing", Some("application/json")).send().await.unwrap();
    assert_eq!(r.status(), 400);
    let big = format!("{{\"first_name\": \"{}\"}}", "x".repeat(200 * 1024));
    // The server answers 413 without reading the whole body and then closes the connection; a
    // client of its own keeps that closed connection out of the shared client's pool.
    let r = reqwest::Client::new()
        .post(app.url("/api/v1/agents"))
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let (s, p) = app.get("/api/v1/agents?limit=abc").await;
    assert_eq!((s, fields(&p)), (422, vec![String::from("limit")]));
    let (s, p) = app.get("/api/v1/agents?brnch=Colombo").await;
    assert_eq!((s, p["code"].as_str()), (400, Some("invalid_query")), "misspelt filters are refused");
}

async fn duplicate_agent_code_is_a_conflict(app: &TestApp) {
    app.agent("AGT001", "Colombo", "Alpha").await;
    let (s, p) = app
        .post(
            "/api/v1/agents",
            json!({"agent_code": "agt001", "first_name": "A", "last_name": "B", "branch": "Kandy", "team": "Beta"}),
        )
        .await;
    assert_eq!((s, p["code"].as_str()), (409, Some("duplicate_agent_code")));
    let other = app.agent("AGT002", "Kandy", "Beta").await;
    let (s, p) = app.patch(&format!("/api/v1/agents/{other}"), json!({"agent_code": "AGT001"})).await;
    assert_eq!((s, p["code"].as_str()), (409, Some("duplicate_agent_code")));
}

async fn parallel_creates_of_one_agent_code_have_one_winner(app: &TestApp) {
    let body = json!({"agent_code": "AGT777", "first_name": "Race", "last_name": "Condition", "branch": "Galle", "team": "Delta"});
    let attempts = (0..12).map(|_| app.post("/api/v1/agents", body.clone()));
    let results = futures::future::join_all(attempts).await;
    let created = results.iter().filter(|(s, _)| *s == 201).count();
    let conflicts = results.iter().filter(|(s, _)| *s == 409).count();
    assert_eq!((created, conflicts), (1, 11), "{results:?}");
    let (_, list) = app.get("/api/v1/agents?agent_code=AGT777").await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
}

async fn agents_filter_search_and_page_stably(app: &TestApp) {
    for (i, (branch, team)) in [
        ("Colombo", "Alpha"),
        ("Kandy", "Beta"),
        ("Colombo", "Beta"),
        ("Galle", "Alpha"),
        ("Colombo", "Alpha"),
        ("Kandy", "Gamma"),
        ("Colombo", "Delta"),
    ]
    .iter()
    .enumerate()
    {
        app.agent(&format!("AGT{:03}", i + 1), branch, team).await;
    }
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let (s, page) = app.get(&format!("/api/v1/agents?limit=3{cursor}")).await;
        assert_eq!(s, 200);
        let items = page["items"].as_array().unwrap();
        seen.extend(items.iter().map(|a| a["agent_code"].as_str().unwrap().to_owned()));
        assert_eq!(page["page"]["limit"], 3);
        match page["page"]["next_cursor"].as_str() {
            Some(c) => cursor = format!("&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(seen, (1..=7).map(|i| format!("AGT{i:03}")).collect::<Vec<_>>(), "every row exactly once, in id order");
    let (_, desc) = app.get("/api/v1/agents?order=desc&limit=2").await;
    assert_eq!(desc["items"][0]["agent_code"], "AGT007");
    let (_, capped) = app.get("/api/v1/agents?limit=100000").await;
    assert_eq!(capped["page"]["limit"], 500);
    let (_, colombo) = app.get("/api/v1/agents?branch=Colombo&team=Alpha").await;
    assert_eq!(colombo["items"].as_array().unwrap().len(), 2);
    let (_, found) = app.get("/api/v1/agents?q=agt00").await;
    assert_eq!(found["items"].as_array().unwrap().len(), 7, "search is case-insensitive");
    let (_, none) = app.get("/api/v1/agents?q=%25").await;
    assert_eq!(none["items"].as_array().unwrap().len(), 0, "LIKE wildcards are literal");
    let (_, inactive) = app.get("/api/v1/agents?active=false").await;
    assert_eq!(inactive["items"].as_array().unwrap().len(), 0);
}

async fn products_have_a_full_lifecycle(app: &TestApp) {
    let (s, p) = app
        .post(
            "/api/v1/products",
            json!({"product_type": "Life", "product_name": "Life Insurance - Platinum Plan", "target_amount": 120000}),
        )
        .await;
    assert_eq!(s, 201, "{p}");
    assert_eq!(p["target_amount"], "120000.00");
    let id = p["id"].as_i64().unwrap();
    let (s, dup) = app
        .post(
            "/api/v1/products",
            json!({"product_type": "Life", "product_name": "Life Insurance - Platinum Plan", "target_amount": "1"}),
        )
        .await;
    assert_eq!((s, dup["code"].as_str()), (409, Some("duplicate_product_name")));
    let (s, bad) =
        app.post("/api/v1/products", json!({"product_type": "Life", "product_name": "X", "target_amount": "-5"})).await;
    assert_eq!((s, fields(&bad)), (422, vec![String::from("target_amount")]));
    let (s, p) = app.patch(&format!("/api/v1/products/{id}"), json!({"target_amount": "125000.50"})).await;
    assert_eq!((s, p["target_amount"].as_str()), (200, Some("125000.50")));
    let (_, list) = app.get("/api/v1/products?product_type=Life").await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    let (s, _) = app.delete(&format!("/api/v1/products/{id}")).await;
    assert_eq!(s, 204);
    let (s, _) = app.get(&format!("/api/v1/products/{id}")).await;
    assert_eq!(s, 404);
}

async fn sales_validate_references_dates_and_amounts(app: &TestApp) {
    app.agent("AGT001", "Colombo", "Alpha").await;
    let product = app.product("Vehicle Insurance - Full Cover", "90000").await;
    let sale = |body: Value| app.post("/api/v1/sales", body);

    let (s, p) =
        sale(json!({"agent_code": "AGT999", "product_id": product, "amount": "10", "sale_date": "2024-03-10"})).await;
    assert_eq!((s, fields(&p)), (422, vec![String::from("agent_code")]), "{p}");
    let (s, p) =
        sale(json!({"agent_code": "AGT001", "product_id": 9999, "amount": "10", "sale_date": "2024-03-10"})).await;
    assert_eq!((s, fields(&p)), (422, vec![String::from("product_id")]));
    let (s, p) =
        sale(json!({"agent_code": "AGT001", "product_id": product, "amount": "10", "sale_date": "2024-02-30"})).await;
    assert_eq!((s, p["errors"][0]["code"].as_str()), (422, Some("invalid_date")));
    let (s, p) =
        sale(json!({"agent_code": "AGT001", "product_id": product, "amount": "10", "sale_date": "2999-01-01"})).await;
    assert_eq!((s, p["errors"][0]["code"].as_str()), (422, Some("in_future")));
    for (amount, code) in [
        (json!(0), "not_positive"),
        (json!("-1.00"), "not_positive"),
        (json!(1.005), "too_precise"),
        (json!("1000000000"), "too_large"),
        (json!("12,50"), "invalid_amount"),
        (json!(true), "invalid_type"),
    ] {
        let (s, p) =
            sale(json!({"agent_code": "AGT001", "product_id": product, "amount": amount, "sale_date": "2024-03-10"}))
                .await;
        assert_eq!((s, p["errors"][0]["code"].as_str()), (422, Some(code)), "amount {amount}: {p}");
    }
    let (s, p) = sale(json!({})).await;
    assert_eq!(
        (s, fields(&p)),
        (422, vec!["agent_code".to_owned(), "product_id".into(), "amount".into(), "sale_date".into()])
    );
    let (_, list) = app.get("/api/v1/sales").await;
    assert_eq!(list["items"].as_array().unwrap().len(), 0, "no rejected sale was stored");

    let (s, ok) = sale(json!({"agent_code": "AGT001", "product_id": product, "amount": 125000, "sale_date": "2024-03-10", "policy_number": "POL-1"})).await;
    assert_eq!(s, 201, "{ok}");
    assert_eq!(
        (ok["branch"].as_str(), ok["amount"].as_str()),
        (Some("Colombo"), Some("125000.00")),
        "branch defaults to the agent's"
    );
    let (s, dup) = sale(json!({"agent_code": "AGT001", "product_id": product, "amount": 5, "sale_date": "2024-03-11", "policy_number": "POL-1"})).await;
    assert_eq!((s, dup["code"].as_str()), (409, Some("duplicate_policy_number")));
}

async fn money_is_exact(app: &TestApp) {
    app.agent("AGT001", "Colombo", "Alpha").await;
    let product = app.product("Health Insurance - Family Plan", "100000").await;
    for amount in [json!(0.1), json!("0.20"), json!(999999999.99), json!("0.07")] {
        let (s, b) = app
            .post(
                "/api/v1/sales",
                json!({"agent_code": "AGT001", "product_id": product, "amount": amount, "sale_date": "2024-03-10"}),
            )
            .await;
        assert_eq!(s, 201, "{b}");
    }
    let (_, list) = app.get("/api/v1/sales").await;
    let amounts: Vec<&str> = list["items"].as_array().unwrap().iter().map(|s| s["amount"].as_str().unwrap()).collect();
    assert_eq!(amounts, ["0.10", "0.20", "999999999.99", "0.07"]);
    let first_two: i64 = list["items"].as_array().unwrap()[..2].iter().map(|s| cents(&s["amount"])).sum();
    assert_eq!(first_two, 30, "0.10 + 0.20 is exactly 0.30");
}

async fn sales_filter_by_date_range_agent_product_branch_and_team(app: &TestApp) {
    app.agent("AGT001", "Colombo", "Alpha").await;
    app.agent("AGT002", "Kandy", "Beta").await;
    let life = app.product("Life Basic", "60000").await;
    let car = app.product("Vehicle Third Party", "30000").await;
    app.sale("AGT001", life, "100", "2024-01-31").await;
    app.sale("AGT001", car, "200", "2024-02-01").await;
    app.sale("AGT002", life, "300", "2024-02-29").await;
    app.sale("AGT002", car, "400", "2024-03-01").await;
    let count = |v: &Value| v["items"].as_array().unwrap().len();
    let (_, feb) = app.get("/api/v1/sales?from=2024-02-01&to=2024-02-29").await;
    assert_eq!(count(&feb), 2, "date range is inclusive at both ends");
    let (_, a1) = app.get("/api/v1/sales?agent_code=agt001").await;
    assert_eq!(count(&a1), 2);
    let (_, lifes) = app.get(&format!("/api/v1/sales?product_id={life}")).await;
    assert_eq!(count(&lifes), 2);
    let (_, kandy) = app.get("/api/v1/sales?branch=Kandy").await;
    assert_eq!(count(&kandy), 2);
    let (_, beta) = app.get("/api/v1/sales?team=Beta&from=2024-03-01").await;
    assert_eq!(count(&beta), 1);
    let (s, p) = app.get("/api/v1/sales?from=2024-03-01&to=2024-01-01").await;
    assert_eq!((s, fields(&p)), (422, vec![String::from("from")]));
    let (s, _) = app.get("/api/v1/sales?from=2024-13-01").await;
    assert_eq!(s, 422);
}

async fn sales_can_be_changed_and_deleted(app: &TestApp) {
    app.agent("AGT001", "Colombo", "Alpha").await;
    app.agent("AGT002", "Kandy", "Beta").await;
    let product = app.product("Life Basic", "60000").await;
    let id = app.sale("AGT001", product, "100", "2024-01-31").await;
    let (s, p) = app
        .patch(
            &format!("/api/v1/sales/{id}"),
            json!({"amount": "150.25", "agent_code": "AGT002", "policy_number": "P-9"}),
        )
        .await;
    assert_eq!(s, 200, "{p}");
    assert_eq!(
        (p["amount"].as_str(), p["agent_code"].as_str(), p["policy_number"].as_str()),
        (Some("150.25"), Some("AGT002"), Some("P-9"))
    );
    assert_eq!(p["branch"], "Colombo", "the branch stays unless changed");
    let (s, p) =
        app.patch(&format!("/api/v1/sales/{id}"), json!({"policy_number": null, "sale_date": "2024-02-30"})).await;
    assert_eq!(s, 422, "{p}");
    let (_, still) = app.get(&format!("/api/v1/sales/{id}")).await;
    assert_eq!(still["policy_number"], "P-9", "a rejected change changes nothing");
    let (s, _) = app.delete(&format!("/api/v1/sales/{id}")).await;
    assert_eq!(s, 204);
    let (s, _) = app.delete(&format!("/api/v1/sales/{id}")).await;
    assert_eq!(s, 404);
}

async fn records_with_sales_cannot_be_deleted(app: &TestApp) {
    let agent = app.agent("AGT001", "Colombo", "Alpha").await;
    let product = app.product("Life Basic", "60000").await;
    let sale = app.sale("AGT001", product, "100", "2024-01-31").await;
    let (s, p) = app.delete(&format!("/api/v1/agents/{agent}")).await;
    assert_eq!((s, p["code"].as_str()), (409, Some("agent_has_sales")));
    assert!(p["detail"].as_str().unwrap().contains("deactivate"), "the answer explains what to do instead");
    let (s, p) = app.delete(&format!("/api/v1/products/{product}")).await;
    assert_eq!((s, p["code"].as_str()), (409, Some("product_has_sales")));
    assert_eq!(app.get(&format!("/api/v1/agents/{agent}")).await.0, 200);
    assert_eq!(app.get(&format!("/api/v1/products/{product}")).await.0, 200);
    assert_eq!(app.get(&format!("/api/v1/sales/{sale}")).await.0, 200, "nothing is lost");
}

async fn notifications_have_an_inbox(app: &TestApp) {
    let agent = app.agent("AGT001", "Colombo", "Alpha").await;
    app.agent("AGT002", "Kandy", "Beta").await;
    let (s, n) =
        app.post("/api/v1/notifications", json!({"agent_code": "AGT001", "message": "Target due this week."})).await;
    assert_eq!(s, 201, "{n}");
    assert_eq!(
        (n["kind"].as_str(), n["read_at"].is_null(), n["agent_id"].as_i64()),
        (Some("manual"), true, Some(agent))
    );
    app.post("/api/v1/notifications", json!({"agent_id": agent, "message": "Milestone reached!"})).await;
    app.post("/api/v1/notifications", json!({"agent_code": "AGT002", "message": "Hello"})).await;
    let id = n["id"].as_i64().unwrap();
    let (s, r) = app.patch(&format!("/api/v1/notifications/{id}"), json!({"read": true})).await;
    assert_eq!(s, 200);
    assert!(r["read_at"].is_string());
    let (_, unread) = app.get("/api/v1/notifications?agent_code=AGT001&unread=true").await;
    assert_eq!(unread["items"].as_array().unwrap().len(), 1);
    let (_, read) = app.get("/api/v1/notifications?agent_code=AGT001&unread=false").await;
    assert_eq!(read["items"][0]["id"].as_i64(), Some(id));
    let (s, p) = app.post("/api/v1/notifications", json!({"agent_code": "AGT404", "message": "x"})).await;
    assert_eq!((s, fields(&p)), (422, vec![String::from("agent_code")]));
    let (s, p) = app.post("/api/v1/notifications", json!({"agent_code": "AGT001", "message": ""})).await;
    assert_eq!((s, fields(&p)), (422, vec![String::from("message")]));
    assert_eq!(app.delete(&format!("/api/v1/notifications/{id}")).await.0, 204);
    assert_eq!(app.get(&format!("/api/v1/notifications/{id}")).await.0, 404);
}

fn keys(v: &Value) -> Vec<String> {
    v.as_object().unwrap().keys().cloned().collect()
}

async fn original_agent_routes_answer_as_before(app: &TestApp) {
    let (s, b) = app
        .post(
            "/agent/add",
            json!({"agent_code": "AGT004", "first_name": "Anura", "last_name": "Jayasinghe", "branch": "Colombo", "team": "Alpha",
                   "contact_number": "0771234567", "email": "anura@example.com", "hire_date": "2023-04-01"}),
        )
        .await;
    assert_eq!((s, b), (201, json!({"message": "Agent added successfully."})));
    let r = app.client.get(app.url("/agent/get")).send().await.unwrap();
    assert_eq!((r.status().as_u16(), r.headers()["content-type"].to_str().unwrap()), (200, "application/json"));
    let rows: Value = r.json().await.unwrap();
    let mut expected = [
        "agent_id",
        "agent_code",
        "first_name",
        "last_name",
        "branch",
        "team",
        "contact_number",
        "email",
        "created_at",
    ]
    .map(String::from)
    .to_vec();
    expected.sort();
    assert_eq!(keys(&rows[0]), expected);
    assert!(rows[0]["created_at"].as_str().unwrap().ends_with(" GMT"), "Flask's date format");
    let (s, b) = app.put("/agent/update/AGT004", json!({"team": "Beta"})).await;
    assert_eq!((s, b), (200, json!({"message": "Agent updated successfully."})));
    let id = rows[0]["agent_id"].as_i64().unwrap();
    let (s, _) = app.put(&format!("/agent/update/{id}"), json!({"branch": "Kandy"})).await;
    assert_eq!(s, 200, "numeric ids, as in the first original version, work too");
    let (s, b) = app.put("/agent/update/AGT999", json!({"team": "Beta"})).await;
    assert_eq!((s, b["message"].as_str()), (404, Some("Agent not found.")));
    let (s, b) = app.post("/agent/add", json!({"agent_code": "AGT005"})).await;
    assert_eq!(s, 422);
    assert!(b["message"].as_str().unwrap().contains("first_name"), "{b}");
    let (s, b) = app.delete("/agent/delete/AGT004").await;
    assert_eq!((s, b), (200, json!({"message": "Agent deleted successfully."})));
    let (s, b) = app.delete("/agent/delete/AGT004").await;
    assert_eq!((s, b["message"].as_str()), (404, Some("Agent not found.")));
}

async fn original_integration_routes_answer_as_before(app: &TestApp) {
    app.agent("AGT001", "Colombo", "Alpha").await;
    let product = app.product("Life Insurance - Platinum Plan", "120000").await;
    let (s, b) = app
        .post("/integration/add", json!({"agent_code": "AGT001", "product_id": product, "amount": 125000, "sale_date": "2024-03-10", "branch": "Colombo"}))
        .await;
    assert_eq!((s, b), (201, json!({"message": "Sale record added successfully."})));
    let (s, b) = app
        .post("/integration/add", json!({"agent_code": "AGT001", "product_id": product.to_string(), "amount": "10.5", "sale_date": "2024-03-11", "branch": "Kandy"}))
        .await;
    assert_eq!(s, 201, "numeric strings were accepted by the original: {b}");
    let (s, rows) = app.get("/integration/get").await;
    assert_eq!(s, 200);
    let mut expected =
        ["sale_id", "agent_code", "amount", "sale_date", "branch", "product_id"].map(String::from).to_vec();
    expected.sort();
    assert_eq!(keys(&rows[0]), expected);
    assert_eq!(rows[0]["amount"], "125000.00");
    assert_eq!(rows[0]["sale_date"], "Sun, 10 Mar 2024 00:00:00 GMT");
    assert_eq!(rows[1]["amount"], "10.50");
    let sale_id = rows[0]["sale_id"].as_i64().unwrap();
    let (s, b) = app.put(&format!("/integration/update/{sale_id}"), json!({"amount": "130000.00"})).await;
    assert_eq!((s, b), (200, json!({"message": "Sale record updated successfully."})));
    let (s, b) = app.put("/integration/update/999999", json!({"amount": "1"})).await;
    assert_eq!((s, b["message"].as_str()), (404, Some("Sale record not found.")));
    let (s, b) = app
        .post(
            "/integration/add",
            json!({"agent_code": "AGT001", "product_id": product, "amount": 5, "sale_date": "2024-02-30"}),
        )
        .await;
    assert_eq!(s, 422, "{b}");
    assert!(b["message"].as_str().unwrap().contains("sale_date"));
    let (s, b) = app.delete(&format!("/integration/delete/{sale_id}")).await;
    assert_eq!((s, b), (200, json!({"message": "Sale record deleted successfully."})));
    let (s, b) = app.delete(&format!("/integration/delete/{sale_id}")).await;
    assert_eq!((s, b["message"].as_str()), (404, Some("Sale record not found.")));
}

async fn original_notification_routes_answer_as_before(app: &TestApp) {
    app.agent("AGT001", "Colombo", "Alpha").await;
    let (s, b) = app
        .post(
            "/notification/send",
            json!({"agent_code": "AGT001", "message": "Nimal has reached 150k sales milestone!"}),
        )
        .await;
    assert_eq!((s, b), (201, json!({"message": "Notification sent to agent AGT001."})));
    let (s, rows) = app.get("/notification/get").await;
    assert_eq!(s, 200);
    let mut expected = ["id", "agent_code", "message", "sent_at"].map(String::from).to_vec();
    expected.sort();
    assert_eq!(keys(&rows[0]), expected);
    assert_eq!(rows[0]["message"], "Nimal has reached 150k sales milestone!");
    let (s, b) = app.post("/notification/send", json!({"agent_code": "AGT404", "message": "hi"})).await;
    assert_eq!(s, 422);
    assert!(b["message"].as_str().unwrap().contains("AGT404"));
}

async fn health_and_readiness(app: &TestApp) {
    assert_eq!(app.get("/healthz").await, (200, json!({"status": "ok"})));
    assert_eq!(app.get("/readyz").await, (200, json!({"status": "ready"})));
}

async fn unknown_routes_and_methods_are_problems(app: &TestApp) {
    let (s, p) = app.get("/api/v1/nothing-here").await;
    assert_eq!((s, p["code"].as_str()), (404, Some("route_not_found")));
    let (s, p) = app.send(Method::PUT, "/api/v1/agents", json!({})).await;
    assert_eq!((s, p["code"].as_str()), (405, Some("method_not_allowed")));
    let (s, _) = app.send(Method::POST, "/agent/get", json!({})).await;
    assert_eq!(s, 405);
}

async fn every_documented_route_exists(app: &TestApp) {
    let (s, doc) = app.get("/api/v1/openapi.json").await;
    assert_eq!(s, 200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    let paths = doc["paths"].as_object().unwrap();
    // Idempotency-Key is documented where the middleware honours it, and only there.
    let takes_key = |path: &str, method: &str| {
        paths[path][method]["parameters"]
            .as_array()
            .is_some_and(|ps| ps.iter().any(|p| p["name"] == "Idempotency-Key" && p["in"] == "header"))
    };
    assert!(takes_key("/api/v1/sales", "post") && takes_key("/api/v1/agents", "post"));
    assert!(!takes_key("/api/v1/sales/import", "post"), "streamed imports are idempotent by content");
    assert!(!takes_key("/api/v1/auth/sign-in", "post"), "no principal, no key");
    assert!(!takes_key("/api/v1/sales", "get") && !takes_key("/integration/add", "post"));
    let mut documented = Vec::new();
    for (path, item) in paths {
        for method in
            item.as_object().unwrap().keys().filter(|m| ["get", "post", "put", "patch", "delete"].contains(&m.as_str()))
        {
            documented.push(format!("{} {path}", method.to_uppercase()));
            let concrete = path
                .replace("{id}", "1")
                .replace("{agent_code}", "AGT001")
                .replace("{sale_id}", "1")
                .replace("{kind}", "branches");
            let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let (status, body) = if path == "/api/v1/notifications/stream" {
                // An event stream never ends: its status and content type say it is served.
                let r = app.request(m, &concrete).send().await.unwrap();
                assert_eq!(r.headers()["content-type"], "text/event-stream");
                (r.status().as_u16(), json!({}))
            } else {
                app.send(m, &concrete, json!({})).await
            };
            assert!(
                status != 405 && body["code"] != "route_not_found",
                "{method} {path} is documented but not served: {status} {body}"
            );
        }
    }
    documented.sort();
    // The server's routes, as a person reading the router would list them; this list and the
    // document must agree both ways.
    let mut served: Vec<String> = [
        "GET /healthz",
        "GET /",
        "GET /api/v1/openapi.json",
        "GET /metrics",
        "GET /readyz",
        "GET /api/v1/agents",
        "POST /api/v1/agents",
        "POST /api/v1/agents/import",
        "GET /api/v1/agents/{id}",
        "PATCH /api/v1/agents/{id}",
        "DELETE /api/v1/agents/{id}",
        "GET /api/v1/agents/{id}/memberships",
        "POST /api/v1/agents/{id}/moves",
        "GET /api/v1/org/{kind}",
        "POST /api/v1/org/{kind}",
        "GET /api/v1/org/{kind}/{id}",
        "PATCH /api/v1/org/{kind}/{id}",
        "POST /api/v1/agents/{code}/erase",
        "GET /api/v1/audit",
        "GET /api/v1/agents/{code}/subject-access",
        "GET /api/v1/access-review",
        "GET /api/v1/anomalies",
        "POST /api/v1/anomalies/{id}/dismiss",
        "GET /api/v1/products",
        "POST /api/v1/products",
        "GET /api/v1/products/{id}",
        "PATCH /api/v1/products/{id}",
        "DELETE /api/v1/products/{id}",
        "GET /api/v1/sales",
        "POST /api/v1/sales",
        "GET /api/v1/sales/{id}",
        "PATCH /api/v1/sales/{id}",
        "DELETE /api/v1/sales/{id}",
        "POST /api/v1/sales/import",
        "GET /api/v1/notifications",
        "POST /api/v1/notifications",
        "GET /api/v1/notifications/{id}",
        "PATCH /api/v1/notifications/{id}",
        "DELETE /api/v1/notifications/{id}",
        "GET /api/v1/notifications/stream",
        "GET /api/v1/notifications/unread_count",
        "POST /api/v1/notifications/read_all",
        "GET /api/v1/notifications/preferences",
        "PUT /api/v1/notifications/preferences",
        "GET /api/v1/notifications/digests",
        "PUT /api/v1/notifications/digests",
        "GET /unsubscribe/digest",
        "POST /unsubscribe/digest",
        "GET /api/v1/notifications/rules",
        "POST /api/v1/notifications/rules",
        "GET /api/v1/notifications/rules/{id}",
        "PATCH /api/v1/notifications/rules/{id}",
        "DELETE /api/v1/notifications/rules/{id}",
        "GET /api/v1/notifications/webhooks",
        "POST /api/v1/notifications/webhooks",
        "GET /api/v1/notifications/webhooks/{id}",
        "PATCH /api/v1/notifications/webhooks/{id}",
        "DELETE /api/v1/notifications/webhooks/{id}",
        "GET /api/v1/notifications/deliveries",
        "POST /api/v1/notifications/deliveries/{id}/redeliver",
        "POST /api/v1/broadcasts",
        "POST /agent/add",
        "GET /agent/get",
        "PUT /agent/update/{agent_code}",
        "DELETE /agent/delete/{agent_code}",
        "POST /integration/add",
        "GET /integration/get",
        "PUT /integration/update/{sale_id}",
        "DELETE /integration/delete/{sale_id}",
        "POST /notification/send",
        "GET /notification/get",
        "GET /api/v1/kpis/teams",
        "GET /api/v1/kpis/branches",
        "GET /api/v1/kpis/products",
        "GET /api/v1/kpis/leaderboard",
        "GET /api/v1/kpis/trend",
        "GET /api/v1/performance",
        "GET /api/v1/performance/drill",
        "GET /api/v1/calendar",
        "GET /api/v1/calendar/holidays",
        "POST /api/v1/calendar/holidays",
        "DELETE /api/v1/calendar/holidays/{date}",
        "POST /api/v1/calendar/holidays/import",
        "GET /api/v1/targets",
        "POST /api/v1/targets",
        "GET /api/v1/targets/{id}",
        "PATCH /api/v1/targets/{id}",
        "DELETE /api/v1/targets/{id}",
        "POST /api/v1/targets/import",
        "POST /api/v1/targets/copy",
        "POST /api/v1/targets/periods/{period}/lock",
        "GET /api/v1/commission-plans",
        "POST /api/v1/commission-plans",
        "GET /api/v1/commission-plans/applicable",
        "GET /api/v1/commission-plans/{id}",
        "POST /api/v1/commission-plans/{id}/versions",
        "POST /api/v1/commission-plans/{id}/retire",
        "GET /api/v1/policies",
        "POST /api/v1/policies",
        "GET /api/v1/policies/{id}",
        "GET /api/v1/policies/{id}/transactions",
        "POST /api/v1/policies/{id}/transactions",
        "POST /api/v1/auth/sign-in",
        "POST /api/v1/auth/sign-out",
        "GET /api/v1/auth/me",
        "POST /api/v1/auth/mfa/verify",
        "POST /api/v1/auth/mfa/enrol",
        "POST /api/v1/auth/mfa/confirm",
        "GET /api/v1/users",
        "POST /api/v1/users",
        "GET /api/v1/users/{id}",
        "PATCH /api/v1/users/{id}",
        "DELETE /api/v1/users/{id}",
        "GET /api/v1/tokens",
        "POST /api/v1/tokens",
        "DELETE /api/v1/tokens/{id}",
        "GET /api/v1/wallboard-tokens",
        "POST /api/v1/wallboard-tokens",
        "DELETE /api/v1/wallboard-tokens/{id}",
    ]
    .map(String::from)
    .to_vec();
    served.sort();
    assert_eq!(documented, served);
}
