//! Performance figures for the children of one level of the organisation: the units (or agents)
//! listed from the organisation and its membership history, so one that sold nothing is a row of
//! zeros; their sales summed from the warehouse's daily cells in three period ranges (this one,
//! the previous one, the same one last year); their targets; and who may see which names.

use std::collections::{BTreeSet, HashMap};

use chrono::NaiveDate;
use moon_analytics::Warehouse;
use moon_analytics::kpi::scoped::{self, By, CellScope, Sums};
use moon_db::Db;
use moon_domain::performance::{self, Comparison, Days, Figures, PaceStatus, Rank};
use moon_domain::{Bands, BusinessCalendar, Period};
use moon_http::{Principal, Role, Scope};
use serde::Serialize;

use super::repo;
use crate::agents::org::model::fold;
use crate::error::{Error, Result};
use crate::sales_targets::model::{ScopeKind, Subject};

/// What a drill-down (or a single scope) asks for, validated.
#[derive(Debug, Clone)]
pub struct Question {
    /// The level whose units are listed.
    pub level: ScopeKind,
    /// Only units under this region (branch level), branch (team and agent levels) or team
    /// (agent level).
    pub region: Option<String>,
    /// See `region`.
    pub branch: Option<String>,
    /// See `region`.
    pub team: Option<String>,
    /// The fiscal period.
    pub period: Period,
    /// All products, one product or one line.
    pub subject: Subject,
    /// Only this unit's row (folded code; an agent's code): the single-scope route. Every unit
    /// of the level is still summed, for the rank.
    pub only: Option<String>,
}

/// One unit's (or agent's) figures.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Row {
    /// Place in the sorted list, from 1 (the paging cursor).
    pub position: i64,
    /// company, region, branch, team or agent.
    pub level: ScopeKind,
    /// The unit's code; an agent's code when the caller may see the agent's name, else the
    /// pseudonym.
    pub key: String,
    /// The unit's name; an agent's name, or their pseudonym when the caller may not see it.
    pub name: String,
    /// Whether `name` is a person's real name.
    pub named: bool,
    /// The figures for the period.
    pub figures: Figures,
    /// Against the previous period: the whole of it once this period is over; while it runs,
    /// up to the same working day, pro-rated (`to_working_day`), so that "improvement" is fair
    /// mid-month.
    pub previous: Comparison,
    /// Against the same period a year earlier.
    pub last_year: Comparison,
    /// Rank by actual among the listed units, and its movement since the previous period.
    pub rank: Rank,
    /// The next level down for this unit, or (for an agent the caller may identify) the sales.
    pub drill: Option<String>,
}

/// A listing: the rows the caller may see, and how many were withheld because fewer agents than
/// the minimum group size stand behind them.
#[derive(Debug, Clone)]
pub struct Listing {
    /// Rows, unsorted.
    pub rows: Vec<Row>,
    /// Withheld rows.
    pub suppressed: usize,
}

/// What the figures need besides the question.
pub struct Context<'a> {
    /// Operational database (organisation, agents, targets, holidays).
    pub db: &'a Db,
    /// The warehouse (sales).
    pub warehouse: &'a Warehouse,
    /// Zone, fiscal year, working week.
    pub calendar: &'a BusinessCalendar,
    /// Attainment bands.
    pub bands: &'a Bands,
    /// The smallest group a figure may stand for.
    pub min_group: u32,
    /// The business date.
    pub today: NaiveDate,
}

/// One listed unit before its figures: key (code or agent id), display name, the agents who
/// belonged to it during the period, and (for agents) the home branch that decides who may see
/// the name.
struct Unit {
    key: String,
    name: String,
    members: BTreeSet<i64>,
    agent: Option<repo::AgentRow>,
}

fn by_level(level: ScopeKind) -> Option<By> {
    match level {
        ScopeKind::Company | ScopeKind::Region | ScopeKind::Branch => Some(By::Branch),
        ScopeKind::Team => Some(By::Team),
        ScopeKind::Agent => Some(By::Agent),
    }
}

/// Whether the caller may see the names (and individual figures) of the agents of a branch.
pub fn sees_names_in(principal: &Principal, branch: &str) -> bool {
    match (&principal.role, &principal.scope) {
        (Role::Admin, Scope::All) => true,
        // A branch's wallboard screen shows the names its manager would see there.
        (Role::Manager | Role::Wallboard, Scope::Branch(b)) => fold(b) == fold(branch),
        _ => false,
    }
}

