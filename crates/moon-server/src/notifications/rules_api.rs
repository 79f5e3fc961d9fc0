//! Notification rules over `/api/v1/notifications/rules` (admins), their storage, and their
//! seeding from `moon.toml` at start.

use chrono::{DateTime, Utc};
use moon_db::sea_query::{Expr, ExprTrait, Order, Query, SelectStatement, Value};
use moon_db::{Db, DbError, Tx, insert_row};
use moon_domain::Money;

use super::rules::{PaceLevel, PaceSpec, Period, Rule, RuleKind, RuleSpec, TargetScope};

#[derive(sqlx::FromRow)]
pub(super) struct Row {
    id: i64,
    name: String,
    kind: String,
    enabled: bool,
    period: String,
    thresholds: Option<String>,
    every_cents: Option<i64>,
    scope: String,
    schedule: Option<String>,
    timezone: String,
    template: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    percent_bp: Option<i64>,
    from_working_day: Option<i64>,
    notify_agent: bool,
}

pub(super) const COLUMNS: [&str; 16] = [
    "id",
    "name",
    "kind",
    "enabled",
    "period",
    "thresholds",
    "every_cents",
    "scope",
    "schedule",
    "timezone",
    "template",
    "created_at",
    "updated_at",
    "percent_bp",
    "from_working_day",
    "notify_agent",
];

fn corrupt(id: i64, what: &str) -> DbError {
    DbError::Other(moon_db::sqlx::Error::Protocol(format!("notification rule {id} has an unreadable {what}")))
}

impl TryFrom<Row> for Rule {
    type Error = DbError;

