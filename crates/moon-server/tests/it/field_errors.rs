//! A request with several bad fields is answered with all of them at once, values of the wrong
//! JSON type included (issue 19, item 7), on the API and on the original routes.

use crate::common::TestApp;
use serde_json::{Value, json};

fn fields(problem: &Value) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = problem["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("no errors[] in {problem}"))
        .iter()
        .map(|e| (e["field"].as_str().unwrap().to_owned(), e["code"].as_str().unwrap().to_owned()))
        .collect();
    out.sort();
    out
}

fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut out: Vec<_> = expected.iter().map(|(f, c)| ((*f).to_owned(), (*c).to_owned())).collect();
    out.sort();
    out
}

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

on_every_backend!(every_bad_sale_field_is_listed_type_errors_included);
