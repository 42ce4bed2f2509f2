//! What every binary of the project installs at start-up: one log subscriber (readable text, or
//! one flat JSON object per line) and, with the `otlp` feature, OpenTelemetry: the propagator
//! that carries trace context over Kafka headers, a tracer provider, and an OTLP exporter
//! switched on by the standard `OTEL_*` environment variables.
//!
//! JSON lines have one shape in every binary: the event's fields at the top level next to
//! `timestamp`, `level`, `target` and `message` (what log pipelines index without a mapping),
//! the enclosing spans under `span` and `spans`, and `trace_id` and `span_id` when the line is
//! written inside a traced span, so a log line leads to its trace.
//!
//! Every line goes through [`RedactingWriter`]: no secret the process loaded, and no URL
//! password, is ever written.

use std::fmt;

use contracts_core::secret::RedactingWriter;
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, MakeWriter};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer};

/// The fmt layer for `json` (flat JSON lines with trace ids) or text, on stderr, redacted.
fn fmt_layer<S>(json: bool) -> Box<dyn Layer<S> + Send + Sync>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fmt_layer_to(json, || RedactingWriter::new(std::io::stderr()))
}

fn fmt_layer_to<S, W>(json: bool, writer: W) -> Box<dyn Layer<S> + Send + Sync>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let layer = tracing_subscriber::fmt::layer().with_writer(writer);
    if json {
        let format = tracing_subscriber::fmt::format().json().flatten_event(true);
        Box::new(
            layer
                .json()
                .flatten_event(true)
                .event_format(WithTraceIds(format)),
        )
    } else {
        Box::new(layer)
    }
}

fn filter() -> EnvFilter {
    EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"))
}

/// Installs the global log subscriber without OpenTelemetry: `RUST_LOG` filters (default
/// `info`); `json` picks flat JSON lines over text. A second call (tests) keeps the first.
pub fn init_logging(json: bool) {
    let _ = tracing_subscriber::registry()
        .with(filter())
        .with(fmt_layer(json))
        .try_init();
}

/// Puts `trace_id` and `span_id` of the innermost traced span first in each JSON line that the
/// wrapped formatter writes.
#[derive(Debug)]
struct WithTraceIds<F>(F);

impl<S, N, F> FormatEvent<S, N> for WithTraceIds<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let ids = ctx.event_scope().and_then(|scope| {
            scope.into_iter().find_map(|span| {
                let ext = span.extensions();
                let data = ext.get::<tracing_opentelemetry::OtelData>()?;
                let (trace, span) = (data.trace_id()?, data.span_id()?);
                (trace != opentelemetry::TraceId::INVALID).then_some((trace, span))
            })
        });
        let Some((trace_id, span_id)) = ids else {
            return self.0.format_event(ctx, writer, event);
        };
        let mut line = String::with_capacity(256);
        self.0.format_event(ctx, Writer::new(&mut line), event)?;
        match line.strip_prefix('{') {
            // Hex ids need no escaping; the object keeps every other key as written.
            Some(rest) => write!(
                writer,
                "{{\"trace_id\":\"{trace_id}\",\"span_id\":\"{span_id}\",{rest}"
            ),
            None => writer.write_str(&line),
        }
    }
}

#[cfg(feature = "otlp")]
pub use otel::{Telemetry, TelemetryError, init};

#[cfg(feature = "otlp")]
mod otel {
    use std::env;

    use opentelemetry::propagation::TextMapCompositePropagator;
    use opentelemetry::propagation::text_map_propagator::TextMapPropagator;
    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry::{Key, global};
    use opentelemetry_otlp::{Protocol, SpanExporter, WithExportConfig as _};
    use opentelemetry_sdk::Resource;
    use opentelemetry_sdk::propagation::{BaggagePropagator, TraceContextPropagator};
    use opentelemetry_sdk::trace::SdkTracerProvider;
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;

    use super::{filter, fmt_layer};

