//! Security behaviour over HTTP, on SQLite, PostgreSQL and MariaDB/MySQL: the permission matrix
//! over every documented route, sign-in, sessions, CSRF, API tokens, MFA, throttling and rate
//! limits.

use std::collections::BTreeMap;

use crate::common::{TestApp, TestClient};
use reqwest::Method;
use serde_json::{Value, json};

on_every_backend!(
    every_route_answers_each_role_as_the_matrix_says,
    every_non_public_route_refuses_anonymous_requests,
    sessions_end_at_sign_out_rotation_and_when_the_user_is_disabled,
    cookie_changes_need_the_csrf_token,
    api_tokens_expire_and_can_be_revoked,
    mfa_enrolment_sign_in_replay_and_recovery_codes,
    roles_that_need_mfa_may_only_enrol_until_they_have_it,
    users_are_managed_by_admins_with_a_password_policy,
    every_response_carries_the_security_headers,
);

/// Who may call each route, as the product defines it; independent of the server's own policy
/// table. A documented route missing here fails the matrix test, so a new route cannot ship
/// without a decision. `public` needs no credentials; `pending` is the MFA step of a session.
const MATRIX: &[(&str, &str)] = &[
    ("GET /healthz", "public"),
    ("GET /readyz", "public"),
    ("GET /metrics", "public"),
    ("GET /", "admin manager agent analyst"),
    ("GET /api/v1/openapi.json", "public"),
    ("POST /api/v1/auth/sign-in", "public"),
    ("POST /api/v1/auth/mfa/verify", "pending"),
    ("POST /api/v1/auth/sign-out", "admin manager agent analyst"),
    ("GET /api/v1/auth/me", "admin manager agent analyst"),
    ("POST /api/v1/auth/mfa/enrol", "admin manager agent analyst"),
    ("POST /api/v1/auth/mfa/confirm", "admin manager agent analyst"),
    ("GET /api/v1/users", "admin"),
    ("POST /api/v1/users", "admin"),
    ("GET /api/v1/users/{id}", "admin"),
    ("PATCH /api/v1/users/{id}", "admin"),
    ("DELETE /api/v1/users/{id}", "admin"),
    ("GET /api/v1/tokens", "admin manager agent analyst"),
    ("POST /api/v1/tokens", "admin manager agent analyst"),
    ("DELETE /api/v1/tokens/{id}", "admin manager agent analyst"),
    ("GET /api/v1/wallboard-tokens", "admin"),
    ("POST /api/v1/wallboard-tokens", "admin"),
    ("DELETE /api/v1/wallboard-tokens/{id}", "admin"),
    ("GET /api/v1/agents", "admin manager agent"),
    ("POST /api/v1/agents", "admin manager"),
    ("GET /api/v1/agents/{id}", "admin manager agent"),
    ("PATCH /api/v1/agents/{id}", "admin manager agent"),
    ("DELETE /api/v1/agents/{id}", "admin manager"),
    ("POST /api/v1/agents/{code}/erase", "admin"),
    ("GET /api/v1/agents/{id}/memberships", "admin manager agent"),
    ("POST /api/v1/agents/{id}/moves", "admin manager"),
    ("GET /api/v1/org/{kind}", "admin manager agent analyst"),
    ("POST /api/v1/org/{kind}", "admin"),
    ("GET /api/v1/org/{kind}/{id}", "admin manager agent analyst"),
    ("PATCH /api/v1/org/{kind}/{id}", "admin"),
    ("GET /api/v1/audit", "admin"),
    ("GET /api/v1/agents/{code}/subject-access", "admin"),
    ("GET /api/v1/access-review", "admin"),
    ("GET /api/v1/anomalies", "admin"),
    ("POST /api/v1/anomalies/{id}/dismiss", "admin"),
    ("GET /api/v1/products", "admin manager agent analyst"),
    ("POST /api/v1/products", "admin"),
    ("GET /api/v1/products/{id}", "admin manager agent analyst"),
    ("PATCH /api/v1/products/{id}", "admin"),
    ("DELETE /api/v1/products/{id}", "admin"),
    ("GET /api/v1/sales", "admin manager agent"),
    ("POST /api/v1/sales", "admin manager agent"),
    ("GET /api/v1/sales/{id}", "admin manager agent"),
    ("PATCH /api/v1/sales/{id}", "admin manager"),
    ("DELETE /api/v1/sales/{id}", "admin manager"),
    ("POST /api/v1/sales/import", "admin manager"),
    ("POST /api/v1/agents/import", "admin manager"),
    ("GET /api/v1/notifications", "admin manager agent"),
    ("POST /api/v1/notifications", "admin manager"),
    ("GET /api/v1/notifications/{id}", "admin manager agent"),
    ("PATCH /api/v1/notifications/{id}", "admin manager agent"),
    ("DELETE /api/v1/notifications/{id}", "admin manager"),
    ("POST /api/v1/broadcasts", "admin manager"),
    ("GET /api/v1/notifications/stream", "admin manager agent"),
    ("GET /api/v1/notifications/unread_count", "admin manager agent"),
    ("POST /api/v1/notifications/read_all", "admin manager agent"),
    ("GET /api/v1/notifications/preferences", "admin manager agent"),
    ("PUT /api/v1/notifications/preferences", "admin manager agent"),
    ("GET /api/v1/notifications/digests", "admin manager agent"),
    ("PUT /api/v1/notifications/digests", "admin manager agent"),
    // The link in a digest's mail: the signed token is the authority, not a sign-in.
    ("GET /unsubscribe/digest", "public"),
    ("POST /unsubscribe/digest", "public"),
    ("GET /api/v1/notifications/rules", "admin"),
    ("POST /api/v1/notifications/rules", "admin"),
    ("GET /api/v1/notifications/rules/{id}", "admin"),
    ("PATCH /api/v1/notifications/rules/{id}", "admin"),
    ("DELETE /api/v1/notifications/rules/{id}", "admin"),
    ("GET /api/v1/notifications/webhooks", "admin"),
    ("POST /api/v1/notifications/webhooks", "admin"),
    ("GET /api/v1/notifications/webhooks/{id}", "admin"),
    ("PATCH /api/v1/notifications/webhooks/{id}", "admin"),
    ("DELETE /api/v1/notifications/webhooks/{id}", "admin"),
    ("GET /api/v1/notifications/deliveries", "admin"),
    ("POST /api/v1/notifications/deliveries/{id}/redeliver", "admin"),
    ("GET /api/v1/kpis/teams", "admin manager agent analyst"),
    ("GET /api/v1/kpis/branches", "admin manager agent analyst"),
    ("GET /api/v1/kpis/products", "admin manager agent analyst"),
    ("GET /api/v1/kpis/leaderboard", "admin manager agent analyst"),
    ("GET /api/v1/kpis/trend", "admin manager agent analyst"),
    ("GET /api/v1/performance", "admin manager agent analyst"),
    ("GET /api/v1/performance/drill", "admin manager agent analyst"),
    ("GET /api/v1/calendar", "admin manager agent analyst"),
    ("GET /api/v1/calendar/holidays", "admin manager agent analyst"),
    ("POST /api/v1/calendar/holidays", "admin"),
    ("DELETE /api/v1/calendar/holidays/{date}", "admin"),
    ("POST /api/v1/calendar/holidays/import", "admin"),
    ("GET /api/v1/targets", "admin manager agent analyst"),
    ("POST /api/v1/targets", "admin"),
    ("GET /api/v1/targets/{id}", "admin manager agent analyst"),
    ("PATCH /api/v1/targets/{id}", "admin"),
    ("DELETE /api/v1/targets/{id}", "admin"),
    ("POST /api/v1/targets/import", "admin"),
    ("POST /api/v1/targets/copy", "admin"),
    ("POST /api/v1/targets/periods/{period}/lock", "admin"),
    ("GET /api/v1/commission-plans", "admin manager agent analyst"),
    ("POST /api/v1/commission-plans", "admin"),
    ("GET /api/v1/commission-plans/applicable", "admin manager agent analyst"),
    ("GET /api/v1/commission-plans/{id}", "admin manager agent analyst"),
    ("POST /api/v1/commission-plans/{id}/versions", "admin"),
    ("POST /api/v1/commission-plans/{id}/retire", "admin"),
    ("GET /api/v1/policies", "admin manager agent"),
    ("POST /api/v1/policies", "admin manager agent"),
    ("GET /api/v1/policies/{id}", "admin manager agent"),
    ("GET /api/v1/policies/{id}/transactions", "admin manager agent"),
    ("POST /api/v1/policies/{id}/transactions", "admin manager"),
    ("POST /agent/add", "admin manager"),
    ("GET /agent/get", "admin manager agent"),
    ("PUT /agent/update/{agent_code}", "admin manager"),
    ("DELETE /agent/delete/{agent_code}", "admin manager"),
    ("POST /integration/add", "admin manager agent"),
    ("GET /integration/get", "admin manager agent"),
    ("PUT /integration/update/{sale_id}", "admin manager"),
    ("DELETE /integration/delete/{sale_id}", "admin manager"),
    ("POST /notification/send", "admin manager"),
    ("GET /notification/get", "admin manager agent"),
    // The web console: the same rights as the API routes the pages stand for.
    ("GET /assets/{file}", "public"),
    ("GET /sign-in", "public"),
    ("POST /sign-in", "public"),
    ("GET /sign-in/mfa", "pending"),
    ("POST /sign-in/mfa", "pending"),
    ("POST /sign-out", "admin manager agent analyst"),
    ("GET /account/mfa", "admin manager agent analyst"),
    ("POST /account/mfa", "admin manager agent analyst"),
    ("POST /account/mfa/confirm", "admin manager agent analyst"),
    ("GET /dashboard", "admin manager agent analyst"),
    ("GET /dashboard/live", "admin manager agent analyst"),
    ("GET /home", "admin manager agent analyst"),
    ("GET /home/live", "admin manager agent analyst"),
    ("GET /live/events", "admin manager agent analyst"),
    ("GET /wallboard", "admin manager"),
    ("GET /wallboard/live", "admin manager"),
    ("GET /agents", "admin manager agent"),
    ("POST /agents", "admin manager"),
    ("GET /agents/{id}", "admin manager agent"),
    ("POST /agents/{id}", "admin manager agent"),
    ("POST /agents/{id}/deactivate", "admin manager"),
    ("GET /sales", "admin manager agent"),
    ("POST /sales", "admin manager agent"),
    ("GET /sales/{id}", "admin manager"),
    ("POST /sales/{id}", "admin manager"),
    ("POST /sales/{id}/delete", "admin manager"),
    ("GET /products", "admin manager agent analyst"),
    ("POST /products", "admin"),
    ("POST /products/{id}", "admin"),
    ("GET /notifications", "admin manager agent"),
    ("POST /notifications", "admin manager"),
    ("POST /notifications/broadcast", "admin manager"),
    ("POST /notifications/digests", "admin manager agent"),
    ("GET /users", "admin"),
    ("POST /users", "admin"),
    ("POST /users/{id}", "admin"),
    ("GET /tokens", "admin manager agent analyst"),
    ("POST /tokens", "admin manager agent analyst"),
    ("POST /tokens/{id}/revoke", "admin manager agent analyst"),
    ("GET /audit", "admin"),
    ("GET /access-review", "admin"),
    ("GET /anomalies", "admin"),
    ("POST /anomalies/{id}/dismiss", "admin"),
    ("GET /commission-plans", "admin manager agent analyst"),
];

