//! Commission plans as data (issue 15, item 4), on every backend: create, version, retire, the
//! plan that applies to a product, role and day (mid-period changes included), validation that
//! lists every bad field, role refusals and scoped reads, the audit trail, the console page and
//! paging.

use serde_json::{Value, json};

use crate::common::{TestApp, fields, pairs};

async fn product(app: &TestApp, line: &str, name: &str) -> i64 {
    let (s, b) = app
        .post("/api/v1/products", json!({"product_type": line, "product_name": name, "target_amount": "1000"}))
        .await;
    assert_eq!(s, 201, "{b}");
    b["id"].as_i64().unwrap()
}

async fn create(app: &TestApp, body: Value) -> i64 {
    let (s, b) = app.post("/api/v1/commission-plans", body).await;
    assert_eq!(s, 201, "{b}");
    b["id"].as_i64().unwrap()
}

/// The plan and version that pay `role` for `product` on `date`, as `(plan id, version)`.
async fn applies(app: &TestApp, product: i64, role: &str, date: &str) -> Option<(i64, i64)> {
    let (s, b) =
        app.get(&format!("/api/v1/commission-plans/applicable?product_id={product}&role={role}&date={date}")).await;
    match s {
        200 => Some((b["plan"]["id"].as_i64().unwrap(), b["version"]["version"].as_i64().unwrap())),
        404 => None,
        _ => panic!("{s} {b}"),
    }
}

fn tiered_rules() -> Value {
    json!({
        "base_rate": "5",
        "tiers": [
            {"from_percent": 0, "to_percent": 100, "multiplier": 1},
            {"from_percent": 100, "multiplier": "1.2"}
        ],
        "cap": "2500.00",
        "clawback": {"within_days": 30}
    })
}

