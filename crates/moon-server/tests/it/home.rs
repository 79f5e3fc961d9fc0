//! Each role's home and the branch wallboard (issue 14, items 1, 2 and 5) as the server renders
//! them, on SQLite, PostgreSQL and MariaDB/MySQL: a manager sees their branch and never another
//! branch's agent names, drills down by links to an agent's sales with breadcrumbs back up; an
//! agent sees their own pace, need per working day, next milestone and rank; an analyst sees
//! data quality and pseudonyms only; an admin the company; views are URLs (bad values 422,
//! unknown parameters 400); the wallboard is a manager's own branch or any for an admin, and its
//! live fragment shows a sale as soon as it is recorded. The same pages in a browser (clicks,
//! phone width, axe) are in e2e/tests/home.test.mjs.

use std::time::Duration;

use serde_json::json;

use crate::common::TestApp;
use crate::web::{browser, page, sign_in_form};

on_every_backend_with!(
    without_mfa,
    |c: &mut moon_server::Config| c.security.mfa_required_roles.clear(),
    a_managers_home_is_their_branch_with_a_drill_down_to_sales_and_no_other_branchs_names,
    an_agents_home_shows_their_pace_need_per_day_next_milestone_and_rank,
    an_analysts_home_shows_data_quality_and_pseudonyms_only,
    an_admins_home_is_the_company_and_any_branch_has_a_wallboard,
    a_managers_wallboard_is_their_own_branch_and_shows_a_sale_as_it_lands,
);

/// The scenario: two Colombo agents with targets (HM1 sold 10,000 today, HM2 nothing), a
/// Kandy agent without a target who sold 5,000, and a branch spelt almost like Colombo.
/// Returns the product's id and the current month's label.
async fn scenario(app: &TestApp) -> (i64, String) {
    let (_, cal) = app.get("/api/v1/calendar").await;
    let today = cal["today"].as_str().unwrap().to_owned();
    let month = cal["month"]["label"].as_str().unwrap().to_owned();
    app.agent("HM1", "Colombo", "Alpha").await;
    app.agent("HM2", "Colombo", "Alpha").await;
    app.agent("HK1", "Kandy", "Gamma").await;
    let (s, b) = app.post("/api/v1/org/branches", json!({"code": "Colmbo"})).await;
    assert_eq!(s, 201, "{b}");
    app.agent("HX1", "Colmbo", "Alpha").await;
    for (code, amount) in [("HM1", "1000000"), ("HM2", "1000000"), ("HX1", "1000000")] {
        let body = json!({"scope_kind": "agent", "scope_key": code, "period": month, "amount": amount});
        let (s, b) = app.post("/api/v1/targets", body).await;
        assert_eq!(s, 201, "{b}");
    }
    let product = app.product("Home plan", "100.00").await;
    app.sale("HM1", product, "10000.00", &today).await;
    app.sale("HK1", product, "5000.00", &today).await;
    app.wait_for("/api/v1/kpis/trend?bucket=year", Duration::from_secs(20), |b| {
        b["items"]
            .as_array()
            .is_some_and(|i| i.iter().map(|r| r["sales_count"].as_i64().unwrap_or(0)).sum::<i64>() == 2)
    })
    .await;
    (product, month)
}

/// The first `href` in `html` that contains `part` (entities decoded).
fn link_with(html: &str, part: &str) -> String {
    html.split("href=\"")
        .skip(1)
        .map(|s| s.split('"').next().unwrap().replace("&amp;", "&"))
        .find(|h| h.contains(part))
        .unwrap_or_else(|| panic!("no link containing {part:?} in {html}"))
}

async fn signed_in(app: &TestApp, role: &str, bound_to: Option<&str>) -> String {
    let (_, name, password) = app.user(role, bound_to).await;
    sign_in_form(app, &name, &password).await
}

