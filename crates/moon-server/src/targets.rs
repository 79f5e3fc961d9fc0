//! Which components a process runs: targets are data, resolved once at start.
//!
//! `moon serve --target agent,notification` looks each name up in [`TARGETS`]; `all` is simply
//! the target listing every component. Every target also serves health and the OpenAPI document.

use std::collections::BTreeSet;

/// A part of the system that contributes routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Component {
    /// Agent records (`/api/v1/agents`, `/agent/...`).
    Agents,
    /// Products and sales (`/api/v1/products`, `/api/v1/sales`, `/integration/...`).
    Integration,
    /// Notifications (`/api/v1/notifications`, `/notification/...`).
    Notifications,
    /// The KPI pipeline: the change log applied to the warehouse, and `/api/v1/kpis`.
    Aggregator,
    /// The web console and live dashboard (`/`, `/dashboard`, ...): HTML pages over the same
    /// use cases as the API, reading KPIs from the warehouse.
    Web,
}

impl Component {
    /// Name for logs.
    pub fn name(self) -> &'static str {
        match self {
            Component::Agents => "agent",
            Component::Integration => "integration",
            Component::Notifications => "notification",
            Component::Aggregator => "aggregator",
            Component::Web => "web",
        }
    }

    /// Whether this component reads the KPI warehouse (so a process running it opens one): the
    /// notification component's behind-pace alerts read the performance figures.
    pub fn reads_warehouse(self) -> bool {
        matches!(self, Component::Aggregator | Component::Web | Component::Notifications)
    }
}

/// The dependency table: target name → components it runs.
pub const TARGETS: &[(&str, &[Component])] = &[
    ("agent", &[Component::Agents]),
    ("integration", &[Component::Integration]),
    ("notification", &[Component::Notifications]),
    ("aggregator", &[Component::Aggregator]),
    ("web", &[Component::Web]),
    (
        "all",
        &[Component::Agents, Component::Integration, Component::Notifications, Component::Aggregator, Component::Web],
    ),
];

/// Resolves a comma-separated target list (`agent,notification`) into components.
pub fn resolve(spec: &str) -> Result<BTreeSet<Component>, String> {
    let mut out = BTreeSet::new();
    for name in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (_, comps) = TARGETS.iter().find(|(n, _)| *n == name).ok_or_else(|| {
            let known: Vec<&str> = TARGETS.iter().map(|(n, _)| *n).collect();
            format!("unknown target {name:?}; known targets: {}", known.join(", "))
        })?;
        out.extend(comps.iter().copied());
    }
    if out.is_empty() {
        return Err(String::from("no target given; use all, or a list such as agent,integration"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_is_every_component_and_lists_merge() {
        assert_eq!(resolve("all").unwrap().len(), 5);
        let r = resolve("agent, notification").unwrap();
        assert_eq!(r.into_iter().collect::<Vec<_>>(), [Component::Agents, Component::Notifications]);
        assert!(resolve("agent,warehouse").unwrap_err().contains("known targets"));
        assert!(resolve(" , ").is_err());
    }
}
