//! A small, realistic sample in the spirit of the original system, loaded idempotently through
//! the same use cases as the API (so it obeys every validation rule).

use chrono::{Datelike, Duration, NaiveDate};
use moon_db::Db;
use moon_domain::{AgentCode, Email, Label, Message, Money, PhoneNumber, PolicyNumber};

use crate::agents::model::AgentRef;
use crate::agents::model::NewAgent;
use crate::sales::model::SaleFields;
use crate::sales_targets::model::Subject;
use moon_http::{ApiError, Principal};

const AGENTS: &[(&str, &str, &str, &str, &str)] = &[
    ("AGT001", "Nimal", "Perera", "Colombo", "Alpha"),
    ("AGT002", "Saman", "Silva", "Kandy", "Beta"),
    ("AGT003", "Ruwan", "Fernando", "Matara", "Gamma"),
    ("AGT004", "Anura", "Jayasinghe", "Colombo", "Alpha"),
    ("AGT005", "Kamal", "Gunawardena", "Kandy", "Beta"),
    ("AGT006", "Sunil", "Dias", "Galle", "Gamma"),
    ("AGT007", "Dilani", "Wickramasinghe", "Colombo", "Delta"),
    ("AGT008", "Tharindu", "Bandara", "Kurunegala", "Delta"),
    ("AGT009", "Chamari", "Rathnayake", "Galle", "Alpha"),
    ("AGT010", "Priyantha", "Herath", "Jaffna", "Beta"),
];

/// The demo's regions and the branches under each (Sri Lanka's provinces and towns).
const REGIONS: &[(&str, &[&str])] = &[
    ("Western", &["Colombo"]),
    ("Central", &["Kandy"]),
    ("Southern", &["Galle", "Matara"]),
    ("North Western", &["Kurunegala"]),
    ("Northern", &["Jaffna"]),
];

/// The demo's sales teams.
const TEAMS: &[&str] = &["Alpha", "Beta", "Gamma", "Delta"];

const PRODUCTS: &[(&str, &str, i64)] = &[
    ("Life", "Life Insurance - Platinum Plan", 12_000_000),
    ("Vehicle", "Vehicle Insurance - Full Cover", 9_000_000),
    ("Health", "Health Insurance - Family Plan", 10_000_000),
    ("Life", "Life Insurance - Basic Plan", 6_000_000),
    ("Vehicle", "Vehicle Insurance - Third Party", 3_000_000),
];

const NOTES: &[(&str, &str)] = &[
    ("AGT001", "Nimal has reached 150k sales milestone!"),
    ("AGT002", "Reminder: Vehicle sales target due this week."),
    ("AGT003", "Ruwan's monthly health insurance target achieved!"),
];

/// The demo's users, one per role: name, role, branch, agent code.
pub const DEMO_USERS: &[(&str, &str, Option<&str>, Option<&str>)] = &[
    ("demo-admin", "admin", None, None),
    ("demo-manager", "manager", Some("Colombo"), None),
    ("demo-agent", "agent", None, Some("AGT001")),
    ("demo-analyst", "analyst", None, None),
];

/// A demo user created by [`users`], with the generated password to show once.
#[derive(Clone)]
pub struct DemoUser {
    /// Sign-in name.
    pub username: String,
    /// Role.
    pub role: moon_http::Role,
    /// The generated password; never stored in the clear.
    pub password: String,
}

impl std::fmt::Debug for DemoUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DemoUser").field("username", &self.username).field("role", &self.role).finish_non_exhaustive()
    }
}

/// Creates the demo users that do not exist yet, each with a generated password (there are no
/// default passwords). Existing demo users keep their passwords.
pub async fn users(db: &Db) -> anyhow::Result<Vec<DemoUser>> {
    let hasher = crate::auth::password::Hasher::new(1);
    let mut created = Vec::new();
    for (name, role, branch, agent_code) in DEMO_USERS {
        if crate::auth::users::account_by_name(db, name).await?.is_some() {
            continue;
        }
        let binding = crate::auth::users::Binding::parse(role, *branch, *agent_code)
            .map_err(|e| anyhow::anyhow!("demo user {name} is invalid: {e:?}"))?;
        let password = crate::auth::password::generate()?;
        let user = crate::auth::users::create(db, &hasher, name, &password, binding, &Principal::operator())
            .await
            .map_err(api)?;
        created.push(DemoUser { username: user.username, role: user.role, password });
    }
    digest_for_the_manager(db).await?;
    Ok(created)
}

