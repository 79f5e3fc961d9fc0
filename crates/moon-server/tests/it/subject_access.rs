//! Subject access (issue 17, item 1): an admin exports everything held about one agent, and
//! nothing about anyone else; consent changes keep their history; the export is audited.

use crate::common::TestApp;
use serde_json::{Value, json};

/// Creates an agent with recognisable personal data and returns its id.
async fn person(app: &TestApp, code: &str, first: &str, last: &str, email: &str) -> i64 {
    let (s, b) = app
        .post(
            "/api/v1/agents",
            json!({"agent_code": code, "first_name": first, "last_name": last, "branch": "Colombo",
                   "team": "Alpha", "email": email, "contact_number": "+94771234567"}),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    b["id"].as_i64().unwrap()
}

fn ids(v: &Value) -> Vec<i64> {
    v.as_array().unwrap().iter().map(|x| x["id"].as_i64().unwrap()).collect()
}

/// Two agents with sales, notifications, accounts and consent changes: the export of one holds
/// exactly that one's rows, and not one identifier of the other's.
async fn the_export_holds_exactly_the_subjects_data(app: &TestApp) {
    let a = person(app, "SUBJA", "Kumari", "Perera", "kumari@example.com").await;
    let b = person(app, "OTHERB", "Ravindu", "Fernando", "ravindu@example.org").await;
    let p = app.product("Subject product", "100.00").await;
    let a_sales =
        vec![app.sale("SUBJA", p, "10.00", "2026-03-01").await, app.sale("SUBJA", p, "15.50", "2026-03-02").await];
    let b_sale = app.sale("OTHERB", p, "99.00", "2026-03-01").await;
    let (s, _) = app.post("/api/v1/notifications", json!({"agent_code": "SUBJA", "message": "Well done Kumari"})).await;
    assert_eq!(s, 201);
    let (s, _) =
        app.post("/api/v1/notifications", json!({"agent_code": "OTHERB", "message": "Secret note for Ravindu"})).await;
    assert_eq!(s, 201);
    // Consent: the subject opts in to analytics, then out again; the other opts in too.
    for v in [true, false] {
        let (s, r) = app.patch(&format!("/api/v1/agents/{a}"), json!({"analytics_consent": v})).await;
        assert_eq!(s, 200, "{r}");
    }
    let (s, _) = app.patch(&format!("/api/v1/agents/{b}"), json!({"show_name_to_peers": true})).await;
    assert_eq!(s, 200);
    // Both have accounts; both sign in.
    let (a_user, a_name, a_pw) = app.user("agent", Some("SUBJA")).await;
    let (b_user, b_name, b_pw) = app.user("agent", Some("OTHERB")).await;
    // Notifications addressed to each one's user account (as behind-pace alerts are).
    for (user, text) in [(a_user, "Your account note, Kumari"), (b_user, "Account note for Ravindu")] {
        use moon_server::notifications::pipeline::{Channels, NewNotification, Recipient, create};
        let mut tx = app.store.begin().await.unwrap();
        let new = NewNotification { to: Recipient::User(user), message: text, kind: "manual", dedupe_key: None };
        create(&mut tx, Channels::default(), &new).await.unwrap().unwrap();
        tx.commit().await.unwrap();
    }
    assert_eq!(app.anonymous().sign_in(&a_name, &a_pw).await.status(), 200);
    assert_eq!(app.anonymous().sign_in(&b_name, &b_pw).await.status(), 200);

    let (s, x) = app.get("/api/v1/agents/SUBJA/subject-access").await;
    assert_eq!(s, 200, "{x}");
    assert_eq!(x["profile"]["agent_code"], "SUBJA");
    assert_eq!(x["profile"]["email"], "kumari@example.com", "the person gets their own data in clear");
    let mut got = ids(&x["sales"]);
    got.sort_unstable();
    assert_eq!(got, a_sales);
    assert!(!got.contains(&b_sale));
    assert_eq!(x["notifications"].as_array().unwrap().len(), 2, "the agent's and their account's: {x}");
    assert_eq!(x["notifications"][0]["message"], "Well done Kumari");
    assert_eq!(x["notifications"][1]["message"], "Your account note, Kumari");
    assert_eq!(x["notifications"][1]["user_id"], a_user);
    assert_eq!(x["memberships"].as_array().unwrap().len(), 1);
    assert_eq!(x["memberships"][0]["branch"], "Colombo");
    assert_eq!(x["notification_preferences"]["agent_id"], a);
    // Created with both flags off (two rows), then analytics on and off again.
    let consent: Vec<(String, Value, bool)> = x["consent_history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["field"].as_str().unwrap().to_owned(), c["old_value"].clone(), c["new_value"].as_bool().unwrap()))
        .collect();
    assert_eq!(
        consent,
        vec![
            ("analytics_consent".into(), Value::Null, false),
            ("show_name_to_peers".into(), Value::Null, false),
            ("analytics_consent".into(), json!(false), true),
            ("analytics_consent".into(), json!(true), false),
        ],
        "{x}"
    );
    assert!(
        x["consent_history"].as_array().unwrap().iter().all(|c| c["changed_by"].as_str().unwrap().starts_with("user:"))
    );
    assert_eq!(ids(&x["users"]), vec![a_user]);
    let sign_ins = x["sign_ins"].as_array().unwrap();
    let a_user_id = a_user.to_string();
    assert!(sign_ins.iter().any(|e| e["action"] == "auth.sign_in" && e["entity_id"] == a_user_id.as_str()), "{x}");
    let audit = x["audit"].as_array().unwrap();
    for action in ["agent.create", "agent.update", "auth.sign_in"] {
        assert!(audit.iter().any(|e| e["action"] == action), "no {action} in {x}");
    }
    // Masked values stay masked: the trail never held the names, and the export adds none.
    let trail = serde_json::to_string(&x["audit"]).unwrap();
    assert!(!trail.contains("Kumari") && !trail.contains("kumari@example.com"), "{trail}");
    assert!(x["summary"].as_array().unwrap().iter().any(|l| l.as_str().unwrap().contains("2 sale(s)")), "{x}");

    // Not one identifier of the other agent.
    let text = x.to_string();
    for foreign in ["OTHERB", "Ravindu", "Fernando", "ravindu@example.org", "Secret note", &b_name] {
        assert!(!text.contains(foreign), "the export of SUBJA mentions {foreign}: {text}");
    }
    let b_id = b.to_string();
    assert!(!audit.iter().any(|e| e["entity_id"] == b_id.as_str() && e["entity"] == "agent"));

    // The text form says the same for a person.
    let res = app
        .request(reqwest::Method::GET, "/api/v1/agents/SUBJA/subject-access")
        .header("accept", "text/plain")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
    let body = res.text().await.unwrap();
    assert!(body.contains("Agent SUBJA Kumari Perera") && body.contains("Well done Kumari"), "{body}");
    assert!(!body.contains("OTHERB") && !body.contains("Ravindu"), "{body}");

    // Both exports are in the audit trail, naming who exported whom.
    let (_, trail) = app.get("/api/v1/audit?action=privacy.subject_access").await;
    let items = trail["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{trail}");
    assert!(items.iter().all(|e| e["entity_id"] == "SUBJA" && e["actor"].as_str().unwrap().starts_with("user:")));
}

/// Only admins export; an unknown or malformed code is a 404, and nothing is audited for it.
async fn only_admins_export_and_unknown_agents_are_404(app: &TestApp) {
    app.agent("KNOWN1", "Colombo", "Alpha").await;
    let manager = app.client_as("manager", Some("Colombo")).await;
    let (s, _) = manager.get("/api/v1/agents/KNOWN1/subject-access").await;
    assert!(s == 403 || s == 401, "managers may not export: {s}");
    let agent = app.client_as("agent", Some("KNOWN1")).await;
    let (s, _) = agent.get("/api/v1/agents/KNOWN1/subject-access").await;
    assert_eq!(s, 403, "not even the agent through the API: the request goes through an admin");
    let (s, b) = app.get("/api/v1/agents/NOSUCH9/subject-access").await;
    assert_eq!(s, 404, "{b}");
    let (s, _) = app.get("/api/v1/agents/bad%20code!/subject-access").await;
    assert_eq!(s, 404);
    let (_, trail) = app.get("/api/v1/audit?action=privacy.subject_access").await;
    assert_eq!(trail["items"].as_array().unwrap().len(), 0);
}

/// An erasure is a consent change too: it withdraws both flags, and the history says by whom.
async fn erasure_is_recorded_in_the_consent_history(app: &TestApp) {
    let id = person(app, "ERASEME", "Sunil", "Jay", "sunil@example.com").await;
    let (s, _) = app
        .patch(&format!("/api/v1/agents/{id}"), json!({"show_name_to_peers": true, "analytics_consent": true}))
        .await;
    assert_eq!(s, 200);
    let (s, _) = app.post("/api/v1/agents/ERASEME/erase", json!({})).await;
    assert_eq!(s, 200);
    let (_, x) = app.get("/api/v1/agents/ERASEME/subject-access").await;
    let erased: Vec<&Value> =
        x["consent_history"].as_array().unwrap().iter().filter(|c| c["action"] == "agent.erase").collect();
    assert_eq!(erased.len(), 2, "{x}");
    assert!(erased.iter().all(|c| c["old_value"] == true && c["new_value"] == false));
    assert!(!x.to_string().contains("Sunil"), "erased names are gone from the export too: {x}");
}

on_every_backend!(
    the_export_holds_exactly_the_subjects_data,
    only_admins_export_and_unknown_agents_are_404,
    erasure_is_recorded_in_the_consent_history
);
