//! Turning change-log entries into net deltas on the daily rollup, without touching a database.
//!
//! A sale's creation adds one to its day × agent × product × branch cell, its deletion takes one
//! away, and an update does both (the old cell loses what the new one gains). Netting a batch
//! first means a sale edited back and forth a hundred times costs one cell write.

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;

use moon_changelog::{Entry, Event, SaleFacts};

/// One cell of the daily rollup.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FactKey {
    /// Day of the sales.
    pub sale_date: NaiveDate,
    /// Selling agent.
    pub agent_id: i64,
    /// Product sold.
    pub product_id: i64,
    /// Branch credited.
    pub branch: String,
    /// The agent's team on the sale date (a team code). A function of the agent and the day,
    /// decided from the membership history when the cell is written ([`Batch::assign_teams`]);
    /// empty until then.
    pub team: String,
}

/// A count and an amount in cents, added together.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sums {
    /// Number of sales.
    pub count: i64,
    /// Amount in cents.
    pub cents: i64,
}

impl Sums {
    /// Adds `other`.
    pub fn add(&mut self, other: Sums) {
        self.count += other.count;
        self.cents += other.cents;
    }

    /// Whether adding this changes nothing.
    pub fn is_zero(self) -> bool {
        self.count == 0 && self.cents == 0
    }
}

/// What one batch of entries changes.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Batch {
    /// Net change per rollup cell; cells whose changes cancel out are absent.
    pub facts: BTreeMap<FactKey, Sums>,
    /// Agents whose dimension row must be refreshed (named by a sale or changed themselves).
    pub agents: BTreeSet<i64>,
    /// Products whose dimension row must be refreshed.
    pub products: BTreeSet<i64>,
    /// Agents with a change-log entry of their own (not just named by a sale): their
    /// membership history may have changed.
    pub agent_changes: BTreeSet<i64>,
    /// Targets set, changed or deleted in the batch.
    pub targets: BTreeSet<i64>,
    /// A bulk load happened: only a rebuild from the source is correct.
    pub reload: bool,
    /// Id of the last entry in the batch.
    pub last_id: i64,
    /// Entries in the batch.
    pub entries: usize,
}

fn key(s: &SaleFacts) -> FactKey {
    FactKey {
        sale_date: s.sale_date,
        agent_id: s.agent_id,
        product_id: s.product_id,
        branch: s.branch.clone(),
        team: String::new(),
    }
}

impl Batch {
    /// Nets a run of consecutive entries.
    pub fn from_entries(entries: &[Entry]) -> Self {
        let mut b = Batch { entries: entries.len(), ..Batch::default() };
        for e in entries {
            b.last_id = e.id;
            match &e.event {
                Event::Sale { before, after, .. } => {
                    if let Some(s) = before {
                        b.apply(s, -1);
                    }
                    if let Some(s) = after {
                        b.apply(s, 1);
                    }
                }
                Event::Agent { id, .. } => {
                    b.agents.insert(*id);
                    b.agent_changes.insert(*id);
                }
                Event::Product { id, .. } => {
                    b.products.insert(*id);
                }
                Event::Target { id, .. } => {
                    b.targets.insert(*id);
                }
                Event::Reload => b.reload = true,
                // A kind a newer release writes: skipped, its place in the log still counted.
                Event::Unknown { .. } => {}
            }
        }
        b.facts.retain(|_, s| !s.is_zero());
        b
    }

    /// Gives every cell the team its agent had on its day, by `team_on` (the membership
    /// history read for this batch). Cells of one agent, day, product and branch have one team,
    /// so the netting is unchanged. An agent nobody knows any more keeps an empty team, which
    /// `--verify` reports.
    pub fn assign_teams<'a>(&mut self, team_on: impl Fn(i64, NaiveDate) -> Option<&'a str>) {
        self.facts = std::mem::take(&mut self.facts)
            .into_iter()
            .map(|(mut k, s)| {
                k.team = team_on(k.agent_id, k.sale_date).unwrap_or_default().to_owned();
                (k, s)
            })
            .collect();
    }

    fn apply(&mut self, s: &SaleFacts, sign: i64) {
        self.agents.insert(s.agent_id);
        self.products.insert(s.product_id);
        self.facts.entry(key(s)).or_default().add(Sums { count: sign, cents: sign * s.amount_cents });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Datelike, Utc};

    fn sale(agent: i64, product: i64, day: u32, cents: i64) -> SaleFacts {
        SaleFacts {
            agent_id: agent,
            product_id: product,
            branch: String::from("Colombo"),
            sale_date: NaiveDate::from_ymd_opt(2026, 11, day).unwrap(),
            amount_cents: cents,
        }
    }

    fn entry(id: i64, before: Option<SaleFacts>, after: Option<SaleFacts>) -> Entry {
        Entry { id, changed_at: Utc::now(), event: Event::Sale { id: 1, before, after }, trace_context: None }
    }

    #[test]
    fn an_update_moves_the_sale_between_cells() {
        let b = Batch::from_entries(&[
            entry(1, None, Some(sale(1, 1, 2, 500))),
            entry(2, Some(sale(1, 1, 2, 500)), Some(sale(1, 2, 3, 700))),
        ]);
        assert_eq!(b.facts.len(), 1, "the first cell nets to zero: {b:?}");
        assert_eq!(b.facts[&key(&sale(1, 2, 3, 0))], Sums { count: 1, cents: 700 });
        assert_eq!(b.products.len(), 2);
        assert_eq!((b.last_id, b.entries), (2, 2));
    }

    #[test]
    fn cells_take_the_team_of_their_day() {
        let mut b =
            Batch::from_entries(&[entry(1, None, Some(sale(1, 1, 2, 500))), entry(2, None, Some(sale(1, 1, 9, 5)))]);
        b.assign_teams(|_, d| Some(if d.day() < 5 { "OLD" } else { "NEW" }));
        let teams: Vec<&str> = b.facts.keys().map(|k| k.team.as_str()).collect();
        assert_eq!(teams, ["OLD", "NEW"]);
    }

    #[test]
    fn a_deletion_subtracts_and_a_reload_is_flagged() {
        let b = Batch::from_entries(&[
            entry(7, Some(sale(3, 1, 5, 250)), None),
            Entry { id: 8, changed_at: Utc::now(), event: Event::Reload, trace_context: None },
        ]);
        assert_eq!(b.facts[&key(&sale(3, 1, 5, 0))], Sums { count: -1, cents: -250 });
        assert!(b.reload);
    }
}