async fn plans_are_versioned_and_the_applicable_one_follows_the_date(app: &TestApp) {
    let life = product(app, "Life", "Life Basic").await;
    let motor = product(app, "Vehicle", "Motor Plus").await;
    let line = create(
        app,
        json!({"name": "Life agents", "role": "agent", "product_line": "Life", "effective_from": "2026-01-01",
               "rules": tiered_rules(), "note": "2026 scheme"}),
    )
    .await;
    let own = create(
        app,
        json!({"name": "Life Basic push", "role": "agent", "product_id": life, "effective_from": "2026-11-16",
               "rules": {"base_rate": 6}}),
    )
    .await;
    let all = create(app, json!({"name": "Everything else", "role": "agent", "effective_from": "2026-01-01", "rules": {"base_rate": "1.5"}})).await;

    // A mid-month change: version 2 of the line's plan from 15 November.
    let (s, p) = app
        .post(
            &format!("/api/v1/commission-plans/{line}/versions"),
            json!({"effective_from": "2026-11-15", "rules": {"base_rate": "4.25", "tiers": [{"from_percent": 100, "multiplier": "1.3"}]}}),
        )
        .await;
    assert_eq!(s, 201, "{p}");
    let versions = p["versions"].as_array().unwrap();
    assert_eq!(versions.len(), 2, "{p}");
    assert_eq!(
        (versions[0]["version"].as_i64(), versions[0]["rules"]["base_rate"].as_str()),
        (Some(1), Some("5")),
        "version 1 stays readable"
    );
    assert_eq!(versions[0]["rules"]["tiers"][1], json!({"from_percent": "100", "multiplier": "1.2"}));
    assert_eq!(versions[0]["rules"]["cap"], "2500.00");
    assert_eq!(versions[0]["note"], "2026 scheme");
    assert_eq!((versions[1]["version"].as_i64(), versions[1]["rules"]["base_rate"].as_str()), (Some(2), Some("4.25")));
    assert_eq!(versions[1]["status"], "active");

    assert_eq!(applies(app, life, "agent", "2025-12-31").await, None, "nothing before the first version");
    assert_eq!(
        applies(app, life, "agent", "2026-11-14").await,
        Some((line, 1)),
        "the line's plan, version 1, until the change"
    );
    assert_eq!(applies(app, life, "agent", "2026-11-15").await, Some((line, 2)), "version 2 from its first day");
    assert_eq!(
        applies(app, life, "agent", "2026-11-16").await,
        Some((own, 1)),
        "the product's own plan beats its line's"
    );
    assert_eq!(
        applies(app, motor, "agent", "2026-11-16").await,
        Some((all, 1)),
        "another line falls back to every product"
    );
    assert_eq!(applies(app, life, "manager", "2026-11-16").await, None, "no plan pays managers");
    let (s, b) = app.get(&format!("/api/v1/commission-plans/applicable?product_id={life}&date=2026-11-15")).await;
    assert_eq!(
        (s, b["version"]["rules"]["base_rate"].as_str(), b["plan"]["current_version"].as_i64()),
        (200, Some("4.25"), Some(2)),
        "{b}"
    );

    // Retiring the product's plan hands the product back to its line's plan from that day.
    let (s, p) = app
        .post(
            &format!("/api/v1/commission-plans/{own}/retire"),
            json!({"effective_from": "2026-12-01", "note": "push over"}),
        )
        .await;
    assert_eq!((s, p["versions"][1]["status"].as_str()), (200, Some("retired")), "{p}");
    assert_eq!(p["versions"][1]["rules"], Value::Null);
    assert_eq!(applies(app, life, "agent", "2026-11-30").await, Some((own, 1)));
    assert_eq!(applies(app, life, "agent", "2026-12-01").await, Some((line, 2)));
    let (s, b) =
        app.post(&format!("/api/v1/commission-plans/{own}/retire"), json!({"effective_from": "2027-01-01"})).await;
    assert_eq!((s, b["code"].as_str()), (409, Some("already_retired")), "{b}");
    // A later version revives it.
    let (s, _) = app
        .post(
            &format!("/api/v1/commission-plans/{own}/versions"),
            json!({"effective_from": "2027-02-01", "rules": {"base_rate": 7}}),
        )
        .await;
    assert_eq!(s, 201);
    assert_eq!(applies(app, life, "agent", "2027-02-01").await, Some((own, 3)));

    // Versions are followed, never rewritten: a date on or before the latest is refused.
    let (s, b) = app
        .post(
            &format!("/api/v1/commission-plans/{line}/versions"),
            json!({"effective_from": "2026-11-15", "rules": {"base_rate": 1}}),
        )
        .await;
    assert_eq!((s, fields(&b)), (422, pairs(&[("effective_from", "not_after_latest")])), "{b}");
    let (s, b) = app.get(&format!("/api/v1/commission-plans/{line}")).await;
    assert_eq!((s, b["versions"].as_array().unwrap().len()), (200, 2), "{b}");

    // One plan per role and subject.
    let (s, b) = app.post("/api/v1/commission-plans", json!({"name": "Again", "role": "agent", "product_line": "Life", "effective_from": "2027-01-01", "rules": {"base_rate": 1}})).await;
    assert_eq!((s, b["code"].as_str()), (409, Some("duplicate_plan")), "{b}");
    // ... but the same line may have a managers' plan.
    create(app, json!({"name": "Life managers", "role": "manager", "product_line": "Life", "effective_from": "2026-01-01", "rules": {"base_rate": "0.5"}})).await;
    assert_eq!(applies(app, life, "manager", "2026-11-16").await.map(|(_, v)| v), Some(1));

    // Paging: four plans, two a page.
    let (s, first) = app.get("/api/v1/commission-plans?limit=2").await;
    assert_eq!((s, first["items"].as_array().unwrap().len()), (200, 2), "{first}");
    let cursor = first["page"]["next_cursor"].as_str().unwrap().to_owned();
    let (_, second) = app.get(&format!("/api/v1/commission-plans?limit=2&cursor={cursor}")).await;
    assert_eq!(second["items"].as_array().unwrap().len(), 2, "{second}");
    assert_eq!(second["page"]["next_cursor"], Value::Null);
    let (_, managers) = app.get("/api/v1/commission-plans?role=manager").await;
    assert_eq!(managers["items"].as_array().unwrap().len(), 1, "{managers}");
    let (s, b) = app.get("/api/v1/commission-plans?role=boss&product_id=x").await;
    assert_eq!(s, 422, "{b}");
    assert_eq!(fields(&b).len(), 2, "{b}");
}