async fn a_managers_home_is_their_branch_with_a_drill_down_to_sales_and_no_other_branchs_names(app: &TestApp) {
    scenario(app).await;
    let b = browser();
    let cookie = signed_in(app, "manager", Some("Colombo")).await;
    let (s, location, _) = page(&b, app, "/", Some(&cookie)).await;
    assert_eq!((s, location.as_str()), (303, "/home"), "a browser opening / lands on its home");
    let (s, _, html) = page(&b, app, "/home", Some(&cookie)).await;
    assert_eq!(s, 200, "{html}");
    assert!(html.contains("My branch: Colombo") && html.contains("Branch Colombo this month"), "{html}");
    assert!(html.contains("Test HM1") && html.contains("Test HM2"), "the branch's agents by name: {html}");
    assert!(!html.contains("Test HK1") && !html.contains("Test HX1"), "never another branch's agents: {html}");
    assert!(html.contains("id=\"behind-list\"") && html.contains("Behind pace"), "who is behind: {html}");
    assert!(html.contains("class=\"pace-expected\""), "bars carry the expected-by-today marker: {html}");
    assert!(html.contains("LKR"), "amounts carry the currency: {html}");
    assert!(html.contains("href=\"/dashboard\""), "the dashboard stays reachable: {html}");

    // Down: the team, then the agent, then back up by the breadcrumbs.
    let team = link_with(&html, "team=Alpha");
    let (s, _, html) = page(&b, app, &team, Some(&cookie)).await;
    assert_eq!(s, 200, "{html}");
    assert!(html.contains("aria-label=\"Breadcrumb\"") && html.contains("Branch Colombo"), "{html}");
    assert!(html.contains("<span aria-current=\"page\">Team Alpha</span>"), "{html}");
    let agent = link_with(&html, "agent=HM1");
    let (s, _, html) = page(&b, app, &agent, Some(&cookie)).await;
    assert_eq!(s, 200, "{html}");
    assert!(html.contains("id=\"home-sales\"") && html.contains("10,000.00"), "the agent's sales rows: {html}");
    let back = link_with(&html, "level=agent&branch=Colombo&team=Alpha");
    let (s, _, _) = page(&b, app, &back, Some(&cookie)).await;
    assert_eq!(s, 200, "the breadcrumb back to the team works");

    // Views are URLs: validated like the API.
    let (s, _, html) = page(&b, app, "/home?level=planet&period=soon", Some(&cookie)).await;
    assert_eq!(s, 422, "{html}");
    assert!(html.contains("Level must be") && html.contains("Period must be"), "every bad field: {html}");
    let (s, _, _) = page(&b, app, "/home?colour=red", Some(&cookie)).await;
    assert_eq!(s, 400, "an unknown parameter is refused");
    let (s, _, html) = page(&b, app, "/home?agent=HK1", Some(&cookie)).await;
    assert_eq!(s, 403, "another branch's agent's sales: {html}");
    assert!(!html.contains("Test HK1"), "{html}");
}

async fn an_agents_home_shows_their_pace_need_per_day_next_milestone_and_rank(app: &TestApp) {
    scenario(app).await;
    let b = browser();
    let cookie = signed_in(app, "agent", Some("HM1")).await;
    let (s, _, html) = page(&b, app, "/home", Some(&cookie)).await;
    assert_eq!(s, 200, "{html}");
    assert!(html.contains("My progress, Test HM1"), "{html}");
    assert!(html.contains("This month against my target") && html.contains("class=\"pace-expected\""), "{html}");
    assert!(html.contains("id=\"need-per-day\"") && html.contains("per working day"), "{html}");
    assert!(html.contains("id=\"next-milestone\""), "{html}");
    // HM1 sold most; the others agreed to analytics, so they are ranked (under pseudonyms).
    assert!(html.contains("1st of 4"), "rank among those who share their figures: {html}");
    assert!(!html.contains("Test HM2") && !html.contains("Test HK1"), "colleagues' names stay hidden: {html}");
    let (s, _, _) = page(&b, app, "/wallboard", Some(&cookie)).await;
    assert_eq!(s, 403, "agents do not open wallboards");
}

