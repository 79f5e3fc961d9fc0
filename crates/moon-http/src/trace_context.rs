//! W3C trace context (`traceparent`, `tracestate`) across process boundaries: an incoming
//! request's context becomes the parent of its `request` span, and outgoing calls (webhooks)
//! carry the context of the span they are made in.
//!
//! This crate knows no tracing backend: the binary installs a [`Propagation`] when it exports
//! traces (the `moon` crate's `otel` feature); without one, both directions do nothing, so
//! builds without OpenTelemetry pay nothing and send no header.

use std::sync::OnceLock;

/// The header map requests carry (re-exported for callers without a direct `http` dependency).
pub use axum::http::HeaderMap;

/// How trace context is read from and written to headers, supplied by the tracing backend.
#[derive(Debug, Clone, Copy)]
pub struct Propagation {
    /// Makes the context in `traceparent` (and `tracestate`, if any) the parent of `span`.
    pub adopt: fn(traceparent: &str, tracestate: Option<&str>, span: &tracing::Span),
    /// The headers (`traceparent`, maybe `tracestate`) that carry `span`'s context onward.
    pub carry: fn(span: &tracing::Span) -> Vec<(&'static str, String)>,
}

static PROPAGATION: OnceLock<Propagation> = OnceLock::new();

/// Installs the backend's propagation once per process; false when one was installed already.
pub fn install(propagation: Propagation) -> bool {
    PROPAGATION.set(propagation).is_ok()
}

/// Makes the context of an incoming request (`headers`) the parent of `span`. A missing or
/// malformed `traceparent` leaves `span` a root; the header is never trusted for anything else.
pub fn adopt_incoming(headers: &HeaderMap, span: &tracing::Span) {
    let Some(p) = PROPAGATION.get() else { return };
    let Some(parent) = headers.get("traceparent").and_then(|v| v.to_str().ok()) else { return };
    let state = headers.get("tracestate").and_then(|v| v.to_str().ok());
    (p.adopt)(parent, state, span);
}

/// The headers that carry the current span's context to a call this process makes.
pub fn outgoing_headers() -> Vec<(&'static str, String)> {
    PROPAGATION.get().map_or_else(Vec::new, |p| (p.carry)(&tracing::Span::current()))
}
