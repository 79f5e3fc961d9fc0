//! The organisation as records: regions, branches and teams, the 422 for an unknown one, moves
//! with an effective date, and the backfill that turned free text into records, on every backend.

use crate::common::TestApp;
use moon_db::sea_query::{Expr, ExprTrait, Query};
use serde_json::{Value, json};

fn codes(errors: &Value) -> Vec<String> {
    errors["errors"].as_array().unwrap().iter().map(|e| e["code"].as_str().unwrap().to_owned()).collect()
}

/// Admins create, list, rename and deactivate units; codes and names are unique per kind in any
/// case; the code never changes; other roles read but may not change.
async fn units_are_records_with_stable_codes(app: &TestApp) {
    let (s, region) = app.post("/api/v1/org/regions", json!({"code": "WP", "name": "Western"})).await;
    assert_eq!(s, 201, "{region}");
    let (s, branch) = app.post("/api/v1/org/branches", json!({"code": "Negombo", "region": "western"})).await;
    assert_eq!(s, 201, "{branch}");
    assert_eq!(branch["name"], "Negombo", "the name defaults to the code");
    assert_eq!(branch["region"], "WP", "a region is named by code or name, in any case");

    let (s, b) = app.post("/api/v1/org/branches", json!({"code": "NEGOMBO "})).await;
    assert_eq!((s, b["code"].as_str()), (409, Some("duplicate_unit")), "{b}");
    let (s, b) = app.post("/api/v1/org/branches", json!({"code": "NGB", "name": "negombo"})).await;
    assert_eq!(s, 409, "a name another branch has, in another case: {b}");
    let (s, b) = app.post("/api/v1/org/teams", json!({"code": "T1", "region": "WP"})).await;
    assert_eq!(s, 422, "{b}");
    assert_eq!(codes(&b), ["not_applicable"]);
    let (s, b) = app.post("/api/v1/org/branches", json!({"code": "Wattala", "region": "Nowhere"})).await;
    assert_eq!(s, 422, "{b}");
    assert_eq!(codes(&b), ["unknown_region"]);
    let (s, _) = app.get("/api/v1/org/departments").await;
    assert_eq!(s, 404);

    // Rename: the code, and so every agent and sale that refers to it, stays.
    let id = branch["id"].as_i64().unwrap();
    let (s, b) = app.patch(&format!("/api/v1/org/branches/{id}"), json!({"name": "Negombo City"})).await;
    assert_eq!((s, b["code"].as_str(), b["name"].as_str()), (200, Some("Negombo"), Some("Negombo City")), "{b}");
    let (s, b) = app.patch(&format!("/api/v1/org/branches/{id}"), json!({"code": "NEG"})).await;
    assert_eq!(s, 422, "{b}");
    assert_eq!(codes(&b), ["immutable"]);
    let (_, audit) = app.get("/api/v1/audit?action=org.update").await;
    assert!(audit.to_string().contains("Negombo City"), "the rename is audited with the earlier name: {audit}");

    let (s, list) = app.get("/api/v1/org/branches?limit=500").await;
    assert_eq!(s, 200);
    let names: Vec<&str> = list["items"].as_array().unwrap().iter().map(|u| u["name"].as_str().unwrap()).collect();
    assert!(names.contains(&"Negombo City") && names.contains(&"Colombo"), "{names:?}");

    // A branch with members cannot be deactivated; an empty one can, and then takes no agents.
    app.agent("ORG1", "Negombo", "Alpha").await;
    let (s, b) = app.patch(&format!("/api/v1/org/branches/{id}"), json!({"active": false})).await;
    assert_eq!((s, b["code"].as_str()), (409, Some("unit_in_use")), "{b}");
    let (_, empty) = app.post("/api/v1/org/branches", json!({"code": "Wattala"})).await;
    let (s, _) = app.patch(&format!("/api/v1/org/branches/{}", empty["id"]), json!({"active": false})).await;
    assert_eq!(s, 200);
    let (s, b) = app
        .post(
            "/api/v1/agents",
            json!({"agent_code": "ORG2", "first_name": "A", "last_name": "B", "branch": "Wattala", "team": "Alpha"}),
        )
        .await;
    assert_eq!(s, 422, "{b}");
    assert_eq!(codes(&b), ["inactive_unit"]);

    // Everyone signed in reads; only admins change.
    let manager = app.client_as("manager", Some("Colombo")).await;
    let (s, _) = manager.get("/api/v1/org/teams").await;
    assert_eq!(s, 200);
    let (s, _) = manager.post("/api/v1/org/teams", json!({"code": "Omega"})).await;
    assert_eq!(s, 403);
}

