//! `moon rules …` and `moon digests …`: notification rules and scheduled digests from the
//! server's own machine, through the same use cases as the API (as the operator), so a rule
//! added here is validated exactly as `POST /api/v1/notifications/rules` validates it.

use anyhow::Context;
use clap::Subcommand;
use moon_http::Principal;
use moon_server::notifications::rules::{Rule, RuleSpec};

use crate::planning::problem;
use crate::settings::{self, CommonArgs, ServeArgs};

/// `moon rules` subcommands.
#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// List the rules (id, name, kind, enabled, what it watches).
    List {
        /// Print the rules as JSON (as `GET /api/v1/notifications/rules` does).
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        common: CommonArgs,
    },
    /// Add a rule, from flags or from the API's JSON body (`--json '{…}'`).
    Add(Box<AddRule>),
    /// Remove a rule by id or name (the notifications it made stay).
    Remove {
        /// The rule's id or name.
        rule: String,
        #[command(flatten)]
        common: CommonArgs,
    },
}

/// Options of `moon rules add`: the fields of `POST /api/v1/notifications/rules`.
#[derive(Debug, clap::Args)]
pub struct AddRule {
    /// Unique name.
    name: Option<String>,
    /// `milestone`, `target_achieved`, `target_due` or `behind_pace`.
    #[arg(long)]
    kind: Option<String>,
    /// `month` (default), `quarter`, `year` or `all`.
    #[arg(long)]
    period: Option<String>,
    /// Milestones: an amount that counts (repeat for several).
    #[arg(long = "threshold")]
    thresholds: Vec<String>,
    /// Milestones: every multiple of this amount counts.
    #[arg(long)]
    every: Option<String>,
    /// Target achieved: `company` or `branch`.
    #[arg(long)]
    scope: Option<String>,
    /// Target due: a cron expression.
    #[arg(long)]
    schedule: Option<String>,
    /// IANA time zone.
    #[arg(long)]
    timezone: Option<String>,
    /// Message template.
    #[arg(long)]
    template: Option<String>,
    /// Behind pace: `team`, `branch` or `agent`.
    #[arg(long)]
    level: Option<String>,
    /// Behind pace: percent behind expected-by-today (`10`, `12.5`).
    #[arg(long)]
    behind_percent: Option<String>,
    /// Behind pace: the working day of the period it starts on.
    #[arg(long)]
    from_working_day: Option<u32>,
    /// Behind pace, agent level: also tell the agent.
    #[arg(long)]
    notify_agent: bool,
    /// Create it switched off.
    #[arg(long)]
    disabled: bool,
    /// The whole rule as the API's JSON body instead of flags.
    #[arg(long, conflicts_with_all = ["name", "kind", "period", "thresholds", "every", "scope", "schedule", "timezone", "template", "level", "behind_percent", "from_working_day", "notify_agent", "disabled"])]
    json: Option<String>,
    #[command(flatten)]
    common: CommonArgs,
}

impl AddRule {
    fn spec(&self) -> anyhow::Result<RuleSpec> {
        if let Some(raw) = &self.json {
            return serde_json::from_str(raw)
                .context("--json is not a rule body (see POST /api/v1/notifications/rules)");
        }
        let text = |v: &Option<String>| v.as_ref().map(|s| serde_json::Value::from(s.as_str()));
        Ok(RuleSpec {
            name: self.name.clone(),
            kind: self.kind.clone(),
            enabled: self.disabled.then_some(false),
            period: self.period.clone(),
            thresholds: (!self.thresholds.is_empty())
                .then(|| self.thresholds.iter().map(|t| serde_json::Value::from(t.as_str())).collect()),
            every: text(&self.every),
            scope: self.scope.clone(),
            schedule: self.schedule.clone(),
            timezone: self.timezone.clone(),
            template: self.template.clone(),
            level: self.level.clone(),
            behind_percent: text(&self.behind_percent),
            from_working_day: self.from_working_day,
            notify_agent: self.notify_agent.then_some(true),
        })
    }
}

/// `moon digests` subcommands.
#[derive(Debug, Subcommand)]
pub enum DigestsCommand {
    /// Send the digests that are due and not yet sent, once (a server's job does this on its
    /// own; this is for operators and the demo). Mails are queued in the outbox, which a
    /// running `moon serve` (notification target) sends.
    Run {
        /// Act as if it were this moment (RFC 3339, such as 2026-12-07T09:00:00+05:30) instead
        /// of now: for checking what a schedule would send.
        #[arg(long)]
        at: Option<String>,
        #[command(flatten)]
        common: CommonArgs,
    },
}