const ROLES: [&str; 4] = ["analyst", "agent", "manager", "admin"];

/// Every (method, path template) the OpenAPI document lists, GETs first and DELETEs last so the
/// changes the matrix makes come after the reads.
async fn documented(app: &TestApp) -> Vec<(String, String)> {
    let (s, doc) = app.anonymous().get("/api/v1/openapi.json").await;
    assert_eq!(s, 200);
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            if ["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                out.push((method.to_uppercase(), path.clone()));
            }
        }
    }
    let rank = |m: &str| ["GET", "POST", "PUT", "PATCH", "DELETE"].iter().position(|x| *x == m).unwrap();
    out.sort_by(|a, b| (rank(&a.0), &a.1).cmp(&(rank(&b.0), &b.1)));
    out
}

fn concrete(path: &str, ids: &BTreeMap<&str, String>) -> String {
    let mut p = path.to_owned();
    for (k, v) in ids {
        p = p.replace(k, v);
    }
    p
}

/// A role's client, with the ids of records in and out of its scope.
struct Caller {
    role: &'static str,
    client: TestClient,
    own: BTreeMap<&'static str, String>,
    other: BTreeMap<&'static str, String>,
}

/// The records the matrix works on: two agents in two branches, their sales and notifications.
struct World {
    colombo_agent: i64,
    kandy_agent: i64,
    colombo_sale: i64,
    kandy_sale: i64,
    colombo_note: i64,
    kandy_note: i64,
    product: i64,
}