/// Whether the caller may see this agent's name: admins always, a manager for the agents of
/// their branch (their home branch during the figures' period when it was looked up, else
/// their current one), an agent their own and those of agents who agreed to show it to peers;
/// analysts never.
pub fn sees_name(principal: &Principal, agent: &repo::AgentRow) -> bool {
    match &principal.scope {
        Scope::Agent(id) => principal.role == Role::Agent && (*id == agent.id || agent.show_name_to_peers),
        _ if agent.period_branches.is_empty() => sees_names_in(principal, &agent.branch),
        _ => agent.period_branches.iter().any(|b| sees_names_in(principal, b)),
    }
}

/// Each agent's home branches during the period, from the memberships read for it.
fn branches_by_agent(memberships: &[(i64, String, String)]) -> HashMap<i64, Vec<String>> {
    let mut out: HashMap<i64, Vec<String>> = HashMap::new();
    for (id, branch, _) in memberships {
        let list = out.entry(*id).or_default();
        if !list.contains(branch) {
            list.push(branch.clone());
        }
    }
    out
}

/// The units of `q.level` under the parent, with the agents who belonged to each during the
/// period, and the cells their figures sum.
async fn units(ctx: &Context<'_>, q: &Question) -> Result<(Vec<Unit>, CellScope)> {
    let memberships = repo::members(ctx.db, q.period, None).await?;
    let mut cells = CellScope::default();
    match &q.subject {
        Subject::All => {}
        Subject::Product(id) => cells.product_id = Some(*id),
        Subject::Line(l) => cells.product_line = Some(l.clone()),
    }
    let branches = repo::units(ctx.db, "branch").await?;
    let in_region = |region: &str| -> Vec<String> {
        branches
            .iter()
            .filter(|b| b.region.as_deref().is_some_and(|r| fold(r) == fold(region)))
            .map(|b| b.code.clone())
            .collect()
    };
    if let Some(r) = &q.region {
        cells.branches = Some(in_region(r));
    }
    if let Some(b) = &q.branch {
        cells.branches = Some(vec![b.clone()]);
    }
    cells.team.clone_from(&q.team);
    // The agents who belonged to each branch (or team, `by_team`) under the parent.
    let member_of = |by_team: bool| -> HashMap<String, BTreeSet<i64>> {
        let mut out: HashMap<String, BTreeSet<i64>> = HashMap::new();
        for m in &memberships {
            let in_branches = cells.branches.as_ref().is_none_or(|bs| bs.iter().any(|b| fold(b) == fold(&m.1)));
            let in_team = q.team.as_ref().is_none_or(|t| fold(t) == fold(&m.2));
            if in_branches && in_team {
                let k = if by_team { &m.2 } else { &m.1 };
                out.entry(fold(k)).or_default().insert(m.0);
            }
        }
        out
    };
    let units = match q.level {
        ScopeKind::Company => {
            let all: BTreeSet<i64> = memberships.iter().map(|m| m.0).collect();
            vec![Unit { key: String::new(), name: String::from("Company"), members: all, agent: None }]
        }
        ScopeKind::Region => {
            let by_branch = member_of(false);
            repo::units(ctx.db, "region")
                .await?
                .into_iter()
                .map(|r| {
                    let members =
                        in_region(&r.code).iter().filter_map(|b| by_branch.get(&fold(b))).flatten().copied().collect();
                    Unit { key: r.code, name: r.name, members, agent: None }
                })
                .collect()
        }
        ScopeKind::Branch => {
            let by_branch = member_of(false);
            branches
                .iter()
                .filter(|b| cells.branches.as_ref().is_none_or(|bs| bs.contains(&b.code)))
                .map(|b| Unit {
                    key: b.code.clone(),
                    name: b.name.clone(),
                    members: by_branch.get(&fold(&b.code)).cloned().unwrap_or_default(),
                    agent: None,
                })
                .collect()
        }
        ScopeKind::Team => {
            let by_team = member_of(true);
            repo::units(ctx.db, "team")
                .await?
                .into_iter()
                // Under a branch or region: the teams that had members there during the period.
                .filter(|t| {
                    q.team.as_ref().is_none_or(|k| fold(k) == fold(&t.code))
                        && (cells.branches.is_none() || by_team.contains_key(&fold(&t.code)))
                })
                .map(|t| {
                    let members = by_team.get(&fold(&t.code)).cloned().unwrap_or_default();
                    Unit { key: t.code, name: t.name, members, agent: None }
                })
                .collect()
        }
        ScopeKind::Agent => {
            let ids: BTreeSet<i64> = member_of(false).into_values().flatten().collect();
            let ids: Vec<i64> = ids.into_iter().collect();
            let mut branches = branches_by_agent(&memberships);
            repo::agents(ctx.db, &ids)
                .await?
                .into_iter()
                .map(|mut a| {
                    a.period_branches = branches.remove(&a.id).unwrap_or_default();
                    a
                })
                .map(|a| Unit {
                    key: a.id.to_string(),
                    name: a.name.clone(),
                    members: BTreeSet::from([a.id]),
                    agent: Some(a),
                })
                .collect()
        }
    };
    Ok((units, cells))
}

