//! OpenTelemetry traces, exported over OTLP when `OTEL_EXPORTER_OTLP_ENDPOINT` is set.
//!
//! Compiled only with the cargo feature `otel`, so the default build carries none of the
//! exporter's dependencies; without the feature, or without the variable, [`layer`] adds nothing.
//! The exporter speaks OTLP/HTTP (protobuf) through the async `reqwest` client with no TLS
//! provider of its own, so the binary keeps a single rustls crypto provider.
//!
//! With export on, W3C trace context is propagated too (see `moon_http::trace_context`): an
//! incoming `traceparent` becomes the parent of the request's span, and webhooks carry the
//! context of the span that sends them, so moon's spans join the callers' and receivers' traces.

/// Flushes and shuts the tracer provider down when dropped, so the last spans are not lost on
/// exit.
#[derive(Debug, Default)]
pub struct Guard {
    #[cfg(feature = "otel")]
    provider: Option<opentelemetry_sdk::trace::SdkTracerProvider>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        #[cfg(feature = "otel")]
        if let Some(provider) = self.provider.take()
            && let Err(e) = provider.shutdown()
        {
            eprintln!("moon: flushing traces failed: {e}");
        }
    }
}

/// No tracing layer: built without the `otel` feature.
#[cfg(not(feature = "otel"))]
pub fn layer() -> anyhow::Result<(Option<tracing_subscriber::layer::Identity>, Guard)> {
    Ok((None, Guard::default()))
}

/// The OTLP trace layer when `OTEL_EXPORTER_OTLP_ENDPOINT` is set, otherwise none. The exporter
/// reads that variable (appending `/v1/traces`) and the other standard `OTEL_EXPORTER_OTLP_*`
/// variables itself.
#[cfg(feature = "otel")]
pub fn layer<S>() -> anyhow::Result<(Option<impl tracing_subscriber::Layer<S>>, Guard)>
where
    S: tracing::Subscriber + for<'span> tracing_subscriber::registry::LookupSpan<'span>,
{
    use anyhow::Context;
    use opentelemetry::trace::TracerProvider as _;

    if std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT").map_or(true, |v| v.trim().is_empty()) {
        return Ok((None, Guard::default()));
    }
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .build()
        .context("cannot build the OTLP trace exporter")?;
    // The async reqwest client needs a tokio runtime, so the batch processor runs on it rather
    // than on the SDK's own thread.
    let processor = opentelemetry_sdk::trace::span_processor_with_async_runtime::BatchSpanProcessor::builder(
        exporter,
        opentelemetry_sdk::runtime::Tokio,
    )
    .build();
    let resource = opentelemetry_sdk::Resource::builder().with_service_name("moon").build();
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
        .with_span_processor(processor)
        .with_resource(resource)
        .build();
    let tracer = provider.tracer("moon");
    moon_http::trace_context::install(moon_http::trace_context::Propagation {
        adopt: propagation::adopt,
        carry: propagation::carry,
    });
    Ok((Some(tracing_opentelemetry::layer().with_tracer(tracer)), Guard { provider: Some(provider) }))
}

/// W3C trace context through the SDK's propagator and the tracing-opentelemetry span bridge.
#[cfg(feature = "otel")]
mod propagation {
    use opentelemetry::propagation::{Extractor, TextMapPropagator};
    use opentelemetry_sdk::propagation::TraceContextPropagator;
    use tracing_opentelemetry::OpenTelemetrySpanExt;

    /// The two headers of an incoming request, as the propagator reads them.
    struct Incoming<'a> {
        traceparent: &'a str,
        tracestate: Option<&'a str>,
    }

    impl Extractor for Incoming<'_> {
        fn get(&self, key: &str) -> Option<&str> {
            match key {
                "traceparent" => Some(self.traceparent),
                "tracestate" => self.tracestate,
                _ => None,
            }
        }

        fn keys(&self) -> Vec<&str> {
            vec!["traceparent", "tracestate"]
        }
    }

    /// Parents `span` on the caller's span; a malformed `traceparent` yields an empty context,
    /// which leaves `span` a root.
    pub(super) fn adopt(traceparent: &str, tracestate: Option<&str>, span: &tracing::Span) {
        let cx = TraceContextPropagator::new().extract(&Incoming { traceparent, tracestate });
        if let Err(e) = span.set_parent(cx) {
            tracing::debug!(error = %e, "cannot adopt the incoming trace context");
        }
    }

    /// `traceparent` (and a non-empty `tracestate`) for `span`; nothing when it is not sampled
    /// into a trace.
    pub(super) fn carry(span: &tracing::Span) -> Vec<(&'static str, String)> {
        let mut headers = std::collections::HashMap::new();
        TraceContextPropagator::new().inject_context(&span.context(), &mut headers);
        let mut out = Vec::new();
        if let Some(v) = headers.remove("traceparent") {
            out.push(("traceparent", v));
        }
        if let Some(v) = headers.remove("tracestate").filter(|v| !v.is_empty()) {
            out.push(("tracestate", v));
        }
        out
    }
}

