//! Subject access: everything the platform holds about one agent, for a data subject's request
//! (Sri Lanka's PDPA, like the GDPR, gives a person the right to a copy of their data).
//!
//! The export gathers from several components (agents and their organisation history, sales,
//! notifications, the security layer's accounts and audit trail), so it lives here, in the tools
//! over the use cases, rather than in one component that would then depend on the others. It
//! reads only: nothing is changed except one audit entry saying who exported whom. Audit entries
//! are copied as stored, so personal values the trail masked stay masked.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use moon_db::Db;
use moon_domain::AgentCode;
use serde::Serialize;

use crate::agents::model::Agent;
use crate::agents::org::model::Membership;
use crate::agents::repo::ConsentChange;
use crate::audit::{self, Entry};
use crate::auth::users::User;
use crate::error::{Error, Result};
use crate::notifications::Notification;
use crate::notifications::inbox::Preferences;
use crate::sales::model::Sale;
use moon_http::{Page, Principal, Scope};

/// Audit entries read per query while gathering.
const AUDIT_PAGE: u64 = 500;

/// Everything held about one agent, as one document.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SubjectAccess {
    /// When the export was made (UTC).
    pub generated_at: DateTime<Utc>,
    /// The agent record (names and contact details in clear: this goes to the person).
    pub profile: Agent,
    /// Team and branch history.
    pub memberships: Vec<Membership>,
    /// Every sale recorded for the agent.
    pub sales: Vec<Sale>,
    /// Every notification sent to the agent or to their user accounts.
    pub notifications: Vec<Notification>,
    /// The agent's notification channels.
    pub notification_preferences: Preferences,
    /// Every change of the agent's consent flags.
    pub consent_history: Vec<ConsentChange>,
    /// User accounts bound to the agent's code (no password hashes or MFA secrets).
    pub users: Vec<User>,
    /// Successful and failed sign-ins and MFA events of those accounts, oldest first.
    pub sign_ins: Vec<Entry>,
    /// Audit entries about the agent or their accounts, oldest first, as stored (masked).
    pub audit: Vec<Entry>,
    /// The same, in sentences: one line per section.
    pub summary: Vec<String>,
}

/// Gathers everything about the agent with `code` and records, in the audit trail, that
/// `principal` exported it. An unknown code is a 404.
pub async fn export(db: &Db, principal: &Principal, code: &AgentCode) -> Result<SubjectAccess> {
    let profile = crate::agents::repo::get_by_code(db, &Scope::All, code.as_str())
        .await?
        .ok_or_else(|| Error::not_found(format!("agent {code}")))?;
    let id = profile.id;
    let operator = Principal::operator();
    let memberships = crate::agents::org::service::history(db, &operator, id).await?;
    let sales_query = crate::sales::repo::SaleQuery { agent_id: Some(id), ..Default::default() };
    let sales = crate::sales::repo::list_sorted(
        db,
        &Scope::All,
        &sales_query,
        &moon_http::paging::SortedPage::by_id(Page::ALL),
    )
    .await?;
    let notes_query = crate::notifications::repo::NotificationQuery { agent_id: Some(id), ..Default::default() };
    let notifications =
        crate::notifications::repo::list(db, crate::notifications::repo::Viewer::ALL, &notes_query, &Page::ALL).await?;
    let notification_preferences = crate::notifications::service::preferences(db, &operator, Some(id)).await?;
    let consent_history = crate::agents::repo::consent_history(db, id).await?;
    let users: Vec<User> = crate::auth::users::list(db)
        .await?
        .into_iter()
        .filter(|u| u.agent_code.as_deref() == Some(code.as_str()))
        .collect();
    // Notifications may also be addressed to the agent's user accounts (issue 16).
    let mut notifications = notifications;
    for u in &users {
        let to_user = crate::notifications::repo::NotificationQuery { user_id: Some(u.id), ..Default::default() };
        notifications.extend(
            crate::notifications::repo::list(db, crate::notifications::repo::Viewer::ALL, &to_user, &Page::ALL).await?,
        );
    }
    notifications.sort_by_key(|n| n.id);
    notifications.dedup_by_key(|n| n.id);
    // The agent's entries name them by id or (erasure, this export) by code.
    let mut entries = all_entries(db, "agent", &id.to_string()).await?;
    entries.extend(all_entries(db, "agent", code.as_str()).await?);
    for u in &users {
        entries.extend(all_entries(db, "user", &u.id.to_string()).await?);
    }
    entries.sort_by_key(|e| e.id);
    entries.dedup_by_key(|e| e.id);
    let sign_ins: Vec<Entry> = entries.iter().filter(|e| e.action.starts_with("auth.")).cloned().collect();
    let mut out = SubjectAccess {
        generated_at: moon_db::now(),
        profile,
        memberships,
        sales,
        notifications,
        notification_preferences,
        consent_history,
        users,
        sign_ins,
        audit: entries,
        summary: Vec::new(),
    };
    out.summary = summarise(&out);
    let event = audit::Event::on("privacy.subject_access", "agent", code.as_str()).with_detail(serde_json::json!({
        "sales": out.sales.len(),
        "notifications": out.notifications.len(),
        "audit_entries": out.audit.len(),
    }));
    audit::record(db, principal, event).await?;
    tracing::info!(agent_id = id, "subject access export");
    Ok(out)
}

