//! The console's management pages (issue 14, item 3) over HTTP, on SQLite, PostgreSQL and
//! MariaDB/MySQL: an admin sets, copies forward, imports (with the report, all or nothing) and
//! locks targets; keeps the holiday list, the notification rules and the webhooks; and every
//! other role finds the pages and forms absent from the navigation and refused by the policy.
//! (e2e/tests/targets-and-settings.test.mjs drives the same pages in chromium.)

use crate::common::TestApp;
use crate::web::{browser, csrf_of, page, post_form, sign_in_form};

on_every_backend_with!(
    without_mfa,
    |c: &mut moon_server::Config| c.security.mfa_required_roles.clear(),
    admins_set_copy_import_and_lock_targets_in_the_console,
    admins_set_product_line_targets_and_delete_targets_in_the_console,
    the_delivery_log_pages_with_a_count_and_filters_by_status_and_receiver,
    admins_keep_holidays_rules_and_webhooks_in_the_console,
    management_pages_are_shown_and_served_to_the_roles_that_may_use_them,
);

/// The `/api/v1/targets` items of one period.
async fn targets_in(app: &TestApp, period: &str) -> Vec<serde_json::Value> {
    let (s, b) = app.get(&format!("/api/v1/targets?limit=500&period={period}")).await;
    assert_eq!(s, 200, "{b}");
    b["items"].as_array().unwrap().clone()
}

