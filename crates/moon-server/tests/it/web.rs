//! The web console's pages over HTTP, on SQLite, PostgreSQL and MariaDB/MySQL: redirects to
//! sign-in, role-aware navigation and refusals, CSRF on forms, validation errors beside fields,
//! and the live dashboard fragment following a new sale. (The browser tests in e2e/ drive the
//! same pages in chromium.)

use crate::common::TestApp;
use serde_json::json;

on_every_backend!(
    anonymous_browsers_are_sent_to_sign_in,
    agents_neither_see_nor_reach_admin_pages,
    forms_need_the_csrf_token_and_show_errors_beside_fields,
    the_live_dashboard_follows_a_new_sale,
    the_sales_table_sorts_on_the_server_across_pages,
    an_agents_console_listens_to_the_stream_and_marks_all_read_through_the_api,
);

on_every_backend_with!(
    without_mfa,
    |c: &mut moon_server::Config| c.security.mfa_required_roles.clear(),
    admins_manage_the_organisation_and_move_agents_in_the_console,
    the_performance_page_answers_the_coaching_questions,
    a_manager_broadcasts_to_their_branch_from_the_notifications_page,
);

on_every_backend_with!(
    without_notifications,
    |c: &mut moon_server::Config| c.components = moon_server::targets::resolve("web,agent").unwrap(),
    the_console_offers_no_inbox_script_where_the_notification_api_is_not_served,
);

/// A client that does not follow redirects, so tests see them.
pub(crate) fn browser() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// A page as a browser would ask for it: status, `Location` and body.
pub(crate) async fn page(
    client: &reqwest::Client,
    app: &TestApp,
    path: &str,
    cookie: Option<&str>,
) -> (u16, String, String) {
    let mut r = client.get(app.url(path)).header("accept", "text/html");
    if let Some(c) = cookie {
        r = r.header("cookie", c);
    }
    let res = r.send().await.unwrap();
    let status = res.status().as_u16();
    let location = res.headers().get("location").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    (status, location, res.text().await.unwrap())
}