async fn an_analysts_home_shows_data_quality_and_pseudonyms_only(app: &TestApp) {
    scenario(app).await;
    let b = browser();
    let cookie = signed_in(app, "analyst", None).await;
    let (s, _, html) = page(&b, app, "/home", Some(&cookie)).await;
    assert_eq!(s, 200, "{html}");
    assert!(html.contains("Data quality"), "{html}");
    assert!(html.contains("id=\"spelling-variants\"") && html.contains("Colmbo"), "a near spelling: {html}");
    let policies = &html[html.find("id=\"quality-policies\"").unwrap()..];
    assert!(policies.split("</div>").next().unwrap().contains("2 of 2"), "sales without policy numbers: {policies}");
    let targets = &html[html.find("id=\"quality-targets\"").unwrap()..];
    assert!(targets.split("</div>").next().unwrap().contains("1 of 4"), "HK1 has no target: {targets}");
    assert!(html.contains("/api/v1/kpis/leaderboard?") && html.contains("format=csv"), "exports: {html}");
    assert!(!html.contains("Test H"), "no names anywhere: {html}");
    let (s, _, html) = page(&b, app, "/home?level=agent&within=company", Some(&cookie)).await;
    assert_eq!(s, 200, "{html}");
    assert!(html.contains("ag_") && !html.contains("Test H"), "pseudonyms only: {html}");
    assert!(!html.contains("agent=ag_"), "a pseudonym does not lead to sales: {html}");
    let (s, _, _) = page(&b, app, "/home?agent=HM1", Some(&cookie)).await;
    assert_eq!(s, 403, "an analyst never sees one agent's sales");
}

async fn an_admins_home_is_the_company_and_any_branch_has_a_wallboard(app: &TestApp) {
    scenario(app).await;
    let b = browser();
    let cookie = signed_in(app, "admin", None).await;
    let (s, _, html) = page(&b, app, "/home", Some(&cookie)).await;
    assert_eq!(s, 200, "{html}");
    assert!(html.contains("The company this period") && html.contains("Branches"), "{html}");
    let kandy = link_with(&html, "branch=Kandy");
    let (s, _, html) = page(&b, app, &kandy, Some(&cookie)).await;
    assert_eq!(s, 200, "{html}");
    assert!(html.contains("Gamma"), "Kandy's teams: {html}");
    let (s, _, html) = page(&b, app, "/wallboard?branch=Kandy", Some(&cookie)).await;
    assert_eq!(s, 200, "{html}");
    assert!(html.contains("Test HK1") && html.contains("5,000.00"), "{html}");
    let (s, _, html) = page(&b, app, "/wallboard", Some(&cookie)).await;
    assert_eq!(s, 422, "an admin names the branch: {html}");
    let (s, _, _) = page(&b, app, "/wallboard?branch=Atlantis", Some(&cookie)).await;
    assert_eq!(s, 422, "an unknown branch");
    let (s, _, _) = page(&b, app, "/wallboard?branch=Kandy&size=xl", Some(&cookie)).await;
    assert_eq!(s, 400, "an unknown parameter");
}

async fn a_managers_wallboard_is_their_own_branch_and_shows_a_sale_as_it_lands(app: &TestApp) {
    let (product, _) = scenario(app).await;
    let b = browser();
    let cookie = signed_in(app, "manager", Some("Colombo")).await;
    let (s, _, html) = page(&b, app, "/wallboard", Some(&cookie)).await;
    assert_eq!(s, 200, "{html}");
    assert!(html.contains("data-live-src=\"/wallboard/live?branch=Colombo\""), "{html}");
    assert!(html.contains("id=\"ticker\"") && html.contains("Test HM1"), "{html}");
    assert!(!html.contains("id=\"main-nav\"") && !html.contains("aria-label=\"Main\""), "full screen: {html}");
    let (s, _, _) = page(&b, app, "/wallboard?branch=Kandy", Some(&cookie)).await;
    assert_eq!(s, 403, "another branch's wallboard");

    let (_, cal) = app.get("/api/v1/calendar").await;
    app.sale("HM2", product, "777.00", cal["today"].as_str().unwrap()).await;
    let (s, _, live) = page(&b, app, "/wallboard/live?branch=Colombo", Some(&cookie)).await;
    assert_eq!(s, 200, "{live}");
    let at = live.find("class=\"newest\"").expect("a newest sale");
    let newest = &live[at..live[at..].find("</li>").map_or(live.len(), |end| at + end)];
    assert!(newest.contains("Test HM2") && newest.contains("777.00"), "{newest}");
}