async fn world(app: &TestApp) -> World {
    let colombo_agent = app.agent("AGT001", "Colombo", "Alpha").await;
    let kandy_agent = app.agent("AGT002", "Kandy", "Beta").await;
    let product = app.product("Life Basic", "60000").await;
    let colombo_sale = app.sale("AGT001", product, "100.00", "2026-01-05").await;
    let kandy_sale = app.sale("AGT002", product, "200.00", "2026-01-06").await;
    let note = |code: &'static str| async move {
        let (s, n) = app.post("/api/v1/notifications", json!({"agent_code": code, "message": "hello"})).await;
        assert_eq!(s, 201, "{n}");
        n["id"].as_i64().unwrap()
    };
    let colombo_note = note("AGT001").await;
    let kandy_note = note("AGT002").await;
    World { colombo_agent, kandy_agent, colombo_sale, kandy_sale, colombo_note, kandy_note, product }
}

async fn caller(app: &TestApp, w: &World, role: &'static str) -> Caller {
    let bound = match role {
        "manager" => Some("Colombo"),
        "agent" => Some("AGT001"),
        _ => None,
    };
    let (user_id, name, _) = app.user(role, bound).await;
    let account = moon_server::auth::users::account_by_name(&app.store, &name).await.unwrap().unwrap();
    let (_, secret) =
        moon_server::auth::token::create(&app.store, account.id, "matrix", None, &moon_http::Principal::operator())
            .await
            .unwrap();
    let (spare, _) =
        moon_server::auth::token::create(&app.store, account.id, "spare", None, &moon_http::Principal::operator())
            .await
            .unwrap();
    let (victim, _, _) = app.user("analyst", None).await;
    let (victim_token, _) =
        moon_server::auth::token::create(&app.store, victim, "victim", None, &moon_http::Principal::operator())
            .await
            .unwrap();
    let ids = |agent: i64, code: &str, sale: i64, note: i64, user: i64, token: i64| {
        BTreeMap::from([
            ("{agent_code}", code.to_owned()),
            ("{sale_id}", sale.to_string()),
            ("/agents/{id}", format!("/agents/{agent}")),
            ("/sales/{id}", format!("/sales/{sale}")),
            ("/notifications/{id}", format!("/notifications/{note}")),
            ("/products/{id}", format!("/products/{}", w.product)),
            ("/users/{id}", format!("/users/{user}")),
            ("/tokens/{id}", format!("/tokens/{token}")),
        ])
    };
    Caller {
        role,
        client: app.bearer(&secret),
        own: ids(w.colombo_agent, "AGT001", w.colombo_sale, w.colombo_note, user_id, spare.id),
        other: ids(w.kandy_agent, "AGT002", w.kandy_sale, w.kandy_note, victim, victim_token.id),
    }
}

/// Whether `role` sees only part of the records behind `path` (so another's record is a 404).
fn narrowed(role: &str, path: &str) -> bool {
    let personal = ["/agents/{id}", "/sales/{id}", "/notifications/{id}", "{agent_code}", "{sale_id}"]
        .iter()
        .any(|p| path.contains(p));
    let tokens = path.contains("/tokens/{id}");
    (personal && matches!(role, "manager" | "agent")) || (tokens && role != "admin")
}