fn describe(r: &Rule) -> String {
    let watch = match &r.pace {
        Some(p) => format!("{} more than {}.{:02} % behind", p.level.as_str(), p.behind_bp / 100, p.behind_bp % 100),
        None => match r.kind.as_str() {
            "milestone" => {
                let t: Vec<String> = r.thresholds.iter().map(ToString::to_string).collect();
                format!("thresholds {}", t.join(", "))
            }
            "target_due" => format!("schedule {}", r.schedule.as_deref().unwrap_or("-")),
            _ => format!("scope {}", r.scope.as_str()),
        },
    };
    format!(
        "{:>4}  {:<28} {:<16} {:<8} {:<8} {}",
        r.id,
        r.name,
        r.kind.as_str(),
        if r.enabled { "enabled" } else { "disabled" },
        r.period.as_str(),
        watch
    )
}

async fn all_rules(db: &moon_db::Db) -> anyhow::Result<Vec<Rule>> {
    let mut tx = db.begin().await?;
    let rules = moon_server::notifications::rules_api::load(&mut tx).await?;
    tx.rollback().await?;
    Ok(rules)
}

/// Runs `moon rules …`.
pub async fn rules(cmd: RulesCommand) -> anyhow::Result<()> {
    let common = match &cmd {
        RulesCommand::List { common, .. } | RulesCommand::Remove { common, .. } => common.clone(),
        RulesCommand::Add(add) => add.common.clone(),
    };
    let config = settings::resolve(&ServeArgs::from(common))?;
    let db = moon_server::app::open_database(&config).await?;
    let operator = Principal::operator();
    let result = async {
        match cmd {
            RulesCommand::List { json, .. } => {
                let rules = all_rules(&db).await?;
                if json {
                    println!("{}", serde_json::to_string_pretty(&rules)?);
                } else {
                    for r in &rules {
                        println!("{}", describe(r));
                    }
                }
                Ok(())
            }
            RulesCommand::Add(add) => {
                let spec = add.spec()?;
                let timezone = &config.notifications.timezone;
                let rule = moon_server::notifications::service::create_rule(&db, &operator, &spec, timezone)
                    .await
                    .map_err(problem)?;
                println!("{}", describe(&rule));
                Ok(())
            }
            RulesCommand::Remove { rule, .. } => {
                let id = match rule.parse::<i64>() {
                    Ok(id) => id,
                    Err(_) => all_rules(&db)
                        .await?
                        .into_iter()
                        .find(|r| r.name == rule)
                        .map(|r| r.id)
                        .with_context(|| format!("no rule named {rule:?}"))?,
                };
                moon_server::notifications::service::delete_rule(&db, &operator, id).await.map_err(problem)?;
                eprintln!("rule {id} removed");
                Ok(())
            }
        }
    }
    .await;
    db.close().await;
    result
}

/// Runs `moon digests …`.
pub async fn digests(cmd: DigestsCommand) -> anyhow::Result<()> {
    let DigestsCommand::Run { at, common } = cmd;
    let now = match at.as_deref() {
        Some(raw) => chrono::DateTime::parse_from_rfc3339(raw)
            .with_context(|| format!("--at {raw:?} is not an RFC 3339 time such as 2026-12-07T09:00:00+05:30"))?
            .with_timezone(&chrono::Utc),
        None => chrono::Utc::now(),
    };
    let config = settings::resolve(&ServeArgs::from(common))?;
    let db = moon_server::app::open_database(&config).await?;
    let result = async {
        let warehouse = moon_server::app::open_warehouse(&config).await?;
        let auth = moon_server::auth::AuthState::load(&db, &config.security, moon_server::app::branch_check()).await?;
        let key = auth.key(&db).await?;
        let inputs = moon_server::digest_job::Inputs::from_config(&config, db.clone(), warehouse);
        let sent = moon_server::digest_job::run_due(&inputs, key, now).await;
        inputs.warehouse.db.close().await;
        let sent = sent?;
        eprintln!(
            "{sent} digest(s) sent to inboxes{}",
            if config.notifications.smtp.is_some() { "; their mails are queued for the delivery loop" } else { "" }
        );
        Ok(())
    }
    .await;
    db.close().await;
    result
}
