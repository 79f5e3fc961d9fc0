//! The business calendar and sales targets (issue 13, items 3 and 4), on every backend: holidays
//! and their import, targets' CRUD, validation, uniqueness, import report, copy forward, period
//! locks with corrections, role-scoped reads, the change log and the audit trail, and sales
//! dated by the business time zone.

use serde_json::{Value, json};

use crate::common::{TestApp, TestClient};

fn fields(problem: &Value) -> Vec<String> {
    let mut f: Vec<String> = problem["errors"]
        .as_array()
        .map(|a| a.iter().map(|e| e["field"].as_str().unwrap().to_owned()).collect())
        .unwrap_or_default();
    f.sort();
    f
}

async fn post_csv(client: &TestClient, path: &str, csv: &str) -> (u16, Value) {
    let r = client
        .request(reqwest::Method::POST, path)
        .header("content-type", "text/csv")
        .body(csv.to_owned())
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let ct = r.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let body: Value = r.json().await.unwrap();
    if status >= 400 {
        assert_eq!(ct, "application/problem+json", "{body}");
    }
    (status, body)
}

async fn audit_actions(app: &TestApp, action: &str) -> Vec<Value> {
    let (s, b) = app.get(&format!("/api/v1/audit?action={action}")).await;
    assert_eq!(s, 200, "{b}");
    b["items"].as_array().unwrap().clone()
}

async fn target_log_entries(app: &TestApp) -> Vec<moon_changelog::Entry> {
    moon_changelog::read_after(&app.store, 0, 10_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| matches!(e.event, moon_changelog::Event::Target { .. }))
        .collect()
}