    /// A setting among the `OTEL_*` variables that cannot be honoured.
    #[derive(Debug, thiserror::Error)]
    pub enum TelemetryError {
        #[error(
            "OTEL_PROPAGATORS: {0:?} is not supported (supported: tracecontext, baggage, none)"
        )]
        Propagator(String),
        #[error("OTEL_TRACES_EXPORTER: {0:?} is not supported (supported: otlp, none)")]
        Exporter(String),
        #[error("{var}: {value:?} is not supported (supported: grpc, http/protobuf)")]
        Protocol { var: &'static str, value: String },
        #[error("building the OTLP span exporter: {0}")]
        Build(#[from] opentelemetry_otlp::ExporterBuildError),
    }

    /// The installed tracer provider; dropping it (at the end of `main`) sends the spans still
    /// queued and stops the exporter.
    #[derive(Debug)]
    pub struct Telemetry {
        provider: SdkTracerProvider,
        exporting: bool,
    }

    impl Telemetry {
        /// Whether an OTLP exporter was installed.
        pub fn is_exporting(&self) -> bool {
            self.exporting
        }
    }

    impl Drop for Telemetry {
        fn drop(&mut self) {
            if self.exporting {
                // The gRPC exporter needs the runtime while this thread waits for it.
                let multi_thread = tokio::runtime::Handle::try_current().is_ok_and(|h| {
                    h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread
                });
                if multi_thread {
                    let _ = tokio::task::block_in_place(|| self.provider.shutdown());
                } else {
                    let _ = self.provider.shutdown();
                }
            }
        }
    }

    /// Installs the global propagator, tracer provider and log subscriber (see
    /// [`super::init_logging`]; a second call keeps the first subscriber). Call it from `main`
    /// inside the Tokio runtime (the gRPC exporter runs on it).
    ///
    /// - Propagation: `OTEL_PROPAGATORS` (`tracecontext`, `baggage`, `none`; default
    ///   `tracecontext,baggage`: W3C `traceparent`, `tracestate` and `baggage`), used by the
    ///   runtime's producers and consumers for Kafka headers.
    /// - Spans are always made, so log lines carry trace ids and traces continue through this
    ///   process; they are exported only when `OTEL_EXPORTER_OTLP_ENDPOINT` (or
    ///   `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set or `OTEL_TRACES_EXPORTER=otlp`, and never
    ///   with `OTEL_TRACES_EXPORTER=none` or `OTEL_SDK_DISABLED=true`.
    /// - `OTEL_EXPORTER_OTLP_PROTOCOL` (or `..._TRACES_PROTOCOL`): `http/protobuf` (default,
    ///   port 4318) or `grpc` (port 4317); `OTEL_EXPORTER_OTLP_HEADERS`, `..._TIMEOUT`,
    ///   `..._COMPRESSION`, `OTEL_BSP_*`, `OTEL_TRACES_SAMPLER` and `OTEL_RESOURCE_ATTRIBUTES`
    ///   work as the OpenTelemetry SDK documents them.
    /// - `OTEL_SERVICE_NAME` names the service; `default_service_name` when unset.
    pub fn init(default_service_name: &str, json: bool) -> Result<Telemetry, TelemetryError> {
        global::set_text_map_propagator(propagator(env::var("OTEL_PROPAGATORS").ok())?);
        let exporter = exporter()?;
        let exporting = exporter.is_some();
        let mut resource = Resource::builder().build();
        let named = resource
            .get(&Key::from_static_str("service.name"))
            .is_some_and(|name| !name.as_str().starts_with("unknown_service"));
        if !named {
            resource = Resource::builder()
                .with_service_name(default_service_name.to_owned())
                .build();
        }
        let mut builder = SdkTracerProvider::builder().with_resource(resource);
        if let Some(exporter) = exporter {
            builder = builder.with_batch_exporter(exporter);
        }
        let provider = builder.build();
        global::set_tracer_provider(provider.clone());
        let tracer = provider.tracer("contracts-runtime");
        let _ = tracing_subscriber::registry()
            .with(filter())
            .with(fmt_layer(json))
            .with(tracing_opentelemetry::layer().with_tracer(tracer))
            .try_init();
        Ok(Telemetry {
            provider,
            exporting,
        })
    }

    /// The propagator `OTEL_PROPAGATORS` names (a comma-separated list).
    pub(crate) fn propagator(
        names: Option<String>,
    ) -> Result<TextMapCompositePropagator, TelemetryError> {
        let names = names
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| "tracecontext,baggage".to_owned());
        let mut parts: Vec<Box<dyn TextMapPropagator + Send + Sync>> = Vec::new();
        for name in names.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            match name.to_ascii_lowercase().as_str() {
                "tracecontext" => parts.push(Box::new(TraceContextPropagator::new())),
                "baggage" => parts.push(Box::new(BaggagePropagator::new())),
                "none" => {}
                _ => return Err(TelemetryError::Propagator(name.to_owned())),
            }
        }
        Ok(TextMapCompositePropagator::new(parts))
    }

    /// The OTLP protocol the environment asks for, `None` for no export; `var` reads a
    /// variable (unset or blank: `None`).
    pub(crate) fn export_protocol(
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Protocol>, TelemetryError> {
        let set = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        if set("OTEL_SDK_DISABLED").is_some_and(|v| v.trim().eq_ignore_ascii_case("true")) {
            return Ok(None);
        }
        let wanted = match set("OTEL_TRACES_EXPORTER").map(|v| v.trim().to_ascii_lowercase()) {
            Some(v) if v == "none" => false,
            Some(v) if v == "otlp" => true,
            Some(v) => return Err(TelemetryError::Exporter(v)),
            None => {
                set("OTEL_EXPORTER_OTLP_ENDPOINT").is_some()
                    || set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").is_some()
            }
        };
        if !wanted {
            return Ok(None);
        }
        let (name, protocol) = match set("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") {
            Some(p) => ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", p),
            None => (
                "OTEL_EXPORTER_OTLP_PROTOCOL",
                set("OTEL_EXPORTER_OTLP_PROTOCOL").unwrap_or_else(|| "http/protobuf".into()),
            ),
        };
        match protocol.trim() {
            "grpc" => Ok(Some(Protocol::Grpc)),
            "http/protobuf" => Ok(Some(Protocol::HttpBinary)),
            other => Err(TelemetryError::Protocol {
                var: name,
                value: other.to_owned(),
            }),
        }
    }

    /// The OTLP exporter the environment asks for, if any.
    fn exporter() -> Result<Option<SpanExporter>, TelemetryError> {
        // The endpoint, headers, timeout and compression come from the environment too: the
        // exporter builders read them.
        let exporter = match export_protocol(|name| env::var(name).ok())? {
            None => return Ok(None),
            Some(Protocol::Grpc) => SpanExporter::builder().with_tonic().build()?,
            Some(protocol) => SpanExporter::builder()
                .with_http()
                .with_protocol(protocol)
                .build()?,
        };
        Ok(Some(exporter))
    }
}