async fn validation_lists_every_bad_field_and_writes_nothing(app: &TestApp) {
    let life = product(app, "Life", "Life Basic").await;
    let body = json!({
        "role": "boss",
        "product_id": 99_999,
        "effective_from": "2026-13-01",
        "note": "x".repeat(501),
        "rules": {
            "base_rate": "-1",
            "tiers": [
                {"from_percent": 0, "to_percent": 110, "multiplier": 1},
                {"from_percent": 100, "multiplier": "1.2"}
            ],
            "cap": "0",
            "clawback": {"within_days": 0},
            "incentives": [
                {"name": "December drive", "from": "2026-12-31", "to": "2026-12-01", "product_id": 88_888,
                 "prize": {"kind": "per_policy", "amount": "25"}},
                {"name": "Fine", "from": "2026-12-01", "to": "2026-12-31", "product_id": life,
                 "prize": {"kind": "extra_rate"}}
            ]
        }
    });
    let (s, b) = app.post("/api/v1/commission-plans", body).await;
    assert_eq!((s, b["code"].as_str()), (422, Some("validation_failed")), "{b}");
    let want = pairs(&[
        ("effective_from", "invalid_date"),
        ("name", "required"),
        ("note", "invalid_note"),
        ("product_id", "unknown_product"),
        ("role", "invalid_role"),
        ("rules.base_rate", "out_of_range"),
        ("rules.cap", "not_positive"),
        ("rules.clawback.within_days", "out_of_range"),
        ("rules.incentives[0].product_id", "unknown_product"),
        ("rules.incentives[0].to", "window_end_before_start"),
        ("rules.incentives[1].prize.percent", "required"),
        ("rules.tiers[1].from_percent", "overlapping_tiers"),
    ]);
    assert_eq!(fields(&b), want, "{b}");

    let (s, b) = app
        .post(
            "/api/v1/commission-plans",
            json!({"name": "Ghost line", "role": "agent", "product_line": "Marine", "effective_from": "2026-01-01", "rules": {"base_rate": 1}}),
        )
        .await;
    assert_eq!((s, fields(&b)), (422, pairs(&[("product_line", "unknown_product_line")])), "{b}");
    let (s, b) = app.post("/api/v1/commission-plans", json!({"name": "Both", "role": "agent", "product_id": life, "product_line": "Life", "effective_from": "2026-01-01"})).await;
    assert_eq!((s, fields(&b)), (422, pairs(&[("product_line", "ambiguous"), ("rules", "required")])), "{b}");
    let (s, b) = app.post("/api/v1/commission-plans", json!({"name": "Typo", "role": "agent", "effective_from": "2026-01-01", "rules": {"base_rate": 1, "bonus": 2}})).await;
    assert_eq!(s, 422, "unknown fields are refused: {b}");

    let (_, list) = app.get("/api/v1/commission-plans").await;
    assert_eq!(list["items"], json!([]), "nothing was written: {list}");
    let (_, trail) = app.get("/api/v1/audit?entity=commission_plan").await;
    assert_eq!(trail["items"], json!([]), "and nothing audited: {trail}");

    // A version is validated the same way; an unknown plan is a 404.
    let plan = create(app, json!({"name": "Life agents", "role": "agent", "product_line": "Life", "effective_from": "2026-01-01", "rules": {"base_rate": 5}})).await;
    let (s, b) = app
        .post(
            &format!("/api/v1/commission-plans/{plan}/versions"),
            json!({"rules": {"base_rate": "100.5", "renewal_rate": "x"}}),
        )
        .await;
    let want = pairs(&[
        ("effective_from", "required"),
        ("rules.base_rate", "out_of_range"),
        ("rules.renewal_rate", "invalid_number"),
    ]);
    assert_eq!((s, fields(&b)), (422, want), "{b}");
    let (s, _) = app
        .post(
            "/api/v1/commission-plans/999999/versions",
            json!({"effective_from": "2027-01-01", "rules": {"base_rate": 1}}),
        )
        .await;
    assert_eq!(s, 404);
    let (s, _) = app.post("/api/v1/commission-plans/999999/retire", json!({"effective_from": "2027-01-01"})).await;
    assert_eq!(s, 404);
    let (s, b) = app.get("/api/v1/commission-plans/applicable?product_id=999999").await;
    assert_eq!((s, fields(&b)), (422, pairs(&[("product_id", "unknown_product")])), "{b}");
    let (s, b) = app.get("/api/v1/commission-plans/applicable?role=boss&date=2026-02-30").await;
    let want = pairs(&[("date", "invalid_date"), ("product_id", "required"), ("role", "invalid_role")]);
    assert_eq!((s, fields(&b)), (422, want), "{b}");
}