async fn holidays_are_kept_by_admins_and_read_by_everyone(app: &TestApp) {
    let (s, h) = app.post("/api/v1/calendar/holidays", json!({"date": "2026-12-25", "name": "Christmas Day"})).await;
    assert_eq!((s, h["date"].as_str()), (201, Some("2026-12-25")), "{h}");
    let (s, p) = app.post("/api/v1/calendar/holidays", json!({"date": "2026-12-25", "name": "Again"})).await;
    assert_eq!((s, p["code"].as_str()), (409, Some("duplicate_holiday")));
    let (s, p) = app.post("/api/v1/calendar/holidays", json!({"date": "2026-02-30", "name": " "})).await;
    assert_eq!((s, fields(&p)), (422, vec![String::from("date"), String::from("name")]), "{p}");

    let analyst = app.client_as("analyst", None).await;
    let (s, list) = analyst.get("/api/v1/calendar/holidays?year=2026").await;
    assert_eq!((s, list.as_array().unwrap().len()), (200, 1), "{list}");
    let (s, _) = analyst.post("/api/v1/calendar/holidays", json!({"date": "2026-12-26", "name": "x"})).await;
    assert_eq!(s, 403);
    let (s, cal) = analyst.get("/api/v1/calendar").await;
    assert_eq!(
        (s, cal["time_zone"].as_str(), cal["fiscal_year_start_month"].as_i64()),
        (200, Some("UTC"), Some(1)),
        "{cal}"
    );
    assert_eq!(cal["working_days"], json!(["mon", "tue", "wed", "thu", "fri"]));

    // Import: every bad line is reported and nothing is written; partial keeps the good rows.
    let csv = "# gazette 2027\ndate,name\n2027-01-01,New Year\n2027-02-30,Bad date\n2027-05-01,\n2027-01-01,Twice\n";
    let (s, r) = post_csv(&app.admin(), "/api/v1/calendar/holidays/import", csv).await;
    assert_eq!((s, r["code"].as_str()), (422, Some("import_rejected")), "{r}");
    let lines: Vec<(i64, &str, &str)> = r["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["line"].as_i64().unwrap(), e["field"].as_str().unwrap(), e["code"].as_str().unwrap()))
        .collect();
    assert_eq!(lines, [(4, "date", "invalid_date"), (5, "name", "required"), (6, "date", "duplicate_in_file")]);
    let (_, list) = app.get("/api/v1/calendar/holidays?year=2027").await;
    assert_eq!(list.as_array().unwrap().len(), 0, "an all-or-nothing import with errors writes nothing");
    let (s, r) = post_csv(&app.admin(), "/api/v1/calendar/holidays/import?mode=partial", csv).await;
    assert_eq!((s, r["applied"].as_bool(), r["created"].as_i64()), (200, Some(true), Some(1)), "{r}");
    let (s, r) = post_csv(
        &app.admin(),
        "/api/v1/calendar/holidays/import",
        "date,name\n2027-01-01,New Year's Day\n2026-12-25,Christmas Day\n",
    )
    .await;
    assert_eq!((s, r["updated"].as_i64(), r["skipped"].as_i64()), (200, Some(1), Some(1)), "{r}");
    let (s, _) = app.delete("/api/v1/calendar/holidays/2026-12-25").await;
    assert_eq!(s, 204);
    let (s, _) = app.delete("/api/v1/calendar/holidays/2026-12-25").await;
    assert_eq!(s, 404);
    assert_eq!(audit_actions(app, "holiday.import").await.len(), 2);
}

async fn targets_are_set_replaced_changed_and_deleted(app: &TestApp) {
    app.agent("AGT001", "Colombo", "Alpha").await;
    let product = app.product("Life Gold", "1000.00").await;
    let (s, t) = app
        .post("/api/v1/targets", json!({"scope_kind": "agent", "scope_key": "agt001", "product": "Life Gold", "period": "2026-11", "amount": "2500.50", "policy_count": 4}))
        .await;
    assert_eq!(s, 201, "{t}");
    assert_eq!(
        (
            t["scope_key"].as_str(),
            t["product_id"].as_i64(),
            t["period"].as_str(),
            t["period_start"].as_str(),
            t["period_end"].as_str(),
            t["amount"].as_str(),
            t["policy_count"].as_i64()
        ),
        (
            Some("AGT001"),
            Some(product),
            Some("2026-11"),
            Some("2026-11-01"),
            Some("2026-11-30"),
            Some("2500.50"),
            Some(4)
        )
    );
    let id = t["id"].as_i64().unwrap();
    // The same scope, product and period is the same target: replaced, not duplicated.
    let (s, again) = app
        .post("/api/v1/targets", json!({"scope_kind": "agent", "scope_key": "AGT001", "product": product, "period": "month:2026-11-01", "amount": 3000}))
        .await;
    assert_eq!(
        (s, again["id"].as_i64(), again["amount"].as_str(), again["policy_count"].as_i64()),
        (200, Some(id), Some("3000.00"), None),
        "{again}"
    );
    let (s, q) =
        app.post("/api/v1/targets", json!({"scope_kind": "company", "period": "FY2026 Q4", "amount": "90000"})).await;
    assert_eq!(
        (s, q["period_start"].as_str(), q["period_end"].as_str(), q["scope_key"].as_str()),
        (201, Some("2026-10-01"), Some("2026-12-31"), Some("")),
        "{q}"
    );
    let (s, line) = app.post("/api/v1/targets", json!({"scope_kind": "branch", "scope_key": "Colombo", "product_line": "Life", "period": "FY2026", "amount": "500000"})).await;
    assert_eq!(
        (s, line["product_line"].as_str(), line["period_kind"].as_str()),
        (201, Some("Life"), Some("year")),
        "{line}"
    );

    let (s, p) = app.patch(&format!("/api/v1/targets/{id}"), json!({"amount": "3100.10", "policy_count": 5})).await;
    assert_eq!((s, p["amount"].as_str(), p["policy_count"].as_i64()), (200, Some("3100.10"), Some(5)), "{p}");
    let (s, p) = app.patch(&format!("/api/v1/targets/{id}"), json!({"policy_count": null})).await;
    assert_eq!((s, p["policy_count"].as_i64()), (200, None));
    let (s, got) = app.get(&format!("/api/v1/targets/{id}")).await;
    assert_eq!((s, got["amount"].as_str(), got["locked"].as_bool()), (200, Some("3100.10"), Some(false)));

    let (s, page) = app.get("/api/v1/targets?scope_kind=agent&period=2026-11").await;
    assert_eq!((s, page["items"].as_array().unwrap().len()), (200, 1), "{page}");
    let (_, page) = app.get("/api/v1/targets?period_kind=year").await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    let (_, page) = app.get("/api/v1/targets?limit=2").await;
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    let cursor = page["page"]["next_cursor"].as_str().unwrap().to_owned();
    let (_, next) = app.get(&format!("/api/v1/targets?limit=2&cursor={cursor}")).await;
    assert_eq!(next["items"].as_array().unwrap().len(), 1);

    // Every bad field at once.
    let (s, p) = app
        .post("/api/v1/targets", json!({"scope_kind": "planet", "product": 1, "product_line": "Life", "period": "2026-13", "amount": "-5", "policy_count": 0}))
        .await;
    assert_eq!(
        (s, fields(&p)),
        (422, ["amount", "period", "policy_count", "product_line", "scope_kind"].map(String::from).to_vec()),
        "{p}"
    );
    let (s, p) = app.post("/api/v1/targets", json!({})).await;
    assert_eq!((s, fields(&p)), (422, ["amount", "period", "scope_kind"].map(String::from).to_vec()));
    let (s, p) = app
        .post("/api/v1/targets", json!({"scope_kind": "company", "scope_key": "X", "period": "2026-11", "amount": 1}))
        .await;
    assert_eq!((s, p["errors"][0]["code"].as_str()), (422, Some("not_allowed")));
    let (s, p) = app.post("/api/v1/targets", json!({"scope_kind": "team", "period": "2026-11", "amount": 1})).await;
    assert_eq!((s, p["errors"][0]["field"].as_str()), (422, Some("scope_key")));
    let (s, p) = app
        .post("/api/v1/targets", json!({"scope_kind": "agent", "scope_key": "AGT404", "product": "No Such Plan", "period": "2026-11", "amount": 1}))
        .await;
    assert_eq!((s, fields(&p)), (422, vec![String::from("product"), String::from("scope_key")]), "{p}");
    let (s, p) = app
        .post("/api/v1/targets", json!({"scope_kind": "company", "period": "2026-11", "amount": 1, "colour": "red"}))
        .await;
    assert_eq!((s, fields(&p)), (422, vec![String::from("colour")]), "unknown fields are named: {p}");

    let (s, _) = app.delete(&format!("/api/v1/targets/{id}")).await;
    assert_eq!(s, 204);
    let (s, _) = app.get(&format!("/api/v1/targets/{id}")).await;
    assert_eq!(s, 404);

    // One change-log entry per write (facts only) and one audit entry each.
    let log = target_log_entries(app).await;
    assert_eq!(log.len(), 7, "create, replace, create, create, two patches, delete: {log:?}");
    match &log[0].event {
        moon_changelog::Event::Target { id: logged, before: None, after: Some(f) } => {
            assert_eq!(
                (*logged, f.scope_kind.as_str(), f.scope_key.as_str(), f.amount_cents, f.policy_count),
                (id, "agent", "AGT001", 250_050, Some(4))
            );
        }
        other => panic!("unexpected first entry {other:?}"),
    }
    assert!(matches!(&log[6].event, moon_changelog::Event::Target { before: Some(_), after: None, .. }));
    assert_eq!(audit_actions(app, "target.create").await.len(), 3);
    assert_eq!(audit_actions(app, "target.update").await.len(), 3);
    assert_eq!(audit_actions(app, "target.delete").await.len(), 1);
}

async fn target_import_reports_each_bad_line_all_or_nothing(app: &TestApp) {
    app.agent("AGT001", "Colombo", "Alpha").await;
    app.product("Motor Basic", "100.00").await;
    let csv = "scope_kind,scope_key,product,period,amount,policy_count\n\
               company,,,2026-11,100000,\n\
               agent,AGT001,Motor Basic,2026-11,2500.5,3\n\
               agent,AGT404,Motor Basic,2026-11,10,\n\
               team,Alpha,,2026-14,abc,-1\n\
               company,,,2026-11,5,\n";
    let (s, r) = post_csv(&app.admin(), "/api/v1/targets/import", csv).await;
    assert_eq!(
        (s, r["code"].as_str(), r["report"]["applied"].as_bool()),
        (422, Some("import_rejected"), Some(false)),
        "{r}"
    );
    let errors: Vec<(i64, &str, &str)> = r["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["line"].as_i64().unwrap(), e["field"].as_str().unwrap(), e["code"].as_str().unwrap()))
        .collect();
    assert_eq!(
        errors,
        [
            (4, "scope_key", "unknown_agent"),
            (5, "period", "invalid_period"),
            (5, "amount", "invalid_amount"),
            (5, "policy_count", "invalid_count"),
            (6, "row", "duplicate_in_file")
        ]
    );
    let (_, page) = app.get("/api/v1/targets").await;
    assert_eq!(page["items"].as_array().unwrap().len(), 0, "nothing was imported");
    let (s, r) = post_csv(&app.admin(), "/api/v1/targets/import?mode=partial", csv).await;
    assert_eq!((s, r["created"].as_i64(), r["errors"].as_array().unwrap().len()), (200, Some(2), 5), "{r}");
    let good = "scope_kind,scope_key,product,period,amount,policy_count\ncompany,,,2026-11,100000,\nagent,AGT001,Motor Basic,2026-11,2600,3\n";
    let (s, r) = post_csv(&app.admin(), "/api/v1/targets/import", good).await;
    assert_eq!(
        (s, r["created"].as_i64(), r["updated"].as_i64(), r["skipped"].as_i64()),
        (200, Some(0), Some(1), Some(1)),
        "{r}"
    );
    let (s, r) = post_csv(&app.admin(), "/api/v1/targets/import", "scope,period,amount\n").await;
    assert_eq!((s, fields(&r)), (422, vec![String::from("scope"), String::from("scope_kind")]), "{r}");
    let manager = app.client_as("manager", Some("Colombo")).await;
    let (s, _) = post_csv(&manager, "/api/v1/targets/import", good).await;
    assert_eq!(s, 403);
}

async fn copy_forward_scales_and_keeps_existing_targets(app: &TestApp) {
    for (scope, key, amount) in
        [("company", None, "100.00"), ("branch", Some("Colombo"), "33.33"), ("team", Some("Alpha"), "10.00")]
    {
        let (s, b) = app.post("/api/v1/targets", json!({"scope_kind": scope, "scope_key": key, "period": "2026-01", "amount": amount, "policy_count": 3})).await;
        assert_eq!(s, 201, "{b}");
    }
    let (s, _) = app
        .post(
            "/api/v1/targets",
            json!({"scope_kind": "team", "scope_key": "Alpha", "period": "2026-02", "amount": "77"}),
        )
        .await;
    assert_eq!(s, 201);
    let (s, r) = app.post("/api/v1/targets/copy", json!({"from": "2026-01", "scale_percent": "110"})).await;
    assert_eq!(
        (s, r["to"]["label"].as_str(), r["created"].as_i64(), r["skipped_existing"].as_i64()),
        (200, Some("2026-02"), Some(2), Some(1)),
        "{r}"
    );
    let (_, page) = app.get("/api/v1/targets?period=2026-02").await;
    let mut amounts: Vec<(String, String, i64)> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["scope_kind"].as_str().unwrap().to_owned(),
                t["amount"].as_str().unwrap().to_owned(),
                t["policy_count"].as_i64().unwrap_or(0),
            )
        })
        .collect();
    amounts.sort();
    assert_eq!(
        amounts,
        [
            ("branch".into(), "36.66".into(), 3),
            ("company".into(), "110.00".into(), 3),
            ("team".into(), "77.00".into(), 0)
        ],
        "33.33 × 110 % = 36.663 rounds to 36.66; 3 policies × 110 % = 3.3 rounds to 3; the existing team target stays"
    );
    let (s, p) = app.post("/api/v1/targets/copy", json!({"from": "2026-01", "to": "FY2026 Q2"})).await;
    assert_eq!((s, p["errors"][0]["code"].as_str()), (422, Some("kind_mismatch")));
    let (s, p) = app.post("/api/v1/targets/copy", json!({"to": "2026-03", "scale_percent": "lots"})).await;
    assert_eq!((s, fields(&p)), (422, vec![String::from("from"), String::from("scale_percent")]));
    let (s, r) = app.post("/api/v1/targets/copy", json!({"from": "2026-01", "to": "2026-02"})).await;
    assert_eq!((s, r["created"].as_i64(), r["skipped_existing"].as_i64()), (200, Some(0), Some(3)));
}

