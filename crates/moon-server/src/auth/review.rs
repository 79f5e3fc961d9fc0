//! Access review: who can do what, and which accounts or tokens look forgotten or unprotected.
//!
//! Why: access reviews are how an insurer shows an auditor (and itself) that only the people
//! who need access have it. The report lists every user with their role and scope, MFA state,
//! live tokens with their age and last use, and their last sign-in (from the audit trail, which
//! records every one), and flags what a reviewer should act on: dormant accounts, tokens never
//! used or never expiring, admins without a second factor. Acting on it uses the existing,
//! audited routes (`PATCH /api/v1/users/{id}` to disable, `DELETE /api/v1/tokens/{id}` to revoke).

use std::collections::HashMap;
use std::fmt::Write as _;

use chrono::{DateTime, Duration, Utc};
use moon_db::sea_query::{Expr, ExprTrait, Func, Query};
use moon_db::{Db, DbError};
use serde::Serialize;

use super::token::{self, ApiToken};
use super::users::{self, User};
use crate::error::Result;
use moon_http::Role;

/// Days without a sign-in or token use after which an account counts as dormant, unless the
/// caller says otherwise.
pub const DEFAULT_DORMANT_DAYS: u32 = 90;

/// One live (unrevoked) token as the review shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ReviewedToken {
    /// The token as listed (never its secret).
    #[serde(flatten)]
    pub token: ApiToken,
    /// Whole days since it was created.
    pub age_days: i64,
    /// Whether it has expired already (it no longer works, but is still listed until revoked).
    pub expired: bool,
}

/// One user's access.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ReviewedUser {
    /// The account (role, binding, disabled, MFA state).
    #[serde(flatten)]
    pub user: User,
    /// What the role may see: `all`, `branch:<code>` or `agent:<code>`.
    pub scope: String,
    /// The last successful sign-in, from the audit trail.
    pub last_sign_in: Option<DateTime<Utc>>,
    /// Tokens not revoked.
    pub tokens: Vec<ReviewedToken>,
    /// What a reviewer should look at: `dormant`, `admin_without_mfa`,
    /// `token_never_used:<id>`, `token_never_expires:<id>`.
    pub flags: Vec<String>,
}

/// The whole review.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AccessReview {
    /// When it was made (UTC).
    pub generated_at: DateTime<Utc>,
    /// The dormancy threshold applied, in days.
    pub dormant_days: u32,
    /// Every user, by id.
    pub users: Vec<ReviewedUser>,
}

/// The review of every user as of now, with accounts idle for `dormant_days` flagged.
pub async fn review(db: &Db, dormant_days: u32) -> Result<AccessReview> {
    let now = moon_db::now();
    let users = users::list(db).await?;
    let mut tokens: HashMap<i64, Vec<ApiToken>> = HashMap::new();
    for t in token::list(db, None).await? {
        if t.revoked_at.is_none() {
            tokens.entry(t.user_id).or_default().push(t);
        }
    }
    let signed_in = last_sign_ins(db).await?;
    let users = users
        .into_iter()
        .map(|u| {
            let last = signed_in.get(&u.id.to_string()).copied();
            let list = tokens.remove(&u.id).unwrap_or_default();
            assess(u, last, list, now, dormant_days)
        })
        .collect();
    Ok(AccessReview { generated_at: now, dormant_days, users })
}

/// The newest `auth.sign_in` entry per user id (as the trail writes it, text).
async fn last_sign_ins(db: &Db) -> Result<HashMap<String, DateTime<Utc>>, DbError> {
    let mut q = Query::select();
    q.column("entity_id")
        .expr(Func::max(Expr::col("occurred_at")))
        .from("audit_log")
        .and_where(Expr::col("action").eq("auth.sign_in"))
        .and_where(Expr::col("entity").eq("user"))
        .group_by_col("entity_id");
    let rows: Vec<(Option<String>, Option<DateTime<Utc>>)> = db.fetch_all(&q).await?;
    Ok(rows.into_iter().filter_map(|(id, at)| Some((id?, at?))).collect())
}