async fn every_route_answers_each_role_as_the_matrix_says(app: &TestApp) {
    let w = world(app).await;
    let mut callers = Vec::new();
    for role in ROLES {
        callers.push(caller(app, &w, role).await);
    }
    let spec: BTreeMap<&str, &str> = MATRIX.iter().copied().collect();
    let mut checked = 0;
    for (method, path) in documented(app).await {
        let key = format!("{method} {path}");
        let allowed = spec.get(key.as_str()).unwrap_or_else(|| {
            panic!("{key} is served but has no entry in the permission matrix; decide who may call it")
        });
        let m = Method::from_bytes(method.as_bytes()).unwrap();
        for c in &callers {
            for (own, ids) in [(true, &c.own), (false, &c.other)] {
                let (s, body) = if path == "/api/v1/notifications/stream" || path == "/live/events" {
                    // An event stream never ends: judge it by its status alone.
                    let r = c.client.request(m.clone(), &path).send().await.unwrap();
                    (r.status().as_u16(), json!({"code": if r.status() == 403 { "forbidden" } else { "" }}))
                } else {
                    c.client.send(m.clone(), &concrete(&path, ids), json!({})).await
                };
                let who = format!("{} on {key} ({})", c.role, if own { "own" } else { "other" });
                match *allowed {
                    "public" => assert!(s != 401 && s != 403, "{who}: public, got {s} {body}"),
                    "pending" => assert_eq!(s, 403, "{who}: only a session awaiting MFA may call it: {body}"),
                    roles if !roles.split(' ').any(|r| r == c.role) => {
                        assert_eq!((s, body["code"].as_str()), (403, Some("forbidden")), "{who}: {body}")
                    }
                    _ if !own && narrowed(c.role, &path) => {
                        assert_eq!(s, 404, "{who}: out of scope must look absent: {body}")
                    }
                    _ => assert!(
                        ![401, 403, 405].contains(&s) && body["code"] != "route_not_found",
                        "{who}: allowed, got {s} {body}"
                    ),
                }
                checked += 1;
            }
        }
    }
    assert!(checked >= 8 * 40, "the matrix covered {checked} requests");
    // The server's table agrees with the matrix about routes not served by this branch's
    // targets too (the KPI routes), so they are protected the moment they appear.
    for (key, roles) in MATRIX {
        let (method, path) = key.split_once(' ').unwrap();
        let m = Method::from_bytes(method.as_bytes()).unwrap();
        match moon_server::auth::policy::lookup(&m, path) {
            moon_server::auth::policy::Lookup::Found(rule) => {
                for role in moon_http::Role::ALL {
                    let expect = roles.split(' ').any(|r| r == role.as_str())
                        || *roles == "public"
                        || (rule.access == moon_server::auth::policy::Access::SignedIn);
                    assert_eq!(rule.allows(role) || *roles == "public", expect, "{key} for {role}");
                }
            }
            other => panic!("{key} is not in the server's policy: {other:?}"),
        }
    }
}

async fn every_non_public_route_refuses_anonymous_requests(app: &TestApp) {
    let anonymous = app.anonymous();
    let public: Vec<&str> = MATRIX.iter().filter(|(_, r)| *r == "public").map(|(k, _)| *k).collect();
    for (method, path) in documented(app).await {
        let key = format!("{method} {path}");
        let concrete = path.replace("{id}", "1").replace("{agent_code}", "AGT001").replace("{sale_id}", "1");
        let (s, body) = anonymous.send(Method::from_bytes(method.as_bytes()).unwrap(), &concrete, json!({})).await;
        if public.contains(&key.as_str()) {
            assert!(s != 401 && s != 403, "{key} is public: {s} {body}");
            continue;
        }
        assert_eq!((s, body["code"].as_str()), (401, Some("unauthenticated")), "{key}: {body}");
        if path.starts_with("/agent/") || path.starts_with("/integration/") || path.starts_with("/notification/") {
            assert!(body["message"].is_string(), "original routes keep their message member: {body}");
        }
    }
    // The document says how to authenticate, and which routes need nothing.
    let (_, doc) = anonymous.get("/api/v1/openapi.json").await;
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(
        (schemes["bearer"]["scheme"].as_str(), schemes["session"]["in"].as_str()),
        (Some("bearer"), Some("cookie"))
    );
    assert_eq!(doc["security"], json!([{"bearer": []}, {"session": []}]));
    assert_eq!(doc["paths"]["/api/v1/auth/sign-in"]["post"]["security"], json!([{}]));
    assert_eq!(doc["paths"]["/healthz"]["get"]["security"], json!([{}]));
    let r = anonymous.request(Method::GET, "/api/v1/agents").send().await.unwrap();
    assert_eq!(r.headers()["www-authenticate"], "Bearer realm=\"moon\"");
    let (s, body) = app.bearer("moon_not-a-real-token").get("/api/v1/agents").await;
    assert_eq!((s, body["code"].as_str()), (401, Some("unauthenticated")));
    let (s, _) = anonymous.clone().with_header("authorization", "Basic YWRtaW46YWRtaW4=").get("/api/v1/agents").await;
    assert_eq!(s, 401, "only bearer tokens are accepted");
}