async fn admins_set_copy_import_and_lock_targets_in_the_console(app: &TestApp) {
    app.agent("TGW001", "Colombo", "Alpha").await;
    app.agent("TGW002", "Colombo", "Alpha").await;
    let life = app.product("Life Plus", "1000.00").await;
    let (_, name, password) = app.user("admin", None).await;
    let cookie = sign_in_form(app, &name, &password).await;
    let b = browser();
    let (s, _, html) = page(&b, app, "/targets?period=2026-01", Some(&cookie)).await;
    assert_eq!(s, 200);
    assert!(html.contains("Targets for 2026-01 (0)") && html.contains("Set a target"), "{html}");
    assert!(
        html.contains("<datalist id=\"scope-choices\">") && html.contains("value=\"TGW002\""),
        "the scope suggests"
    );
    let csrf = csrf_of(&html);

    // Set: an amount as people write it; the page of its period shows it.
    let life_id = life.to_string();
    let set = [
        ("csrf_token", csrf.as_str()),
        ("scope_kind", "agent"),
        ("scope_key", "TGW001"),
        ("product", life_id.as_str()),
        ("period", "2026-01"),
        ("amount", "25,000"),
    ];
    let (s, to, _) = post_form(&b, app, "/targets", &cookie, &set).await;
    assert_eq!((s, to.as_str()), (303, "/targets?period=2026-01"));
    let (_, _, html) = page(&b, app, &to, Some(&cookie)).await;
    assert!(html.contains("Life Plus") && html.contains(">25,000.00<"), "{html}");

    // Every bad field at once, beside its field, in words.
    let bad = [("csrf_token", csrf.as_str()), ("scope_kind", "team"), ("period", "2026-13"), ("amount", "lots")];
    let (s, _, html) = post_form(&b, app, "/targets", &cookie, &bad).await;
    assert_eq!(s, 422, "{html}");
    for field in ["scope_key", "period", "amount"] {
        assert!(html.contains(&format!("id=\"f-{field}-error\"")), "{field} has its error: {html}");
    }
    assert_eq!(targets_in(app, "2026-01").await.len(), 1, "nothing half-written");

    // Copy forward, scaled: 25,000 × 110 % in February.
    let copy = [("csrf_token", csrf.as_str()), ("from", "2026-01"), ("to", "2026-02"), ("scale_percent", "110")];
    let (s, to, _) = post_form(&b, app, "/targets/copy", &cookie, &copy).await;
    assert_eq!((s, to.as_str()), (303, "/targets?period=2026-02"));
    let feb = targets_in(app, "2026-02").await;
    assert_eq!(feb.len(), 1);
    assert_eq!(feb[0]["amount"].as_str(), Some("27500.00"));
    let (_, _, html) = page(&b, app, &to, Some(&cookie)).await;
    assert!(html.contains(">27,500.00<"), "{html}");

    // Import, all or nothing: a bad line rejects the file, with line, field and reason.
    let csv = "scope_kind,scope_key,product,period,amount\n\
               agent,TGW002,Life Plus,2026-03,40000\n\
               agent,TGW002,Life Plus,2026-03,-5\n\
               branch,Colombo,,2026-03,900000\n";
    let import = [("csrf_token", csrf.as_str()), ("csv", csv), ("mode", "all")];
    let (s, _, html) = post_form(&b, app, "/targets/import", &cookie, &import).await;
    assert_eq!(s, 422, "{html}");
    assert!(html.contains("Nothing imported: 3 rows read, 0 created"), "{html}");
    assert!(
        html.contains("id=\"import-errors\"") && html.contains("<td class=\"num\">3</td><td>amount</td>"),
        "{html}"
    );
    assert!(html.contains("aria-invalid=\"true\""), "the text box is marked, so the script focuses it");
    assert!(targets_in(app, "2026-03").await.is_empty(), "all or nothing wrote nothing");
    let partial = [("csrf_token", csrf.as_str()), ("csv", csv), ("mode", "partial")];
    let (s, _, html) = post_form(&b, app, "/targets/import", &cookie, &partial).await;
    assert_eq!(s, 422, "rows were still rejected: {html}");
    assert!(html.contains("Imported: 3 rows read, 2 created"), "{html}");
    assert_eq!(targets_in(app, "2026-03").await.len(), 2, "the good rows only");
    let (s, _, html) =
        post_form(&b, app, "/targets/import", &cookie, &[("csrf_token", csrf.as_str()), ("csv", "")]).await;
    assert_eq!(s, 422);
    assert!(html.contains("Choose a CSV file or paste its contents"), "{html}");

    // Lock a finished period: changes then need a correction reason, and it is audited.
    let lock = [("csrf_token", csrf.as_str()), ("lock_period", "2026-01")];
    let (s, to, _) = post_form(&b, app, "/targets/lock", &cookie, &lock).await;
    assert_eq!((s, to.as_str()), (303, "/targets?period=2026-01"));
    let (_, _, html) = page(&b, app, &to, Some(&cookie)).await;
    assert!(html.contains("id=\"locked-note\"") && html.contains(">Locked<"), "{html}");
    let change: Vec<(&str, &str)> =
        set.iter().map(|&(k, v)| if k == "amount" { (k, "30000") } else { (k, v) }).collect();
    let (s, _, html) = post_form(&b, app, "/targets", &cookie, &change).await;
    assert_eq!(s, 409, "{html}");
    assert!(
        html.contains("id=\"f-correction_reason-error\"") && html.contains("The period 2026-01 is locked"),
        "{html}"
    );
    assert_eq!(targets_in(app, "2026-01").await[0]["amount"].as_str(), Some("25000.00"), "refused, unchanged");
    let corrected = [&change[..], &[("correction_reason", "Signed-off plan was wrong")]].concat();
    let (s, _, _) = post_form(&b, app, "/targets", &cookie, &corrected).await;
    assert_eq!(s, 303);
    assert_eq!(targets_in(app, "2026-01").await[0]["amount"].as_str(), Some("30000.00"));
    let (_, audit) = app.get("/api/v1/audit?limit=200").await;
    let actions: Vec<&str> = audit["items"].as_array().unwrap().iter().filter_map(|e| e["action"].as_str()).collect();
    for a in ["target.create", "target.copy", "target.import", "target.period_lock", "target.correct"] {
        assert!(actions.contains(&a), "{a} audited: {actions:?}");
    }
    // The month still running cannot be locked; copying into a locked month is refused beside `to`.
    let this_month = chrono::Utc::now().format("%Y-%m").to_string();
    let (s, _, html) =
        post_form(&b, app, "/targets/lock", &cookie, &[("csrf_token", csrf.as_str()), ("lock_period", &this_month)])
            .await;
    assert_eq!(s, 409);
    assert!(html.contains("has not ended yet"), "{html}");
    let into_locked = [("csrf_token", csrf.as_str()), ("from", "2025-12"), ("to", "2026-01"), ("scale_percent", "100")];
    let (s, _, html) = post_form(&b, app, "/targets/copy", &cookie, &into_locked).await;
    assert_eq!(s, 409);
    assert!(html.contains("id=\"f-to-error\"") && html.contains("is locked"), "{html}");
}