/// The demo manager receives the weekly digest on Mondays at 08:30 (business time zone), with
/// an address for its mail. The choice is dated eight days back, so the latest Monday's digest
/// goes out on the demo's first start (marked late unless it is Monday 08:30), once.
async fn digest_for_the_manager(db: &Db) -> anyhow::Result<()> {
    use crate::notifications::digests::schedule::Slot;
    let Some(manager) = crate::auth::users::account_by_name(db, "demo-manager").await? else { return Ok(()) };
    let user = crate::auth::users::get(db, manager.id).await.map_err(api)?;
    if user.is_some_and(|u| u.email.is_none()) {
        let email = moon_domain::Email::parse("email", "demo-manager@moon.example").map_err(bad)?;
        let changes = crate::auth::users::UserChanges { email: Some(Some(email)), ..Default::default() };
        let hasher = crate::auth::password::Hasher::new(1);
        crate::auth::users::update(db, &hasher, manager.id, changes, &Principal::operator()).await.map_err(api)?;
    }
    let monday = Slot::parse_config("demo", "weekly mon 08:30")
        .map_err(bad)?
        .ok_or_else(|| anyhow::anyhow!("demo digest slot"))?;
    let since = chrono::Utc::now() - chrono::Duration::days(8);
    let to = crate::notifications::pipeline::Recipient::User(manager.id);
    crate::notifications::digests::store::seed_choice(db, to, monday, since).await?;
    Ok(())
}

/// What a demo load did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DemoSummary {
    /// Agents created (0 when already present).
    pub agents: usize,
    /// Products created.
    pub products: usize,
    /// Sales created.
    pub sales: usize,
    /// Notifications created.
    pub notifications: usize,
}

fn bad(e: moon_domain::FieldError) -> anyhow::Error {
    anyhow::anyhow!("demo data is invalid: {e}")
}

fn api(e: impl Into<ApiError>) -> anyhow::Error {
    let e = e.into();
    anyhow::anyhow!("demo data could not be stored: {} ({})", e.code(), e.status())
}

/// A deterministic pseudo-random sequence, so every demo load is the same.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, bound: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % bound
    }
}

/// Creates the demo's regions, branches and teams; existing ones are left as they are.
async fn load_organisation(db: &Db, op: &Principal) -> anyhow::Result<()> {
    use crate::agents::org::model::{CreateUnit, UnitKind};
    let mut units: Vec<(UnitKind, &str, Option<&str>)> = Vec::new();
    for (region, branches) in REGIONS {
        units.push((UnitKind::Region, region, None));
        units.extend(branches.iter().map(|b| (UnitKind::Branch, *b, Some(*region))));
    }
    units.extend(TEAMS.iter().map(|t| (UnitKind::Team, *t, None)));
    for (kind, code, region) in units {
        let body =
            CreateUnit { code: Some(code.to_owned()), region: region.map(str::to_owned), ..CreateUnit::default() };
        let new = body.validate(kind).map_err(|e| anyhow::anyhow!("demo unit {code}: {e:?}"))?;
        match crate::agents::org::service::create(db, op, new).await {
            Ok(_) | Err(crate::error::Error::Conflict { code: "duplicate_unit", .. }) => {}
            Err(e) => return Err(api(e)),
        }
    }
    Ok(())
}

/// The demo's agent who changed team, and the team they joined.
const MOVED_AGENT: (&str, &str) = ("AGT004", "Beta");

/// The demo's agent who changed team: Anura (AGT004) left Alpha for Beta on the first day of the
/// month three months before `today`, so team figures before and after differ. Only done while
/// the agent has one membership range, so loading the demo again changes nothing.
async fn move_one_agent(db: &Db, op: &Principal, today: NaiveDate) -> anyhow::Result<()> {
    let Some(id) = crate::agents::service::id_for_code(db, op, MOVED_AGENT.0).await.map_err(api)? else {
        return Ok(());
    };
    if crate::agents::org::service::history(db, op, id).await.map_err(api)?.len() != 1 {
        return Ok(());
    }
    let back = today.checked_sub_months(chrono::Months::new(3)).unwrap_or(today);
    let from = back.with_day(1).unwrap_or(back);
    let mv = crate::agents::org::model::Move {
        branch: None,
        team: Some(Label::parse("team", MOVED_AGENT.1).map_err(bad)?),
        effective_from: Some(from),
    };
    crate::agents::service::move_agent(db, op, id, &mv, today).await.map_err(api)?;
    Ok(())
}

