//! Access review (issue 17, item 2): every user with role, scope, MFA, tokens and last sign-in,
//! and the flags a reviewer acts on; CSV for a spreadsheet; acting through the audited routes.

use crate::common::TestApp;
use moon_db::sea_query::{Expr, ExprTrait, Query};
use serde_json::{Value, json};

fn find(review: &Value, id: i64) -> &Value {
    review["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["id"] == id)
        .unwrap_or_else(|| panic!("no user {id}: {review}"))
}

fn flags(u: &Value) -> Vec<String> {
    u["flags"].as_array().unwrap().iter().map(|f| f.as_str().unwrap().to_owned()).collect()
}

/// Back-dates a user's creation, as if the account were `days` old.
async fn age_account(app: &TestApp, user: i64, days: i64) {
    let mut q = Query::update();
    q.table("users")
        .value("created_at", chrono::Utc::now() - chrono::Duration::days(days))
        .and_where(Expr::col("id").eq(user));
    let mut tx = app.store.begin().await.unwrap();
    tx.execute(&q).await.unwrap();
    tx.commit().await.unwrap();
}

/// An old account nobody used is dormant; one that signed in is not; admins without MFA and
/// tokens never used or never expiring are flagged; the CSV says the same; an admin disables
/// the dormant account and revokes its token from the review, and both are audited.
async fn the_review_flags_what_to_act_on(app: &TestApp) {
    app.agent("REV1", "Colombo", "Alpha").await;
    let (idle, _, _) = app.user("agent", Some("REV1")).await;
    let (active, active_name, active_pw) = app.user("manager", Some("Colombo")).await;
    age_account(app, idle, 200).await;
    age_account(app, active, 200).await;
    assert_eq!(app.anonymous().sign_in(&active_name, &active_pw).await.status(), 200);

    let (s, r) = app.get("/api/v1/access-review").await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["dormant_days"], 90);
    let u = find(&r, idle);
    assert_eq!(u["scope"], "agent:REV1");
    assert_eq!(u["last_sign_in"], Value::Null);
    let token_id = u["tokens"][0]["id"].as_i64().unwrap();
    assert_eq!(
        flags(u),
        vec!["dormant".to_owned(), format!("token_never_used:{token_id}"), format!("token_never_expires:{token_id}")],
        "{u}"
    );
    let m = find(&r, active);
    assert_eq!(m["scope"], "branch:Colombo");
    assert!(m["last_sign_in"].is_string(), "{m}");
    assert!(!flags(m).contains(&"dormant".to_owned()), "{m}");
    // The fixture admin has no second factor, and its token (used by these requests) is live.
    let admins: Vec<&Value> = r["users"].as_array().unwrap().iter().filter(|u| u["role"] == "admin").collect();
    assert!(admins.iter().all(|a| flags(a).contains(&"admin_without_mfa".to_owned())), "{r}");
    assert!(admins.iter().all(|a| !flags(a).iter().any(|f| f.starts_with("token_never_used"))), "{r}");
    // A longer threshold: nobody is dormant.
    let (_, r) = app.get("/api/v1/access-review?dormant_days=365").await;
    assert!(!flags(find(&r, idle)).contains(&"dormant".to_owned()));

    // CSV: a header and one line per user, with the flags.
    let res = app.request(reqwest::Method::GET, "/api/v1/access-review?format=csv").send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
    let csv = res.text().await.unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert!(lines[0].starts_with("user_id,username,role,scope"));
    assert_eq!(lines.len(), 1 + r["users"].as_array().unwrap().len());
    let line = lines.iter().find(|l| l.starts_with(&format!("{idle},"))).unwrap();
    assert!(line.contains("agent:REV1") && line.contains("dormant"), "{line}");

    // Acting on it: disable the idle account, revoke its token; the review shows the result.
    let (s, b) = app.patch(&format!("/api/v1/users/{idle}"), json!({"disabled": true})).await;
    assert_eq!(s, 200, "{b}");
    let (s, _) = app.delete(&format!("/api/v1/tokens/{token_id}")).await;
    assert!(s == 200 || s == 204, "{s}");
    let (_, r) = app.get("/api/v1/access-review").await;
    let u = find(&r, idle);
    assert_eq!(u["disabled"], true);
    assert_eq!(u["tokens"].as_array().unwrap().len(), 0, "revoked tokens leave the review");
    assert!(flags(u).is_empty(), "a disabled account needs no more action: {u}");
    let (_, trail) = app.get(&format!("/api/v1/audit?entity=user&entity_id={idle}")).await;
    assert!(trail["items"].as_array().unwrap().iter().any(|e| e["action"] == "user.update"), "{trail}");
}