async fn admins_keep_holidays_rules_and_webhooks_in_the_console(app: &TestApp) {
    let (_, name, password) = app.user("admin", None).await;
    let cookie = sign_in_form(app, &name, &password).await;
    let b = browser();
    let (s, _, html) = page(&b, app, "/calendar?year=2027", Some(&cookie)).await;
    assert_eq!(s, 200);
    let csrf = csrf_of(&html);

    // Holidays: add, a second on the same day refused beside the date, remove.
    let add = [("csrf_token", csrf.as_str()), ("date", "2027-02-04"), ("name", "Independence Day")];
    let (s, to, _) = post_form(&b, app, "/calendar/holidays", &cookie, &add).await;
    assert_eq!((s, to.as_str()), (303, "/calendar?year=2027"));
    let (_, _, html) = page(&b, app, &to, Some(&cookie)).await;
    assert!(html.contains("2027-02-04") && html.contains("Thursday") && html.contains("Independence Day"), "{html}");
    let (s, _, html) = post_form(&b, app, "/calendar/holidays", &cookie, &add).await;
    assert_eq!(s, 409);
    assert!(html.contains("id=\"f-date-error\""), "{html}");
    let (s, _, html) = post_form(&b, app, "/calendar/holidays", &cookie, &[("csrf_token", csrf.as_str())]).await;
    assert_eq!(s, 422);
    assert!(html.contains("id=\"f-date-error\"") && html.contains("id=\"f-name-error\""), "{html}");
    let (s, _, _) =
        post_form(&b, app, "/calendar/holidays/2027-02-04/delete", &cookie, &[("csrf_token", csrf.as_str())]).await;
    assert_eq!(s, 303);
    let (_, list) = app.get("/api/v1/calendar/holidays?year=2027").await;
    assert_eq!(list.as_array().unwrap().len(), 0, "removed");

    // Rules: add with amounts as people write them, turn off, remove.
    let rule = [
        ("csrf_token", csrf.as_str()),
        ("name", "Console milestones"),
        ("kind", "milestone"),
        ("period", "month"),
        ("thresholds", "50,000 100,000"),
    ];
    let (s, to, _) = post_form(&b, app, "/rules", &cookie, &rule).await;
    assert_eq!((s, to.as_str()), (303, "/rules"));
    let (_, _, html) = page(&b, app, "/rules", Some(&cookie)).await;
    assert!(html.contains("Console milestones") && html.contains("at 50,000.00, 100,000.00 LKR"), "{html}");
    let (s, _, html) = post_form(&b, app, "/rules", &cookie, &rule).await;
    assert_eq!(s, 409);
    assert!(html.contains("id=\"f-name-error\""), "a duplicate name is shown beside the name: {html}");
    let bad = [("csrf_token", csrf.as_str()), ("name", "Broken"), ("kind", "milestone"), ("thresholds", "lots")];
    let (s, _, html) = post_form(&b, app, "/rules", &cookie, &bad).await;
    assert_eq!(s, 422);
    assert!(html.contains("id=\"f-thresholds-error\""), "{html}");
    let (_, rules) = app.get("/api/v1/notifications/rules").await;
    let id = rules.as_array().unwrap().iter().find(|r| r["name"] == "Console milestones").unwrap()["id"].clone();
    let off = [("csrf_token", csrf.as_str()), ("enabled", "false")];
    let (s, _, _) = post_form(&b, app, &format!("/rules/{id}"), &cookie, &off).await;
    assert_eq!(s, 303);
    let (_, r) = app.get(&format!("/api/v1/notifications/rules/{id}")).await;
    assert_eq!(r["enabled"].as_bool(), Some(false));
    let (s, _, _) = post_form(&b, app, &format!("/rules/{id}/delete"), &cookie, &[("csrf_token", csrf.as_str())]).await;
    assert_eq!(s, 303);
    let (s, _) = app.get(&format!("/api/v1/notifications/rules/{id}")).await;
    assert_eq!(s, 404);

    // Webhooks: a generated secret shown once, a bad URL beside its field, off, deliveries, remove.
    let hook = [
        ("csrf_token", csrf.as_str()),
        ("url", "https://receiver.example/moon"),
        ("events", "notification.milestone"),
        ("events", "notification.manual"),
    ];
    let (s, _, html) = post_form(&b, app, "/webhooks", &cookie, &hook).await;
    assert_eq!(s, 201, "{html}");
    assert!(html.contains("id=\"new-secret\"") && html.contains("https://receiver.example/moon"), "{html}");
    let (_, subs) = app.get("/api/v1/notifications/webhooks").await;
    let sub = subs.as_array().unwrap()[0].clone();
    assert_eq!(sub["events"], serde_json::json!(["notification.manual", "notification.milestone"]));
    let (s, _, html) =
        post_form(&b, app, "/webhooks", &cookie, &[("csrf_token", csrf.as_str()), ("url", "ftp://x")]).await;
    assert_eq!(s, 422);
    assert!(html.contains("id=\"f-url-error\"") && html.contains("id=\"f-events-error\""), "{html}");
    let id = sub["id"].clone();
    let (s, _, _) = post_form(&b, app, &format!("/webhooks/{id}"), &cookie, &off).await;
    assert_eq!(s, 303);
    let (_, got) = app.get(&format!("/api/v1/notifications/webhooks/{id}")).await;
    assert_eq!(got["enabled"].as_bool(), Some(false));
    let (s, _, html) = page(&b, app, "/webhooks?status=dead", Some(&cookie)).await;
    assert_eq!(s, 200);
    assert!(html.contains("id=\"deliveries-table\"") && html.contains("No deliveries."), "{html}");
    let (s, _, _) =
        post_form(&b, app, &format!("/webhooks/{id}/delete"), &cookie, &[("csrf_token", csrf.as_str())]).await;
    assert_eq!(s, 303);
    let (s, _) = app.get(&format!("/api/v1/notifications/webhooks/{id}")).await;
    assert_eq!(s, 404);
    let (_, audit) = app.get("/api/v1/audit?limit=200").await;
    let actions: Vec<&str> = audit["items"].as_array().unwrap().iter().filter_map(|e| e["action"].as_str()).collect();
    for a in ["holiday.create", "holiday.delete", "notification_rule.create", "webhook.create", "webhook.delete"] {
        assert!(actions.contains(&a), "{a} audited: {actions:?}");
    }
}

