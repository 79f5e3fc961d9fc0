//! The dimension rows: what the warehouse knows of an agent and of a product. Read from the
//! operational database ([`crate::source`]) and written to `dim_agent` and `dim_product`
//! ([`crate::sinks`]); no names, e-mail addresses or phone numbers of agents ever get here.

/// An agent as the warehouse knows it: no name, no contact details.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentDim {
    /// Operational id.
    pub agent_id: i64,
    /// Pseudonym.
    pub agent_key: String,
    /// Current team.
    pub team: String,
    /// Home branch.
    pub branch: String,
    /// Active flag.
    pub active: bool,
    /// Consent to per-agent analytics; without it the pseudonym is withheld too.
    pub analytics_consent: bool,
}

/// The key of every agent who has not consented to per-agent analytics: they cannot be told
/// apart in the warehouse, while their sales still count in every team, branch and product.
pub const WITHHELD: &str = "ag_withheld";

/// An agent row in the order of `schema::DIM_AGENT_COLUMNS`: id, key, team, branch, active,
/// consent.
pub(crate) type AgentRow = (i64, String, String, String, bool, bool);

/// A dimension row keyed by its id, from an [`AgentRow`].
pub(crate) fn agent_dim(row: AgentRow) -> (i64, AgentDim) {
    let (agent_id, agent_key, team, branch, active, analytics_consent) = row;
    (agent_id, AgentDim { agent_id, agent_key, team, branch, active, analytics_consent })
}

/// A product as the warehouse knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductDim {
    /// Operational id.
    pub product_id: i64,
    /// Line of business.
    pub product_type: String,
    /// Name.
    pub product_name: String,
    /// Target in cents.
    pub target_cents: i64,
}

/// A product row in the order of `schema::DIM_PRODUCT_COLUMNS`: id, line, name, target cents.
pub(crate) type ProductRow = (i64, String, String, i64);

/// A dimension row keyed by its id, from a [`ProductRow`].
pub(crate) fn product_dim(row: ProductRow) -> (i64, ProductDim) {
    let (product_id, product_type, product_name, target_cents) = row;
    (product_id, ProductDim { product_id, product_type, product_name, target_cents })
}
