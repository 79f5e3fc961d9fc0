//! Which key of each rollup a cell's sales count under.
//!
//! Every [`Grouping`] is a function of one of a cell's agent, product, branch or team. So cells
//! are summed once per agent, product, branch and team ([`EntitySums`]), and each rollup is
//! derived from those sums: as they are, or regrouped by an attribute of the product's dimension
//! row (the product line). The team is on the cell itself (the agent's team on the sale date). The same derivation serves an incremental refresh (one
//! batch's net deltas), a rebuild and `--verify` (every cell of a snapshot), so the three cannot
//! disagree about what a rollup means. It also keeps a rebuild to one pass over its cells.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::dimension::{AgentDim, ProductDim};
use crate::refresh::delta::{FactKey, Sums};
use crate::rollups::{Follows, Grouping, RollupKey};
use crate::source::Snapshot;

/// Cells summed per agent, per product, per branch and per team.
#[derive(Debug, Default)]
pub(crate) struct EntitySums {
    agents: BTreeMap<i64, Sums>,
    products: BTreeMap<i64, Sums>,
    branches: BTreeMap<String, Sums>,
    teams: BTreeMap<String, Sums>,
}

/// Adds `s` under `key`, allocating a key only for its first cell.
fn add_at<K: Ord + Clone + std::borrow::Borrow<Q>, Q: Ord + ?Sized + ToOwned<Owned = K>>(
    map: &mut BTreeMap<K, Sums>,
    key: &Q,
    s: Sums,
) {
    match map.get_mut(key) {
        Some(total) => total.add(s),
        None => {
            map.insert(key.to_owned(), s);
        }
    }
}

impl EntitySums {
    /// Sums `cells`.
    pub fn of<'a>(cells: impl IntoIterator<Item = (&'a FactKey, &'a Sums)>) -> Self {
        let mut out = Self::default();
        for (k, s) in cells {
            add_at(&mut out.agents, &k.agent_id, *s);
            add_at(&mut out.products, &k.product_id, *s);
            add_at(&mut out.branches, k.branch.as_str(), *s);
            add_at(&mut out.teams, k.team.as_str(), *s);
        }
        out
    }

    /// The sums of one rollup's keys, an agent's or product's attribute read from `dims`; with
    /// the ids of agents or products that `dims` does not know, whose sales were left out.
    pub fn group(&self, grouping: Grouping, dims: &Dims<'_>) -> (BTreeMap<RollupKey, Sums>, Vec<i64>) {
        let ids = |m: &BTreeMap<i64, Sums>| m.iter().map(|(id, s)| (RollupKey::Id(*id), *s)).collect();
        let grouped = match grouping {
            Grouping::Agent => ids(&self.agents),
            Grouping::Product => ids(&self.products),
            Grouping::Branch => self.branches.iter().map(|(b, s)| (RollupKey::Text(b.clone()), *s)).collect(),
            Grouping::Team => self.teams.iter().map(|(t, s)| (RollupKey::Text(t.clone()), *s)).collect(),
            Grouping::ProductLine => {
                let entities = match grouping.follows() {
                    Some(Follows::Product) => &self.products,
                    _ => &self.agents,
                };
                let mut out: BTreeMap<RollupKey, Sums> = BTreeMap::new();
                let mut unknown = Vec::new();
                for (id, s) in entities {
                    match dims.attribute(grouping, *id) {
                        Some(a) => out.entry(RollupKey::Text(a.to_owned())).or_default().add(*s),
                        None => unknown.push(*id),
                    }
                }
                return (out, unknown);
            }
        };
        (grouped, Vec::new())
    }
}

/// Where an agent's or product's attribute is looked up: in each map in turn, the first that
/// knows the id wins.
#[derive(Debug, Default)]
pub(crate) struct Dims<'a> {
    /// Agent dimension rows.
    pub agents: Vec<&'a HashMap<i64, AgentDim>>,
    /// Product dimension rows.
    pub products: Vec<&'a HashMap<i64, ProductDim>>,
}

impl<'a> Dims<'a> {
    /// The dimension rows of a snapshot.
    pub fn of(s: &'a Snapshot) -> Self {
        Self { agents: vec![&s.agents], products: vec![&s.products] }
    }

    /// The attribute `grouping` reads for the agent or product `id`; `None` when unknown (or
    /// when the grouping reads no dimension).
    pub fn attribute(&self, grouping: Grouping, id: i64) -> Option<&'a str> {
        match grouping {
            Grouping::ProductLine => self.products.iter().find_map(|m| m.get(&id)).map(|p| p.product_type.as_str()),
            Grouping::Agent | Grouping::Product | Grouping::Branch | Grouping::Team => None,
        }
    }

    fn ids(&self, whose: Follows) -> BTreeSet<i64> {
        match whose {
            Follows::Agent => self.agents.iter().flat_map(|m| m.keys()).copied().collect(),
            Follows::Product => self.products.iter().flat_map(|m| m.keys()).copied().collect(),
        }
    }
}

/// An agent or product whose whole history moves from one key of a rollup to another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Move {
    /// The agent or product.
    pub id: i64,
    /// The key its sales were counted under.
    pub from: RollupKey,
    /// The key they count under now.
    pub to: RollupKey,
}