/// What every range of one request shares: the cells summed, how they are grouped, the region
/// of each branch (at the region level) and the warehouse's last day with a sale.
struct Sums3<'a> {
    q: &'a Question,
    cells: &'a CellScope,
    region_of: HashMap<String, String>,
    last_day: Option<NaiveDate>,
}

impl Sums3<'_> {
    /// The sums per unit for one range: by branch, team or agent, then folded into the units (a
    /// region adds its branches; the company is one total).
    async fn per_unit(&self, db: &Db, from: NaiveDate, to: NaiveDate) -> Result<HashMap<String, Sums>> {
        let q = self.q;
        if q.level == ScopeKind::Company {
            let t = scoped::total(db, self.cells, from, to, self.last_day).await?;
            return Ok(HashMap::from([(String::new(), t)]));
        }
        let by = by_level(q.level).unwrap_or(By::Branch);
        let rows = scoped::grouped(db, self.cells, (from, to), self.last_day, by).await?;
        let mut out: HashMap<String, Sums> = HashMap::new();
        for s in rows {
            let key = if q.level == ScopeKind::Region {
                match self.region_of.get(&fold(&s.key)) {
                    Some(r) => r.clone(),
                    None => continue,
                }
            } else if q.level == ScopeKind::Agent {
                s.key.clone()
            } else {
                fold(&s.key)
            };
            let e = out.entry(key).or_insert(Sums { key: String::new(), count: 0, cents: 0, agents: 0 });
            e.count += s.count;
            e.cents += s.cents;
            e.agents += s.agents;
        }
        Ok(out)
    }
}

fn unit_key(level: ScopeKind, key: &str) -> String {
    if level == ScopeKind::Agent { key.to_owned() } else { fold(key) }
}