async fn locked_periods_change_only_by_audited_correction(app: &TestApp) {
    let (_, t) =
        app.post("/api/v1/targets", json!({"scope_kind": "company", "period": "2025-05", "amount": "1000"})).await;
    let id = t["id"].as_i64().unwrap();
    let (s, l) = app.post("/api/v1/targets/periods/FY2025%20Q2/lock", json!({})).await;
    assert_eq!(
        (s, l["period"]["label"].as_str(), l["period"]["end"].as_str()),
        (200, Some("FY2025 Q2"), Some("2025-06-30")),
        "{l}"
    );
    let (s, again) = app.post("/api/v1/targets/periods/quarter:2025-04-01/lock", json!({})).await;
    assert_eq!((s, again["locked_at"].clone()), (200, l["locked_at"].clone()), "locking twice changes nothing");
    let (s, p) = app.post("/api/v1/targets/periods/2099-01/lock", json!({})).await;
    assert_eq!((s, p["code"].as_str()), (409, Some("period_not_finished")));

    // A month inside the locked quarter is locked too.
    let (_, got) = app.get(&format!("/api/v1/targets/{id}")).await;
    assert_eq!(got["locked"].as_bool(), Some(true));
    let (s, p) = app.patch(&format!("/api/v1/targets/{id}"), json!({"amount": "1200"})).await;
    assert_eq!((s, p["code"].as_str()), (409, Some("period_locked")), "{p}");
    let (s, p) = app
        .post(
            "/api/v1/targets",
            json!({"scope_kind": "branch", "scope_key": "Kandy", "period": "2025-06", "amount": "5"}),
        )
        .await;
    assert_eq!((s, p["code"].as_str()), (409, Some("period_locked")));
    let (s, p) = app.delete(&format!("/api/v1/targets/{id}")).await;
    assert_eq!((s, p["code"].as_str()), (409, Some("period_locked")));
    let (s, p) =
        app.patch(&format!("/api/v1/targets/{id}"), json!({"amount": "1200", "correction": {"reason": " "}})).await;
    assert_eq!((s, p["errors"][0]["field"].as_str()), (422, Some("correction.reason")));
    let (s, p) = app.post("/api/v1/targets/copy", json!({"from": "2025-04", "to": "2025-05"})).await;
    assert_eq!((s, p["code"].as_str()), (409, Some("period_locked")));
    let (s, r) =
        post_csv(&app.admin(), "/api/v1/targets/import", "scope_kind,period,amount\ncompany,2025-04,10\n").await;
    assert_eq!((s, r["errors"][0]["code"].as_str()), (422, Some("period_locked")), "{r}");

    let (s, p) = app
        .patch(
            &format!("/api/v1/targets/{id}"),
            json!({"amount": "1200", "correction": {"reason": "signed-off plan was mistyped"}}),
        )
        .await;
    assert_eq!((s, p["amount"].as_str()), (200, Some("1200.00")), "{p}");
    let corrections = audit_actions(app, "target.correct").await;
    assert_eq!(corrections.len(), 1);
    let text = corrections[0].to_string();
    assert!(
        text.contains("signed-off plan was mistyped") && text.contains("target.update") && text.contains("120000"),
        "{text}"
    );
    let (s, _) = app.delete(&format!("/api/v1/targets/{id}?correction_reason=duplicate%20entry")).await;
    assert_eq!(s, 204);
    assert_eq!(audit_actions(app, "target.correct").await.len(), 2);
    assert_eq!(audit_actions(app, "target.period_lock").await.len(), 1);
    // An unlocked period next to it is free.
    let (s, _) =
        app.post("/api/v1/targets", json!({"scope_kind": "company", "period": "2025-07", "amount": "5"})).await;
    assert_eq!(s, 201);
}