/// Only admins see the review; bad parameters are a 422 naming the field.
async fn the_review_is_for_admins_and_checks_its_input(app: &TestApp) {
    let manager = app.client_as("manager", Some("Colombo")).await;
    let (s, _) = manager.get("/api/v1/access-review").await;
    assert_eq!(s, 403);
    for bad in ["dormant_days=0", "dormant_days=abc", "format=xml"] {
        let (s, b) = app.get(&format!("/api/v1/access-review?{bad}")).await;
        assert_eq!(s, 422, "{bad}: {b}");
    }
}

on_every_backend!(the_review_flags_what_to_act_on, the_review_is_for_admins_and_checks_its_input);

/// The console page: an admin sees the flags, confirms and disables a dormant account and
/// revokes its token with the session's CSRF token; a post without it is refused; both actions
/// are audited as the admin's.
async fn the_console_page_reviews_and_acts(app: &TestApp) {
    use crate::web::{browser, csrf_of, page, post_form, sign_in_form};
    app.agent("REV2", "Kandy", "Beta").await;
    let (idle, idle_name, _) = app.user("agent", Some("REV2")).await;
    age_account(app, idle, 200).await;
    let (admin, admin_name, admin_pw) = app.user("admin", None).await;
    let cookie = sign_in_form(app, &admin_name, &admin_pw).await;
    let b = browser();
    let (s, _, html) = page(&b, app, "/access-review", Some(&cookie)).await;
    assert_eq!(s, 200, "{html}");
    assert!(html.contains("href=\"/access-review\""), "the navigation offers the page to admins");
    let row_start = html.find(&format!("data-user=\"{idle}\"")).expect("a row for the idle user");
    let row = &html[row_start..html[row_start..].find("</tr>").map_or(html.len(), |e| row_start + e)];
    assert!(row.contains(&idle_name) && row.contains("dormant") && row.contains("never used"), "{row}");
    assert!(row.contains("Yes, disable") && row.contains("Yes, revoke"), "each action asks first: {row}");
    let csrf = csrf_of(&html);
    let (_, r) = app.get("/api/v1/access-review").await;
    let token_id = find(&r, idle)["tokens"][0]["id"].as_i64().unwrap();

    // Without the CSRF token nothing happens.
    let (s, _, _) = post_form(&b, app, &format!("/users/{idle}"), &cookie, &[("action", "disable")]).await;
    assert_eq!(s, 403);
    let (s, _, _) =
        post_form(&b, app, &format!("/users/{idle}"), &cookie, &[("csrf_token", &csrf), ("action", "disable")]).await;
    assert_eq!(s, 303);
    let (s, _, _) = post_form(&b, app, &format!("/tokens/{token_id}/revoke"), &cookie, &[("csrf_token", &csrf)]).await;
    assert_eq!(s, 303);
    let (_, _, html) = page(&b, app, "/access-review", Some(&cookie)).await;
    let row_start = html.find(&format!("data-user=\"{idle}\"")).unwrap();
    let row = &html[row_start..row_start + html[row_start..].find("</tr>").unwrap()];
    assert!(row.contains("Disabled") && !row.contains("Yes, disable") && !row.contains("Yes, revoke"), "{row}");
    let (_, trail) = app.get(&format!("/api/v1/audit?actor=user:{admin}")).await;
    let actions: Vec<&str> = trail["items"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert!(actions.contains(&"user.update") && actions.contains(&"token.revoke"), "{actions:?}");
    // Managers are refused the page.
    let manager = app.client_as("manager", Some("Kandy")).await;
    let r = manager.request(reqwest::Method::GET, "/access-review").header("accept", "text/html").send().await.unwrap();
    assert_eq!(r.status(), 403);
}

on_every_backend_with!(
    console,
    |c: &mut moon_server::Config| c.security.mfa_required_roles.clear(),
    the_console_page_reviews_and_acts
);

/// The dormancy threshold is configuration (`[access_review] dormant_days`): with 30 days, an
/// account idle for 40 is dormant without the request naming a threshold.
async fn the_dormancy_threshold_is_configured(app: &TestApp) {
    let (idle, _, _) = app.user("analyst", None).await;
    age_account(app, idle, 40).await;
    let (s, r) = app.get("/api/v1/access-review").await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["dormant_days"], 30);
    assert!(flags(find(&r, idle)).contains(&"dormant".to_owned()), "{r}");
    let (_, r) = app.get("/api/v1/access-review?dormant_days=90").await;
    assert!(!flags(find(&r, idle)).contains(&"dormant".to_owned()), "a request still chooses its own");
}

on_every_backend_with!(
    configured,
    |c: &mut moon_server::Config| c.security.dormant_days = 30,
    the_dormancy_threshold_is_configured
);
