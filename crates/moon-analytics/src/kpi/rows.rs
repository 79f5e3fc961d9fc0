//! The answers of the KPI queries, as the API serialises them and the console shows them.

use chrono::NaiveDate;
use moon_domain::Money;
use serde::Serialize;

/// Sales of one team.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct TeamRow {
    /// Team name (the agents' current team).
    pub team: String,
    /// Number of sales.
    pub sales_count: i64,
    /// Sum of the sales' amounts.
    pub total_sales: Money,
}

/// Sales credited to one branch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct BranchRow {
    /// Branch name (as recorded on the sale).
    pub branch: String,
    /// Number of sales.
    pub sales_count: i64,
    /// Sum of the sales' amounts.
    pub total_sales: Money,
}

/// One product's sales against its target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ProductRow {
    /// Product id.
    pub product_id: i64,
    /// Product name.
    pub product_name: String,
    /// Line of business.
    pub product_type: String,
    /// The product's sales target.
    pub target_amount: Money,
    /// Sum of the sales' amounts in the period.
    pub total_sales: Money,
    /// Number of sales in the period.
    pub sales_count: i64,
    /// `Achieved` when total_sales ≥ target_amount, else `Not Achieved`.
    pub status: &'static str,
    /// total_sales as a percentage of target_amount, two decimals (`83.33`).
    pub attainment_pct: String,
}

/// One place on the leaderboard. Agents appear under their pseudonym, and by name to callers
/// who may see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct LeaderRow {
    /// 1 for the highest total; agents with equal totals share a rank (1, 1, 3).
    pub rank: i64,
    /// The agent's pseudonym (stable, not reversible without the key).
    pub agent: String,
    /// The agent's name, for callers who may see it (admins; a manager for the agents of their
    /// branch; an agent their own); absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The agent's id, to look the name up; never shown.
    #[serde(skip)]
    pub agent_id: i64,
    /// The agent's current team.
    pub team: String,
    /// The agent's home branch.
    pub branch: String,
    /// Number of sales.
    pub sales_count: i64,
    /// Sum of the sales' amounts.
    pub total_sales: Money,
}

/// Sales in one period of a trend.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct TrendRow {
    /// The period's label: `2026-11-26`, `2026-W48`, `2026-11` or `2026-Q4`.
    pub period: String,
    /// First day of the period.
    pub start: NaiveDate,
    /// Number of sales.
    pub sales_count: i64,
    /// Sum of the sales' amounts.
    pub total_sales: Money,
    /// The target of the trend's scope (the company, or the `branch` or `team` filtered on; the
    /// product filtered on) for this period, on the same axis: set for month, quarter and year
    /// buckets when a target of that kind starts on the bucket's first day (quarters and years
    /// align when the fiscal year starts in January), absent otherwise.
    pub target: Option<Money>,
}

/// What the dashboard's filters offer: the branches, teams and products the warehouse knows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FilterChoices {
    /// Branches with sales, alphabetically.
    pub branches: Vec<String>,
    /// Teams of the agents, alphabetically.
    pub teams: Vec<String>,
    /// Products by name: (id, name).
    pub products: Vec<(i64, String)>,
}
