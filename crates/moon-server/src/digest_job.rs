//! The scheduled-digest job: the wiring's bridge between the performance figures (Kpi) and the
//! digests (Notification), which must not know each other (docs/architecture.json), in the
//! shape of the behind-pace alerts (`crate::pace_alerts`).
//!
//! On each step it asks the notification component which digests are due
//! ([`crate::notifications::digests::store::due`]), computes each one's figures with the
//! performance service *as its recipient* (so a manager's digest holds exactly what their
//! performance page shows: their branch's teams and agents; an agent's, their own targets; an
//! admin's, the company by branch) and hands them as plain [`Content`] to
//! [`crate::notifications::digests::store::deliver`], which claims the slot once and writes.
//! Why here: docs/adr/0021-scheduled-digests.md.

use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use moon_analytics::Warehouse;
use moon_db::Db;
use moon_domain::{Bands, BusinessCalendar, PeriodKind};
use moon_http::{Principal, Role, Scope};

use crate::agents::org::model::fold;
use crate::auth::crypto::SealingKey;
use crate::notifications::digests::DigestSettings;
use crate::notifications::digests::content::{Content, Line};
use crate::notifications::digests::store::{self, Audience};
use crate::notifications::digests::token;
use crate::notifications::pipeline::{Channels, Recipient};
use crate::performance::service::{Context, Question, Row, drill};
use crate::sales_targets::model::{ScopeKind, Subject};

/// What a digest run needs: both databases, the calendar, bands and minimum group size the
/// figures use, the channels, the defaults, and where the unsubscribe link points.
pub struct Inputs {
    /// Operational database.
    pub db: Db,
    /// The warehouse the figures sum.
    pub warehouse: Warehouse,
    /// Business calendar (zone, fiscal year, working days).
    pub calendar: BusinessCalendar,
    /// Attainment bands.
    pub bands: Bands,
    /// Minimum group size of figures that could single out a person.
    pub min_group: u32,
    /// Outgoing channels of this process.
    pub channels: Channels,
    /// Role defaults and the link address.
    pub settings: Arc<DigestSettings>,
    /// The server's address for links, without a trailing slash.
    pub base_url: String,
}

impl Inputs {
    /// The inputs of a server or CLI run with `config`: the link address is
    /// `notifications.digests.public_url`, else `http://` and the listen address.
    pub fn from_config(config: &crate::Config, db: Db, warehouse: Warehouse) -> Self {
        let settings = Arc::new(config.notifications.digests.clone());
        let base_url = settings
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", config.listen))
            .trim_end_matches('/')
            .to_owned();
        Self {
            db,
            warehouse,
            calendar: config.business,
            bands: config.target_bands.clone(),
            min_group: config.min_group_size,
            channels: Channels { email: config.notifications.smtp.is_some(), zone: config.business.zone },
            settings,
            base_url,
        }
    }
}

/// Sends every digest due at `now` that no one sent yet; returns how many were written.
pub async fn run_due(inputs: &Inputs, key: &SealingKey, now: DateTime<Utc>) -> anyhow::Result<usize> {
    use anyhow::Context as _;
    let due = store::due(&inputs.db, &inputs.settings, inputs.calendar.zone, now)
        .await
        .context("cannot list the digests due")?;
    let today = inputs.calendar.today(now);
    let mut written = 0;
    for d in due {
        let content = compose(inputs, d.recipient, &d.audience, today)
            .await
            .with_context(|| format!("cannot compute the digest of {}", d.recipient.key()))?;
        let link =
            |claim_key: &str| format!("{}/unsubscribe/digest?token={}", inputs.base_url, token::sign(key, claim_key));
        if store::deliver(&inputs.db, inputs.channels, &d, &content, link).await.context("cannot write a digest")? {
            written += 1;
        }
    }
    Ok(written)
}

fn line(row: &Row) -> Line {
    let f = &row.figures;
    Line {
        name: row.name.clone(),
        actual_cents: f.actual.cents(),
        target_cents: f.target.map(|m| m.cents()),
        attainment_pct: f.attainment_pct.map(|d| format!("{d:.2}")),
        expected_cents: f.expected_by_today.map(|m| m.cents()),
        projected_cents: f.projected.cents(),
        status: f.status.as_str().to_owned(),
        movement: row.rank.movement,
    }
}

/// The ones that climbed most (up to three), and those behind, furthest first.
fn movers_and_behind(rows: &[Row]) -> (Vec<Line>, Vec<Line>) {
    let mut climbed: Vec<&Row> = rows.iter().filter(|r| r.rank.movement > 0).collect();
    climbed.sort_by(|a, b| b.rank.movement.cmp(&a.rank.movement).then_with(|| a.name.cmp(&b.name)));
    let mut behind: Vec<&Row> =
        rows.iter().filter(|r| r.figures.status == moon_domain::performance::PaceStatus::Behind).collect();
    behind.sort_by_key(|r| r.figures.gap_to_pace.map_or(0, |g| g.cents()));
    (climbed.into_iter().take(3).map(line).collect(), behind.into_iter().map(line).collect())
}

