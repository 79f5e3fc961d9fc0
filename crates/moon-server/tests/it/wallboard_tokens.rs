//! Read-only wallboard tokens (issue 14 leftovers) on SQLite, PostgreSQL and MariaDB/MySQL: an
//! admin issues one for a branch (API and console), a TV opens its one-time link and gets a
//! strict cookie, and with it the branch's wallboard, its live fragment and the event stream,
//! and nothing else; revoked, expired and stale tokens are refused; everything is audited.

use crate::common::TestApp;
use crate::web::{browser, csrf_of, page, post_form, sign_in_form};
use serde_json::{Value, json};

on_every_backend_with!(
    without_mfa,
    |c: &mut moon_server::Config| c.security.mfa_required_roles.clear(),
    a_wallboard_token_opens_its_branchs_wallboard_and_nothing_else,
    revoked_expired_and_stale_wallboard_tokens_are_refused,
    admins_issue_and_revoke_wallboard_screens_on_the_organisation_page,
);

on_every_backend_with!(
    secure_cookies,
    |c: &mut moon_server::Config| c.security.sessions.secure_cookies = true,
    the_screens_cookie_is_secure_when_the_servers_cookies_are,
);

/// Issues a token through the API as the admin; the answer's body.
async fn issue(app: &TestApp, body: Value) -> Value {
    let (s, b) = app.post("/api/v1/wallboard-tokens", body).await;
    assert_eq!(s, 201, "{b}");
    b
}

/// Opens a one-time link as a TV would; (status, location, the screen's cookie `name=value`,
/// the whole `Set-Cookie`).
async fn open_link(app: &TestApp, link: &str) -> (u16, String, String, String) {
    let res = browser().get(app.url(link)).header("accept", "text/html").send().await.unwrap();
    let status = res.status().as_u16();
    let header = |n: &str| res.headers().get(n).map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    let (location, set) = (header("location"), header("set-cookie"));
    let pair = set.split(';').next().unwrap_or_default().to_owned();
    (status, location, pair, set)
}

async fn actions(app: &TestApp) -> Vec<String> {
    let (_, audit) = app.get("/api/v1/audit?limit=500").await;
    audit["items"].as_array().unwrap().iter().filter_map(|e| e["action"].as_str().map(str::to_owned)).collect()
}