/// Signs in with a password; returns the response status, body and session cookie (`name=value`).
pub async fn sign_in(
    app: &TestApp,
    client: &TestClient,
    username: &str,
    password: &str,
) -> (u16, Value, Option<String>) {
    let r = client.sign_in(username, password).await;
    let status = r.status().as_u16();
    let cookie = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("moon_session="))
        .map(|v| {
            assert!(v.contains("HttpOnly") && v.contains("SameSite=Lax") && v.contains("Path=/"), "{v}");
            v.split(';').next().unwrap().to_owned()
        });
    let body: Value = r.json().await.unwrap_or(Value::Null);
    let _ = app;
    (status, body, cookie)
}

/// A client that sends a session cookie (and the CSRF token, when given).
fn session(app: &TestApp, cookie: &str, csrf: Option<&str>) -> TestClient {
    let c = app.anonymous().with_header("cookie", cookie);
    match csrf {
        Some(t) => c.with_header("x-csrf-token", t),
        None => c,
    }
}

async fn sessions_end_at_sign_out_rotation_and_when_the_user_is_disabled(app: &TestApp) {
    app.agent("AGT001", "Colombo", "Alpha").await;
    let (id, name, password) = app.user("agent", Some("AGT001")).await;
    let (s, body, cookie) = sign_in(app, &app.anonymous(), &name, &password).await;
    assert_eq!((s, body["status"].as_str()), (200, Some("signed_in")), "{body}");
    assert_eq!(body["mfa_enrolment_required"], false, "agents need no MFA by default");
    let cookie = cookie.expect("a session cookie");
    let csrf = body["csrf_token"].as_str().unwrap().to_owned();
    let me = session(app, &cookie, Some(&csrf));
    let (s, who) = me.get("/api/v1/auth/me").await;
    assert_eq!(
        (s, who["user"]["username"].as_str(), who["authenticated_by"].as_str()),
        (200, Some(name.as_str()), Some("session"))
    );
    let (s, agents) = me.get("/api/v1/agents").await;
    assert_eq!((s, agents["items"].as_array().unwrap().len()), (200, 1), "an agent sees only themself");
    let product = app.product("Life Basic", "60000").await;
    let sale = json!({"agent_code": "AGT001", "product_id": product, "amount": "10.00", "sale_date": "2026-01-05"});
    let (s, p) = me.post("/api/v1/sales", sale.clone()).await;
    assert_eq!((s, p["branch"].as_str()), (201, Some("Colombo")), "an agent records their own sale: {p}");
    let mut elsewhere = sale.clone();
    elsewhere["branch"] = json!("Kandy");
    assert_eq!(me.post("/api/v1/sales", elsewhere).await.0, 403, "credited to their own branch only");
    let (s, p) = me.patch(&format!("/api/v1/agents/{}", agents["items"][0]["id"]), json!({"team": "Zeta"})).await;
    assert_eq!(s, 403, "an agent may change only their contact details: {p}");
    let (s, _) = me
        .patch(&format!("/api/v1/agents/{}", agents["items"][0]["id"]), json!({"contact_number": "0770000000"}))
        .await;
    assert_eq!(s, 200);

    // Signing in again with the old cookie rotates it: the old one is dead.
    let (s, body, rotated) = sign_in(app, &me, &name, &password).await;
    assert_eq!(s, 200);
    let rotated = rotated.unwrap();
    assert_ne!(rotated, cookie);
    assert_eq!(me.get("/api/v1/auth/me").await.0, 401, "the previous session ended at sign-in");
    let me = session(app, &rotated, body["csrf_token"].as_str());
    assert_eq!(me.get("/api/v1/auth/me").await.0, 200);

    // Sign-out ends the session on the server, not just in the browser.
    let (s, _) = me.post("/api/v1/auth/sign-out", json!({})).await;
    assert_eq!(s, 204);
    let (s, p) = me.get("/api/v1/auth/me").await;
    assert_eq!((s, p["code"].as_str()), (401, Some("unauthenticated")));

    // Disabling the user ends their sessions and stops their tokens.
    let (_, body, cookie) = sign_in(app, &app.anonymous(), &name, &password).await;
    let me = session(app, &cookie.unwrap(), body["csrf_token"].as_str());
    let (_, created) = me.post("/api/v1/tokens", json!({"name": "laptop"})).await;
    let token = app.bearer(created["secret"].as_str().unwrap());
    assert_eq!(token.get("/api/v1/auth/me").await.0, 200);
    let (s, u) = app.patch(&format!("/api/v1/users/{id}"), json!({"disabled": true})).await;
    assert_eq!((s, u["disabled"].as_bool()), (200, Some(true)), "{u}");
    assert_eq!(me.get("/api/v1/auth/me").await.0, 401);
    assert_eq!(token.get("/api/v1/auth/me").await.0, 401);
    let (s, p, _) = sign_in(app, &app.anonymous(), &name, &password).await;
    assert_eq!((s, p["code"].as_str()), (401, Some("invalid_credentials")), "a disabled user cannot sign in");
    let (s, p, _) = sign_in(app, &app.anonymous(), "nobody-here", &password).await;
    assert_eq!((s, p["code"].as_str()), (401, Some("invalid_credentials")), "unknown users look the same");
}

