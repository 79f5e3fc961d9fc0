//! The console's rough edges (issue 14, item 6) as the server renders them, on SQLite,
//! PostgreSQL and MariaDB/MySQL: the currency and thousands separators, the dashboard's
//! defaults, the sale form for an agent and for staff, the sales list's count, total, pages and
//! search, least-privilege defaults for users and tokens, and the readable audit log. The
//! behaviour in a browser (focus, confirmations, phone width, axe) is in e2e/tests.

use crate::common::TestApp;
use crate::web::{browser, csrf_of, post_form, sign_in_form};
use serde_json::json;

on_every_backend!(
    an_agent_records_their_own_sale_and_may_write_thousands_separators,
    the_sales_list_counts_totals_pages_and_finds_a_policy_newest_first_with_names,
    the_dashboard_opens_on_this_month_for_a_managers_branch_with_the_currency,
    new_users_are_agents_and_tokens_expire_in_ninety_days_unless_told,
    the_audit_log_names_people_links_records_and_filters,
    destructive_buttons_ask_first,
);

on_every_backend_with!(
    in_dollars,
    |c: &mut moon_server::Config| c.currency = moon_domain::CurrencyCode::parse("usd").unwrap(),
    the_currency_comes_from_configuration,
);

/// A page as a browser asks for it, with the admin's token or `cookie`'s session.
async fn html(app: &TestApp, path: &str, cookie: Option<&str>) -> (u16, String) {
    let res = match cookie {
        Some(c) => browser().get(app.url(path)).header("cookie", c),
        None => app.request(reqwest::Method::GET, path),
    }
    .header("accept", "text/html")
    .send()
    .await
    .unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

/// Posts a console form with the session's CSRF token; status and body (no redirects followed).
async fn post(app: &TestApp, path: &str, cookie: &str, csrf: &str, fields: &[(&str, &str)]) -> (u16, String) {
    let fields = [fields, &[("csrf_token", csrf)]].concat();
    let (status, _, body) = post_form(&browser(), app, path, cookie, &fields).await;
    (status, body)
}

/// The user name of the test app's admin (the actor of what its token does).
async fn admin_name(app: &TestApp) -> String {
    let (_, users) = app.get("/api/v1/users").await;
    users["items"]
        .as_array()
        .or(users.as_array())
        .and_then(|us| us.iter().find(|u| u["role"] == "admin"))
        .and_then(|u| u["username"].as_str())
        .expect("the admin user")
        .to_owned()
}

/// The text of the element with `id`, tags left out.
fn text_of(html: &str, id: &str) -> String {
    let at = html.find(&format!("id=\"{id}\"")).unwrap_or_else(|| panic!("no #{id} in {html}"));
    let open = at + html[at..].find('>').unwrap() + 1;
    let tag_start = html[..at].rfind('<').unwrap() + 1;
    let tag: String = html[tag_start..].chars().take_while(|c| c.is_ascii_alphanumeric()).collect();
    let close = open + html[open..].find(&format!("</{tag}>")).unwrap();
    let mut out = String::new();
    let mut inside = false;
    for c in html[open..close].chars() {
        match c {
            '<' => inside = true,
            '>' => inside = false,
            c if !inside => out.push(c),
            _ => {}
        }
    }
    out.replace("&amp;", "&").split_whitespace().collect::<Vec<_>>().join(" ")
}

async fn an_agent_records_their_own_sale_and_may_write_thousands_separators(app: &TestApp) {
    app.agent("AGT001", "Colombo", "Alpha").await;
    let product = app.product("Life Basic", "60000").await.to_string();
    let (_, name, password) = app.user("agent", Some("AGT001")).await;
    let cookie = sign_in_form(app, &name, &password).await;
    let (s, page) = html(app, "/sales", Some(&cookie)).await;
    assert_eq!(s, 200, "{page}");
    assert!(!page.contains("id=\"f-agent_code\""), "an agent is not asked to pick themselves");
    assert_eq!(text_of(&page, "f-agent_code-shown"), "Test AGT001 (AGT001)");
    assert!(page.contains("type=\"hidden\" name=\"agent_code\" value=\"AGT001\""), "{page}");
    let csrf = csrf_of(&page);
    let sale = [("agent_code", "AGT001"), ("product_id", product.as_str()), ("sale_date", "2026-01-05")];
    // Left out: the amount. The message names the field as people do and links to it.
    let (s, refused) = post(app, "/sales", &cookie, &csrf, &sale).await;
    assert_eq!(s, 422, "{refused}");
    assert_eq!(text_of(&refused, "f-amount-error"), "Amount is required");
    assert!(refused.contains("<a href=\"#f-amount\">Amount is required</a>"), "the summary links to the field");
    // "25,000" is twenty-five thousand; "2,50" is still refused rather than guessed at.
    let (s, _) = post(app, "/sales", &cookie, &csrf, &[sale.as_slice(), &[("amount", "2,50")]].concat()).await;
    assert_eq!(s, 422);
    let (s, _) = post(app, "/sales", &cookie, &csrf, &[sale.as_slice(), &[("amount", "25,000")]].concat()).await;
    assert_eq!(s, 303);
    let (_, sales) = app.get("/api/v1/sales").await;
    let amounts: Vec<&str> = sales["items"].as_array().unwrap().iter().map(|s| s["amount"].as_str().unwrap()).collect();
    assert_eq!(amounts, ["25000.00"]);
}

async fn the_sales_list_counts_totals_pages_and_finds_a_policy_newest_first_with_names(app: &TestApp) {
    app.agent("AGT001", "Colombo", "Alpha").await;
    app.agent("AGT002", "Kandy", "Beta").await;
    let product = app.product("Life Basic", "60000").await;
    for i in 0..30 {
        let agent = if i % 2 == 0 { "AGT001" } else { "AGT002" };
        let sale = json!({"agent_code": agent, "product_id": product, "amount": "1000.50",
                          "sale_date": format!("2026-01-{:02}", i + 1), "policy_number": format!("POL-{i:03}")});
        let (s, b) = app.post("/api/v1/sales", sale).await;
        assert_eq!(s, 201, "{b}");
    }
    let (s, page) = html(app, "/sales", None).await;
    assert_eq!(s, 200, "{page}");
    assert_eq!(text_of(&page, "sales-summary"), "30 sales, total LKR 30,015.00 · page 1 of 2");
    // Newest first: the sale of 30 January heads the table, its agent named beside the code.
    let first_row = &page[page.find("<tbody>").unwrap()..];
    let first_row = &first_row[..first_row.find("</tr>").unwrap()];
    assert!(first_row.contains("2026-01-30") && first_row.contains("POL-029"), "{first_row}");
    assert!(first_row.contains("AGT002 <span class=\"name\">Test AGT002</span>"), "{first_row}");
    assert!(first_row.contains("1,000.50"), "amounts grouped: {first_row}");
    assert!(page.contains("Amount (LKR)"));
    let next = {
        let end = page.find("rel=\"next\"").expect("a next page link");
        let start = page[..end].rfind("href=\"").unwrap() + 6;
        page[start..end].trim_end().trim_end_matches('"').replace("&amp;", "&")
    };
    assert!(next.contains("page=2"), "{next}");
    let (_, second) = html(app, &next, None).await;
    assert_eq!(text_of(&second, "sales-summary"), "30 sales, total LKR 30,015.00 · page 2 of 2");
    assert!(second.contains("POL-000") && !second.contains("POL-029"), "the older sales");
    // A policy number finds its sale; the count and total are of the filtered rows.
    let (_, found) = html(app, "/sales?policy_number=POL-007", None).await;
    assert_eq!(text_of(&found, "sales-summary"), "1 sale, total LKR 1,000.50 · page 1 of 1");
    assert_eq!(found.matches("aria-label=\"Edit sale ").count(), 1, "one row");
    assert!(found.contains("<td>POL-007</td>"), "{found}");
    // The picker offers every active agent to search, with names, in one list.
    assert!(page.contains("<datalist id=\"agent-choices\"><option value=\"AGT001\">Test AGT001</option><option value=\"AGT002\">Test AGT002</option></datalist>"), "{page}");
    assert!(
        page.contains("id=\"f-agent_code\" type=\"text\" name=\"agent_code\" value=\"\" list=\"agent-choices\""),
        "{page}"
    );
}

async fn the_dashboard_opens_on_this_month_for_a_managers_branch_with_the_currency(app: &TestApp) {
    app.agent("AGT001", "Colombo", "Alpha").await;
    app.agent("AGT002", "Kandy", "Beta").await;
    let manager = app.client_as("manager", Some("Colombo")).await;
    let res = manager.request(reqwest::Method::GET, "/dashboard").header("accept", "text/html").send().await.unwrap();
    assert_eq!(res.status(), 200);
    let page = res.text().await.unwrap();
    assert!(page.contains("aria-current=\"true\">This month</a>"), "the current month's preset is selected");
    assert!(page.contains("<option value=\"Colombo\" selected>Colombo</option>"), "the manager's branch");
    assert!(page.contains("data-live-src=\"/dashboard/live?range=month&amp;branch=Colombo\""), "{page}");
    assert!(page.contains("Total sales (LKR)"));
    // "All branches" stays a choice: an explicit empty branch is the company.
    let res =
        manager.request(reqwest::Method::GET, "/dashboard?branch=").header("accept", "text/html").send().await.unwrap();
    let all = res.text().await.unwrap();
    assert!(all.contains("<option value=\"\" selected>All branches</option>"), "{all}");
    // The admin, who has no branch, opens on the company this month.
    let (_, admin) = html(app, "/dashboard", None).await;
    assert!(
        admin.contains("aria-current=\"true\">This month</a>")
            && admin.contains("<option value=\"\" selected>All branches")
    );
}

async fn the_currency_comes_from_configuration(app: &TestApp) {
    app.agent("AGT001", "Colombo", "Alpha").await;
    let product = app.product("Life Basic", "60000").await;
    app.sale("AGT001", product, "1234567.00", "2026-01-05").await;
    let (_, sales) = html(app, "/sales", None).await;
    assert_eq!(text_of(&sales, "sales-summary"), "1 sale, total USD 1,234,567.00 · page 1 of 1");
    let (_, dash) = html(app, "/dashboard?range=all", None).await;
    assert!(dash.contains("Total sales (USD)") && !dash.contains("LKR"));
}

async fn new_users_are_agents_and_tokens_expire_in_ninety_days_unless_told(app: &TestApp) {
    let (_, users) = html(app, "/users", None).await;
    assert!(users.contains("<option value=\"agent\" selected>agent</option>"), "{users}");
    let (s, made) = app.post("/api/v1/tokens", json!({"name": "nightly export"})).await;
    assert_eq!(s, 201, "{made}");
    let expires = made["token"]["expires_at"].as_str().or(made["expires_at"].as_str()).expect("an expiry").to_owned();
    let expires = chrono::DateTime::parse_from_rfc3339(&expires).unwrap().with_timezone(&chrono::Utc);
    let days = (expires - chrono::Utc::now()).num_hours() as f64 / 24.0;
    assert!((89.9..=90.1).contains(&days), "expires in {days} days");
    let (s, made) = app.post("/api/v1/tokens", json!({"name": "a week", "expires_in_days": 7})).await;
    assert_eq!(s, 201, "{made}");
    // The console: the owner by name, the default in the label, a copy button with the secret.
    let admin_name = admin_name(app).await;
    let (_, tokens) = html(app, "/tokens", None).await;
    assert!(tokens.contains("<th scope=\"col\">Owner</th>"), "{tokens}");
    assert!(tokens.contains(&format!("<td>{admin_name}</td>")), "{tokens}");
    assert!(tokens.contains("Expires in days (blank: 90)"));
}

async fn the_audit_log_names_people_links_records_and_filters(app: &TestApp) {
    app.agent("AGT001", "Colombo", "Alpha").await;
    let product = app.product("Life Basic", "60000").await;
    let sale = app.sale("AGT001", product, "100.00", "2026-01-05").await;
    let admin_name = admin_name(app).await;
    let (s, page) = html(app, "/audit?entity=sale", None).await;
    assert_eq!(s, 200, "{page}");
    assert!(page.contains(&format!("<a href=\"/sales/{sale}\">sale {sale}</a>")), "{page}");
    assert!(page.contains(&format!("<td>{admin_name}</td>")), "the actor by name: {page}");
    assert!(!page.contains("<td>agent "), "only sales");
    assert!(page.contains("When (UTC)"));
    let (_, mine) = html(app, &format!("/audit?user={admin_name}&from=2000-01-01&to=2999-12-31"), None).await;
    assert!(mine.contains(&format!("sale {sale}")), "{mine}");
    let (_, none) = html(app, "/audit?from=2001-01-01&to=2001-01-31", None).await;
    assert!(!none.contains(&format!("sale {sale}")), "outside the dates");
    let (s, unknown) = html(app, "/audit?user=nobody-at-all", None).await;
    assert_eq!(s, 422);
    assert!(unknown.contains("no user is called"), "{unknown}");
}

async fn destructive_buttons_ask_first(app: &TestApp) {
    let agent = app.agent("AGT001", "Colombo", "Alpha").await;
    let product = app.product("Life Basic", "60000").await;
    let sale = app.sale("AGT001", product, "100.00", "2026-01-05").await;
    let (_, agents) = html(app, "/agents", None).await;
    assert!(
        agents.contains(&format!(
            "action=\"/agents/{agent}/deactivate\" data-confirm=\"Deactivate agent AGT001 (Test AGT001)?"
        )),
        "{agents}"
    );
    let (_, edit) = html(app, &format!("/sales/{sale}"), None).await;
    assert!(edit.contains(&format!("action=\"/sales/{sale}/delete\" data-confirm=\"Delete sale {sale}")), "{edit}");
    let (_, org) = html(app, "/organisation", None).await;
    assert!(org.contains("data-confirm=\"Deactivate "), "units ask too");
}
