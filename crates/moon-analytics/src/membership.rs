//! Who was in which team and home branch when: the agents' membership history as the warehouse
//! reads it, and the one rule that gives a sale its team.
//!
//! A sale counts for the team its agent belonged to *on the sale date* (ADR 0010). The daily
//! cells therefore carry that team, decided when the cell is written (an incremental refresh, a
//! rebuild, `--verify`) from this history, never from the agent's current row: moving an agent
//! from a date leaves every earlier period as it was.

use std::collections::HashMap;

use chrono::NaiveDate;

use crate::dimension::AgentDim;

/// One effective-dated range of an agent's membership: `valid_from` inclusive (`None`: since
/// the agent's records began), `valid_to` exclusive (`None`: current).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Range {
    /// First day, inclusive; `None`: since the start.
    pub valid_from: Option<NaiveDate>,
    /// Day after the last, exclusive; `None`: still current.
    pub valid_to: Option<NaiveDate>,
    /// Team code.
    pub team: String,
    /// Home branch code.
    pub branch: String,
}

impl Range {
    /// Whether `day` falls inside the range.
    pub fn contains(&self, day: NaiveDate) -> bool {
        self.valid_from.is_none_or(|f| f <= day) && self.valid_to.is_none_or(|t| day < t)
    }

    /// Whether this is the agent's current range.
    pub fn is_current(&self) -> bool {
        self.valid_to.is_none()
    }
}

/// The membership ranges of some agents, oldest first per agent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Memberships {
    ranges: HashMap<i64, Vec<Range>>,
}

impl Memberships {
    /// Groups `(agent_id, range)` rows per agent and sorts each agent's ranges (the open start
    /// first).
    pub fn from_rows(rows: impl IntoIterator<Item = (i64, Range)>) -> Self {
        let mut ranges: HashMap<i64, Vec<Range>> = HashMap::new();
        for (agent, r) in rows {
            ranges.entry(agent).or_default().push(r);
        }
        for list in ranges.values_mut() {
            list.sort();
        }
        Self { ranges }
    }

    /// Gives every agent of `agents` without a recorded range one open range with their
    /// current team and branch: agents made before organisation records (or by the previous
    /// release during a rollout) have no history, so their current team is all there is.
    pub fn fill_from<'a>(&mut self, agents: impl IntoIterator<Item = &'a AgentDim>) {
        for a in agents {
            self.ranges.entry(a.agent_id).or_insert_with(|| {
                vec![Range { valid_from: None, valid_to: None, team: a.team.clone(), branch: a.branch.clone() }]
            });
        }
    }

    /// The team `agent` belonged to on `day`. A day no range covers (a gap, which moves do not
    /// make) falls back to the nearest range before it, else the first: a sale is never left
    /// without a team while its agent has one. `None` only for an agent without any range.
    pub fn team_on(&self, agent: i64, day: NaiveDate) -> Option<&str> {
        self.range_on(agent, day).map(|r| r.team.as_str())
    }

    /// The home branch of `agent` on `day`, with the same fallbacks as [`Self::team_on`].
    pub fn branch_on(&self, agent: i64, day: NaiveDate) -> Option<&str> {
        self.range_on(agent, day).map(|r| r.branch.as_str())
    }

    fn range_on(&self, agent: i64, day: NaiveDate) -> Option<&Range> {
        let list = self.ranges.get(&agent)?;
        list.iter()
            .find(|r| r.contains(day))
            .or_else(|| list.iter().rev().find(|r| r.valid_from.is_none_or(|f| f <= day)))
            .or_else(|| list.first())
    }

    /// Every agent's ranges.
    pub fn iter(&self) -> impl Iterator<Item = (i64, &[Range])> {
        self.ranges.iter().map(|(id, list)| (*id, list.as_slice()))
    }

    /// One agent's ranges, oldest first (empty when unknown).
    pub fn of(&self, agent: i64) -> &[Range] {
        self.ranges.get(&agent).map_or(&[], Vec::as_slice)
    }
}