/// Every audit entry about one record, oldest first.
async fn all_entries(db: &Db, entity: &str, entity_id: &str) -> Result<Vec<Entry>> {
    let filter =
        audit::Filter { entity: Some(entity.to_owned()), entity_id: Some(entity_id.to_owned()), ..Default::default() };
    let mut out = Vec::new();
    let mut before = None;
    loop {
        let page = audit::list(db, &filter, before, AUDIT_PAGE).await?;
        let full = page.len() as u64 == AUDIT_PAGE;
        before = page.last().map(|e| e.id);
        out.extend(page);
        if !full {
            break;
        }
    }
    out.reverse();
    Ok(out)
}

/// One sentence per section, for a person rather than a program.
fn summarise(x: &SubjectAccess) -> Vec<String> {
    let p = &x.profile;
    let mut lines = Vec::new();
    let erased = p.erased_at.map(|t| format!(" (personal data erased {})", t.date_naive())).unwrap_or_default();
    lines.push(format!(
        "Agent {} {} {}{erased}: branch {}, team {}, {}, on record since {}.",
        p.agent_code,
        p.first_name,
        p.last_name,
        p.branch,
        p.team,
        if p.active { "active" } else { "inactive" },
        p.created_at.date_naive()
    ));
    lines.push(format!(
        "Contact: phone {}, e-mail {}.",
        p.contact_number.as_deref().unwrap_or("none"),
        p.email.as_deref().unwrap_or("none")
    ));
    lines.push(format!(
        "Consent: per-agent analytics {}, name shown to peers {}; {} recorded change(s).",
        yes_no(p.analytics_consent),
        yes_no(p.show_name_to_peers),
        x.consent_history.len()
    ));
    lines.push(format!("Organisation history: {} membership period(s).", x.memberships.len()));
    // Exact cents; a sum too large for them is said so rather than wrapped.
    let total = x
        .sales
        .iter()
        .try_fold(moon_domain::Money::from_cents(0), |acc, s| acc.checked_add(s.amount))
        .map_or_else(|| String::from("too large to show"), |m| m.to_string());
    let span = match (x.sales.iter().map(|s| s.sale_date).min(), x.sales.iter().map(|s| s.sale_date).max()) {
        (Some(a), Some(b)) => format!(" from {a} to {b}"),
        _ => String::new(),
    };
    lines.push(format!("Sales: {} sale(s){span}, total {total}.", x.sales.len()));
    let unread = x.notifications.iter().filter(|n| n.read_at.is_none()).count();
    lines.push(format!(
        "Notifications: {} ({} unread); channels: stream {}, e-mail {}.",
        x.notifications.len(),
        unread,
        on_off(x.notification_preferences.stream),
        on_off(x.notification_preferences.email)
    ));
    let mut accounts = String::new();
    for u in &x.users {
        let _ = write!(accounts, " {} ({}{})", u.username, u.role.as_str(), if u.disabled { ", disabled" } else { "" });
    }
    lines.push(format!(
        "User accounts: {}{}; {} sign-in event(s).",
        x.users.len(),
        if accounts.is_empty() { String::new() } else { format!(":{accounts}") },
        x.sign_ins.len()
    ));
    lines.push(format!("Audit trail: {} entr(y/ies) about this person (personal values masked).", x.audit.len()));
    lines
}

fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

fn on_off(b: bool) -> &'static str {
    if b { "on" } else { "off" }
}

/// The export as text: the summary, then each section's rows.
pub fn render_text(x: &SubjectAccess) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "Subject access export, generated {}", x.generated_at.to_rfc3339());
    let _ = writeln!(s);
    for line in &x.summary {
        let _ = writeln!(s, "{line}");
    }
    let _ = writeln!(s, "\nMemberships:");
    for m in &x.memberships {
        let from = m.valid_from.map_or_else(|| String::from("start"), |d| d.to_string());
        let to = m.valid_to.map_or_else(|| String::from("now"), |d| d.to_string());
        let _ = writeln!(s, "  {from} .. {to}: branch {}, team {}", m.branch, m.team);
    }
    let _ = writeln!(s, "\nSales:");
    for sale in &x.sales {
        let _ = writeln!(s, "  #{} {} {} {}", sale.id, sale.sale_date, sale.product_name, sale.amount);
    }
    let _ = writeln!(s, "\nNotifications:");
    for n in &x.notifications {
        let _ = writeln!(s, "  #{} {} [{}] {}", n.id, n.created_at.to_rfc3339(), n.kind, n.message);
    }
    let _ = writeln!(s, "\nConsent history:");
    for c in &x.consent_history {
        let old = c.old_value.map_or("unset", yes_no);
        let _ = writeln!(
            s,
            "  {} {}: {} -> {} by {} ({})",
            c.changed_at.to_rfc3339(),
            c.field,
            old,
            yes_no(c.new_value),
            c.changed_by,
            c.action
        );
    }
    let _ = writeln!(s, "\nAudit entries:");
    for e in &x.audit {
        let _ = writeln!(s, "  #{} {} {} by {}", e.id, e.occurred_at.to_rfc3339(), e.action, e.actor);
    }
    s
}

/// `GET /api/v1/agents/{code}/subject-access` (admins; the policy table says so).
pub fn routes<S>() -> utoipa_axum::router::OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    Db: axum::extract::FromRef<S>,
{
    utoipa_axum::router::OpenApiRouter::new().routes(utoipa_axum::routes!(subject_access))
}

/// Everything held about one agent (subject access request), as JSON with a `summary`, or as
/// text with `Accept: text/plain`. The export is recorded in the audit trail.
#[utoipa::path(get, path = "/api/v1/agents/{code}/subject-access", tag = "agents",
    params(("code" = String, Path, description = "Agent code")),
    responses((status = 200, body = SubjectAccess, content_type = "application/json"),
        (status = 200, description = "The export as text", content_type = "text/plain"),
        (status = 404, body = moon_http::error::Problem)))]
async fn subject_access(
    axum::extract::State(db): axum::extract::State<Db>,
    principal: Principal,
    headers: axum::http::HeaderMap,
    axum::extract::Path(code): axum::extract::Path<String>,
) -> moon_http::ApiResult<axum::response::Response> {
    use axum::response::IntoResponse;
    let code = AgentCode::parse("code", &code).map_err(|_| moon_http::ApiError::not_found("agent"))?;
    let x = export(&db, &principal, &code).await?;
    let text = headers
        .get(axum::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/plain") && !a.contains("application/json"));
    Ok(if text {
        ([(axum::http::header::CONTENT_TYPE, "text/plain; charset=utf-8")], render_text(&x)).into_response()
    } else {
        axum::Json(x).into_response()
    })
}
