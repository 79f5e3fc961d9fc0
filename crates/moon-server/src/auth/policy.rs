//! The one table that says who may call what.
//!
//! Every route is listed by method and route template (as axum's `MatchedPath` reports it) with
//! the access it requires. The authentication middleware looks the request up here before any
//! handler runs; a served route missing from the table is refused (fail closed), and the
//! permission-matrix test fails for it. Which *rows* a permitted principal then sees is the
//! queries' business ([`moon_http::Scope`]): a record out of scope is a 404, not a 403.

use axum::http::Method;

use moon_http::Role;

/// Who may use a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone, without credentials.
    Public,
    /// A session that has passed the password step and still owes its second factor.
    MfaPending,
    /// Any signed-in user, even one who must still enrol in MFA (so they can enrol).
    SignedIn,
    /// Signed-in users with one of these roles (and MFA satisfied where their role needs it).
    Roles(&'static [Role]),
}

/// Which token bucket a request draws from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RateClass {
    /// Probes and scrapes: never limited, so a throttled client cannot fail health checks.
    Exempt,
    /// Credential checks (sign-in, MFA): small buckets.
    Auth,
    /// Safe methods.
    Read,
    /// Changes.
    Write,
}

/// One line of the policy.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    /// HTTP method (`HEAD` is looked up as `GET`).
    pub method: &'static str,
    /// Route template, such as `/api/v1/agents/{id}`.
    pub path: &'static str,
    /// Who may call it.
    pub access: Access,
}

const ADMIN: &[Role] = &[Role::Admin];
/// People who manage agents: admins everywhere, managers in their branch.
const STAFF: &[Role] = &[Role::Admin, Role::Manager];
/// Readers of personal data within their scope (an agent sees only their own records).
const PEOPLE: &[Role] = &[Role::Admin, Role::Manager, Role::Agent];
/// Every role, analysts included: no personal data behind these routes.
const EVERYONE: &[Role] = &[Role::Admin, Role::Manager, Role::Agent, Role::Analyst];
/// A branch's wallboard: managers their branch, admins any, and a branch's TV with a read-only
/// wallboard token (role `wallboard`, its branch only). Nothing else lists that role.
const WALLBOARD: &[Role] = &[Role::Admin, Role::Manager, Role::Wallboard];
/// The console's live stream: every role, and a wallboard screen (which hears its branch's
/// changes and no notifications).
const LIVE: &[Role] = &[Role::Admin, Role::Manager, Role::Agent, Role::Analyst, Role::Wallboard];

const fn rule(method: &'static str, path: &'static str, access: Access) -> Rule {
    Rule { method, path, access }
}

use Access::{MfaPending, Public, Roles, SignedIn};

