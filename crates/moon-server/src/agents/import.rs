//! Bulk import of agents from CSV or JSON Lines (`POST /api/v1/agents/import`,
//! `moon import agents FILE`): the HR system's roster loaded in one go.
//!
//! Why it is built this way:
//! - **Every row is validated like `POST /api/v1/agents`**: each becomes a [`CreateAgent`] and
//!   goes through the same `validate`, then its branch and team are resolved in the caller's
//!   scope (a manager imports into their own branch only). All problems are reported by line.
//! - **Re-runs add nothing.** A row whose agent code exists with the same values is counted as
//!   skipped; one whose code exists with different values is an error on its line (`agent_exists`),
//!   not a silent overwrite: changing an agent, and above all moving one, is a dated act done
//!   through `PATCH` or a move.
//! - **One transaction.** Rosters are thousands of rows, not millions, so the whole file commits
//!   at once (or, all-or-nothing, not at all): a crash leaves nothing half-imported. Each agent
//!   still gets its first membership and its change-log entry, so KPIs and history follow; the
//!   import writes one audit entry with the file's hash and the counts.

use std::collections::HashMap;

use moon_db::Db;
use moon_domain::Typed;

use super::model::{Agent, CreateAgent, NewAgent};
use super::{org, repo, service};
use crate::error::{Error, Result};
use crate::file_import::{Format, ImportReport, LineError, cell, read_csv};
use moon_http::{Principal, Scope};

/// The largest file `POST /api/v1/agents/import` takes: about 100,000 agents.
pub const MAX_UPLOAD_BYTES: usize = 16 * 1024 * 1024;

/// The route, streamed past the general body limit to the import's own.
pub const ROUTE: &str = "/api/v1/agents/import";

/// Columns a CSV file must have.
const REQUIRED: &[&str] = &["agent_code", "first_name", "last_name", "branch", "team"];
/// Columns it may have.
const OPTIONAL: &[&str] = &["contact_number", "email", "active", "analytics_consent", "show_name_to_peers"];

/// A CSV cell as a text field: absent when empty.
fn text(row: &[(String, String)], column: &str) -> Option<Typed<String>> {
    cell(row, column).map(|v| Typed::Value(v.to_owned()))
}

/// A CSV cell as a yes/no field: `true`/`false`, `yes`/`no` or `1`/`0`, any case.
fn flag(row: &[(String, String)], column: &str) -> Option<Typed<bool>> {
    cell(row, column).map(|v| match v.to_ascii_lowercase().as_str() {
        "true" | "yes" | "1" => Typed::Value(true),
        "false" | "no" | "0" => Typed::Value(false),
        _ => Typed::Invalid { code: "invalid_type", message: format!("expected true or false, got {v:?}") },
    })
}

/// The file's rows as requests, by line; or the errors that make the whole file unreadable.
fn parse(text_body: &str, format: Format) -> std::result::Result<Vec<(u64, CreateAgent)>, Vec<LineError>> {
    match format {
        Format::Csv => Ok(read_csv(text_body, REQUIRED, OPTIONAL)?
            .into_iter()
            .map(|(line, row)| {
                let req = CreateAgent {
                    agent_code: text(&row, "agent_code"),
                    first_name: text(&row, "first_name"),
                    last_name: text(&row, "last_name"),
                    branch: text(&row, "branch"),
                    team: text(&row, "team"),
                    contact_number: text(&row, "contact_number"),
                    email: text(&row, "email"),
                    active: flag(&row, "active"),
                    analytics_consent: flag(&row, "analytics_consent"),
                    show_name_to_peers: flag(&row, "show_name_to_peers"),
                };
                (line, req)
            })
            .collect()),
        Format::JsonLines => {
            let mut rows = Vec::new();
            let mut errors = Vec::new();
            for (i, raw) in text_body.lines().enumerate() {
                let line = i as u64 + 1;
                if raw.trim().is_empty() {
                    continue;
                }
                match serde_json::from_str::<CreateAgent>(raw) {
                    Ok(req) => rows.push((line, req)),
                    Err(e) => errors.push(LineError {
                        line,
                        field: String::from("row"),
                        code: "invalid_json",
                        message: format!("not an agent object: {e}"),
                    }),
                }
            }
            if errors.is_empty() { Ok(rows) } else { Err(errors) }
        }
    }
}

/// Whether an existing agent already holds what the row says (placed in `branch`/`team`).
fn same(existing: &Agent, new: &NewAgent, branch: &str, team: &str) -> bool {
    existing.first_name == new.first_name.as_str()
        && existing.last_name == new.last_name.as_str()
        && existing.branch == branch
        && existing.team == team
        && existing.contact_number.as_deref() == new.contact_number.as_ref().map(|p| p.as_str())
        && existing.email.as_deref() == new.email.as_ref().map(|e| e.as_str())
        && existing.active == new.active
        && existing.analytics_consent == new.analytics_consent
        && existing.show_name_to_peers == new.show_name_to_peers
        && existing.erased_at.is_none()
}