async fn a_wallboard_token_opens_its_branchs_wallboard_and_nothing_else(app: &TestApp) {
    app.agent("WB001", "Colombo", "Alpha").await;
    app.agent("WB002", "Kandy", "Beta").await;
    let product = app.product("Wall Life", "1000.00").await;
    let (_, cal) = app.get("/api/v1/calendar").await;
    let today = cal["today"].as_str().unwrap().to_owned();
    app.sale("WB001", product, "1234.00", &today).await;

    // Bad input: every field at once, nothing written.
    let (s, b) =
        app.post("/api/v1/wallboard-tokens", json!({"name": " ", "branch": "Atlantis", "expires_in_days": 0})).await;
    assert_eq!(s, 422, "{b}");
    let fields: Vec<&str> = b["errors"].as_array().unwrap().iter().filter_map(|e| e["field"].as_str()).collect();
    assert_eq!(fields, ["name", "expires_in_days", "branch"], "{b}");
    let (s, b) = app.post("/api/v1/wallboard-tokens", json!({"name": "TV", "branch": "Colombo", "scope": "all"})).await;
    assert_eq!(s, 422, "an unknown member is refused, not ignored: {b}");
    let (_, list) = app.get("/api/v1/wallboard-tokens").await;
    assert_eq!(list.as_array().unwrap().len(), 0, "nothing half-written: {list}");

    // Only admins issue, list and revoke.
    for (role, bound) in [("manager", Some("Colombo")), ("analyst", None), ("agent", Some("WB001"))] {
        let c = app.client_as(role, bound).await;
        let (s, _) = c.post("/api/v1/wallboard-tokens", json!({"name": "TV", "branch": "Colombo"})).await;
        assert_eq!(s, 403, "{role} may not issue");
        assert_eq!(c.get("/api/v1/wallboard-tokens").await.0, 403, "{role} may not list");
        assert_eq!(c.delete("/api/v1/wallboard-tokens/1").await.0, 403, "{role} may not revoke");
    }

    // Issued: the branch by its code, a year's life by default, the link shown once.
    let issued = issue(app, json!({"name": "Colombo lobby TV", "branch": "colombo"})).await;
    let token = &issued["token"];
    assert_eq!(token["branch"], "Colombo", "{issued}");
    let expires = chrono::DateTime::parse_from_rfc3339(token["expires_at"].as_str().unwrap()).unwrap();
    let days = (expires.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_days();
    assert!((364..=365).contains(&days), "365 days by default: {days}");
    let link = issued["link"].as_str().unwrap().to_owned();
    let secret = issued["secret"].as_str().unwrap();
    assert_eq!(link, format!("/wallboard/tv?token={secret}"));
    assert!(secret.starts_with("moonwb_") && token["token_prefix"].as_str().is_some_and(|p| secret.starts_with(p)));
    let (_, list) = app.get("/api/v1/wallboard-tokens").await;
    assert!(!list.to_string().contains(secret), "the secret is never listed: {list}");
    let short = issue(app, json!({"name": "Kandy TV", "branch": "Kandy", "expires_in_days": 30})).await;
    let expires = chrono::DateTime::parse_from_rfc3339(short["token"]["expires_at"].as_str().unwrap()).unwrap();
    assert!((29..=30).contains(&(expires.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_days()));

    // The TV opens the link: a strict cookie, and off to the wallboard without the token.
    let (s, to, screen, set) = open_link(app, &link).await;
    assert_eq!((s, to.as_str()), (303, "/wallboard?branch=Colombo"), "{set}");
    assert!(screen.starts_with("moon_wallboard=moonwb_") && !screen.contains(secret), "a fresh secret: {screen}");
    for attr in ["Path=/", "HttpOnly", "SameSite=Strict", "Max-Age="] {
        assert!(set.contains(attr), "{attr} in {set}");
    }
    assert!(!set.contains("Secure"), "plain HTTP here: {set}");
    let (s, _, _, _) = open_link(app, &link).await;
    assert_eq!(s, 403, "the link works once");

    let b = browser();
    let (s, _, html) = page(&b, app, "/wallboard", Some(&screen)).await;
    assert_eq!(s, 200, "{html}");
    assert!(html.contains("Branch Colombo") && html.contains("Test WB001") && html.contains("1,234.00"), "{html}");
    assert!(!html.contains("href=\"/home\""), "no way off the wallboard: {html}");
    assert!(html.contains("data-live-stream=\"/live/events?from="), "it follows the live stream: {html}");
    let (s, _, live) = page(&b, app, "/wallboard/live?branch=Colombo", Some(&screen)).await;
    assert_eq!(s, 200, "{live}");
    let stream = b.get(app.url("/live/events")).header("cookie", &screen).send().await.unwrap();
    assert_eq!(stream.status().as_u16(), 200);
    assert!(stream.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
    drop(stream);

    // Its branch only, and no other page or API route.
    let (s, _, html) = page(&b, app, "/wallboard?branch=Kandy", Some(&screen)).await;
    assert_eq!(s, 403, "{html}");
    assert!(html.contains("its own branch"), "{html}");
    for path in [
        "/home",
        "/dashboard",
        "/sales",
        "/agents",
        "/organisation",
        "/tokens",
        "/account/mfa",
        "/api/v1/agents",
        "/api/v1/sales",
        "/api/v1/auth/me",
        "/api/v1/wallboard-tokens",
        "/api/v1/performance/drill?branch=Colombo",
        "/api/v1/notifications/stream",
    ] {
        let (s, _, _) = page(&b, app, path, Some(&screen)).await;
        assert_eq!(s, 403, "{path} is refused to a screen");
    }
    let res = b
        .post(app.url("/api/v1/sales"))
        .header("cookie", &screen)
        .json(&json!({"agent_code": "WB001", "product_id": product, "amount": "1.00", "sale_date": today}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 403, "a screen records nothing");

    let (_, list) = app.get("/api/v1/wallboard-tokens").await;
    let row = list.as_array().unwrap().iter().find(|t| t["id"] == token["id"]).unwrap().clone();
    assert!(row["claimed_at"].is_string() && row["last_used_at"].is_string(), "{row}");
    let done = actions(app).await;
    for a in ["wallboard_token.issue", "wallboard_token.claim", "auth.permission_denied"] {
        assert!(done.iter().any(|d| d == a), "{a} audited: {done:?}");
    }
}

async fn revoked_expired_and_stale_wallboard_tokens_are_refused(app: &TestApp) {
    use moon_db::sea_query::{Expr, ExprTrait, Query};
    let b = browser();
    let age = |table_col: &'static str, id: i64, days: i64| {
        let mut q = Query::update();
        q.table("wallboard_tokens")
            .value(table_col, moon_db::now() - chrono::Duration::days(days))
            .and_where(Expr::col("id").eq(id));
        q
    };

    // Revoked: the screen is refused at its next request (a browser is sent to sign in).
    let issued = issue(app, json!({"name": "Galle TV", "branch": "Galle"})).await;
    let id = issued["token"]["id"].as_i64().unwrap();
    let (_, _, screen, _) = open_link(app, issued["link"].as_str().unwrap()).await;
    assert_eq!(page(&b, app, "/wallboard", Some(&screen)).await.0, 200);
    let (s, revoked) = app.delete(&format!("/api/v1/wallboard-tokens/{id}")).await;
    assert_eq!(s, 200, "{revoked}");
    assert!(revoked["revoked_at"].is_string(), "{revoked}");
    let (s, to, _) = page(&b, app, "/wallboard", Some(&screen)).await;
    assert_eq!((s, to.starts_with("/sign-in")), (303, true), "revoked: {to}");
    let (s, _, _) = page(&b, app, "/wallboard/live?branch=Galle", Some(&screen)).await;
    assert_eq!(s, 303);
    assert_eq!(app.delete("/api/v1/wallboard-tokens/999999").await.0, 404);
    // A link revoked before it was opened opens nothing.
    let unopened = issue(app, json!({"name": "Spare", "branch": "Galle"})).await;
    app.delete(&format!("/api/v1/wallboard-tokens/{}", unopened["token"]["id"])).await;
    assert_eq!(open_link(app, unopened["link"].as_str().unwrap()).await.0, 403);

    // Expired: refused like a revoked one.
    let issued = issue(app, json!({"name": "Matara TV", "branch": "Matara"})).await;
    let id = issued["token"]["id"].as_i64().unwrap();
    let (_, _, screen, _) = open_link(app, issued["link"].as_str().unwrap()).await;
    assert_eq!(page(&b, app, "/wallboard", Some(&screen)).await.0, 200);
    let mut tx = app.store.begin().await.unwrap();
    tx.execute(&age("expires_at", id, 1)).await.unwrap();
    tx.commit().await.unwrap();
    let (s, to, _) = page(&b, app, "/wallboard", Some(&screen)).await;
    assert_eq!((s, to.starts_with("/sign-in")), (303, true), "expired: {to}");

    // A link not opened within a week is stale; a made-up one never worked.
    let issued = issue(app, json!({"name": "Jaffna TV", "branch": "Jaffna"})).await;
    let id = issued["token"]["id"].as_i64().unwrap();
    let mut tx = app.store.begin().await.unwrap();
    tx.execute(&age("created_at", id, 8)).await.unwrap();
    tx.commit().await.unwrap();
    let (s, _, html) = page(&b, app, issued["link"].as_str().unwrap(), None).await;
    assert_eq!(s, 403, "{html}");
    assert!(html.contains("Ask an admin for a new one"), "{html}");
    assert_eq!(page(&b, app, "/wallboard/tv?token=moonwb_madeup", None).await.0, 403);
    assert_eq!(page(&b, app, "/wallboard/tv", None).await.0, 403);
    let (s, to, _) = page(&b, app, "/wallboard", Some("moon_wallboard=moonwb_madeup")).await;
    assert_eq!((s, to.starts_with("/sign-in")), (303, true), "an unknown screen: {to}");

    let done = actions(app).await;
    assert_eq!(done.iter().filter(|a| *a == "wallboard_token.revoke").count(), 2, "{done:?}");
}

async fn admins_issue_and_revoke_wallboard_screens_on_the_organisation_page(app: &TestApp) {
    let (_, name, password) = app.user("admin", None).await;
    let cookie = sign_in_form(app, &name, &password).await;
    let b = browser();
    let (s, _, html) = page(&b, app, "/organisation", Some(&cookie)).await;
    assert_eq!(s, 200);
    assert!(html.contains("Wallboard screens (0)") && html.contains("Issue a wallboard token"), "{html}");
    let csrf = csrf_of(&html);

    // Every bad field beside its field, with ids of its own.
    let bad = [("csrf_token", csrf.as_str()), ("name", ""), ("branch", "Atlantis"), ("expires_in_days", "lots")];
    let (s, _, html) = post_form(&b, app, "/organisation/wallboard-tokens", &cookie, &bad).await;
    assert_eq!(s, 422, "{html}");
    for field in ["name", "branch", "expires_in_days"] {
        assert!(html.contains(&format!("id=\"wb-{field}-error\"")), "{field} has its error: {html}");
    }
    assert!(html.contains("value=\"Atlantis\""), "what was typed stays: {html}");

    // Issued: the whole link, shown once, with a copy button.
    let good = [("csrf_token", csrf.as_str()), ("name", "Kandy lobby"), ("branch", "Kandy"), ("expires_in_days", "")];
    let (s, _, html) = post_form(&b, app, "/organisation/wallboard-tokens", &cookie, &good).await;
    assert_eq!(s, 201, "{html}");
    let marker = "id=\"new-screen-link\">";
    let at = html.find(marker).expect("the link is shown") + marker.len();
    let link = &html[at..at + html[at..].find('<').unwrap()];
    let absolute = app.url("/wallboard/tv?token=moonwb_");
    assert!(link.starts_with(&absolute), "{link} should start with {absolute}");
    assert!(html.contains("data-copy=\"new-screen-link\""), "{html}");
    let path = &link[app.url("").len()..];
    let (s, to, screen, _) = open_link(app, path).await;
    assert_eq!((s, to.as_str()), (303, "/wallboard?branch=Kandy"));
    assert_eq!(page(&b, app, &to, Some(&screen)).await.0, 200);

    // Listed, then revoked after asking.
    let (_, _, html) = page(&b, app, "/organisation", Some(&cookie)).await;
    assert!(html.contains("Wallboard screens (1)") && html.contains("In use"), "{html}");
    assert!(html.contains("data-confirm=\"Revoke the wallboard token of Kandy lobby?"), "asks first: {html}");
    let (_, list) = app.get("/api/v1/wallboard-tokens").await;
    let id = list[0]["id"].as_i64().unwrap();
    let (s, to, _) =
        post_form(&b, app, &format!("/organisation/wallboard-tokens/{id}/revoke"), &cookie, &[("csrf_token", &csrf)])
            .await;
    assert_eq!((s, to.as_str()), (303, "/organisation"));
    let (_, _, html) = page(&b, app, "/organisation", Some(&cookie)).await;
    assert!(html.contains("Revoked") && html.contains("is revoked"), "{html}");
    assert_eq!(page(&b, app, "/wallboard", Some(&screen)).await.0, 303, "the screen is off");

    // A manager sees no screens and cannot issue one.
    let (_, mname, mpass) = app.user("manager", Some("Kandy")).await;
    let mcookie = sign_in_form(app, &mname, &mpass).await;
    let (s, _, html) = page(&b, app, "/organisation", Some(&mcookie)).await;
    assert_eq!(s, 200);
    assert!(!html.contains("Wallboard screens"), "{html}");
    let mcsrf = csrf_of_any(&html, &mcookie, app).await;
    let (s, _, _) = post_form(
        &b,
        app,
        "/organisation/wallboard-tokens",
        &mcookie,
        &[("csrf_token", &mcsrf), ("name", "Mine"), ("branch", "Kandy")],
    )
    .await;
    assert_eq!(s, 403);
    let (_, list) = app.get("/api/v1/wallboard-tokens").await;
    assert_eq!(list.as_array().unwrap().len(), 1, "nothing issued by the manager");
}

/// The CSRF token of a session from any page that carries a form (the sign-out form).
async fn csrf_of_any(html: &str, cookie: &str, app: &TestApp) -> String {
    if html.contains("name=\"csrf_token\"") {
        return csrf_of(html);
    }
    let (_, _, other) = page(&browser(), app, "/sales", Some(cookie)).await;
    csrf_of(&other)
}

async fn the_screens_cookie_is_secure_when_the_servers_cookies_are(app: &TestApp) {
    let issued = issue(app, json!({"name": "Secure TV", "branch": "Colombo"})).await;
    let (s, _, screen, set) = open_link(app, issued["link"].as_str().unwrap()).await;
    assert_eq!(s, 303);
    assert!(set.contains("; Secure") && set.contains("SameSite=Strict"), "{set}");
    assert!(screen.starts_with("moon_wallboard="), "{screen}");
}