/// Links in the main navigation, by address.
fn nav_links(html: &str) -> Vec<String> {
    let nav = html.split("<nav aria-label=\"Main\">").nth(1).and_then(|n| n.split("</nav>").next()).unwrap_or("");
    nav.split("href=\"").skip(1).filter_map(|s| s.split('"').next()).map(str::to_owned).collect()
}

async fn management_pages_are_shown_and_served_to_the_roles_that_may_use_them(app: &TestApp) {
    app.agent("TGW101", "Colombo", "Alpha").await;
    app.agent("TGW102", "Kandy", "Beta").await;
    let (s, _) = app
        .post(
            "/api/v1/targets",
            serde_json::json!({"scope_kind": "agent", "scope_key": "TGW102", "period": "2026-01", "amount": "5000"}),
        )
        .await;
    assert_eq!(s, 201);
    let (s, _) = app
        .post(
            "/api/v1/targets",
            serde_json::json!({"scope_kind": "agent", "scope_key": "TGW101", "period": "2026-01", "amount": "7000"}),
        )
        .await;
    assert_eq!(s, 201);
    let b = browser();
    let pages = ["/targets", "/calendar", "/rules", "/webhooks"];
    let posts = [
        "/targets",
        "/targets/copy",
        "/targets/import",
        "/targets/lock",
        "/calendar/holidays",
        "/calendar/holidays/2027-01-01/delete",
        "/rules",
        "/rules/1",
        "/rules/1/delete",
        "/webhooks",
        "/webhooks/1",
        "/webhooks/1/delete",
        "/webhooks/deliveries/1/redeliver",
    ];
    // (role, bound to, pages it may open)
    let cases: [(&str, Option<&str>, &[&str]); 4] = [
        ("admin", None, &pages),
        ("manager", Some("Colombo"), &["/targets", "/calendar"]),
        ("agent", Some("TGW101"), &[]),
        ("analyst", None, &[]),
    ];
    for (role, bound, allowed) in cases {
        let (_, name, password) = app.user(role, bound).await;
        let cookie = sign_in_form(app, &name, &password).await;
        let (_, _, home) = page(&b, app, "/home", Some(&cookie)).await;
        let nav = nav_links(&home);
        let csrf = csrf_of(&home);
        for p in pages {
            let may = allowed.contains(&p);
            assert_eq!(nav.iter().any(|l| l == p), may, "{role}: {p} in the navigation: {nav:?}");
            let (s, _, _) = page(&b, app, p, Some(&cookie)).await;
            assert_eq!(s, if may { 200 } else { 403 }, "{role} GET {p}");
        }
        if role != "admin" {
            for p in posts {
                let (s, _, _) = post_form(&b, app, p, &cookie, &[("csrf_token", csrf.as_str())]).await;
                assert_eq!(s, 403, "{role} POST {p}");
            }
        }
        if role == "manager" {
            let (_, _, html) = page(&b, app, "/targets?period=2026-01", Some(&cookie)).await;
            assert!(html.contains("TGW101") && !html.contains("TGW102"), "their branch's targets only: {html}");
            assert!(!html.contains("Set a target") && !html.contains("Lock a finished period"), "no forms: {html}");
            let (_, _, html) = page(&b, app, "/calendar", Some(&cookie)).await;
            assert!(!html.contains("Add a holiday"), "no forms: {html}");
        }
    }
}