async fn cookie_changes_need_the_csrf_token(app: &TestApp) {
    app.agent("AGT001", "Colombo", "Alpha").await;
    let (s, n) = app.post("/api/v1/notifications", json!({"agent_code": "AGT001", "message": "hi"})).await;
    assert_eq!(s, 201);
    let note = format!("/api/v1/notifications/{}", n["id"]);
    let (_, name, password) = app.user("agent", Some("AGT001")).await;
    let (_, body, cookie) = sign_in(app, &app.anonymous(), &name, &password).await;
    let cookie = cookie.unwrap();
    let csrf = body["csrf_token"].as_str().unwrap();
    let without = session(app, &cookie, None);
    assert_eq!(without.get(&note).await.0, 200, "reads need no CSRF token");
    let (s, p) = without.patch(&note, json!({"read": true})).await;
    assert_eq!((s, p["code"].as_str()), (403, Some("csrf_failed")));
    let (s, p) = session(app, &cookie, Some("0000")).patch(&note, json!({"read": true})).await;
    assert_eq!((s, p["code"].as_str()), (403, Some("csrf_failed")), "a wrong token is refused");
    let (s, p) = session(app, &cookie, Some(csrf)).patch(&note, json!({"read": true})).await;
    assert_eq!(s, 200, "{p}");
    assert!(p["read_at"].is_string());
    // Bearer requests carry no ambient authority, so they need no CSRF token.
    assert_eq!(app.patch(&note, json!({"read": false})).await.0, 200);
}

async fn api_tokens_expire_and_can_be_revoked(app: &TestApp) {
    let (id, _, _) = app.user("analyst", None).await;
    let (s, created) = app.post("/api/v1/tokens", json!({"name": "bi", "user_id": id, "expires_in_days": 30})).await;
    assert_eq!(s, 201, "{created}");
    let secret = created["secret"].as_str().unwrap();
    assert!(secret.starts_with("moon_") && secret.len() > 40);
    assert!(created["token"]["expires_at"].is_string());
    let bi = app.bearer(secret);
    let (s, me) = bi.get("/api/v1/auth/me").await;
    assert_eq!((s, me["user"]["role"].as_str()), (200, Some("analyst")), "a token acts as its user");
    let (_, listed) = bi.get("/api/v1/tokens").await;
    let listed = listed.as_array().unwrap();
    assert!(listed.iter().all(|t| t["user_id"] == id), "a user lists only their own tokens: {listed:?}");
    assert!(listed.iter().any(|t| t["name"] == "bi"));
    assert!(!Value::from(listed.clone()).to_string().contains(secret), "the secret is never shown again");
    let token_id = created["token"]["id"].as_i64().unwrap();
    let (s, revoked) = bi.delete(&format!("/api/v1/tokens/{token_id}")).await;
    assert_eq!((s, revoked["revoked_at"].is_string()), (200, true), "{revoked}");
    assert_eq!(bi.get("/api/v1/auth/me").await.0, 401, "a revoked token is refused");

    let past = moon_db::now() - chrono::Duration::seconds(1);
    let (_, expired) =
        moon_server::auth::token::create(&app.store, id, "old", Some(past), &moon_http::Principal::operator())
            .await
            .unwrap();
    assert_eq!(app.bearer(&expired).get("/api/v1/auth/me").await.0, 401, "an expired token is refused");
    let (s, p) = app.bearer(secret).post("/api/v1/tokens", json!({"name": "again", "user_id": 1})).await;
    assert_eq!(s, 401, "{p}");
    let (s, _) = app.post("/api/v1/tokens", json!({"name": "x", "expires_in_days": 0})).await;
    assert_eq!(s, 422);
}

async fn mfa_enrolment_sign_in_replay_and_recovery_codes(app: &TestApp) {
    let (_, name, password) = app.user("admin", None).await;
    let (_, body, cookie) = sign_in(app, &app.anonymous(), &name, &password).await;
    assert_eq!(body["mfa_enrolment_required"], true, "admins must use MFA by default");
    let me = session(app, &cookie.unwrap(), body["csrf_token"].as_str());
    let (s, e) = me.post("/api/v1/auth/mfa/enrol", json!({})).await;
    assert_eq!(s, 200, "{e}");
    assert!(e["otpauth_uri"].as_str().unwrap().starts_with("otpauth://totp/MoonInsurance:"), "{e}");
    assert!(e["qr_svg"].as_str().unwrap().contains("<svg"));
    let secret = e["secret"].as_str().unwrap().to_owned();
    let (s, p) = me.post("/api/v1/auth/mfa/confirm", json!({"code": "000000"})).await;
    assert_eq!((s, p["code"].as_str()), (401, Some("invalid_mfa_code")));
    let t0 = u64::try_from(moon_db::now().timestamp()).unwrap();
    let code = moon_server::auth::mfa::code_at(&secret, t0).unwrap();
    let (s, r) = me.post("/api/v1/auth/mfa/confirm", json!({"code": code})).await;
    assert_eq!(s, 200, "{r}");
    let recovery: Vec<String> =
        r["recovery_codes"].as_array().unwrap().iter().map(|c| c.as_str().unwrap().to_owned()).collect();
    assert_eq!(recovery.len(), 10);
    assert_eq!(me.get("/api/v1/users").await.0, 200, "confirmed: the session may now work");
    me.post("/api/v1/auth/sign-out", json!({})).await;

    // Password first: the session is only good for the second step.
    let (s, body, pending) = sign_in(app, &app.anonymous(), &name, &password).await;
    assert_eq!((s, body["status"].as_str()), (200, Some("mfa_required")), "{body}");
    let pending = pending.unwrap();
    let half_csrf = body["csrf_token"].as_str().unwrap().to_owned();
    let half = session(app, &pending, Some(&half_csrf));
    let (s, p) = half.get("/api/v1/users").await;
    assert_eq!((s, p["code"].as_str()), (401, Some("mfa_required")));
    // The code used at enrolment is spent: replaying its time step is refused.
    let (s, p) = half.post("/api/v1/auth/mfa/verify", json!({"code": code})).await;
    assert_eq!((s, p["code"].as_str()), (401, Some("invalid_mfa_code")), "replay refused");
    let next = moon_server::auth::mfa::code_at(&secret, t0 + 30).unwrap();
    let r = half.request(Method::POST, "/api/v1/auth/mfa/verify").json(&json!({"code": next})).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let full = r.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["status"], "signed_in");
    let me = session(app, &full, body["csrf_token"].as_str());
    assert_eq!(me.get("/api/v1/users").await.0, 200);
    assert_eq!(half.get("/api/v1/auth/me").await.0, 401, "the pending session was replaced");
    let (s, _) = half.post("/api/v1/auth/mfa/verify", json!({"code": next})).await;
    assert_eq!(s, 401, "the same code cannot be used twice");
    let (_, body, abandoned) = sign_in(app, &app.anonymous(), &name, &password).await;
    let abandoned = session(app, &abandoned.unwrap(), body["csrf_token"].as_str());
    assert_eq!(abandoned.post("/api/v1/auth/sign-out", json!({})).await.0, 204, "a half sign-in can be abandoned");
    assert_eq!(abandoned.post("/api/v1/auth/mfa/verify", json!({"code": "123456"})).await.0, 401);

    // A recovery code works once.
    for (attempt, expect) in [(0usize, 200u16), (0, 401), (1, 200)] {
        let (_, body, pending) = sign_in(app, &app.anonymous(), &name, &password).await;
        let (s, p) = session(app, &pending.unwrap(), body["csrf_token"].as_str())
            .post("/api/v1/auth/mfa/verify", json!({"code": recovery[attempt].to_uppercase()}))
            .await;
        assert_eq!(s, expect, "recovery code {attempt}: {p}");
    }
}