#[cfg(all(test, feature = "otlp"))]
mod tests {
    use std::io;
    use std::sync::{Arc, Mutex};

    use opentelemetry::trace::{TraceContextExt as _, TracerProvider as _};
    use opentelemetry_sdk::trace::SdkTracerProvider;
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;
    use tracing_subscriber::layer::SubscriberExt as _;

    use super::*;

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn lines(buffer: &Buffer) -> Vec<serde_json::Value> {
        String::from_utf8(buffer.0.lock().unwrap().clone())
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    }

    #[test]
    fn a_json_line_written_in_a_traced_span_carries_its_trace_and_span_id_and_flat_fields() {
        let provider = SdkTracerProvider::builder().build();
        let buffer = Buffer::default();
        let out = buffer.clone();
        let subscriber = tracing_subscriber::registry()
            .with(fmt_layer_to(true, move || out.clone()))
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
        let _guard = tracing::subscriber::set_default(subscriber);

        let span = tracing::info_span!("checkout", order_id = "o-1");
        let (trace_id, span_id) = {
            let cx = span.context();
            let sc = cx.span().span_context().clone();
            (sc.trace_id().to_string(), sc.span_id().to_string())
        };
        span.in_scope(|| tracing::info!(customer = "c@example.com", "order placed"));
        tracing::info!("outside any span");

        let lines = lines(&buffer);
        assert_eq!(lines.len(), 2, "{lines:?}");
        let traced = &lines[0];
        assert_eq!(traced["trace_id"], trace_id.as_str(), "{traced}");
        assert_eq!(traced["span_id"], span_id.as_str(), "{traced}");
        assert_eq!(
            traced["message"], "order placed",
            "fields at the top level: {traced}"
        );
        assert_eq!(traced["customer"], "c@example.com", "{traced}");
        assert_eq!(traced["span"]["order_id"], "o-1", "{traced}");
        assert!(traced.get("fields").is_none(), "{traced}");
        let untraced = &lines[1];
        assert_eq!(untraced["message"], "outside any span");
        assert!(untraced.get("trace_id").is_none(), "{untraced}");
    }