    fn try_from(r: Row) -> Result<Self, DbError> {
        let thresholds: Vec<i64> = match &r.thresholds {
            Some(t) => serde_json::from_str(t).map_err(|_| corrupt(r.id, "thresholds"))?,
            None => Vec::new(),
        };
        let kind = RuleKind::parse(&r.kind).ok_or_else(|| corrupt(r.id, "kind"))?;
        // A behind-pace rule keeps its level in the scope column.
        let (scope, pace) = if kind == RuleKind::BehindPace {
            let pace = PaceSpec {
                level: PaceLevel::parse(&r.scope).ok_or_else(|| corrupt(r.id, "level"))?,
                behind_bp: r.percent_bp.ok_or_else(|| corrupt(r.id, "behind_percent"))?,
                from_working_day: r.from_working_day.and_then(|d| u32::try_from(d).ok()).unwrap_or(1),
                notify_agent: r.notify_agent,
            };
            (TargetScope::Company, Some(pace))
        } else {
            (TargetScope::parse(&r.scope).ok_or_else(|| corrupt(r.id, "scope"))?, None)
        };
        Ok(Rule {
            id: r.id,
            kind,
            pace,
            period: Period::parse(&r.period).ok_or_else(|| corrupt(r.id, "period"))?,
            scope,
            name: r.name,
            enabled: r.enabled,
            thresholds: thresholds.into_iter().map(Money::from_cents).collect(),
            every: r.every_cents.map(Money::from_cents),
            schedule: r.schedule,
            timezone: r.timezone,
            template: r.template,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

pub(super) fn base() -> SelectStatement {
    let mut q = Query::select();
    q.columns(COLUMNS).from("notification_rules").order_by("id", Order::Asc);
    q
}

/// Every rule, in id order, outside a transaction (the API's list and the console's page).
pub async fn all(db: &moon_db::Db) -> Result<Vec<Rule>, DbError> {
    db.fetch_all::<Row>(&base()).await?.into_iter().map(Rule::try_from).collect()
}

/// Every rule, in id order.
pub async fn load(tx: &mut Tx) -> Result<Vec<Rule>, DbError> {
    tx.fetch_all::<Row>(&base()).await?.into_iter().map(Rule::try_from).collect()
}

pub(super) async fn find(tx: &mut Tx, id: i64) -> Result<Option<Rule>, DbError> {
    let mut q = base();
    q.and_where(Expr::col("id").eq(id));
    tx.fetch_optional::<Row>(&q).await?.map(Rule::try_from).transpose()
}

fn values(r: &Rule) -> Vec<(&'static str, Value)> {
    let cents: Vec<i64> = r.thresholds.iter().map(|m| m.cents()).collect();
    vec![
        ("name", r.name.as_str().into()),
        ("kind", r.kind.as_str().into()),
        ("enabled", r.enabled.into()),
        ("period", r.period.as_str().into()),
        ("thresholds", serde_json::to_string(&cents).unwrap_or_else(|_| String::from("[]")).into()),
        ("every_cents", r.every.map(Money::cents).into()),
        ("scope", r.pace.map_or(r.scope.as_str(), |p| p.level.as_str()).into()),
        ("percent_bp", r.pace.map(|p| p.behind_bp).into()),
        ("from_working_day", r.pace.map(|p| i64::from(p.from_working_day)).into()),
        ("notify_agent", r.pace.is_some_and(|p| p.notify_agent).into()),
        ("schedule", r.schedule.clone().into()),
        ("timezone", r.timezone.as_str().into()),
        ("template", r.template.as_str().into()),
        ("updated_at", r.updated_at.into()),
    ]
}

/// Stores a new rule; a target-due rule starts counting its schedule from now, so creating one
/// never fires reminders for occurrences already past.
pub(super) async fn insert(tx: &mut Tx, r: &Rule) -> Result<i64, DbError> {
    let mut v = values(r);
    v.push(("created_at", r.created_at.into()));
    v.push(("last_fired_at", Value::from(moon_db::now())));
    tx.insert(&insert_row("notification_rules", v)).await
}

/// One rule, on the read pool.
pub(super) async fn get(db: &Db, id: i64) -> Result<Option<Rule>, DbError> {
    let mut q = base();
    q.and_where(Expr::col("id").eq(id));
    db.fetch_optional::<Row>(&q).await?.map(Rule::try_from).transpose()
}

/// Writes a rule's changed values.
pub(super) async fn update(tx: &mut Tx, id: i64, r: &Rule) -> Result<u64, DbError> {
    let mut up = Query::update();
    up.table("notification_rules")
        .values(values(r).into_iter().map(|(c, v)| (c, Expr::val(v))))
        .and_where(Expr::col("id").eq(id));
    tx.execute(&up).await
}

/// Creates the configured rules that do not exist yet (by name). Runs at start; afterwards the
/// API is authoritative, so a rule an admin changed keeps its changes (disable a seeded rule
/// rather than delete it, or it comes back at the next start).
pub async fn seed(db: &Db, specs: &[RuleSpec], default_tz: &str) -> anyhow::Result<usize> {
    let mut created = 0;
    for spec in specs {
        let rule = spec.apply(None, default_tz).map_err(|errors| {
            let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
            anyhow::anyhow!("invalid notification rule {:?} in the configuration: {}", spec.name, text.join("; "))
        })?;
        let mut tx = db.begin().await?;
        let mut q = base();
        q.and_where(Expr::col("name").eq(rule.name.as_str()));
        if tx.fetch_optional::<Row>(&q).await?.is_some() {
            continue;
        }
        let id = match insert(&mut tx, &rule).await {
            // Another replica seeded it first.
            Err(DbError::UniqueViolation) => continue,
            other => other?,
        };
        let actor = moon_http::Principal::operator();
        let event = crate::audit::Event::on("notification_rule.seed", "notification_rule", id)
            .with_diff(None, Some(&Rule { id, ..rule }));
        crate::audit::append(&mut tx, &actor, event).await?;
        tx.commit().await?;
        created += 1;
    }
    Ok(created)
}

/// Takes a rule's turn in `tx`: locks its row (a no-op update first, which SQLite's single writer
/// and every other backend serialise on; then `FOR UPDATE` where the backend has it) until the
/// transaction ends, so replicas handling the same rule decide one after the other. Returns the
/// rule's `last_fired_at`, or `None` when the rule is gone.
pub(super) async fn take_turn(tx: &mut Tx, id: i64) -> Result<Option<Option<DateTime<Utc>>>, DbError> {
    let mut touch = Query::update();
    touch
        .table("notification_rules")
        .value("last_fired_at", Expr::col("last_fired_at"))
        .and_where(Expr::col("id").eq(id));
    tx.execute(&touch).await?;
    let mut q = Query::select();
    q.column("last_fired_at")
        .from("notification_rules")
        .and_where(Expr::col("id").eq(id))
        .lock(moon_db::sea_query::LockType::Update);
    Ok(tx.fetch_optional::<(Option<DateTime<Utc>>,)>(&q).await?.map(|(last,)| last))
}