async fn roles_that_need_mfa_may_only_enrol_until_they_have_it(app: &TestApp) {
    app.agent("AGT001", "Colombo", "Alpha").await;
    let (_, name, password) = app.user("manager", Some("Colombo")).await;
    let (s, body, cookie) = sign_in(app, &app.anonymous(), &name, &password).await;
    assert_eq!((s, body["mfa_enrolment_required"].as_bool()), (200, Some(true)));
    let me = session(app, &cookie.unwrap(), body["csrf_token"].as_str());
    let (s, p) = me.get("/api/v1/agents").await;
    assert_eq!((s, p["code"].as_str()), (403, Some("mfa_enrolment_required")));
    assert_eq!(me.get("/api/v1/auth/me").await.0, 200, "me stays open");
    assert_eq!(me.post("/api/v1/auth/mfa/enrol", json!({})).await.0, 200, "enrolment stays open");
    // An API token (made by an admin or the CLI) is not held up by the enrolment step.
    assert_eq!(app.client_as("manager", Some("Colombo")).await.get("/api/v1/agents").await.0, 200);
}

async fn users_are_managed_by_admins_with_a_password_policy(app: &TestApp) {
    let (s, p) = app
        .post("/api/v1/users", json!({"username": "ann", "password": "short", "role": "manager", "branch": "Galle"}))
        .await;
    assert_eq!((s, p["errors"][0]["code"].as_str()), (422, Some("password_too_short")), "{p}");
    let (s, p) =
        app.post("/api/v1/users", json!({"username": "ann", "password": "long enough pass", "role": "manager"})).await;
    assert_eq!((s, p["errors"][0]["field"].as_str()), (422, Some("branch")), "a manager needs a branch: {p}");
    let (s, u) = app
        .post(
            "/api/v1/users",
            json!({"username": "Ann", "password": "long enough pass", "role": "manager", "branch": "Galle"}),
        )
        .await;
    assert_eq!(s, 201, "{u}");
    assert_eq!((u["username"].as_str(), u["branch"].as_str()), (Some("ann"), Some("Galle")));
    assert!(u.get("password_hash").is_none() && !u.to_string().contains("argon2"));
    // A manager's branch must be one of the organisation's active branches, listed when not;
    // another spelling of a known branch is stored as its code.
    let (s, p) = app
        .post(
            "/api/v1/users",
            json!({"username": "bea", "password": "long enough pass", "role": "manager", "branch": "Atlantis"}),
        )
        .await;
    assert_eq!((s, p["errors"][0]["code"].as_str()), (422, Some("unknown_branch")), "{p}");
    assert!(p["errors"][0]["message"].as_str().unwrap().contains("Colombo"), "the known branches are listed: {p}");
    let (s, b) = app
        .post(
            "/api/v1/users",
            json!({"username": "bea", "password": "long enough pass", "role": "manager", "branch": " colombo "}),
        )
        .await;
    assert_eq!((s, b["branch"].as_str()), (201, Some("Colombo")), "{b}");
    let bea = b["id"].as_i64().unwrap();
    let (s, p) = app.patch(&format!("/api/v1/users/{bea}"), json!({"branch": "Atlantis"})).await;
    assert_eq!((s, p["errors"][0]["code"].as_str()), (422, Some("unknown_branch")), "{p}");
    let (_, galle) = app.get("/api/v1/org/branches?limit=500").await;
    let galle_id =
        galle["items"].as_array().unwrap().iter().find(|u| u["code"] == "Galle").unwrap()["id"].as_i64().unwrap();
    let (s, b) = app.patch(&format!("/api/v1/org/branches/{galle_id}"), json!({"active": false})).await;
    assert_eq!(s, 200, "{b}");
    let (s, p) = app.patch(&format!("/api/v1/users/{bea}"), json!({"branch": "Galle"})).await;
    assert_eq!(
        (s, p["errors"][0]["code"].as_str()),
        (422, Some("inactive_unit")),
        "an inactive branch is refused: {p}"
    );
    let (s, _) =
        app.post("/api/v1/users", json!({"username": "ann", "password": "another long one", "role": "analyst"})).await;
    assert_eq!(s, 409);
    let id = u["id"].as_i64().unwrap();
    let (s, u) = app.patch(&format!("/api/v1/users/{id}"), json!({"role": "analyst"})).await;
    assert_eq!((s, u["role"].as_str(), u["branch"].as_str()), (200, Some("analyst"), None), "{u}");
    let (s, list) = app.get("/api/v1/users").await;
    assert_eq!(s, 200);
    assert!(list.as_array().unwrap().iter().any(|x| x["username"] == "ann"));
    assert_eq!(app.delete(&format!("/api/v1/users/{id}")).await.0, 204);
    assert_eq!(app.get(&format!("/api/v1/users/{id}")).await.0, 404);
}