/// The policy: every route the server may serve, on any target.
pub const POLICY: &[Rule] = &[
    // Health, metrics and discovery.
    rule("GET", "/healthz", Public),
    rule("GET", "/readyz", Public),
    rule("GET", "/metrics", Public),
    // The index names the routes and the version: for signed-in users only.
    rule("GET", "/", SignedIn),
    rule("GET", "/api/v1/openapi.json", Public),
    // Authentication.
    rule("POST", "/api/v1/auth/sign-in", Public),
    rule("POST", "/api/v1/auth/mfa/verify", MfaPending),
    rule("POST", "/api/v1/auth/sign-out", SignedIn),
    rule("GET", "/api/v1/auth/me", SignedIn),
    rule("POST", "/api/v1/auth/mfa/enrol", SignedIn),
    rule("POST", "/api/v1/auth/mfa/confirm", SignedIn),
    // Users (admin only) and API tokens (everyone their own; admins any).
    // The audit trail (admin only).
    rule("GET", "/api/v1/audit", Roles(ADMIN)),
    rule("GET", "/api/v1/users", Roles(ADMIN)),
    rule("POST", "/api/v1/users", Roles(ADMIN)),
    rule("GET", "/api/v1/users/{id}", Roles(ADMIN)),
    rule("PATCH", "/api/v1/users/{id}", Roles(ADMIN)),
    rule("DELETE", "/api/v1/users/{id}", Roles(ADMIN)),
    // The access review (who can do what; dormant accounts, unused or endless tokens).
    rule("GET", "/api/v1/access-review", Roles(ADMIN)),
    // Anomaly findings (addresses, accounts, pay-related amounts): admins only.
    rule("GET", "/api/v1/anomalies", Roles(ADMIN)),
    rule("POST", "/api/v1/anomalies/{id}/dismiss", Roles(ADMIN)),
    rule("GET", "/api/v1/tokens", Roles(EVERYONE)),
    rule("POST", "/api/v1/tokens", Roles(EVERYONE)),
    rule("DELETE", "/api/v1/tokens/{id}", Roles(EVERYONE)),
    // Read-only wallboard tokens for branch TVs: admins issue, list and revoke them.
    rule("GET", "/api/v1/wallboard-tokens", Roles(ADMIN)),
    rule("POST", "/api/v1/wallboard-tokens", Roles(ADMIN)),
    rule("DELETE", "/api/v1/wallboard-tokens/{id}", Roles(ADMIN)),
    // Agents: managers manage their branch; an agent reads and edits their own contact details.
    rule("GET", "/api/v1/agents", Roles(PEOPLE)),
    rule("POST", "/api/v1/agents", Roles(STAFF)),
    rule("GET", "/api/v1/agents/{id}", Roles(PEOPLE)),
    rule("PATCH", "/api/v1/agents/{id}", Roles(PEOPLE)),
    rule("DELETE", "/api/v1/agents/{id}", Roles(STAFF)),
    rule("POST", "/api/v1/agents/{code}/erase", Roles(ADMIN)),
    // Subject access: everything held about one agent, for their request (admins only).
    rule("GET", "/api/v1/agents/{code}/subject-access", Roles(ADMIN)),
    // The organisation: everyone signed in reads the units (names of places, not of people);
    // admins change them. Membership history follows the agent's visibility.
    rule("GET", "/api/v1/org/{kind}", Roles(EVERYONE)),
    rule("POST", "/api/v1/org/{kind}", Roles(ADMIN)),
    rule("GET", "/api/v1/org/{kind}/{id}", Roles(EVERYONE)),
    rule("PATCH", "/api/v1/org/{kind}/{id}", Roles(ADMIN)),
    rule("GET", "/api/v1/agents/{id}/memberships", Roles(PEOPLE)),
    rule("POST", "/api/v1/agents/{id}/moves", Roles(STAFF)),
    // Products: reference data without personal data; only admins change it.
    rule("GET", "/api/v1/products", Roles(EVERYONE)),
    rule("POST", "/api/v1/products", Roles(ADMIN)),
    rule("GET", "/api/v1/products/{id}", Roles(EVERYONE)),
    rule("PATCH", "/api/v1/products/{id}", Roles(ADMIN)),
    rule("DELETE", "/api/v1/products/{id}", Roles(ADMIN)),
    // Sales: an agent records their own; corrections and deletions are the branch's.
    rule("GET", "/api/v1/sales", Roles(PEOPLE)),
    rule("POST", "/api/v1/sales", Roles(PEOPLE)),
    rule("GET", "/api/v1/sales/{id}", Roles(PEOPLE)),
    rule("PATCH", "/api/v1/sales/{id}", Roles(STAFF)),
    rule("DELETE", "/api/v1/sales/{id}", Roles(STAFF)),
    // Bulk import: admins everywhere, managers for their branch (systems use tokens of such users).
    rule("POST", "/api/v1/sales/import", Roles(STAFF)),
    rule("POST", "/api/v1/agents/import", Roles(STAFF)),
    // Notifications: the branch sends; an agent reads and marks their own.
    rule("GET", "/api/v1/notifications", Roles(PEOPLE)),
    rule("POST", "/api/v1/notifications", Roles(STAFF)),
    rule("GET", "/api/v1/notifications/{id}", Roles(PEOPLE)),
    rule("PATCH", "/api/v1/notifications/{id}", Roles(PEOPLE)),
    rule("DELETE", "/api/v1/notifications/{id}", Roles(STAFF)),
    rule("POST", "/api/v1/broadcasts", Roles(STAFF)),
    // The inbox, the live stream and channel choices: an agent their own, the branch its agents'.
    rule("GET", "/api/v1/notifications/stream", Roles(PEOPLE)),
    rule("GET", "/api/v1/notifications/unread_count", Roles(PEOPLE)),
    rule("POST", "/api/v1/notifications/read_all", Roles(PEOPLE)),
    rule("GET", "/api/v1/notifications/preferences", Roles(PEOPLE)),
    rule("PUT", "/api/v1/notifications/preferences", Roles(PEOPLE)),
    rule("GET", "/api/v1/notifications/digests", Roles(PEOPLE)),
    rule("PUT", "/api/v1/notifications/digests", Roles(PEOPLE)),
    // The link in a digest's mail: its signed token is the authority (notifications/digests/token.rs).
    rule("GET", "/unsubscribe/digest", Public),
    rule("POST", "/unsubscribe/digest", Public),
    // Rules, webhook subscriptions and the delivery log: company-wide settings, admins only.
    rule("GET", "/api/v1/notifications/rules", Roles(ADMIN)),
    rule("POST", "/api/v1/notifications/rules", Roles(ADMIN)),
    rule("GET", "/api/v1/notifications/rules/{id}", Roles(ADMIN)),
    rule("PATCH", "/api/v1/notifications/rules/{id}", Roles(ADMIN)),
    rule("DELETE", "/api/v1/notifications/rules/{id}", Roles(ADMIN)),
    rule("GET", "/api/v1/notifications/webhooks", Roles(ADMIN)),
    rule("POST", "/api/v1/notifications/webhooks", Roles(ADMIN)),
    rule("GET", "/api/v1/notifications/webhooks/{id}", Roles(ADMIN)),
    rule("PATCH", "/api/v1/notifications/webhooks/{id}", Roles(ADMIN)),
    rule("DELETE", "/api/v1/notifications/webhooks/{id}", Roles(ADMIN)),
    rule("GET", "/api/v1/notifications/deliveries", Roles(ADMIN)),
    rule("POST", "/api/v1/notifications/deliveries/{id}/redeliver", Roles(ADMIN)),
    // The business calendar: everyone signed in reads it; admins keep the holiday list.
    rule("GET", "/api/v1/calendar", Roles(EVERYONE)),
    rule("GET", "/api/v1/calendar/holidays", Roles(EVERYONE)),
    rule("POST", "/api/v1/calendar/holidays", Roles(ADMIN)),
    rule("DELETE", "/api/v1/calendar/holidays/{date}", Roles(ADMIN)),
    rule("POST", "/api/v1/calendar/holidays/import", Roles(ADMIN)),
    // Sales targets: admins set them; every role reads the ones its scope shows (a manager their
    // branch's and the company's and regions', an agent their own, team's and branch's).
    rule("GET", "/api/v1/targets", Roles(EVERYONE)),
    rule("POST", "/api/v1/targets", Roles(ADMIN)),
    rule("GET", "/api/v1/targets/{id}", Roles(EVERYONE)),
    rule("PATCH", "/api/v1/targets/{id}", Roles(ADMIN)),
    rule("DELETE", "/api/v1/targets/{id}", Roles(ADMIN)),
    rule("POST", "/api/v1/targets/import", Roles(ADMIN)),
    rule("POST", "/api/v1/targets/copy", Roles(ADMIN)),
    rule("POST", "/api/v1/targets/periods/{period}/lock", Roles(ADMIN)),
    // Commission plans: admins change them; each role reads the plans that pay it (the service
    // narrows managers and agents); analysts read all (no personal data).
    rule("GET", "/api/v1/commission-plans", Roles(EVERYONE)),
    rule("POST", "/api/v1/commission-plans", Roles(ADMIN)),
    rule("GET", "/api/v1/commission-plans/applicable", Roles(EVERYONE)),
    rule("GET", "/api/v1/commission-plans/{id}", Roles(EVERYONE)),
    rule("POST", "/api/v1/commission-plans/{id}/versions", Roles(ADMIN)),
    rule("POST", "/api/v1/commission-plans/{id}/retire", Roles(ADMIN)),
    // Policies: personal data (a holder's name), so like sales not for analysts. Each role reads
    // the policies its scope is credited with; writes follow sales: a new policy by any of them
    // (an agent crediting only themselves), later transactions by staff.
    rule("GET", "/api/v1/policies", Roles(PEOPLE)),
    rule("POST", "/api/v1/policies", Roles(PEOPLE)),
    rule("GET", "/api/v1/policies/{id}", Roles(PEOPLE)),
    rule("GET", "/api/v1/policies/{id}/transactions", Roles(PEOPLE)),
    rule("POST", "/api/v1/policies/{id}/transactions", Roles(STAFF)),
    // KPIs: aggregates, for every role.
    rule("GET", "/api/v1/kpis/teams", Roles(EVERYONE)),
    rule("GET", "/api/v1/kpis/branches", Roles(EVERYONE)),
    rule("GET", "/api/v1/kpis/products", Roles(EVERYONE)),
    rule("GET", "/api/v1/kpis/leaderboard", Roles(EVERYONE)),
    rule("GET", "/api/v1/kpis/trend", Roles(EVERYONE)),
    rule("GET", "/api/v1/performance", Roles(EVERYONE)),
    rule("GET", "/api/v1/performance/drill", Roles(EVERYONE)),
    // The original system's routes, with the same rights as their /api/v1 counterparts.
    rule("POST", "/agent/add", Roles(STAFF)),
    rule("GET", "/agent/get", Roles(PEOPLE)),
    rule("PUT", "/agent/update/{agent_code}", Roles(STAFF)),
    rule("DELETE", "/agent/delete/{agent_code}", Roles(STAFF)),
    rule("POST", "/integration/add", Roles(PEOPLE)),
    rule("GET", "/integration/get", Roles(PEOPLE)),
    rule("PUT", "/integration/update/{sale_id}", Roles(STAFF)),
    rule("DELETE", "/integration/delete/{sale_id}", Roles(STAFF)),
    rule("POST", "/notification/send", Roles(STAFF)),
    rule("GET", "/notification/get", Roles(PEOPLE)),
    // The web console (target `web`): pages and form posts over the same use cases, with the
    // same rights as their API counterparts. Forms carry the session's CSRF token.
    rule("GET", "/assets/{file}", Public),
    rule("GET", "/sign-in", Public),
    rule("POST", "/sign-in", Public),
    rule("GET", "/sign-in/mfa", MfaPending),
    rule("POST", "/sign-in/mfa", MfaPending),
    rule("POST", "/sign-out", SignedIn),
    rule("GET", "/account/mfa", SignedIn),
    rule("POST", "/account/mfa", SignedIn),
    rule("POST", "/account/mfa/confirm", SignedIn),
    rule("GET", "/dashboard", Roles(EVERYONE)),
    rule("GET", "/dashboard/live", Roles(EVERYONE)),
    rule("GET", "/performance", Roles(EVERYONE)),
    // Each role's home (what `/` opens in a browser), with the drill-down's rights.
    rule("GET", "/home", Roles(EVERYONE)),
    rule("GET", "/home/live", Roles(EVERYONE)),
    // The console's live stream: each viewer hears only what their scope may see.
    rule("GET", "/live/events", Roles(LIVE)),
    // A branch's wallboard: managers their branch, admins any (names are shown), a TV with a
    // wallboard token its branch. The one-time link's token is its own authority: it sets the
    // screen's cookie (auth/wallboard.rs).
    rule("GET", "/wallboard", Roles(WALLBOARD)),
    rule("GET", "/wallboard/live", Roles(WALLBOARD)),
    rule("GET", "/wallboard/tv", Public),
    rule("GET", "/agents", Roles(PEOPLE)),
    rule("POST", "/agents", Roles(STAFF)),
    rule("GET", "/agents/{id}", Roles(PEOPLE)),
    rule("POST", "/agents/{id}", Roles(PEOPLE)),
    rule("POST", "/agents/{id}/deactivate", Roles(STAFF)),
    rule("POST", "/agents/{id}/move", Roles(STAFF)),
    rule("GET", "/organisation", Roles(EVERYONE)),
    rule("POST", "/organisation", Roles(ADMIN)),
    rule("POST", "/organisation/{kind}/{id}", Roles(ADMIN)),
    rule("POST", "/organisation/wallboard-tokens", Roles(ADMIN)),
    rule("POST", "/organisation/wallboard-tokens/{id}/revoke", Roles(ADMIN)),
    // Management pages: targets and the holiday list are read by the branch (a manager sees
    // their branch's targets) and changed by admins, as in the API; notification rules,
    // webhooks and deliveries are company-wide settings, admins only.
    rule("GET", "/targets", Roles(STAFF)),
    rule("POST", "/targets", Roles(ADMIN)),
    rule("POST", "/targets/copy", Roles(ADMIN)),
    rule("POST", "/targets/import", Roles(ADMIN)),
    rule("POST", "/targets/lock", Roles(ADMIN)),
    rule("POST", "/targets/{id}/delete", Roles(ADMIN)),
    rule("GET", "/calendar", Roles(STAFF)),
    rule("POST", "/calendar/holidays", Roles(ADMIN)),
    rule("POST", "/calendar/holidays/{date}/delete", Roles(ADMIN)),
    rule("GET", "/rules", Roles(ADMIN)),
    rule("POST", "/rules", Roles(ADMIN)),
    rule("POST", "/rules/{id}", Roles(ADMIN)),
    rule("POST", "/rules/{id}/delete", Roles(ADMIN)),
    rule("GET", "/webhooks", Roles(ADMIN)),
    rule("POST", "/webhooks", Roles(ADMIN)),
    rule("POST", "/webhooks/{id}", Roles(ADMIN)),
    rule("POST", "/webhooks/{id}/delete", Roles(ADMIN)),
    rule("POST", "/webhooks/deliveries/{id}/redeliver", Roles(ADMIN)),
    rule("GET", "/sales", Roles(PEOPLE)),
    rule("POST", "/sales", Roles(PEOPLE)),
    rule("GET", "/sales/{id}", Roles(STAFF)),
    rule("POST", "/sales/{id}", Roles(STAFF)),
    rule("POST", "/sales/{id}/delete", Roles(STAFF)),
    rule("GET", "/products", Roles(EVERYONE)),
    rule("POST", "/products", Roles(ADMIN)),
    rule("POST", "/products/{id}", Roles(ADMIN)),
    rule("GET", "/notifications", Roles(PEOPLE)),
    rule("POST", "/notifications", Roles(STAFF)),
    rule("POST", "/notifications/broadcast", Roles(STAFF)),
    rule("POST", "/notifications/digests", Roles(PEOPLE)),
    rule("GET", "/users", Roles(ADMIN)),
    rule("POST", "/users", Roles(ADMIN)),
    rule("POST", "/users/{id}", Roles(ADMIN)),
    rule("GET", "/tokens", Roles(EVERYONE)),
    rule("POST", "/tokens", Roles(EVERYONE)),
    rule("POST", "/tokens/{id}/revoke", Roles(EVERYONE)),
    rule("GET", "/audit", Roles(ADMIN)),
    rule("GET", "/access-review", Roles(ADMIN)),
    rule("GET", "/anomalies", Roles(ADMIN)),
    rule("POST", "/anomalies/{id}/dismiss", Roles(ADMIN)),
    rule("GET", "/commission-plans", Roles(EVERYONE)),
];