async fn reads_follow_the_callers_scope(app: &TestApp) {
    let a1 = app.agent("AGT001", "Colombo", "Alpha").await;
    app.agent("AGT002", "Kandy", "Beta").await;
    let mut ids = std::collections::BTreeMap::new();
    for (scope, key) in [
        ("company", None),
        ("region", Some("WEST")),
        ("branch", Some("COLOMBO")),
        ("branch", Some("Kandy")),
        ("team", Some("Alpha")),
        ("team", Some("Beta")),
        ("agent", Some("AGT001")),
        ("agent", Some("AGT002")),
    ] {
        let (s, t) = app
            .post(
                "/api/v1/targets",
                json!({"scope_kind": scope, "scope_key": key, "period": "2026-11", "amount": "100"}),
            )
            .await;
        assert_eq!(s, 201, "{t}");
        ids.insert(format!("{scope}:{}", key.unwrap_or("")), t["id"].as_i64().unwrap());
    }
    async fn seen(c: &TestClient) -> Vec<String> {
        let (s, page) = c.get("/api/v1/targets?limit=100").await;
        assert_eq!(s, 200, "{page}");
        let mut v: Vec<String> = page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| format!("{}:{}", t["scope_kind"].as_str().unwrap(), t["scope_key"].as_str().unwrap()))
            .collect();
        v.sort();
        v
    }
    let manager = app.client_as("manager", Some("Colombo")).await;
    // Branches, teams and regions are stored by their unit's code, whatever the spelling sent.
    assert_eq!(seen(&manager).await, ["agent:AGT001", "branch:Colombo", "company:", "region:West", "team:Alpha"]);
    let (s, _) = manager.get(&format!("/api/v1/targets/{}", ids["branch:Kandy"])).await;
    assert_eq!(s, 404, "another branch's target is not found");
    let agent = app.client_as("agent", Some("AGT001")).await;
    assert_eq!(seen(&agent).await, ["agent:AGT001", "branch:Colombo", "company:", "team:Alpha"]);
    let (s, _) = agent.get(&format!("/api/v1/targets/{}", ids["agent:AGT002"])).await;
    assert_eq!(s, 404);
    let analyst = app.client_as("analyst", None).await;
    assert_eq!(seen(&analyst).await.len(), 8);
    for c in [&manager, &agent, &analyst] {
        let (s, _) =
            c.post("/api/v1/targets", json!({"scope_kind": "company", "period": "2026-12", "amount": "1"})).await;
        assert_eq!(s, 403);
        let (s, _) = c.patch(&format!("/api/v1/targets/{}", ids["company:"]), json!({"amount": "1"})).await;
        assert_eq!(s, 403);
    }
    assert!(a1 > 0);
    // Branches, teams and regions are the organisation's units: any spelling of one is stored by
    // its code, and an unknown one is a 422 that lists the known ones.
    let (s, t) = app
        .post(
            "/api/v1/targets",
            json!({"scope_kind": "branch", "scope_key": " colombo ", "period": "2026-10", "amount": 9}),
        )
        .await;
    assert_eq!((s, t["scope_key"].as_str()), (201, Some("Colombo")), "{t}");
    let (s, p) = app
        .post("/api/v1/targets", json!({"scope_kind": "team", "scope_key": "Omega", "period": "2026-10", "amount": 9}))
        .await;
    assert_eq!((s, p["errors"][0]["code"].as_str()), (422, Some("unknown_team")), "{p}");
    assert!(p["errors"][0]["message"].as_str().unwrap().contains("Alpha"), "the known teams are listed: {p}");
}