/// The line errors of a refused placement (unknown branch or team, or a branch outside the
/// caller's scope); `None` for failures that are not the row's fault.
fn placement_errors(line: u64, e: Error) -> std::result::Result<Vec<LineError>, Error> {
    match e {
        Error::Invalid(errors) => Ok(errors.into_iter().map(|e| LineError::at(line, e)).collect()),
        Error::Forbidden { code, detail } => {
            Ok(vec![LineError { line, field: String::from("branch"), code, message: detail }])
        }
        other => Err(other),
    }
}

/// Imports agents as `principal`; see the module documentation. All or nothing unless
/// `partial`. `file_sha256` (hex) names the file in the audit entry.
pub async fn import(
    db: &Db,
    principal: &Principal,
    body: &str,
    format: Format,
    partial: bool,
    file_sha256: &str,
) -> Result<ImportReport> {
    if matches!(principal.scope, Scope::Agent(_)) {
        return Err(Error::forbidden("agents cannot import agents"));
    }
    let mut report = ImportReport::default();
    let rows = match parse(body, format) {
        Ok(rows) => rows,
        Err(errors) => {
            report.errors = errors;
            return Ok(report);
        }
    };
    report.rows = rows.len();
    let mut valid: Vec<(u64, NewAgent)> = Vec::with_capacity(rows.len());
    let mut first_line: HashMap<String, u64> = HashMap::new();
    for (line, req) in &rows {
        match req.validate() {
            Ok(new) => {
                if let Some(first) = first_line.get(new.agent_code.as_str()) {
                    report.errors.push(LineError {
                        line: *line,
                        field: String::from("agent_code"),
                        code: "duplicate_in_file",
                        message: format!("agent_code {} is also on line {first}", new.agent_code.as_str()),
                    });
                    continue;
                }
                first_line.insert(new.agent_code.as_str().to_owned(), *line);
                valid.push((*line, new));
            }
            Err(errors) => report.errors.extend(errors.into_iter().map(|e| LineError::at(*line, e))),
        }
    }
    let mut tx = db.begin().await?;
    // Resolve every row before writing any: an all-or-nothing import with errors writes nothing.
    let mut placed = Vec::with_capacity(valid.len());
    for (line, new) in valid {
        let (branch, team) = match org::service::placement(&mut tx, principal, &new.branch, &new.team).await {
            Ok(units) => units,
            Err(e) => {
                report.errors.extend(placement_errors(line, e)?);
                continue;
            }
        };
        match repo::find_by_code(&mut tx, &Scope::All, new.agent_code.as_str()).await? {
            Some(existing) if same(&existing, &new, &branch.code, &team.code) => {}
            Some(existing) => report.errors.push(LineError {
                line,
                field: String::from("agent_code"),
                code: "agent_exists",
                message: format!(
                    "agent {} already exists with other values; change it with PATCH /api/v1/agents/{}",
                    existing.agent_code, existing.id
                ),
            }),
            None => placed.push((new, branch, team)),
        }
    }
    report.errors.sort_by_key(|e| e.line);
    if !report.errors.is_empty() && !partial {
        tx.rollback().await?;
        return Ok(report);
    }
    for (new, branch, team) in placed {
        service::insert_placed(&mut tx, principal, new, &branch, &team, "agent.import").await?;
        report.created += 1;
    }
    let mut detail = report.finish(report.created);
    detail["file_sha256"] = serde_json::Value::String(file_sha256.to_owned());
    let event =
        crate::audit::Event { action: "agent.import", entity: Some("agent"), entity_id: None, changes: Some(detail) };
    crate::audit::append(&mut tx, principal, event).await?;
    tx.commit().await?;
    tracing::info!(created = report.created, skipped = report.skipped, "agents imported");
    Ok(report)
}

/// SHA-256 of `bytes`, hex: names an imported file in the audit trail.
pub fn sha256_hex(bytes: &[u8]) -> String {
    crate::auth::crypto::hex(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes).as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_rows_become_requests_and_flags_accept_common_spellings() {
        let rows = parse(
            "agent_code,first_name,last_name,branch,team,active\nA1,Ann,Lee,Colombo,Alpha,no\nA2,Bo,Ng,Kandy,Beta,maybe\n",
            Format::Csv,
        )
        .unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].1.active, Some(Typed::Value(false)));
        let errors = rows[1].1.validate().unwrap_err();
        assert_eq!((errors[0].field.as_str(), errors[0].code), ("active", "invalid_type"));
    }

    #[test]
    fn a_json_line_that_is_not_an_agent_is_named_by_line() {
        let e = parse("{\"agent_code\":\"A1\"}\n\n[1]\n", Format::JsonLines).unwrap_err();
        assert_eq!((e[0].line, e[0].code), (3, "invalid_json"));
    }
}