/// The figures of one digest, computed as its recipient may see them.
async fn compose(inputs: &Inputs, to: Recipient, audience: &Audience, today: NaiveDate) -> anyhow::Result<Content> {
    let period = inputs.calendar.fiscal.period(PeriodKind::Month, today);
    let ctx = Context {
        db: &inputs.db,
        warehouse: &inputs.warehouse,
        calendar: &inputs.calendar,
        bands: &inputs.bands,
        min_group: inputs.min_group,
        today,
    };
    let ask = |level: ScopeKind, branch: Option<String>| Question {
        level,
        region: None,
        branch,
        team: None,
        period,
        subject: Subject::All,
        only: None,
    };
    let user_id = match to {
        Recipient::User(u) => Some(u),
        Recipient::Agent(_) => None,
    };
    let mut content =
        Content { period: inputs.calendar.fiscal.label(period), as_of: today.to_string(), ..Content::default() };
    match audience {
        Audience::Company => {
            let admin = Principal { user_id, ..Principal::operator() };
            let company = drill(&ctx, &admin, &ask(ScopeKind::Company, None)).await?;
            let mut branches = drill(&ctx, &admin, &ask(ScopeKind::Branch, None)).await?.rows;
            branches.sort_by(|a, b| a.name.cmp(&b.name));
            let (movers, behind) = movers_and_behind(&branches);
            content.scope = String::from("the company");
            content.summary = company.rows.first().map(line);
            content.units_heading = String::from("Branches");
            content.units = branches.iter().map(line).collect();
            content.movers = movers;
            content.behind = behind;
        }
        Audience::Branch(branch) => {
            let manager = Principal {
                id: user_id.map_or_else(|| String::from("digest"), |u| format!("user:{u}")),
                role: Role::Manager,
                scope: Scope::Branch(branch.clone()),
                user_id,
                origin: moon_http::principal::Origin::default(),
            };
            let own = drill(&ctx, &manager, &ask(ScopeKind::Branch, Some(branch.clone()))).await?;
            let mut teams = drill(&ctx, &manager, &ask(ScopeKind::Team, Some(branch.clone()))).await?.rows;
            teams.sort_by(|a, b| a.name.cmp(&b.name));
            let agents = drill(&ctx, &manager, &ask(ScopeKind::Agent, Some(branch.clone()))).await?.rows;
            let (movers, _) = movers_and_behind(&agents);
            let (_, mut behind) = movers_and_behind(&teams);
            behind.extend(movers_and_behind(&agents).1);
            content.summary = own.rows.iter().find(|r| fold(&r.key) == fold(branch)).map(line);
            content.scope = own.rows.first().map_or_else(|| branch.clone(), |r| r.name.clone());
            content.units_heading = String::from("Teams");
            content.units = teams.iter().map(line).collect();
            content.movers = movers;
            content.behind = behind;
        }
        Audience::Agent { id, code, branch } => {
            let agent = Principal {
                id: format!("agent:{id}"),
                role: Role::Agent,
                scope: Scope::Agent(*id),
                user_id: None,
                origin: moon_http::principal::Origin::default(),
            };
            let rows = drill(&ctx, &agent, &ask(ScopeKind::Agent, Some(branch.clone()))).await?.rows;
            content.scope = String::from("your targets");
            content.summary = rows.iter().find(|r| r.named && fold(&r.key) == fold(code)).map(line);
        }
    }
    Ok(content)
}

/// The digests as a background job: each step sends what is due now; `after_commit(n)` is told
/// how many were written.
pub struct DigestJob<F> {
    inputs: Inputs,
    auth: Arc<crate::auth::AuthState>,
    after_commit: F,
    /// Whether the first step has passed. The first step, right at start, sends nothing: the
    /// warehouse catches up with the change log within its first refreshes, and a digest due
    /// while the process was down should carry today's figures, not a half-loaded warehouse's.
    warmed: bool,
}

impl<F: Fn(usize) + Send + Sync + 'static> DigestJob<F> {
    /// A job over `inputs`; the unsubscribe links are signed with `auth`'s key.
    pub fn new(inputs: Inputs, auth: Arc<crate::auth::AuthState>, after_commit: F) -> Self {
        Self { inputs, auth, after_commit, warmed: false }
    }
}

impl<F: Fn(usize) + Send + Sync + 'static> moon_jobs::Job for DigestJob<F> {
    async fn step(&mut self) -> anyhow::Result<moon_jobs::Step> {
        use anyhow::Context as _;
        if !self.warmed {
            self.warmed = true;
            return Ok(moon_jobs::Step::Idle);
        }
        let key = self.auth.key(&self.inputs.db).await.context("the secret key is unavailable for digest links")?;
        let n = run_due(&self.inputs, key, Utc::now()).await.context("scheduled digests failed")?;
        if n > 0 {
            tracing::info!(digests = n, "scheduled digests sent");
            (self.after_commit)(n);
        }
        Ok(moon_jobs::Step::Idle)
    }
}