async fn only_admins_change_plans_and_each_role_reads_the_plans_that_pay_it(app: &TestApp) {
    app.agent("CPA001", "Colombo", "Alpha").await;
    let life = product(app, "Life", "Life Basic").await;
    let agents = create(
        app,
        json!({"name": "Agents", "role": "agent", "effective_from": "2026-01-01", "rules": {"base_rate": 5}}),
    )
    .await;
    let managers = create(
        app,
        json!({"name": "Managers", "role": "manager", "effective_from": "2026-01-01", "rules": {"base_rate": 1}}),
    )
    .await;
    let body = json!({"name": "Mine", "role": "agent", "product_id": life, "effective_from": "2026-01-01", "rules": {"base_rate": 50}});
    let version = json!({"effective_from": "2027-01-01", "rules": {"base_rate": 50}});

    let ids =
        |b: &Value| -> Vec<i64> { b["items"].as_array().unwrap().iter().map(|p| p["id"].as_i64().unwrap()).collect() };
    for (role, bound, sees) in [
        ("agent", Some("CPA001"), vec![agents]),
        ("manager", Some("Colombo"), vec![agents, managers]),
        ("analyst", None, vec![agents, managers]),
    ] {
        let c = app.client_as(role, bound).await;
        let (s, b) = c.post("/api/v1/commission-plans", body.clone()).await;
        assert_eq!((s, b["code"].as_str()), (403, Some("forbidden")), "{role}: {b}");
        assert_eq!(
            c.post(&format!("/api/v1/commission-plans/{agents}/versions"), version.clone()).await.0,
            403,
            "{role}"
        );
        assert_eq!(
            c.post(&format!("/api/v1/commission-plans/{agents}/retire"), json!({"effective_from": "2027-01-01"}))
                .await
                .0,
            403,
            "{role}"
        );
        let (s, b) = c.get("/api/v1/commission-plans").await;
        assert_eq!((s, ids(&b)), (200, sees.clone()), "{role}: {b}");
        let (s, _) = c.get(&format!("/api/v1/commission-plans/{managers}")).await;
        assert_eq!(s, if sees.contains(&managers) { 200 } else { 404 }, "{role} reading the managers' plan");
        let (s, _) =
            c.get(&format!("/api/v1/commission-plans/applicable?product_id={life}&role=manager&date=2026-06-01")).await;
        assert_eq!(s, if sees.contains(&managers) { 200 } else { 404 }, "{role} asking for the managers' plan");
        let (s, b) = c.get(&format!("/api/v1/commission-plans/applicable?product_id={life}&date=2026-06-01")).await;
        assert_eq!((s, b["plan"]["id"].as_i64()), (200, Some(agents)), "{role}: {b}");
    }
    let (_, b) = app.get(&format!("/api/v1/commission-plans/{agents}")).await;
    assert_eq!(b["versions"].as_array().unwrap().len(), 1, "the refused changes left nothing: {b}");
}

async fn every_change_is_audited_in_its_transaction(app: &TestApp) {
    product(app, "Life", "Life Basic").await;
    let plan = create(app, json!({"name": "Life agents", "role": "agent", "product_line": "Life", "effective_from": "2026-01-01", "rules": tiered_rules()})).await;
    let (s, _) = app
        .post(
            &format!("/api/v1/commission-plans/{plan}/versions"),
            json!({"effective_from": "2026-07-01", "rules": {"base_rate": 4}, "note": "mid-year"}),
        )
        .await;
    assert_eq!(s, 201);
    let (s, _) =
        app.post(&format!("/api/v1/commission-plans/{plan}/retire"), json!({"effective_from": "2027-01-01"})).await;
    assert_eq!(s, 200);
    let (s, trail) = app.get(&format!("/api/v1/audit?entity=commission_plan&entity_id={plan}")).await;
    assert_eq!(s, 200, "{trail}");
    let mut entries: Vec<Value> = trail["items"].as_array().unwrap().clone();
    entries.sort_by_key(|e| e["id"].as_i64());
    let actions: Vec<&str> = entries.iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["commission_plan.create", "commission_plan.version", "commission_plan.retire"], "{trail}");
    let created = &entries[0]["changes"];
    assert_eq!(
        (created["version"].as_i64(), created["role"].as_str(), created["product_line"].as_str()),
        (Some(1), Some("agent"), Some("Life")),
        "{created}"
    );
    assert_eq!(created["rules"]["tiers"][1]["multiplier"], "1.2");
    assert_eq!(
        (entries[1]["changes"]["version"].as_i64(), entries[1]["changes"]["note"].as_str()),
        (Some(2), Some("mid-year"))
    );
    assert_eq!(entries[1]["changes"]["rules"]["base_rate"], "4");
    assert_eq!((entries[2]["changes"]["version"].as_i64(), &entries[2]["changes"]["rules"]), (Some(3), &Value::Null));
    // The trail's hash chain still verifies with the new entries in it.
    let verdict = moon_server::audit::verify(&app.store).await.unwrap();
    assert!(verdict.broken.is_none(), "{verdict:?}");
}