/// How each demo agent sells, in percent of the pace their monthly target asks for (the order of
/// [`AGENTS`]): some run well ahead, some well behind, so every month has a story.
const STRENGTH_PERCENT: [u64; 10] = [135, 70, 110, 95, 55, 120, 100, 80, 150, 65];

/// Months of sales history before the current one: a year and one more, so "the same period
/// last year" has figures.
const HISTORY_MONTHS: u32 = 13;

/// The chance, in thousandths, that an agent at 100 % strength sells on a given working day.
/// A demo agent's target is 150,000.00 a month, an average sale 32,500.00 and a month about 21.7
/// working days: 150,000 / 32,500 / 21.7 ≈ 0.213.
const DAILY_SALE_PER_MILLE: u64 = 213;

/// One sale an agent may make on a day, decided by the agent and the date alone: loading the demo
/// on a later day adds the days since and never changes earlier ones.
fn sale_on(agent: usize, day: NaiveDate, products: usize) -> Option<(usize, Money)> {
    let mut rng = Lcg(2026 ^ ((agent as u64) << 32) ^ u64::from(day.num_days_from_ce().unsigned_abs()));
    rng.next(7); // the first draws of a fresh seed are poorly spread
    let threshold = STRENGTH_PERCENT[agent % STRENGTH_PERCENT.len()] * DAILY_SALE_PER_MILLE / 100;
    if rng.next(1000) >= threshold {
        return None;
    }
    let product = rng.next(products as u64) as usize;
    // Amounts from 5,000.00 to 60,000.00 in steps of 250.00, as premiums tend to be.
    Some((product, Money::from_cents((5_000 + 250 * rng.next(221) as i64) * 100)))
}

/// The demo's sales: on working days (Monday to Friday) from the first day of the month
/// [`HISTORY_MONTHS`] before `today` up to `today` itself, and at least one in `today`'s month,
/// through the same use case as the API.
/// A sale's policy number names its agent and date, so the sales already there are skipped.
async fn load_sales(db: &Db, op: &Principal, products: &[i64], today: NaiveDate) -> anyhow::Result<usize> {
    use moon_db::sea_query::{Expr, ExprTrait, Query};
    let q = Query::select()
        .column("policy_number")
        .from("sales")
        .and_where(Expr::col("policy_number").like("DEMO-%"))
        .to_owned();
    let known: std::collections::HashSet<String> =
        db.fetch_all::<(String,)>(&q).await?.into_iter().map(|(p,)| p).collect();
    let back = today.checked_sub_months(chrono::Months::new(HISTORY_MONTHS)).unwrap_or(today);
    let mut day = back.with_day(1).unwrap_or(back);
    let month_start = today.with_day(1).unwrap_or(today);
    let mut planned = Vec::new();
    while day <= today {
        if day.weekday().num_days_from_monday() < 5 {
            for (i, (code, ..)) in AGENTS.iter().enumerate() {
                if let Some((product, amount)) = sale_on(i, day, products.len()) {
                    planned.push((*code, day, product, amount));
                }
            }
        }
        day = day.succ_opt().unwrap_or(today + Duration::days(1));
    }
    if !planned.iter().any(|(_, d, ..)| *d >= month_start) {
        // "This month" is never empty, even on a weekend first of the month: the strongest
        // agent sells today.
        let best = (0..AGENTS.len()).max_by_key(|i| STRENGTH_PERCENT[*i]).unwrap_or(0);
        planned.push((AGENTS[best].0, today, 0, Money::from_cents(2_500_000)));
    }
    let mut created = 0;
    for (code, day, product, amount) in planned {
        let policy = format!("DEMO-{code}-{}", day.format("%Y%m%d"));
        if known.contains(&policy) {
            continue;
        }
        let fields = SaleFields {
            agent: Some(AgentRef::Code(AgentCode::parse("agent_code", code).map_err(bad)?)),
            product_id: Some(products[product]),
            amount: Some(amount),
            sale_date: Some(day),
            branch: None,
            policy_number: Some(Some(PolicyNumber::parse("policy_number", &policy).map_err(bad)?)),
            external: None,
        };
        match crate::sales::service::create(db, op, fields).await {
            Ok(_) => created += 1,
            Err(crate::error::Error::Conflict { code: "duplicate_policy_number", .. }) => {}
            Err(e) => return Err(api(e)),
        }
    }
    Ok(created)
}

