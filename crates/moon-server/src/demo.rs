//! A small, realistic sample in the spirit of the original system, loaded idempotently through
//! the same use cases as the API (so it obeys every validation rule).

use chrono::{Datelike, Duration, NaiveDate};
use moon_db::Db;
use moon_domain::{AgentCode, Email, Label, Message, Money, PhoneNumber, PolicyNumber};

use crate::agents::model::AgentRef;
use crate::agents::model::NewAgent;
use crate::sales::model::SaleFields;
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
    Ok(created)
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

/// The demo's agent who changed team: Anura (AGT004) left Alpha for Beta on the first day of the
/// month three months before `today`, so team figures before and after differ. Only done while
/// the agent has one membership range, so loading the demo again changes nothing.
async fn move_one_agent(db: &Db, op: &Principal, today: NaiveDate) -> anyhow::Result<()> {
    let Some(id) = crate::agents::service::id_for_code(db, op, "AGT004").await.map_err(api)? else {
        return Ok(());
    };
    if crate::agents::org::service::history(db, op, id).await.map_err(api)?.len() != 1 {
        return Ok(());
    }
    let back = today.checked_sub_months(chrono::Months::new(3)).unwrap_or(today);
    let from = back.with_day(1).unwrap_or(back);
    let mv = crate::agents::org::model::Move {
        branch: None,
        team: Some(Label::parse("team", "Beta").map_err(bad)?),
        effective_from: Some(from),
    };
    crate::agents::service::move_agent(db, op, id, &mv).await.map_err(api)?;
    Ok(())
}

/// Loads the demo sample; running it again adds nothing. Sales are dated over the six months
/// before `today`.
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
    let mut rng = Lcg(2026);
    for n in 1..=48u32 {
        let agent = AGENTS[rng.next(AGENTS.len() as u64) as usize].0;
        let product = product_ids[rng.next(product_ids.len() as u64) as usize];
        // Amounts from 5,000.00 to 60,000.00 in steps of 250.00, as premiums tend to be.
        let amount = Money::from_cents((5_000 + 250 * rng.next(221) as i64) * 100);
        let sale_date = today - Duration::days(rng.next(180) as i64);
        let fields = SaleFields {
            agent: Some(AgentRef::Code(AgentCode::parse("agent_code", agent).map_err(bad)?)),
            product_id: Some(product),
            amount: Some(amount),
            sale_date: Some(sale_date),
            branch: None,
            policy_number: Some(Some(
                PolicyNumber::parse("policy_number", &format!("DEMO-{}-{n:04}", today.year())).map_err(bad)?,
            )),
            external: None,
        };
        match crate::sales::service::create(db, &op, fields).await {
            Ok(_) => summary.sales += 1,
            Err(crate::error::Error::Conflict { code: "duplicate_policy_number", .. }) => {}
            Err(e) => return Err(api(e)),
        }
    }
    for (code, text) in NOTES {
        let q = crate::notifications::repo::NotificationQuery {
            agent_code: Some((*code).to_owned()),
            ..Default::default()
        };
        let existing = crate::notifications::repo::list(db, &op.scope, &q, &moon_http::Page::ALL).await?;
        if existing.iter().any(|n| n.message == *text) {
            continue;
        }
        let to = AgentRef::Code(AgentCode::parse("agent_code", code).map_err(bad)?);
        let message = Message::parse("message", text).map_err(bad)?;
        crate::notifications::service::send_with_db(db, Default::default(), &op, &to, &message).await.map_err(api)?;
        summary.notifications += 1;
    }
    Ok(summary)
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

/// Loads the demo's holidays and monthly targets (the company's and each demo agent's, for the
/// previous and the current month of `today`), through the same use cases as the API;
/// idempotent, and targets an administrator changed or a lock protects are left alone.
pub async fn planning(
    db: &Db,
    calendar: &moon_domain::BusinessCalendar,
    today: NaiveDate,
) -> anyhow::Result<PlanningSummary> {
    use crate::sales_targets::model::{ScopeKind, TargetFields};
    use crate::sales_targets::service::{self, Outcome};
    let operator = Principal::operator();
    let report = crate::calendar::service::import(db, &operator, HOLIDAYS_LK, false).await?;
    let mut summary = PlanningSummary { holidays: report.created, targets: 0 };
    let month = calendar.fiscal.period(moon_domain::PeriodKind::Month, today);
    let scopes = std::iter::once((ScopeKind::Company, String::new(), 150_000_000, None))
        .chain(AGENTS.iter().map(|a| (ScopeKind::Agent, a.0.to_owned(), 15_000_000, Some(10))));
    for (kind, key, cents, count) in scopes {
        for period in [month.previous(), month] {
            let mut tx = db.begin().await.map_err(crate::error::Error::from)?;
            let exists = crate::sales_targets::repo::find_by_key(
                &mut tx,
                kind,
                &key,
                &crate::sales_targets::model::Subject::All,
                period,
            )
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
                product: None,
                product_line: None,
                period,
                amount: Money::from_cents(cents),
                policy_count: count,
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