async fn admins_set_product_line_targets_and_delete_targets_in_the_console(app: &TestApp) {
    app.agent("TGL001", "Colombo", "Alpha").await;
    let life = app.product("Line Life", "1000.00").await;
    let (_, name, password) = app.user("admin", None).await;
    let cookie = sign_in_form(app, &name, &password).await;
    let b = browser();
    let (_, _, html) = page(&b, app, "/targets?period=2026-04", Some(&cookie)).await;
    assert!(html.contains("id=\"f-product_line\"") && html.contains("<option value=\"Life\">Life</option>"), "{html}");
    let csrf = csrf_of(&html);

    // A product and a line at once: refused beside the line, nothing written.
    let life_id = life.to_string();
    let both = [
        ("csrf_token", csrf.as_str()),
        ("scope_kind", "branch"),
        ("scope_key", "Colombo"),
        ("product", life_id.as_str()),
        ("product_line", "Life"),
        ("period", "2026-04"),
        ("amount", "90,000"),
    ];
    let (s, _, html) = post_form(&b, app, "/targets", &cookie, &both).await;
    assert_eq!(s, 422, "{html}");
    assert!(
        html.contains("id=\"f-product_line-error\"") && html.contains("Choose a product or a product line, not both"),
        "{html}"
    );
    assert!(targets_in(app, "2026-04").await.is_empty(), "nothing half-written");

    // A product line target.
    let line: Vec<(&str, &str)> = both.iter().copied().filter(|(k, _)| *k != "product").collect();
    let (s, to, _) = post_form(&b, app, "/targets", &cookie, &line).await;
    assert_eq!((s, to.as_str()), (303, "/targets?period=2026-04"));
    let april = targets_in(app, "2026-04").await;
    assert_eq!(april.len(), 1);
    assert_eq!((april[0]["product_line"].as_str(), april[0]["product_id"].as_i64()), (Some("Life"), None));
    let (_, _, html) = page(&b, app, &to, Some(&cookie)).await;
    assert!(html.contains("<td>Life</td>") && html.contains(">90,000.00<"), "{html}");

    // Delete asks first, then removes the target, audited.
    let id = april[0]["id"].as_i64().unwrap();
    assert!(
        html.contains(&format!(
            "action=\"/targets/{id}/delete\" data-confirm=\"Delete the target for branch Colombo, Life, 2026-04?"
        )),
        "{html}"
    );
    let (s, to, _) = post_form(&b, app, &format!("/targets/{id}/delete"), &cookie, &[("csrf_token", &csrf)]).await;
    assert_eq!((s, to.as_str()), (303, "/targets?period=2026-04"));
    assert!(targets_in(app, "2026-04").await.is_empty());

    // A locked period refuses with the reason in words; a correction with a reason deletes.
    let march_line: Vec<(&str, &str)> =
        line.iter().map(|&(k, v)| if k == "period" { (k, "2026-03") } else { (k, v) }).collect();
    let (s, _, _) = post_form(&b, app, "/targets", &cookie, &march_line).await;
    assert_eq!(s, 303);
    let march = targets_in(app, "2026-03").await;
    let id = march[0]["id"].as_i64().unwrap();
    let (s, _, _) =
        post_form(&b, app, "/targets/lock", &cookie, &[("csrf_token", csrf.as_str()), ("lock_period", "2026-03")])
            .await;
    assert_eq!(s, 303);
    let (s, _, html) = post_form(&b, app, &format!("/targets/{id}/delete"), &cookie, &[("csrf_token", &csrf)]).await;
    assert_eq!(s, 409, "{html}");
    assert!(html.contains("id=\"delete-error\"") && html.contains("the period 2026-03 is locked"), "{html}");
    assert!(html.contains("id=\"d-correction_reason\""), "offers a correction: {html}");
    assert_eq!(targets_in(app, "2026-03").await.len(), 1, "refused, still there");
    let reason = [("csrf_token", csrf.as_str()), ("correction_reason", "Branch plan withdrawn")];
    let (s, _, _) = post_form(&b, app, &format!("/targets/{id}/delete"), &cookie, &reason).await;
    assert_eq!(s, 303);
    assert!(targets_in(app, "2026-03").await.is_empty());
    let (_, audit) = app.get("/api/v1/audit?limit=200").await;
    let items = audit["items"].as_array().unwrap();
    assert_eq!(items.iter().filter(|e| e["action"] == "target.delete").count(), 1, "the deletion audited");
    assert!(
        items.iter().any(|e| e["action"] == "target.correct"
            && e["changes"]["operation"] == "target.delete"
            && e["changes"]["correction"]["reason"] == "Branch plan withdrawn"),
        "the correction audited with its reason: {audit}"
    );

    // A manager sees the targets but no delete button, and the post is refused.
    let (s, _) = app
        .post(
            "/api/v1/targets",
            serde_json::json!({"scope_kind": "branch", "scope_key": "Colombo", "period": "2026-04", "amount": "5000"}),
        )
        .await;
    assert_eq!(s, 201);
    let id = targets_in(app, "2026-04").await[0]["id"].as_i64().unwrap();
    let (_, mname, mpass) = app.user("manager", Some("Colombo")).await;
    let mcookie = sign_in_form(app, &mname, &mpass).await;
    let (s, _, html) = page(&b, app, "/targets?period=2026-04", Some(&mcookie)).await;
    assert_eq!(s, 200);
    assert!(html.contains(">5,000.00<") && !html.contains("/delete\""), "{html}");
    let mcsrf = csrf_of(&html);
    let (s, _, _) = post_form(&b, app, &format!("/targets/{id}/delete"), &mcookie, &[("csrf_token", &mcsrf)]).await;
    assert_eq!(s, 403);
    assert_eq!(targets_in(app, "2026-04").await.len(), 1, "still there");
}