/// The agents or products known to `old` (the warehouse's rows) whose attribute for
/// `grouping` is different in `new` (the source now). One that no longer exists in the source
/// moves nowhere.
pub(crate) fn moves(grouping: Grouping, old: &Dims<'_>, new: &Dims<'_>) -> Vec<Move> {
    let Some(whose) = grouping.follows() else {
        return Vec::new();
    };
    old.ids(whose)
        .into_iter()
        .filter_map(|id| {
            let from = old.attribute(grouping, id)?;
            let to = new.attribute(grouping, id)?;
            (from != to).then(|| Move {
                id,
                from: RollupKey::Text(from.to_owned()),
                to: RollupKey::Text(to.to_owned()),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;

    use super::*;

    fn cell(agent_id: i64, product_id: i64, branch: &str, count: i64, cents: i64) -> (FactKey, Sums) {
        let sale_date = NaiveDate::from_ymd_opt(2026, 11, 2).unwrap();
        let team = String::from("Alpha");
        (FactKey { sale_date, agent_id, product_id, branch: branch.to_owned(), team }, Sums { count, cents })
    }

    fn agent(agent_id: i64, team: &str) -> (i64, AgentDim) {
        let dim = AgentDim {
            agent_id,
            agent_key: String::from("ag_x"),
            team: team.to_owned(),
            branch: String::from("Colombo"),
            active: true,
            analytics_consent: true,
        };
        (agent_id, dim)
    }

    fn product(product_id: i64, line: &str) -> (i64, ProductDim) {
        let dim = ProductDim {
            product_id,
            product_type: line.to_owned(),
            product_name: format!("P{product_id}"),
            target_cents: 0,
        };
        (product_id, dim)
    }

    fn text(s: &str) -> RollupKey {
        RollupKey::Text(s.to_owned())
    }

    #[test]
    fn every_grouping_sums_the_same_cells() {
        let cells: BTreeMap<FactKey, Sums> =
            [cell(1, 10, "Kandy", 2, 500), cell(2, 10, "Colombo", 1, 100), cell(1, 20, "Colombo", 1, 7)]
                .into_iter()
                .collect();
        let agents: HashMap<i64, AgentDim> = [agent(1, "Alpha"), agent(2, "Alpha")].into_iter().collect();
        let products: HashMap<i64, ProductDim> = [product(10, "Life"), product(20, "Motor")].into_iter().collect();
        let dims = Dims { agents: vec![&agents], products: vec![&products] };
        let sums = EntitySums::of(&cells);
        let sum = |g| sums.group(g, &dims).0;
        assert_eq!(sum(Grouping::Agent)[&RollupKey::Id(1)], Sums { count: 3, cents: 507 });
        assert_eq!(sum(Grouping::Product)[&RollupKey::Id(10)], Sums { count: 3, cents: 600 });
        assert_eq!(sum(Grouping::Branch)[&text("Colombo")], Sums { count: 2, cents: 107 });
        assert_eq!(
            sum(Grouping::Team).into_iter().collect::<Vec<_>>(),
            [(text("Alpha"), Sums { count: 4, cents: 607 })]
        );
        assert_eq!(sum(Grouping::ProductLine)[&text("Motor")], Sums { count: 1, cents: 7 });
    }

    #[test]
    fn an_unknown_agent_is_named_not_guessed() {
        let cells: BTreeMap<FactKey, Sums> = [cell(9, 10, "Kandy", 1, 1)].into_iter().collect();
        let (lines, unknown) = EntitySums::of(&cells).group(Grouping::ProductLine, &Dims::default());
        assert!(lines.is_empty());
        assert_eq!(unknown, [10]);
    }

    #[test]
    fn the_first_map_that_knows_an_id_wins() {
        let warehouse: HashMap<i64, ProductDim> = [product(1, "Life")].into_iter().collect();
        let source: HashMap<i64, ProductDim> = [product(1, "Motor"), product(2, "Health")].into_iter().collect();
        let dims = Dims { agents: Vec::new(), products: vec![&warehouse, &source] };
        assert_eq!(dims.attribute(Grouping::ProductLine, 1), Some("Life"));
        assert_eq!(dims.attribute(Grouping::ProductLine, 2), Some("Health"));
        assert_eq!(dims.attribute(Grouping::Branch, 1), None);
        assert_eq!(dims.attribute(Grouping::Team, 1), None, "a cell carries its team");
    }

    #[test]
    fn a_changed_line_moves_the_history_and_nothing_else_does() {
        let old_agents: HashMap<i64, AgentDim> =
            [agent(1, "Alpha"), agent(2, "Beta"), agent(3, "Beta")].into_iter().collect();
        let new_agents: HashMap<i64, AgentDim> = [agent(1, "Gamma"), agent(2, "Beta")].into_iter().collect();
        let old_products: HashMap<i64, ProductDim> = [product(10, "Life")].into_iter().collect();
        let new_products: HashMap<i64, ProductDim> = [product(10, "Health")].into_iter().collect();
        let old = Dims { agents: vec![&old_agents], products: vec![&old_products] };
        let new = Dims { agents: vec![&new_agents], products: vec![&new_products] };
        assert!(moves(Grouping::Team, &old, &new).is_empty(), "a team change re-attributes cells from its date");
        assert_eq!(moves(Grouping::ProductLine, &old, &new), [Move { id: 10, from: text("Life"), to: text("Health") }]);
        assert!(moves(Grouping::Branch, &old, &new).is_empty());
        assert!(moves(Grouping::Agent, &old, &new).is_empty());
    }
}