/// Flags one user: pure, so the rules are tested without a database.
fn assess(
    user: User,
    last_sign_in: Option<DateTime<Utc>>,
    tokens: Vec<ApiToken>,
    now: DateTime<Utc>,
    dormant_days: u32,
) -> ReviewedUser {
    let mut flags = Vec::new();
    let threshold = now - Duration::days(i64::from(dormant_days));
    // Activity is a sign-in or a token use; a new account is not dormant before it could be.
    let last_activity = tokens.iter().filter_map(|t| t.last_used_at).chain(last_sign_in).max();
    if !user.disabled && last_activity.unwrap_or(user.created_at) < threshold {
        flags.push(String::from("dormant"));
    }
    if user.role == Role::Admin && !user.mfa_enabled && !user.disabled {
        flags.push(String::from("admin_without_mfa"));
    }
    let tokens: Vec<ReviewedToken> = tokens
        .into_iter()
        .map(|t| {
            if t.last_used_at.is_none() {
                flags.push(format!("token_never_used:{}", t.id));
            }
            if t.expires_at.is_none() {
                flags.push(format!("token_never_expires:{}", t.id));
            }
            ReviewedToken {
                age_days: (now - t.created_at).num_days(),
                expired: t.expires_at.is_some_and(|e| e <= now),
                token: t,
            }
        })
        .collect();
    let scope = match (user.role, &user.branch, &user.agent_code) {
        (Role::Manager, Some(b), _) => format!("branch:{b}"),
        (Role::Agent, _, Some(a)) => format!("agent:{a}"),
        (Role::Admin | Role::Analyst, _, _) => String::from("all"),
        _ => String::from("none"),
    };
    ReviewedUser { user, scope, last_sign_in, tokens, flags }
}

/// The review as CSV: one line per user (tokens summarised), for a spreadsheet.
pub fn to_csv(r: &AccessReview) -> String {
    let mut out = String::from(
        "user_id,username,role,scope,disabled,mfa_enabled,last_sign_in,live_tokens,oldest_token_days,tokens_last_used,flags\n",
    );
    for u in &r.users {
        let oldest = u.tokens.iter().map(|t| t.age_days).max().map(|d| d.to_string()).unwrap_or_default();
        let used =
            u.tokens.iter().filter_map(|t| t.token.last_used_at).max().map(|t| t.to_rfc3339()).unwrap_or_default();
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{},{},{},{},{}",
            u.user.id,
            csv_field(&u.user.username),
            u.user.role.as_str(),
            csv_field(&u.scope),
            u.user.disabled,
            u.user.mfa_enabled,
            u.last_sign_in.map(|t| t.to_rfc3339()).unwrap_or_default(),
            u.tokens.len(),
            oldest,
            used,
            csv_field(&u.flags.join(" ")),
        );
    }
    out
}