async fn the_delivery_log_pages_with_a_count_and_filters_by_status_and_receiver(app: &TestApp) {
    use serde_json::json;
    app.agent("DLV001", "Colombo", "Alpha").await;
    let mut subs = Vec::new();
    for n in 1..=2 {
        let url = format!("https://receiver-{n}.example/moon");
        let (s, b) = app.post("/api/v1/notifications/webhooks", json!({"url": url, "events": ["*"]})).await;
        assert_eq!(s, 201, "{b}");
        subs.push(b["id"].as_i64().unwrap());
    }
    for i in 0..55 {
        let (s, b) =
            app.post("/api/v1/notifications", json!({"agent_code": "DLV001", "message": format!("Note {i}")})).await;
        assert_eq!(s, 201, "{b}");
    }
    let (_, name, password) = app.user("admin", None).await;
    let cookie = sign_in_form(app, &name, &password).await;
    let b = browser();
    let rows = |html: &str| html.matches("<td class=\"num\">").count() / 2;

    // Everything: 110 deliveries, 50 a page, newest first, numbered pages.
    let (s, _, html) = page(&b, app, "/webhooks", Some(&cookie)).await;
    assert_eq!(s, 200);
    assert!(html.contains("<strong>110</strong> deliveries, newest first · page 1 of 3"), "{html}");
    assert_eq!(rows(&html), 50, "{html}");
    let next = html.split("rel=\"next\"").next().unwrap();
    let href = &next[next.rfind("href=\"").unwrap() + 6..next.rfind('"').unwrap()].replace("&amp;", "&");
    assert!(href.contains("cursor=") && href.contains("page=2"), "{href}");
    let (s, _, html) = page(&b, app, href, Some(&cookie)).await;
    assert_eq!(s, 200);
    assert!(html.contains("page 2 of 3") && html.contains("« Page 1"), "{html}");
    assert_eq!(rows(&html), 50);

    // One receiver: its 55, the filter kept by the pager.
    let (_, _, html) = page(&b, app, &format!("/webhooks?receiver={}", subs[0]), Some(&cookie)).await;
    assert!(html.contains("<strong>55</strong> deliveries, newest first · page 1 of 2"), "{html}");
    assert_eq!(html.matches(&format!("webhook #{}<", subs[0])).count(), 50, "{html}");
    assert_eq!(html.matches(&format!("webhook #{}<", subs[1])).count(), 0, "only that receiver");
    let next = html.split("rel=\"next\"").next().unwrap();
    let href = &next[next.rfind("href=\"").unwrap() + 6..next.rfind('"').unwrap()].replace("&amp;", "&");
    assert!(href.contains(&format!("receiver={}", subs[0])), "{href}");
    let (_, _, html) = page(&b, app, href, Some(&cookie)).await;
    assert!(html.contains("page 2 of 2") && !html.contains("rel=\"next\""), "{html}");
    assert_eq!(rows(&html), 5);

    // By status (nothing reaches an unresolvable receiver), and e-mail (none configured).
    let (_, _, html) = page(&b, app, "/webhooks?status=succeeded", Some(&cookie)).await;
    assert!(html.contains("<strong>0</strong> deliveries") && html.contains("No deliveries."), "{html}");
    let (_, _, html) = page(&b, app, "/webhooks?receiver=email", Some(&cookie)).await;
    assert!(html.contains("<strong>0</strong> deliveries"), "{html}");

    // The API pages the same log, its shape unchanged.
    let (s, body) =
        app.get(&format!("/api/v1/notifications/deliveries?subscription_id={}&limit=50&order=desc", subs[1])).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["items"].as_array().unwrap().len(), 50);
    let cursor = body["page"]["next_cursor"].as_str().unwrap().to_owned();
    let (_, body) = app
        .get(&format!(
            "/api/v1/notifications/deliveries?subscription_id={}&limit=50&order=desc&cursor={cursor}",
            subs[1]
        ))
        .await;
    assert_eq!(body["items"].as_array().unwrap().len(), 5);
    assert!(body["page"]["next_cursor"].is_null());
}
