//! One structured log line per completed request, and the `request` span that every other log
//! line written while answering it belongs to.
//!
//! The fields suit a log store such as Loki: the route *template* (`/api/v1/agents/{id}`, never the
//! raw path, which may carry ids or personal data), the request id the client also receives in
//! `X-Request-Id`, the status, the latency and the principal's stable id. Query strings, bodies
//! and headers other than the request id are never logged, so neither personal data nor a secret
//! can reach a log line from here.

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::HeaderName;
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

/// The header that carries the request id, set by `SetRequestIdLayer` before this layer runs.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The stable id of whoever a request acted as, handed back on the response by the
/// authentication layer so the completion line can name it without reaching into the request.
#[derive(Debug, Clone)]
pub struct LoggedPrincipal(pub String);

/// Records the principal on the current `request` span and remembers it for the completion
/// line. Called by the one authentication layer; the id is a stable identifier, not a name.
pub fn note_principal(id: &str) -> LoggedPrincipal {
    tracing::Span::current().record("principal", id);
    LoggedPrincipal(id.to_owned())
}

/// Runs the request inside a `request` span and logs one line when its response is ready.
///
/// Installed with `Router::layer`, so the matched route template is known here; requests that
/// match no route are logged as `unmatched`, like the metrics do. The completion line is written
/// outside the span, so its fields are all top-level and are not repeated in a nested span object.
pub async fn log_request(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let route = req.extensions().get::<MatchedPath>().map_or("unmatched", MatchedPath::as_str).to_owned();
    let request_id = req.headers().get(&REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let span = tracing::info_span!(
        "request",
        method = %method,
        route = %route,
        request_id = %request_id,
        principal = tracing::field::Empty,
    );
    // A caller's `traceparent` makes this request part of its trace (when traces are exported).
    crate::trace_context::adopt_incoming(req.headers(), &span);
    // Kept for `trace_context::current`, so work this request causes later can continue it.
    let incoming = crate::trace_context::incoming(req.headers());
    let res = crate::trace_context::with_incoming(incoming, next.run(req).instrument(span)).await;
    // Microsecond precision is plenty and keeps the number short.
    let latency_ms = started.elapsed().as_micros() as f64 / 1000.0;
    let status = res.status().as_u16();
    let principal = res.extensions().get::<LoggedPrincipal>().map_or("", |p| p.0.as_str());
    if res.status().is_server_error() {
        tracing::error!(%method, %route, %request_id, status, latency_ms, principal, "request completed");
    } else {
        tracing::info!(%method, %route, %request_id, status, latency_ms, principal, "request completed");
    }
    res
}