/// What the policy says about a matched route.
#[derive(Debug, Clone, Copy)]
pub enum Lookup {
    /// The route and method are listed.
    Found(&'static Rule),
    /// The route is listed, but not for this method: answered 405 like any unserved method.
    OtherMethod,
    /// The route is not in the policy at all: refused, since nobody decided who may use it.
    Unlisted,
}

/// Looks a request up by method and route template.
pub fn lookup(method: &Method, template: &str) -> Lookup {
    let method = if method == Method::HEAD { "GET" } else { method.as_str() };
    let mut path_known = false;
    for r in POLICY {
        if r.path == template {
            if r.method == method {
                return Lookup::Found(r);
            }
            path_known = true;
        }
    }
    if path_known { Lookup::OtherMethod } else { Lookup::Unlisted }
}

impl Rule {
    /// Whether `role` may call this route (given a full, MFA-satisfied sign-in).
    pub fn allows(&self, role: Role) -> bool {
        match self.access {
            Access::Public => true,
            // A wallboard screen is no signed-in person: it has no account, MFA or sign-out.
            Access::SignedIn => role != Role::Wallboard,
            Access::MfaPending => false,
            Access::Roles(roles) => roles.contains(&role),
        }
    }

    /// The rate-limit bucket class of the route.
    pub fn rate_class(&self) -> RateClass {
        match (self.access, self.path) {
            (_, "/healthz" | "/readyz" | "/metrics") => RateClass::Exempt,
            (Access::MfaPending, _) => RateClass::Auth,
            (_, "/api/v1/auth/sign-in" | "/sign-in") if self.method == "POST" => RateClass::Auth,
            _ if self.method == "GET" => RateClass::Read,
            _ => RateClass::Write,
        }
    }

