//! Listings sorted by a column page by (column, id): every row exactly once, in order, whatever
//! the duplicates, on SQLite, PostgreSQL and MariaDB/MySQL.

use std::cmp::Ordering;

use crate::common::{TestApp, TestClient};
use serde_json::{Value, json};

on_every_backend!(
    agents_page_completely_in_every_sort_and_order,
    sales_page_completely_in_every_sort_and_order,
    sorting_keeps_filters_and_a_managers_branch,
    an_unknown_sort_is_a_400_naming_the_field_and_the_allowed_values,
    a_cursor_from_another_sort_is_refused,
);

/// Every item of a listing, following `next_cursor` with a small page size.
async fn walk(client: &TestClient, path: &str) -> Vec<Value> {
    let mut items = Vec::new();
    let mut cursor = String::new();
    for _ in 0..100 {
        let (s, page) = client.get(&format!("{path}&limit=2{cursor}")).await;
        assert_eq!(s, 200, "{path}: {page}");
        items.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["page"]["next_cursor"].as_str() {
            Some(c) => cursor = format!("&cursor={c}"),
            None => return items,
        }
    }
    panic!("{path} never reached its last page");
}

fn ids(items: &[Value]) -> Vec<i64> {
    items.iter().map(|i| i["id"].as_i64().unwrap()).collect()
}

/// The ids of `all` ordered by (`key`, id), reversed for descending.
fn expected<K: Ord>(all: &[Value], key: impl Fn(&Value) -> K, descending: bool) -> Vec<i64> {
    let mut sorted: Vec<&Value> = all.iter().collect();
    sorted.sort_by(|a, b| match key(a).cmp(&key(b)) {
        Ordering::Equal => a["id"].as_i64().cmp(&b["id"].as_i64()),
        other => other,
    });
    if descending {
        sorted.reverse();
    }
    sorted.into_iter().map(|v| v["id"].as_i64().unwrap()).collect()
}

fn text(v: &Value, field: &str) -> String {
    v[field].as_str().unwrap().to_owned()
}

/// Agents created out of code and name order, sharing branches, teams and family names. Plain
/// capitalised ASCII, so every backend's collation orders them as Rust does.
async fn some_agents(app: &TestApp) {
    for (code, first, last, branch, team) in [
        ("AGT005", "Nimal", "Perera", "Kandy", "Beta"),
        ("AGT002", "Amal", "Silva", "Colombo", "Alpha"),
        ("AGT009", "Kamal", "Perera", "Colombo", "Beta"),
        ("AGT001", "Sunil", "Fernando", "Galle", "Alpha"),
        ("AGT007", "Amal", "Perera", "Colombo", "Alpha"),
        ("AGT003", "Ruwan", "Silva", "Kandy", "Gamma"),
        ("AGT008", "Nimal", "Perera", "Colombo", "Beta"),
        ("AGT004", "Dilan", "Bandara", "Colombo", "Delta"),
        ("AGT006", "Amal", "Silva", "Galle", "Beta"),
    ] {
        let body = json!({"agent_code": code, "first_name": first, "last_name": last, "branch": branch, "team": team});
        let (s, b) = app.post("/api/v1/agents", body).await;
        assert_eq!(s, 201, "{b}");
    }
}

async fn agents_page_completely_in_every_sort_and_order(app: &TestApp) {
    some_agents(app).await;
    let (_, all) = app.get("/api/v1/agents?limit=500").await;
    let all = all["items"].as_array().unwrap().clone();
    assert_eq!(all.len(), 9);
    for descending in [false, true] {
        let order = if descending { "desc" } else { "asc" };
        let walked = |sort: &str| format!("/api/v1/agents?sort={sort}&order={order}");
        let by = |field: &'static str| move |a: &Value| text(a, field);
        assert_eq!(ids(&walk(app, &walked("id")).await), expected(&all, |a| a["id"].as_i64(), descending));
        for field in ["agent_code", "team", "branch"] {
            let got = ids(&walk(app, &walked(field)).await);
            assert_eq!(got, expected(&all, by(field), descending), "sort={field}&order={order}");
        }
        let got = ids(&walk(app, &walked("name")).await);
        let name = |a: &Value| (text(a, "last_name"), text(a, "first_name"));
        assert_eq!(got, expected(&all, name, descending), "sort=name&order={order}: family name, given name, id");
    }
}