on_every_backend!(
    holidays_are_kept_by_admins_and_read_by_everyone,
    target_import_reports_each_bad_line_all_or_nothing,
    copy_forward_scales_and_keeps_existing_targets,
    locked_periods_change_only_by_audited_correction,
    reads_follow_the_callers_scope,
);

/// In a zone 14 hours ahead of UTC, a sale dated the business "today" is accepted and one dated
/// the business "tomorrow" is refused, whatever the UTC date.
async fn sales_are_dated_by_the_business_time_zone(app: &TestApp) {
    app.agent("AGT001", "Colombo", "Alpha").await;
    let product = app.product("Life Gold", "1000.00").await;
    let today = app.config.business.today(chrono::Utc::now());
    let sale = |date: String| json!({"agent_code": "AGT001", "product_id": product, "amount": "10", "sale_date": date});
    let (s, b) = app.post("/api/v1/sales", sale(today.to_string())).await;
    assert_eq!(s, 201, "{b}");
    let (s, p) = app.post("/api/v1/sales", sale(today.succ_opt().unwrap().to_string())).await;
    assert_eq!((s, p["errors"][0]["code"].as_str()), (422, Some("in_future")), "{p}");
    let (_, cal) = app.get("/api/v1/calendar").await;
    assert_eq!(
        (cal["time_zone"].as_str(), cal["today"].as_str()),
        (Some("Pacific/Kiritimati"), Some(today.to_string().as_str()))
    );
    assert_eq!(cal["quarter"]["label"].as_str().map(|l| l.starts_with("FY")), Some(true));

    // A move without a date, and a new team set on the agent, take effect on the business date.
    let (_, agents) = app.get("/api/v1/agents?agent_code=AGT001").await;
    let id = agents["items"][0]["id"].as_i64().unwrap();
    let (s, history) = app.post(&format!("/api/v1/agents/{id}/moves"), json!({"team": "Beta"})).await;
    assert_eq!(s, 201, "{history}");
    assert_eq!(history[1]["valid_from"].as_str(), Some(today.to_string().as_str()), "{history}");
    let other = app.agent("AGT002", "Colombo", "Alpha").await;
    let (s, b) = app.patch(&format!("/api/v1/agents/{other}"), json!({"team": "Gamma"})).await;
    assert_eq!(s, 200, "{b}");
    let (_, history) = app.get(&format!("/api/v1/agents/{other}/memberships")).await;
    assert_eq!(history[1]["valid_from"].as_str(), Some(today.to_string().as_str()), "{history}");
}

// The change-log entries of the writes are read back, so no aggregator may prune them first
// (it prunes what every consumer has applied).
on_every_backend_with!(
    without_aggregator,
    |c: &mut moon_server::Config| c.aggregate_interval = std::time::Duration::ZERO,
    targets_are_set_replaced_changed_and_deleted,
);

on_every_backend_with!(
    far_east,
    |c: &mut moon_server::Config| c.business =
        moon_domain::BusinessCalendar::new("Pacific/Kiritimati", 4, None).unwrap(),
    sales_are_dated_by_the_business_time_zone,
);