    /// Whether this is one of the original system's routes, whose clients read `message`.
    pub fn is_legacy(&self) -> bool {
        ["/agent/", "/integration/", "/notification/"].iter().any(|p| self.path.starts_with(p))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_is_unique_and_analysts_never_reach_personal_data() {
        for (i, a) in POLICY.iter().enumerate() {
            for b in &POLICY[i + 1..] {
                assert!(!(a.method == b.method && a.path == b.path), "duplicate rule {} {}", a.method, a.path);
            }
            let personal =
                ["/api/v1/agents", "/api/v1/sales", "/api/v1/notifications", "/agents", "/sales", "/notifications"]
                    .iter()
                    .any(|p| a.path.starts_with(p))
                    || a.is_legacy();
            if personal {
                assert!(!a.allows(Role::Analyst), "{} {} lets analysts see personal data", a.method, a.path);
            }
        }
    }

    #[test]
    fn a_wallboard_screen_reaches_its_wallboard_and_nothing_else() {
        let reached: Vec<(&str, &str)> = POLICY
            .iter()
            .filter(|r| r.access != Access::Public && r.allows(Role::Wallboard))
            .map(|r| (r.method, r.path))
            .collect();
        assert_eq!(reached, [("GET", "/live/events"), ("GET", "/wallboard"), ("GET", "/wallboard/live")]);
    }

    #[test]
    fn lookups_distinguish_unlisted_routes_from_other_methods() {
        assert!(matches!(lookup(&Method::GET, "/api/v1/agents"), Lookup::Found(_)));
        assert!(matches!(lookup(&Method::HEAD, "/healthz"), Lookup::Found(_)));
        assert!(matches!(lookup(&Method::PUT, "/api/v1/agents"), Lookup::OtherMethod));
        assert!(matches!(lookup(&Method::GET, "/api/v1/secret"), Lookup::Unlisted));
    }
}
