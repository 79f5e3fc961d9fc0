//! The notification component's HTTP routes beyond the core (`super`'s own handlers): the
//! inbox, rules, webhook subscriptions and the delivery log. They parse, call the use cases in
//! `super::service` and shape the response; the data modules (`super::inbox`, ...) know nothing
//! of them, so the use cases can use those modules without a circle.

pub(super) mod deliveries;
pub(super) mod digests;
pub(super) mod inbox;
pub(super) mod rules;
pub(super) mod webhooks;