#[cfg(all(test, feature = "otel"))]
mod tests {
    use opentelemetry::trace::TracerProvider as _;
    use tracing_subscriber::layer::SubscriberExt;

    /// What a webhook sent while handling a traced request carries: the caller's trace id, with
    /// the span it is sent from as the parent (not the caller's own span id).
    #[test]
    fn outgoing_calls_carry_the_trace_of_the_incoming_request() {
        traced(|| {
            let mut headers = axum_headers();
            headers.insert("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".parse().unwrap());
            let span = tracing::info_span!("request");
            moon_http::trace_context::adopt_incoming(&headers, &span);
            let out = span.in_scope(moon_http::trace_context::outgoing_headers);
            let (name, value) = out.first().expect("a traceparent header");
            assert_eq!(*name, "traceparent");
            let parts: Vec<&str> = value.split('-').collect();
            assert_eq!(parts.len(), 4, "{value}");
            assert_eq!(parts[1], "4bf92f3577b34da6a3ce929d0e0e4736", "the caller's trace");
            assert_ne!(parts[2], "00f067aa0ba902b7", "this process's span, not the caller's");
            assert_eq!(parts[3], "01", "sampled, as the caller asked");

            // A malformed header leaves the span a root of a new trace.
            let mut bad = axum_headers();
            bad.insert("traceparent", "00-zz-yy-01".parse().unwrap());
            let other = tracing::info_span!("request");
            moon_http::trace_context::adopt_incoming(&bad, &other);
            let out = other.in_scope(moon_http::trace_context::outgoing_headers);
            assert_eq!(out.len(), 1, "a new trace is still carried on: {out:?}");
            assert!(out.iter().all(|(_, v)| !v.contains("4bf92f3577b34da6a3ce929d0e0e4736")), "{out:?}");
        });
    }

    /// A webhook sent long after the request that caused it (from the stored `traceparent`)
    /// carries the caller's trace with the delivery's own span as the parent.
    #[test]
    fn a_stored_trace_context_is_continued_by_a_new_span() {
        traced(|| {
            let stored = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
            let span = tracing::info_span!("webhook");
            let out = moon_http::trace_context::continued(Some(stored), &span);
            let (name, value) = out.first().expect("a traceparent header");
            assert_eq!(*name, "traceparent");
            let parts: Vec<&str> = value.split('-').collect();
            assert_eq!(parts.len(), 4, "{value}");
            assert_eq!(parts[1], "4bf92f3577b34da6a3ce929d0e0e4736", "the stored trace");
            assert_ne!(parts[2], "00f067aa0ba902b7", "the delivery's span, not the stored one");
            // Inside a request, the context to store is the request span's.
            let mut headers = axum_headers();
            headers.insert("traceparent", stored.parse().unwrap());
            let request = tracing::info_span!("request");
            moon_http::trace_context::adopt_incoming(&headers, &request);
            let current = request.in_scope(moon_http::trace_context::current).expect("a context to store");
            assert!(current.contains("4bf92f3577b34da6a3ce929d0e0e4736"), "{current}");
            assert!(!current.contains("00f067aa0ba902b7"), "this process's span: {current}");
        });
    }

    /// Runs `f` with spans exported to an in-memory tracer and W3C propagation installed.
    fn traced(f: impl FnOnce()) {
        let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
        let subscriber =
            tracing_subscriber::registry().with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
        moon_http::trace_context::install(moon_http::trace_context::Propagation {
            adopt: super::propagation::adopt,
            carry: super::propagation::carry,
        });
        tracing::subscriber::with_default(subscriber, f);
    }

    fn axum_headers() -> moon_http::trace_context::HeaderMap {
        moon_http::trace_context::HeaderMap::new()
    }
}