/// Loads the demo sample; running it again adds nothing. Sales run from thirteen months before
/// `today` up to `today` (see [`load_sales`]).
pub async fn load(db: &Db, today: NaiveDate) -> anyhow::Result<DemoSummary> {
    let op = Principal::operator();
    let mut summary = DemoSummary::default();
    load_organisation(db, &op).await?;
    for (i, (code, first, last, branch, team)) in AGENTS.iter().enumerate() {
        let new = NewAgent {
            agent_code: AgentCode::parse("agent_code", code).map_err(bad)?,
            first_name: Label::parse("first_name", first).map_err(bad)?,
            last_name: Label::parse("last_name", last).map_err(bad)?,
            branch: Label::parse("branch", branch).map_err(bad)?,
            team: Label::parse("team", team).map_err(bad)?,
            contact_number: Some(PhoneNumber::parse("contact_number", &format!("07712345{i:02}")).map_err(bad)?),
            email: Some(
                Email::parse("email", &format!("{}@mooninsurance.example", first.to_lowercase())).map_err(bad)?,
            ),
            active: true,
            // The demo agents agreed to the leaderboard, so the demo has one to show.
            analytics_consent: true,
            show_name_to_peers: false,
        };
        match crate::agents::service::create(db, &op, new).await {
            Ok(_) => summary.agents += 1,
            Err(crate::error::Error::Conflict { code: "duplicate_agent_code", .. }) => {}
            Err(e) => return Err(api(e)),
        }
    }
    move_one_agent(db, &op, today).await?;
    let mut product_ids = Vec::new();
    for (kind, name, target) in PRODUCTS {
        let mut tx = db.begin().await?;
        let id = match crate::products::repo::find_by_name(&mut tx, name).await? {
            Some(p) => p.id,
            None => {
                let fields = crate::products::ProductFields {
                    product_type: Some(Label::parse("product_type", kind).map_err(bad)?),
                    product_name: Some(Label::parse("product_name", name).map_err(bad)?),
                    target_amount: Some(Money::from_cents(*target)),
                };
                summary.products += 1;
                crate::products::repo::insert(&mut tx, &fields).await?
            }
        };
        tx.commit().await?;
        product_ids.push(id);
    }
    summary.sales = load_sales(db, &op, &product_ids, today).await?;
    for (code, text) in NOTES {
        let q = crate::notifications::repo::NotificationQuery {
            agent_code: Some((*code).to_owned()),
            ..Default::default()
        };
        let existing = crate::notifications::repo::list(db, (&op).into(), &q, &moon_http::Page::ALL).await?;
        if existing.iter().any(|n| n.message == *text) {
            continue;
        }
        let to = AgentRef::Code(AgentCode::parse("agent_code", code).map_err(bad)?);
        let message = Message::parse("message", text).map_err(bad)?;
        crate::notifications::service::send_with_db(db, Default::default(), &op, &to, &message).await.map_err(api)?;
        summary.notifications += 1;
    }
    load_pace_rules(db, &op).await?;
    load_commission_plans(db, &op, &product_ids, today).await?;
    Ok(summary)
}

