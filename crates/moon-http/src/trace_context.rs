//! W3C trace context (`traceparent`, `tracestate`) across process boundaries: an incoming
//! request's context becomes the parent of its `request` span, and outgoing calls (webhooks)
//! carry the context of the span they are made in.
//!
//! This crate knows no tracing backend: the binary installs a [`Propagation`] when it exports
//! traces (the `moon` crate's `otel` feature). Without one, a request's span has no id of its
//! own, so an outgoing call made *while answering* a request carries nothing; but work the request
//! causes later (a webhook sent from the outbox) still carries the caller's `traceparent`
//! verbatim: the receiver then joins the caller's trace as a child of the caller's span, the last
//! span anyone exported (moon made none).
//!
//! Work that happens after the request (the change log, then the notification rules, then the
//! outbox) keeps the context as a plain string: [`current`] reads it while the request is being
//! answered, the writer stores it beside its row, and [`continued`] turns it back into headers.

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

tokio::task_local! {
    /// The incoming request's valid `traceparent`, for [`current`] when no backend is installed.
    static INCOMING: Option<String>;
}

/// A request's `traceparent`, when well-formed (see [`valid`]).
pub fn incoming(headers: &HeaderMap) -> Option<String> {
    headers.get("traceparent").and_then(|v| v.to_str().ok()).and_then(valid).map(str::to_owned)
}

/// Runs `fut` (the rest of a request's handling) with the request's `traceparent` (from
/// [`incoming`]) at hand for [`current`].
pub async fn with_incoming<F: std::future::Future>(incoming: Option<String>, fut: F) -> F::Output {
    INCOMING.scope(incoming, fut).await
}

/// The W3C `traceparent` of the work in progress, to be stored beside a row written now and
/// continued by whatever that row causes later ([`continued`]). With a tracing backend: the
/// current span's context (its trace, this span as the parent). Without one: the incoming
/// request's header as the client sent it. `None` outside a traced request.
pub fn current() -> Option<String> {
    let found = match PROPAGATION.get() {
        Some(p) => (p.carry)(&tracing::Span::current()).into_iter().find(|(n, _)| *n == "traceparent").map(|(_, v)| v),
        None => INCOMING.try_with(Clone::clone).ok().flatten(),
    };
    found.filter(|v| valid(v).is_some())
}

/// The headers for a call that continues a stored context (`stored`, from [`current`]) inside
/// `span`. With a tracing backend, `span` becomes a child of the stored context and the call
/// carries `span`'s own id as the parent: same trace, a new span, which is exported. Without
/// one, the stored `traceparent` is sent unchanged. Nothing stored (or malformed): what
/// [`outgoing_headers`] would send from `span`.
pub fn continued(stored: Option<&str>, span: &tracing::Span) -> Vec<(&'static str, String)> {
    let stored = stored.and_then(valid);
    match (PROPAGATION.get(), stored) {
        (Some(p), Some(parent)) => {
            (p.adopt)(parent, None, span);
            (p.carry)(span)
        }
        (Some(p), None) => (p.carry)(span),
        (None, Some(parent)) => vec![("traceparent", parent.to_owned())],
        (None, None) => Vec::new(),
    }
}

/// `value` when it is a version-00 W3C `traceparent` (`00-<32 hex>-<16 hex>-<2 hex>`, lowercase,
/// ids not all zero); the header is never trusted for more than this shape.
pub fn valid(value: &str) -> Option<&str> {
    let parts: Vec<&str> = value.split('-').collect();
    let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    let nonzero = |s: &str| s.bytes().any(|b| b != b'0');
    match parts.as_slice() {
        ["00", trace, parent, flags]
            if hex(trace, 32) && hex(parent, 16) && hex(flags, 2) && nonzero(trace) && nonzero(parent) =>
        {
            Some(value)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_well_formed_version_00_traceparents_are_kept() {
        let ok = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        assert_eq!(valid(ok), Some(ok));
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-4bf92f3577b34da6a3ce929d0e0e473\u{0}-00f067aa0ba902b7-01",
        ] {
            assert_eq!(valid(bad), None, "{bad:?}");
        }
    }

    #[tokio::test]
    async fn without_a_backend_the_incoming_header_is_current_and_continued_verbatim() {
        let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let mut headers = HeaderMap::new();
        headers.insert("traceparent", tp.parse().unwrap());
        let seen = with_incoming(incoming(&headers), async { current() }).await;
        assert_eq!(seen.as_deref(), Some(tp));
        assert_eq!(current(), None, "outside the request there is none");
        let mut bad = HeaderMap::new();
        bad.insert("traceparent", "00-zz-yy-01".parse().unwrap());
        assert_eq!(with_incoming(incoming(&bad), async { current() }).await, None);
        let span = tracing::Span::none();
        assert_eq!(continued(Some(tp), &span), vec![("traceparent", tp.to_owned())]);
        assert!(continued(Some("garbage"), &span).is_empty());
        assert!(continued(None, &span).is_empty());
    }
}