/// Quotes a CSV field when it needs it, and defuses a leading formula character so a
/// spreadsheet never runs a cell as a formula.
fn csv_field(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@']) { format!("'{s}") } else { s.to_owned() };
    if s.contains([',', '"', '\n', '\r']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(role: Role, mfa: bool, created_days_ago: i64, now: DateTime<Utc>) -> User {
        User {
            id: 7,
            username: String::from("ravi"),
            role,
            branch: Some(String::from("Colombo")),
            agent_code: None,
            disabled: false,
            email: None,
            mfa_enabled: mfa,
            created_at: now - Duration::days(created_days_ago),
            updated_at: now,
        }
    }

    fn token(id: i64, used_days_ago: Option<i64>, expires: bool, now: DateTime<Utc>) -> ApiToken {
        ApiToken {
            id,
            user_id: 7,
            name: String::from("ci"),
            token_prefix: String::from("moon_abc"),
            created_at: now - Duration::days(200),
            expires_at: expires.then(|| now + Duration::days(10)),
            last_used_at: used_days_ago.map(|d| now - Duration::days(d)),
            revoked_at: None,
            rate_class: None,
        }
    }

    #[test]
    fn flags_dormant_accounts_unused_and_endless_tokens_and_admins_without_mfa() {
        let now = Utc::now();
        let r = assess(user(Role::Admin, false, 400, now), Some(now - Duration::days(100)), vec![], now, 90);
        assert_eq!(r.flags, vec!["dormant", "admin_without_mfa"]);
        assert_eq!(r.scope, "all");
        // A token used recently keeps the account alive; its lack of expiry is still flagged.
        let r = assess(
            user(Role::Manager, true, 400, now),
            None,
            vec![token(3, Some(2), false, now), token(4, None, true, now)],
            now,
            90,
        );
        assert_eq!(r.flags, vec!["token_never_expires:3", "token_never_used:4"]);
        assert_eq!(r.scope, "branch:Colombo");
        assert_eq!(r.tokens[0].age_days, 200);
        // A new account is not dormant yet.
        let r = assess(user(Role::Analyst, false, 5, now), None, vec![], now, 90);
        assert!(r.flags.is_empty(), "{:?}", r.flags);
    }

    #[test]
    fn csv_fields_are_quoted_and_formulas_defused() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("=cmd()"), "'=cmd()");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
    }
}

/// Query of `GET /api/v1/access-review`.
#[derive(Debug, Default, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReviewParams {
    /// Days without a sign-in or token use that make an account dormant, 1–3650 (default: the
    /// configured `[access_review] dormant_days`, 90 unless set).
    pub dormant_days: Option<String>,
    /// `json` (default) or `csv`.
    pub format: Option<String>,
}

/// `GET /api/v1/access-review` (admins; the policy table says so).
pub fn routes<S>() -> utoipa_axum::router::OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    super::SecurityState: axum::extract::FromRef<S>,
{
    utoipa_axum::router::OpenApiRouter::new().routes(utoipa_axum::routes!(access_review))
}

/// Reads the dormancy threshold of a request or command line; `default` (the configured
/// `[access_review] dormant_days`) when none is given.
pub fn parse_dormant_days(raw: Option<&str>, default: u32) -> std::result::Result<u32, moon_domain::FieldError> {
    let Some(raw) = raw else { return Ok(default) };
    match raw.trim().parse::<u32>() {
        Ok(d) if (1..=3650).contains(&d) => Ok(d),
        _ => Err(moon_domain::FieldError::new(
            "dormant_days",
            "out_of_range",
            "dormant_days must be a whole number of days from 1 to 3650",
        )),
    }
}

/// Every user's access, with what to act on flagged; as JSON, or CSV with `format=csv`.
#[utoipa::path(get, path = "/api/v1/access-review", tag = "users", params(ReviewParams),
    responses((status = 200, description = "The review; `format=csv` gives one line per user",
            content((AccessReview = "application/json"), (String = "text/csv"))),
        (status = 422, body = moon_http::error::Problem)))]
async fn access_review(
    axum::extract::State(state): axum::extract::State<super::SecurityState>,
    moon_http::ApiQuery(p): moon_http::ApiQuery<ReviewParams>,
) -> moon_http::ApiResult<axum::response::Response> {
    use axum::response::IntoResponse;
    let db = &state.db;
    let days = parse_dormant_days(p.dormant_days.as_deref(), state.auth.config.dormant_days)
        .map_err(moon_http::ApiError::field)?;
    let csv = match p.format.as_deref().map(str::trim) {
        None | Some("json") => false,
        Some("csv") => true,
        Some(_) => {
            return Err(moon_http::ApiError::field(moon_domain::FieldError::new(
                "format",
                "invalid_choice",
                "format must be json or csv",
            )));
        }
    };
    let r = review(db, days).await?;
    Ok(if csv {
        let headers = [
            (axum::http::header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (axum::http::header::CONTENT_DISPOSITION, "attachment; filename=\"access-review.csv\""),
        ];
        (headers, to_csv(&r)).into_response()
    } else {
        axum::Json(r).into_response()
    })
}