/// Lists the units of one level with their figures, as `principal` may see them.
pub async fn drill(ctx: &Context<'_>, principal: &Principal, q: &Question) -> Result<Listing> {
    let (units, cells) = units(ctx, q).await?;
    let prev = q.period.previous();
    let last_year = q.period.same_period_last_year();
    let region_of: HashMap<String, String> = if q.level == ScopeKind::Region {
        repo::units(ctx.db, "branch")
            .await?
            .into_iter()
            .filter_map(|b| b.region.map(|r| (fold(&b.code), fold(&r))))
            .collect()
    } else {
        HashMap::new()
    };
    let wh = &ctx.warehouse.db;
    let sums = Sums3 { q, cells: &cells, region_of, last_day: scoped::last_sale_day(wh).await? };
    let now_sums = sums.per_unit(wh, q.period.start(), q.period.end().min(ctx.today)).await?;
    let prev_sums = sums.per_unit(wh, prev.start(), prev.end()).await?;
    let ly_sums = sums.per_unit(wh, last_year.start(), last_year.end()).await?;
    // The previous period's holidays too: a running period compares with it up to the same
    // working day.
    let holidays = crate::calendar::repo::dates(ctx.db, prev.start(), q.period.end()).await?;
    let days = Days::of(ctx.calendar, q.period, ctx.today, &holidays);
    let prev_to_date = performance::ToDate::of(days, Days::of(ctx.calendar, prev, prev.end(), &holidays));
    let target_keys = |level: ScopeKind| -> Vec<String> {
        units
            .iter()
            .map(|u| match (&u.agent, level) {
                (Some(a), ScopeKind::Agent) => fold(&a.code),
                _ => fold(&u.key),
            })
            .collect()
    };
    let keys = target_keys(q.level);
    let targets = repo::targets(ctx.db, q.level, &q.subject, q.period).await?;
    let prev_targets = repo::targets(ctx.db, q.level, &q.subject, prev).await?;
    let ly_targets = repo::targets(ctx.db, q.level, &q.subject, last_year).await?;
    let wanted = |i: usize| q.only.as_ref().is_none_or(|k| *k == keys[i]);
    let pseudonyms: HashMap<i64, String> = if q.level == ScopeKind::Agent {
        // Only for the agents listed whose names the caller may not see.
        let ids: Vec<i64> = (0..units.len())
            .filter(|&i| wanted(i))
            .filter_map(|i| units[i].agent.as_ref().filter(|a| !sees_name(principal, a)).map(|a| a.id))
            .collect();
        scoped::pseudonyms(&ctx.warehouse.db, &ids).await?.into_iter().collect()
    } else {
        HashMap::new()
    };
    let cents = |m: &HashMap<String, Sums>, u: &Unit| m.get(&unit_key(q.level, &u.key)).map_or(0, |s| s.cents);
    let now: Vec<i64> = units.iter().map(|u| cents(&now_sums, u)).collect();
    let before: Vec<i64> = units.iter().map(|u| cents(&prev_sums, u)).collect();
    let ranks = performance::rank_movement(&now, &before);
    let min = i64::from(ctx.min_group.max(1));
    let admin = principal.role == Role::Admin && principal.scope == Scope::All;
    let mut rows = Vec::with_capacity(units.len());
    let mut suppressed = 0;
    let label = |p: Period| ctx.calendar.fiscal.label(p);
    for (i, u) in units.iter().enumerate() {
        if !wanted(i) {
            continue;
        }
        let target = targets.get(&keys[i]).copied();
        let now_s = now_sums.get(&unit_key(q.level, &u.key));
        let f = performance::figures(
            now[i],
            now_s.map_or(0, |s| s.count),
            target.map(|t| t.0),
            target.and_then(|t| t.1),
            days,
            ctx.bands,
        );
        let previous = performance::compare_to_date(
            label(prev),
            now[i],
            f.attainment_pct,
            before[i],
            prev_targets.get(&keys[i]).map(|t| t.0),
            prev_to_date,
        );
        let ly = performance::compare(
            label(last_year),
            now[i],
            f.attainment_pct,
            cents(&ly_sums, u),
            ly_targets.get(&keys[i]).map(|t| t.0),
        );
        let (key, name, named, drill) = match &u.agent {
            Some(a) if sees_name(principal, a) => (
                a.code.clone(),
                a.name.clone(),
                true,
                Some(format!("/api/v1/sales?agent_id={}&from={}&to={}", a.id, q.period.start(), q.period.end())),
            ),
            Some(a) => match pseudonyms.get(&a.id) {
                Some(p) => (p.clone(), p.clone(), false, None),
                // No pseudonym: the agent has not agreed to per-agent analytics.
                None => {
                    suppressed += 1;
                    continue;
                }
            },
            None => (u.key.clone(), u.name.clone(), false, next_level(q, &u.key)),
        };
        // A figure that could single out a person: fewer agents than the minimum behind a unit
        // (or behind the list of pseudonymous agents), unless the caller may see those agents
        // anyway.
        let behind = i64::try_from(u.members.len()).unwrap_or(i64::MAX).max(now_s.map_or(0, |s| s.agents));
        let exempt = admin
            || match q.level {
                ScopeKind::Agent => named,
                ScopeKind::Branch => sees_names_in(principal, &u.key),
                ScopeKind::Team => q.branch.as_deref().is_some_and(|b| sees_names_in(principal, b)),
                _ => false,
            };
        let group = if q.level == ScopeKind::Agent { i64::try_from(units.len()).unwrap_or(0) } else { behind };
        if min > 1 && !exempt && group < min {
            suppressed += 1;
            continue;
        }
        rows.push(Row {
            position: 0,
            level: q.level,
            key,
            name,
            named,
            figures: f,
            previous,
            last_year: ly,
            rank: ranks[i],
            drill,
        });
    }
    Ok(Listing { rows, suppressed })
}