async fn sales_page_completely_in_every_sort_and_order(app: &TestApp) {
    app.agent("AGT001", "Colombo", "Alpha").await;
    let product = app.product("Life Plus", "1000.00").await;
    for (amount, date) in [
        ("250.00", "2026-11-03"),
        ("100.00", "2026-11-01"),
        ("250.00", "2026-11-01"),
        ("75.50", "2026-11-03"),
        ("100.00", "2026-11-02"),
        ("250.00", "2026-11-03"),
        ("1200.00", "2026-11-01"),
        ("100.00", "2026-11-03"),
    ] {
        app.sale("AGT001", product, amount, date).await;
    }
    let (_, all) = app.get("/api/v1/sales?limit=500").await;
    let all = all["items"].as_array().unwrap().clone();
    assert_eq!(all.len(), 8);
    let cents = |s: &Value| {
        let (whole, frac) = s["amount"].as_str().unwrap().split_once('.').unwrap();
        whole.parse::<i64>().unwrap() * 100 + frac.parse::<i64>().unwrap()
    };
    for descending in [false, true] {
        let order = if descending { "desc" } else { "asc" };
        let walked = |sort: &str| format!("/api/v1/sales?sort={sort}&order={order}");
        assert_eq!(ids(&walk(app, &walked("id")).await), expected(&all, |s| s["id"].as_i64(), descending));
        let got = ids(&walk(app, &walked("sale_date")).await);
        assert_eq!(got, expected(&all, |s| text(s, "sale_date"), descending), "sort=sale_date&order={order}");
        let got = ids(&walk(app, &walked("amount")).await);
        assert_eq!(got, expected(&all, cents, descending), "sort=amount&order={order}: by value, not as text");
    }
}

async fn sorting_keeps_filters_and_a_managers_branch(app: &TestApp) {
    some_agents(app).await;
    let (_, all) = app.get("/api/v1/agents?limit=500").await;
    let colombo: Vec<Value> =
        all["items"].as_array().unwrap().iter().filter(|a| a["branch"] == "Colombo").cloned().collect();
    let name = |a: &Value| (text(a, "last_name"), text(a, "first_name"));
    let want = expected(&colombo, name, true);
    assert_eq!(want.len(), 5);
    let filtered = walk(app, "/api/v1/agents?branch=Colombo&sort=name&order=desc").await;
    assert_eq!(ids(&filtered), want, "a filter and a sort combine");
    let manager = app.client_as("manager", Some("Colombo")).await;
    let scoped = walk(&manager, "/api/v1/agents?sort=name&order=desc").await;
    assert_eq!(ids(&scoped), want, "a manager still sees only their branch");
}

async fn an_unknown_sort_is_a_400_naming_the_field_and_the_allowed_values(app: &TestApp) {
    for (path, allowed) in [
        ("/api/v1/agents?sort=salary", ["agent_code", "name", "team", "branch"].as_slice()),
        ("/api/v1/sales?sort=agent_code", ["id", "sale_date", "amount"].as_slice()),
    ] {
        let (s, p) = app.get(path).await;
        assert_eq!((s, p["code"].as_str()), (400, Some("invalid_query")), "{path}: {p}");
        assert_eq!(p["errors"][0]["field"], "sort", "{path}: {p}");
        let message = p["errors"][0]["message"].as_str().unwrap();
        for value in allowed {
            assert!(message.contains(&format!("`{value}`")), "{path}: {message} should list {value}");
        }
    }
    // A parameter sent empty is one not sent (issue 18): `sort=` is the default order.
    let (s, empty) = app.get("/api/v1/agents?sort=").await;
    let (_, default) = app.get("/api/v1/agents").await;
    assert_eq!((s, &empty["items"]), (200, &default["items"]), "{empty}");
}

async fn a_cursor_from_another_sort_is_refused(app: &TestApp) {
    some_agents(app).await;
    let first_page = |path: String| async move {
        let (s, p) = app.get(&path).await;
        assert_eq!(s, 200, "{p}");
        p["page"]["next_cursor"].as_str().unwrap().to_owned()
    };
    let by_team = first_page("/api/v1/agents?sort=team&limit=2".into()).await;
    let by_id = first_page("/api/v1/agents?limit=2".into()).await;
    for path in [
        format!("/api/v1/agents?sort=branch&cursor={by_team}"),
        format!("/api/v1/agents?cursor={by_team}"),
        format!("/api/v1/agents?sort=id&cursor={by_team}"),
        format!("/api/v1/agents?sort=team&cursor={by_id}"),
        "/api/v1/agents?sort=team&cursor=not-a-cursor".to_owned(),
        format!("/api/v1/sales?sort=sale_date&cursor={by_team}"),
    ] {
        let (s, p) = app.get(&path).await;
        assert_eq!(s, 422, "{path}: {p}");
        assert_eq!(
            (p["errors"][0]["field"].as_str(), p["errors"][0]["code"].as_str()),
            (Some("cursor"), Some("invalid_cursor"))
        );
    }
    let (s, p) = app.get(&format!("/api/v1/agents?sort=team&order=desc&cursor={by_team}")).await;
    assert_eq!(s, 200, "the same sort in the other direction reads the cursor: {p}");
}