    #[test]
    fn the_otel_variables_switch_export_on_and_off_and_pick_the_protocol() {
        use opentelemetry_otlp::Protocol;
        let with = |vars: &[(&str, &str)]| {
            let vars: Vec<(String, String)> = vars
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect();
            otel::export_protocol(move |name| {
                vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
            })
        };
        let endpoint = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318");
        assert_eq!(with(&[]).unwrap(), None, "nothing configured, no exporter");
        assert_eq!(with(&[("OTEL_EXPORTER_OTLP_ENDPOINT", " ")]).unwrap(), None);
        assert_eq!(with(&[endpoint]).unwrap(), Some(Protocol::HttpBinary));
        assert_eq!(
            with(&[(
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                "http://collector:4318/v1/traces"
            )])
            .unwrap(),
            Some(Protocol::HttpBinary)
        );
        assert_eq!(
            with(&[endpoint, ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")]).unwrap(),
            Some(Protocol::Grpc)
        );
        assert_eq!(
            with(&[
                endpoint,
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
                ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/protobuf"),
            ])
            .unwrap(),
            Some(Protocol::HttpBinary),
            "the traces variable wins"
        );
        assert_eq!(
            with(&[endpoint, ("OTEL_TRACES_EXPORTER", "none")]).unwrap(),
            None
        );
        assert_eq!(
            with(&[endpoint, ("OTEL_SDK_DISABLED", "true")]).unwrap(),
            None
        );
        assert_eq!(
            with(&[("OTEL_TRACES_EXPORTER", "otlp")]).unwrap(),
            Some(Protocol::HttpBinary),
            "otlp alone exports to the default endpoint"
        );
        let err = with(&[("OTEL_TRACES_EXPORTER", "zipkin")]).unwrap_err();
        assert!(
            err.to_string().contains("\"zipkin\" is not supported"),
            "{err}"
        );
        let err = with(&[endpoint, ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")]).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("OTEL_EXPORTER_OTLP_PROTOCOL: \"http/json\" is not supported"),
            "{err}"
        );
    }

    #[test]
    fn otel_propagators_names_the_propagators_and_an_unknown_one_is_refused() {
        use opentelemetry::propagation::TextMapPropagator as _;
        let fields = |p: &opentelemetry::propagation::TextMapCompositePropagator| {
            let mut names = p.fields().map(str::to_owned).collect::<Vec<_>>();
            names.sort();
            names
        };
        let default = otel::propagator(None).unwrap();
        assert_eq!(fields(&default), ["baggage", "traceparent", "tracestate"]);
        let baggage = otel::propagator(Some("baggage".into())).unwrap();
        assert_eq!(fields(&baggage), ["baggage"]);
        let none = otel::propagator(Some("none".into())).unwrap();
        assert!(fields(&none).is_empty());
        let err = otel::propagator(Some("tracecontext,b3".into())).unwrap_err();
        assert!(err.to_string().contains("\"b3\" is not supported"), "{err}");
    }
}
