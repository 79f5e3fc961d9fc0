//! Bulk import of agents (issue 19, item 4): CSV and JSON Lines, validation by line, all or
//! nothing or partial, re-imports that add nothing, scope, and the trail it leaves; on every
//! backend.

use crate::common::{TestApp, TestClient};
use moon_db::sea_query::{Expr, ExprTrait, Func, Query};
use serde_json::Value;

on_every_backend_with!(
    agents_import,
    // The aggregator stays off so that the change log keeps what the import appended.
    |c| c.aggregate_interval = std::time::Duration::ZERO,
    a_roster_imports_with_memberships_change_log_and_one_audit_entry,
    bad_rows_are_reported_by_line_and_all_or_nothing_writes_nothing,
    a_manager_imports_into_their_own_branch_only,
);

const ROSTER: &str = "# HR roster\nagent_code,first_name,last_name,branch,team,email,analytics_consent\n\
    IMP001,Nimal,Perera,Colombo,Alpha,nimal@example.com,yes\n\
    IMP002,Kumari,Silva,Kandy,Beta,,no\n\
    IMP003,Ruwan,Fernando,Colombo,Beta,,\n";

async fn count(app: &TestApp, table: &str, cond: Expr) -> i64 {
    let mut q = Query::select();
    q.expr(Func::count(Expr::col("id"))).from(table.to_owned()).and_where(cond);
    let (n,): (i64,) = app.store.fetch_optional(&q).await.unwrap().unwrap();
    n
}

/// Sends a file to the import route; (status, content type, body text).
async fn upload(
    client: &TestClient,
    query: &str,
    content_type: &str,
    accept: &str,
    body: &str,
) -> (u16, String, String) {
    let request = client.request(reqwest::Method::POST, &format!("/api/v1/agents/import{query}"));
    crate::common::send_file(request, content_type, accept, body).await
}

async fn upload_json(client: &TestClient, query: &str, content_type: &str, body: &str) -> (u16, Value) {
    let request = client.request(reqwest::Method::POST, &format!("/api/v1/agents/import{query}"));
    crate::common::send_file_json(request, content_type, body).await
}

async fn a_roster_imports_with_memberships_change_log_and_one_audit_entry(app: &TestApp) {
    let admin = app.admin();
    let (s, b) = upload_json(&admin, "", "text/csv", ROSTER).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(
        (b["applied"].as_bool(), b["rows"].as_u64(), b["created"].as_u64()),
        (Some(true), Some(3), Some(3)),
        "{b}"
    );

    let (s, agent) = app.get("/api/v1/agents?agent_code=IMP001").await;
    assert_eq!(s, 200);
    let agent = &agent["items"][0];
    assert_eq!((agent["branch"].as_str(), agent["team"].as_str()), (Some("Colombo"), Some("Alpha")), "{agent}");
    assert_eq!(
        (agent["email"].as_str(), agent["analytics_consent"].as_bool()),
        (Some("nimal@example.com"), Some(true))
    );
    let id = agent["id"].as_i64().unwrap();
    let (s, memberships) = app.get(&format!("/api/v1/agents/{id}/memberships")).await;
    assert_eq!(s, 200, "{memberships}");
    assert_eq!(memberships.as_array().map(Vec::len), Some(1), "{memberships}");
    let entries = count(app, "change_log", Expr::col("entity").eq("agent")).await;
    assert_eq!(entries, 3, "each imported agent has its change-log entry");
    assert_eq!(count(app, "audit_log", Expr::col("action").eq("agent.import")).await, 1);
    assert_eq!(count(app, "audit_log", Expr::col("action").eq("agent.create")).await, 0, "one audit entry per import");

    // The same file again, and as JSON Lines: nothing new, everything skipped.
    let (s, b) = upload_json(&admin, "", "text/csv; charset=utf-8", ROSTER).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!((b["created"].as_u64(), b["skipped"].as_u64()), (Some(0), Some(3)), "{b}");
    let lines = "{\"agent_code\":\"imp002\",\"first_name\":\"Kumari\",\"last_name\":\"Silva\",\"branch\":\"Kandy\",\"team\":\"Beta\"}\n\
        {\"agent_code\":\"IMP004\",\"first_name\":\"Sunil\",\"last_name\":\"Jayasuriya\",\"branch\":\"Kandy\",\"team\":\"Alpha\",\"active\":false}\n";
    let (s, b) = upload_json(&admin, "", "application/x-ndjson", lines).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!((b["created"].as_u64(), b["skipped"].as_u64()), (Some(1), Some(1)), "{b}");
    assert_eq!(count(app, "change_log", Expr::col("entity").eq("agent")).await, 4);
    let (_, four) = app.get("/api/v1/agents?agent_code=IMP004").await;
    assert_eq!(four["items"][0]["active"].as_bool(), Some(false), "{four}");
}