async fn every_response_carries_the_security_headers(app: &TestApp) {
    for path in ["/healthz", "/api/v1/agents", "/no/such/route"] {
        let r = app.anonymous().request(Method::GET, path).send().await.unwrap();
        let h = r.headers();
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert!(!csp.contains("unsafe-inline"));
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["referrer-policy"], "no-referrer", "{path}");
        assert!(h.get("strict-transport-security").is_none(), "no HSTS without TLS");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_is_throttled_per_account_in_the_database_across_replicas() {
    use crate::common::Backend;
    for backend in [Backend::Sqlite, Backend::Postgres, Backend::MySql] {
        let slow = |c: &mut moon_server::Config| c.security.throttle.base_delay = std::time::Duration::from_secs(60);
        let Some(app) = TestApp::spawn_with(backend, slow).await else { continue };
        let (_, name, password) = app.user("agent", Some("AGT001")).await;
        for attempt in 1..=5 {
            let (s, p, _) = sign_in(&app, &app.anonymous(), &name, "wrong password!").await;
            assert_eq!((s, p["code"].as_str()), (401, Some("invalid_credentials")), "{backend:?} attempt {attempt}");
        }
        let r = app.anonymous().sign_in(&name, &password).await;
        assert_eq!(r.status(), 429, "{backend:?}: locked even with the right password");
        let retry: u64 = r.headers()["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((50..=60).contains(&retry), "{backend:?}: Retry-After {retry}");
        assert_eq!(r.headers()["content-type"], "application/problem+json");

        // A second replica on the same database sees the same lock.
        let mut config = moon_server::Config::for_database(app.db.url.clone());
        config.security.throttle.base_delay = std::time::Duration::from_secs(60);
        let replica = moon_server::start(config).await.unwrap();
        let r = reqwest::Client::new()
            .post(format!("http://{}/api/v1/auth/sign-in", replica.addr))
            .json(&json!({"username": name, "password": password}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 429, "{backend:?}: the lock is shared by replicas");
        replica.shutdown().await.unwrap();

        // Another account from the same address is not locked out by it.
        let (_, other, other_pw) = app.user("analyst", None).await;
        let (s, _, _) = sign_in(&app, &app.anonymous(), &other, &other_pw).await;
        assert_eq!(s, 200, "{backend:?}");
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_past_their_bucket_get_429_with_retry_after() {
    use moon_server::auth::ratelimit::Limit;
    let app = TestApp::spawn_with(crate::common::Backend::Sqlite, |c| {
        c.security.rate_limits.read = Limit { per_minute: 6, burst: 3 };
        c.security.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await
    .unwrap();
    for _ in 0..3 {
        assert_eq!(app.get("/api/v1/products").await.0, 200);
    }
    let r = app.client.get(app.url("/api/v1/products")).send().await.unwrap();
    assert_eq!(r.status(), 429);
    let retry: u64 = r.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=10).contains(&retry), "{retry}");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["code"], "rate_limited");
    let (s, p) = app.get("/agent/get").await;
    assert_eq!((s, p["message"].is_string()), (429, true), "original routes keep message: {p}");
    assert_eq!(app.get("/healthz").await.0, 200, "probes are never limited");
    // Behind a trusted proxy, the forwarded address is the client: a fresh bucket. (The
    // principal's own bucket is shared, so use another user.)
    let other = app.client_as("analyst", None).await.with_header("x-forwarded-for", "203.0.113.9");
    assert_eq!(other.get("/api/v1/products").await.0, 200);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_headers_and_bodies_are_refused_before_authentication() {
    let app = TestApp::spawn(crate::common::Backend::Sqlite).await.unwrap();
    let big = "x".repeat(20 * 1024);
    let (s, p) = app.anonymous().with_header("x-padding", &big).get("/api/v1/agents").await;
    assert_eq!((s, p["code"].as_str()), (431, Some("headers_too_large")));
    let r = app
        .anonymous()
        .request(Method::POST, "/api/v1/auth/sign-in")
        .header("content-type", "application/json")
        .body("x".repeat(100 * 1024))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413, "an announced oversized body is refused unread");
    app.stop().await;
}