async fn parallel_versions_of_one_plan_are_numbered_in_turn(app: &TestApp) {
    let plan = create(
        app,
        json!({"name": "Race", "role": "agent", "effective_from": "2026-01-01", "rules": {"base_rate": 1}}),
    )
    .await;
    let path = format!("/api/v1/commission-plans/{plan}/versions");
    let attempts = (1..=10).map(|m| {
        let body = json!({"effective_from": format!("2027-{m:02}-01"), "rules": {"base_rate": m}});
        let path = path.clone();
        async move { app.post(&path, body).await }
    });
    let results = futures::future::join_all(attempts).await;
    for (s, b) in &results {
        let refused_as_stale = *s == 422 && fields(b) == pairs(&[("effective_from", "not_after_latest")]);
        assert!(*s == 201 || refused_as_stale || (*s == 409 && b["code"] == "concurrent_version"), "{s} {b}");
    }
    let added = results.iter().filter(|(s, _)| *s == 201).count();
    assert!(added >= 1, "{results:?}");
    let (_, p) = app.get(&format!("/api/v1/commission-plans/{plan}")).await;
    let versions = p["versions"].as_array().unwrap();
    assert_eq!(versions.len(), added + 1, "{p}");
    for (i, v) in versions.iter().enumerate() {
        assert_eq!(v["version"].as_i64(), Some(i as i64 + 1), "numbered in date order without gaps: {p}");
    }
    let (_, trail) = app.get(&format!("/api/v1/audit?entity=commission_plan&entity_id={plan}&limit=100")).await;
    assert_eq!(trail["items"].as_array().unwrap().len(), added + 1, "one audit entry per version written: {trail}");
}

async fn the_console_lists_plans_and_their_versions(app: &TestApp) {
    use crate::web::{browser, page, sign_in_form};
    product(app, "Life", "Life Basic").await;
    let plan = create(app, json!({"name": "Life agents", "role": "agent", "product_line": "Life", "effective_from": "2026-01-01", "rules": tiered_rules()})).await;
    let (s, _) = app
        .post(
            &format!("/api/v1/commission-plans/{plan}/versions"),
            json!({"effective_from": "2099-01-01", "rules": {"base_rate": 4}}),
        )
        .await;
    assert_eq!(s, 201);
    create(
        app,
        json!({"name": "Managers", "role": "manager", "effective_from": "2026-01-01", "rules": {"base_rate": 1}}),
    )
    .await;

    let (_, name, pw) = app.user("admin", None).await;
    let cookie = sign_in_form(app, &name, &pw).await;
    let (s, _, html) = page(&browser(), app, "/commission-plans", Some(&cookie)).await;
    assert_eq!(s, 200, "{html}");
    assert!(html.contains("href=\"/commission-plans\""), "the navigation offers the page");
    assert!(html.contains("2 plan(s)"), "{html}");
    let row = |version: i64| {
        let start = html.find(&format!("data-plan=\"{plan}\" data-version=\"{version}\"")).expect("a row per version");
        html[start..start + html[start..].find("</tr>").unwrap()].to_owned()
    };
    assert!(row(1).contains("(in force)") && row(1).contains("×1.2 from 100 % of target"), "{}", row(1));
    assert!(row(1).contains("Capped at 2500.00") && row(1).contains("within 30 days"), "{}", row(1));
    assert!(row(2).contains("2099-01-01") && !row(2).contains("(in force)"), "{}", row(2));

    app.agent("CPA002", "Colombo", "Alpha").await;
    let (_, name, pw) = app.user("agent", Some("CPA002")).await;
    let cookie = sign_in_form(app, &name, &pw).await;
    let (s, _, html) = page(&browser(), app, "/commission-plans", Some(&cookie)).await;
    assert_eq!(s, 200, "{html}");
    assert!(html.contains("1 plan(s)") && !html.contains("Managers"), "an agent sees only the agents' plans: {html}");
}

on_every_backend!(
    plans_are_versioned_and_the_applicable_one_follows_the_date,
    validation_lists_every_bad_field_and_writes_nothing,
    only_admins_change_plans_and_each_role_reads_the_plans_that_pay_it,
    every_change_is_audited_in_its_transaction,
    parallel_versions_of_one_plan_are_numbered_in_turn,
);

/// Admins sign in to the console without a second factor here, as the other console tests do.
fn console(c: &mut moon_server::Config) {
    c.security.mfa_required_roles.clear();
}

on_every_backend_with!(web_console, super::super::console, the_console_lists_plans_and_their_versions);