/// An unknown branch or team is a 422 that lists the known ones, on the API and the original
/// route alike; a known one in another spelling is stored as its code.
async fn unknown_units_are_refused_with_the_known_ones(app: &TestApp) {
    let body = json!({"agent_code": "ORG3", "first_name": "A", "last_name": "B", "branch": "Colmbo", "team": "Alpah"});
    let (s, b) = app.post("/api/v1/agents", body).await;
    assert_eq!(s, 422, "{b}");
    assert_eq!(codes(&b), ["unknown_branch", "unknown_team"], "both bad fields at once");
    let message = b["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("Colmbo") && message.contains("Colombo") && message.contains("Kandy"), "{message}");

    let (s, b) = app
        .post(
            "/agent/add",
            json!({"agent_code": "ORG3", "first_name": "A", "last_name": "B", "branch": "Nowhere", "team": "Alpha"}),
        )
        .await;
    assert_eq!(s, 422, "{b}");
    assert!(b["message"].as_str().unwrap().contains("Nowhere"), "{b}");

    let (s, b) = app
        .post(
            "/api/v1/agents",
            json!({"agent_code": "ORG3", "first_name": "A", "last_name": "B", "branch": " colombo ", "team": "BETA"}),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    assert_eq!((b["branch"].as_str(), b["team"].as_str()), (Some("Colombo"), Some("Beta")));
    let (_, rows) = app.get("/agent/get").await;
    assert!(rows.to_string().contains("\"branch\":\"Colombo\""), "names out on the original route: {rows}");
}

/// A move starts a new membership range on its date and leaves earlier ones as they were; a
/// PATCH of the team is a move effective today; a move cannot precede the current range or lie
/// in the future; a manager moves agents within their branch only.
async fn moves_keep_history(app: &TestApp) {
    let id = app.agent("MOV1", "Colombo", "Alpha").await;
    let (s, h) =
        app.post(&format!("/api/v1/agents/{id}/moves"), json!({"team": "Beta", "effective_from": "2026-07-01"})).await;
    assert_eq!(s, 201, "{h}");
    let h = h.as_array().unwrap().clone();
    assert_eq!(h.len(), 2, "{h:?}");
    assert_eq!(
        (h[0]["team"].as_str(), h[0]["valid_from"].clone(), h[0]["valid_to"].as_str()),
        (Some("Alpha"), Value::Null, Some("2026-07-01"))
    );
    assert_eq!(
        (h[1]["team"].as_str(), h[1]["valid_from"].as_str(), h[1]["valid_to"].clone()),
        (Some("Beta"), Some("2026-07-01"), Value::Null)
    );
    let (_, agent) = app.get(&format!("/api/v1/agents/{id}")).await;
    assert_eq!(agent["team"], "Beta", "the agent row shows the current team");

    let (s, b) =
        app.post(&format!("/api/v1/agents/{id}/moves"), json!({"team": "Gamma", "effective_from": "2026-06-30"})).await;
    assert_eq!(s, 422, "{b}");
    assert_eq!(codes(&b), ["before_current"]);
    let (s, b) =
        app.post(&format!("/api/v1/agents/{id}/moves"), json!({"team": "Gamma", "effective_from": "2999-01-01"})).await;
    assert_eq!((s, codes(&b)), (422, vec!["in_future".to_owned()]));
    let (s, b) = app.post(&format!("/api/v1/agents/{id}/moves"), json!({"team": "beta"})).await;
    assert_eq!((s, codes(&b)), (422, vec!["no_change".to_owned()]), "{b}");
    // The same day as the current range began replaces it rather than leaving an empty range.
    let (s, h) =
        app.post(&format!("/api/v1/agents/{id}/moves"), json!({"team": "Gamma", "effective_from": "2026-07-01"})).await;
    assert_eq!(s, 201, "{h}");
    assert_eq!(h.as_array().unwrap().len(), 2);
    assert_eq!(h[1]["team"], "Gamma");

    let (s, b) = app.patch(&format!("/api/v1/agents/{id}"), json!({"team": "Delta"})).await;
    assert_eq!((s, b["team"].as_str()), (200, Some("Delta")), "{b}");
    let (_, h) = app.get(&format!("/api/v1/agents/{id}/memberships")).await;
    let h = h.as_array().unwrap();
    assert_eq!(h.len(), 3, "{h:?}");
    assert_eq!(h[2]["valid_from"].as_str(), h[1]["valid_to"].as_str(), "ranges are contiguous");
    let (_, audit) = app.get("/api/v1/audit?action=agent.move").await;
    assert_eq!(audit["items"].as_array().unwrap().len(), 3, "every move is audited: {audit}");

    let manager = app.client_as("manager", Some("Colombo")).await;
    let (s, b) = manager.post(&format!("/api/v1/agents/{id}/moves"), json!({"team": "Alpha"})).await;
    assert_eq!(s, 201, "a manager moves agents between teams of their branch: {b}");
    let (s, _) = manager.post(&format!("/api/v1/agents/{id}/moves"), json!({"branch": "Kandy"})).await;
    assert_eq!(s, 403, "but not to another branch");
    let other = app.agent("MOV2", "Kandy", "Beta").await;
    let (s, _) = manager.get(&format!("/api/v1/agents/{other}/memberships")).await;
    assert_eq!(s, 404, "another branch's agent is not found");
    let agent = app.client_as("agent", Some("MOV1")).await;
    let (s, _) = agent.post(&format!("/api/v1/agents/{id}/moves"), json!({"team": "Beta"})).await;
    assert_eq!(s, 403);
    let (s, h) = agent.get(&format!("/api/v1/agents/{id}/memberships")).await;
    assert_eq!((s, h.as_array().map(Vec::len)), (200, Some(3)), "an agent reads their own history: {h}");
    assert_eq!(h[2]["team"], "Alpha", "the manager's move today replaced today's range");
}

/// Agents written as free text (by a release before organisation records) are placed by the
/// backfill: spellings that differ in case or spacing become one unit named after the most
/// common one, and agents, sales and managers on another spelling are rewritten to it.
async fn backfill_merges_spellings(app: &TestApp) {
    let p = app.product("Backfill product", "100.00").await;
    let spellings = [
        ("BF1", "Negombo", "Sigma"),
        ("BF2", "Negombo", "sigma "),
        ("BF3", "negombo ", "Sigma"),
        ("BF4", "Colombo", "Alpha"),
    ];
    let mut tx = app.store.begin().await.unwrap();
    for (code, branch, team) in spellings {
        let now = moon_db::now();
        let id = tx
            .insert(&moon_db::insert_row(
                "agents",
                vec![
                    ("agent_code", code.into()),
                    ("first_name", "Old".into()),
                    ("last_name", code.into()),
                    ("branch", branch.into()),
                    ("team", team.into()),
                    ("active", true.into()),
                    ("analytics_consent", false.into()),
                    ("created_at", now.into()),
                    ("updated_at", now.into()),
                ],
            ))
            .await
            .unwrap();
        tx.insert(&moon_db::insert_row(
            "sales",
            vec![
                ("agent_id", id.into()),
                ("product_id", p.into()),
                ("amount_cents", 1000i64.into()),
                ("sale_date", chrono::NaiveDate::from_ymd_opt(2026, 5, 1).unwrap().into()),
                ("branch", branch.into()),
                ("created_at", now.into()),
                ("updated_at", now.into()),
            ],
        ))
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();

    let report = moon_server::organisation::run(&app.store).await.unwrap();
    assert_eq!(report.placed, 4, "{report}");
    let created: Vec<String> = report.created.iter().map(|(k, c)| format!("{}:{c}", k.as_str())).collect();
    assert_eq!(created, ["branch:Negombo", "team:Sigma"], "{report}");
    assert_eq!(report.merged.len(), 2, "{report}");
    assert_eq!(report.sales_respelled, 1, "{report}");
    assert!(report.to_string().contains("\"negombo \" (1 agent(s))"), "{report}");

    let mut q = Query::select();
    q.columns(["branch", "team"]).from("agents").and_where(Expr::col("agent_code").is_in(["BF1", "BF2", "BF3"]));
    let rows: Vec<(String, String)> = app.store.fetch_all(&q).await.unwrap();
    assert!(rows.iter().all(|(b, t)| b == "Negombo" && t == "Sigma"), "{rows:?}");
    let mut q = Query::select();
    q.column("branch").from("sales").and_where(Expr::col("branch").eq("negombo "));
    assert!(app.store.fetch_all::<(String,)>(&q).await.unwrap().is_empty(), "sales respelled");

    let again = moon_server::organisation::run(&app.store).await.unwrap();
    assert!(again.is_empty(), "a second run has nothing to do: {again}");
    let (_, agents) = app.get("/api/v1/agents?agent_code=BF2").await;
    let id = agents["items"][0]["id"].as_i64().unwrap();
    let (_, h) = app.get(&format!("/api/v1/agents/{id}/memberships")).await;
    assert_eq!((h[0]["branch"].as_str(), h[0]["team"].as_str()), (Some("Negombo"), Some("Sigma")), "{h}");
}

crate::on_every_backend!(
    units_are_records_with_stable_codes,
    unknown_units_are_refused_with_the_known_ones,
    moves_keep_history,
    backfill_merges_spellings
);