/// Commission plans for the demo (ADR 0024): a tiered plan for the Life line that changed at the
/// start of this month (its first version stays readable), a plain plan for every other product,
/// and the managers' override. Plans that exist already are left as they are.
async fn load_commission_plans(db: &Db, op: &Principal, products: &[i64], today: NaiveDate) -> anyhow::Result<()> {
    use crate::commissions::model::{CreatePlan, NewVersion};
    use crate::commissions::service;
    let month = today.with_day(1).unwrap_or(today);
    let history = month.checked_sub_months(chrono::Months::new(HISTORY_MONTHS)).unwrap_or(month);
    let rules = |value: serde_json::Value| serde_json::from_value(value).map_err(anyhow::Error::new);
    let contest_product = products.first().copied().unwrap_or(1);
    let month_end = month.checked_add_months(chrono::Months::new(1)).and_then(|d| d.pred_opt()).unwrap_or(month);
    let plans = [
        (
            "Life agents",
            "agent",
            Some("Life"),
            serde_json::json!({
                "base_rate": "5", "renewal_rate": "2",
                "tiers": [{"from_percent": 0, "to_percent": 100, "multiplier": 1}, {"from_percent": 100, "multiplier": "1.2"}],
                "cap": "25000.00", "clawback": {"within_days": 90}
            }),
        ),
        ("Agents, other lines", "agent", None, serde_json::json!({"base_rate": "3", "clawback": {"within_days": 30}})),
        ("Branch managers", "manager", None, serde_json::json!({"base_rate": "0.5"})),
    ];
    for (name, role, line, first) in plans {
        let body = CreatePlan {
            name: Some(name.to_owned()),
            role: Some(role.to_owned()),
            product_line: line.map(str::to_owned),
            effective_from: Some(history.to_string()),
            rules: Some(rules(first)?),
            ..CreatePlan::default()
        };
        let plan = match service::create(db, op, &body, today).await {
            Ok(plan) => plan,
            Err(crate::error::Error::Conflict { .. }) => continue,
            Err(e) => return Err(api(e)),
        };
        if line.is_some() && month > history {
            let version = NewVersion {
                effective_from: Some(month.to_string()),
                rules: Some(rules(serde_json::json!({
                    "base_rate": "5", "renewal_rate": "2",
                    "tiers": [{"from_percent": 0, "to_percent": 100, "multiplier": 1}, {"from_percent": 100, "to_percent": 150, "multiplier": "1.2"}, {"from_percent": 150, "multiplier": "1.5"}],
                    "cap": "25000.00", "clawback": {"within_days": 90},
                    "incentives": [{"name": "Platinum month", "from": month.to_string(), "to": month_end.to_string(),
                                    "product_id": contest_product, "prize": {"kind": "per_policy", "amount": "50.00"}}]
                }))?),
                note: Some(String::from("a 1.5x band above 150 % and this month's contest")),
            };
            service::add_version(db, op, plan.id, &version, today).await.map_err(api)?;
        }
    }
    Ok(())
}

/// Behind-pace rules, so the demo's manager (Colombo) is alerted about the teams and agents of
/// the branch that fall behind this month (the demo's sales put some behind their pace). A rule
/// that exists already is left as it is.
async fn load_pace_rules(db: &Db, op: &Principal) -> anyhow::Result<()> {
    use crate::notifications::rules::RuleSpec;
    for (name, level, percent) in [("demo: teams behind pace", "team", 5), ("demo: agents behind pace", "agent", 10)] {
        let spec = RuleSpec {
            name: Some(name.to_owned()),
            kind: Some(String::from("behind_pace")),
            level: Some(level.to_owned()),
            behind_percent: Some(serde_json::json!(percent)),
            period: Some(String::from("month")),
            ..RuleSpec::default()
        };
        match crate::notifications::service::create_rule(db, op, &spec, "UTC").await {
            Ok(_) | Err(crate::error::Error::Conflict { .. }) => {}
            Err(e) => return Err(api(e)),
        }
    }
    Ok(())
}

/// The demo's holiday list: Sri Lanka's public and Poya holidays 2025–2027, with its sources
/// in the file's comments.
pub const HOLIDAYS_LK: &str = include_str!("../data/holidays-lk.csv");

/// What [`planning`] loaded.
#[derive(Debug, Clone, Copy, Default)]
pub struct PlanningSummary {
    /// Holidays added (existing ones kept).
    pub holidays: usize,
    /// Targets created.
    pub targets: usize,
}

/// A demo agent's monthly target, in cents (150,000.00), and policies.
const AGENT_MONTHLY_TARGET: i64 = 15_000_000;
const AGENT_MONTHLY_POLICIES: i64 = 5;

/// Each demo product's share of the company's target, in percent (the order of [`PRODUCTS`]).
const PRODUCT_SHARE_PERCENT: [i64; 5] = [30, 20, 20, 15, 15];