/// Posts a form as a browser would (urlencoded).
pub(crate) async fn post_form(
    client: &reqwest::Client,
    app: &TestApp,
    path: &str,
    cookie: &str,
    fields: &[(&str, &str)],
) -> (u16, String, String) {
    let body: String = form_urlencoded::Serializer::new(String::new()).extend_pairs(fields).finish();
    let res = client
        .post(app.url(path))
        .header("accept", "text/html")
        .header("cookie", cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let location = res.headers().get("location").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    (status, location, res.text().await.unwrap())
}

/// Signs in through the console's form; the session cookie (`name=value`).
pub(crate) async fn sign_in_form(app: &TestApp, username: &str, password: &str) -> String {
    let res = browser()
        .post(app.url("/sign-in"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(
            form_urlencoded::Serializer::new(String::new())
                .extend_pairs([("username", username), ("password", password), ("next", "/sales")])
                .finish(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 303);
    assert_eq!(res.headers()["location"], "/sales", "back to where the user was going");
    let cookie = res.headers()["set-cookie"].to_str().unwrap();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"), "{cookie}");
    cookie.split(';').next().unwrap().to_owned()
}

/// The CSRF token of a session, as the page carries it in its forms.
pub(crate) fn csrf_of(html: &str) -> String {
    let marker = "name=\"csrf_token\" value=\"";
    let start = html.find(marker).expect("a form with the CSRF token") + marker.len();
    html[start..start + 64].to_owned()
}

async fn anonymous_browsers_are_sent_to_sign_in(app: &TestApp) {
    let b = browser();
    let (s, to, _) = page(&b, app, "/dashboard?range=year", None).await;
    assert_eq!((s, to.as_str()), (303, "/sign-in?next=%2Fdashboard%3Frange%3Dyear"));
    let (s, to, _) = page(&b, app, "/", None).await;
    assert_eq!((s, to.as_str()), (303, "/sign-in?next=%2F"));
    let (s, _, html) = page(&b, app, "/sign-in", None).await;
    assert_eq!(s, 200);
    assert!(html.contains("<label for=\"f-username\">") && html.contains("<main"), "{html}");
    // Another site cannot sign a visitor in (login CSRF): the browser says where the form came from.
    let res = b
        .post(app.url("/sign-in"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("sec-fetch-site", "cross-site")
        .body("username=someone&password=whatever-it-is")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    // An API client still gets JSON at the root and problem JSON from the API.
    let (s, index) = app.get("/").await;
    assert_eq!((s, index["links"]["console"].as_str()), (200, Some("/dashboard")));
    let (s, body) = app.anonymous().get("/api/v1/agents").await;
    assert_eq!((s, body["code"].as_str()), (401, Some("unauthenticated")));
    // Assets are public, embedded, and revalidated by ETag.
    let res = b.get(app.url("/assets/console.js")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let etag = res.headers()["etag"].to_str().unwrap().to_owned();
    let again = b.get(app.url("/assets/console.js")).header("if-none-match", &etag).send().await.unwrap();
    assert_eq!(again.status(), 304);
    let res = b.get(app.url("/dashboard")).header("accept", "text/html").send().await.unwrap();
    let csp = res.headers()["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"), "{csp}");
}

async fn agents_neither_see_nor_reach_admin_pages(app: &TestApp) {
    app.agent("AGT001", "Colombo", "Alpha").await;
    let (_, name, password) = app.user("agent", Some("AGT001")).await;
    let cookie = sign_in_form(app, &name, &password).await;
    let b = browser();
    let (s, _, html) = page(&b, app, "/dashboard", Some(&cookie)).await;
    assert_eq!(s, 200, "{html}");
    assert!(html.contains("href=\"/sales\""), "agents are offered their sales");
    for admin_only in ["href=\"/users\"", "href=\"/audit\""] {
        assert!(!html.contains(admin_only), "{admin_only} is not offered to an agent");
    }
    for path in ["/users", "/audit"] {
        let (s, _, html) = page(&b, app, path, Some(&cookie)).await;
        assert_eq!(s, 403, "{path}");
        assert!(html.contains("role=\"alert\"") && html.contains("may not use this route"), "{html}");
    }
    // Another agent's record looks absent, as in the API.
    let other = app.agent("AGT002", "Kandy", "Beta").await;
    let (s, _, _) = page(&b, app, &format!("/agents/{other}"), Some(&cookie)).await;
    assert_eq!(s, 404);
    // An analyst sees KPIs only.
    let analyst = app.client_as("analyst", None).await;
    let r = analyst.request(reqwest::Method::GET, "/agents").header("accept", "text/html").send().await.unwrap();
    assert_eq!(r.status(), 403);
    let r = analyst.request(reqwest::Method::GET, "/dashboard").header("accept", "text/html").send().await.unwrap();
    assert_eq!(r.status(), 200);
}

async fn forms_need_the_csrf_token_and_show_errors_beside_fields(app: &TestApp) {
    app.agent("AGT001", "Colombo", "Alpha").await;
    let product = app.product("Life Basic", "60000").await;
    let (_, name, password) = app.user("agent", Some("AGT001")).await;
    let cookie = sign_in_form(app, &name, &password).await;
    let b = browser();
    let (_, _, html) = page(&b, app, "/sales", Some(&cookie)).await;
    let csrf = csrf_of(&html);
    let product = product.to_string();
    let sale = [("agent_code", "AGT001"), ("product_id", product.as_str()), ("sale_date", "2026-01-05")];
    // Without the token: refused, and nothing recorded.
    let (s, _, _) = post_form(&b, app, "/sales", &cookie, &[sale.as_slice(), &[("amount", "100.00")]].concat()).await;
    assert_eq!(s, 403);
    // With it but a bad amount: the API's message beside the amount field, values kept.
    let with_token = [sale.as_slice(), &[("csrf_token", csrf.as_str())]].concat();
    let (s, _, html) =
        post_form(&b, app, "/sales", &cookie, &[with_token.as_slice(), &[("amount", "12.345")]].concat()).await;
    assert_eq!(s, 422, "{html}");
    assert!(html.contains("id=\"f-amount-error\"") && html.contains("aria-invalid=\"true\""), "{html}");
    assert!(html.contains("value=\"12.345\""), "the typed amount is kept");
    let (_, sales) = app.get("/api/v1/sales").await;
    assert_eq!(sales["items"].as_array().unwrap().len(), 0, "nothing was recorded");
    // Valid: recorded, then back to the list (post/redirect/get).
    let (s, to, _) =
        post_form(&b, app, "/sales", &cookie, &[with_token.as_slice(), &[("amount", "100.00")]].concat()).await;
    assert_eq!((s, to.as_str()), (303, "/sales"));
    // Confirmations travel in a cookie the server sets, never in the URL, so a link from
    // elsewhere cannot put its own words on the page.
    let (_, _, html) = page(&b, app, "/sales?done=Call%20555-0100%20now", Some(&cookie)).await;
    assert!(!html.contains("Call 555-0100"), "{html}");
    let (_, sales) = app.get("/api/v1/sales").await;
    assert_eq!(sales["items"][0]["amount"], json!("100.00"));
    // Corrections are the branch's, as in the API: an agent cannot open a sale's form.
    let id = sales["items"][0]["id"].as_i64().unwrap();
    let (s, _, _) = page(&b, app, &format!("/sales/{id}"), Some(&cookie)).await;
    assert_eq!(s, 403);
    // An agent may not create agents, whatever the form says.
    let (s, _, _) = post_form(&b, app, "/agents", &cookie, &[("csrf_token", &csrf), ("agent_code", "AGT777")]).await;
    assert_eq!(s, 403);
}

async fn the_live_dashboard_follows_a_new_sale(app: &TestApp) {
    app.agent("AGT001", "Colombo", "Alpha").await;
    let product = app.product("Life Basic", "60000").await;
    let count = |html: &str| -> String {
        let marker = "id=\"kpi-count\"";
        let start = html.find(marker).expect("the sales count card");
        let rest = &html[start..];
        let open = rest.find('>').unwrap() + 1;
        let close = rest.find("</p>").unwrap();
        rest[open..close].to_owned()
    };
    let live = || async {
        let r = app.request(reqwest::Method::GET, "/dashboard/live?range=all").send().await.unwrap();
        assert_eq!(r.status(), 200);
        r.text().await.unwrap()
    };
    assert_eq!(count(&live().await), "0");
    app.sale("AGT001", product, "250.00", "2026-01-05").await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let html = live().await;
        if count(&html) == "1" {
            assert!(html.contains("250.00"), "the total follows too");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the dashboard did not follow the sale: {html}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // A bad period is reported beside the date fields, not as a server error.
    let r = app.request(reqwest::Method::GET, "/dashboard?from=2026-02-01&to=2026-01-01").send().await.unwrap();
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("id=\"f-from-error\""));
}

/// The `href` of the page's "next page" link, unescaped.
fn next_link(html: &str) -> String {
    let end = html.find("rel=\"next\"").expect("a next page link");
    let start = html[..end].rfind("href=\"").expect("its href") + "href=\"".len();
    html[start..end].trim_end().trim_end_matches('"').replace("&amp;", "&")
}

/// The policy numbers in a page's table, top to bottom.
fn policies(html: &str) -> Vec<String> {
    html.match_indices("POL-").map(|(i, _)| html[i..i + 7].to_owned()).collect()
}

async fn the_sales_table_sorts_on_the_server_across_pages(app: &TestApp) {
    app.agent("AGT001", "Colombo", "Alpha").await;
    let product = app.product("Life Basic", "60000").await;
    for i in 0..30 {
        let amount = format!("{}.00", 100 + (i * 7) % 11);
        let sale = json!({"agent_code": "AGT001", "product_id": product, "amount": amount, "sale_date": "2026-01-05",
                          "policy_number": format!("POL-{i:03}")});
        let (s, b) = app.post("/api/v1/sales", sale).await;
        assert_eq!(s, 201, "{b}");
    }
    let (_, all) = app.get("/api/v1/sales?sort=amount&order=desc&limit=500").await;
    let want: Vec<String> =
        all["items"].as_array().unwrap().iter().map(|s| s["policy_number"].as_str().unwrap().to_owned()).collect();
    let (_, name, password) = app.user("agent", Some("AGT001")).await;
    let cookie = sign_in_form(app, &name, &password).await;
    let b = browser();
    let (s, _, first) = page(&b, app, "/sales?branch=Colombo&sort=amount&order=desc", Some(&cookie)).await;
    assert_eq!(s, 200, "{first}");
    assert_eq!(first.matches("aria-sort=").count(), 1, "one column is marked sorted");
    assert!(
        first.contains(
            "aria-sort=\"descending\"><a class=\"sort\" href=\"/sales?branch=Colombo&amp;sort=amount&amp;order=asc\""
        ),
        "{first}"
    );
    assert!(first.contains("name=\"sort\" value=\"amount\""), "the filter form keeps the sort");
    let next = next_link(&first);
    assert!(next.contains("sort=amount") && next.contains("order=desc") && next.contains("branch=Colombo"), "{next}");
    let (s, _, second) = page(&b, app, &next, Some(&cookie)).await;
    assert_eq!(s, 200, "{second}");
    assert_eq!([policies(&first), policies(&second)].concat(), want, "both pages, in amount order, each sale once");
    let (s, _, refused) = page(&b, app, "/sales?sort=agent_code", Some(&cookie)).await;
    assert_eq!(s, 400);
    assert!(refused.contains("id, sale_date, amount"), "{refused}");
}

async fn an_agents_console_listens_to_the_stream_and_marks_all_read_through_the_api(app: &TestApp) {
    app.agent("AGT001", "Colombo", "Alpha").await;
    let (s, b) = app.post("/api/v1/notifications", json!({"agent_code": "AGT001", "message": "Well done"})).await;
    assert_eq!(s, 201, "{b}");
    let (_, name, password) = app.user("agent", Some("AGT001")).await;
    let cookie = sign_in_form(app, &name, &password).await;
    let b = browser();
    let (s, _, html) = page(&b, app, "/notifications", Some(&cookie)).await;
    assert_eq!(s, 200, "{html}");
    for wanted in [
        "data-live-stream=\"/live/events?from=",
        "data-inbox=\"on\"",
        "id=\"live-notices\"",
        "aria-live=\"polite\"",
        "data-read-all=\"/api/v1/notifications/read_all\"",
        "data-live-rows",
        "data-mark-read=",
        "<span class=\"badge\" id=\"unread-count\">1</span>",
    ] {
        assert!(html.contains(wanted), "{wanted} missing: {html}");
    }
    // The session may open the stream the page names (same origin, cookie only).
    let res = b
        .get(app.url("/api/v1/notifications/stream?mine=true"))
        .header("cookie", &cookie)
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
    drop(res);
    // "Mark all read" is the API's POST with the page's CSRF token, as the script sends it.
    let post = |token: Option<String>| {
        let mut r = b.post(app.url("/api/v1/notifications/read_all")).header("cookie", &cookie);
        if let Some(t) = token {
            r = r.header("x-csrf-token", t);
        }
        r.send()
    };
    assert_eq!(post(None).await.unwrap().status(), 403, "not without the CSRF token");
    let res = post(Some(csrf_of(&html))).await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<serde_json::Value>().await.unwrap()["marked"], 1);
    let (_, _, html) = page(&b, app, "/notifications", Some(&cookie)).await;
    assert!(html.contains("<span class=\"badge\" id=\"unread-count\">0</span>"), "{html}");
    // Staff pages listen to what is addressed to the staff member's own account (alerts,
    // digests), with its unread count; "Mark all read" stays an agent's inbox's.
    let r = app.admin().request(reqwest::Method::GET, "/notifications").header("accept", "text/html").send().await;
    let html = r.unwrap().text().await.unwrap();
    assert!(html.contains("<h1>Notifications</h1>"), "{html}");
    assert!(html.contains("data-inbox=\"on\""), "staff listen for their own notifications: {html}");
    assert!(html.contains("<span class=\"badge\" id=\"unread-count\">0</span>"), "{html}");
    assert!(!html.contains("data-read-all"), "{html}");
}

async fn the_console_offers_no_inbox_script_where_the_notification_api_is_not_served(app: &TestApp) {
    app.agent("AGT001", "Colombo", "Alpha").await;
    let (_, name, password) = app.user("agent", Some("AGT001")).await;
    let cookie = sign_in_form(app, &name, &password).await;
    let b = browser();
    let (s, _, html) = page(&b, app, "/notifications", Some(&cookie)).await;
    assert_eq!(s, 200, "{html}");
    assert!(html.contains("id=\"unread-count\""), "the count is read by the page itself: {html}");
    for absent in ["data-inbox", "live-notices", "data-read-all", "data-live-rows"] {
        assert!(!html.contains(absent), "{absent} offered without the API: {html}");
    }
    let res = b.get(app.url("/api/v1/notifications/stream")).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(res.status(), 404);
}

/// The organisation page lists the units; an admin adds and renames one, sees the API's message
/// for a duplicate, and moves an agent from the agent's page; a manager reads but cannot change.
async fn admins_manage_the_organisation_and_move_agents_in_the_console(app: &TestApp) {
    let id = app.agent("ORGW1", "Colombo", "Alpha").await;
    let (_, name, password) = app.user("admin", None).await;
    let cookie = sign_in_form(app, &name, &password).await;
    let b = browser();
    let (s, _, html) = page(&b, app, "/organisation", Some(&cookie)).await;
    assert_eq!(s, 200);
    assert!(html.contains("id=\"branches-table\"") && html.contains("Colombo") && html.contains("Alpha"), "{html}");
    let csrf = csrf_of(&html);
    let add = [("csrf_token", csrf.as_str()), ("kind", "branch"), ("code", "Negombo")];
    let (s, to, _) = post_form(&b, app, "/organisation", &cookie, &add).await;
    assert_eq!((s, to.as_str()), (303, "/organisation"));
    let (s, _, html) = post_form(&b, app, "/organisation", &cookie, &add).await;
    assert_eq!(s, 409, "a second Negombo is refused with the API's words");
    assert!(html.contains("already exists"), "{html}");
    let (_, branches) = app.get("/api/v1/org/branches?limit=500").await;
    let negombo = branches["items"].as_array().unwrap().iter().find(|u| u["code"] == "Negombo").unwrap()["id"].clone();
    let (s, _, _) = post_form(
        &b,
        app,
        &format!("/organisation/branches/{negombo}"),
        &cookie,
        &[("csrf_token", csrf.as_str()), ("name", "Negombo City")],
    )
    .await;
    assert_eq!(s, 303);
    let (_, _, html) = page(&b, app, "/organisation", Some(&cookie)).await;
    assert!(html.contains("Negombo City"), "renamed");

    let (_, _, html) = page(&b, app, &format!("/agents/{id}"), Some(&cookie)).await;
    assert!(html.contains("id=\"membership-table\"") && html.contains("the start"), "{html}");
    let fields = [("csrf_token", csrf.as_str()), ("team", "Beta"), ("effective_from", "2026-07-01")];
    let (s, to, _) = post_form(&b, app, &format!("/agents/{id}/move"), &cookie, &fields).await;
    assert_eq!((s, to), (303, format!("/agents/{id}")));
    let (_, _, html) = page(&b, app, &format!("/agents/{id}"), Some(&cookie)).await;
    assert!(html.contains("2026-07-01") && html.contains("Beta"), "{html}");
    let bad = [("csrf_token", csrf.as_str()), ("team", "Nowhere")];
    let (s, _, html) = post_form(&b, app, &format!("/agents/{id}/move"), &cookie, &bad).await;
    assert_eq!(s, 422);
    assert!(html.contains("known teams"), "the known teams are listed beside the field: {html}");

    let (_, mname, mpassword) = app.user("manager", Some("Colombo")).await;
    let mcookie = sign_in_form(app, &mname, &mpassword).await;
    let (s, _, html) = page(&b, app, "/organisation", Some(&mcookie)).await;
    assert_eq!(s, 200);
    assert!(!html.contains("Add a region"), "no forms for a manager");
    let mcsrf = csrf_of(&html);
    let (s, _, _) = post_form(
        &b,
        app,
        "/organisation",
        &mcookie,
        &[("csrf_token", mcsrf.as_str()), ("kind", "team"), ("code", "X")],
    )
    .await;
    assert_eq!(s, 403);
}

/// The performance page shows the drill-down of the API for the caller: a manager's agents
/// behind pace by name, one click per coaching question, an analyst pseudonyms only, and a bad
/// parameter as a message instead of a table.
async fn the_performance_page_answers_the_coaching_questions(app: &TestApp) {
    use chrono::Datelike;
    // Last month: finished, so every agent short of the target is behind whatever today is.
    let today = chrono::Utc::now().date_naive();
    let last = today.checked_sub_months(chrono::Months::new(1)).unwrap();
    let month = last.format("%Y-%m").to_string();
    let sold_on = last.with_day(15).unwrap();
    for (code, branch) in [("WPA1", "Colombo"), ("WPA2", "Colombo"), ("WPK1", "Kandy")] {
        app.agent(code, branch, "Alpha").await;
        let (s, b) = app
            .post(
                "/api/v1/targets",
                json!({"scope_kind": "agent", "scope_key": code, "period": month, "amount": "1000000"}),
            )
            .await;
        assert_eq!(s, 201, "{b}");
    }
    let product = app.product("Web performance plan", "100.00").await;
    app.sale("WPA1", product, "10.00", &sold_on.to_string()).await;
    app.wait_for("/api/v1/kpis/trend?bucket=year", std::time::Duration::from_secs(20), |b| {
        b["items"].as_array().is_some_and(|i| i.iter().any(|r| r["sales_count"] == 1))
    })
    .await;

    let b = browser();
    let (_, name, password) = app.user("manager", Some("Colombo")).await;
    let cookie = sign_in_form(app, &name, &password).await;
    let (s, _, html) = page(&b, app, "/performance", Some(&cookie)).await;
    assert_eq!(s, 200, "{html}");
    assert!(html.contains("Which agents in Colombo are behind pace this month"), "{html}");
    assert!(html.contains("href=\"/performance\""), "the navigation has the page: {html}");
    let view = format!("/performance?level=agent&status=behind&sort=gap&period={month}");
    let (s, _, html) = page(&b, app, &view, Some(&cookie)).await;
    assert_eq!(s, 200, "{html}");
    assert!(html.contains("id=\"performance-table\""), "{html}");
    assert!(html.contains("Test WPA1") && html.contains("Test WPA2"), "the manager's agents by name: {html}");
    assert!(!html.contains("Test WPK1"), "another branch's agent is not in the manager's default view: {html}");
    assert!(html.contains("Behind pace") && html.contains("1000000.00"), "{html}");
    assert!(html.contains("/sales?agent_code=WPA1"), "a named agent links to their sales: {html}");
    let (s, _, html) = page(&b, app, "/performance?level=planet", Some(&cookie)).await;
    assert_eq!(s, 422);
    assert!(
        html.contains("Level must be company, region, branch, team or agent")
            && !html.contains("id=\"performance-table\""),
        "{html}"
    );
    let (s, _, _) = page(&b, app, "/performance?colour=red", Some(&cookie)).await;
    assert_eq!(s, 400, "an unknown parameter is refused");

    let (_, aname, apassword) = app.user("analyst", None).await;
    let acookie = sign_in_form(app, &aname, &apassword).await;
    let view = format!("/performance?level=agent&within=company&period={month}");
    let (s, _, html) = page(&b, app, &view, Some(&acookie)).await;
    assert_eq!(s, 200, "{html}");
    assert!(html.contains("ag_") && !html.contains("Test WPA1"), "an analyst sees pseudonyms only: {html}");

    // An admin records an agent's choice to show their name to other agents on the agent's page.
    let (_, agents) = app.get("/api/v1/agents?agent_code=WPA2").await;
    let id = agents["items"][0]["id"].as_i64().unwrap();
    assert_eq!(agents["items"][0]["show_name_to_peers"], false);
    let (_, admin_name, admin_password) = app.user("admin", None).await;
    let admin = sign_in_form(app, &admin_name, &admin_password).await;
    let (_, _, html) = page(&b, app, &format!("/agents/{id}"), Some(&admin)).await;
    assert!(html.contains("name=\"show_name_to_peers\""), "{html}");
    let csrf = csrf_of(&html);
    let fields = [
        ("csrf_token", csrf.as_str()),
        ("agent_code", "WPA2"),
        ("first_name", "Test"),
        ("last_name", "WPA2"),
        ("branch", "Colombo"),
        ("team", "Alpha"),
        ("active", "true"),
        ("show_name_to_peers", "true"),
    ];
    let (s, _, html) = post_form(&b, app, &format!("/agents/{id}"), &admin, &fields).await;
    assert_eq!(s, 303, "{html}");
    let (_, agent) = app.get(&format!("/api/v1/agents/{id}")).await;
    assert_eq!(agent["show_name_to_peers"], true, "{agent}");
}

async fn a_manager_broadcasts_to_their_branch_from_the_notifications_page(app: &TestApp) {
    let w1 = app.agent("WB1", "Colombo", "Alpha").await;
    app.agent("WB2", "Colombo", "Beta").await;
    let k1 = app.agent("WK1", "Kandy", "Alpha").await;
    let (_, name, password) = app.user("manager", Some("Colombo")).await;
    let cookie = sign_in_form(app, &name, &password).await;
    let b = browser();
    let (s, _, html) = page(&b, app, "/notifications", Some(&cookie)).await;
    assert_eq!(s, 200, "{html}");
    assert!(html.contains("action=\"/notifications/broadcast\"") && html.contains("value=\"Colombo\""), "{html}");
    let csrf = csrf_of(&html);
    let fields =
        [("csrf_token", csrf.as_str()), ("audience", "branch"), ("unit", "Colombo"), ("text", "Console broadcast")];
    let (s, to, _) = post_form(&b, app, "/notifications/broadcast", &cookie, &fields).await;
    assert_eq!((s, to.as_str()), (303, "/notifications"));
    let (_, mine) = app.get(&format!("/api/v1/notifications?agent_id={w1}&kind=broadcast")).await;
    assert_eq!(mine["items"][0]["message"], "Console broadcast", "{mine}");
    let (_, theirs) = app.get(&format!("/api/v1/notifications?agent_id={k1}&kind=broadcast")).await;
    assert_eq!(theirs["items"].as_array().unwrap().len(), 0);
    // Another branch is refused on the page, beside the form.
    let fields = [("csrf_token", csrf.as_str()), ("audience", "branch"), ("unit", "Kandy"), ("text", "Not mine")];
    let (s, _, html) = post_form(&b, app, "/notifications/broadcast", &cookie, &fields).await;
    assert_eq!(s, 403, "{html}");
    assert!(html.contains("own branch"), "{html}");
}
