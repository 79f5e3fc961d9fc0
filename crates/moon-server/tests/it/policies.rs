//! Policies, transactions and split credit (issue 15, slice 3), on every backend: a split policy
//! whose credits sum to the premium, listings with filters and paging, each transaction kind
//! with its sign and limits, status and end date, role scopes, the sale mirror (API, original
//! route, PATCH, DELETE) and its backfill; and the tolerant change-log readers of slice 2.

use std::time::Duration;

use serde_json::{Value, json};

use crate::common::{TestApp, fields, pairs};

/// Credited cents of a transaction by agent code.
fn credits(t: &Value) -> Vec<(String, i64, String)> {
    t["credits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["agent_code"].as_str().unwrap().to_owned(),
                c["share_bp"].as_i64().unwrap(),
                c["amount"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn cents(s: &str) -> i64 {
    let (whole, frac) = s.trim_start_matches('-').split_once('.').unwrap();
    let v = whole.parse::<i64>().unwrap() * 100 + frac.parse::<i64>().unwrap();
    if s.starts_with('-') { -v } else { v }
}

async fn split_policy(app: &TestApp, number: &str, product: i64) -> Value {
    let (s, b) = app
        .post(
            "/api/v1/policies",
            json!({
                "policy_number": number, "product_id": product, "holder_ref": "H-77", "customer_name": "Nimal Perera",
                "premium": "1000.00", "start_date": "2026-03-01",
                "credits": [
                    {"agent_code": "PA1", "share_bp": 3333},
                    {"agent_code": "PA2", "share_bp": 3333},
                    {"agent_code": "PA3", "share_bp": 3334}
                ]
            }),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    b
}

async fn setup(app: &TestApp) -> i64 {
    app.agent("PA1", "Colombo", "Alpha").await;
    app.agent("PA2", "Colombo", "Alpha").await;
    app.agent("PA3", "Kandy", "Beta").await;
    app.product("Life Gold", "1000.00").await
}

async fn a_split_policy_credits_exactly_its_premium(app: &TestApp) {
    let product = setup(app).await;
    let p = split_policy(app, "POL-1", product).await;
    assert_eq!(p["status"], "in_force");
    assert_eq!(p["premium"], "1000.00");
    assert_eq!(p["customer_name"], "Nimal Perera");
    let nb = &p["transactions"][0];
    assert_eq!(nb["kind"], "new_business");
    assert_eq!(nb["amount"], "1000.00");
    // 333.30, 333.30, 333.40 to the cent: 100000 × 3333 / 10000 = 33330 exactly.
    assert_eq!(
        credits(nb),
        vec![
            ("PA1".into(), 3333, "333.30".into()),
            ("PA2".into(), 3333, "333.30".into()),
            ("PA3".into(), 3334, "333.40".into())
        ]
    );
    // 100.01 in thirds: truncated 33.33, 33.33, 33.34 (Σ 100.00), one cent left to the largest
    // dropped fraction (agent PA3's 3334 × 10001 mod 10000 = 3334).
    let id = p["id"].as_i64().unwrap();
    let (s, r) = app
        .post(
            &format!("/api/v1/policies/{id}/transactions"),
            json!({"kind": "renewal", "effective_date": "2026-04-01", "amount": "100.01"}),
        )
        .await;
    assert_eq!(s, 201, "{r}");
    let renewal = &r["transactions"][1];
    let got = credits(renewal);
    assert_eq!(got.iter().map(|c| cents(&c.2)).sum::<i64>(), 10_001, "credits sum to the amount: {renewal}");
    assert_eq!(got.iter().map(|c| c.1).collect::<Vec<_>>(), vec![3333, 3333, 3334], "shares inherited");
    assert_eq!(r["premium"], "100.01", "a renewal sets the premium in force");
    // The holder's name is masked in the audit trail.
    let (_, trail) = app.get(&format!("/api/v1/audit?entity=policy&entity_id={id}&limit=10")).await;
    let items = trail["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{trail}");
    let text = trail.to_string();
    assert!(!text.contains("Nimal"), "customer_name masked: {text}");
    assert!(items.iter().any(|e| e["action"] == "policy.create"));
    assert!(items.iter().any(|e| e["action"] == "policy.transaction"));
}

async fn listings_filter_and_page(app: &TestApp) {
    let product = setup(app).await;
    let other = app.product("Motor", "100.00").await;
    split_policy(app, "POL-1", product).await;
    split_policy(app, "POL-2", other).await;
    let (s, solo) = app
        .post(
            "/api/v1/policies",
            json!({"policy_number": "POL-3", "product_id": product, "holder_ref": "H-1", "premium": 50,
                   "start_date": "2026-03-02", "credits": [{"agent_code": "PA1", "share_bp": 10000}]}),
        )
        .await;
    assert_eq!(s, 201, "{solo}");
    let solo_id = solo["id"].as_i64().unwrap();
    let (s, _) = app
        .post(
            &format!("/api/v1/policies/{solo_id}/transactions"),
            json!({"kind": "lapse", "effective_date": "2026-03-20", "amount": "-50"}),
        )
        .await;
    assert_eq!(s, 201);

    let numbers = |b: &Value| -> Vec<String> {
        b["items"].as_array().unwrap().iter().map(|p| p["policy_number"].as_str().unwrap().to_owned()).collect()
    };
    let (_, all) = app.get("/api/v1/policies").await;
    assert_eq!(numbers(&all), ["POL-1", "POL-2", "POL-3"]);
    assert!(all["items"][0].get("transactions").is_none(), "listings leave transactions out");
    let (_, b) = app.get(&format!("/api/v1/policies?product_id={product}")).await;
    assert_eq!(numbers(&b), ["POL-1", "POL-3"]);
    let (_, b) = app.get("/api/v1/policies?policy_number=POL-2").await;
    assert_eq!(numbers(&b), ["POL-2"]);
    let (_, b) = app.get("/api/v1/policies?status=lapsed").await;
    assert_eq!(numbers(&b), ["POL-3"]);
    let (_, b) = app.get("/api/v1/policies?agent_code=PA3").await;
    assert_eq!(numbers(&b), ["POL-1", "POL-2"]);
    let (_, p1) = app.get("/api/v1/policies?limit=2").await;
    assert_eq!(numbers(&p1), ["POL-1", "POL-2"]);
    let cursor = p1["page"]["next_cursor"].as_str().unwrap().to_owned();
    let (_, p2) = app.get(&format!("/api/v1/policies?limit=2&cursor={cursor}")).await;
    assert_eq!(numbers(&p2), ["POL-3"]);
    assert!(p2["page"]["next_cursor"].is_null());
    let (s, bad) = app.get("/api/v1/policies?status=gone&product_id=x").await;
    assert_eq!(s, 422);
    assert_eq!(fields(&bad), pairs(&[("product_id", "invalid_id"), ("status", "invalid_status")]));
    let (s, t) = app.get(&format!("/api/v1/policies/{solo_id}/transactions")).await;
    assert_eq!(s, 200);
    let kinds: Vec<&str> = t["items"].as_array().unwrap().iter().map(|t| t["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["new_business", "lapse"]);
}

async fn transaction_kinds_keep_their_signs_limits_and_statuses(app: &TestApp) {
    let product = setup(app).await;
    let p = split_policy(app, "POL-1", product).await;
    let id = p["id"].as_i64().unwrap();
    let path = format!("/api/v1/policies/{id}/transactions");
    let post = |body: Value| {
        let path = path.clone();
        async move { app.post(&path, body).await }
    };

    // Every bad field at once, nothing written.
    let (s, b) = post(json!({"kind": "refund", "effective_date": "2999-01-01", "amount": "abc", "credits": [{"agent_code": "PA1", "share_bp": 5000}]})).await;
    assert_eq!(s, 422, "{b}");
    assert_eq!(
        fields(&b),
        pairs(&[
            ("amount", "invalid_amount"),
            ("credits", "shares_not_whole"),
            ("effective_date", "in_future"),
            ("kind", "invalid_kind")
        ])
    );
    for (kind, amount) in
        [("renewal", "-5"), ("cancellation", "5"), ("lapse", "5"), ("reinstatement", "-1"), ("endorsement", "0")]
    {
        let (s, b) = post(json!({"kind": kind, "effective_date": "2026-03-10", "amount": amount})).await;
        assert_eq!(s, 422, "{kind} {amount}: {b}");
        let code = if amount == "0" { "zero" } else { "wrong_sign" };
        assert_eq!(fields(&b), pairs(&[("amount", code)]), "{kind} {amount}");
    }
    // Limits against the premium in force.
    let (s, b) = post(json!({"kind": "endorsement", "effective_date": "2026-03-10", "amount": "-1000"})).await;
    assert_eq!((s, fields(&b)), (422, pairs(&[("amount", "exceeds_premium")])), "{b}");
    let (s, b) = post(json!({"kind": "cancellation", "effective_date": "2026-03-10", "amount": "-1000.01"})).await;
    assert_eq!((s, fields(&b)), (422, pairs(&[("amount", "exceeds_premium")])), "{b}");
    let (s, b) = post(json!({"kind": "reinstatement", "effective_date": "2026-03-10", "amount": "1"})).await;
    assert_eq!((s, b["code"].as_str()), (409, Some("policy_in_force")), "{b}");
    let (_, unchanged) = app.get(&format!("/api/v1/policies/{id}")).await;
    assert_eq!(unchanged["transactions"].as_array().unwrap().len(), 1, "nothing half-written");

    // Endorsement down moves the premium; own shares replace inherited ones.
    let (s, b) = post(json!({"kind": "endorsement", "effective_date": "2026-03-10", "amount": "-200.00",
                             "credits": [{"agent_code": "PA1", "share_bp": 10000}]}))
    .await;
    assert_eq!(s, 201, "{b}");
    assert_eq!(b["premium"], "800.00");
    assert_eq!(credits(&b["transactions"][1]), vec![("PA1".into(), 10000, "-200.00".into())]);

    // Cancellation: cancelled with end_date; negative split mirrors the inherited shares.
    let (s, b) = post(json!({"kind": "cancellation", "effective_date": "2026-03-20", "amount": "-800.00"})).await;
    assert_eq!(s, 201, "{b}");
    assert_eq!((b["status"].as_str(), b["end_date"].as_str()), (Some("cancelled"), Some("2026-03-20")));
    assert_eq!(credits(&b["transactions"][2]), vec![("PA1".into(), 10000, "-800.00".into())]);
    let (s, b) = post(json!({"kind": "renewal", "effective_date": "2026-03-21", "amount": "5"})).await;
    assert_eq!((s, b["code"].as_str()), (409, Some("policy_not_in_force")), "{b}");
    let (s, b) = post(json!({"kind": "reinstatement", "effective_date": "2026-03-19", "amount": "800"})).await;
    assert_eq!((s, fields(&b)), (422, pairs(&[("effective_date", "before_last_transaction")])), "{b}");
    let (s, b) = post(json!({"kind": "reinstatement", "effective_date": "2026-03-25", "amount": "800.01"})).await;
    assert_eq!((s, fields(&b)), (422, pairs(&[("amount", "exceeds_taken")])), "{b}");

    // Reinstatement: back in force, end_date cleared.
    let (s, b) = post(json!({"kind": "reinstatement", "effective_date": "2026-03-25", "amount": "800"})).await;
    assert_eq!(s, 201, "{b}");
    assert_eq!(b["status"], "in_force");
    assert!(b["end_date"].is_null(), "{b}");

    // A split cancellation of the whole new business mirrors it credit by credit.
    let p2 = split_policy(app, "POL-2", product).await;
    let id2 = p2["id"].as_i64().unwrap();
    let (s, b) = app
        .post(
            &format!("/api/v1/policies/{id2}/transactions"),
            json!({"kind": "cancellation", "effective_date": "2026-03-05", "amount": "-1000.00"}),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    let nb = credits(&b["transactions"][0]);
    let cancel = credits(&b["transactions"][1]);
    for (n, c) in nb.iter().zip(&cancel) {
        assert_eq!(cents(&n.2), -cents(&c.2), "{nb:?} {cancel:?}");
    }
}

async fn scopes_follow_the_credits(app: &TestApp) {
    let product = setup(app).await;
    let p = split_policy(app, "POL-1", product).await;
    let id = p["id"].as_i64().unwrap();
    let (s, solo) = app
        .post(
            "/api/v1/policies",
            json!({"policy_number": "POL-2", "product_id": product, "holder_ref": "H-2", "premium": 10,
                   "start_date": "2026-03-02", "credits": [{"agent_code": "PA1", "share_bp": 10000}]}),
        )
        .await;
    assert_eq!(s, 201);
    let solo_id = solo["id"].as_i64().unwrap();

    // A manager of Kandy sees POL-1 (PA3 is credited in Kandy), not the Colombo-only POL-2.
    let kandy = app.client_as("manager", Some("Kandy")).await;
    let (_, list) = kandy.get("/api/v1/policies").await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1, "{list}");
    let (s, _) = kandy.get(&format!("/api/v1/policies/{solo_id}")).await;
    assert_eq!(s, 404, "out of scope is not found");
    let (s, _) = kandy
        .post(
            &format!("/api/v1/policies/{solo_id}/transactions"),
            json!({"kind": "renewal", "effective_date": "2026-03-05", "amount": 1}),
        )
        .await;
    assert_eq!(s, 404);
    // They may not credit agents of another branch (unknown to them, as for sales).
    let (s, b) = kandy
        .post(
            "/api/v1/policies",
            json!({"policy_number": "POL-3", "product_id": product, "holder_ref": "H", "premium": 10, "start_date": "2026-03-02",
                   "credits": [{"agent_code": "PA1", "share_bp": 5000}, {"agent_code": "PA3", "share_bp": 5000}]}),
        )
        .await;
    assert_eq!((s, fields(&b)), (422, pairs(&[("credits[0].agent_code", "unknown_agent")])), "{b}");
    // Their transaction on a visible policy inherits all shares, Colombo's too.
    let (s, b) = kandy
        .post(
            &format!("/api/v1/policies/{id}/transactions"),
            json!({"kind": "endorsement", "effective_date": "2026-03-05", "amount": "30"}),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    assert_eq!(b["transactions"][1]["credits"].as_array().unwrap().len(), 3);

    // An agent sees only policies crediting them, records only their own, no transactions.
    let pa2 = app.client_as("agent", Some("PA2")).await;
    let (_, mine) = pa2.get("/api/v1/policies").await;
    let numbers: Vec<&str> =
        mine["items"].as_array().unwrap().iter().map(|p| p["policy_number"].as_str().unwrap()).collect();
    assert_eq!(numbers, ["POL-1"]);
    let (s, own) = pa2
        .post("/api/v1/policies", json!({"policy_number": "POL-4", "product_id": product, "holder_ref": "H", "premium": 10, "start_date": "2026-03-02"}))
        .await;
    assert_eq!(s, 201, "{own}");
    assert_eq!(credits(&own["transactions"][0]), vec![("PA2".into(), 10000, "10.00".into())]);
    let (s, _) = pa2
        .post(
            &format!("/api/v1/policies/{id}/transactions"),
            json!({"kind": "renewal", "effective_date": "2026-03-05", "amount": 1}),
        )
        .await;
    assert_eq!(s, 403, "agents do not record later transactions");
    let analyst = app.client_as("analyst", None).await;
    let (s, _) = analyst.get("/api/v1/policies").await;
    assert_eq!(s, 403, "policies hold personal data: not for analysts");
}

/// The mirrored policy of a sale, found by its policy number.
async fn mirror_of(app: &TestApp, number: &str) -> Value {
    let (_, b) = app.get(&format!("/api/v1/policies?policy_number={number}")).await;
    let items = b["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "one mirror for {number}: {b}");
    let id = items[0]["id"].as_i64().unwrap();
    app.get(&format!("/api/v1/policies/{id}")).await.1
}

async fn every_sale_is_mirrored_as_a_policy(app: &TestApp) {
    let product = setup(app).await;
    let via_api = app.sale("PA1", product, "250.00", "2026-03-03").await;
    let m = mirror_of(app, &format!("SALE-{via_api}")).await;
    assert_eq!(
        (m["status"].as_str(), m["premium"].as_str(), m["start_date"].as_str()),
        (Some("in_force"), Some("250.00"), Some("2026-03-03"))
    );
    let nb = &m["transactions"][0];
    assert_eq!((nb["kind"].as_str(), nb["sale_id"].as_i64()), (Some("new_business"), Some(via_api)));
    assert_eq!(credits(nb), vec![("PA1".into(), 10000, "250.00".into())]);

    let (s, b) = app
        .post(
            "/integration/add",
            json!({"agent_code": "PA3", "product_id": product, "amount": 99.5, "sale_date": "2026-03-04"}),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    let (_, by_pa3) = app.get("/api/v1/policies?agent_code=PA3").await;
    let items = by_pa3["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{by_pa3}");
    let m = mirror_of(app, items[0]["policy_number"].as_str().unwrap()).await;
    assert!(m["transactions"][0]["sale_id"].as_i64().is_some(), "{m}");
    assert_eq!(m["transactions"][0]["credits"][0]["branch"], "Kandy");
    assert_eq!(m["premium"], "99.50");

    // A PATCH moves the mirror with the sale.
    let (s, b) = app
        .patch(
            &format!("/api/v1/sales/{via_api}"),
            json!({"amount": "300.00", "agent_code": "PA2", "policy_number": "P-NEW"}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let m = mirror_of(app, "P-NEW").await;
    assert_eq!(m["premium"], "300.00");
    assert_eq!(credits(&m["transactions"][0]), vec![("PA2".into(), 10000, "300.00".into())]);
    let (_, gone) = app.get(&format!("/api/v1/policies?policy_number=SALE-{via_api}")).await;
    assert!(gone["items"].as_array().unwrap().is_empty());

    // A policy number held by a policy cannot be taken by a sale (its mirror needs it).
    split_policy(app, "POL-9", product).await;
    let (s, b) = app
        .post("/api/v1/sales", json!({"agent_code": "PA1", "product_id": product, "amount": "5", "sale_date": "2026-03-04", "policy_number": "POL-9"}))
        .await;
    assert_eq!((s, b["code"].as_str()), (409, Some("duplicate_policy_number")), "{b}");

    // DELETE removes the mirror; a mirror with later transactions blocks the delete.
    let other = app.sale("PA1", product, "40.00", "2026-03-05").await;
    let (s, _) = app.delete(&format!("/api/v1/sales/{other}")).await;
    assert_eq!(s, 204);
    let (_, gone) = app.get(&format!("/api/v1/policies?policy_number=SALE-{other}")).await;
    assert!(gone["items"].as_array().unwrap().is_empty(), "{gone}");
    let m = mirror_of(app, "P-NEW").await;
    let pid = m["id"].as_i64().unwrap();
    let (s, _) = app
        .post(
            &format!("/api/v1/policies/{pid}/transactions"),
            json!({"kind": "cancellation", "effective_date": "2026-03-06", "amount": "-300"}),
        )
        .await;
    assert_eq!(s, 201);
    let (s, b) = app.delete(&format!("/api/v1/sales/{via_api}")).await;
    assert_eq!((s, b["code"].as_str()), (409, Some("policy_has_transactions")), "{b}");
    let (s, _) = app.get(&format!("/api/v1/sales/{via_api}")).await;
    assert_eq!(s, 200, "the sale stays");
}

/// An imported file's sales get their mirrors in the import's own batches; a policy number a
/// policy already holds is rejected as a duplicate line, not a failed batch.
async fn imported_sales_are_mirrored(app: &TestApp) {
    let product = setup(app).await;
    split_policy(app, "POL-HELD", product).await;
    let mut file = String::from("agent_code,product_id,amount,sale_date,policy_number\n");
    for i in 0..250 {
        file.push_str(&format!("PA{},{product},{}.50,2026-03-0{},IMP-{i}\n", 1 + i % 3, i + 1, 1 + i % 9));
    }
    file.push_str(&format!("PA1,{product},5.00,2026-03-01,POL-HELD\n"));
    let request = app.request(reqwest::Method::POST, "/api/v1/sales/import?mode=valid_rows");
    let (s, report) = crate::common::send_file_json(request, "text/csv", &file).await;
    assert_eq!(s, 200, "{report}");
    assert_eq!((report["accepted"].as_i64(), report["rejected"].as_i64()), (Some(250), Some(1)), "{report}");
    let (_, page) = app.get("/api/v1/policies?limit=500").await;
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 251, "250 mirrors and the split policy");
    let m = mirror_of(app, "IMP-249").await;
    assert_eq!(m["premium"], "250.50");
    assert_eq!(credits(&m["transactions"][0]), vec![("PA1".into(), 10000, "250.50".into())]);
}

async fn backfill_mirrors_earlier_sales_once(app: &TestApp) {
    let product = setup(app).await;
    let a = app.sale("PA1", product, "10.00", "2026-03-01").await;
    let b = app.sale("PA2", product, "20.00", "2026-03-02").await;
    // As if written by a release before the mirror: remove the mirrors behind its back.
    for table in ["transaction_credits", "policy_transactions", "policies"] {
        let mut tx = app.store.begin().await.unwrap();
        tx.execute_sql(format!("DELETE FROM {table}")).await.unwrap();
        tx.commit().await.unwrap();
    }
    let (_, none) = app.get("/api/v1/policies").await;
    assert!(none["items"].as_array().unwrap().is_empty());
    let first = moon_server::policies::mirror::backfill(&app.store).await.unwrap();
    assert_eq!(first.mirrored, 2);
    let second = moon_server::policies::mirror::backfill(&app.store).await.unwrap();
    assert_eq!(second.mirrored, 0, "idempotent");
    let (_, all) = app.get("/api/v1/policies").await;
    let numbers: Vec<&str> =
        all["items"].as_array().unwrap().iter().map(|p| p["policy_number"].as_str().unwrap()).collect();
    assert_eq!(numbers, [format!("SALE-{a}"), format!("SALE-{b}")]);
    let m = mirror_of(app, &format!("SALE-{b}")).await;
    assert_eq!(m["transactions"][0]["created_by"], "system:policy_backfill");
    assert_eq!(credits(&m["transactions"][0]), vec![("PA2".into(), 10000, "20.00".into())]);
}

fn sales_count(b: &Value) -> i64 {
    b["items"].as_array().unwrap().iter().map(|r| r["sales_count"].as_i64().unwrap_or(0)).sum()
}

/// An entry of a kind this release does not know (as a newer colour would write) is skipped:
/// the aggregator keeps applying the entries after it.
async fn unknown_change_log_entities_are_skipped(app: &TestApp) {
    let product = setup(app).await;
    app.sale("PA1", product, "10.00", "2026-03-01").await;
    app.wait_for("/api/v1/kpis/branches", Duration::from_secs(5), |b| sales_count(b) == 1).await;
    let mut tx = app.store.begin().await.unwrap();
    let future = moon_changelog::Event::Unknown {
        entity: String::from("credit"),
        id: 1,
        before: None,
        after: Some(String::from(r#"{"kind":"renewal","cents":100}"#)),
    };
    moon_changelog::record(&mut tx, &[future]).await.unwrap();
    tx.commit().await.unwrap();
    app.sale("PA2", product, "20.00", "2026-03-02").await;
    let b = app.wait_for("/api/v1/kpis/branches", Duration::from_secs(5), |b| sales_count(b) == 2).await;
    assert_eq!(sales_count(&b), 2);
    let log = moon_changelog::read_after(&app.store, 0, 1000).await.unwrap();
    assert!(
        log.iter().any(|e| matches!(&e.event, moon_changelog::Event::Unknown { entity, .. } if entity == "credit"))
    );
    // Counted on /metrics (a process-wide count: other tests in this process may add to it).
    let started = std::time::Instant::now();
    loop {
        let text = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
        let count = text
            .lines()
            .find_map(|l| l.strip_prefix("moon_changelog_unknown_entries_total "))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .unwrap_or(0.0);
        if count >= 1.0 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(5), "no unknown entries counted: {text}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

on_every_backend!(
    a_split_policy_credits_exactly_its_premium,
    listings_filter_and_page,
    transaction_kinds_keep_their_signs_limits_and_statuses,
    scopes_follow_the_credits,
    every_sale_is_mirrored_as_a_policy,
    backfill_mirrors_earlier_sales_once,
    imported_sales_are_mirrored,
    unknown_change_log_entities_are_skipped,
);
