//! A request with several bad fields is answered with all of them at once, values of the wrong
//! JSON type included (issue 19, item 7), on the API and on the original routes.

use crate::common::{TestApp, fields, pairs};
use serde_json::json;

async fn every_bad_sale_field_is_listed_type_errors_included(app: &TestApp) {
    app.agent("FE1", "Colombo", "Alpha").await;
    let product = app.product("Field errors", "100.00").await;
    let (s, p) = app
        .post(
            "/api/v1/sales",
            json!({"agent_code": "FE1", "product_id": "x", "amount": "abc", "sale_date": "2026-01-02"}),
        )
        .await;
    assert_eq!(s, 422, "{p}");
    assert_eq!(fields(&p), pairs(&[("amount", "invalid_amount"), ("product_id", "invalid_type")]), "{p}");
    let (s, p) = app
        .post(
            "/api/v1/sales",
            json!({"agent_code": 5, "product_id": [1], "amount": true, "sale_date": 20260102, "branch": {}}),
        )
        .await;
    assert_eq!(s, 422, "{p}");
    assert_eq!(
        fields(&p),
        pairs(&[
            ("agent_code", "invalid_type"),
            ("amount", "invalid_type"),
            ("branch", "invalid_type"),
            ("product_id", "invalid_type"),
            ("sale_date", "invalid_type"),
        ]),
        "{p}"
    );
    let sale = app.sale("FE1", product, "10.00", "2026-01-02").await;
    let (s, p) = app
        .patch(&format!("/api/v1/sales/{sale}"), json!({"product_id": "x", "amount": "abc", "policy_number": 7}))
        .await;
    assert_eq!(s, 422, "{p}");
    assert_eq!(
        fields(&p),
        pairs(&[("amount", "invalid_amount"), ("policy_number", "invalid_type"), ("product_id", "invalid_type")]),
        "{p}"
    );
    // The original route: the same list, with its `message`.
    let (s, p) = app
        .post(
            "/integration/add",
            json!({"agent_code": 5, "product_id": "x", "amount": "abc", "sale_date": "2026-01-02"}),
        )
        .await;
    assert_eq!(s, 422, "{p}");
    assert_eq!(
        fields(&p),
        pairs(&[("agent_code", "invalid_type"), ("amount", "invalid_amount"), ("product_id", "invalid_id")]),
        "{p}"
    );
    assert!(p["message"].is_string(), "{p}");
    // Nothing was recorded by any of them.
    let (_, list) = app.get("/api/v1/sales?agent_code=FE1").await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
}

async fn every_bad_agent_field_is_listed_type_errors_included(app: &TestApp) {
    // The API: wrong types and bad values side by side, with a missing field.
    let (s, p) = app
        .post(
            "/api/v1/agents",
            json!({"agent_code": 5, "first_name": ["x"], "last_name": "Perera", "branch": "",
                   "email": "not-an-email", "active": "yes"}),
        )
        .await;
    assert_eq!(s, 422, "{p}");
    let got = fields(&p);
    for expected in [("active", "invalid_type"), ("agent_code", "invalid_type"), ("first_name", "invalid_type")] {
        assert!(got.contains(&(expected.0.to_owned(), expected.1.to_owned())), "{expected:?} missing in {p}");
    }
    let names: Vec<&str> = got.iter().map(|(f, _)| f.as_str()).collect();
    for field in ["branch", "email", "team"] {
        assert!(names.contains(&field), "{field} missing in {p}");
    }
    assert!(!names.contains(&"last_name"), "a good field is not listed: {p}");
    app.agent("FA1", "Colombo", "Alpha").await;
    let (_, listed) = app.get("/api/v1/agents?agent_code=FA1").await;
    let id = listed["items"][0]["id"].as_i64().unwrap_or_else(|| panic!("{listed}"));
    let (s, p) =
        app.patch(&format!("/api/v1/agents/{id}"), json!({"team": 7, "email": false, "analytics_consent": "no"})).await;
    assert_eq!(s, 422, "{p}");
    assert_eq!(
        fields(&p),
        pairs(&[("analytics_consent", "invalid_type"), ("email", "invalid_type"), ("team", "invalid_type")]),
        "{p}"
    );
    // The original routes: the same list, with the original `message`.
    let (s, p) = app
        .post("/agent/add", json!({"agent_code": 5, "first_name": 1.5, "last_name": "X", "branch": "B", "team": {}}))
        .await;
    assert_eq!(s, 422, "{p}");
    assert_eq!(
        fields(&p),
        pairs(&[("agent_code", "invalid_type"), ("first_name", "invalid_type"), ("team", "invalid_type")]),
        "{p}"
    );
    assert!(p["message"].is_string(), "{p}");
    let (s, p) = app.put("/agent/update/FA1", json!({"branch": 3, "contact_number": [1]})).await;
    assert_eq!(s, 422, "{p}");
    assert_eq!(fields(&p), pairs(&[("branch", "invalid_type"), ("contact_number", "invalid_type")]), "{p}");
    // Nothing was written by any of them.
    let (_, agent) = app.get(&format!("/api/v1/agents/{id}")).await;
    assert_eq!((agent["team"].as_str(), agent["branch"].as_str()), (Some("Alpha"), Some("Colombo")), "{agent}");
    let (_, list) = app.get("/api/v1/agents").await;
    assert_eq!(list["items"].as_array().map(Vec::len), Some(1), "{list}");
}

async fn every_bad_product_field_is_listed_type_errors_included(app: &TestApp) {
    let (s, p) =
        app.post("/api/v1/products", json!({"product_type": 5, "product_name": true, "target_amount": "abc"})).await;
    assert_eq!(s, 422, "{p}");
    assert_eq!(
        fields(&p),
        pairs(&[
            ("product_name", "invalid_type"),
            ("product_type", "invalid_type"),
            ("target_amount", "invalid_amount")
        ]),
        "{p}"
    );
    let (s, p) = app.post("/api/v1/products", json!({"product_name": ["Life"]})).await;
    assert_eq!(s, 422, "{p}");
    assert_eq!(
        fields(&p),
        pairs(&[("product_name", "invalid_type"), ("product_type", "required"), ("target_amount", "required")]),
        "{p}"
    );
    let id = app.product("Field errors product", "100.00").await;
    let (s, p) = app.patch(&format!("/api/v1/products/{id}"), json!({"product_type": {}, "target_amount": [1]})).await;
    assert_eq!(s, 422, "{p}");
    let got = fields(&p);
    assert_eq!(got.len(), 2, "{p}");
    assert_eq!(got[0], (String::from("product_type"), String::from("invalid_type")), "{p}");
    assert_eq!(got[1].0, "target_amount", "{p}");
    let (_, product) = app.get(&format!("/api/v1/products/{id}")).await;
    assert_eq!(product["target_amount"], json!("100.00"), "{product}");
    let (_, list) = app.get("/api/v1/products").await;
    assert_eq!(list["items"].as_array().map(Vec::len), Some(1), "{list}");
}

on_every_backend!(
    every_bad_sale_field_is_listed_type_errors_included,
    every_bad_agent_field_is_listed_type_errors_included,
    every_bad_product_field_is_listed_type_errors_included,
);
