//! `/health` and `/metrics`, and the counters a service adds to the runtime's metrics.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::get;

/// Counters and gauges in Prometheus text format.
#[derive(Debug, Clone, Default)]
pub struct Counters {
    inner: Arc<Mutex<BTreeMap<String, Family>>>,
}

#[derive(Debug, Default)]
struct Family {
    help: &'static str,
    kind: &'static str,
    values: BTreeMap<String, f64>,
}

impl Counters {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `by` to counter `name` with `labels`.
    pub fn add(&self, name: &str, help: &'static str, labels: &[(&str, &str)], by: u64) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let family = inner.entry(name.to_owned()).or_default();
        family.help = help;
        family.kind = "counter";
        *family.values.entry(render_labels(labels)).or_default() += by as f64;
    }

    /// Sets gauge `name` with `labels`.
    pub fn set(&self, name: &str, help: &'static str, labels: &[(&str, &str)], value: f64) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let family = inner.entry(name.to_owned()).or_default();
        family.help = help;
        family.kind = "gauge";
        family.values.insert(render_labels(labels), value);
    }

    /// The value of counter or gauge `name` with exactly `labels` (0 when never set).
    pub fn get(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner
            .get(name)
            .and_then(|f| f.values.get(&render_labels(labels)))
            .copied()
            .unwrap_or_default()
    }

    pub fn render(&self) -> String {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = String::new();
        for (name, family) in inner.iter() {
            let _ = writeln!(out, "# HELP {name} {}", family.help);
            let _ = writeln!(out, "# TYPE {name} {}", family.kind);
            for (labels, value) in &family.values {
                let _ = writeln!(out, "{name}{labels} {value}");
            }
        }
        out
    }
}

fn render_labels(labels: &[(&str, &str)]) -> String {
    if labels.is_empty() {
        return String::new();
    }
    let inner: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\"")))
        .collect();
    format!("{{{}}}", inner.join(","))
}

type HealthCheck = Arc<dyn Fn() -> Result<(), String> + Send + Sync>;
type MetricsSource = Arc<dyn Fn() -> String + Send + Sync>;

/// What `/health` checks and what `/metrics` shows.
#[derive(Clone, Default)]
pub struct Ops {
    checks: Vec<(&'static str, HealthCheck)>,
    metrics: Vec<MetricsSource>,
}

impl std::fmt::Debug for Ops {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let checks: Vec<_> = self.checks.iter().map(|(name, _)| *name).collect();
        f.debug_struct("Ops").field("checks", &checks).finish()
    }
}

impl Ops {
    pub fn new() -> Self {
        Self::default()
    }

    /// `/health` answers 503 naming `name` while `check` fails.
    pub fn check(
        mut self,
        name: &'static str,
        check: impl Fn() -> Result<(), String> + Send + Sync + 'static,
    ) -> Self {
        self.checks.push((name, Arc::new(check)));
        self
    }

    /// Appends `source`'s Prometheus text to `/metrics`.
    pub fn metrics(mut self, source: impl Fn() -> String + Send + Sync + 'static) -> Self {
        self.metrics.push(Arc::new(source));
        self
    }

    /// `GET /health` and `GET /metrics`, to merge into a service's router.
    pub fn router(self) -> Router {
        let health = self.checks;
        let metrics = self.metrics;
        Router::new()
            .route(
                "/health",
                get(move || async move {
                    let failures: Vec<String> = health
                        .iter()
                        .filter_map(|(name, check)| check().err().map(|e| format!("{name}: {e}")))
                        .collect();
                    if failures.is_empty() {
                        (StatusCode::OK, "ok\n".to_owned())
                    } else {
                        (
                            StatusCode::SERVICE_UNAVAILABLE,
                            format!("unhealthy\n{}\n", failures.join("\n")),
                        )
                    }
                }),
            )
            .route(
                "/metrics",
                get(move || async move {
                    let body: String = metrics.iter().map(|m| m()).collect();
                    ([(CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response()
                }),
            )
    }
}

/// Binds `addr` for `what` ("HTTP", "admin API"). A service binds its ports before it touches
/// Kafka, so a port in use stops it before it joins a consumer group or publishes anything.
pub async fn listen(
    addr: std::net::SocketAddr,
    what: &str,
) -> anyhow::Result<tokio::net::TcpListener> {
    use anyhow::Context as _;
    tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("{what}: listening on {addr}"))
}

/// Serves `router` on `listener` until `shutdown`, letting in-flight requests finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: crate::shutdown::Shutdown,
) -> std::io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(async move { shutdown.wait().await })
        .await
}