async fn bad_rows_are_reported_by_line_and_all_or_nothing_writes_nothing(app: &TestApp) {
    let admin = app.admin();
    app.agent("IMPX01", "Colombo", "Alpha").await;
    let file = "agent_code,first_name,last_name,branch,team,active\n\
        IMPB01,Ann,Lee,Colombo,Alpha,true\n\
        9bad,,Lee,Colombo,Alpha,\n\
        IMPB03,Bo,Ng,Atlantis,Alpha,maybe\n\
        IMPB01,Ann,Lee,Colombo,Alpha,\n\
        IMPX01,Other,Name,Colombo,Alpha,\n";
    let before = count(app, "agents", Expr::col("id").gt(0)).await;
    let (s, b) = upload_json(&admin, "", "text/csv", file).await;
    assert_eq!(s, 422, "{b}");
    assert_eq!(b["code"], "import_rejected", "{b}");
    let found: Vec<(u64, String, String)> = b["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["line"].as_u64().unwrap(),
                e["field"].as_str().unwrap().to_owned(),
                e["code"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    for (line, field, code) in [
        (3, "agent_code", None),
        (3, "first_name", Some("required")),
        (4, "active", Some("invalid_type")),
        (5, "agent_code", Some("duplicate_in_file")),
        (6, "agent_code", Some("agent_exists")),
    ] {
        assert!(
            found.iter().any(|(l, f, c)| *l == line && f == field && code.is_none_or(|code| c == code)),
            "missing line {line} {field} {code:?} in {found:?}"
        );
    }
    assert_eq!(found.len(), 5, "{found:?}");
    assert_eq!(count(app, "agents", Expr::col("id").gt(0)).await, before, "all or nothing: nothing written");
    assert_eq!(count(app, "audit_log", Expr::col("action").eq("agent.import")).await, 0);

    // The report as CSV, same status.
    let (s, ct, text) = upload(&admin, "", "text/csv", "text/csv", file).await;
    assert_eq!(s, 422);
    assert!(ct.starts_with("text/csv"), "{ct}");
    assert!(text.contains("line,field,code,message") && text.contains("6,agent_code,agent_exists,"), "{text}");

    // Partial: the good row goes in, the report still lists the others.
    let (s, b) = upload_json(&admin, "?mode=partial", "text/csv", file).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(
        (b["applied"].as_bool(), b["created"].as_u64(), b["skipped"].as_u64()),
        (Some(true), Some(1), Some(4)),
        "{b}"
    );
    assert_eq!(count(app, "agents", Expr::col("id").gt(0)).await, before + 1);

    // A file that is not agents at all, and a media type the route does not take.
    let (s, b) = upload_json(&admin, "", "text/csv", "code,name\nA,B\n").await;
    assert_eq!(s, 422, "{b}");
    assert!(b["errors"].as_array().unwrap().iter().any(|e| e["code"] == "missing_column"), "{b}");
    let (s, b) = upload_json(&admin, "", "application/xml", "<agents/>").await;
    assert_eq!(s, 415, "{b}");
    let (s, b) = upload_json(&admin, "?mode=sometimes", "text/csv", ROSTER).await;
    assert_eq!(s, 422, "{b}");
}

async fn a_manager_imports_into_their_own_branch_only(app: &TestApp) {
    let manager = app.client_as("manager", Some("Colombo")).await;
    let file = "agent_code,first_name,last_name,branch,team\n\
        IMPM01,Ann,Lee,Colombo,Alpha\n\
        IMPM02,Bo,Ng,Kandy,Alpha\n";
    let (s, b) = upload_json(&manager, "", "text/csv", file).await;
    assert_eq!(s, 422, "{b}");
    let errors = b["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{b}");
    assert_eq!((errors[0]["line"].as_u64(), errors[0]["field"].as_str()), (Some(3), Some("branch")), "{b}");
    let (s, b) = upload_json(&manager, "?mode=partial", "text/csv", file).await;
    assert_eq!((s, b["created"].as_u64()), (200, Some(1)), "{b}");
    let (_, kandy) = app.get("/api/v1/agents?agent_code=IMPM02").await;
    assert_eq!(kandy["items"].as_array().map(Vec::len), Some(0), "{kandy}");

    let agent = app.client_as("agent", Some("IMPM01")).await;
    let (s, b) = upload_json(&agent, "", "text/csv", file).await;
    assert_eq!(s, 403, "{b}");
}