/// The drill-down one level below a unit.
fn next_level(q: &Question, key: &str) -> Option<String> {
    let period = q.period.start();
    let kind = q.period.kind().as_str();
    let enc = |s: &str| s.replace('%', "%25").replace('&', "%26").replace(' ', "%20").replace('#', "%23");
    let down = match q.level {
        ScopeKind::Company => String::from("level=region"),
        ScopeKind::Region => format!("level=branch&region={}", enc(key)),
        ScopeKind::Branch => format!("level=team&branch={}", enc(key)),
        ScopeKind::Team => format!("level=agent&team={}", enc(key)),
        ScopeKind::Agent => return None,
    };
    Some(format!("/api/v1/performance/drill?{down}&period={kind}:{period}"))
}

/// Keeps the rows of a status: `behind`, `ahead` (at or above pace, achieved included),
/// `achieved`, `no_target` or `all`.
pub fn keep(status: Option<PaceStatus>, ahead: bool, row: &Row) -> bool {
    match (status, ahead) {
        (_, true) => matches!(row.figures.status, PaceStatus::Ahead | PaceStatus::Achieved),
        (Some(s), false) => row.figures.status == s,
        (None, false) => true,
    }
}

/// How a listing is sorted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortBy {
    /// Furthest behind pace first (gap to pace ascending); units without target last.
    Gap,
    /// Highest attainment first.
    Attainment,
    /// Highest actual first.
    Actual,
    /// Rank (the same as actual, ties by key).
    Rank,
    /// Largest increase over the previous period first.
    Improvement,
    /// Alphabetically by name.
    Name,
}

/// Sorts rows and numbers their positions.
pub fn sort(rows: &mut [Row], by: SortBy) {
    let key_tie = |a: &Row, b: &Row| a.key.cmp(&b.key);
    rows.sort_by(|a, b| {
        let o = match by {
            SortBy::Gap => match (a.figures.gap_to_pace, b.figures.gap_to_pace) {
                (Some(x), Some(y)) => x.cents().cmp(&y.cents()),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (None, None) => std::cmp::Ordering::Equal,
            },
            SortBy::Attainment => b.figures.attainment_pct.cmp(&a.figures.attainment_pct),
            SortBy::Actual | SortBy::Rank => b.figures.actual.cents().cmp(&a.figures.actual.cents()),
            SortBy::Improvement => b.previous.delta.cents().cmp(&a.previous.delta.cents()),
            SortBy::Name => a.name.cmp(&b.name),
        };
        o.then_with(|| key_tie(a, b))
    });
    for (i, r) in rows.iter_mut().enumerate() {
        r.position = i64::try_from(i).unwrap_or(i64::MAX) + 1;
    }
}

/// A unit of the organisation by code or name, or an agent by code, resolved to the key figures
/// use; an unknown one is an error that lists what exists.
pub async fn resolve(db: &Db, kind: ScopeKind, field: &str, reference: &str) -> Result<String> {
    let kind_name = kind.as_str();
    if kind == ScopeKind::Agent {
        return match repo::agent_by_code(db, reference).await? {
            Some(a) => Ok(a.code),
            None => Err(Error::field(moon_domain::FieldError::new(
                field,
                "unknown_agent",
                format!("no agent with code {reference:?}"),
            ))),
        };
    }
    let Some(unit_kind) = kind.unit_kind() else {
        return Err(Error::field(moon_domain::FieldError::new(
            field,
            "not_allowed",
            format!("the {kind_name} has no key"),
        )));
    };
    let mut tx = db.begin().await?;
    let unit = crate::agents::org::service::lookup_any(&mut tx, unit_kind, field, reference).await?;
    Ok(unit.map_err(Error::field)?.code)
}

/// Refuses a single agent's figures for `period` to a caller who may not see that agent's name
/// then (they would identify the person by the code they asked for).
pub async fn check_agent_visible(db: &Db, principal: &Principal, code: &str, period: Period) -> Result<repo::AgentRow> {
    let agent = match repo::agent_by_code(db, code).await? {
        Some(mut a) => {
            let members = repo::members(db, period, Some(a.id)).await?;
            a.period_branches = branches_by_agent(&members).remove(&a.id).unwrap_or_default();
            Some(a)
        }
        None => None,
    };
    match agent {
        Some(a) if sees_name(principal, &a) => Ok(a),
        _ => Err(Error::forbidden(
            "only administrators, the agent's branch manager and the agent see one agent's figures",
        )),
    }
}