/// Every demo target for one month's worth, before scaling to a quarter or a year: each agent's,
/// the sum of those for each team, branch and region the agents belong to after the demo's move, the company's,
/// and the company's per product.
fn monthly_targets(
    product_ids: &[(i64, i64)],
) -> Vec<(crate::sales_targets::model::ScopeKind, String, Subject, i64, Option<i64>)> {
    use crate::sales_targets::model::ScopeKind;
    let mut sums: std::collections::BTreeMap<(ScopeKind, String), (i64, i64)> = std::collections::BTreeMap::new();
    for (code, _, _, branch, team) in AGENTS {
        let team = if *code == MOVED_AGENT.0 { &MOVED_AGENT.1 } else { team };
        let region = REGIONS.iter().find(|(_, bs)| bs.contains(branch)).map(|(r, _)| *r);
        let scopes = [
            Some((ScopeKind::Agent, *code)),
            Some((ScopeKind::Team, *team)),
            Some((ScopeKind::Branch, *branch)),
            region.map(|r| (ScopeKind::Region, r)),
            Some((ScopeKind::Company, "")),
        ];
        for (kind, key) in scopes.into_iter().flatten() {
            let sum = sums.entry((kind, key.to_owned())).or_default();
            sum.0 += AGENT_MONTHLY_TARGET;
            sum.1 += AGENT_MONTHLY_POLICIES;
        }
    }
    let company = AGENTS.len() as i64 * AGENT_MONTHLY_TARGET;
    let mut targets: Vec<_> =
        sums.into_iter().map(|((kind, key), (cents, count))| (kind, key, Subject::All, cents, Some(count))).collect();
    for (id, share) in product_ids {
        targets.push((ScopeKind::Company, String::new(), Subject::Product(*id), company * share / 100, None));
    }
    targets
}

/// Loads the demo's holidays and targets through the same use cases as the API: for every agent,
/// team, branch, region, the company and each product, for the previous and the current month
/// and quarter of `today` and the current fiscal year. Idempotent: targets an administrator
/// changed or a lock protects are left alone.
pub async fn planning(
    db: &Db,
    calendar: &moon_domain::BusinessCalendar,
    today: NaiveDate,
) -> anyhow::Result<PlanningSummary> {
    use crate::sales_targets::model::TargetFields;
    use crate::sales_targets::service::{self, Outcome};
    use moon_domain::PeriodKind;
    let operator = Principal::operator();
    let report = crate::calendar::service::import(db, &operator, HOLIDAYS_LK, false).await?;
    let mut summary = PlanningSummary { holidays: report.created, targets: 0 };
    let mut products = Vec::new();
    for ((_, name, _), share) in PRODUCTS.iter().zip(PRODUCT_SHARE_PERCENT) {
        let mut tx = db.begin().await?;
        if let Some(p) = crate::products::repo::find_by_name(&mut tx, name).await? {
            products.push((p.id, share));
        }
    }
    let month = calendar.fiscal.period(PeriodKind::Month, today);
    let quarter = calendar.fiscal.period(PeriodKind::Quarter, today);
    let periods = [
        (month.previous(), 1),
        (month, 1),
        (quarter.previous(), 3),
        (quarter, 3),
        (calendar.fiscal.period(PeriodKind::Year, today), 12),
    ];
    for (kind, key, subject, cents, count) in monthly_targets(&products) {
        for (period, months) in periods {
            let mut tx = db.begin().await.map_err(crate::error::Error::from)?;
            let exists = crate::sales_targets::repo::find_by_key(&mut tx, kind, &key, &subject, period)
                .await
                .map_err(crate::error::Error::from)?
                .is_some();
            drop(tx);
            if exists {
                continue;
            }
            let fields = TargetFields {
                scope_kind: kind,
                scope_key: key.clone(),
                product: match subject {
                    Subject::Product(id) => Some(crate::sales_targets::model::ProductRef::Id(id)),
                    _ => None,
                },
                product_line: None,
                period,
                amount: Money::from_cents(cents * months),
                policy_count: count.map(|c| c * months),
            };
            match service::set(db, calendar, &operator, &fields, None).await {
                Ok((_, Outcome::Created)) => summary.targets += 1,
                Ok(_) | Err(crate::error::Error::Conflict { .. }) => {}
                Err(e) => return Err(anyhow::Error::new(e).context("cannot load the demo targets")),
            }
        }
    }
    Ok(summary)
}
