//! OpenTelemetry traces, exported over OTLP when `OTEL_EXPORTER_OTLP_ENDPOINT` is set.
//!
//! Compiled only with the cargo feature `otel`, so the default build carries none of the
//! exporter's dependencies; without the feature, or without the variable, [`layer`] adds nothing.
//! The exporter speaks OTLP/HTTP (protobuf) through the async `reqwest` client with no TLS
//! provider of its own, so the binary keeps a single rustls crypto provider.

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
    Ok((Some(tracing_opentelemetry::layer().with_tracer(tracer)), Guard { provider: Some(provider) }))
}
