//! The process's logs and traces: readable lines by default, flat JSON lines (with `trace_id`
//! and `span_id`) on request, the shape every binary of the project writes; OpenTelemetry
//! propagation over Kafka headers and OTLP export from the standard `OTEL_*` variables
//! (`contracts_runtime::telemetry`).

use contracts_core::secret::redact;
pub use contracts_runtime::telemetry::Telemetry;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// One readable line per event.
    #[default]
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// Installs the global subscriber, propagator and tracer provider (see
/// [`contracts_runtime::telemetry::init`]). `RUST_LOG` filters (default `info`); `service` is the
/// trace's `service.name` unless `OTEL_SERVICE_NAME` says otherwise. Keep the returned value
/// until the process ends: dropping it sends the spans still queued.
pub fn init(service: &str, format: LogFormat) -> anyhow::Result<Telemetry> {
    let telemetry = contracts_runtime::telemetry::init(service, format == LogFormat::Json)?;
    if telemetry.is_exporting() {
        tracing::info!("exporting traces over OTLP (OTEL_* environment variables)");
    }
    Ok(telemetry)
}

/// What `main` returns for `result`: on failure the error and its causes go to stderr through
/// [`redact`], so an error that quotes a setting never prints a secret.
pub fn exit(result: anyhow::Result<()>) -> std::process::ExitCode {
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Error: {}", redact(&format!("{e:?}")));
            std::process::ExitCode::FAILURE
        }
    }
}