/// The first day on which `a` and `b` put an agent in different teams: `None` when they agree
/// on every day (they may differ in branches only), `Some(None)` when they differ from the very
/// start. The team is constant between the days ranges begin or end, so those days (and the
/// time before all of them) are the only ones to compare.
pub fn first_team_difference(a: &[Range], b: &[Range]) -> Option<Option<NaiveDate>> {
    let team = |ranges: &[Range], day: NaiveDate| -> Option<String> {
        let m = Memberships::from_rows(ranges.iter().cloned().map(|r| (0, r)));
        m.team_on(0, day).map(str::to_owned)
    };
    let mut days: Vec<NaiveDate> = a.iter().chain(b).flat_map(|r| [r.valid_from, r.valid_to]).flatten().collect();
    days.sort_unstable();
    days.dedup();
    let before_all = days.first().and_then(|d| d.pred_opt()).unwrap_or(NaiveDate::MIN);
    if team(a, before_all) != team(b, before_all) {
        return Some(None);
    }
    days.into_iter().find(|d| team(a, *d) != team(b, *d)).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, m, day).unwrap()
    }

    fn range(from: Option<NaiveDate>, to: Option<NaiveDate>, team: &str) -> Range {
        Range { valid_from: from, valid_to: to, team: team.to_owned(), branch: String::from("CMB") }
    }

    #[test]
    fn the_team_on_a_day_is_the_range_that_covers_it() {
        let m =
            Memberships::from_rows([(1, range(Some(d(7, 1)), None, "BETA")), (1, range(None, Some(d(7, 1)), "ALPHA"))]);
        assert_eq!(m.team_on(1, d(1, 1)), Some("ALPHA"));
        assert_eq!(m.team_on(1, d(6, 30)), Some("ALPHA"), "the end is exclusive");
        assert_eq!(m.team_on(1, d(7, 1)), Some("BETA"), "the start is inclusive");
        assert_eq!(m.team_on(1, d(12, 31)), Some("BETA"));
        assert_eq!(m.team_on(2, d(12, 31)), None);
        assert_eq!(m.of(1)[0].team, "ALPHA", "the open start sorts first");
    }

    #[test]
    fn the_first_difference_is_where_re_attribution_starts() {
        let before = [range(None, None, "ALPHA")];
        let moved = [range(None, Some(d(7, 1)), "ALPHA"), range(Some(d(7, 1)), None, "BETA")];
        assert_eq!(first_team_difference(&before, &moved), Some(Some(d(7, 1))));
        assert_eq!(first_team_difference(&moved, &moved), None);
        let branch_only = [
            range(None, Some(d(7, 1)), "ALPHA"),
            Range { valid_from: Some(d(7, 1)), valid_to: None, team: "ALPHA".into(), branch: "KDY".into() },
        ];
        assert_eq!(first_team_difference(&before, &branch_only), None, "a branch move moves no cell");
        assert_eq!(first_team_difference(&before, &[range(None, None, "BETA")]), Some(None));
        let moved_again = [
            range(None, Some(d(7, 1)), "ALPHA"),
            range(Some(d(7, 1)), Some(d(9, 1)), "BETA"),
            range(Some(d(9, 1)), None, "GAMMA"),
        ];
        assert_eq!(first_team_difference(&moved, &moved_again), Some(Some(d(9, 1))));
    }

    #[test]
    fn a_gap_falls_back_to_the_range_before_it() {
        let m = Memberships::from_rows([
            (1, range(Some(d(3, 1)), Some(d(4, 1)), "ALPHA")),
            (1, range(Some(d(5, 1)), None, "BETA")),
        ]);
        assert_eq!(m.team_on(1, d(4, 15)), Some("ALPHA"));
        assert_eq!(m.team_on(1, d(1, 15)), Some("ALPHA"), "before every range: the first");
    }

    #[test]
    fn agents_without_history_keep_their_current_team() {
        let mut m = Memberships::from_rows([(1, range(None, None, "ALPHA"))]);
        let agent = |id: i64, team: &str| AgentDim {
            agent_id: id,
            agent_key: String::from("ag_x"),
            team: team.to_owned(),
            branch: String::from("KDY"),
            active: true,
            analytics_consent: true,
        };
        m.fill_from([&agent(1, "GAMMA"), &agent(2, "DELTA")]);
        assert_eq!(m.team_on(1, d(1, 1)), Some("ALPHA"), "recorded history wins");
        assert_eq!(m.team_on(2, d(1, 1)), Some("DELTA"));
        assert_eq!(m.branch_on(2, d(1, 1)), Some("KDY"));
    }
}
